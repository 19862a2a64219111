//! Signed-in sessions as the sign-in pages read them on every request, through a cache of a
//! few seconds: a browser with single sign-on then costs no database round trip per app it
//! signs into (a SAML app is answered once per request). A session ended, or given MFA, on
//! this server changes the cache at once; one ended on another server, or a user changed
//! there, is seen within [`SESSION_CACHE_SECONDS`].

use std::collections::HashMap;
use std::sync::RwLock;

use super::Directory;
use crate::store::{SigninSession, StoreResult, User};

/// How long a cached session and its user are trusted.
pub(crate) const SESSION_CACHE_SECONDS: i64 = 2;
/// More entries than this and the cache starts over (bounded memory).
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub(super) struct SessionCache {
    map: RwLock<HashMap<String, (SigninSession, User, i64)>>,
    /// Bumped by every change made here: a read that raced one does not cache what it read.
    changes: std::sync::atomic::AtomicU64,
}

impl SessionCache {
    pub(super) fn clear(&self) {
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    fn forget(&self, hash: &str) {
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(hash);
    }
}

impl Directory {
    /// The session `hash` (SHA-256 of the cookie) and its user, as of at most a few seconds
    /// ago; `None` when either is gone.
    pub(crate) async fn signed_in(
        &self,
        hash: &str,
        now: i64,
    ) -> StoreResult<Option<(SigninSession, User)>> {
        self.follow_others();
        if let Some((s, u, at)) = self
            .sessions
            .map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(hash)
            && (*at..*at + SESSION_CACHE_SECONDS).contains(&now)
        {
            return Ok(Some((s.clone(), u.clone())));
        }
        let seen = self
            .sessions
            .changes
            .load(std::sync::atomic::Ordering::SeqCst);
        let Some(session) = self.store.session(hash).await? else {
            return Ok(None);
        };
        let Some(user) = self
            .store
            .user(&session.tenant_id, &session.user_id)
            .await?
        else {
            return Ok(None);
        };
        let mut map = self
            .sessions
            .map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        if self
            .sessions
            .changes
            .load(std::sync::atomic::Ordering::SeqCst)
            == seen
        {
            map.insert(hash.to_owned(), (session.clone(), user.clone(), now));
        }
        Ok(Some((session, user)))
    }

    /// The store first, then the cache: a read that raced the write either sees the
    /// change or caches nothing (see `changes`).
    pub(crate) async fn end_session(&self, hash: &str) -> StoreResult<()> {
        let written = self.store.end_session(hash).await;
        self.sessions.forget(hash);
        written
    }

    pub(crate) async fn set_session_mfa(&self, hash: &str, at: i64) -> StoreResult<()> {
        let written = self.store.set_session_mfa(hash, at).await;
        self.sessions.forget(hash);
        written
    }
}
