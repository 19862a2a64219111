//! Hostile and malformed input: every answer is a clear 4xx in Entra's shape, never a 500,
//! and the server keeps serving.

use crate::support::{TestServer, aadsts_code};

#[tokio::test]
async fn malformed_requests_get_aadsts_errors_and_the_server_survives() {
    let s = TestServer::start().await;
    let url = s.token_url();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("application/x-www-form-urlencoded", b"grant_type=client_credentials&grant_type=password".to_vec()),
        ("application/x-www-form-urlencoded", vec![0xff, 0xfe, b'=', 0x80, b'&', b'%', b'Z', b'Z']),
        ("application/x-www-form-urlencoded", b"%%%%&&&===".to_vec()),
        ("application/x-www-form-urlencoded", vec![b'a'; 70 * 1024]),
        ("application/json", br#"{"grant_type":"client_credentials"}"#.to_vec()),
        ("text/plain", b"grant_type=client_credentials".to_vec()),
        ("application/x-www-form-urlencoded", b"grant_type=client_credentials&client_id=%00%01&client_secret=x&scope=%2F.default".to_vec()),
        ("application/x-www-form-urlencoded", format!("grant_type=password&client_id={}&username=a&password=b&scope={}", "x".repeat(5000), "y ".repeat(2000)).into_bytes()),
        ("application/x-www-form-urlencoded", b"grant_type=refresh_token&client_id=x&refresh_token=%E2%82%AC".to_vec()),
        ("application/x-www-form-urlencoded", b"grant_type=client_credentials&client_id=x&client_assertion=x.y.z&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&scope=a/.default".to_vec()),
    ];
    for (ct, body) in cases {
        let r = s
            .client
            .post(&url)
            .header("content-type", ct)
            .body(body.clone())
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        let json: serde_json::Value = r.json().await.expect("Entra error JSON");
        assert!(
            status == 400 || status == 401,
            "{ct} {:?}: {status}",
            String::from_utf8_lossy(&body[..body.len().min(60)])
        );
        assert!(aadsts_code(&json) > 0, "{json}");
        assert!(
            json["error_description"]
                .as_str()
                .expect("description")
                .starts_with("AADSTS")
        );
    }
    let r = s
        .client
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("grant_type", "password"),
        ])
        .send()
        .await
        .expect("send");
    let body: serde_json::Value = r.json().await.expect("json");
    assert!(
        body["error_description"]
            .as_str()
            .expect("d")
            .contains("'grant_type'"),
        "names the duplicated parameter"
    );

    for path in [
        "/%00/oauth2/v2.0/token",
        "/../../etc/passwd",
        &format!("/{}/oauth2/v2.0/token", "t".repeat(3000)),
    ] {
        let r = s
            .client
            .post(format!("{}{path}", s.base))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("send");
        assert!(r.status().is_client_error(), "{path}: {}", r.status());
    }
    let r = s
        .client
        .get(format!("{}/health", s.base))
        .send()
        .await
        .expect("health");
    assert_eq!(r.status().as_u16(), 200);
    let (status, _) = s.daemon_token(&[]).await;
    assert_eq!(status, 200, "still issuing tokens");
}

#[tokio::test]
async fn router_answers_without_a_socket() {
    use tower::ServiceExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = tessera_server::Server::prepare(
        tessera_server::ServeOptions::new(dir.path()),
        "127.0.0.1:1".parse().expect("addr"),
    )
    .await
    .expect("prepare");
    let response = server
        .router()
        .oneshot(
            axum::http::Request::get("/health")
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(response.status().as_u16(), 200);
}
