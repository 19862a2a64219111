//! One password lockout for every flow that takes a password: the password grant on both
//! endpoints counts failures with the sign-in pages and answers a locked account with
//! AADSTS50053, briefly, so a stranger cannot lock the user out for long.

use serde_json::Value;

use crate::support::{TestServer, aadsts_code};

async fn ropc(s: &TestServer, path: &str, password: &str) -> (u16, Value) {
    let target = if path == "oauth2/token" {
        ("resource", "https://graph.microsoft.com")
    } else {
        ("scope", "https://graph.microsoft.com/User.Read")
    };
    s.post_form(
        &format!("{}/{}/{path}", s.base, s.demo.tenant_id),
        &[
            ("grant_type", "password"),
            ("client_id", &s.demo.public_client.client_id),
            ("username", &s.demo.user.username),
            ("password", password),
            target,
        ],
    )
    .await
}

#[tokio::test]
async fn wrong_passwords_through_the_grant_lock_the_account_for_every_endpoint() {
    let s = TestServer::start_with(|o| o.test_mode = true).await;
    let right = s.demo.user.password.clone();
    let mut codes = Vec::new();
    for _ in 0..5 {
        let (status, body) = ropc(&s, "oauth2/v2.0/token", "not-the-password").await;
        assert_eq!(status, 400, "{body}");
        codes.push(aadsts_code(&body));
    }
    assert_eq!(
        codes, [50126; 5],
        "each wrong password is 50126 until the limit"
    );

    // Locked: even the right password is refused, on v2.0 and on v1.0, as Entra says it.
    for path in ["oauth2/v2.0/token", "oauth2/token"] {
        let (status, body) = ropc(&s, path, &right).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"], "invalid_grant", "{body}");
        assert_eq!(aadsts_code(&body), 50053, "{path}: {body}");
        let description = body["error_description"].as_str().unwrap_or_default();
        assert!(
            description.starts_with("AADSTS50053: The account is locked"),
            "{description}"
        );
    }

    // Briefly: half a minute later the right password works again, and clears the count.
    s.advance_clock(31).await;
    let (status, body) = ropc(&s, "oauth2/v2.0/token", &right).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = ropc(&s, "oauth2/token", "not-the-password").await;
    assert_eq!((status, aadsts_code(&body)), (400, 50126), "{body}");
}

/// Guessing user names counts against the guesser's address like wrong passwords do: after
/// 30 unknown names from one address, that address waits, the real user included.
#[tokio::test]
async fn unknown_user_names_count_against_the_address() {
    let s = TestServer::start_with(|o| o.test_mode = true).await;
    let form = |user: String, password: String| {
        let s = &s;
        async move {
            s.post_form(
                &format!("{}/{}/oauth2/v2.0/token", s.base, s.demo.tenant_id),
                &[
                    ("grant_type", "password"),
                    ("client_id", &s.demo.public_client.client_id),
                    ("username", &user),
                    ("password", &password),
                    ("scope", "https://graph.microsoft.com/User.Read"),
                ],
            )
            .await
        }
    };
    for i in 0..30 {
        let (status, body) = form(format!("nobody{i}@example.com"), "x".into()).await;
        assert_eq!(
            (status, aadsts_code(&body)),
            (400, 50034),
            "guess {i}: {body}"
        );
    }
    let (status, body) = form(s.demo.user.username.clone(), s.demo.user.password.clone()).await;
    assert_eq!((status, aadsts_code(&body)), (400, 50053), "{body}");
    s.advance_clock(31).await;
    let (status, body) = form(s.demo.user.username.clone(), s.demo.user.password.clone()).await;
    assert_eq!(status, 200, "{body}");
}
