//! XML Signature as SAML uses it (an enveloped `Signature` inside the element it signs, one
//! `Reference` to that element's `ID`, exclusive canonicalization, RSA with SHA-256 or
//! SHA-1): the `SignedInfo` to sign and the `Signature` element to write, and checking one.
//! This crate does no cryptography: digests and RSA come from the caller's [`DsigCrypto`].

use super::c14n::{ENVELOPED_SIGNATURE, EXCLUSIVE, exclusive};
use super::{Element, escape};
use crate::b64;

pub const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// Digests and RSA for signatures, by algorithm URI.
pub trait DsigCrypto {
    /// `data`'s digest by `algorithm` (SHA-256 or SHA-1); `None` for any other.
    fn digest(&self, algorithm: &str, data: &[u8]) -> Option<Vec<u8>>;
    /// Whether `signature` over `data` verifies by `algorithm` (RSA-SHA256 or RSA-SHA1) with
    /// a key the caller trusts; `certificate` is the DER the signature's `KeyInfo` carried.
    fn verify(
        &self,
        algorithm: &str,
        data: &[u8],
        signature: &[u8],
        certificate: Option<&[u8]>,
    ) -> bool;
}

/// The canonical `SignedInfo` (RSA-SHA256, exclusive c14n, SHA-256) of a reference to `#id`:
/// the octets to sign, and, without its `xmlns`, the element to write inside `Signature`.
pub fn signed_info(id: &str, digest: &[u8]) -> String {
    format!(
        concat!(
            r#"<SignedInfo xmlns="http://www.w3.org/2000/09/xmldsig#">"#,
            r#"<CanonicalizationMethod Algorithm="{c14n}"></CanonicalizationMethod>"#,
            r#"<SignatureMethod Algorithm="{rsa}"></SignatureMethod>"#,
            r##"<Reference URI="#{id}"><Transforms>"##,
            r#"<Transform Algorithm="{env}"></Transform><Transform Algorithm="{c14n}"></Transform>"#,
            r#"</Transforms><DigestMethod Algorithm="{sha}"></DigestMethod>"#,
            r#"<DigestValue>{digest}</DigestValue></Reference></SignedInfo>"#
        ),
        c14n = EXCLUSIVE,
        rsa = RSA_SHA256,
        env = ENVELOPED_SIGNATURE,
        sha = SHA256,
        id = escape::attr(id),
        digest = b64::std_encode(digest),
    )
}

