"""azure-identity credentials (which wrap MSAL over azure-core's transport)."""
import time

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CertificateCredential, ClientSecretCredential

from _support import GRAPH, GRAPH_DEFAULT

# Bounded retries: azure-core would otherwise retry a 5xx ten times with
# backoff; a broken server should fail the test quickly, not after minutes.
COMMON = {"disable_instance_discovery": True, "retry_total": 1}


def _check(token, jwks, tenant_id, client_id):
    now = time.time()
    assert token.token, "empty token"
    assert token.expires_on > now + 3000, (token.expires_on, now)
    assert token.expires_on <= now + 5400 + 60, (token.expires_on, now)
    claims = jwks.verify(token.token, audience=GRAPH,
                         issuer="https://sts.windows.net/%s/" % tenant_id)
    assert claims["appid"] == client_id and claims["tid"] == tenant_id
    assert "User.Read.All" in claims.get("roles", [])
    # expires_on is the token's own exp, give or take the request time.
    assert abs(claims["exp"] - token.expires_on) <= 10, (claims["exp"], token.expires_on)
    return claims


def test_client_secret_credential(daemon, tenant_id, base_url, jwks):
    cred = ClientSecretCredential(tenant_id, daemon["client_id"],
                                  daemon["client_secret"], authority=base_url,
                                  **COMMON)
    try:
        first = cred.get_token(GRAPH_DEFAULT)
        _check(first, jwks, tenant_id, daemon["client_id"])
        # A second call is answered from the credential's cache.
        assert cred.get_token(GRAPH_DEFAULT).token == first.token
        info = cred.get_token_info(GRAPH_DEFAULT)
        assert info.token == first.token
        # MSAL recomputes expires_on from the cache (now + remaining): +-2 s.
        assert abs(info.expires_on - first.expires_on) <= 2
    finally:
        cred.close()


def test_certificate_credential_pem(daemon, tenant_id, base_url, jwks, tmp_path):
    # azure-identity wants key and certificate in one PEM file.
    with open(daemon["private_key_pem"], "rb") as f:
        key = f.read()
    with open(daemon["certificate_pem"], "rb") as f:
        cert = f.read()
    combined = tmp_path / "daemon-combined.pem"
    combined.write_bytes(cert.rstrip(b"\n") + b"\n" + key)
    cred = CertificateCredential(tenant_id, daemon["client_id"],
                                 certificate_path=str(combined),
                                 authority=base_url, **COMMON)
    try:
        claims = _check(cred.get_token(GRAPH_DEFAULT), jwks, tenant_id,
                        daemon["client_id"])
        if "appidacr" in claims:
            assert claims["appidacr"] == "2", claims
    finally:
        cred.close()


def test_certificate_credential_pfx(daemon, tenant_id, base_url, jwks):
    if not daemon.get("pfx"):
        pytest.fail("demo.json daemon.pfx is missing")
    cred = CertificateCredential(tenant_id, daemon["client_id"],
                                 certificate_path=daemon["pfx"],
                                 password=daemon.get("pfx_password") or None,
                                 authority=base_url, send_certificate_chain=True,
                                 **COMMON)
    try:
        _check(cred.get_token(GRAPH_DEFAULT), jwks, tenant_id, daemon["client_id"])
    finally:
        cred.close()


def test_client_secret_credential_bad_secret(daemon, tenant_id, base_url):
    cred = ClientSecretCredential(tenant_id, daemon["client_id"], "wrong-secret",
                                  authority=base_url, **COMMON)
    try:
        with pytest.raises(ClientAuthenticationError) as err:
            cred.get_token(GRAPH_DEFAULT)
        assert "AADSTS7000215" in str(err.value), str(err.value)
    finally:
        cred.close()
