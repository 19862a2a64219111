//! The Graph client against the real server: paging, throttling and transient faults,
//! an expired token, a CAE claims challenge, and Graph's errors.

use std::collections::HashSet;
use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use tessera_client::{
    ClientError, ClientSecretCredential, GraphClient, Secret, TokenProvider, TokenRequest,
    UsernamePasswordCredential,
};

use crate::support::Running;

async fn test_mode() -> Running {
    Running::start(|o| o.test_mode = true).await
}

fn daemon_client(s: &Running) -> (GraphClient, Arc<TokenProvider>) {
    let credential = ClientSecretCredential {
        authority: s.authority(),
        client_id: s.demo.daemon.client_id.clone(),
        secret: Secret::new(s.demo.daemon.client_secret.clone()),
    };
    let provider = Arc::new(TokenProvider::new(Arc::new(credential), s.http.clone()));
    (
        GraphClient::new(&s.demo.graph_url, provider.clone(), s.http.clone()),
        provider,
    )
}

async fn post_test_route(s: &Running, route: &str, body: &Value) {
    let r = s
        .http
        .reqwest()
        .expect("http client")
        .post(format!("{}/_tessera/test/{route}", s.host()))
        .json(body)
        .send()
        .await
        .expect("test route");
    assert!(r.status().is_success(), "{route}: {}", r.status());
}

/// Every user id, walking with `$top=5`.
async fn walk_ids(client: &GraphClient) -> (Vec<String>, u64, u64) {
    let mut pager = client.pages("/users?$top=5&$select=id", &[]);
    let mut ids = Vec::new();
    while let Some(items) = pager.next_page().await.expect("page") {
        ids.extend(
            items
                .iter()
                .map(|u| u["id"].as_str().expect("id").to_owned()),
        );
    }
    (ids, pager.pages, pager.retries)
}

#[tokio::test]
async fn pages_every_user_through_faults_and_an_expired_token() {
    let s = test_mode().await;
    tessera_server::seed_users(tessera_server::SeedUsers {
        data_dir: s.data_dir(),
        database: None,
        tenant: None,
        count: 48,
    })
    .await
    .expect("seed users beside the server");
    let (client, provider) = daemon_client(&s);
    let count = client
        .send(
            Method::GET,
            "/users/$count",
            &[("ConsistencyLevel", "eventual")],
            None,
        )
        .await
        .expect("count")
        .body
        .as_u64()
        .expect("a number");
    assert!(count > 48, "the seeded users are there: {count}");

    let (ids, pages, retries) = walk_ids(&client).await;
    assert_eq!(ids.len() as u64, count);
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "no duplicates"
    );
    assert_eq!(pages, count.div_ceil(5), "five users per page");
    assert_eq!(retries, 0);

    // Two 429s (fractional Retry-After), a 503 without one, and an empty page with a nextLink.
    for fault in [
        json!({"target": "graph", "path": "/v1.0/users", "status": 429, "retry_after": "0.2", "count": 2}),
        json!({"target": "graph", "path": "/v1.0/users", "status": 503, "count": 1}),
        json!({"target": "graph", "path": "/v1.0/users", "empty_page": true, "count": 1}),
    ] {
        post_test_route(&s, "faults", &fault).await;
    }
    let (again, pages_again, retries) = walk_ids(&client).await;
    assert_eq!(again, ids, "the same users, each once, despite the faults");
    assert_eq!(retries, 3, "two 429s and a 503 were retried");
    assert_eq!(
        pages_again,
        pages + 1,
        "the empty page was followed, not taken as the end"
    );

    // The server's clock passes the token's expiry; this client's clock does not, so the
    // token looks valid here: Graph's 401 leads to one forced refresh and one replay.
    let fetches = provider
        .stats()
        .fetches
        .load(std::sync::atomic::Ordering::Relaxed);
    post_test_route(&s, "clock", &json!({"advance_seconds": 2 * 3600})).await;
    let r = client.get("/users?$top=1").await.expect("replayed");
    assert_eq!(r.retries, 1);
    assert_eq!(
        provider
            .stats()
            .fetches
            .load(std::sync::atomic::Ordering::Relaxed),
        fetches + 1,
        "exactly one new token"
    );
}

#[tokio::test]
async fn a_cae_claims_challenge_is_answered_with_a_new_token() {
    let s = test_mode().await;
    let credential = UsernamePasswordCredential {
        authority: s.authority(),
        client_id: s.demo.public_client.client_id.clone(),
        username: s.demo.user.username.clone(),
        password: Secret::new(s.demo.user.password.clone()),
    };
    let provider = Arc::new(TokenProvider::new(Arc::new(credential), s.http.clone()));
    let mut request = TokenRequest::new(&["User.Read"]);
    request.cae = true;
    let client = GraphClient::new(&s.demo.graph_url, provider.clone(), s.http.clone())
        .with_token_request(request);
    let me = client.get("/me").await.expect("me");
    assert_eq!(me.body["userPrincipalName"], s.demo.user.username.as_str());

    post_test_route(
        &s,
        "revoke-sessions",
        &json!({"tenant": s.demo.tenant_id, "user": s.demo.user.username}),
    )
    .await;
    let again = client.get("/me").await.expect("after the challenge");
    assert_eq!(again.retries, 1, "one replay with the challenge's claims");
    assert_eq!(again.body["id"], me.body["id"]);
    let later = client.get("/me").await.expect("later call");
    assert_eq!(
        later.retries, 0,
        "the challenged token was replaced in the cache"
    );
}

