//! Failed-password limits: per (user, client address) after a few failures, and per user and
//! per address after many, with short lock windows that grow only to a few minutes, so that
//! guessing is slow but nobody can lock a user out for long. Counted in the store, so the
//! limits hold across every server sharing it.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::store::{FailureCounter, Store, StoreResult};

const WINDOW_SECONDS: i64 = 10 * 60;
/// Failures allowed per (user, address), per user, and per address within the window.
const PAIR_LIMIT: i64 = 5;
const USER_LIMIT: i64 = 20;
const ADDRESS_LIMIT: i64 = 30;
const BASE_LOCK_SECONDS: i64 = 30;
const MAX_LOCK_SECONDS: i64 = 5 * 60;
/// Wrong device user codes allowed per address within the window: a person mistypes a few
/// times; a guesser needs millions of tries for a 9-letter code.
const DEVICE_CODE_LIMIT: i64 = 10;
/// Old windows are forgotten at most this often (per server), off the request's answer.
const CLEANUP_SECONDS: i64 = 60;

/// One more failure at `now` on a counter whose limit is `limit`.
fn fail(c: FailureCounter, now: i64, limit: i64) -> FailureCounter {
    let mut c = if now - c.window_start > WINDOW_SECONDS {
        FailureCounter {
            failures: 0,
            window_start: now,
            locked_until: 0,
        }
    } else {
        c
    };
    c.failures += 1;
    if c.failures >= limit {
        let over = u32::try_from(c.failures - limit).unwrap_or(u32::MAX).min(4);
        c.locked_until = now + (BASE_LOCK_SECONDS << over).min(MAX_LOCK_SECONDS);
    }
    c
}

/// What a password check under the limits came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checked {
    Right,
    Wrong,
    /// Not checked: a limit is locked (AADSTS50053).
    Locked,
}

#[derive(Debug, Default)]
pub(crate) struct Lockout {
    last_cleanup: AtomicI64,
}

impl Lockout {
    fn keys(user: &str, address: &str) -> [(String, i64); 3] {
        [
            (format!("p|{user}|{address}"), PAIR_LIMIT),
            (format!("u|{user}"), USER_LIMIT),
            (format!("a|{address}"), ADDRESS_LIMIT),
        ]
    }

    /// The user part of the counters' keys: one user is one user in every flow.
    pub(crate) fn user_key(tenant_id: &str, username: &str) -> String {
        format!("{tenant_id}|{}", username.to_ascii_lowercase())
    }

    /// Checks a password under the limits, for every flow that takes one (the sign-in
    /// pages, the password grant on both endpoints): while locked the password is not even
    /// tried; a failure counts the same wherever it was made; a success clears the
    /// (user, address) counter. `verify` runs only when not locked.
    pub(crate) async fn check(
        &self,
        store: &dyn Store,
        user: &str,
        address: &str,
        now: i64,
        verify: impl std::future::Future<Output = bool>,
    ) -> StoreResult<Checked> {
        if self.locked(store, user, address, now).await? {
            return Ok(Checked::Locked);
        }
        if verify.await {
            self.succeeded(store, user, address).await?;
            Ok(Checked::Right)
        } else {
            self.failed(store, user, address, now).await?;
            Ok(Checked::Wrong)
        }
    }

    /// True while `address` may not try device user codes (too many wrong ones lately).
    pub(crate) async fn device_codes_locked(
        &self,
        store: &dyn Store,
        address: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let counters = store.failure_counters(&[Self::device_key(address)]).await?;
        Ok(counters.iter().any(|c| c.locked_until > now))
    }

    /// One more wrong device user code from `address`. Only the guesser's address counts:
    /// a right code from anywhere else is never held up.
    pub(crate) async fn device_code_failed(
        &self,
        store: &dyn Store,
        address: &str,
        now: i64,
    ) -> StoreResult<()> {
        store
            .update_failure_counter(
                &Self::device_key(address),
                Box::new(move |c| fail(c, now, DEVICE_CODE_LIMIT)),
            )
            .await?;
        Ok(())
    }

    fn device_key(address: &str) -> String {
        format!("d|{address}")
    }

    /// True while any of the three counters is locked.
    pub(crate) async fn locked(
        &self,
        store: &dyn Store,
        user: &str,
        address: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let keys = Self::keys(user, address).map(|(k, _)| k);
        let counters = store.failure_counters(&keys).await?;
        Ok(counters.iter().any(|c| c.locked_until > now))
    }

    pub(crate) async fn failed(
        &self,
        store: &dyn Store,
        user: &str,
        address: &str,
        now: i64,
    ) -> StoreResult<()> {
        for (key, limit) in Self::keys(user, address) {
            store
                .update_failure_counter(&key, Box::new(move |c| fail(c, now, limit)))
                .await?;
        }
        let last = self.last_cleanup.load(Ordering::Relaxed);
        if now - last >= CLEANUP_SECONDS
            && self
                .last_cleanup
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            // Bounded storage under a flood: old windows are worthless anyway.
            store
                .forget_failure_counters(now - WINDOW_SECONDS, now)
                .await?;
        }
        Ok(())
    }

    /// A successful sign-in clears the (user, address) counter.
    pub(crate) async fn succeeded(
        &self,
        store: &dyn Store,
        user: &str,
        address: &str,
    ) -> StoreResult<()> {
        store
            .delete_failure_counter(&format!("p|{user}|{address}"))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    #[tokio::test]
    async fn locks_briefly_and_only_where_it_should() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("t.db"))
            .await
            .expect("store");
        // Two throttles on one store: two servers sharing a database.
        let (one, two) = (Lockout::default(), Lockout::default());
        let s: &dyn Store = &store;
        for i in 0..PAIR_LIMIT {
            assert!(!one.locked(s, "u", "1.1.1.1", 0).await.expect("locked"));
            let t = if i % 2 == 0 { &one } else { &two };
            t.failed(s, "u", "1.1.1.1", 0).await.expect("failed");
        }
        assert!(
            two.locked(s, "u", "1.1.1.1", 1).await.expect("locked"),
            "locked after the limit, counted across both servers"
        );
        assert!(
            !one.locked(s, "u", "2.2.2.2", 1).await.expect("locked"),
            "the same user from elsewhere is not locked out"
        );
        assert!(
            !one.locked(s, "u", "1.1.1.1", 31).await.expect("locked"),
            "the lock is short"
        );
        for n in 0..USER_LIMIT {
            one.failed(s, "victim", &format!("10.0.0.{n}"), 100)
                .await
                .expect("failed");
        }
        assert!(
            one.locked(s, "victim", "9.9.9.9", 101)
                .await
                .expect("locked"),
            "many failures from many places slow the user down"
        );
        assert!(
            !one.locked(s, "victim", "9.9.9.9", 100 + MAX_LOCK_SECONDS + 1)
                .await
                .expect("locked"),
            "but never for long"
        );
        one.succeeded(s, "u", "1.1.1.1").await.expect("succeeded");
        assert!(
            !one.locked(s, "u", "1.1.1.1", 1).await.expect("locked"),
            "a success clears the pair's counter"
        );
    }
}
