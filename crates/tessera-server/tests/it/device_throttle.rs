//! `/devicelogin` throttles wrong user codes per address, so codes cannot be guessed at
//! hundreds a second, while a right code from another address goes through at once.

use std::net::IpAddr;

use crate::support::TestServer;

const CSRF: &str = "device-throttle-test-csrf";

fn client_from(s: &TestServer, local: &str) -> reqwest::Client {
    let ca = std::fs::read(s.demo.ca_cert.as_ref().expect("ca")).expect("ca");
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("ca pem")])
        .local_address(local.parse::<IpAddr>().expect("ip"))
        .build()
        .expect("client")
}

async fn submit(s: &TestServer, client: &reqwest::Client, code: &str) -> (u16, String) {
    let r = client
        .post(format!("{}/devicelogin", s.base))
        .header("cookie", format!("tessera_csrf={CSRF}"))
        .form(&[("otc", code), ("csrf", CSRF)])
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.text().await.expect("page"))
}

#[tokio::test]
async fn wrong_user_codes_are_throttled_per_address() {
    let s = TestServer::start_with(|o| o.test_mode = true).await;
    let (status, body) = s
        .post_form(
            &format!("{}/{}/oauth2/v2.0/devicecode", s.base, s.demo.tenant_id),
            &[
                ("client_id", &s.demo.public_client.client_id),
                ("scope", "https://graph.microsoft.com/User.Read"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let right = body["user_code"].as_str().expect("user_code").to_owned();

    let guesser = client_from(&s, "127.0.0.1");
    for i in 0..9 {
        let (status, page) = submit(&s, &guesser, &format!("WRONGCOD{i}")).await;
        assert_eq!(status, 400, "guess {i}: {page}");
        assert!(page.contains("Check the code and try again"), "guess {i}");
    }
    // The tenth wrong code reaches the limit: from here on this address waits.
    let (status, _) = submit(&s, &guesser, "WRONGCODX").await;
    assert_eq!(status, 400);
    let (status, page) = submit(&s, &guesser, "WRONGCODY").await;
    assert_eq!(status, 429, "{page}");
    assert!(page.contains("Wait a minute"), "{page}");
    let (status, _) = submit(&s, &guesser, &right).await;
    assert_eq!(
        status, 429,
        "the guessing address waits even with a right code"
    );

    // Someone else, with the right code, is not held up by the guesser.
    let (status, page) = submit(&s, &client_from(&s, "127.0.0.2"), &right).await;
    assert_eq!(status, 200);
    assert!(
        !page.contains("Check the code and try again") && !page.contains("Wait a minute"),
        "{page}"
    );

    // And the guesser's wait is short.
    s.advance_clock(31).await;
    let (status, page) = submit(&s, &guesser, "WRONGCODZ").await;
    assert_eq!(status, 400);
    assert!(page.contains("Check the code and try again"), "{page}");
}

/// The test-mode shortcut for headless tests: approving a user code as a user makes the
/// next poll return that user's tokens; an unknown code or user is refused.
#[tokio::test]
async fn test_mode_approves_a_device_code_without_the_pages() {
    let s = TestServer::start_with(|o| o.test_mode = true).await;
    let (status, code) = s
        .post_form(
            &format!("{}/{}/oauth2/v2.0/devicecode", s.base, s.demo.tenant_id),
            &[
                ("client_id", &s.demo.public_client.client_id),
                (
                    "scope",
                    "https://graph.microsoft.com/User.Read offline_access",
                ),
            ],
        )
        .await;
    assert_eq!(status, 200, "{code}");
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", s.demo.public_client.client_id.as_str()),
        (
            "device_code",
            code["device_code"].as_str().expect("device_code"),
        ),
    ];
    let poll = || s.token(&form);
    let (status, body) = poll().await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending"))
    );

    let approve = |user_code: &str, user: &str| {
        s.client
            .post(format!("{}/_tessera/test/device-approve", s.base))
            .json(&serde_json::json!({"user_code": user_code, "user": user}))
            .send()
    };
    let user_code = code["user_code"].as_str().expect("user_code");
    let r = approve("NOSUCHCOD", &s.demo.user.username)
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 400);
    let r = approve(user_code, "nobody@demo.tessera.test")
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 404);
    let r = approve(&user_code.to_lowercase(), &s.demo.user.username)
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 204);

    let (status, body) = poll().await;
    assert_eq!(status, 200, "{body}");
    assert!(body["refresh_token"].is_string());
    let (_, claims) = crate::support::jwt_parts(body["access_token"].as_str().expect("at"));
    assert_eq!(claims["upn"], s.demo.user.username.as_str());
    // Approved once: the code is spent.
    let r = approve(user_code, &s.demo.user.username)
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 400);
}
