//! Cached tokens are bound to the credential that earned them: another secret for the same
//! client, in this process or another one sharing the cache, goes to the server and is
//! refused there, instead of being answered from the cache.

use std::sync::Arc;

use tessera_client::{
    ClientError, ClientSecretCredential, Credential, HttpOptions, PersistentCache, Secret,
    TokenHttp, TokenProvider, TokenRequest,
};

use crate::provider::token_requests;
use crate::support::Running;

const GRAPH: &str = "https://graph.microsoft.com/.default";

fn provider(s: &Running, secret: &str, cache: &Arc<PersistentCache>) -> TokenProvider {
    let ca = std::fs::read(s.demo.ca_cert.as_ref().expect("ca")).expect("ca");
    let http = TokenHttp::new(HttpOptions {
        extra_ca_pem: Some(ca),
        timeout: None,
    })
    .expect("http");
    let credential: Arc<dyn Credential> = Arc::new(ClientSecretCredential {
        authority: s.authority(),
        client_id: s.demo.daemon.client_id.clone(),
        secret: Secret::new(secret.to_owned()),
    });
    TokenProvider::new(credential, http).with_persistent_cache(Arc::clone(cache))
}

fn assert_refused_as_wrong_secret(result: Result<impl std::fmt::Debug, ClientError>) {
    match result {
        Err(ClientError::Aadsts(f)) => assert_eq!(f.code(), Some(7000215), "{f:?}"),
        other => panic!("a wrong secret must be refused by the server, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_never_reads_the_right_ones_tokens() {
    let s = Running::start(|_| {}).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let open = || {
        Arc::new(
            PersistentCache::open_with_key_file(
                dir.path().join("cache"),
                &dir.path().join("cache.key"),
            )
            .expect("cache"),
        )
    };
    let right = s.demo.daemon.client_secret.clone();

    let before = token_requests(&s).await;
    provider(&s, &right, &open())
        .token(&TokenRequest::new(&[GRAPH]))
        .await
        .expect("the right secret gets a token");
    assert_eq!(token_requests(&s).await - before, 1);

    // Another process with the same secret: answered from the shared cache.
    provider(&s, &right, &open())
        .token(&TokenRequest::new(&[GRAPH]))
        .await
        .expect("cached token");
    assert_eq!(token_requests(&s).await - before, 1, "the cache answered");

    // A typo'd or rotated secret: never the cached token, in a new process or this one.
    assert_refused_as_wrong_secret(
        provider(&s, "x", &open())
            .token(&TokenRequest::new(&[GRAPH]))
            .await,
    );
    let cache = open();
    let wrong = provider(&s, &format!("{right}x"), &cache);
    assert_refused_as_wrong_secret(wrong.token(&TokenRequest::new(&[GRAPH])).await);

    // The entry's key names the binding only as an HMAC: the secret is nowhere in it.
    let entries = cache.entries().expect("entries");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].key.starts_with("v2|"), "{}", entries[0].key);
    assert!(!entries[0].key.contains(&right));
    let parsed = tessera_client::parse_token_key(&entries[0].key).expect("token key");
    assert_eq!(parsed.scopes, GRAPH.to_ascii_lowercase());
    assert_eq!(
        parsed.client_id,
        s.demo.daemon.client_id.to_ascii_lowercase()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_secrets_in_one_process_keep_apart() {
    let s = Running::start(|_| {}).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = Arc::new(
        PersistentCache::open_plaintext(dir.path().join("cache")).expect("plaintext cache"),
    );
    let right = s.demo.daemon.client_secret.clone();
    provider(&s, &right, &cache)
        .token(&TokenRequest::new(&[GRAPH]))
        .await
        .expect("token");
    assert_refused_as_wrong_secret(
        provider(&s, "not-the-secret", &cache)
            .token(&TokenRequest::new(&[GRAPH]))
            .await,
    );
    // A plaintext cache keeps its binding key beside the entries, 0600.
    let meta = std::fs::metadata(dir.path().join("cache/binding.key")).expect("binding key");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
}
