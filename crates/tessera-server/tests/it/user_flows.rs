//! Password (ROPC) and refresh token grants: token shapes, Entra's refresh semantics, and
//! the user-state errors (unknown, wrong password, disabled, MFA, consent, revocation).

use serde_json::Value;

use crate::support::{TestServer, aadsts_code, jwt_parts, verify_with_jwks, write_config};

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const PUBLIC_APP: &str = "33333333-4444-5555-6666-777777777777";
const CONFIDENTIAL_APP: &str = "44444444-5555-6666-7777-888888888888";
const API_APP: &str = "55555555-6666-7777-8888-999999999999";

const CONFIG: &str = r#"
[[tenants]]
id = "11111111-2222-3333-4444-555555555555"
domain = "contoso.example"
display_name = "Contoso"

[[tenants.applications]]
client_id = "33333333-4444-5555-6666-777777777777"
display_name = "script"
public_client = true
delegated_permissions = { "https://graph.microsoft.com" = ["User.Read", "openid", "profile", "offline_access"], "api://tasks" = ["Tasks.Read"] }

[[tenants.applications]]
client_id = "44444444-5555-6666-7777-888888888888"
display_name = "web app"
secrets = [{ value = "web-secret" }]
delegated_permissions = { "https://graph.microsoft.com" = ["User.Read"] }

[[tenants.applications]]
client_id = "55555555-6666-7777-8888-999999999999"
display_name = "Tasks API"
access_token_version = 2
identifier_uris = ["api://tasks"]
oauth2_scopes = ["Tasks.Read", "Tasks.Write"]

[[tenants.users]]
user_principal_name = "megan@contoso.example"
display_name = "Megan Bowen"
given_name = "Megan"
surname = "Bowen"
mail = "megan@contoso.example"
password = "Megan-Pass-1"

[[tenants.users]]
user_principal_name = "gone@contoso.example"
display_name = "Disabled"
password = "Gone-Pass-1"
disabled = true

[[tenants.users]]
user_principal_name = "mfa@contoso.example"
display_name = "Needs MFA"
password = "Mfa-Pass-1"
mfa_required = true
"#;

async fn server() -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), CONFIG);
    TestServer::start_in(dir, |o| {
        o.config_file = Some(config);
        o.test_mode = true;
    })
    .await
}

fn url(s: &TestServer, tenant: &str) -> String {
    format!("{}/{tenant}/oauth2/v2.0/token", s.base)
}

async fn ropc(s: &TestServer, user: &str, password: &str, scope: &str) -> (u16, Value) {
    s.post_form(
        &url(s, TENANT),
        &[
            ("grant_type", "password"),
            ("client_id", PUBLIC_APP),
            ("username", user),
            ("password", password),
            ("scope", scope),
            ("client_info", "1"),
        ],
    )
    .await
}

async fn refresh(s: &TestServer, client: &str, rt: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", client),
        ("refresh_token", rt),
    ];
    form.extend_from_slice(extra);
    s.post_form(&url(s, TENANT), &form).await
}

