"""Discovery, JWKS and signature verification of every token kind with PyJWT."""
import base64
import hashlib
import json

import jwt
import msal
import pytest
from cryptography import x509

from _support import (GRAPH, GRAPH_DEFAULT, HTTP_TIMEOUT, InteropSession,
                      assert_token, b64url_decode, b64url_nopad,
                      flip_signature_byte)


def test_openid_configuration(oidc_config, authority):
    assert oidc_config["issuer"] == authority + "/v2.0"
    assert oidc_config["token_endpoint"] == authority + "/oauth2/v2.0/token"
    assert oidc_config["jwks_uri"] == authority + "/discovery/v2.0/keys"
    assert oidc_config["authorization_endpoint"] == authority + "/oauth2/v2.0/authorize"
    assert "RS256" in oidc_config["id_token_signing_alg_values_supported"]


def test_jwks_keys_are_consistent(jwks):
    keys = jwks.doc.get("keys")
    assert isinstance(keys, list) and keys, jwks.doc
    for k in keys:
        assert k["kty"] == "RSA" and k.get("use", "sig") == "sig", k
        for field in ("kid", "x5t", "n", "e", "x5c"):
            assert k.get(field), "JWK lacks %s: %s" % (field, sorted(k))
        der = base64.b64decode("".join(k["x5c"][0].split()))
        # kid == x5t == base64url(SHA-1(DER of x5c[0])), no padding.
        assert k["x5t"] == b64url_nopad(hashlib.sha1(der).digest()), k["kid"]
        assert k["kid"] == k["x5t"]
        # n/e describe the certificate's own public key.
        pub = x509.load_der_x509_certificate(der).public_key().public_numbers()
        assert int.from_bytes(b64url_decode(k["n"]), "big") == pub.n
        assert int.from_bytes(b64url_decode(k["e"]), "big") == pub.e
    assert len({k["kid"] for k in keys}) == len(keys), "duplicate kids"


@pytest.fixture(scope="module")
def issued_tokens(demo, authority, base_url):
    """One of each token kind the server issues to the stock libraries:
    [(label, token, audience, issuer)]."""
    tid = demo["tenant_id"]
    out = []
    app = msal.ConfidentialClientApplication(
        demo["daemon"]["client_id"], client_credential=demo["daemon"]["client_secret"],
        authority=authority, instance_discovery=False, timeout=HTTP_TIMEOUT)
    r = assert_token(app.acquire_token_for_client(scopes=[GRAPH_DEFAULT]))
    v1_iss = "https://sts.windows.net/%s/" % tid
    out.append(("app access token", r["access_token"], GRAPH, v1_iss))

    papp = msal.PublicClientApplication(
        demo["public_client"]["client_id"], authority=authority,
        instance_discovery=False, http_client=InteropSession(base_url))
    r = assert_token(papp.acquire_token_by_username_password(
        demo["user"]["username"], demo["user"]["password"], scopes=["User.Read"]))
    out.append(("user access token (ROPC)", r["access_token"], GRAPH, v1_iss))
    assert r.get("id_token"), "ROPC response has no id_token"
    out.append(("ID token (ROPC)", r["id_token"], demo["public_client"]["client_id"],
                authority + "/v2.0"))
    assert r.get("refresh_token"), "ROPC response has no refresh_token"
    r2 = assert_token(papp.acquire_token_by_refresh_token(
        r["refresh_token"], scopes=["User.Read"]))
    out.append(("user access token (refresh)", r2["access_token"], GRAPH, v1_iss))
    if r2.get("id_token"):
        out.append(("ID token (refresh)", r2["id_token"],
                    demo["public_client"]["client_id"], authority + "/v2.0"))
    return out


def test_every_token_verifies_against_jwks(issued_tokens, jwks):
    assert len(issued_tokens) >= 4
    for label, token, aud, iss in issued_tokens:
        header = jwt.get_unverified_header(token)
        assert header.get("typ", "JWT") == "JWT", (label, header)
        claims = jwks.verify(token, audience=aud, issuer=iss)
        if claims.get("ver") == "1.0":
            # v1 access tokens carry x5t alongside kid (same thumbprint).
            assert header.get("x5t") == header["kid"], (label, header)
        else:
            assert claims.get("ver") == "2.0", (label, claims)


def test_tampered_signature_fails(issued_tokens, jwks):
    for label, token, aud, iss in issued_tokens:
        key = jwks.client.get_signing_key_from_jwt(token).key
        # The untouched token verifies with exactly these options ...
        jwt.decode(token, key, algorithms=["RS256"], audience=aud, issuer=iss,
                   leeway=60)
        # ... one flipped bit anywhere in the signature does not.
        for index in (0, 100, -1):
            bad = flip_signature_byte(token, index)
            with pytest.raises(jwt.InvalidSignatureError):
                jwt.decode(bad, key, algorithms=["RS256"], audience=aud,
                           issuer=iss, leeway=60)
        # Nor does a modified payload under the original signature.
        h, p, s = token.split(".")
        claims = jwt.decode(token, options={"verify_signature": False})
        claims["tid"] = "00000000-0000-0000-0000-000000000000"
        forged_p = b64url_nopad(json.dumps(claims).encode())
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(h + "." + forged_p + "." + s, key, algorithms=["RS256"],
                       audience=aud, issuer=iss, leeway=60)
