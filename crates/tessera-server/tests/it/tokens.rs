//! Client credentials, token shape, lifetimes, CAE, signatures, metrics.

use crate::support::{TestServer, aadsts_code, jwt_parts, verify_with_jwks, write_config};

#[tokio::test]
async fn client_credentials_secret_gives_a_v1_graph_token() {
    let s = TestServer::start().await;
    let (status, body) = s.daemon_token(&[]).await;
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["token_type", "expires_in", "ext_expires_in", "access_token"],
        "Entra's fields, in order, no scope/refresh"
    );
    assert_eq!(body["token_type"], "Bearer");
    let expires_in = body["expires_in"].as_i64().expect("integer");
    assert!(
        (3600..=5400).contains(&expires_in),
        "random 60-90 minutes, got {expires_in}"
    );
    assert_eq!(body["ext_expires_in"], body["expires_in"]);

    let token = body["access_token"].as_str().expect("token");
    let (header, claims) = jwt_parts(token);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], header["x5t"], "v1 tokens carry x5t = kid");
    let tid = &s.demo.tenant_id;
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert_eq!(claims["iss"], format!("https://sts.windows.net/{tid}/"));
    assert_eq!(claims["idp"], format!("https://sts.windows.net/{tid}/"));
    assert_eq!(claims["tid"], tid.as_str());
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(claims["appid"], s.demo.daemon.client_id.as_str());
    assert_eq!(claims["appidacr"], "1");
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["sub"], claims["oid"]);
    let roles: Vec<&str> = claims["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    for r in [
        "User.Read.All",
        "Group.Read.All",
        "Application.ReadWrite.All",
        "Policy.ReadWrite.ApplicationConfiguration",
    ] {
        assert!(roles.contains(&r), "{r} in {roles:?}");
    }
    assert!(claims.get("scp").is_none());
    let (iat, nbf, exp) = (
        claims["iat"].as_i64().expect("iat"),
        claims["nbf"].as_i64().expect("nbf"),
        claims["exp"].as_i64().expect("exp"),
    );
    assert_eq!(iat, nbf);
    assert_eq!(exp - iat, expires_in + 300, "iat/nbf back-dated 5 minutes");
    assert_eq!(claims["uti"].as_str().expect("uti").len(), 22);
    for c in ["aio", "rh", "app_displayname"] {
        assert!(claims[c].is_string(), "{c}");
    }

    let (_, jwks) = s
        .get_json(&format!("{}/discovery/v2.0/keys", s.authority()))
        .await;
    assert!(
        verify_with_jwks(token, &jwks),
        "signature verifies against the JWKS"
    );
    let mut forged = token.to_owned();
    forged.replace_range(forged.len() - 4.., "AAAA");
    assert!(
        !verify_with_jwks(&forged, &jwks),
        "a changed signature does not verify"
    );
}

