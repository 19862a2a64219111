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
}

impl SessionCache {
    pub(super) fn clear(&self) {
        self.map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    fn forget(&self, hash: &str) {
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
        map.insert(hash.to_owned(), (session.clone(), user.clone(), now));
        Ok(Some((session, user)))
    }

    pub(crate) async fn end_session(&self, hash: &str) -> StoreResult<()> {
        self.sessions.forget(hash);
        self.store.end_session(hash).await
    }

    pub(crate) async fn set_session_mfa(&self, hash: &str, at: i64) -> StoreResult<()> {
        self.sessions.forget(hash);
        self.store.set_session_mfa(hash, at).await
    }
}
