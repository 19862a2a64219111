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

/// A client that sends a whole oversized body and only then reads (most do) reads Entra's
/// 400, not a reset. Were the body left unread, closing the socket would send a TCP reset,
/// and a reset that arrives before the client reads throws the answer away; so this client
/// writes everything, waits, then reads.
#[tokio::test]
async fn oversized_token_bodies_are_answered_not_reset() {
    let s = TestServer::start().await;
    for size in [65 * 1024, 300 * 1024, 900 * 1024] {
        let answer = raw_exchange(&s, size).await;
        let head = answer.split("\r\n\r\n").next().unwrap_or_default();
        assert!(head.starts_with("HTTP/1.1 400"), "{size} bytes: {head}");
        assert!(answer.contains("AADSTS90014"), "{size} bytes: {answer}");
    }
    let (status, _) = s.daemon_token(&[]).await;
    assert_eq!(status, 200, "still serving");
}

/// POSTs `size` bytes of form to the token endpoint over a TLS connection of its own, in
/// pieces, waits a moment, then reads the answer to the end.
async fn raw_exchange(s: &TestServer, size: usize) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let ca = std::fs::read(s.demo.ca_cert.as_ref().expect("ca")).expect("ca");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(&ca) {
        roots.add(cert.expect("ca pem")).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let url = reqwest::Url::parse(&s.token_url()).expect("url");
    let host = url.host_str().expect("host").to_owned();
    let port = url.port().expect("port");
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .expect("connect");
    let name = rustls_pki_types::ServerName::try_from(host.clone()).expect("name");
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("tls");
    let mut body = b"grant_type=client_credentials&client_id=x&scope=".to_vec();
    body.resize(size, b'a');
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {size}\r\n\r\n",
        url.path()
    );
    tls.write_all(head.as_bytes()).await.expect("head");
    // In 16 KiB pieces, as a client streaming a file does: a server that stops reading at
    // the limit and closes makes one of the later writes fail (a broken pipe or a reset).
    for piece in body.chunks(16 * 1024) {
        tls.write_all(piece)
            .await
            .expect("the server takes the whole body");
        tls.flush().await.expect("flush");
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tls.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&answer);
                // Keep-alive: stop once the JSON body (Content-Length) is complete.
                if let Some((h, b)) = text.split_once("\r\n\r\n")
                    && let Some(len) = h.lines().find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .and_then(|v| v.trim().parse::<usize>().ok())
                    })
                    && b.len() >= len
                {
                    break;
                }
            }
            Err(e) => panic!("{size} bytes: reading the answer failed: {e}"),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// The test-mode controls (clock, faults, rate limits, session revocation) and the managed
/// identity endpoints exist only with `--test-mode`: without it they are 404, so a shared
/// server cannot have its clock moved or its answers faked.
#[tokio::test]
async fn test_mode_endpoints_are_404_without_test_mode() {
    let s = TestServer::start().await;
    let posts = [
        "/_tessera/test/clock",
        "/_tessera/test/revoke-sessions",
        "/_tessera/test/faults",
        "/_tessera/test/rate-limit",
    ];
    for path in posts {
        let r = s
            .client
            .post(format!("{}{path}", s.base))
            .json(&serde_json::json!({"advance_seconds": 3600}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 404, "{path}");
    }
    for path in [
        "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://graph.microsoft.com",
        "/msi/token?api-version=2019-08-01&resource=https://graph.microsoft.com",
    ] {
        let r = s
            .client
            .get(format!("{}{path}", s.base))
            .header("Metadata", "true")
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 404, "{path}");
    }
    // With test mode the same clock route answers (the control is real, not merely absent).
    let t = TestServer::start_with(|o| o.test_mode = true).await;
    t.advance_clock(1).await;
}

/// A TLS connection to `s` offering `alpn`.
async fn tls_connect(
    s: &TestServer,
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let ca_pem = std::fs::read(s.demo.ca_cert.as_ref().expect("ca")).expect("ca");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(&ca_pem) {
        let cert: rustls_pki_types::CertificateDer<'static> = cert.expect("pem");
        roots.add(cert).expect("root");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let addr = s.base.trim_start_matches("https://").to_owned();
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("name");
    connector.connect(name, tcp).await.expect("tls")
}

/// True when the server ends the connection by itself. The bound is only a liveness limit
/// for the test, far above the server's timeouts.
async fn ended_by_server(mut tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut buf = vec![0u8; 4096];
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// A client that completes the TLS handshake and then sends nothing at all is cut off like
/// a slow one, whichever protocol it negotiated: otherwise silent connections would hold the
/// server's connection slots for as long as their clients like.
#[tokio::test]
async fn connections_silent_after_the_handshake_are_cut_off() {
    let s = TestServer::start().await;
    let silent = |alpn: &'static [&'static [u8]]| {
        let s = &s;
        async move { ended_by_server(tls_connect(s, alpn).await).await }
    };
    let ended = tokio::join!(silent(&[]), silent(&[b"http/1.1"]), silent(&[b"h2"]));
    assert_eq!(ended, (true, true, true), "no ALPN, http/1.1, h2");
    let r = s
        .client
        .get(format!("{}/health", s.base))
        .send()
        .await
        .expect("health");
    assert_eq!(r.status().as_u16(), 200);
}

/// A client that opens a connection and sends its headers too slowly (slowloris) is cut off
/// after the header read timeout, and a Graph body over the size limit gets 413 with the
/// server still serving.
#[tokio::test]
async fn slow_headers_are_cut_off_and_big_graph_bodies_refused() {
    use tokio::io::AsyncWriteExt as _;

    let s = TestServer::start().await;
    let mut tls = tls_connect(&s, &[]).await;
    tls.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .expect("partial headers");
    // Then nothing.
    assert!(
        ended_by_server(tls).await,
        "the server kept a slow-header connection open"
    );

    let (status, body) = s.daemon_token(&[]).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("at").to_owned();
    let big = serde_json::json!({"displayName": "x".repeat(3 * 1024 * 1024)});
    let r = s
        .client
        .post(format!("{}/v1.0/applications", s.base))
        .bearer_auth(&token)
        .json(&big)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 413);
    let r = s
        .client
        .get(format!("{}/health", s.base))
        .send()
        .await
        .expect("health");
    assert_eq!(r.status().as_u16(), 200);
}
