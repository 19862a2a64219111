# Run by portal.test.mjs: MSAL Python, unchanged, gets an app-only token with a client
# secret (client credentials) and prints one JSON line: expires_in and the token's claims
# that the test checks, never the token itself. A fresh process is a fresh MSAL app (its
# own empty token cache), so every run asks the server for a new token.
#
#   python msal-token.py <authority> <client-id> <scope>    (the secret in PORTAL_APP_SECRET)
#
# The server's CA comes from REQUESTS_CA_BUNDLE, as with any requests-based client.
import base64
import json
import os
import sys

import msal


def claims_of(jwt):
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def main():
    authority, client_id, scope = sys.argv[1:4]
    app = msal.ConfidentialClientApplication(
        client_id,
        client_credential=os.environ["PORTAL_APP_SECRET"],
        authority=authority,
        instance_discovery=False,
        timeout=30,
    )
    result = app.acquire_token_for_client(scopes=[scope])
    if "access_token" not in result:
        print(json.dumps({k: result.get(k) for k in ("error", "error_description", "error_codes")}))
        return 1
    claims = claims_of(result["access_token"])
    print(json.dumps({
        "expires_in": result.get("expires_in"),
        "token_type": result.get("token_type"),
        "token_source": result.get("token_source"),
        "claims": {k: claims.get(k) for k in ("aud", "appid", "azp", "iss", "tid", "iat", "nbf", "exp", "ver")},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
