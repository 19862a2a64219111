//! Tokens on demand, refreshed ahead of expiry. A token is served from memory until its
//! refresh point; after it, callers still get the valid token at memory speed while exactly
//! one refresh per cache key runs in the background. A caller waits on the network only for
//! the first token, after expiry, or inside a short final window. Failed refreshes keep the
//! valid token and retry with backoff.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::Notify;

use crate::credential::{Credential, Identity, TokenRequest};
use crate::error::ClientError;
use crate::http::TokenHttp;
use crate::persist::{PersistedToken, PersistentCache};
use crate::secret::Secret;

/// An access token with when it expires and when it should be refreshed (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: Secret,
    pub expires_at: i64,
    pub refresh_at: i64,
}

/// When to refresh a token of `lifetime` seconds issued at `now`: the server's `refresh_in`
/// when given; half the lifetime for tokens of two hours or more; otherwise 5 minutes or 10%
/// of the lifetime before expiry, whichever is longer (never earlier than half the lifetime);
/// minus a jitter so that many clients do not refresh together.
pub fn refresh_point(now: i64, lifetime: i64, refresh_in: Option<i64>, jitter_unit: u8) -> i64 {
    let jitter_max = (lifetime / 20).clamp(0, 30);
    let jitter = i64::from(jitter_unit) * jitter_max / 255;
    if let Some(r) = refresh_in.filter(|r| *r > 0 && *r < lifetime) {
        return now + r - jitter;
    }
    let ahead = if lifetime >= 7200 {
        lifetime / 2
    } else {
        (lifetime / 10).max(300).min(lifetime / 2)
    };
    now + lifetime - ahead - jitter
}

/// How close to expiry a caller waits for a fresh token instead of taking the cached one.
fn final_window(lifetime: i64) -> i64 {
    (lifetime / 10).clamp(1, 30)
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    identity: Arc<Identity>,
    /// Scopes, lower-cased and sorted.
    target: String,
    claims: Option<String>,
}

impl CacheKey {
    /// The key's text in the persistent cache (hashed into a file name there). `v2` keys
    /// carry the credential binding after the account (claims, which are JSON, stay last);
    /// `v1` entries, written before bindings, are never looked up.
    fn persisted(&self, cache: &PersistentCache) -> String {
        format!(
            "v2|{}|{}|{}|{}|{}|{}",
            self.identity.authority.to_ascii_lowercase(),
            self.identity.client_id.to_ascii_lowercase(),
            self.identity.account,
            cache.binding_tag(&self.identity.binding),
            self.target,
            self.claims.as_deref().unwrap_or("")
        )
    }
}

/// A persisted token's key read back into its parts (status displays, sign-out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenKey {
    pub authority: String,
    pub client_id: String,
    /// The user, or for app-only credentials empty or the kind of flow.
    pub account: String,
    /// The scopes, lower-cased and space-separated.
    pub scopes: String,
    /// The claims asked for (a CAE challenge), as JSON; empty when none.
    pub claims: String,
}

/// Reads a key written by the provider; `None` for other entries (accounts). Reads `v1`
/// keys too, so status and sign-out still see entries of older versions.
pub fn parse_token_key(key: &str) -> Option<TokenKey> {
    // Claims are JSON and come last, whole: split only as many times as there are fields.
    let (fields, bound) = match key.split_once('|')?.0 {
        "v1" => (6, false),
        "v2" => (7, true),
        _ => return None,
    };
    let mut parts = key.splitn(fields, '|').skip(1);
    let authority = parts.next()?.to_owned();
    let client_id = parts.next()?.to_owned();
    let account = parts.next()?.to_owned();
    if bound {
        parts.next()?;
    }
    Some(TokenKey {
        authority,
        client_id,
        account,
        scopes: parts.next()?.to_owned(),
        claims: parts.next()?.to_owned(),
    })
}

#[derive(Debug, Default)]
struct SlotState {
    token: Option<AccessToken>,
    lifetime: i64,
    refreshing: bool,
    failures: u32,
    retry_at: i64,
}

#[derive(Debug)]
struct Slot {
    key: CacheKey,
    state: Mutex<SlotState>,
    done: Notify,
}

/// Counters that make the provider's behaviour observable in tests and status output.
#[derive(Debug, Default)]
pub struct ProviderStats {
    /// Token requests sent to the identity platform.
    pub fetches: AtomicU64,
    /// Times a caller had to wait for the network.
    pub waits: AtomicU64,
    /// Background refreshes that failed (the valid token kept being served).
    pub failed_refreshes: AtomicU64,
}

/// A credential with an in-memory cache and refresh ahead of expiry.
#[derive(Debug, Clone)]
pub struct TokenProvider {
    credential: Arc<dyn Credential>,
    /// The credential's identity, computed once: it is part of every cache lookup.
    identity: Arc<Identity>,
    http: TokenHttp,
    slots: Arc<RwLock<HashMap<CacheKey, Arc<Slot>>>>,
    stats: Arc<ProviderStats>,
    persistent: Option<Arc<PersistentCache>>,
}

enum Next {
    Serve(AccessToken),
    Wait,
    Fetch,
}

