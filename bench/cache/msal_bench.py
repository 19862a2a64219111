#!/usr/bin/env python3
"""MSAL Python / msal-extensions side of the cache benchmark (see run.sh):
  hit N DEMO_JSON      exact cache hit of acquire_token_for_client with N other tokens cached
  store N DIR          one token added to a PersistedTokenCache file holding N tokens
  cold N DIR           a new process's first lookup in that file (it loads the whole file)
Prints RESULT lines like the Rust side."""
import json, os, statistics, sys, time

import msal
import msal_extensions

CLIENT = "00000000-0000-0000-0000-000000000001"

def token(n):
    return "eyJ0eXAiOiJKV1Qi" + str(n).rjust(1500, "0")

def event(app, scope, n):
    return {
        "client_id": CLIENT, "scope": [scope], "token_endpoint": app.authority.token_endpoint,
        "environment": app.authority.instance, "grant_type": "client_credentials",
        "response": {"access_token": token(n), "token_type": "Bearer", "expires_in": 86400}, "params": {}, "data": {},
    }

def app_for(demo, cache=None):
    return msal.ConfidentialClientApplication(
        CLIENT, client_credential="unused", authority=demo["authority"], instance_discovery=False, token_cache=cache)

def hit(n, demo_path):
    demo = json.load(open(demo_path))
    app = app_for(demo)
    for i in range(n):
        app.token_cache.add(event(app, f"api://resource-{i}/.default", i))
    app.token_cache.add(event(app, "https://graph.microsoft.com/.default", n))
    scopes = ["https://graph.microsoft.com/.default"]
    first = app.acquire_token_for_client(scopes)
    assert first.get("token_source") == "cache", first
    rounds = 2000 if n < 10000 else 200
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(rounds):
            r = app.acquire_token_for_client(scopes)
        runs.append((time.perf_counter() - t) * 1e9 / rounds)
        assert r["access_token"] == token(n)
    print(f"RESULT msal_hit_{n} {statistics.median(runs):.3f} ns")

def persisted(directory):
    path = os.path.join(directory, "msal_cache.json")
    return msal_extensions.PersistedTokenCache(msal_extensions.FilePersistence(path))

def store(n, directory, demo_path):
    demo = json.load(open(demo_path))
    base = msal.SerializableTokenCache()
    app = app_for(demo, base)
    for i in range(n):
        base.add(event(app, f"api://resource-{i}/.default", i))
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "msal_cache.json"), "w") as f:
        f.write(base.serialize())
    cache = persisted(directory)
    app = app_for(demo, cache)
    runs = []
    for i in range(5):
        t = time.perf_counter()
        cache.add(event(app, f"api://new-{i}/.default", n + i))
        runs.append((time.perf_counter() - t) * 1e3)
    print(f"RESULT msal_extensions_store_into_{n} {statistics.median(runs):.3f} ms")

def cold(n, directory, demo_path):
    started = time.perf_counter()
    demo = json.load(open(demo_path))
    cache = persisted(directory)
    found = cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN, target=["api://resource-7/.default"], query={"client_id": CLIENT})
    elapsed = (time.perf_counter() - started) * 1e3
    assert found, "the entry is there"
    print(f"RESULT msal_extensions_cold_first_entry_{n} {elapsed:.3f} ms")

mode = sys.argv[1]
if mode == "hit":
    hit(int(sys.argv[2]), sys.argv[3])
elif mode == "store":
    store(int(sys.argv[2]), sys.argv[3], sys.argv[4])
elif mode == "cold":
    cold(int(sys.argv[2]), sys.argv[3], sys.argv[4])