#[tokio::test]
async fn ropc_gives_access_id_and_refresh_tokens() {
    let s = server().await;
    let (status, body) = ropc(
        &s,
        "megan@contoso.example",
        "Megan-Pass-1",
        "User.Read offline_access openid profile",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&str> = body
        .as_object()
        .expect("obj")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "token_type",
            "scope",
            "expires_in",
            "ext_expires_in",
            "access_token",
            "refresh_token",
            "id_token",
            "client_info"
        ]
    );
    let scope = body["scope"].as_str().expect("scope");
    assert!(
        scope.split(' ').any(|x| x == "User.Read") && !scope.contains("offline_access"),
        "{scope}"
    );
    assert!(
        body["refresh_token"]
            .as_str()
            .expect("rt")
            .starts_with("1.")
    );

    let (_, at) = jwt_parts(body["access_token"].as_str().expect("at"));
    assert_eq!(at["aud"], "https://graph.microsoft.com");
    assert_eq!(at["ver"], "1.0");
    assert_eq!(at["appidacr"], "0", "public client");
    assert_eq!(at["upn"], "megan@contoso.example");
    assert_eq!(at["idtyp"], "user");
    assert!(
        at["scp"]
            .as_str()
            .expect("scp")
            .split(' ')
            .any(|x| x == "User.Read")
    );
    assert!(at.get("roles").is_none());

    let (h, id) = jwt_parts(body["id_token"].as_str().expect("id"));
    assert!(h.get("x5t").is_none(), "v2 header has kid only");
    assert_eq!(id["aud"], PUBLIC_APP);
    assert_eq!(id["iss"], format!("{}/{TENANT}/v2.0", s.base));
    assert_eq!(id["preferred_username"], "megan@contoso.example");
    assert_eq!(id["name"], "Megan Bowen");
    assert_eq!(id["oid"], at["oid"]);
    assert_eq!(id["ver"], "2.0");
    assert_eq!(
        id["exp"].as_i64().expect("exp") - id["iat"].as_i64().expect("iat"),
        3900,
        "1 hour, iat back-dated 5 minutes"
    );
    assert!(id.get("email").is_none(), "email only with the email scope");

    let ci =
        tessera_proto::b64::url_decode(body["client_info"].as_str().expect("ci")).expect("b64");
    let ci: Value = serde_json::from_slice(&ci).expect("json");
    assert_eq!(ci["uid"], at["oid"]);
    assert_eq!(ci["utid"], TENANT);

    let (_, jwks) = s
        .get_json(&format!("{}/{TENANT}/discovery/v2.0/keys", s.base))
        .await;
    assert!(verify_with_jwks(
        body["id_token"].as_str().expect("id"),
        &jwks
    ));
    assert!(verify_with_jwks(
        body["access_token"].as_str().expect("at"),
        &jwks
    ));

    let (status, body) = ropc(&s, "megan@contoso.example", "Megan-Pass-1", "User.Read").await;
    assert_eq!(status, 200);
    assert!(
        body.get("refresh_token").is_none() && body.get("id_token").is_none(),
        "no RT without offline_access, no ID token without openid"
    );
}

#[tokio::test]
async fn ropc_user_errors() {
    let s = server().await;
    let (status, body) = ropc(&s, "megan@contoso.example", "wrong", "User.Read").await;
    assert_eq!(
        (status, body["error"].as_str(), aadsts_code(&body)),
        (400, Some("invalid_grant"), 50126)
    );
    let (_, body) = ropc(&s, "nobody@contoso.example", "x", "User.Read").await;
    assert_eq!(aadsts_code(&body), 50034);
    let (_, body) = ropc(&s, "gone@contoso.example", "Gone-Pass-1", "User.Read").await;
    assert_eq!(aadsts_code(&body), 50057);
    let (_, body) = ropc(&s, "gone@contoso.example", "wrong", "User.Read").await;
    assert_eq!(
        aadsts_code(&body),
        50126,
        "a wrong password says nothing about the account's state"
    );
    let (_, body) = ropc(&s, "mfa@contoso.example", "Mfa-Pass-1", "User.Read").await;
    assert_eq!(
        (
            body["error"].as_str(),
            aadsts_code(&body),
            body["suberror"].as_str()
        ),
        (Some("invalid_grant"), 50076, Some("basic_action"))
    );
    let (_, body) = ropc(&s, "megan@contoso.example", "Megan-Pass-1", "Mail.Read").await;
    assert_eq!(aadsts_code(&body), 65001, "not consented");
    let (_, body) = ropc(
        &s,
        "megan@contoso.example",
        "Megan-Pass-1",
        "User.Read api://tasks/Tasks.Read",
    )
    .await;
    assert_eq!(aadsts_code(&body), 28000, "two resources");
    let (_, body) = ropc(
        &s,
        "megan@contoso.example",
        "Megan-Pass-1",
        "api://tasks/Tasks.Delete",
    )
    .await;
    assert_eq!(
        (body["error"].as_str(), aadsts_code(&body)),
        (Some("invalid_scope"), 70011)
    );
    let (_, body) = s
        .post_form(
            &url(&s, TENANT),
            &[
                ("grant_type", "password"),
                ("client_id", PUBLIC_APP),
                ("username", "megan@contoso.example"),
                ("scope", "User.Read"),
            ],
        )
        .await;
    assert_eq!(aadsts_code(&body), 900144, "password missing");

    let (status, body) = s
        .post_form(
            &url(&s, TENANT),
            &[
                ("grant_type", "password"),
                ("client_id", CONFIDENTIAL_APP),
                ("username", "megan@contoso.example"),
                ("password", "Megan-Pass-1"),
                ("scope", "User.Read"),
            ],
        )
        .await;
    assert_eq!(
        (status, aadsts_code(&body)),
        (401, 7000218),
        "public client flows are off for this app"
    );
    let (status, _) = s
        .post_form(
            &url(&s, TENANT),
            &[
                ("grant_type", "password"),
                ("client_id", CONFIDENTIAL_APP),
                ("client_secret", "web-secret"),
                ("username", "megan@contoso.example"),
                ("password", "Megan-Pass-1"),
                ("scope", "User.Read"),
            ],
        )
        .await;
    assert_eq!(status, 200, "a confidential client with its secret may");

    let (_, body) = s
        .post_form(
            &url(&s, "common"),
            &[
                ("grant_type", "password"),
                ("client_id", PUBLIC_APP),
                ("username", "megan@contoso.example"),
                ("password", "Megan-Pass-1"),
                ("scope", "User.Read"),
            ],
        )
        .await;
    assert_eq!(aadsts_code(&body), 9001023);
    let (status, _) = s
        .post_form(
            &url(&s, "organizations"),
            &[
                ("grant_type", "password"),
                ("client_id", PUBLIC_APP),
                ("username", "megan@contoso.example"),
                ("password", "Megan-Pass-1"),
                ("scope", "User.Read"),
            ],
        )
        .await;
    assert_eq!(
        status, 200,
        "organizations finds the tenant from the user's domain"
    );
}

