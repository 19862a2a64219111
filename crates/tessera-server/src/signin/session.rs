//! Single sign-on: the session cookie read back into the signed-in user. Sessions are
//! created by the answer to the app and ended by logout.

use axum::http::HeaderMap;

use super::SESSION_COOKIE;
use super::web::cookie;
use tessera_proto::clock::Clock as _;

use crate::crypto;
use crate::state::AppState;
use crate::store::{SigninSession, User};

/// The current SSO session for `tenant`, if the browser has a live one.
pub(super) async fn current_session(
    state: &AppState,
    headers: &HeaderMap,
    tenant_id: &str,
) -> Option<(SigninSession, User)> {
    let value = cookie(headers, SESSION_COOKIE)?;
    let (session, user) = state
        .directory
        .signed_in(&crypto::sha256_hex(value.as_bytes()), state.clock.unix())
        .await
        .ok()??;
    (!session.ended && session.tenant_id == tenant_id && user.account_enabled)
        .then_some((session, user))
}

/// `sid` claim for a session: stable, not the cookie.
pub(super) fn session_id(session_hash: &str) -> String {
    let d = crypto::sha256(format!("sid|{session_hash}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}
