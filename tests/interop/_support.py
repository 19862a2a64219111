"""Helpers shared by the interop tests (imported by conftest.py and the tests).

Nothing here changes what the Microsoft libraries put on the wire: the HTTP
client below is a plain ``requests.Session`` that (a) records each exchange so
a test can assert on what MSAL really sent and got, and (b) restores the
server's port on port-less URLs for its host -- see ``InteropSession``.
"""
import base64
import hashlib
import json
import re
import time
import urllib.parse

import jwt
import requests

GRAPH = "https://graph.microsoft.com"
GRAPH_DEFAULT = GRAPH + "/.default"

# Timeout handed to MSAL (its own constructor knob) so that a hung server
# fails a test instead of hanging the run.
HTTP_TIMEOUT = 30


class InteropSession(requests.Session):
    """A ``requests.Session`` usable as MSAL's ``http_client``.

    Why the port fix-up exists: MSAL Python 1.39 builds the user-realm
    discovery URL of the username/password (ROPC) flow from
    ``authority.instance``, which is the authority's *hostname without its
    port* (msal/authority.py ``user_realm_discovery``:
    ``"https://{netloc}/common/userrealm/..." .format(netloc=self.instance)``).
    Against real Entra that is harmless (port 443); against a server on
    127.0.0.1:PORT, MSAL would call https://127.0.0.1:443/common/userrealm/...
    and die with a ConnectionError.  Rather than weakening MSAL (monkey-patching
    it, or pre-seeding its "no realm discovery for this host" set so it skips
    the call), we give the app this HTTP client, which puts the server's port
    back on any https URL whose host is the server's host and which carries no
    explicit port.  MSAL still performs user-realm discovery, still parses the
    server's answer (which must say ``Managed``), and everything else it sends
    is untouched.

    Every exchange is appended to ``self.log`` as a dict.
    """

    def __init__(self, base_url, restore_port=True):
        super().__init__()
        base = urllib.parse.urlsplit(base_url)
        self._host = base.hostname
        self._port = base.port
        self._restore_port = restore_port
        self.rewritten = []  # (original_url, rewritten_url)
        self.log = []

    def _fix(self, url):
        if not self._restore_port or self._port is None:
            return url
        parts = urllib.parse.urlsplit(url)
        if (parts.scheme == "https" and parts.hostname == self._host
                and parts.port is None):
            fixed = urllib.parse.urlunsplit(parts._replace(
                netloc="{}:{}".format(self._host, self._port)))
            self.rewritten.append((url, fixed))
            return fixed
        return url

    def request(self, method, url, *args, **kwargs):
        url = self._fix(url)
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        resp = super().request(method, url, *args, **kwargs)
        self.log.append({
            "method": method.upper(),
            "url": url,
            "headers": dict(kwargs.get("headers") or {}),
            "data": kwargs.get("data"),
            "status": resp.status_code,
            "text": resp.text,
        })
        return resp

    def token_posts(self):
        return [e for e in self.log
                if e["method"] == "POST" and e["url"].endswith("/oauth2/v2.0/token")]


def form(data):
    """MSAL passes the token request body as a dict (or sometimes a str)."""
    if isinstance(data, dict):
        return data
    if isinstance(data, bytes):
        data = data.decode()
    return dict(urllib.parse.parse_qsl(data or ""))


def b64url_decode(s):
    s = s.strip()
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64url_nopad(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unverified(token):
    """(header, claims) of a JWT without verifying it -- for diagnostics only."""
    return (jwt.get_unverified_header(token),
            jwt.decode(token, options={"verify_signature": False}))


def sha1_hex_of_cert(cert):
    from cryptography.hazmat.primitives import hashes
    return cert.fingerprint(hashes.SHA1()).hex().upper()


def flip_signature_byte(token, index=0):
    """Return ``token`` with one bit of one signature byte flipped."""
    head, payload, sig = token.split(".")
    raw = bytearray(b64url_decode(sig))
    assert raw, "token has an empty signature"
    raw[index % len(raw)] ^= 0x01
    tampered = head + "." + payload + "." + b64url_nopad(bytes(raw))
    assert tampered != token
    return tampered


def describe(result):
    """Short text of an MSAL result for assertion messages (no secrets)."""
    if not isinstance(result, dict):
        return repr(result)
    shown = {k: v for k, v in result.items()
             if k not in ("access_token", "refresh_token", "id_token")}
    for k in ("access_token", "refresh_token", "id_token"):
        if k in result:
            shown[k] = "<%d chars>" % len(result[k] or "")
    return json.dumps(shown, default=str, indent=1)[:3000]


def assert_token(result):
    assert isinstance(result, dict) and "access_token" in result, (
        "expected a token, got:\n" + describe(result))
    return result


def assert_entra_error(result, error, code):
    """An MSAL error result (the server's JSON body) in Entra's shape."""
    assert isinstance(result, dict), repr(result)
    assert "access_token" not in result, "expected an error, got a token"
    assert result.get("error") == error, describe(result)
    codes = result.get("error_codes")
    assert isinstance(codes, list) and all(isinstance(c, int) for c in codes), (
        "error_codes must be a list of ints: " + describe(result))
    assert code in codes, describe(result)
    desc = result.get("error_description") or ""
    assert desc.startswith("AADSTS%d:" % code), describe(result)
    for part in ("Trace ID:", "Correlation ID:", "Timestamp:"):
        assert part in desc, "error_description lacks %r: %r" % (part, desc)
    for field in ("timestamp", "trace_id", "correlation_id"):
        assert result.get(field), "missing %s: %s" % (field, describe(result))
    assert result["trace_id"] in desc, "trace_id not in the description trailer"
    assert result["correlation_id"] in desc, (
        "correlation_id not in the description trailer")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", result["timestamp"]), (
        result["timestamp"])
    assert result.get("error_uri", "").endswith("code=%d" % code), describe(result)


class Jwks:
    """The server's signing keys, fetched the way a resource server would."""

    def __init__(self, jwks_uri, jwks_doc, ssl_context):
        self.uri = jwks_uri
        self.doc = jwks_doc
        self.by_kid = {k["kid"]: k for k in jwks_doc["keys"] if "kid" in k}
        # PyJWT's own fetching client, trusting the test CA only.
        self.client = jwt.PyJWKClient(jwks_uri, ssl_context=ssl_context,
                                      cache_jwk_set=True, lifespan=300)

    def verify(self, token, audience, issuer, leeway=60):
        """Verify an RS256 JWT against the JWKS; return its claims."""
        header = jwt.get_unverified_header(token)
        assert header.get("alg") == "RS256", header
        kid = header.get("kid")
        assert kid, "token header has no kid: %r" % header
        assert kid in self.by_kid, "kid %r not in JWKS %s" % (
            kid, sorted(self.by_kid))
        # Key via PyJWKClient (network fetch of jwks_uri) ...
        signing_key = self.client.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token, signing_key.key, algorithms=["RS256"], audience=audience,
            issuer=issuer, leeway=leeway,
            options={"require": ["exp", "iat", "nbf", "aud", "iss"]})
        # ... and the same answer from the JWK dict we fetched ourselves.
        again = jwt.decode(
            token, jwt.PyJWK(self.by_kid[kid]).key, algorithms=["RS256"],
            audience=audience, issuer=issuer, leeway=leeway)
        assert again == claims
        now = time.time()
        assert claims["nbf"] <= now + leeway and claims["exp"] > now
        return claims