#[tokio::test]
async fn v2_resource_gets_a_v2_token() {
    let s = server().await;
    let (status, body) = ropc(
        &s,
        "megan@contoso.example",
        "Megan-Pass-1",
        "api://tasks/Tasks.Read",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "api://tasks/Tasks.Read");
    let (h, at) = jwt_parts(body["access_token"].as_str().expect("at"));
    assert!(h.get("x5t").is_none());
    assert_eq!(at["aud"], API_APP);
    assert_eq!(at["ver"], "2.0");
    assert_eq!(at["azp"], PUBLIC_APP);
    assert_eq!(at["azpacr"], "0");
    assert_eq!(at["preferred_username"], "megan@contoso.example");
    assert_eq!(at["iss"], format!("{}/{TENANT}/v2.0", s.base));
}

#[tokio::test]
async fn refresh_rotates_and_keeps_the_old_token_valid() {
    let s = server().await;
    let (_, first) = ropc(
        &s,
        "megan@contoso.example",
        "Megan-Pass-1",
        "User.Read offline_access openid profile",
    )
    .await;
    let rt1 = first["refresh_token"].as_str().expect("rt").to_owned();
    let (status, second) = refresh(
        &s,
        PUBLIC_APP,
        &rt1,
        &[
            ("scope", "User.Read offline_access openid profile"),
            ("client_info", "1"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{second}");
    let rt2 = second["refresh_token"].as_str().expect("new rt").to_owned();
    assert_ne!(rt1, rt2, "a new refresh token on every use");
    assert!(second["id_token"].is_string() && second["client_info"].is_string());
    let (status, _) = refresh(&s, PUBLIC_APP, &rt1, &[]).await;
    assert_eq!(
        status, 200,
        "the redeemed token stays valid (Entra does not revoke it)"
    );
    let (status, third) =
        refresh(&s, PUBLIC_APP, &rt2, &[("scope", "api://tasks/Tasks.Read")]).await;
    assert_eq!(
        status, 200,
        "a refresh token is not bound to a resource: {third}"
    );
    assert_eq!(
        jwt_parts(third["access_token"].as_str().expect("at")).1["aud"],
        API_APP
    );

    let (status, body) = refresh(
        &s,
        CONFIDENTIAL_APP,
        &rt1,
        &[("client_secret", "web-secret")],
    )
    .await;
    assert_eq!(
        (status, aadsts_code(&body)),
        (400, 70000),
        "bound to its client"
    );
    let (_, body) = refresh(&s, PUBLIC_APP, "1.garbage", &[]).await;
    assert_eq!(
        (body["error"].as_str(), aadsts_code(&body)),
        (Some("invalid_grant"), 9002313)
    );
}

#[tokio::test]
async fn refresh_tokens_expire_after_90_days_of_inactivity() {
    let s = server().await;
    let (_, first) = ropc(
        &s,
        "megan@contoso.example",
        "Megan-Pass-1",
        "User.Read offline_access",
    )
    .await;
    let rt1 = first["refresh_token"].as_str().expect("rt").to_owned();
    s.advance_clock(89 * 86_400).await;
    let (status, second) = refresh(&s, PUBLIC_APP, &rt1, &[]).await;
    assert_eq!(status, 200, "89 days idle is fine");
    let rt2 = second["refresh_token"].as_str().expect("rt").to_owned();
    s.advance_clock(89 * 86_400).await;
    let (status, _) = refresh(&s, PUBLIC_APP, &rt2, &[]).await;
    assert_eq!(status, 200, "the window slides with use");
    s.advance_clock(91 * 86_400).await;
    let (status, body) = refresh(&s, PUBLIC_APP, &rt2, &[]).await;
    assert_eq!((status, aadsts_code(&body)), (400, 700082));
    assert!(
        body["error_description"]
            .as_str()
            .expect("d")
            .contains("inactive for 90.00:00:00")
    );
}

#[tokio::test]
async fn revoked_sessions_and_disabled_users_stop_refresh() {
    let s = server().await;
    let (_, first) = ropc(
        &s,
        "megan@contoso.example",
        "Megan-Pass-1",
        "User.Read offline_access",
    )
    .await;
    let rt = first["refresh_token"].as_str().expect("rt").to_owned();
    let r = s
        .client
        .post(format!("{}/_tessera/test/revoke-sessions", s.base))
        .json(&serde_json::json!({"tenant": "contoso.example", "user": "megan@contoso.example"}))
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status().as_u16(), 204);
    let (status, body) = refresh(&s, PUBLIC_APP, &rt, &[]).await;
    assert_eq!((status, aadsts_code(&body)), (400, 50173));
    s.advance_clock(2).await;
    let (status, _) = ropc(
        &s,
        "megan@contoso.example",
        "Megan-Pass-1",
        "User.Read offline_access",
    )
    .await;
    assert_eq!(status, 200, "signing in again works after revocation");
}

const OBO_CONFIG: &str = r#"
[[tenants]]
id = "11111111-2222-3333-4444-555555555555"
domain = "contoso.example"

[[tenants.applications]]
client_id = "33333333-4444-5555-6666-777777777777"
display_name = "script"
public_client = true
delegated_permissions = { "api://tasks" = ["Tasks.Read"], "https://graph.microsoft.com" = ["User.Read"] }

[[tenants.applications]]
client_id = "55555555-6666-7777-8888-999999999999"
display_name = "Tasks API"
access_token_version = 2
identifier_uris = ["api://tasks"]
oauth2_scopes = ["Tasks.Read"]
secrets = [{ value = "api-secret" }]
delegated_permissions = { "https://graph.microsoft.com" = ["User.Read"] }

[[tenants.users]]
user_principal_name = "megan@contoso.example"
display_name = "Megan Bowen"
password = "Megan-Pass-1"
"#;

async fn obo(s: &TestServer, assertion: &str) -> (u16, Value) {
    s.post_form(
        &url(s, TENANT),
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("client_id", API_APP),
            ("client_secret", "api-secret"),
            ("assertion", assertion),
            ("scope", "https://graph.microsoft.com/User.Read"),
            ("requested_token_use", "on_behalf_of"),
        ],
    )
    .await
}

#[tokio::test]
async fn on_behalf_of_trades_an_api_token_for_a_graph_token_for_the_same_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), OBO_CONFIG);
    let s = TestServer::start_in(dir, |o| {
        o.config_file = Some(config);
        o.test_mode = true;
    })
    .await;
    let (status, body) = ropc(
        &s,
        "megan@contoso.example",
        "Megan-Pass-1",
        "api://tasks/Tasks.Read",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let api_token = body["access_token"].as_str().expect("token").to_owned();
    let (_, api_claims) = jwt_parts(&api_token);
    assert_eq!(api_claims["aud"], API_APP);

    let (status, body) = obo(&s, &api_token).await;
    assert_eq!(status, 200, "{body}");
    let (_, graph) = jwt_parts(body["access_token"].as_str().expect("graph token"));
    assert_eq!(graph["aud"], "https://graph.microsoft.com");
    assert_eq!(graph["oid"], api_claims["oid"], "the same user");
    assert_eq!(graph["appid"], API_APP, "issued to the API");
    assert_eq!(graph["appidacr"], "1");
    assert!(
        graph["scp"]
            .as_str()
            .expect("scp")
            .split(' ')
            .any(|x| x == "User.Read")
    );

    // A token whose audience is not this API is refused.
    let (_, body) = ropc(&s, "megan@contoso.example", "Megan-Pass-1", "User.Read").await;
    let (status, err) = obo(&s, body["access_token"].as_str().expect("graph token")).await;
    assert_eq!(
        (status, err["error"].as_str(), aadsts_code(&err)),
        (400, Some("invalid_grant"), 50013)
    );
    // A forged signature is refused.
    let forged = format!("{}AAAA", &api_token[..api_token.len() - 4]);
    assert_eq!(aadsts_code(&obo(&s, &forged).await.1), 50013);
    // An expired user token is refused.
    s.advance_clock(3 * 3600).await;
    let (status, err) = obo(&s, &api_token).await;
    assert_eq!((status, aadsts_code(&err)), (400, 500133));
    // Without requested_token_use=on_behalf_of the grant is refused.
    let (status, _) = s
        .post_form(
            &url(&s, TENANT),
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("client_id", API_APP),
                ("client_secret", "api-secret"),
                ("assertion", "x"),
                ("scope", "User.Read"),
            ],
        )
        .await;
    assert_eq!(status, 400);
}

