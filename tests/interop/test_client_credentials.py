"""client_credentials through the real MSAL Python: secret, certificate, PFX."""
import json
import time

import msal
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from _support import (GRAPH, GRAPH_DEFAULT, InteropSession, assert_entra_error,
                      assert_token, b64url_decode, b64url_nopad, describe,
                      form, sha1_hex_of_cert)

GRANTED_ROLES = {"User.Read.All", "Group.Read.All", "Application.ReadWrite.All",
                 "Policy.ReadWrite.ApplicationConfiguration", "User.ReadWrite.All",
                 "Group.ReadWrite.All", "GroupMember.ReadWrite.All",
                 "AppRoleAssignment.ReadWrite.All",
                 "DelegatedPermissionGrant.ReadWrite.All", "Directory.Read.All"}


def _read(path):
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def cert_material(demo):
    d = demo["daemon"]
    cert_pem = _read(d["certificate_pem"])
    key_pem = _read(d["private_key_pem"])
    cert = x509.load_pem_x509_certificate(cert_pem)
    return {"cert_pem": cert_pem.decode(), "key_pem": key_pem.decode(),
            "cert": cert, "der": cert.public_bytes(serialization.Encoding.DER)}


def check_app_token(result, jwks, tenant_id, client_id, appidacr=None):
    """Verify an app-only Graph access token; return its claims."""
    assert_token(result)
    assert result.get("token_type", "").lower() == "bearer", describe(result)
    assert "refresh_token" not in result and "id_token" not in result, (
        "client_credentials must not return refresh/ID tokens: " + describe(result))
    token = result["access_token"]
    claims = jwks.verify(token, audience=GRAPH,
                         issuer="https://sts.windows.net/%s/" % tenant_id)
    assert claims["aud"] == GRAPH
    assert claims["tid"] == tenant_id
    assert claims["appid"] == client_id
    assert claims["ver"] == "1.0"
    assert "scp" not in claims, "app-only token must carry roles, not scp"
    roles = claims.get("roles")
    assert isinstance(roles, list), claims
    assert GRANTED_ROLES <= set(roles), (
        "granted application permissions missing from roles: %s"
        % sorted(GRANTED_ROLES - set(roles)))
    if appidacr is not None and "appidacr" in claims:
        assert claims["appidacr"] == appidacr, claims
    if "idtyp" in claims:
        assert claims["idtyp"] == "app", claims
    if "oid" in claims and "sub" in claims:
        assert claims["sub"] == claims["oid"], "app token: sub must equal oid"
    return claims


def test_secret_token_claims_lifetime_and_cache(confidential_app, daemon, jwks,
                                                tenant_id):
    app = confidential_app()  # stock MSAL: its own requests session, CA via env
    before = int(time.time())
    first = app.acquire_token_for_client(scopes=[GRAPH_DEFAULT])
    claims = check_app_token(first, jwks, tenant_id, daemon["client_id"],
                             appidacr="1")
    assert first.get("token_source") == "identity_provider", describe(first)

    expires_in = first["expires_in"]
    assert isinstance(expires_in, int), "expires_in must be an integer (v2)"
    # Server default: random 60-90 min; 1 s of slack for rounding down.
    assert 3599 <= expires_in <= 5400, expires_in
    # The token's exp agrees with expires_in (within clock/rounding slack).
    assert abs(claims["exp"] - (before + expires_in)) <= 10, (
        claims["exp"], before, expires_in)
    assert "ext_expires_in" not in first or isinstance(first["ext_expires_in"], int)

    second = app.acquire_token_for_client(scopes=[GRAPH_DEFAULT])
    assert_token(second)
    assert second.get("token_source") == "cache", (
        "second call should be served from MSAL's cache: " + describe(second))
    assert second["access_token"] == first["access_token"]


def test_secret_via_tenant_domain_authority(confidential_app, demo, base_url,
                                            daemon, jwks, tenant_id):
    """A domain-name tenant works: discovery must hand MSAL GUID endpoints."""
    domain = demo.get("tenant_domain")
    if not domain:
        pytest.skip("demo.json has no tenant_domain")
    app = confidential_app(authority_url="%s/%s" % (base_url, domain))
    result = app.acquire_token_for_client(scopes=[GRAPH_DEFAULT])
    claims = check_app_token(result, jwks, tenant_id, daemon["client_id"])
    assert claims["tid"] == tenant_id