impl TokenProvider {
    pub fn new(credential: Arc<dyn Credential>, http: TokenHttp) -> Self {
        Self {
            identity: Arc::new(credential.identity()),
            credential,
            http,
            slots: Arc::default(),
            stats: Arc::default(),
            persistent: None,
        }
    }

    /// Shares tokens and refreshes with every process using the same cache directory.
    pub fn with_persistent_cache(mut self, cache: Arc<PersistentCache>) -> Self {
        self.persistent = Some(cache);
        self
    }

    /// The time by this provider's clock (Unix seconds).
    pub fn now(&self) -> i64 {
        self.http.clock().unix()
    }

    pub fn stats(&self) -> &ProviderStats {
        &self.stats
    }

    fn slot(&self, request: &TokenRequest) -> Arc<Slot> {
        let mut target: Vec<String> = request
            .scopes
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect();
        target.sort();
        let key = CacheKey {
            identity: self.identity.clone(),
            target: target.join(" "),
            claims: request.claims_parameter().ok().flatten(),
        };
        if let Some(s) = self
            .slots
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
        {
            return s.clone();
        }
        let mut slots = self
            .slots
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slots
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Slot {
                    key,
                    state: Mutex::default(),
                    done: Notify::new(),
                })
            })
            .clone()
    }

    /// A valid token for `request`, from memory when possible.
    pub async fn token(&self, request: &TokenRequest) -> Result<AccessToken, ClientError> {
        let slot = self.slot(request);
        self.load_persisted(&slot)?;
        loop {
            let now = self.http.clock().unix();
            let done = slot.done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            let next = {
                let mut st = slot
                    .state
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match st.token.clone() {
                    Some(t) if now < t.refresh_at => Next::Serve(t),
                    Some(t) if now < t.expires_at - final_window(st.lifetime) => {
                        if !st.refreshing && now >= st.retry_at {
                            st.refreshing = true;
                            self.spawn_refresh(slot.clone(), request.clone());
                        }
                        Next::Serve(t)
                    }
                    _ if st.refreshing => Next::Wait,
                    _ => {
                        st.refreshing = true;
                        Next::Fetch
                    }
                }
            };
            match next {
                Next::Serve(t) => return Ok(t),
                Next::Wait => {
                    self.stats.waits.fetch_add(1, Ordering::Relaxed);
                    // Bounded: a refresh that never reports still lets the caller retry.
                    let _ = tokio::time::timeout(Duration::from_secs(60), done).await;
                }
                Next::Fetch => {
                    self.stats.waits.fetch_add(1, Ordering::Relaxed);
                    return self.fetch_into(&slot, request, None).await;
                }
            }
        }
    }

    /// Puts a token obtained elsewhere into the cache (imports, tests, benchmarks).
    pub fn insert(&self, request: &TokenRequest, token: AccessToken) {
        let slot = self.slot(request);
        let mut st = slot
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        st.lifetime = (token.expires_at - token.refresh_at).max(1) * 2;
        st.token = Some(token);
    }

    /// A new token after a resource refused `refused` (a 401). Never returns the refused
    /// token: a token another process left in the persistent cache is taken only when it is
    /// a different one (that process refreshed meanwhile); otherwise one is fetched.
    pub async fn force_refresh(
        &self,
        request: &TokenRequest,
        refused: &Secret,
    ) -> Result<AccessToken, ClientError> {
        let slot = self.slot(request);
        slot.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .refreshing = true;
        self.fetch_into(&slot, request, Some(refused)).await
    }

    /// A cold slot takes a still-usable token another process left in the persistent cache.
    fn load_persisted(&self, slot: &Slot) -> Result<(), ClientError> {
        let Some(cache) = &self.persistent else {
            return Ok(());
        };
        if slot
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .token
            .is_some()
        {
            return Ok(());
        }
        if let Some(p) = cache.get(&slot.key.persisted(cache))? {
            adopt(slot, p, self.http.clock().unix());
        }
        Ok(())
    }

    async fn fetch_into(
        &self,
        slot: &Slot,
        request: &TokenRequest,
        refused: Option<&Secret>,
    ) -> Result<AccessToken, ClientError> {
        let result = fetch_shared(
            self.credential.as_ref(),
            &self.http,
            request,
            &self.stats,
            self.persistent.as_deref(),
            &slot.key,
            Reuse::AnyValid { except: refused },
        )
        .await;
        let mut st = slot
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        st.refreshing = false;
        let out = match result {
            Ok((token, lifetime)) => {
                st.token = Some(token.clone());
                st.lifetime = lifetime;
                st.failures = 0;
                Ok(token)
            }
            Err(e) => Err(e),
        };
        drop(st);
        slot.done.notify_waiters();
        out
    }

    fn spawn_refresh(&self, slot: Arc<Slot>, request: TokenRequest) {
        let (credential, http, stats, persistent) = (
            self.credential.clone(),
            self.http.clone(),
            self.stats.clone(),
            self.persistent.clone(),
        );
        tokio::spawn(async move {
            let result = fetch_shared(
                credential.as_ref(),
                &http,
                &request,
                &stats,
                persistent.as_deref(),
                &slot.key,
                Reuse::NotDue,
            )
            .await;
            let now = http.clock().unix();
            let mut st = slot
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            st.refreshing = false;
            match result {
                Ok((token, lifetime)) => {
                    st.token = Some(token);
                    st.lifetime = lifetime;
                    st.failures = 0;
                }
                Err(e) => {
                    st.failures += 1;
                    let backoff = (5i64 << st.failures.min(5)).min(300);
                    st.retry_at = now + backoff;
                    stats.failed_refreshes.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, retry_in_s = backoff, "refreshing a token failed; the current token is still valid and is being served");
                }
            }
            drop(st);
            slot.done.notify_waiters();
        });
    }
}

