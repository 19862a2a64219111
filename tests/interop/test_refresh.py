"""refresh_token grant through MSAL: rotation, old-RT reuse, silent force refresh."""
from _support import (GRAPH, assert_token, describe, form, unverified)


def _scp(token):
    return unverified(token)[1].get("scp", "").split()


def test_refresh_rotates_and_old_token_stays_valid(ropc, public_app, jwks,
                                                   tenant_id):
    app, _, first = ropc()
    assert_token(first)
    rt1 = first.get("refresh_token")
    assert rt1, describe(first)

    second = app.acquire_token_by_refresh_token(rt1, scopes=["User.Read"])
    assert_token(second)
    assert second["access_token"] != first["access_token"], "no new access token"
    rt2 = second.get("refresh_token")
    assert rt2, "refresh must return a new refresh token: " + describe(second)
    assert rt2 != rt1, "refresh token was not rotated"
    claims = jwks.verify(second["access_token"], audience=GRAPH,
                         issuer="https://sts.windows.net/%s/" % tenant_id)
    assert "User.Read" in claims.get("scp", "").split()
    assert claims["oid"] == unverified(first["access_token"])[1]["oid"]

    # Entra semantics: redeeming an RT does not revoke it. A fresh app (and so
    # a fresh MSAL HTTP cache) redeems the old one once more.
    other_app, session = public_app()
    third = other_app.acquire_token_by_refresh_token(rt1, scopes=["User.Read"])
    assert_token(third)
    assert session.token_posts()[-1]["status"] == 200
    assert form(session.token_posts()[-1]["data"])["refresh_token"] == rt1
    assert third.get("refresh_token") and third["refresh_token"] not in (rt1, rt2)
    assert "User.Read" in _scp(third["access_token"])

    # And the rotated one works too.
    fourth = other_app.acquire_token_by_refresh_token(rt2, scopes=["User.Read"])
    assert_token(fourth)


def test_silent_force_refresh(ropc, user, jwks, tenant_id):
    app, session, first = ropc()
    assert_token(first)
    accounts = app.get_accounts(username=user["username"])
    assert accounts, "MSAL cached no account after ROPC"

    cached = app.acquire_token_silent(["User.Read"], account=accounts[0])
    assert_token(cached)
    assert cached.get("token_source") == "cache", describe(cached)
    assert cached["access_token"] == first["access_token"]

    posts_before = len(session.token_posts())
    fresh = app.acquire_token_silent(["User.Read"], account=accounts[0],
                                     force_refresh=True)
    assert_token(fresh)
    assert fresh.get("token_source") == "identity_provider", describe(fresh)
    posts = session.token_posts()[posts_before:]
    assert len(posts) == 1, [p["status"] for p in posts]
    body = form(posts[0]["data"])
    assert body["grant_type"] == "refresh_token", body["grant_type"]
    assert body["refresh_token"] == first["refresh_token"]
    assert fresh["access_token"] != first["access_token"]
    claims = jwks.verify(fresh["access_token"], audience=GRAPH,
                         issuer="https://sts.windows.net/%s/" % tenant_id)
    assert "User.Read" in claims.get("scp", "").split()
    # The rotated RT replaced the old one in MSAL's cache.
    assert fresh.get("refresh_token") and fresh["refresh_token"] != first["refresh_token"]


def test_garbage_refresh_token(public_app):
    app, session = public_app()
    result = app.acquire_token_by_refresh_token(
        "0.not-a-real-refresh-token", scopes=["User.Read"])
    assert "access_token" not in result, describe(result)
    assert result.get("error") == "invalid_grant", describe(result)
    assert session.token_posts()[-1]["status"] == 400


def test_refresh_token_bound_to_client(ropc, confidential_app):
    """An RT issued to the public client cannot be redeemed by another app."""
    _, _, first = ropc()
    rt = assert_token(first)["refresh_token"]
    other = confidential_app()  # the daemon app, authenticating with its secret
    result = other.acquire_token_by_refresh_token(rt, scopes=["User.Read"])
    assert "access_token" not in result, describe(result)
    assert result.get("error") == "invalid_grant", describe(result)
