"""Entra-shaped errors as the stock libraries see them, and on the wire."""
import re
import uuid

from _support import (GRAPH_DEFAULT, HTTP_TIMEOUT, InteropSession,
                      assert_entra_error, describe)


def test_bad_secret_through_msal(confidential_app):
    app = confidential_app("not-the-secret-" + uuid.uuid4().hex)
    result = app.acquire_token_for_client(scopes=[GRAPH_DEFAULT])
    assert_entra_error(result, "invalid_client", 7000215)


def test_bad_secret_status_and_headers(confidential_app, base_url):
    session = InteropSession(base_url)
    app = confidential_app("not-the-secret-" + uuid.uuid4().hex,
                           http_client=session)
    result = app.acquire_token_for_client(scopes=[GRAPH_DEFAULT])
    assert result.get("error") == "invalid_client", describe(result)
    post = session.token_posts()[-1]
    assert post["status"] == 401, (post["status"], post["text"][:300])


def test_raw_error_response(http, authority, daemon):
    """What any OAuth client sees: 401, JSON, no-store, trace id header."""
    url = authority + "/oauth2/v2.0/token"
    corr = str(uuid.uuid4())
    r = http.post(url, data={
        "client_id": daemon["client_id"], "grant_type": "client_credentials",
        "scope": GRAPH_DEFAULT, "client_secret": "wrong-" + corr,
    }, headers={"client-request-id": corr}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 401, (r.status_code, r.text[:300])
    assert r.headers.get("Content-Type", "").startswith("application/json")
    body = r.json()
    assert_entra_error(body, "invalid_client", 7000215)
    assert daemon["client_id"] in body["error_description"]
    assert "no-store" in r.headers.get("Cache-Control", ""), dict(r.headers)
    if "x-ms-request-id" in r.headers:
        assert r.headers["x-ms-request-id"] == body["trace_id"]
    assert re.fullmatch(r"[0-9a-f-]{36}", body["trace_id"]), body["trace_id"]


def test_missing_grant_type(http, authority, daemon):
    r = http.post(authority + "/oauth2/v2.0/token",
                  data={"client_id": daemon["client_id"],
                        "scope": GRAPH_DEFAULT}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert_entra_error(r.json(), "invalid_request", 900144)


def test_unsupported_grant_type(http, authority, daemon):
    r = http.post(authority + "/oauth2/v2.0/token",
                  data={"client_id": daemon["client_id"],
                        "grant_type": "urn:example:not-a-grant",
                        "client_secret": daemon["client_secret"],
                        "scope": GRAPH_DEFAULT}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 400, (r.status_code, r.text[:300])
    assert_entra_error(r.json(), "unsupported_grant_type", 70003)
