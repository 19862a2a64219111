//! A SAML protocol message as it reaches `/{tenant}/saml2`: read from either binding
//! (HTTP-Redirect, deflated in the query with an optional detached signature; HTTP-POST,
//! with an optional enveloped signature), and its signature checked where the app requires
//! signed requests.

use axum::http::Method;
use tessera_proto::errors::{self as aadsts, AadstsError};
use tessera_proto::saml::{binding, names};
use tessera_proto::xml::{self, Element, Limits, dsig};

use crate::crypto::xml_sig::{TrustedKeys, rsa_public_key};
use crate::respond::form_fields;
use crate::store::Application;

/// A SAML protocol message as it arrived.
pub(super) struct Incoming {
    pub(super) root: Element,
    pub(super) relay_state: Option<String>,
    /// The HTTP-Redirect binding's detached signature, if the query carried one.
    pub(super) detached: Option<binding::RedirectSignature>,
    pub(super) post: bool,
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
        form_fields(body)
    } else {
        form_fields(query.unwrap_or_default().as_bytes())
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
