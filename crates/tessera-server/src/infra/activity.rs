//! The token activity the portal draws: tokens issued (with their lifetime and why),
//! session revocations and failed requests with their AADSTS code, in a bounded ring kept in
//! memory by each server, with a change counter watchers wait on. Never a token value: a
//! short digest at most.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// How many events a server keeps; older ones drop off.
const CAPACITY: usize = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ActivityKind {
    /// A token was issued (access token or SAML assertion).
    Issued,
    /// A user's sign-in sessions were revoked.
    Revoked,
    /// A token request or a sign-in failed.
    Failed,
}

#[derive(Debug, Clone)]
pub(crate) struct ActivityEvent {
    /// Increases by one per event on this server.
    pub seq: u64,
    pub at: i64,
    pub tenant_id: String,
    pub kind: ActivityKind,
    /// The client application's id and name (empty when unknown).
    pub app_id: String,
    pub app_name: String,
    /// The user's UPN, for user tokens and user events.
    pub user: Option<String>,
    /// The grant or page: `client_credentials`, `refresh_token`, `saml`...
    pub flow: String,
    /// `access token`, `SAML token`; empty for events that are not tokens.
    pub token_kind: &'static str,
    pub expires: i64,
    /// Why the token lives as long as it does, in words.
    pub lifetime_source: String,
    /// The first 12 hex digits of the token's SHA-256: enough to tell tokens apart.
    pub fingerprint: String,
    /// The AADSTS code of a failure.
    pub code: Option<u32>,
}

impl ActivityEvent {
    /// An event of `kind` at `at` with nothing else known yet.
    pub(crate) fn new(kind: ActivityKind, at: i64, tenant_id: &str) -> Self {
        Self {
            seq: 0,
            at,
            tenant_id: tenant_id.to_owned(),
            kind,
            app_id: String::new(),
            app_name: String::new(),
            user: None,
            flow: String::new(),
            token_kind: "",
            expires: at,
            lifetime_source: String::new(),
            fingerprint: String::new(),
            code: None,
        }
    }
}

pub(crate) struct Activity {
    ring: Mutex<VecDeque<Arc<ActivityEvent>>>,
    changed: watch::Sender<u64>,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            ring: Mutex::new(VecDeque::with_capacity(256)),
            changed: watch::channel(0).0,
        }
    }
}

impl std::fmt::Debug for Activity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Activity").finish_non_exhaustive()
    }
}

impl Activity {
    pub(crate) fn record(&self, mut event: ActivityEvent) {
        let seq = {
            let mut ring = self
                .ring
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let seq = ring.back().map_or(1, |e| e.seq + 1);
            event.seq = seq;
            if ring.len() == CAPACITY {
                ring.pop_front();
            }
            ring.push_back(Arc::new(event));
            seq
        };
        self.changed.send_replace(seq);
    }

    /// A tenant's events that `keep` accepts, newest last, at most `limit`.
    pub(crate) fn events(
        &self,
        tenant_id: &str,
        limit: usize,
        keep: impl Fn(&ActivityEvent) -> bool,
    ) -> Vec<Arc<ActivityEvent>> {
        let ring = self
            .ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: Vec<_> = ring
            .iter()
            .rev()
            .filter(|e| e.tenant_id.eq_ignore_ascii_case(tenant_id) && keep(e))
            .take(limit)
            .cloned()
            .collect();
        out.reverse();
        out
    }

    /// A receiver that sees the sequence number of the latest event.
    pub(crate) fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_and_filters_by_tenant() {
        let a = Activity::default();
        let mut seen = a.watch();
        for i in 0..(CAPACITY as i64 + 10) {
            let tenant = if i % 2 == 0 { "t1" } else { "t2" };
            a.record(ActivityEvent::new(ActivityKind::Issued, i, tenant));
        }
        assert!(seen.has_changed().expect("open"));
        assert_eq!(*seen.borrow_and_update(), CAPACITY as u64 + 10);
        let t1 = a.events("T1", 3, |_| true);
        assert_eq!(t1.len(), 3);
        assert!(t1.windows(2).all(|w| w[0].at < w[1].at), "oldest first");
        assert_eq!(t1[2].at, CAPACITY as i64 + 8);
        let all = a.events("t1", usize::MAX, |_| true);
        assert_eq!(all.len(), CAPACITY / 2, "the oldest dropped off");
        assert!(a.events("t3", 10, |_| true).is_empty());
    }
}
