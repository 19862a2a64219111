"""Username/password (ROPC) through the real MSAL Python PublicClientApplication."""
import json

from _support import (GRAPH, assert_entra_error, assert_token, b64url_decode,
                      describe, form)


def test_ropc_tokens_and_claims(ropc, user, public_client, jwks, tenant_id,
                                authority, base_url):
    app, session, result = ropc()
    assert_token(result)

    # MSAL really did user-realm discovery, on the port-less URL it builds,
    # which our HTTP client pointed back at the server; the server said Managed.
    realm = [e for e in session.log if "/common/userrealm/" in e["url"]]
    assert realm, "MSAL did not call user realm discovery: %s" % [
        e["url"] for e in session.log]
    assert realm[0]["url"].startswith(base_url + "/common/userrealm/"), realm[0]["url"]
    assert any("/common/userrealm/" in orig for orig, _ in session.rewritten)
    assert realm[0]["status"] == 200, realm[0]
    assert json.loads(realm[0]["text"])["account_type"] == "Managed", realm[0]["text"]

    # The token request MSAL sent is the ROPC grant for our scopes.
    posts = session.token_posts()
    assert len(posts) == 1, [p["url"] for p in posts]
    body = form(posts[0]["data"])
    assert body["grant_type"] == "password"
    assert "User.Read" in body["scope"].split() and "offline_access" in body["scope"].split()

    # Access token: delegated Graph token.
    at = jwks.verify(result["access_token"], audience=GRAPH,
                     issuer="https://sts.windows.net/%s/" % tenant_id)
    assert at["ver"] == "1.0" and at["tid"] == tenant_id
    assert at["appid"] == public_client["client_id"]
    assert "User.Read" in at.get("scp", "").split(), at.get("scp")
    assert "roles" not in at or "User.Read.All" not in at["roles"]
    assert 3599 <= int(result["expires_in"]) <= 5400, result["expires_in"]

    # ID token: v2, for this client, names the user.
    assert result.get("id_token"), describe(result)
    idt = jwks.verify(result["id_token"], audience=public_client["client_id"],
                      issuer=authority + "/v2.0")
    assert idt["ver"] == "2.0" and idt["tid"] == tenant_id
    assert idt.get("preferred_username", "").lower() == user["username"].lower(), idt
    assert result["id_token_claims"]["preferred_username"] == idt["preferred_username"]
    assert idt.get("oid") and idt.get("sub"), idt
    assert at.get("oid") == idt["oid"], "AT and ID token name different users"

    # Refresh token and client_info ({"uid": oid, "utid": tid}).
    assert result.get("refresh_token"), describe(result)
    assert result.get("client_info"), describe(result)
    info = json.loads(b64url_decode(result["client_info"]))
    assert info == {"uid": idt["oid"], "utid": tenant_id}, info
    assert "offline_access" not in result.get("scope", "").split(), (
        "Entra never echoes offline_access in scope: %r" % result.get("scope"))

    # MSAL cached an account for the user.
    accounts = app.get_accounts(username=user["username"])
    assert len(accounts) == 1, accounts
    assert accounts[0]["home_account_id"] == "%s.%s" % (idt["oid"], tenant_id)


def test_ropc_wrong_password(public_app, user):
    app, session = public_app()
    result = app.acquire_token_by_username_password(
        user["username"], user["password"] + "-definitely-wrong",
        scopes=["User.Read"])
    assert_entra_error(result, "invalid_grant", 50126)
    post = session.token_posts()[-1]
    assert post["status"] == 400, (post["status"], post["text"][:500])


def test_ropc_unknown_user(public_app, user):
    app, session = public_app()
    domain = user["username"].split("@")[-1]
    result = app.acquire_token_by_username_password(
        "nobody-here@" + domain, user["password"], scopes=["User.Read"])
    assert "access_token" not in result, describe(result)
    assert result.get("error") == "invalid_grant", describe(result)
