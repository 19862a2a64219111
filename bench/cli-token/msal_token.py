#!/usr/bin/env python3
"""The peer of `tessera token --output raw`: a script that prints an access token for
Microsoft Graph from MSAL Python with a persistent msal-extensions token cache, written the
way the MSAL and msal-extensions docs show it. Arguments as the CLI takes them:

  msal_token.py AUTHORITY CLIENT_ID SECRET_VAR [--http-cache]

The client secret comes from the environment variable SECRET_VAR; the CA that trusts
`tessera serve` comes from REQUESTS_CA_BUNDLE (what requests, under MSAL, reads). The token
cache is one file, $XDG_CACHE_HOME/msal-bench/token_cache.bin (FilePersistence, plaintext,
as on a Linux host without a desktop keyring).

--http-cache adds MSAL's documented recipe for command-line tools: a pickled `http_cache`
kept next to the token cache, so that a new process does not fetch the authority's OpenID
configuration again (without it MSAL fetches it in every process, before any cache lookup).
"""
import atexit
import os
import pickle
import sys

import msal
import msal_extensions

GRAPH_DEFAULT = "https://graph.microsoft.com/.default"


def main():
    authority, client_id, secret_var = sys.argv[1:4]
    use_http_cache = "--http-cache" in sys.argv[4:]
    cache_dir = os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "msal-bench")
    os.makedirs(cache_dir, exist_ok=True)
    name = "token_cache_http" if use_http_cache else "token_cache"
    persistence = msal_extensions.FilePersistence(os.path.join(cache_dir, name + ".bin"))
    token_cache = msal_extensions.PersistedTokenCache(persistence)

    kwargs = {}
    if use_http_cache:
        http_cache_file = os.path.join(cache_dir, "http_cache.pickle")
        try:
            with open(http_cache_file, "rb") as f:
                http_cache = pickle.load(f)
        except (FileNotFoundError, pickle.UnpicklingError, AttributeError, EOFError):
            http_cache = {}

        def save():
            with open(http_cache_file, "wb") as f:
                pickle.dump(http_cache, f)

        atexit.register(save)
        kwargs["http_cache"] = http_cache

    app = msal.ConfidentialClientApplication(
        client_id,
        client_credential=os.environ[secret_var],
        authority=authority,
        instance_discovery=False,  # not a Microsoft cloud host: no instance discovery
        token_cache=token_cache,
        **kwargs,
    )
    result = app.acquire_token_for_client(scopes=[GRAPH_DEFAULT])
    if "access_token" not in result:
        sys.exit("error: %s: %s" % (result.get("error"), result.get("error_description")))
    if os.environ.get("MSAL_TOKEN_SOURCE"):
        print("token_source=" + str(result.get("token_source")), file=sys.stderr)
    print(result["access_token"])


main()
