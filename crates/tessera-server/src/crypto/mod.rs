//! Cryptographic helpers on the one backend (aws-lc-rs): randomness, digests, password and
//! secret hashing, certificate credential parsing and RSA signature checks.

mod flow_key;
pub(crate) mod keys;
mod passwords;
pub(crate) mod xml_sig;

pub(crate) use flow_key::FlowKey;
pub(crate) use passwords::{hash_password, hash_queued, verify_queued};

use aws_lc_rs::digest;
use aws_lc_rs::rand::SecureRandom;
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use tessera_proto::b64;
use tessera_proto::clock::Random;

use crate::store::CertificateCredential;

/// Randomness from the operating system via aws-lc-rs.
#[derive(Debug, Default)]
pub(crate) struct SystemRandom(aws_lc_rs::rand::SystemRandom);

impl Random for SystemRandom {
    fn fill(&self, dest: &mut [u8]) {
        // aws-lc's DRBG does not fail once initialised; an error here means the process
        // cannot produce secrets at all, so it must not continue.
        #[allow(clippy::expect_used)]
        self.0.fill(dest).expect("system randomness is unavailable");
    }
}

/// `n` random bytes as unpadded base64url.
pub(crate) fn random_b64url(random: &dyn Random, n: usize) -> String {
    let mut buf = vec![0u8; n];
    random.fill(&mut buf);
    b64::url_encode(buf)
}

/// A random GUID (version 4) in lower-case hyphenated form.
pub(crate) fn random_guid(random: &dyn Random) -> String {
    let mut b = [0u8; 16];
    random.fill(&mut b);
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex(&sha256(data))
}

pub(crate) fn sha1(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, data)
        .as_ref()
        .to_vec()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Constant-time comparison of two digests.
pub(crate) fn digests_equal(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// Parses a DER certificate into a credential: thumbprints, validity and RSA public key.
pub(crate) fn certificate_credential(
    der: &[u8],
    key_id: String,
    display_name: String,
) -> Result<CertificateCredential, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let spki = &cert.tbs_certificate.subject_pki;
    let rsa_oid = x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION;
    if spki.algorithm.algorithm != rsa_oid {
        return Err("the certificate's key is not RSA (Entra client certificates are RSA)".into());
    }
    let validity = cert.validity();
    Ok(CertificateCredential {
        key_id,
        display_name,
        der: b64::std_encode(der),
        x5t: b64::url_encode(sha1(der)),
        x5t_s256: b64::url_encode(sha256(der)),
        public_key: b64::std_encode(spki.subject_public_key.data.as_ref()),
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
    })
}

/// The JWS algorithms accepted for client assertions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RsaAlg {
    Rs256,
    Ps256,
}

impl RsaAlg {
    pub(crate) fn parse(alg: &str) -> Option<Self> {
        match alg {
            "RS256" => Some(Self::Rs256),
            "PS256" => Some(Self::Ps256),
            _ => None,
        }
    }
}

/// Verifies an RSA signature with a PKCS#1 RSAPublicKey.
pub(crate) fn verify_rsa(
    alg: RsaAlg,
    public_key_pkcs1: &[u8],
    message: &[u8],
    signature: &[u8],
) -> bool {
    let params: &'static dyn signature::VerificationAlgorithm = match alg {
        RsaAlg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        RsaAlg::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
    };
    UnparsedPublicKey::new(params, public_key_pkcs1)
        .verify(message, signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(digests_equal(b"ab", b"ab"));
        assert!(!digests_equal(b"ab", b"ac"));
    }
}
