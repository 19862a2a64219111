#!/usr/bin/env python3
"""The peer of `tessera graph get /users --all --top 999 --output jsonl`: walks every user
with msgraph-sdk's GraphServiceClient and msgraph_core's PageIterator, authenticated by an
azure-identity ClientSecretCredential, against `tessera serve`.

  walk_msgraph.py AUTHORITY CLIENT_ID SECRET_VAR GRAPH_URL OUT

AUTHORITY is https://HOST:PORT/TENANT (demo.json's authority), GRAPH_URL demo.json's
graph_url (https://HOST:PORT/v1.0). The secret comes from the environment variable SECRET_VAR;
the CA that trusts the server from REQUESTS_CA_BUNDLE (azure-identity, through requests) and
SSL_CERT_FILE (msgraph-sdk, through httpx). Every user the iterator hands over is kept in a
list, as a script that collects them would; at the end one line per user (id, a tab, the
userPrincipalName) goes to OUT. On stderr: the time spent importing, and the walk itself."""
import time

T0 = time.perf_counter()

import asyncio  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import urllib.parse  # noqa: E402

from azure.identity import ClientSecretCredential  # noqa: E402
from kiota_abstractions.base_request_configuration import RequestConfiguration  # noqa: E402
from kiota_authentication_azure.azure_identity_authentication_provider import (  # noqa: E402
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient  # noqa: E402
from msgraph.generated.users.users_request_builder import UsersRequestBuilder  # noqa: E402
from msgraph_core.tasks.page_iterator import PageIterator  # noqa: E402

T_IMPORTED = time.perf_counter()
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"


async def main():
    authority, client_id, secret_var, graph_url, out = sys.argv[1:6]
    parts = urllib.parse.urlsplit(authority)
    tenant = parts.path.strip("/")
    credential = ClientSecretCredential(
        tenant, client_id, os.environ[secret_var],
        authority=f"{parts.scheme}://{parts.netloc}",
        disable_instance_discovery=True,  # not a Microsoft cloud host
    )
    # The SDK's default provider derives the scope from the request's host; the Graph here
    # is not graph.microsoft.com, so the scope is given, and the emulator's host is the
    # one host the token may be sent to.
    auth = AzureIdentityAuthenticationProvider(
        credential, scopes=[GRAPH_DEFAULT],
        allowed_hosts=[urllib.parse.urlsplit(graph_url).hostname])
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = graph_url.rstrip("/")
    client = GraphServiceClient(request_adapter=adapter)

    t_walk = time.perf_counter()
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(top=999)
    first = await client.users.get(request_configuration=RequestConfiguration(query_parameters=query))
    users = []

    def collect(user):
        users.append(user)
        return True

    iterator = PageIterator(first, adapter)
    await iterator.iterate(collect)
    t_walked = time.perf_counter()
    with open(out, "w") as f:
        for u in users:
            f.write(f"{u.id}\t{u.user_principal_name}\n")
    credential.close()
    print(f"msgraph: users={len(users)} import_s={T_IMPORTED - T0:.3f} "
          f"walk_s={t_walked - t_walk:.3f} (token + every page) write_s={time.perf_counter() - t_walked:.3f}",
          file=sys.stderr)


asyncio.run(main())