/// The `Signature` element for `signed_info` (as [`signed_info`] made it), its RSA
/// signature and the signer's certificate (DER), in the default xmldsig namespace as Entra
/// writes it.
pub fn signature_element(signed_info: &str, signature: &[u8], certificate: &[u8]) -> String {
    let inner = signed_info.replacen(
        r#"<SignedInfo xmlns="http://www.w3.org/2000/09/xmldsig#">"#,
        "<SignedInfo>",
        1,
    );
    format!(
        r#"<Signature xmlns="{DSIG}">{inner}<SignatureValue>{}</SignatureValue><KeyInfo><X509Data><X509Certificate>{}</X509Certificate></X509Data></KeyInfo></Signature>"#,
        b64::std_encode(signature),
        b64::std_encode(certificate),
    )
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsigError {
    #[error("the element is not signed")]
    Unsigned,
    #[error("the signature is not well-formed: {0}")]
    Malformed(&'static str),
    #[error("the signature uses an algorithm not accepted here: {0}")]
    Algorithm(String),
    #[error("the signature's reference is not to the signed element")]
    WrongReference,
    #[error("the signed content was changed (digest mismatch)")]
    Digest,
    #[error("the signature value does not verify")]
    Signature,
}

/// What a verified signature says about its signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The certificate (DER) the signature's `KeyInfo` carried, if any.
    pub certificate: Option<Vec<u8>>,
}

fn prefix_list(method: &Element) -> Vec<String> {
    method
        .elements()
        .find(|e| e.local == "InclusiveNamespaces")
        .and_then(|e| e.attr("PrefixList"))
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Checks the enveloped signature of `signed` (its child `Signature`): the reference names
/// `signed` by its `ID`, the transforms are the enveloped signature and exclusive c14n, the
/// digest matches the element as it is, and the signature over `SignedInfo` verifies.
pub fn verify_enveloped(signed: &Element, crypto: &dyn DsigCrypto) -> Result<Verified, DsigError> {
    let signature = signed.child(DSIG, "Signature").ok_or(DsigError::Unsigned)?;
    let info = signature
        .child(DSIG, "SignedInfo")
        .ok_or(DsigError::Malformed("no SignedInfo"))?;
    let method = info
        .child(DSIG, "CanonicalizationMethod")
        .ok_or(DsigError::Malformed("no CanonicalizationMethod"))?;
    if method.attr("Algorithm") != Some(EXCLUSIVE) {
        return Err(DsigError::Algorithm(
            method.attr("Algorithm").unwrap_or_default().to_owned(),
        ));
    }
    let algorithm = info
        .child(DSIG, "SignatureMethod")
        .and_then(|m| m.attr("Algorithm"))
        .ok_or(DsigError::Malformed("no SignatureMethod"))?;
    if algorithm != RSA_SHA256 && algorithm != RSA_SHA1 {
        return Err(DsigError::Algorithm(algorithm.to_owned()));
    }
    let mut references = info.children_named(DSIG, "Reference");
    let reference = references
        .next()
        .ok_or(DsigError::Malformed("no Reference"))?;
    if references.next().is_some() {
        return Err(DsigError::Malformed("more than one Reference"));
    }
    let id = signed.attr("ID").ok_or(DsigError::WrongReference)?;
    if reference.attr("URI").and_then(|u| u.strip_prefix('#')) != Some(id) {
        return Err(DsigError::WrongReference);
    }
    let mut content_prefixes = Vec::new();
    if let Some(transforms) = reference.child(DSIG, "Transforms") {
        let mut saw_c14n = false;
        for t in transforms.children_named(DSIG, "Transform") {
            match t.attr("Algorithm") {
                Some(ENVELOPED_SIGNATURE) => {}
                Some(EXCLUSIVE) => {
                    saw_c14n = true;
                    content_prefixes = prefix_list(t);
                }
                other => return Err(DsigError::Algorithm(other.unwrap_or_default().to_owned())),
            }
        }
        if !saw_c14n {
            return Err(DsigError::Algorithm("no exclusive canonicalization".into()));
        }
    } else {
        return Err(DsigError::Malformed("no Transforms"));
    }
    let digest_method = reference
        .child(DSIG, "DigestMethod")
        .and_then(|m| m.attr("Algorithm"))
        .ok_or(DsigError::Malformed("no DigestMethod"))?;
    let expected = reference
        .child(DSIG, "DigestValue")
        .and_then(|d| b64::decode_lenient(&d.text()))
        .ok_or(DsigError::Malformed("no DigestValue"))?;
    let prefixes: Vec<&str> = content_prefixes.iter().map(String::as_str).collect();
    let content = exclusive(signed, Some(signature), &prefixes);
    let actual = crypto
        .digest(digest_method, content.as_bytes())
        .ok_or_else(|| DsigError::Algorithm(digest_method.to_owned()))?;
    if actual != expected {
        return Err(DsigError::Digest);
    }
    let value = signature
        .child(DSIG, "SignatureValue")
        .and_then(|v| b64::decode_lenient(&v.text()))
        .ok_or(DsigError::Malformed("no SignatureValue"))?;
    let info_prefixes = prefix_list(method);
    let info_prefixes: Vec<&str> = info_prefixes.iter().map(String::as_str).collect();
    let canonical_info = exclusive(info, None, &info_prefixes);
    let certificate = signature
        .child(DSIG, "KeyInfo")
        .and_then(|k| k.child(DSIG, "X509Data"))
        .and_then(|d| d.child(DSIG, "X509Certificate"))
        .and_then(|c| b64::decode_lenient(&c.text()));
    if !crypto.verify(
        algorithm,
        canonical_info.as_bytes(),
        &value,
        certificate.as_deref(),
    ) {
        return Err(DsigError::Signature);
    }
    Ok(Verified { certificate })
}
