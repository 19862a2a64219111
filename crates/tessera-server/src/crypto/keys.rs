//! Token signing keys: RSA-2048 keys persisted in the store, each with a self-signed
//! certificate so the JWKS carries `x5t` and `x5c` as Entra's does. The parsed key is kept
//! in memory because parsing per signature would double the cost of every token.

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair};
use serde::Serialize;
use tessera_proto::b64;
use tessera_proto::discovery::{Jwk, JwkSet};
use tessera_proto::jwt::JwsHeader;

use crate::crypto;
use crate::error::ServerError;
use crate::store::{SigningKeyRecord, Store};

/// One signing key with its parsed form and published JWK.
pub(crate) struct SigningKey {
    pub kid: String,
    pair: RsaKeyPair,
    pub jwk: Jwk,
    /// The key's self-signed certificate (DER): SAML signatures and federation metadata carry it.
    pub cert_der: Vec<u8>,
    rng: aws_lc_rs::rand::SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Which JWS header Entra puts on a token: v1.0 access tokens carry `x5t` and `kid`, v2.0
/// tokens only `kid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderKind {
    V1,
    V2,
}

impl SigningKey {
    fn from_record(record: &SigningKeyRecord) -> Result<Self, ServerError> {
        let pair = RsaKeyPair::from_pkcs8(&record.pkcs8_der)
            .map_err(|e| ServerError::Crypto(format!("stored signing key: {e}")))?;
        let public = pair.public_key();
        let jwk = Jwk {
            kty: "RSA".into(),
            use_: "sig".into(),
            kid: record.kid.clone(),
            x5t: record.kid.clone(),
            n: b64::url_encode(public.modulus().big_endian_without_leading_zero()),
            e: b64::url_encode(public.exponent().big_endian_without_leading_zero()),
            x5c: vec![b64::std_encode(&record.cert_der)],
            issuer: None,
        };
        Ok(Self {
            kid: record.kid.clone(),
            pair,
            jwk,
            cert_der: record.cert_der.clone(),
            rng: aws_lc_rs::rand::SystemRandom::new(),
        })
    }

    /// An RSASSA-PKCS1-v1_5 SHA-256 signature of `message` (XML signatures' rsa-sha256).
    pub(crate) fn sign_rsa_sha256(&self, message: &[u8]) -> Result<Vec<u8>, ServerError> {
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut signature)
            .map_err(|_| ServerError::Crypto("RSA signing failed".into()))?;
        Ok(signature)
    }

    /// Signs `claims` as a compact RS256 JWS.
    pub(crate) fn sign(
        &self,
        kind: HeaderKind,
        claims: &impl Serialize,
    ) -> Result<String, ServerError> {
        let header = JwsHeader {
            alg: "RS256".into(),
            typ: Some("JWT".into()),
            x5t: (kind == HeaderKind::V1).then(|| self.kid.clone()),
            kid: Some(self.kid.clone()),
            ..Default::default()
        };
        let mut token = tessera_proto::jwt::signing_input(&header, claims)
            .map_err(|e| ServerError::Crypto(e.to_string()))?;
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                token.as_bytes(),
                &mut signature,
            )
            .map_err(|_| ServerError::Crypto("RSA signing failed".into()))?;
        token.push('.');
        token.push_str(&b64::url_encode(signature));
        Ok(token)
    }
}

/// The published key set; the newest key signs.
#[derive(Debug)]
pub(crate) struct KeySet {
    keys: Vec<Arc<SigningKey>>,
}

impl KeySet {
    /// Loads the persisted keys, creating the first one on a new store.
    pub(crate) async fn load_or_create(store: &dyn Store, now: i64) -> Result<Self, ServerError> {
        let mut records = store.signing_keys().await?;
        if records.is_empty() {
            let record = generate_key(now)?;
            store.insert_signing_key(record.clone()).await?;
            records.push(record);
        }
        let keys = records
            .iter()
            .map(SigningKey::from_record)
            .map(|k| k.map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { keys })
    }

    pub(crate) fn active(&self) -> &SigningKey {
        // load_or_create guarantees at least one key.
        #[allow(clippy::indexing_slicing)]
        &self.keys[self.keys.len() - 1]
    }

    /// Verifies an RS256 signature made by one of this server's keys.
    pub(crate) fn verify_rs256(&self, kid: &str, message: &[u8], signature: &[u8]) -> bool {
        let Some(key) = self.keys.iter().find(|k| k.kid == kid) else {
            return false;
        };
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            key.pair.public_key().as_ref(),
        )
        .verify(message, signature)
        .is_ok()
    }

    pub(crate) fn jwks(&self, issuer: Option<&str>) -> JwkSet {
        JwkSet {
            keys: self
                .keys
                .iter()
                .rev()
                .map(|k| Jwk {
                    issuer: issuer.map(str::to_owned),
                    ..k.jwk.clone()
                })
                .collect(),
        }
    }
}

fn generate_key(now: i64) -> Result<SigningKeyRecord, ServerError> {
    let crypto_err =
        |what: &str| ServerError::Crypto(format!("generating the signing key: {what}"));
    let pair =
        RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| crypto_err("RSA key generation"))?;
    let pkcs8 = pair.as_der().map_err(|_| crypto_err("PKCS#8 export"))?;
    let pkcs8 = pkcs8.as_ref().to_vec();
    let rc_key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &pkcs8.as_slice().into(),
        &rcgen::PKCS_RSA_SHA256,
    )
    .map_err(|e| crypto_err(&e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| crypto_err(&e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "tessera token signing");
    params.not_before = time::OffsetDateTime::from_unix_timestamp(now - 86_400)
        .map_err(|e| crypto_err(&e.to_string()))?;
    params.not_after = time::OffsetDateTime::from_unix_timestamp(now + 5 * 365 * 86_400)
        .map_err(|e| crypto_err(&e.to_string()))?;
    let cert = params
        .self_signed(&rc_key)
        .map_err(|e| crypto_err(&e.to_string()))?;
    let cert_der = cert.der().to_vec();
    Ok(SigningKeyRecord {
        kid: b64::url_encode(crypto::sha1(&cert_der)),
        pkcs8_der: pkcs8,
        cert_der,
        created_at: now,
    })
}
