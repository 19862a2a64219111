//! A client that asks for the same token in a loop, answered as Entra answers it: the 15th
//! identical request within 5 minutes gets 400 `invalid_grant` AADSTS50196, per identical
//! request (another scope, another refresh token, another user is another request), and only
//! until the window ends.

use serde_json::Value;

use crate::support::{TestServer, aadsts_code, write_config};

const LOOP: &str = "AADSTS50196: The server terminated an operation because it encountered a client request loop. Please contact your app vendor.";

async fn password(s: &TestServer, scope: &str) -> (u16, Value) {
    s.token(&[
        ("grant_type", "password"),
        ("client_id", &s.demo.public_client.client_id),
        ("username", &s.demo.user.username),
        ("password", &s.demo.user.password),
        ("scope", scope),
    ])
    .await
}

async fn refresh(s: &TestServer, refresh_token: &str) -> (u16, Value) {
    s.token(&[
        ("grant_type", "refresh_token"),
        ("client_id", &s.demo.public_client.client_id),
        ("refresh_token", refresh_token),
    ])
    .await
}

fn assert_loop(status: u16, body: &Value) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert_eq!(aadsts_code(body), 50196, "{body}");
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(description.starts_with(LOOP), "{description}");
}

#[tokio::test]
async fn the_same_request_fifteen_times_in_five_minutes_is_a_loop_until_the_window_ends() {
    let s = TestServer::start_with(|o| o.test_mode = true).await;
    let scope = "User.Read offline_access";
    let mut refresh_tokens = Vec::new();
    for n in 1..15 {
        let (status, body) = password(&s, scope).await;
        assert_eq!(status, 200, "request {n}: {body}");
        refresh_tokens.push(body["refresh_token"].as_str().expect("rt").to_owned());
    }
    let (status, body) = password(&s, scope).await;
    assert_loop(status, &body);
    let (status, body) = password(&s, "offline_access user.read user.read").await;
    assert_loop(status, &body);

    // Per identical request, not per client or user: other scopes are answered.
    let (status, body) = password(&s, "User.Read").await;
    assert_eq!(status, 200, "{body}");

    // A client that keeps each new refresh token sends a new request every time...
    let mut rotating = refresh_tokens[0].clone();
    for n in 1..=20 {
        let (status, body) = refresh(&s, &rotating).await;
        assert_eq!(status, 200, "rotation {n}: {body}");
        rotating = body["refresh_token"].as_str().expect("rt").to_owned();
    }
    // ...one that redeems the same refresh token again and again is looping.
    let refresh_token = &refresh_tokens[1];
    for n in 1..15 {
        let (status, body) = refresh(&s, refresh_token).await;
        assert_eq!(status, 200, "redeem {n}: {body}");
    }
    let (status, body) = refresh(&s, refresh_token).await;
    assert_loop(status, &body);

    // The window is Entra's 5 minutes, from the first of those requests: then all is well.
    s.advance_clock(5 * 60).await;
    let (status, body) = password(&s, scope).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = refresh(&s, refresh_token).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn short_test_tokens_shorten_the_window_and_the_check_can_be_turned_off() {
    // 20-second tokens: a client that caches them asks about every 10 seconds, which is no
    // loop; a window of 10 seconds still catches a tight one.
    let s = TestServer::start_with(|o| {
        o.test_mode = true;
        o.test_access_token_lifetime = Some(std::time::Duration::from_secs(20));
    })
    .await;
    for n in 1..=40 {
        let (status, body) = password(&s, "User.Read").await;
        assert_eq!(status, 200, "request {n} after {} s: {body}", 10 * (n - 1));
        s.advance_clock(10).await;
    }
    for _ in 1..15 {
        let (status, body) = password(&s, "User.Read").await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = password(&s, "User.Read").await;
    assert_loop(status, &body);

    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "[token]\nloop_detection = false\n");
    let off = TestServer::start_with(|o| o.config_file = Some(config)).await;
    for n in 1..=20 {
        let (status, body) = password(&off, "User.Read").await;
        assert_eq!(
            status, 200,
            "request {n} with loop_detection = false: {body}"
        );
    }
}
