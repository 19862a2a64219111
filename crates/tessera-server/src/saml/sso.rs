//! `/{tenant}/saml2`: an `AuthnRequest` (HTTP-Redirect or HTTP-POST, read by `message.rs`)
//! starts a sign-in through the sign-in pages; a `LogoutRequest` goes to `logout.rs`.
//! Requests Entra cannot trust get its error page; valid requests it will not serve get a
//! SAML error `Response` posted back (`IsPassive` without a session: `NoPassive`).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use tessera_proto::errors::{self as aadsts, AadstsError};
use tessera_proto::saml::{AuthnRequest, RequestError, binding, names};

use super::apps::{self, page};
use super::message::{check_signature, incoming};
use super::{Shared, logout};
use crate::respond::{base_url, entra_timestamp, form_fields};
use crate::signin::{Ask, Purpose, SamlParams};
use crate::state::AppState;

/// The StatusMessage of a SAML error Response: the AADSTS line, trace id and timestamp.
fn status_message(state: &AppState, err: &AadstsError) -> String {
    format!(
        "{err}\r\nTrace ID: {}\r\nTimestamp: {}",
        crate::crypto::random_guid(state.random.as_ref()),
        entra_timestamp(state)
    )
}

/// Where a SAML error `Response` goes: the app's ACS, answering the request, with its
/// RelayState.
struct ErrorReply<'a> {
    tenant_id: &'a str,
    in_response_to: Option<&'a str>,
    acs: &'a str,
    relay_state: Option<&'a str>,
}

impl ErrorReply<'_> {
    /// Posts the error with status `top` (Requester or Responder) and the second-level code.
    fn post(&self, state: &AppState, top: &str, second: &str, err: &AadstsError) -> Response {
        let xml = crate::assertion::status_response(
            state,
            self.tenant_id,
            self.in_response_to,
            self.acs,
            top,
            Some(second),
            &status_message(state, err),
        );
        let mut fields = vec![("SAMLResponse".to_owned(), binding::encode_post(&xml))];
        if let Some(r) = self.relay_state {
            fields.push(("RelayState".to_owned(), r.to_owned()));
        }
        crate::signin::form_post(self.acs, &fields)
    }
}

/// `GET|POST /{tenant}/saml2`.
pub(crate) async fn saml2(
    state: Shared,
    Path(segment): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let state = state.0;
    let msg = match incoming(&method, query.as_deref(), &body) {
        Ok(m) => m,
        Err(e) => return page(&state, &e),
    };
    let tenant = match apps::tenant(&state, &segment).await {
        Ok(t) => t,
        Err(e) => return page(&state, &e),
    };
    if msg.root.is(names::PROTOCOL, "LogoutRequest") {
        return logout::logout_request(&state, &tenant, &headers, msg).await;
    }
    // Entra reads the issuer, app and reply URL first: until they are known there is no
    // trusted place to post an error to.
    let issuer = msg
        .root
        .child(names::ASSERTION, "Issuer")
        .map(|i| i.text().trim().to_owned());
    let (Some(issuer), true) = (issuer, msg.root.is(names::PROTOCOL, "AuthnRequest")) else {
        return page(&state, &aadsts::SAML_INVALID.err());
    };
    let app = match apps::by_identifier(&state, &tenant, &issuer).await {
        Ok(a) => a,
        Err(e) => return page(&state, &e),
    };
    let acs = match apps::reply_url(
        &app,
        msg.root.attr("AssertionConsumerServiceURL").map(str::trim),
    ) {
        Ok(u) => u,
        Err(e) => return page(&state, &e),
    };
    if let Err(e) = check_signature(&app, &msg) {
        return page(&state, &e);
    }
    let mut reply = ErrorReply {
        tenant_id: &tenant.id,
        in_response_to: msg.root.attr("ID"),
        acs: &acs,
        relay_state: msg.relay_state.as_deref(),
    };
    let request = match AuthnRequest::read(&msg.root) {
        Ok(r) => r,
        Err(RequestError::NameIdFormat(_)) => {
            return reply.post(
                &state,
                names::STATUS_REQUESTER,
                names::STATUS_INVALID_NAMEID_POLICY,
                &aadsts::SAML_NAMEID_POLICY.err(),
            );
        }
        Err(RequestError::Unsupported(what)) => {
            return reply.post(
                &state,
                names::STATUS_REQUESTER,
                names::STATUS_REQUEST_UNSUPPORTED,
                &aadsts::SAML_PROPERTY_UNSUPPORTED.with(&[what]),
            );
        }
        Err(_) => return page(&state, &aadsts::SAML_INVALID.err()),
    };
    // The portal's "Test single sign-on" ID is answered as IdP-initiated.
    let in_response_to = (request.id != names::PORTAL_TEST_REQUEST_ID).then(|| request.id.clone());
    let purpose = Purpose::Saml(Box::new(SamlParams {
        client_id: app.client_id.clone(),
        audience: apps::audience(&request.issuer),
        reply_to: acs.clone(),
        in_response_to: in_response_to.clone(),
        relay_state: msg.relay_state.clone(),
        name_id_format: request.name_id_format.clone(),
        wsfed: false,
    }));
    let hint = uri
        .query()
        .map(|q| form_fields(q.as_bytes()))
        .and_then(|f| f.get("login_hint").cloned());
    let base = base_url(&state, &headers, &uri);
    let ask = Ask {
        force: request.force_authn,
        passive: request.is_passive,
        login_hint: hint.as_deref(),
    };
    match crate::signin::begin(&state, &headers, &base, &tenant, purpose, ask).await {
        Some(r) => r,
        None => {
            // UNCONFIRMED for Entra (no capture); SAML core §3.4.1.4's answer to IsPassive.
            reply.in_response_to = in_response_to.as_deref();
            reply.post(
                &state,
                names::STATUS_RESPONDER,
                names::STATUS_NO_PASSIVE,
                &aadsts::LOGIN_REQUIRED.err(),
            )
        }
    }
}
