//! Refresh ahead of expiry and single-flight fetching, against the real server: request
//! counts come from the server's /metrics, time is moved on the client's clock.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tessera_client::{
    ClientSecretCredential, Credential, HttpOptions, Secret, TokenHttp, TokenProvider, TokenRequest,
};
use tessera_proto::clock::{Clock, OffsetClock};

use crate::support::Running;

const GRAPH: &str = "https://graph.microsoft.com/.default";

pub(crate) async fn token_requests(s: &Running) -> u64 {
    let text = s.metrics().await;
    text.lines()
        .filter(|l| {
            l.starts_with(
                "tessera_token_requests_total{grant=\"client_credentials\",outcome=\"success\"}",
            )
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn provider(s: &Running, clock: Arc<OffsetClock>) -> TokenProvider {
    let ca = std::fs::read(s.demo.ca_cert.as_ref().expect("ca")).expect("ca");
    let http = TokenHttp::with_clock(
        HttpOptions {
            extra_ca_pem: Some(ca),
            timeout: None,
        },
        clock,
    )
    .expect("http");
    let credential: Arc<dyn Credential> = Arc::new(ClientSecretCredential {
        authority: s.authority(),
        client_id: s.demo.daemon.client_id.clone(),
        secret: Secret::new(s.demo.daemon.client_secret.clone()),
    });
    TokenProvider::new(credential, http)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_callers_cause_one_token_request() {
    let s = Running::start(|_| {}).await;
    let p = provider(&s, Arc::new(OffsetClock::new()));
    let before = token_requests(&s).await;
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move {
                p.token(&TokenRequest::new(&[GRAPH]))
                    .await
                    .map(|t| t.token.expose().to_owned())
            })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.expect("task").expect("token"));
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "every caller got the same token");
    assert_eq!(
        token_requests(&s).await - before,
        1,
        "exactly one token request reached the server"
    );
    assert_eq!(p.stats().fetches.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_ahead_without_callers_waiting_and_never_serves_expired_tokens() {
    let s = Running::start(|o| {
        o.test_mode = true;
        o.test_access_token_lifetime = Some(std::time::Duration::from_secs(20));
    })
    .await;
    let clock = Arc::new(OffsetClock::new());
    let p = provider(&s, clock.clone());
    let request = TokenRequest::new(&[GRAPH]);
    let first = p.token(&request).await.expect("first token");
    assert_eq!(
        first.expires_at - first.refresh_at,
        10,
        "20-second tokens refresh at half life"
    );
    let mut distinct = std::collections::HashSet::new();
    // Three minutes of client time, one call per second; background refreshes get a moment
    // of real time to land between steps, as they would in a real loop.
    for _ in 0..180 {
        clock.advance(1);
        let t = p.token(&request).await.expect("token");
        assert!(
            t.expires_at > clock.unix(),
            "a caller never holds an expired token"
        );
        distinct.insert(t.token.expose().to_owned());
        tokio::time::sleep(std::time::Duration::from_millis(15)).await;
    }
    assert_eq!(
        p.stats().waits.load(Ordering::Relaxed),
        1,
        "only the first call waited on the network"
    );
    assert!(
        distinct.len() >= 15,
        "tokens were refreshed in the background: {} distinct",
        distinct.len()
    );
    assert_eq!(p.stats().failed_refreshes.load(Ordering::Relaxed), 0);
}

/// A resource refused a token our clock still calls valid (its clock is ahead, or the token
/// was revoked): the forced refresh must fetch, not hand back the same token from the
/// persistent cache. A token another process refreshed meanwhile is still taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_refresh_never_returns_the_refused_token() {
    let s = Running::start(|_| {}).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let open = || {
        Arc::new(
            tessera_client::PersistentCache::open_with_key_file(
                dir.path().join("cache"),
                &dir.path().join("key"),
            )
            .expect("cache"),
        )
    };
    let request = TokenRequest::new(&[GRAPH]);
    let p = provider(&s, Arc::new(OffsetClock::new())).with_persistent_cache(open());
    let first = p.token(&request).await.expect("token");
    let before = token_requests(&s).await;
    let second = p
        .force_refresh(&request, &first.token)
        .await
        .expect("forced");
    assert_ne!(second.token.expose(), first.token.expose());
    assert_eq!(token_requests(&s).await - before, 1, "one request");

    // Another process refreshed meanwhile: its token is taken without a request.
    let other = provider(&s, Arc::new(OffsetClock::new())).with_persistent_cache(open());
    let before = token_requests(&s).await;
    let third = other
        .force_refresh(&request, &first.token)
        .await
        .expect("forced");
    assert_eq!(third.token.expose(), second.token.expose());
    assert_eq!(token_requests(&s).await - before, 0, "no request");
}
