"""One new process, one Graph token: azure-identity's ManagedIdentityCredential (from the
endpoint in the environment) or ClientSecretCredential (straight from the token endpoint).

  mi_token.py mi
  mi_token.py secret AUTHORITY CLIENT_ID SECRET_VAR"""
import os
import sys
import urllib.parse

GRAPH = "https://graph.microsoft.com/.default"
if sys.argv[1] == "mi":
    from azure.identity import ManagedIdentityCredential
    token = ManagedIdentityCredential().get_token(GRAPH)
else:
    from azure.identity import ClientSecretCredential
    authority, client_id, var = sys.argv[2:5]
    parts = urllib.parse.urlsplit(authority)
    token = ClientSecretCredential(parts.path.strip("/"), client_id, os.environ[var],
                                   authority=f"{parts.scheme}://{parts.netloc}",
                                   disable_instance_discovery=True).get_token(GRAPH)
assert token.token.count(".") == 2
