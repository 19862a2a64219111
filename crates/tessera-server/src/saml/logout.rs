//! SAML single logout: a `LogoutRequest` from an app ends the browser's SSO session (Entra
//! does not consider its NameID) and is answered with a `LogoutResponse` by HTTP-Redirect
//! to the app's registered logout URL (single-sign-out-saml-protocol).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use tessera_proto::errors as aadsts;
use tessera_proto::saml::{LogoutRequest, binding};

use super::apps::{self, page};
use super::message::{Incoming, check_signature};
use crate::state::AppState;
use crate::store::Tenant;

pub(super) async fn logout_request(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    msg: Incoming,
) -> Response {
    let Ok(request) = LogoutRequest::read(&msg.root) else {
        return page(state, &aadsts::SAML_INVALID.err());
    };
    let app = match apps::by_identifier(state, tenant, &request.issuer).await {
        Ok(a) => a,
        Err(e) => return page(state, &e),
    };
    if let Err(e) = check_signature(&app, &msg) {
        return page(state, &e);
    }
    let mut response = match &app.saml.logout_url {
        Some(url) => {
            let xml = crate::assertion::logout_response(state, &tenant.id, &request.id, url);
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("SAMLResponse", &binding::encode_redirect(&xml));
            if let Some(relay) = &msg.relay_state {
                query.append_pair("RelayState", relay);
            }
            let sep = if url.contains('?') { '&' } else { '?' };
            let location = format!("{url}{sep}{}", query.finish());
            let mut r = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        None => signed_out(tenant),
    };
    crate::signin::end_session(state, headers, &mut response).await;
    response
}

pub(super) fn signed_out(tenant: &Tenant) -> Response {
    crate::signin::message(
        StatusCode::OK,
        "You signed out of your account",
        Some(&tenant.display_name),
        "It's a good idea to close all browser windows.",
    )
}
