//! The sign-in pages as other protocols use them: SAML 2.0 and WS-Federation start a
//! sign-in (answered at once from a live SSO session, unless the request forces a new
//! one), and end the SSO session on their logout.

use axum::http::HeaderMap;
use axum::response::Response;
use tessera_proto::clock::Clock as _;

use super::SESSION_COOKIE;
use super::flow::{FLOW_SECONDS, Flow, Purpose};
use super::session::current_session;
use super::steps::resume_or_ask;
use super::web::{cookie, csrf_value, set_cookie, with_csrf};
use crate::crypto;
use crate::state::AppState;
use crate::store::Tenant;

/// How a protocol asks for the user.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ask<'a> {
    /// Sign in again even with a live session (SAML `ForceAuthn`, WS-Fed `wfresh=0`).
    pub(crate) force: bool,
    /// Never show a page (SAML `IsPassive`).
    pub(crate) passive: bool,
    pub(crate) login_hint: Option<&'a str>,
}

/// Starts the sign-in for `purpose`: the answer to the app when the browser has a session
/// for `tenant`, else the first sign-in page. `None` when `ask.passive` and the user would
/// have to be asked.
pub(crate) async fn begin(
    state: &AppState,
    headers: &HeaderMap,
    base: &str,
    tenant: &Tenant,
    purpose: Purpose,
    ask: Ask<'_>,
) -> Option<Response> {
    let (csrf, fresh) = csrf_value(state, headers);
    let session = if ask.force {
        None
    } else {
        current_session(state, headers, &tenant.id).await
    };
    if ask.passive && session.is_none() {
        return None;
    }
    let flow = Flow {
        tenant_id: tenant.id.clone(),
        purpose,
        username: ask.login_hint.map(str::to_owned),
        user_id: None,
        mfa_done: false,
        auth_time: None,
        consented: false,
        csrf: csrf.clone(),
        expires_at: state.clock.unix() + FLOW_SECONDS,
    };
    let response = resume_or_ask(state, base, tenant, flow, session, &csrf, ask.login_hint).await;
    Some(with_csrf(response, &csrf, fresh))
}

/// Ends the browser's SSO session, if it has one; `response` then clears its cookie.
pub(crate) async fn end_session(state: &AppState, headers: &HeaderMap, response: &mut Response) {
    if let Some(value) = cookie(headers, SESSION_COOKIE) {
        let _ = state
            .directory
            .end_session(&crypto::sha256_hex(value.as_bytes()))
            .await;
    }
    set_cookie(response, SESSION_COOKIE, "", Some(0));
}

/// The page the sign-in pages show on an error that must not go back to an app.
pub(crate) fn error_page(
    state: &AppState,
    plain: &str,
    err: &tessera_proto::errors::AadstsError,
) -> Response {
    super::web::error_page(state, None, plain, err)
}

/// Posts `fields` to `url` from the browser (the HTTP-POST binding's auto-submitting form).
pub(crate) fn form_post(url: &str, fields: &[(String, String)]) -> Response {
    super::pages::form_post(url, fields)
}

/// A plain page with a title and one paragraph.
pub(crate) fn message(
    status: axum::http::StatusCode,
    title: &str,
    tenant: Option<&str>,
    text: &str,
) -> Response {
    super::pages::message(status, title, tenant, text)
}
