//! Request plumbing of the sign-in pages: cookies, the CSRF value, form fields, error and
//! expiry pages, and the login form's action URL. No sign-in logic.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use tessera_proto::errors::AadstsError;
use tessera_proto::errors::{self as aadsts};

use super::{CSRF_COOKIE, pages};
use crate::crypto;
use crate::error::ServerError;
use crate::respond::entra_timestamp;
use crate::state::AppState;

pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name && !v.is_empty()).then(|| v.to_owned())
        })
}

pub(super) fn set_cookie(response: &mut Response, name: &str, value: &str, max_age: Option<i64>) {
    let age = max_age.map_or_else(String::new, |a| format!("; Max-Age={a}"));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax{age}"
    )) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The browser's CSRF value, and whether it must be set on the response.
pub(super) fn csrf_value(state: &AppState, headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, CSRF_COOKIE) {
        Some(v) if v.len() >= 22 && v.len() <= 64 => (v, false),
        _ => (crypto::random_b64url(state.random.as_ref(), 24), true),
    }
}

pub(super) fn with_csrf(mut response: Response, csrf: &str, fresh: bool) -> Response {
    if fresh {
        set_cookie(&mut response, CSRF_COOKIE, csrf, None);
    }
    response
}

pub(super) use crate::respond::form_fields;

/// An error page for an AADSTS error that must not be sent to a redirect URI.
pub(super) fn error_page(
    state: &AppState,
    tenant: Option<&str>,
    plain: &str,
    err: &AadstsError,
) -> Response {
    let trace = crypto::random_guid(state.random.as_ref());
    let correlation = crypto::random_guid(state.random.as_ref());
    let status = if err.status() == 401 {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    pages::error(
        status,
        tenant,
        plain,
        &err.to_string(),
        &trace,
        &correlation,
        &entra_timestamp(state),
    )
}

pub(super) fn expired_page(state: &AppState) -> Response {
    let e = aadsts::MALFORMED_REQUEST.err();
    error_page(
        state,
        None,
        "This sign-in page has expired or was opened in another browser. Go back to the application and start signing in again.",
        &e,
    )
}

pub(super) fn login_action(base: &str, tenant_id: &str, step: &str) -> String {
    format!("{base}/{tenant_id}/login{step}")
}

pub(super) fn internal(state: &AppState, e: &ServerError) -> Response {
    tracing::error!(error = %e, "sign-in failed inside the server");
    error_page(
        state,
        None,
        "Something went wrong on our side. Try again in a moment.",
        &aadsts::TRANSIENT.err(),
    )
}