/// A dead refresh token is answered as Entra answers it: `suberror: bad_token` (msal-node then
/// raises InteractionRequiredAuthError and drops the token), and 50173 names both dates.
#[tokio::test]
async fn dead_refresh_tokens_carry_bad_token_and_entra_wording() {
    let s = server().await;
    let (_, first) = ropc(
        &s,
        "megan@contoso.example",
        "Megan-Pass-1",
        "User.Read offline_access",
    )
    .await;
    let rt = first["refresh_token"].as_str().expect("rt").to_owned();
    let r = s
        .client
        .post(format!("{}/_tessera/test/revoke-sessions", s.base))
        .json(&serde_json::json!({"tenant": "contoso.example", "user": "megan@contoso.example"}))
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status().as_u16(), 204);
    let (status, body) = refresh(&s, PUBLIC_APP, &rt, &[]).await;
    assert_eq!((status, aadsts_code(&body)), (400, 50173), "{body}");
    assert_eq!(body["suberror"], "bad_token", "{body}");
    let d = body["error_description"].as_str().expect("description");
    assert!(
        d.contains("The grant was issued on '20")
            && d.contains("' and the TokensValidFrom date (before which tokens are not valid) for this user is '20"),
        "{d}"
    );

    let (_, second) = ropc(
        &s,
        "megan@contoso.example",
        "Megan-Pass-1",
        "User.Read offline_access",
    )
    .await;
    let rt = second["refresh_token"].as_str().expect("rt").to_owned();
    s.advance_clock(91 * 86_400).await;
    let (status, body) = refresh(&s, PUBLIC_APP, &rt, &[]).await;
    assert_eq!((status, aadsts_code(&body)), (400, 700082), "{body}");
    assert_eq!(body["suberror"], "bad_token", "{body}");
}

/// An on-behalf-of assertion that is not a JWT: AADSTS50027 as Entra words it, not 50013.
#[tokio::test]
async fn malformed_obo_assertion_is_50027() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), OBO_CONFIG);
    let s = TestServer::start_in(dir, |o| {
        o.config_file = Some(config);
        o.test_mode = true;
    })
    .await;
    let (status, err) = obo(&s, "not-a-jwt").await;
    assert_eq!(
        (status, err["error"].as_str(), aadsts_code(&err)),
        (400, Some("invalid_request"), 50027),
        "{err}"
    );
    assert!(
        err["error_description"]
            .as_str()
            .expect("description")
            .starts_with("AADSTS50027: JWT token is invalid or malformed."),
        "{err}"
    );
}
