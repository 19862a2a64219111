//! The v1.0 endpoint as classic scripts call it: `POST /{tenant}/oauth2/token` with
//! `resource=`, string-typed `expires_in`/`expires_on`/`not_before`, `resource` echoed, the
//! v1 discovery document and keys; the same grants, lifetimes and CAE as v2.0.

use serde_json::Value;

use crate::support::form_of;
use crate::support::{TestServer, aadsts_code, jwt_parts, verify_with_jwks};

fn v1_url(s: &TestServer) -> String {
    format!("{}/oauth2/token", s.authority())
}

/// Posts a form and returns the status, the raw body and the parsed body.
async fn post_raw(s: &TestServer, url: &str, form: &[(&str, &str)]) -> (u16, String, Value) {
    let r = s.client.post(url).form(form).send().await.expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, text, value)
}

/// The demo daemon's client-credentials form for `resource`, v1 style.
fn daemon_form<'a>(s: &'a TestServer, resource: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", &s.demo.daemon.client_id),
        ("client_secret", &s.demo.daemon.client_secret),
        ("resource", resource),
    ]
}

fn number(v: &Value) -> i64 {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is a string on the v1 endpoint"))
        .parse()
        .unwrap_or_else(|_| panic!("{v} holds a number"))
}

/// The request of the classic PowerShell recipe (`Invoke-RestMethod -Method Post -Uri
/// https://login.microsoftonline.com/$tenant/oauth2/token -Body @{grant_type=...; resource=
/// "https://graph.microsoft.com"}`), and the fields it prints.
#[tokio::test]
async fn client_credentials_with_resource_answers_the_v1_shape() {
    let s = TestServer::start().await;
    let (status, raw, body) = post_raw(
        &s,
        &v1_url(&s),
        &daemon_form(&s, "https://graph.microsoft.com"),
    )
    .await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["resource"], "https://graph.microsoft.com");
    assert!(body.get("scope").is_none() && body.get("refresh_token").is_none());
    let expires_in = number(&body["expires_in"]);
    assert_eq!(number(&body["ext_expires_in"]), expires_in);
    // The default lifetime: a random 60 to 90 minutes, as on v2.0.
    assert!((3600..=5400).contains(&expires_in), "{expires_in}");
    let token = body["access_token"].as_str().expect("token");
    let (_, claims) = jwt_parts(token);
    assert_eq!(
        number(&body["expires_on"]),
        claims["exp"].as_i64().expect("exp")
    );
    assert_eq!(
        number(&body["not_before"]),
        claims["nbf"].as_i64().expect("nbf")
    );
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(
        claims["iss"],
        format!("https://sts.windows.net/{}/", s.demo.tenant_id)
    );
    // Entra's v1 body escapes slashes; any JSON parser reads the same value.
    assert!(
        raw.contains(r#""resource":"https:\/\/graph.microsoft.com""#),
        "{raw}"
    );

    // The token is Graph's: it reads users with the daemon's User.Read.All.
    let r = s
        .client
        .get(format!("{}/users?$top=1", s.demo.graph_url))
        .bearer_auth(token)
        .send()
        .await
        .expect("graph");
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn resource_is_echoed_as_written_and_required() {
    let s = TestServer::start().await;
    let form = |resource: &'static str| daemon_form(&s, resource);
    let (status, _, body) = post_raw(&s, &v1_url(&s), &form("https://graph.microsoft.com/")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["resource"], "https://graph.microsoft.com/");
    let (_, claims) = jwt_parts(body["access_token"].as_str().expect("token"));
    assert_eq!(claims["aud"], "https://graph.microsoft.com/");

    let mut no_resource = form("");
    no_resource.pop();
    let (status, _, body) = post_raw(&s, &v1_url(&s), &no_resource).await;
    assert_eq!((status, aadsts_code(&body)), (400, 900144), "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .expect("description")
            .contains("'resource'")
    );

    // An unknown resource is Entra's 500011 on v1 as on v2.0.
    let (status, _, body) = post_raw(&s, &v1_url(&s), &form("https://nothing.example")).await;
    assert_eq!((status, aadsts_code(&body)), (400, 500011), "{body}");

    // The v1 endpoint takes POST only, like v2.0.
    let r = s.client.get(v1_url(&s)).send().await.expect("get");
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn cae_clients_get_the_long_lifetime_on_v1_too() {
    let s = TestServer::start().await;
    let (status, _, body) = post_raw(
        &s,
        &v1_url(&s),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &s.demo.daemon.client_id),
            ("client_secret", &s.demo.daemon.client_secret),
            ("resource", "https://graph.microsoft.com"),
            (
                "claims",
                r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#,
            ),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let expires_in = number(&body["expires_in"]);
    assert!(
        (20 * 3600..=28 * 3600).contains(&expires_in),
        "{expires_in}"
    );
}

/// A user script on v1: password grant with `resource`, a refresh token without asking for
/// one, an unsigned v1 ID token with `scope=openid`, and a refresh that keeps the resource.
#[tokio::test]
async fn password_and_refresh_on_v1() {
    let s = TestServer::start().await;
    let (status, _, body) = post_raw(
        &s,
        &v1_url(&s),
        &[
            ("grant_type", "password"),
            ("client_id", &s.demo.public_client.client_id),
            ("username", &s.demo.user.username),
            ("password", &s.demo.user.password),
            ("resource", "https://graph.microsoft.com"),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["resource"], "https://graph.microsoft.com");
    let scope = body["scope"].as_str().expect("scope");
    assert!(scope.split(' ').any(|p| p == "User.Read"), "{scope}");
    assert!(!scope.contains("openid"), "{scope}");
    let (header, id) = jwt_parts(body["id_token"].as_str().expect("id token"));
    assert_eq!(header["alg"], "none");
    assert!(body["id_token"].as_str().expect("id").ends_with('.'));
    assert_eq!(id["ver"], "1.0");
    assert_eq!(id["aud"], s.demo.public_client.client_id.as_str());
    assert_eq!(id["upn"], s.demo.user.username.as_str());
    assert_eq!(id["unique_name"], s.demo.user.username.as_str());
    assert_eq!(
        id["iss"],
        format!("https://sts.windows.net/{}/", s.demo.tenant_id)
    );

    let rt = body["refresh_token"].as_str().expect("refresh token");
    let (status, _, again) = post_raw(
        &s,
        &v1_url(&s),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &s.demo.public_client.client_id),
            ("refresh_token", rt),
        ],
    )
    .await;
    assert_eq!(status, 200, "{again}");
    let (_, claims) = jwt_parts(again["access_token"].as_str().expect("token"));
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert!(again["refresh_token"].as_str().is_some());
    assert!(number(&again["expires_in"]) > 0);
}

#[tokio::test]
async fn v1_discovery_and_keys() {
    let s = TestServer::start().await;
    let (status, doc) = s
        .get_json(&format!(
            "{}/.well-known/openid-configuration",
            s.authority()
        ))
        .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(
        doc["issuer"],
        format!("https://sts.windows.net/{}/", s.demo.tenant_id)
    );
    assert_eq!(doc["token_endpoint"], v1_url(&s));
    assert_eq!(doc["microsoft_multi_refresh_token"], true);
    let (status, common) = s
        .get_json(&format!(
            "{}/common/.well-known/openid-configuration",
            s.base
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(common["issuer"], "https://sts.windows.net/{tenantid}/");

    let jwks_uri = doc["jwks_uri"].as_str().expect("jwks_uri");
    assert_eq!(jwks_uri, format!("{}/common/discovery/keys", s.base));
    let (status, jwks) = s.get_json(jwks_uri).await;
    assert_eq!(status, 200);
    let (_, body) = s
        .post_form(
            &v1_url(&s),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &s.demo.daemon.client_id),
                ("client_secret", &s.demo.daemon.client_secret),
                ("resource", "https://graph.microsoft.com"),
            ],
        )
        .await;
    assert!(verify_with_jwks(
        body["access_token"].as_str().expect("token"),
        &jwks
    ));
}

/// A token lifetime policy decides v1 tokens as it decides v2.0 ones.
#[tokio::test]
async fn lifetime_policies_apply_on_v1() {
    let s = TestServer::start().await;
    let (status, body) = s.daemon_token(&[]).await;
    assert_eq!(status, 200, "{body}");
    let admin = body["access_token"].as_str().expect("token").to_owned();
    let definition = serde_json::json!([
        r#"{"TokenLifetimePolicy":{"Version":1,"AccessTokenLifetime":"8:00:00"}}"#
    ]);
    let r = s
        .client
        .post(format!(
            "{}/policies/tokenLifetimePolicies",
            s.demo.graph_url
        ))
        .bearer_auth(&admin)
        .json(&serde_json::json!({
            "definition": definition,
            "displayName": "eight hours",
            "isOrganizationDefault": true,
        }))
        .send()
        .await
        .expect("create policy");
    assert_eq!(r.status().as_u16(), 201);
    let (status, _, body) = post_raw(
        &s,
        &v1_url(&s),
        &daemon_form(&s, "https://graph.microsoft.com"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], "28800", "{body}");
    assert_eq!(
        number(&body["expires_on"]) - number(&body["not_before"]),
        28_800 + 300,
        "not_before is back-dated five minutes"
    );
}

/// ADAL's device code flow: `POST /{tenant}/oauth2/devicecode` with `resource`, answered in
/// v1's shape (`verification_url`, numbers as strings); polling the v1 token endpoint with the
/// code in `code` says the user has not finished yet.
#[tokio::test]
async fn device_code_on_v1() {
    let s = TestServer::start().await;
    let (status, text, body) = post_raw(
        &s,
        &format!("{}/oauth2/devicecode", s.authority()),
        &[
            ("client_id", &s.demo.public_client.client_id),
            ("resource", "https://graph.microsoft.com"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(body["expires_in"], "900", "{text}");
    assert_eq!(body["interval"], "5", "{text}");
    let url = body["verification_url"].as_str().expect("verification_url");
    assert!(url.ends_with("/devicelogin"), "{url}");
    assert!(body.get("verification_uri").is_none(), "{text}");
    let user_code = body["user_code"].as_str().expect("user_code");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains(user_code)
    );

    let (status, _, poll) = post_raw(
        &s,
        &v1_url(&s),
        &[
            ("grant_type", "device_code"),
            ("client_id", &s.demo.public_client.client_id),
            ("resource", "https://graph.microsoft.com"),
            ("code", body["device_code"].as_str().expect("device_code")),
        ],
    )
    .await;
    assert_eq!(status, 400, "{poll}");
    assert_eq!(poll["error"], "authorization_pending", "{poll}");

    // v1 names the resource; a request without one is refused as Entra refuses it.
    let (status, _, missing) = post_raw(
        &s,
        &format!("{}/oauth2/devicecode", s.authority()),
        &[("client_id", &s.demo.public_client.client_id)],
    )
    .await;
    assert_eq!((status, aadsts_code(&missing)), (400, 900144), "{missing}");
}

/// The classic web-app recipe on v1: `/{tenant}/oauth2/authorize` with `resource` (no PKCE),
/// the same sign-in pages, then the code redeemed at `/{tenant}/oauth2/token` for a Graph
/// token in the v1 shape.
#[tokio::test]
async fn authorization_code_on_v1() {
    let s = TestServer::start().await;
    let ca = std::fs::read(s.demo.ca_cert.as_ref().expect("ca")).expect("ca");
    let browser = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("ca pem")])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let client_id = s.demo.public_client.client_id.clone();
    let redirect_uri = s.demo.public_client.redirect_uri.clone();
    let r = browser
        .get(format!("{}/oauth2/authorize", s.authority()))
        .query(&[
            ("client_id", client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", redirect_uri.as_str()),
            ("resource", "https://graph.microsoft.com"),
            ("state", "v1-state"),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(r.status(), 200, "the sign-in page, not a PKCE error");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("; ");
    let mut page = r.text().await.expect("page");
    let mut answer = None;
    for (field, value) in [
        ("username", s.demo.user.username.clone()),
        ("password", s.demo.user.password.clone()),
    ] {
        let (action, mut fields) = form_of(&page);
        fields.push((field.to_owned(), value));
        if field == "password" {
            fields.push(("username".into(), s.demo.user.username.clone()));
        }
        let r = browser
            .post(&action)
            .header("cookie", &cookie)
            .form(&fields)
            .send()
            .await
            .expect("step");
        if r.status().is_redirection() {
            answer = r
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            break;
        }
        page = r.text().await.expect("page");
    }
    let location = answer.unwrap_or_else(|| panic!("no redirect to the app; last page: {page}"));
    let url = reqwest::Url::parse(&location).expect("location");
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query.get("state").map(String::as_str), Some("v1-state"));
    let code = query.get("code").unwrap_or_else(|| panic!("{location}"));

    let (status, text, body) = post_raw(
        &s,
        &v1_url(&s),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("code", code),
            ("redirect_uri", &redirect_uri),
            ("resource", "https://graph.microsoft.com"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(body["resource"], "https://graph.microsoft.com");
    assert!(number(&body["expires_in"]) >= 3600, "{text}");
    assert!(body["refresh_token"].is_string(), "{text}");
    let (_, claims) = jwt_parts(body["access_token"].as_str().expect("at"));
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert_eq!(claims["upn"], s.demo.user.username.as_str());
}
