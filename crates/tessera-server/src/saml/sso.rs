//! `/{tenant}/saml2`: an `AuthnRequest` (HTTP-Redirect, deflated in the query with an
//! optional detached signature; or HTTP-POST, with an optional enveloped signature) starts
//! a sign-in through the sign-in pages; a `LogoutRequest` goes to `logout.rs`. Requests Entra
//! cannot trust get its error page; valid requests it will not serve get a SAML error
//! `Response` posted back (`IsPassive` without a session: `NoPassive`).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use tessera_proto::errors::{self as aadsts, AadstsError};
use tessera_proto::saml::{AuthnRequest, RequestError, binding, names};
use tessera_proto::xml::{self, Element, Limits, dsig};

use super::apps::{self, page};
use super::{Shared, logout};
use crate::crypto::xml_sig::{TrustedKeys, rsa_public_key};
use crate::respond::{base_url, entra_timestamp};
use crate::signin::{Ask, Purpose, SamlParams};
use crate::state::AppState;
use crate::store::Application;

/// A SAML protocol message as it arrived.
pub(super) struct Incoming {
    pub(super) root: Element,
    pub(super) relay_state: Option<String>,
    /// The HTTP-Redirect binding's detached signature, if the query carried one.
    pub(super) detached: Option<binding::RedirectSignature>,
    pub(super) post: bool,
}

fn form(text: &[u8]) -> std::collections::HashMap<String, String> {
    let mut m = std::collections::HashMap::new();
    for (k, v) in form_urlencoded::parse(text) {
        m.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    m
}

/// Reads the message of either binding: 750054 without one, 75005 when it is not base64,
/// not deflated, not XML, or XML this endpoint refuses (a DOCTYPE, too large, too deep).
pub(super) fn incoming(
    method: &Method,
    query: Option<&str>,
    body: &[u8],
) -> Result<Incoming, AadstsError> {
    let post = method == Method::POST;
    let fields = if post {
        form(body)
    } else {
        form(query.unwrap_or_default().as_bytes())
    };
    let (name, value) = ["SAMLRequest", "SAMLResponse"]
        .iter()
        .find_map(|n| fields.get(*n).map(|v| (*n, v)))
        .ok_or_else(|| aadsts::SAML_MESSAGE_MISSING.err())?;
    let text = if post {
        binding::decode_post(value)
    } else {
        binding::decode_redirect(value)
    }
    .map_err(|_| aadsts::SAML_INVALID.err())?;
    let root = xml::parse(&text, Limits::default()).map_err(|_| aadsts::SAML_INVALID.err())?;
    let detached = if post {
        None
    } else {
        binding::redirect_signature(query.unwrap_or_default(), name)
            .map_err(|_| aadsts::SAML_INVALID.err())?
    };
    Ok(Incoming {
        root,
        relay_state: fields.get("RelayState").cloned(),
        detached,
        post,
    })
}

/// When the app registers verification certificates, its requests must be signed by one
/// (76021 unsigned, 76023 a signature that does not verify).
pub(super) fn check_signature(app: &Application, msg: &Incoming) -> Result<(), AadstsError> {
    if app.saml.request_signing_certificates.is_empty() {
        return Ok(());
    }
    let keys = TrustedKeys(
        app.saml
            .request_signing_certificates
            .iter()
            .filter_map(|c| tessera_proto::b64::decode_lenient(c))
            .filter_map(|der| rsa_public_key(&der))
            .collect(),
    );
    let bad = || aadsts::SAML_BAD_SIGNATURE.err();
    if msg.post {
        return match dsig::verify_enveloped(&msg.root, &keys) {
            Ok(_) => Ok(()),
            Err(dsig::DsigError::Unsigned) => Err(aadsts::SAML_UNSIGNED.err()),
            Err(_) => Err(bad()),
        };
    }
    let Some(sig) = &msg.detached else {
        return Err(aadsts::SAML_UNSIGNED.err());
    };
    let algorithm = match sig.sig_alg.as_str() {
        names::RSA_SHA256 => dsig::RSA_SHA256,
        names::RSA_SHA1 => dsig::RSA_SHA1,
        _ => return Err(bad()),
    };
    if dsig::DsigCrypto::verify(
        &keys,
        algorithm,
        sig.signed_octets.as_bytes(),
        &sig.signature,
        None,
    ) {
        Ok(())
    } else {
        Err(bad())
    }
}

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
        .map(|q| form(q.as_bytes()))
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