def _assertion_of(session):
    posts = session.token_posts()
    assert len(posts) == 1, [p["url"] for p in posts]
    body = form(posts[0]["data"])
    assert body.get("grant_type") == "client_credentials", body.keys()
    assert "client_secret" not in body
    assert body.get("client_assertion_type") == (
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    assertion = body["client_assertion"]
    if isinstance(assertion, bytes):  # MSAL hands requests the JWT as bytes
        assertion = assertion.decode()
    header_b64, payload_b64, _ = assertion.split(".")
    return (json.loads(b64url_decode(header_b64)),
            json.loads(b64url_decode(payload_b64)), posts[0])


def test_certificate_public_certificate_ps256(confidential_app, cert_material,
                                              daemon, jwks, tenant_id, base_url):
    """MSAL with public_certificate: PS256 + x5t#S256 + x5c."""
    session = InteropSession(base_url)  # pure pass-through, records exchanges
    app = confidential_app(
        {"private_key": cert_material["key_pem"],
         "public_certificate": cert_material["cert_pem"]},
        http_client=session)
    result = app.acquire_token_for_client(scopes=[GRAPH_DEFAULT])
    header, payload, post = _assertion_of(session)
    # What MSAL really sent -- so this test covers the PS256 path.
    assert header["alg"] == "PS256", header
    sha256 = cert_material["cert"].fingerprint(hashes.SHA256())
    assert header["x5t#S256"].rstrip("=") == b64url_nopad(sha256), header
    assert header.get("x5c"), header
    assert payload["iss"] == payload["sub"] == daemon["client_id"]
    assert payload["aud"] == post["url"].split("?")[0]
    check_app_token(result, jwks, tenant_id, daemon["client_id"], appidacr="2")


def test_certificate_sha1_thumbprint_rs256(confidential_app, cert_material,
                                           daemon, jwks, tenant_id, base_url):
    """MSAL with a SHA-1 thumbprint: RS256 + padded base64url x5t."""
    session = InteropSession(base_url)
    thumb = sha1_hex_of_cert(cert_material["cert"])
    app = confidential_app(
        {"private_key": cert_material["key_pem"], "thumbprint": thumb},
        http_client=session)
    result = app.acquire_token_for_client(scopes=[GRAPH_DEFAULT])
    header, payload, _ = _assertion_of(session)
    assert header["alg"] == "RS256", header
    assert "x5t#S256" not in header and "x5c" not in header, header
    assert b64url_decode(header["x5t"]) == bytes.fromhex(thumb), header
    check_app_token(result, jwks, tenant_id, daemon["client_id"], appidacr="2")


def test_certificate_pfx(confidential_app, daemon, jwks, tenant_id, base_url):
    """MSAL >= 1.29 loads a PKCS#12 file itself (private_key_pfx_path)."""
    if tuple(int(x) for x in msal.__version__.split(".")[:2]) < (1, 29):
        pytest.skip("msal %s has no private_key_pfx_path" % msal.__version__)
    pfx = daemon.get("pfx")
    if not pfx:
        pytest.fail("demo.json daemon.pfx is missing")
    session = InteropSession(base_url)
    app = confidential_app(
        {"private_key_pfx_path": pfx, "passphrase": daemon.get("pfx_password") or None},
        http_client=session)
    result = app.acquire_token_for_client(scopes=[GRAPH_DEFAULT])
    header, _, _ = _assertion_of(session)
    assert header["alg"] == "PS256" and "x5t#S256" in header, header
    check_app_token(result, jwks, tenant_id, daemon["client_id"], appidacr="2")


def test_unregistered_certificate_rejected(confidential_app, base_url):
    """A well-formed assertion signed by a key the app does not own."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "intruder")])
    import datetime
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    session = InteropSession(base_url)
    app = confidential_app({"private_key": key_pem, "public_certificate": cert_pem},
                           http_client=session)
    result = app.acquire_token_for_client(scopes=[GRAPH_DEFAULT])
    assert_entra_error(result, "invalid_client", 700027)
    assert session.token_posts()[-1]["status"] == 401, session.token_posts()[-1]


def test_client_credentials_requires_default_scope(confidential_app):
    """Entra: client_credentials needs exactly one {resource}/.default."""
    app = confidential_app()
    result = app.acquire_token_for_client(scopes=[GRAPH + "/User.Read.All"])
    assert_entra_error(result, "invalid_scope", 1002012)
