//! Failed-password limits: per (user, client address) after a few failures, and per user and
//! per address after many, with short lock windows that grow only to a few minutes, so that
//! guessing is slow but nobody can lock a user out for long.

use std::collections::HashMap;
use std::sync::Mutex;

const WINDOW_SECONDS: i64 = 10 * 60;
/// Failures allowed per (user, address), per user, and per address within the window.
const PAIR_LIMIT: u32 = 5;
const USER_LIMIT: u32 = 20;
const ADDRESS_LIMIT: u32 = 30;
const BASE_LOCK_SECONDS: i64 = 30;
const MAX_LOCK_SECONDS: i64 = 5 * 60;

#[derive(Debug, Clone, Copy, Default)]
struct Counter {
    failures: u32,
    window_start: i64,
    locked_until: i64,
}

impl Counter {
    fn locked(&self, now: i64) -> bool {
        self.locked_until > now
    }

    fn fail(&mut self, now: i64, limit: u32) {
        if now - self.window_start > WINDOW_SECONDS {
            *self = Counter {
                failures: 0,
                window_start: now,
                locked_until: 0,
            };
        }
        self.failures += 1;
        if self.failures >= limit {
            let over = self.failures - limit;
            let lock = (BASE_LOCK_SECONDS << over.min(4)).min(MAX_LOCK_SECONDS);
            self.locked_until = now + lock;
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct PasswordThrottle {
    counters: Mutex<HashMap<String, Counter>>,
}

impl PasswordThrottle {
    fn keys(user: &str, address: &str) -> [(String, u32); 3] {
        [
            (format!("p|{user}|{address}"), PAIR_LIMIT),
            (format!("u|{user}"), USER_LIMIT),
            (format!("a|{address}"), ADDRESS_LIMIT),
        ]
    }

    /// True while any of the three counters is locked.
    pub(crate) fn locked(&self, user: &str, address: &str, now: i64) -> bool {
        let counters = self
            .counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Self::keys(user, address)
            .iter()
            .any(|(k, _)| counters.get(k).is_some_and(|c| c.locked(now)))
    }

    pub(crate) fn failed(&self, user: &str, address: &str, now: i64) {
        let mut counters = self
            .counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if counters.len() > 100_000 {
            // Bounded memory under a flood: old windows are worthless anyway.
            counters.retain(|_, c| now - c.window_start <= WINDOW_SECONDS || c.locked(now));
        }
        for (k, limit) in Self::keys(user, address) {
            counters.entry(k).or_default().fail(now, limit);
        }
    }

    /// A successful sign-in clears the (user, address) counter.
    pub(crate) fn succeeded(&self, user: &str, address: &str) {
        let mut counters = self
            .counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        counters.remove(&format!("p|{user}|{address}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_briefly_and_only_where_it_should() {
        let t = PasswordThrottle::default();
        for _ in 0..PAIR_LIMIT {
            assert!(!t.locked("u", "1.1.1.1", 0));
            t.failed("u", "1.1.1.1", 0);
        }
        assert!(t.locked("u", "1.1.1.1", 1), "locked after the limit");
        assert!(
            !t.locked("u", "2.2.2.2", 1),
            "the same user from elsewhere is not locked out"
        );
        assert!(!t.locked("u", "1.1.1.1", 31), "the lock is short");
        for _ in 0..USER_LIMIT {
            t.failed("victim", &format!("10.0.0.{}", rand_like()), 100);
        }
        assert!(
            t.locked("victim", "9.9.9.9", 101),
            "many failures from many places slow the user down"
        );
        assert!(
            !t.locked("victim", "9.9.9.9", 100 + MAX_LOCK_SECONDS + 1),
            "but never for long"
        );
    }

    fn rand_like() -> u32 {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    }
}