/// Puts a persisted token into a slot if it is still usable.
fn adopt(slot: &Slot, p: PersistedToken, now: i64) {
    if p.expires_at - final_window(p.lifetime) <= now {
        return;
    }
    let mut st = slot
        .state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    st.token = Some(AccessToken {
        token: Secret::new(p.access_token),
        expires_at: p.expires_at,
        refresh_at: p.refresh_at,
    });
    st.lifetime = p.lifetime;
}

/// Which persisted token a fetch may take instead of asking the server.
#[derive(Clone, Copy)]
enum Reuse<'a> {
    /// The caller has no usable token: any unexpired entry will do, except the one a
    /// resource just refused (its expiry by our clock says nothing then).
    AnyValid { except: Option<&'a Secret> },
    /// A refresh ahead of time: only an entry not yet due for refresh.
    NotDue,
}

/// Fetches a token, coordinating with other processes through the persistent cache: the
/// entry's lock makes one process refresh at a time, and after taking it the entry is read
/// again, because another process may have refreshed it meanwhile (then no request is sent).
async fn fetch_shared(
    credential: &dyn Credential,
    http: &TokenHttp,
    request: &TokenRequest,
    stats: &ProviderStats,
    cache: Option<&PersistentCache>,
    key: &CacheKey,
    reuse: Reuse<'_>,
) -> Result<(AccessToken, i64), ClientError> {
    let Some(cache) = cache else {
        return fetch(credential, http, request, stats).await;
    };
    let name = key.persisted(cache);
    let _lock = cache.lock(&name, Duration::from_secs(120)).await?;
    let now = http.clock().unix();
    if let Some(p) = cache.get(&name)? {
        let usable = match reuse {
            Reuse::AnyValid { except } => {
                p.expires_at - final_window(p.lifetime) > now
                    && except.is_none_or(|r| r.expose() != p.access_token)
            }
            Reuse::NotDue => p.refresh_at > now,
        };
        if usable {
            let lifetime = p.lifetime;
            return Ok((
                AccessToken {
                    token: Secret::new(p.access_token),
                    expires_at: p.expires_at,
                    refresh_at: p.refresh_at,
                },
                lifetime,
            ));
        }
    }
    let (token, lifetime) = fetch(credential, http, request, stats).await?;
    cache.put(
        &name,
        &PersistedToken {
            access_token: token.token.expose().to_owned(),
            expires_at: token.expires_at,
            refresh_at: token.refresh_at,
            lifetime,
        },
    )?;
    Ok((token, lifetime))
}

async fn fetch(
    credential: &dyn Credential,
    http: &TokenHttp,
    request: &TokenRequest,
    stats: &ProviderStats,
) -> Result<(AccessToken, i64), ClientError> {
    stats.fetches.fetch_add(1, Ordering::Relaxed);
    let now = http.clock().unix();
    let response = credential.fetch(http, request).await?;
    let lifetime = response.expires_in.max(1);
    let jitter = uuid::Uuid::new_v4().as_bytes()[0];
    let token = AccessToken {
        token: Secret::new(response.access_token),
        expires_at: now + lifetime,
        refresh_at: refresh_point(now, lifetime, response.refresh_in, jitter),
    };
    Ok((token, lifetime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_points_follow_the_rules() {
        // One hour: 10% is 6 minutes, more than 5 minutes.
        assert_eq!(refresh_point(0, 3600, None, 0), 3600 - 360);
        // 75 minutes: 10% is 7.5 minutes.
        assert_eq!(refresh_point(0, 4500, None, 0), 4500 - 450);
        // 20 minutes: 5 minutes before expiry.
        assert_eq!(refresh_point(0, 1200, None, 0), 900);
        // Two hours or more: half the lifetime.
        assert_eq!(refresh_point(0, 28_800, None, 0), 14_400);
        // Short test tokens: never before half their life.
        assert_eq!(refresh_point(0, 20, None, 0), 10);
        // refresh_in from the server wins.
        assert_eq!(refresh_point(100, 3600, Some(1800), 0), 1900);
        // Jitter only moves it earlier, by at most 30 s.
        let j = refresh_point(0, 3600, None, 255);
        assert!((3600 - 360 - 30..3600 - 360).contains(&j), "{j}");
        assert_eq!(final_window(20), 2);
        assert_eq!(final_window(3600), 30);
    }
}
