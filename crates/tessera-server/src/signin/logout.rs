//! Logout: ends the SSO session and returns to the app's post-logout redirect URI when
//! it is registered.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse as _, Response};

use super::web::{cookie, form_fields, set_cookie};
use super::{SESSION_COOKIE, Shared, pages};
use crate::crypto;

/// `GET|POST /{tenant}/oauth2/v2.0/logout`: ends the SSO session, then returns to a
/// registered `post_logout_redirect_uri` or shows a signed-out page.
pub(crate) async fn logout(
    state: Shared,
    Path(segment): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let state = state.0;
    let fields = if method == Method::POST {
        form_fields(&body)
    } else {
        form_fields(query.unwrap_or_default().as_bytes())
    };
    if let Some(value) = cookie(&headers, SESSION_COOKIE) {
        let _ = state
            .directory
            .end_session(&crypto::sha256_hex(value.as_bytes()))
            .await;
    }
    let tenant = state.directory.tenant(&segment).await.ok().flatten();
    let target = match (fields.get("post_logout_redirect_uri"), &tenant) {
        (Some(uri), Some(t)) => match state.store().list_applications(&t.id).await {
            Ok(apps) => apps
                .iter()
                .chain(state.directory.first_party(&t.id).iter())
                .any(|a| a.redirect_uris.iter().any(|r| r == uri))
                .then(|| uri.clone()),
            Err(_) => None,
        },
        _ => None,
    };
    let mut response = match target {
        Some(uri) => {
            let mut r = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&uri) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        None => pages::message(
            StatusCode::OK,
            "You signed out of your account",
            tenant.as_ref().map(|t| t.display_name.as_str()),
            "It's a good idea to close all browser windows.",
        ),
    };
    set_cookie(&mut response, SESSION_COOKIE, "", Some(0));
    response
}
