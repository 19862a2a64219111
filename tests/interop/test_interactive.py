"""Interactive flows through the real MSAL Python, with a real browser in the loop.

MSAL does its side exactly as in an app (initiate_device_flow and polling;
initiate_auth_code_flow with PKCE, state and nonce, then redemption and
refresh); the person's side -- typing the code at /devicelogin, the user name
and password on the sign-in pages -- is done by headless Chromium through
tests/browser/drive.mjs (Playwright).

Needs node, tests/browser/node_modules (scripts/test runs `npm ci` there) and
Chromium (/usr/bin/chromium). The harness may set TESSERA_NODE and
TESSERA_BROWSER_DRIVER; the server's CA reaches node as NODE_EXTRA_CA_CERTS.
"""
import json
import os
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest

from _support import GRAPH, assert_token, b64url_decode, describe, form

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.environ.get("TESSERA_BROWSER_DRIVER") or os.path.join(
    HERE, "..", "browser", "drive.mjs")
NODE = os.environ.get("TESSERA_NODE") or "node"


@pytest.fixture(scope="module")
def drive(ca_path):
    """Runs drive.mjs; returns its stdout's last line."""
    modules = os.path.join(os.path.dirname(DRIVER), "node_modules",
                           "playwright-core")
    if not os.path.isdir(modules):
        pytest.fail("tests/browser/node_modules is missing: run scripts/test "
                    "(it runs `npm ci` in tests/browser)", pytrace=False)

    def run(*args):
        env = dict(os.environ, NODE_EXTRA_CA_CERTS=ca_path)
        p = subprocess.run([NODE, DRIVER, *args], env=env, capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == 0, "drive.mjs %s failed (%d):\n%s\n%s" % (
            args[0], p.returncode, p.stdout, p.stderr)
        return p.stdout.strip().splitlines()[-1]
    return run


def free_loopback_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_id_token(jwks, result, client_id, authority, tenant_id, username):
    idt = jwks.verify(result["id_token"], audience=client_id,
                      issuer=authority + "/v2.0")
    assert idt["ver"] == "2.0" and idt["tid"] == tenant_id, idt
    assert idt["preferred_username"].lower() == username.lower(), idt
    info = json.loads(b64url_decode(result["client_info"]))
    assert info == {"uid": idt["oid"], "utid": tenant_id}, info
    return idt


def test_device_flow_approved_in_the_browser(public_app, public_client, user,
                                            jwks, authority, tenant_id, drive):
    app, session = public_app()
    flow = app.initiate_device_flow(scopes=["User.Read"])
    assert "user_code" in flow, describe(flow)
    assert flow["verification_uri"].endswith("/devicelogin"), flow
    assert flow["user_code"] in flow["message"]
    flow["expires_at"] = time.time() + 120  # never poll for long if the browser fails

    got = {}
    poller = threading.Thread(
        target=lambda: got.update(result=app.acquire_token_by_device_flow(flow)),
        daemon=True)
    started = time.time()
    poller.start()
    heading = drive("device", flow["verification_uri"], flow["user_code"],
                    user["username"], user["password"])
    assert heading == "You're signed in", heading
    poller.join(timeout=60)
    assert not poller.is_alive(), "MSAL was still polling a minute after approval"
    result = got["result"]
    assert_token(result)
    assert time.time() - started < 90

    polls = [form(p["data"]) for p in session.token_posts()]
    assert polls and all(p["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code"
                         for p in polls), polls
    statuses = [p["status"] for p in session.token_posts()]
    assert statuses[-1] == 200 and all(s == 400 for s in statuses[:-1]), statuses
    assert all(json.loads(p["text"])["error"] == "authorization_pending"
               for p in session.token_posts()[:-1])

    idt = check_id_token(jwks, result, public_client["client_id"], authority,
                         tenant_id, user["username"])
    assert "nonce" not in idt, "a device code ID token has no nonce"
    at = jwks.verify(result["access_token"], audience=GRAPH,
                     issuer="https://sts.windows.net/%s/" % tenant_id)
    assert "User.Read" in at["scp"].split()
    assert app.get_accounts(username=user["username"]), "MSAL cached no account"


# MSAL warns that the query response mode is less safe than form_post; both are tested.
@pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended:UserWarning")
@pytest.mark.parametrize("response_mode", [None, "form_post"])
def test_auth_code_flow_with_pkce_then_refresh(public_app, public_client, user,
                                              jwks, authority, tenant_id, drive,
                                              response_mode):
    app, session = public_app()
    redirect_uri = "http://localhost:%d" % free_loopback_port()
    flow = app.initiate_auth_code_flow(scopes=["User.Read"],
                                       redirect_uri=redirect_uri,
                                       response_mode=response_mode)
    auth = urllib.parse.urlsplit(flow["auth_uri"])
    asked = dict(urllib.parse.parse_qsl(auth.query))
    assert auth.path.endswith("/oauth2/v2.0/authorize"), flow["auth_uri"]
    assert asked["code_challenge_method"] == "S256" and asked["nonce"], asked
    assert asked.get("response_mode") == response_mode, asked

    # drive.mjs prints the URL the browser came back to; for form_post, the
    # posted fields as its query.
    final = drive("authorize", flow["auth_uri"], user["username"],
                  user["password"])
    back = urllib.parse.urlsplit(final)
    assert "%s://%s" % (back.scheme, back.netloc) == redirect_uri, final
    params = dict(urllib.parse.parse_qsl(back.query))
    assert params.get("code") and params.get("state") == flow["state"], params

    # MSAL checks state and its nonce itself; a token means both held.
    result = app.acquire_token_by_auth_code_flow(flow, params)
    assert_token(result)
    redeem = form(session.token_posts()[-1]["data"])
    assert redeem["grant_type"] == "authorization_code", redeem
    assert redeem["redirect_uri"] == redirect_uri
    assert redeem["code_verifier"], "MSAL sent no PKCE verifier"

    idt = check_id_token(jwks, result, public_client["client_id"], authority,
                         tenant_id, user["username"])
    assert idt["nonce"] == asked["nonce"], (idt.get("nonce"), asked["nonce"])
    assert result["id_token_claims"]["nonce"] == idt["nonce"]
    assert params["session_state"] == idt["sid"]

    # The refresh token from the code works through MSAL's refresh API.
    rt = result.get("refresh_token")
    assert rt, describe(result)
    refreshed = app.acquire_token_by_refresh_token(rt, scopes=["User.Read"])
    assert_token(refreshed)
    assert refreshed["refresh_token"] != rt, "refresh token not rotated"
    at = jwks.verify(refreshed["access_token"], audience=GRAPH,
                     issuer="https://sts.windows.net/%s/" % tenant_id)
    assert at["oid"] == idt["oid"] and "User.Read" in at["scp"].split()
    assert form(session.token_posts()[-1]["data"])["grant_type"] == "refresh_token"

    # A code is single use, also for MSAL (fresh app: no cached HTTP answer).
    again_app, _ = public_app()
    again = again_app.acquire_token_by_auth_code_flow(flow, params)
    assert again.get("error") == "invalid_grant", describe(again)
    assert 54005 in again.get("error_codes", []), describe(again)