#[tokio::test]
async fn client_secret_basic_works_and_form_secret_with_basic_is_refused() {
    let s = TestServer::start().await;
    let r = s
        .client
        .post(s.token_url())
        .basic_auth(&s.demo.daemon.client_id, Some(&s.demo.daemon.client_secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);
    let r = s
        .client
        .post(s.token_url())
        .basic_auth(&s.demo.daemon.client_id, Some(&s.demo.daemon.client_secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", s.demo.daemon.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 400);
    let r = s
        .client
        .post(s.token_url())
        .header("authorization", "Basic !!!not-base64")
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 401);
}

#[tokio::test]
async fn client_credentials_errors_carry_the_right_aadsts_codes() {
    let s = TestServer::start().await;
    let cid = s.demo.daemon.client_id.clone();
    let secret = s.demo.daemon.client_secret.clone();
    let graph = "https://graph.microsoft.com/.default";

    let (status, body) = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &cid),
            ("client_secret", "nope"),
            ("scope", graph),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str(), aadsts_code(&body)),
        (401, Some("invalid_client"), 7000215)
    );
    let desc = body["error_description"].as_str().expect("description");
    assert!(desc.starts_with("AADSTS7000215: "), "{desc}");
    assert!(
        desc.contains(&format!(
            "Trace ID: {}",
            body["trace_id"].as_str().expect("trace")
        )),
        "{desc}"
    );
    assert!(desc.contains("Correlation ID: ") && desc.contains("Timestamp: "));
    assert_eq!(
        body["error_uri"],
        "https://login.microsoftonline.com/error?code=7000215"
    );
    let ts = body["timestamp"].as_str().expect("timestamp");
    assert_eq!(ts.len(), 20, "YYYY-MM-DD HH:MM:SSZ: {ts}");
    assert!(!desc.contains(&secret));

    let (status, body) = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &cid),
            ("scope", graph),
        ])
        .await;
    assert_eq!((status, aadsts_code(&body)), (401, 7000216));

    let unknown = "99999999-9999-9999-9999-999999999999";
    let (status, body) = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", unknown),
            ("client_secret", "x"),
            ("scope", graph),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str(), aadsts_code(&body)),
        (400, Some("unauthorized_client"), 700016)
    );

    let (status, body) = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &cid),
            ("client_secret", &secret),
            ("scope", "User.Read"),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str(), aadsts_code(&body)),
        (400, Some("invalid_scope"), 1002012)
    );
    let (_, body) = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &cid),
            ("client_secret", &secret),
            ("scope", "https://graph.microsoft.com/.default openid"),
        ])
        .await;
    assert_eq!(aadsts_code(&body), 1002012, "exactly one .default scope");

    let (status, body) = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &cid),
            ("client_secret", &secret),
            ("scope", "api://nobody/.default"),
        ])
        .await;
    assert_eq!(
        (status, body["error"].as_str(), aadsts_code(&body)),
        (400, Some("invalid_resource"), 500011)
    );

    let (status, body) = s.token(&[("client_id", &cid)]).await;
    assert_eq!((status, aadsts_code(&body)), (400, 900144));
    assert!(
        body["error_description"]
            .as_str()
            .expect("d")
            .contains("'grant_type'")
    );

    let (status, body) = s
        .token(&[("grant_type", "implicit"), ("client_id", &cid)])
        .await;
    assert_eq!(
        (status, body["error"].as_str(), aadsts_code(&body)),
        (400, Some("unsupported_grant_type"), 70003)
    );

    let (status, body) = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_secret", &secret),
            ("scope", graph),
        ])
        .await;
    assert_eq!(
        (status, aadsts_code(&body)),
        (400, 900144),
        "client_id missing: {body}"
    );

    let bad_tenant = format!("{}/nosuch.example/oauth2/v2.0/token", s.base);
    let (status, body) = s
        .post_form(
            &bad_tenant,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &cid),
                ("client_secret", &secret),
                ("scope", graph),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str(), aadsts_code(&body)),
        (400, Some("invalid_request"), 90002)
    );

    let common = format!("{}/common/oauth2/v2.0/token", s.base);
    let (status, body) = s
        .post_form(
            &common,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &cid),
                ("client_secret", &secret),
                ("scope", graph),
            ],
        )
        .await;
    assert_eq!((status, aadsts_code(&body)), (400, 9001023));

    // The tenant's domain works like its GUID.
    let by_domain = format!("{}/{}/oauth2/v2.0/token", s.base, s.demo.tenant_domain);
    let (status, _) = s
        .post_form(
            &by_domain,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &cid),
                ("client_secret", &secret),
                ("scope", graph),
            ],
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn correlation_id_is_echoed() {
    let s = TestServer::start().await;
    let r = s
        .client
        .post(s.token_url())
        .header("client-request-id", "0b1c2d3e-aaaa-bbbb-cccc-1234567890ab")
        .form(&[("grant_type", "client_credentials"), ("client_id", "x")])
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.headers()["client-request-id"],
        "0b1c2d3e-aaaa-bbbb-cccc-1234567890ab"
    );
    let trace = r.headers()["x-ms-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(
        body["correlation_id"],
        "0b1c2d3e-aaaa-bbbb-cccc-1234567890ab"
    );
    assert_eq!(
        body["trace_id"],
        trace.as_str(),
        "trace id = x-ms-request-id"
    );
}

