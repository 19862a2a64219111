#!/usr/bin/env python3
"""Run under `tessera exec` (crates/tessera-cli/tests/it/exec.rs): unchanged Microsoft SDK
code that believes it runs on Azure with a managed identity.

  sdk_walk.py GRAPH_URL SECONDS_AT_LEAST

1. azure-identity's ManagedIdentityCredential and DefaultAzureCredential, and MSAL Python's
   ManagedIdentityClient, each get a Graph token from the endpoint tessera exec set up.
2. msgraph-sdk (GraphServiceClient over ManagedIdentityCredential) lists every user, then
   GETs each one by id (one call per user), paced so the walk lasts at least SECONDS_AT_LEAST
   seconds (several of the server's 20-second token lifetimes), counting any 401.
Prints one JSON line with what it saw; exits 1 on any failure."""
import asyncio
import json
import sys
import time
import urllib.parse

import msal
import requests
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from azure.identity.aio import ManagedIdentityCredential as AsyncManagedIdentityCredential
from kiota_abstractions.api_error import APIError
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph_core.tasks.page_iterator import PageIterator

GRAPH = "https://graph.microsoft.com/.default"


def claims(token):
    import base64
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def walk(graph_url, at_least):
    credential = AsyncManagedIdentityCredential()
    auth = AzureIdentityAuthenticationProvider(
        credential, scopes=[GRAPH], allowed_hosts=[urllib.parse.urlsplit(graph_url).hostname])
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = graph_url
    client = GraphServiceClient(request_adapter=adapter)
    first = await client.users.get()
    ids = []

    def collect(user):
        ids.append(user.id)
        return True

    await PageIterator(first, adapter).iterate(collect)
    started = time.monotonic()
    pause = at_least / max(len(ids), 1)
    unauthorized = 0
    tokens_seen = set()
    for i, uid in enumerate(ids):
        try:
            user = await client.users.by_user_id(uid).get()
            assert user.id == uid
        except APIError as e:
            if e.response_status_code == 401:
                unauthorized += 1
            else:
                raise
        if i % 50 == 0:
            t = await credential.get_token(GRAPH)
            tokens_seen.add(t.token[-16:])
        await asyncio.sleep(pause)
    await credential.close()
    return {"users": len(ids), "unauthorized": unauthorized,
            "walk_seconds": round(time.monotonic() - started, 1),
            "distinct_tokens": len(tokens_seen)}


def main():
    graph_url, at_least = sys.argv[1].rstrip("/"), float(sys.argv[2])
    seen = {}
    for name, cred in [("ManagedIdentityCredential", ManagedIdentityCredential()),
                       ("DefaultAzureCredential", DefaultAzureCredential())]:
        t = cred.get_token(GRAPH)
        seen[name] = {"aud": claims(t.token)["aud"], "left": t.expires_on - int(time.time())}
    mi = msal.ManagedIdentityClient(msal.SystemAssignedManagedIdentity(), http_client=requests.Session())
    result = mi.acquire_token_for_client(resource="https://graph.microsoft.com")
    assert "access_token" in result, result
    seen["msal.ManagedIdentityClient"] = {"aud": claims(result["access_token"])["aud"],
                                          "left": int(result["expires_in"])}
    seen["walk"] = asyncio.run(walk(graph_url, at_least))
    print(json.dumps(seen))


main()