#[tokio::test]
async fn graph_errors_are_typed_and_unsafe_posts_are_not_retried() {
    let s = test_mode().await;
    let (client, _) = daemon_client(&s);
    let err = client
        .get("/users/00000000-0000-0000-0000-000000000000")
        .await
        .expect_err("no such user");
    let ClientError::Graph(f) = &err else {
        panic!("a Graph error: {err:?}");
    };
    assert_eq!(f.status, 404);
    assert_eq!(f.code, "Request_ResourceNotFound");
    assert!(!f.request_id.is_empty());
    assert!(err.to_string().contains("request-id"), "{err}");

    // A POST answered 503 may have run: it is not sent again.
    post_test_route(
        &s,
        "faults",
        &json!({"target": "graph", "path": "/v1.0/users", "status": 503, "count": 1}),
    )
    .await;
    let body = json!({"accountEnabled": true, "displayName": "x", "mailNickname": "x",
        "userPrincipalName": "x@contoso.example", "passwordProfile": {"password": "Xx-123456789"}});
    let err = client
        .send(Method::POST, "/users", &[], Some(&body))
        .await
        .expect_err("503 on a POST");
    let ClientError::Graph(f) = &err else {
        panic!("a Graph error: {err:?}");
    };
    assert_eq!(f.status, 503);
}

#[tokio::test]
async fn batch_items_that_were_throttled_are_sent_again() {
    let s = test_mode().await;
    let (client, _) = daemon_client(&s);
    post_test_route(
        &s,
        "faults",
        &json!({"target": "graph", "path": "/v1.0/groups", "status": 429, "retry_after": "0.3", "count": 1}),
    )
    .await;
    let requests = vec![
        json!({"id": "1", "method": "GET", "url": "/users?$top=1"}),
        json!({"id": "2", "method": "GET", "url": "/groups?$top=1"}),
        json!({"id": "3", "method": "GET", "url": "/users/00000000-0000-0000-0000-000000000000"}),
    ];
    let out = client.batch(&requests).await.expect("batch");
    let ids: Vec<&str> = out.iter().map(|r| r["id"].as_str().unwrap_or("")).collect();
    assert_eq!(ids, ["1", "2", "3"], "in the order given");
    assert_eq!(out[0]["status"], 200);
    assert_eq!(
        out[1]["status"], 200,
        "the throttled item was sent again: {}",
        out[1]
    );
    assert_eq!(
        out[2]["status"], 404,
        "a real error is returned, not retried"
    );
    let too_many: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/me"}))
        .collect();
    assert!(matches!(
        client.batch(&too_many).await,
        Err(ClientError::Config(_))
    ));
}

/// 429 answers the server has sent so far (every route).
async fn throttled(s: &Running) -> u64 {
    s.metrics()
        .await
        .lines()
        .filter(|l| l.starts_with("tessera_http_requests_total") && l.contains("status=\"429\""))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
#[allow(clippy::print_stderr)] // the messages, shown with --nocapture
async fn retry_after_is_honoured_and_throttling_ends_in_a_clear_error() {
    let s = test_mode().await;
    let (client, _) = daemon_client(&s);
    client
        .get("/users?$top=1")
        .await
        .expect("a token and a first call");

    // One 429 that Graph keeps answering until its Retry-After has passed: a client that
    // retried early would be throttled again and count more than one retry.
    post_test_route(
        &s,
        "faults",
        &json!({"target": "graph", "path": "/v1.0/users", "status": 429, "retry_after": "1", "hold": true, "count": 1}),
    )
    .await;
    let before = throttled(&s).await;
    let r = client.get("/users?$top=1").await.expect("after the wait");
    assert_eq!(r.retries, 1, "one retry, sent after the Retry-After");
    assert_eq!(throttled(&s).await - before, 1, "never throttled again");

    // Throttled on every attempt: a bounded number of attempts, then an error that says so.
    post_test_route(
        &s,
        "faults",
        &json!({"target": "graph", "path": "/v1.0/users", "status": 429, "retry_after": "0.1", "count": 100}),
    )
    .await;
    let before = throttled(&s).await;
    let err = client.get("/users?$top=1").await.expect_err("throttled");
    let ClientError::Graph(f) = &err else {
        panic!("a Graph error: {err:?}");
    };
    assert_eq!(f.status, 429);
    assert_eq!(throttled(&s).await - before, 6, "six attempts in all");
    let text = err.to_string();
    eprintln!("{text}");
    assert!(
        text.starts_with("Graph answered 429 ") && text.contains("; gave up after 6 attempts in "),
        "{text}"
    );
    // The rest of those 429s are cleared.
    let cleared = s
        .http
        .reqwest()
        .expect("http client")
        .delete(format!("{}/_tessera/test/faults", s.host()))
        .send()
        .await
        .expect("clear faults");
    assert!(cleared.status().is_success());

    // Asked to wait longer than the client ever waits: not sent again early, ended at once.
    post_test_route(
        &s,
        "faults",
        &json!({"target": "graph", "path": "/v1.0/users", "status": 429, "retry_after": "3600", "count": 1}),
    )
    .await;
    let before = throttled(&s).await;
    let err = client.get("/users?$top=1").await.expect_err("not retried");
    assert_eq!(throttled(&s).await - before, 1, "one attempt only");
    let text = err.to_string();
    eprintln!("{text}");
    assert!(
        text.contains(
            "not retried: Graph asked to wait 3600.0 s (Retry-After), longer than the 120.0 s this client waits"
        ),
        "{text}"
    );
}
