#!/usr/bin/env python3
"""Run under `tessera exec` (crates/tessera-cli/tests/it/exec.rs): raw requests to the
endpoint that must be refused, each in the protocol's own error shape. Prints one JSON line
name -> [status, error body]."""
import json
import os
import urllib.parse

import requests

endpoint = os.environ["IDENTITY_ENDPOINT"]
secret = os.environ["IDENTITY_HEADER"]
imds_host = os.environ["AZURE_POD_IDENTITY_AUTHORITY_HOST"]
base = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(endpoint))
graph = {"resource": "https://graph.microsoft.com", "api-version": "2019-08-01"}
imds = {"resource": "https://graph.microsoft.com", "api-version": "2018-02-01"}
checks = {
    "no header": requests.get(endpoint, params=graph),
    "wrong header": requests.get(endpoint, params=graph, headers={"X-IDENTITY-HEADER": "x" * len(secret)}),
    "imds without Metadata": requests.get(imds_host + "/metadata/identity/oauth2/token", params=imds),
    "imds without the secret prefix": requests.get(base + "/metadata/identity/oauth2/token", params=imds,
                                                   headers={"Metadata": "true"}),
    "no resource": requests.get(endpoint, params={"api-version": "2019-08-01"}, headers={"X-IDENTITY-HEADER": secret}),
    "unknown identity": requests.get(endpoint, params={**graph, "client_id": "00000000-0000-0000-0000-000000000001"},
                                     headers={"X-IDENTITY-HEADER": secret}),
    "resource the app cannot get": requests.get(endpoint, params={**graph, "resource": "api://nobody-here"},
                                                headers={"X-IDENTITY-HEADER": secret}),
    "the right request": requests.get(endpoint, params=graph, headers={"X-IDENTITY-HEADER": secret}),
}
print(json.dumps({k: [r.status_code, r.json()] for k, r in checks.items()}))
