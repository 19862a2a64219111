//! Request-loop detection, as Entra answers a client that asks for the same token over and
//! over: the same request (tenant, client, grant type, user or grant presented, scopes) issued
//! 15 times within 5 minutes is refused with AADSTS50196 until those 5 minutes have passed
//! (Microsoft's "Looping clients will be interrupted", 2019: 15 or more requests in 5
//! minutes). The window is shorter when tokens are: half the lifetime of the tokens issued,
//! so a client that caches test-mode tokens of a few seconds is never taken for a loop.
//!
//! Only the grants where Entra documents this answer are watched (password, refresh token,
//! on-behalf-of), and only requests that were answered with a token count, so a stranger who
//! sends a user's name cannot get that user refused. Counted in memory per server (Entra
//! counts per instance too), in a bounded table: when it is full of live windows a new
//! request is not tracked rather than refused.

use std::collections::HashMap;
use std::sync::Mutex;

use tessera_proto::token::GrantType;

/// Identical requests allowed in one window; the 15th is refused.
const LIMIT: u32 = 15;
/// Entra's window; shorter for tokens living less than twice as long.
const WINDOW_SECONDS: i64 = 5 * 60;
/// Distinct requests tracked at once (about 40 bytes each).
const MAX_TRACKED: usize = 100_000;

/// One identical request: a digest of what makes it the same request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct LoopKey([u8; 16]);

#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    seconds: i64,
    issued: u32,
}

#[derive(Debug)]
pub(crate) struct Loops {
    enabled: bool,
    windows: Mutex<HashMap<LoopKey, Window>>,
}

impl Loops {
    pub(crate) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The request's key, or `None` for a request that is not watched. `subject` is what
    /// names the user in the request: the user name for the password grant, the refresh
    /// token or user assertion presented for the others (a client that keeps each new
    /// refresh token sends a new one every time). Scopes are compared as a set.
    pub(crate) fn key(
        &self,
        tenant: &str,
        client_id: &str,
        grant: GrantType,
        subject: &str,
        scope: &str,
    ) -> Option<LoopKey> {
        if !self.enabled
            || !matches!(
                grant,
                GrantType::Password | GrantType::RefreshToken | GrantType::JwtBearer
            )
        {
            return None;
        }
        let mut scopes: Vec<String> = scope
            .split_ascii_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        scopes.sort_unstable();
        scopes.dedup();
        let subject = if grant == GrantType::Password {
            subject.to_ascii_lowercase()
        } else {
            crate::crypto::sha256_hex(subject.as_bytes())
        };
        let text = format!(
            "{}\n{}\n{}\n{subject}\n{}",
            tenant.to_ascii_lowercase(),
            client_id.to_ascii_lowercase(),
            grant.label(),
            scopes.join(" ")
        );
        let digest = crate::crypto::sha256(text.as_bytes());
        let mut k = [0u8; 16];
        k.copy_from_slice(&digest[..16]);
        Some(LoopKey(k))
    }

    /// True when this request would be the 15th (or later) within its window.
    pub(crate) fn looping(&self, key: LoopKey, now: i64) -> bool {
        let windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        windows
            .get(&key)
            .is_some_and(|w| now < w.start + w.seconds && w.issued + 1 >= LIMIT)
    }

    /// Counts a token issued for `key`, living `lifetime` seconds.
    pub(crate) fn issued(&self, key: LoopKey, now: i64, lifetime: i64) {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let fresh = Window {
            start: now,
            seconds: (lifetime / 2).clamp(1, WINDOW_SECONDS),
            issued: 1,
        };
        if let Some(w) = windows.get_mut(&key) {
            if now < w.start + w.seconds {
                w.issued += 1;
            } else {
                *w = fresh;
            }
            return;
        }
        if windows.len() >= MAX_TRACKED {
            windows.retain(|_, w| now < w.start + w.seconds);
            if windows.len() >= MAX_TRACKED {
                return;
            }
        }
        windows.insert(key, fresh);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(l: &Loops, subject: &str, scope: &str) -> LoopKey {
        l.key("t", "c", GrantType::Password, subject, scope)
            .expect("watched")
    }

    #[test]
    fn the_fifteenth_identical_request_in_a_window_is_refused_until_it_ends() {
        let l = Loops::new(true);
        let k = key(&l, "Ann@x", "User.Read openid");
        for n in 0..LIMIT - 1 {
            assert!(!l.looping(k, 100 + i64::from(n)), "request {}", n + 1);
            l.issued(k, 100 + i64::from(n), 3600);
        }
        assert!(l.looping(k, 120), "the 15th within five minutes");
        assert_eq!(
            key(&l, "ann@X", "openid user.read User.Read"),
            k,
            "the same user and scopes, written differently"
        );
        assert!(
            !l.looping(key(&l, "ann@x", "User.Read"), 120),
            "other scopes are another request"
        );
        assert!(!l.looping(key(&l, "bob@x", "User.Read openid"), 120));
        assert!(l.looping(k, 100 + WINDOW_SECONDS - 1));
        assert!(!l.looping(k, 100 + WINDOW_SECONDS), "the window ends");
        l.issued(k, 100 + WINDOW_SECONDS, 3600);
        assert!(!l.looping(k, 100 + WINDOW_SECONDS + 1), "a new window");
    }

    #[test]
    fn short_tokens_shorten_the_window_and_some_grants_are_not_watched() {
        let l = Loops::new(true);
        let k = key(&l, "ann@x", "User.Read");
        // 20-second test tokens: a window of 10 s; a client caching them asks every 10 s or so.
        for n in 0..100 {
            assert!(!l.looping(k, n * 10));
            l.issued(k, n * 10, 20);
        }
        for n in 0..LIMIT - 1 {
            l.issued(k, 5000 + i64::from(n % 3), 20);
        }
        assert!(l.looping(k, 5002), "a tight loop is still caught");
        assert!(!l.looping(k, 5010));
        for grant in [
            GrantType::ClientCredentials,
            GrantType::AuthorizationCode,
            GrantType::DeviceCode,
        ] {
            assert_eq!(l.key("t", "c", grant, "", "x"), None, "{grant:?}");
        }
        let off = Loops::new(false);
        assert_eq!(off.key("t", "c", GrantType::Password, "a", "x"), None);
    }

    #[test]
    fn the_table_is_bounded_and_forgets_ended_windows() {
        let l = Loops::new(true);
        for n in 0..MAX_TRACKED {
            l.issued(key(&l, &n.to_string(), "s"), 0, 3600);
        }
        let late = key(&l, "late", "s");
        l.issued(late, 10, 3600);
        assert_eq!(l.windows.lock().expect("lock").len(), MAX_TRACKED);
        assert!(
            !l.windows.lock().expect("lock").contains_key(&late),
            "full of live windows: not tracked, never refused"
        );
        l.issued(late, WINDOW_SECONDS + 1, 3600);
        let windows = l.windows.lock().expect("lock");
        assert_eq!(windows.len(), 1, "ended windows were forgotten");
        assert!(windows.contains_key(&late));
    }
}
