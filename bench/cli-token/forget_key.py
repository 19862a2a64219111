#!/usr/bin/env python3
"""Removes the key that `tessera` put in the kernel's persistent keyring for the token cache
directory DIR (named tessera:cache:<first 16 bytes of sha256(canonical DIR), hex>), so that a
benchmark leaves nothing behind. Linux x86_64/aarch64; does nothing when there is no key.

  forget_key.py DIR"""
import ctypes
import hashlib
import os
import platform
import sys

KEYCTL = {"x86_64": 250, "aarch64": 219}[platform.machine()]
KEYCTL_SEARCH, KEYCTL_GET_PERSISTENT, KEYCTL_INVALIDATE = 10, 22, 21
KEY_SPEC_PROCESS_KEYRING = -2

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def keyctl(*args):
    r = libc.syscall(KEYCTL, *args)
    if r < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return r


def main():
    path = os.path.realpath(sys.argv[1])
    name = "tessera:cache:" + hashlib.sha256(os.fsencode(path)).hexdigest()[:32]
    try:
        ring = keyctl(KEYCTL_GET_PERSISTENT, ctypes.c_long(-1), ctypes.c_long(KEY_SPEC_PROCESS_KEYRING))
        key = keyctl(KEYCTL_SEARCH, ctypes.c_long(ring), b"user", name.encode(), ctypes.c_long(0))
    except OSError as e:
        print(f"no keyring key {name} ({e.strerror})")
        return
    keyctl(KEYCTL_INVALIDATE, ctypes.c_long(key))
    print(f"removed keyring key {name}")


main()
