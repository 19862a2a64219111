//! XML signatures with this server's keys: signing a SAML element or metadata document
//! (enveloped, RSA-SHA256, exclusive c14n, the signature right after the element's
//! `Issuer` or as its first child), and the cryptography tessera-proto's signature check
//! needs, trusting a given set of keys.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use tessera_proto::xml::{self, Limits, c14n, dsig};

use super::keys::SigningKey;
use crate::error::ServerError;

/// Where the `Signature` goes inside the signed element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// After the element's `<Issuer>…</Issuer>` (SAML assertions and responses).
    AfterIssuer,
    /// As the first child (federation metadata's `EntityDescriptor`).
    FirstChild,
}

/// `element` (XML this server wrote, declaring its own namespaces) signed by `key`: the
/// digest is over its exclusive canonical form, so a verifier that re-canonicalizes it,
/// wherever it is embedded, computes the same.
pub(crate) fn sign_enveloped(
    key: &SigningKey,
    element: &str,
    id: &str,
    placement: Placement,
) -> Result<String, ServerError> {
    let parsed = xml::parse(element, Limits::default())
        .map_err(|e| ServerError::Crypto(format!("signing XML this server wrote: {e}")))?;
    let canonical = c14n::exclusive(&parsed, None, &[]);
    let digest = digest::digest(&digest::SHA256, canonical.as_bytes());
    let info = dsig::signed_info(id, digest.as_ref());
    let value = key.sign_rsa_sha256(info.as_bytes())?;
    let signature = dsig::signature_element(&info, &value, &key.cert_der);
    let at = match placement {
        Placement::AfterIssuer => element.find("</Issuer>").map(|i| i + "</Issuer>".len()),
        Placement::FirstChild => element.find('>').map(|i| i + 1),
    }
    .ok_or_else(|| ServerError::Crypto("no place for the signature".into()))?;
    let mut out = String::with_capacity(element.len() + signature.len());
    out.push_str(&element[..at]);
    out.push_str(&signature);
    out.push_str(&element[at..]);
    Ok(out)
}

/// Signature checks that trust exactly these RSA public keys (PKCS#1 RSAPublicKey DER);
/// the certificate a signature carries is not trusted for itself.
pub(crate) struct TrustedKeys(pub(crate) Vec<Vec<u8>>);

impl dsig::DsigCrypto for TrustedKeys {
    fn digest(&self, algorithm: &str, data: &[u8]) -> Option<Vec<u8>> {
        let alg = match algorithm {
            dsig::SHA256 => &digest::SHA256,
            dsig::SHA1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            _ => return None,
        };
        Some(digest::digest(alg, data).as_ref().to_vec())
    }

    fn verify(&self, algorithm: &str, data: &[u8], sig: &[u8], _: Option<&[u8]>) -> bool {
        let params: &'static dyn signature::VerificationAlgorithm = match algorithm {
            dsig::RSA_SHA256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            dsig::RSA_SHA1 => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            _ => return false,
        };
        self.0
            .iter()
            .any(|k| UnparsedPublicKey::new(params, k).verify(data, sig).is_ok())
    }
}

/// The PKCS#1 RSAPublicKey of a certificate (DER), if it is an RSA certificate.
pub(crate) fn rsa_public_key(cert_der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let spki = &cert.tbs_certificate.subject_pki;
    (spki.algorithm.algorithm == x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION)
        .then(|| spki.subject_public_key.data.to_vec())
}
