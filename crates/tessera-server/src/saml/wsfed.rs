//! WS-Federation passive requestor profile at `/{tenant}/wsfed`: `wa=wsignin1.0` with
//! `wtrealm` (the app's identifier URI or appId), `wreply` (a registered reply URL) and
//! `wctx` (returned as it came) signs the user in through the sign-in pages and posts a
//! `wresult` to the app; `wa=wsignout1.0` ends the SSO session (docs/saml-wsfed-wire.md §6).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse as _, Response};
use tessera_proto::errors as aadsts;

use super::Shared;
use super::apps::{self, page};
use super::logout::signed_out;
use crate::respond::{base_url, form_fields};
use crate::signin::{Ask, Purpose, SamlParams};
use crate::state::AppState;
use crate::store::Tenant;

/// The query's fields, then a POSTed form's where the query has none of that name.
fn fields(method: &Method, query: Option<&str>, body: &[u8]) -> HashMap<String, String> {
    let mut m = form_fields(query.unwrap_or_default().as_bytes());
    if method == Method::POST {
        for (k, v) in form_fields(body) {
            m.entry(k).or_insert(v);
        }
    }
    m
}

/// `GET|POST /{tenant}/wsfed`.
pub(crate) async fn wsfed(
    state: Shared,
    Path(segment): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let state = state.0;
    let f = fields(&method, query.as_deref(), &body);
    let tenant = match apps::tenant(&state, &segment).await {
        Ok(t) => t,
        Err(e) => return page(&state, &e),
    };
    match f.get("wa").map(String::as_str) {
        Some("wsignin1.0") => sign_in(&state, &tenant, &f, &uri, &headers).await,
        Some("wsignout1.0" | "wsignoutcleanup1.0") => sign_out(&state, &tenant, &f, &headers).await,
        _ => page(&state, &aadsts::MISSING_PARAMETER.with(&["wa"])),
    }
}

async fn sign_in(
    state: &AppState,
    tenant: &Tenant,
    f: &HashMap<String, String>,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    let Some(realm) = f.get("wtrealm").map(|r| r.trim()).filter(|r| !r.is_empty()) else {
        return page(state, &aadsts::MISSING_PARAMETER.with(&["wtrealm"]));
    };
    let app = match apps::by_identifier(state, tenant, realm).await {
        Ok(a) => a,
        Err(e) => return page(state, &e),
    };
    let reply = match apps::reply_url(&app, f.get("wreply").map(String::as_str)) {
        Ok(u) => u,
        Err(e) => return page(state, &e),
    };
    let purpose = Purpose::Saml(Box::new(SamlParams {
        client_id: app.client_id.clone(),
        audience: apps::audience(realm),
        reply_to: reply,
        in_response_to: None,
        relay_state: f.get("wctx").cloned(),
        name_id_format: None,
        wsfed: true,
    }));
    let base = base_url(state, headers, uri);
    let ask = Ask {
        // `wfresh=0`: the user must authenticate now (WS-Federation 1.2 §13.2.1).
        force: f.get("wfresh").map(String::as_str) == Some("0"),
        passive: false,
        login_hint: f.get("login_hint").map(String::as_str),
    };
    crate::signin::begin(state, headers, &base, tenant, purpose, ask)
        .await
        .unwrap_or_else(|| page(state, &aadsts::LOGIN_REQUIRED.err()))
}

/// Ends the session; returns to `wreply` when it is a reply URL registered in the tenant.
async fn sign_out(
    state: &AppState,
    tenant: &Tenant,
    f: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    let registered = match (
        f.get("wreply"),
        state.store().list_applications(&tenant.id).await,
    ) {
        (Some(url), Ok(apps)) => apps
            .iter()
            .any(|a| a.redirect_uris.iter().any(|r| r == url))
            .then(|| url.clone()),
        _ => None,
    };
    let mut response = match registered {
        Some(url) => {
            let mut r = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&url) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        None => signed_out(tenant),
    };
    crate::signin::end_session(state, headers, &mut response).await;
    response
}
