"""Fixtures for the tessera interop suite.

The harness starts ``tessera serve`` and points us at its demo.json through
``TESSERA_DEMO_JSON``; see README.md in this folder.
"""
import json
import os
import ssl
import urllib.parse

import msal
import pytest
import requests

from _support import HTTP_TIMEOUT, InteropSession, Jwks

_REQUIRED = {
    "authority": str, "tenant_id": str, "ca_cert": str,
    "daemon": dict, "public_client": dict, "user": dict,
}


def _load_demo():
    path = os.environ.get("TESSERA_DEMO_JSON")
    if not path:
        pytest.fail(
            "TESSERA_DEMO_JSON is not set. This suite needs a running "
            "`tessera serve`: set TESSERA_DEMO_JSON to the demo.json it wrote "
            "in its data dir (and REQUESTS_CA_BUNDLE to its CA PEM), then run "
            "`python -m pytest -q tests/interop`. See tests/interop/README.md.",
            pytrace=False)
    if not os.path.isfile(path):
        pytest.fail("TESSERA_DEMO_JSON=%r: no such file" % path, pytrace=False)
    with open(path) as f:
        demo = json.load(f)
    missing = [k for k, t in _REQUIRED.items() if not isinstance(demo.get(k), t)]
    if missing:
        pytest.fail("demo.json %s lacks %s" % (path, missing), pytrace=False)
    return demo


@pytest.fixture(scope="session")
def demo():
    return _load_demo()


@pytest.fixture(scope="session", autouse=True)
def _client_environment(demo):
    """Make the stock libraries trust the server's CA the documented way.

    The harness already exports REQUESTS_CA_BUNDLE; when someone runs the
    suite by hand with only TESSERA_DEMO_JSON we fill it in from demo.json.
    Regional MSAL routing would send client_credentials to a Microsoft host,
    so it is switched off for the run.
    """
    saved = {k: os.environ.get(k) for k in
             ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "MSAL_FORCE_REGION")}
    os.environ.setdefault("REQUESTS_CA_BUNDLE", demo["ca_cert"])
    os.environ.setdefault("SSL_CERT_FILE", demo["ca_cert"])
    os.environ.pop("MSAL_FORCE_REGION", None)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def authority(demo):
    return demo["authority"].rstrip("/")


@pytest.fixture(scope="session")
def tenant_id(demo):
    return demo["tenant_id"]


@pytest.fixture(scope="session")
def base_url(authority):
    env = os.environ.get("TESSERA_BASE_URL")
    if env:
        return env.rstrip("/")
    parts = urllib.parse.urlsplit(authority)
    return "%s://%s" % (parts.scheme, parts.netloc)


@pytest.fixture(scope="session")
def ca_path(demo):
    path = os.environ.get("REQUESTS_CA_BUNDLE") or demo["ca_cert"]
    assert os.path.isfile(path), "CA bundle %r does not exist" % path
    return path


@pytest.fixture(scope="session")
def ssl_context(ca_path):
    return ssl.create_default_context(cafile=ca_path)


@pytest.fixture(scope="session")
def daemon(demo):
    return demo["daemon"]


@pytest.fixture(scope="session")
def public_client(demo):
    return demo["public_client"]


@pytest.fixture(scope="session")
def user(demo):
    return demo["user"]


@pytest.fixture(scope="session")
def http(ca_path):
    """A plain requests session trusting the server's CA (for raw calls)."""
    s = requests.Session()
    s.verify = ca_path
    yield s
    s.close()


@pytest.fixture(scope="session")
def oidc_config(http, authority):
    url = authority + "/v2.0/.well-known/openid-configuration"
    r = http.get(url, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, (url, r.status_code, r.text[:500])
    return r.json()


@pytest.fixture(scope="session")
def jwks(http, oidc_config, ssl_context):
    uri = oidc_config["jwks_uri"]
    r = http.get(uri, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, (uri, r.status_code, r.text[:500])
    return Jwks(uri, r.json(), ssl_context)


@pytest.fixture
def confidential_app(daemon, authority):
    """Factory: a fresh MSAL confidential client for the daemon app.

    Fresh app = fresh token cache and fresh MSAL http throttling cache.
    """
    def make(credential=None, authority_url=None, **kwargs):
        if credential is None:
            credential = daemon["client_secret"]
        return msal.ConfidentialClientApplication(
            daemon["client_id"], client_credential=credential,
            authority=authority_url or authority, instance_discovery=False,
            timeout=HTTP_TIMEOUT, **kwargs)
    return make


@pytest.fixture
def public_app(public_client, authority, base_url):
    """Factory: a fresh MSAL public client with a recording, port-restoring
    HTTP client (see _support.InteropSession for why)."""
    def make(**kwargs):
        session = InteropSession(base_url)
        app = msal.PublicClientApplication(
            public_client["client_id"], authority=authority,
            instance_discovery=False, http_client=session, **kwargs)
        return app, session
    return make


@pytest.fixture
def ropc(public_app, user):
    """Factory: a fresh successful username/password sign-in."""
    def login(scopes=("User.Read",)):
        app, session = public_app()
        result = app.acquire_token_by_username_password(
            user["username"], user["password"], scopes=list(scopes))
        return app, session, result
    return login