#[tokio::test]
async fn expired_secret_is_7000222() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        r#"
[[tenants]]
id = "11111111-2222-3333-4444-555555555555"
domain = "contoso.example"
[[tenants.applications]]
client_id = "22222222-3333-4444-5555-666666666666"
display_name = "old daemon"
secrets = [{ value = "expired-secret-value", expires = "2020-01-01T00:00:00Z" }, { value = "fresh-secret-value" }]
application_permissions = { "https://graph.microsoft.com" = ["User.Read.All"] }
"#,
    );
    let s = TestServer::start_in(dir, |o| o.config_file = Some(config)).await;
    let url = format!("{}/contoso.example/oauth2/v2.0/token", s.base);
    let form = |secret: &'static str| {
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", "22222222-3333-4444-5555-666666666666"),
            ("client_secret", secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ]
    };
    let (status, body) = s.post_form(&url, &form("expired-secret-value")).await;
    assert_eq!((status, aadsts_code(&body)), (401, 7000222));
    let (status, body) = s.post_form(&url, &form("fresh-secret-value")).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn cae_capable_clients_get_long_lived_tokens() {
    let s = TestServer::start().await;
    let claims = r#"{"access_token": {"xms_cc": {"values": ["CP1"]}}}"#;
    let (status, body) = s.daemon_token(&[("claims", claims)]).await;
    assert_eq!(status, 200, "{body}");
    let e = body["expires_in"].as_i64().expect("expires_in");
    assert!((72_000..=100_800).contains(&e), "20-28 hours, got {e}");
    let (_, c) = jwt_parts(body["access_token"].as_str().expect("token"));
    assert_eq!(c["xms_cc"][0], "cp1");
    let (status, body) = s.daemon_token(&[("claims", "{not json")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn test_mode_lifetime_and_clock() {
    let s = TestServer::start_with(|o| {
        o.test_mode = true;
        o.test_access_token_lifetime = Some(std::time::Duration::from_secs(20));
    })
    .await;
    let (_, body) = s.daemon_token(&[]).await;
    assert_eq!(body["expires_in"], 20);
    let (_, before) = jwt_parts(body["access_token"].as_str().expect("t"));
    s.advance_clock(7200).await;
    let (_, body) = s.daemon_token(&[]).await;
    let (_, after) = jwt_parts(body["access_token"].as_str().expect("t"));
    let moved = after["iat"].as_i64().expect("iat") - before["iat"].as_i64().expect("iat");
    assert!(
        (7200..7260).contains(&moved),
        "issuance follows the test clock: {moved}"
    );
}

#[tokio::test]
async fn test_routes_are_absent_without_test_mode() {
    let s = TestServer::start().await;
    let r = s
        .client
        .post(format!("{}/_tessera/test/clock", s.base))
        .json(&serde_json::json!({"advance_seconds": 60}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test]
async fn metrics_count_token_requests_and_routes() {
    let s = TestServer::start().await;
    s.daemon_token(&[]).await;
    s.daemon_token(&[]).await;
    s.token(&[
        ("grant_type", "client_credentials"),
        ("client_id", s.demo.daemon.client_id.as_str()),
        ("client_secret", "bad"),
        ("scope", "https://graph.microsoft.com/.default"),
    ])
    .await;
    let m = s.metrics().await;
    assert!(
        m.contains(
            "tessera_token_requests_total{grant=\"client_credentials\",outcome=\"success\"} 2\n"
        ),
        "{m}"
    );
    assert!(m.contains("tessera_token_requests_total{grant=\"client_credentials\",outcome=\"invalid_client\"} 1\n"), "{m}");
    assert!(
        m.contains(
            "tessera_http_requests_total{route=\"/{tenant}/oauth2/v2.0/token\",status=\"200\"} 2\n"
        ),
        "{m}"
    );
    assert!(
        m.contains(
            "tessera_http_requests_total{route=\"/{tenant}/oauth2/v2.0/token\",status=\"401\"} 1\n"
        ),
        "{m}"
    );
}

#[tokio::test]
async fn state_survives_a_restart() {
    let s = TestServer::start_with(|o| o.test_mode = true).await;
    let demo_before = s.demo.daemon.client_secret.clone();
    let (_, body) = s.daemon_token(&[]).await;
    let kid_before = jwt_parts(body["access_token"].as_str().expect("t")).0["kid"].clone();
    let dir = s.stop().await;
    let s = TestServer::start_in(dir, |o| o.test_mode = true).await;
    assert_eq!(
        s.demo.daemon.client_secret, demo_before,
        "demo.json keeps its secret across restarts"
    );
    let (status, body) = s.daemon_token(&[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        jwt_parts(body["access_token"].as_str().expect("t")).0["kid"],
        kid_before,
        "same signing key after restart"
    );
}

#[tokio::test]
async fn lost_demo_json_reissues_credentials() {
    let s = TestServer::start().await;
    let old_secret = s.demo.daemon.client_secret.clone();
    let dir = s.stop().await;
    std::fs::remove_file(dir.path().join("data/demo.json")).expect("remove");
    let s = TestServer::start_in(dir, |_| {}).await;
    assert_ne!(s.demo.daemon.client_secret, old_secret);
    let (status, _) = s.daemon_token(&[]).await;
    assert_eq!(status, 200, "the re-issued secret works");
    let (status, _) = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", s.demo.daemon.client_id.as_str()),
            ("client_secret", &old_secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .await;
    assert_eq!(status, 401, "the lost secret no longer works");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(s.dir.path().join("data/demo.json"))
            .expect("meta")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}
