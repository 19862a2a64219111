//! A confidential client with a certificate: a client assertion signed per request (PS256
//! with `x5t#S256` by default, RS256 with SHA-1 `x5t` on request, `x5c` optional).

use std::sync::Arc;

use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use serde_json::json;
use tessera_proto::b64;
use tessera_proto::token::TokenResponse;

use super::{Binding, BoxFuture, Credential, Identity, TokenRequest, assertion_form, post};
use crate::authority::Authority;
use crate::error::ClientError;
use crate::http::TokenHttp;
use crate::secret::Secret;

/// How a certificate credential names its certificate in the assertion header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Thumbprint {
    /// PS256 with `x5t#S256` (what Microsoft documents today).
    #[default]
    Sha256,
    /// RS256 with SHA-1 `x5t` (older clients, azure-identity).
    Sha1,
}

/// A confidential client with a certificate: signs a client assertion per request.
///
/// Runnable example: `examples/client_certificate.rs` (`cargo run -p tessera-client --example client_certificate`),
/// run against `tessera serve` by the integration tests.
pub struct ClientCertificateCredential {
    pub authority: Authority,
    pub client_id: String,
    key: Arc<RsaKeyPair>,
    cert_der: Vec<u8>,
    chain: Vec<Vec<u8>>,
    pub thumbprint: Thumbprint,
    /// Send the certificate chain in `x5c` (subject name / issuer authentication).
    pub send_x5c: bool,
}

impl std::fmt::Debug for ClientCertificateCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificateCredential")
            .field("client_id", &self.client_id)
            .field("x5t#S256", &self.thumbprint_sha256())
            .finish_non_exhaustive()
    }
}

fn pem_chain(cert_pem: &[u8]) -> Result<Vec<Vec<u8>>, ClientError> {
    rustls_pki_types::CertificateDer::pem_slice_iter(cert_pem)
        .map(|c| c.map(|d| d.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| ClientError::Config(format!("the certificate PEM is not valid: {e}")))
}

/// The `ENCRYPTED PRIVATE KEY` block of a PEM file that may also hold certificates.
fn encrypted_key_block(pem: &[u8]) -> Option<&str> {
    const BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
    const END: &str = "-----END ENCRYPTED PRIVATE KEY-----";
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find(BEGIN)?;
    let end = start + text[start..].find(END)? + END.len();
    Some(&text[start..end])
}

impl ClientCertificateCredential {
    /// From PEM: the certificate (chain) and an unencrypted PKCS#8 or PKCS#1 RSA key (they
    /// may share one file).
    pub fn from_pem(
        authority: Authority,
        client_id: impl Into<String>,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<Self, ClientError> {
        Self::from_pem_with_password(authority, client_id, cert_pem, key_pem, None)
    }

    /// From a certificate file's bytes, whichever form it is: PEM holding the certificate and
    /// its key (plain or encrypted PKCS#8), or PFX / PKCS#12. `password` opens an encrypted
    /// key or a PFX and is ignored otherwise.
    pub fn from_file_bytes(
        authority: Authority,
        client_id: impl Into<String>,
        bytes: &[u8],
        password: &Secret,
    ) -> Result<Self, ClientError> {
        // PEM is text that starts with its armour (possibly after whitespace); PFX is DER.
        if bytes.trim_ascii_start().starts_with(b"-----") {
            Self::from_pem_with_password(authority, client_id, bytes, bytes, Some(password))
        } else {
            Self::from_pfx(authority, client_id, bytes, password)
        }
    }

    /// From PEM whose key may be encrypted PKCS#8 (`BEGIN ENCRYPTED PRIVATE KEY`, PBES2 as
    /// `openssl pkcs8 -topk8` writes it); `password` opens it and is ignored for plain keys.
    pub fn from_pem_with_password(
        authority: Authority,
        client_id: impl Into<String>,
        cert_pem: &[u8],
        key_pem: &[u8],
        password: Option<&Secret>,
    ) -> Result<Self, ClientError> {
        if let Some(block) = encrypted_key_block(key_pem) {
            let chain = pem_chain(cert_pem)?;
            let Some(password) = password.filter(|p| !p.expose().is_empty()) else {
                return Err(ClientError::Config(
                    "the private key is encrypted: give its password (AZURE_CLIENT_CERTIFICATE_PASSWORD)".into(),
                ));
            };
            let invalid = |e: &dyn std::fmt::Display| {
                ClientError::Config(format!("the encrypted private key is not valid: {e}"))
            };
            let (_, der) =
                pkcs8::der::pem::decode_vec(block.as_bytes()).map_err(|e| invalid(&e))?;
            let info =
                <pkcs8::EncryptedPrivateKeyInfoRef<'_> as pkcs8::der::Decode>::from_der(&der)
                    .map_err(|e| invalid(&e))?;
            let der = info.decrypt(password.expose()).map_err(|_| {
                ClientError::Config(
                    "the encrypted private key did not open: wrong password, or an encryption scheme other than PBES2 (PBKDF2 or scrypt with AES-CBC)".into(),
                )
            })?;
            let pair = RsaKeyPair::from_pkcs8(der.as_bytes()).map_err(|e| {
                ClientError::Config(format!("the private key is not a usable RSA key: {e}"))
            })?;
            return Self::new(authority, client_id.into(), pair, chain);
        }
        let chain = pem_chain(cert_pem)?;
        let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| ClientError::Config(format!("no usable private key in the PEM: {e}")))?;
        let pair = match &key {
            rustls_pki_types::PrivateKeyDer::Pkcs8(k) => {
                RsaKeyPair::from_pkcs8(k.secret_pkcs8_der())
            }
            rustls_pki_types::PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => {
                return Err(ClientError::Config(
                    "the private key must be RSA (Entra client certificates are RSA)".into(),
                ));
            }
        }
        .map_err(|e| {
            ClientError::Config(format!("the private key is not a usable RSA key: {e}"))
        })?;
        Self::new(authority, client_id.into(), pair, chain)
    }

    /// From a PFX / PKCS#12 file's bytes and its password.
    pub fn from_pfx(
        authority: Authority,
        client_id: impl Into<String>,
        pfx: &[u8],
        password: &Secret,
    ) -> Result<Self, ClientError> {
        let store = p12_keystore::KeyStore::from_pkcs12(
            pfx,
            password.expose(),
            p12_keystore::Pkcs12ImportPolicy::Relaxed,
        )
        .map_err(|e| {
            ClientError::Config(format!(
                "the PFX could not be opened (wrong password?): {e}"
            ))
        })?;
        let (_, chain) = store.private_key_chain().ok_or_else(|| {
            ClientError::Config("the PFX holds no private key with a certificate".into())
        })?;
        let pair = RsaKeyPair::from_pkcs8(chain.key().as_der())
            .or_else(|_| RsaKeyPair::from_der(chain.key().as_der()))
            .map_err(|e| {
                ClientError::Config(format!("the PFX key is not a usable RSA key: {e}"))
            })?;
        let certs = chain.certs().iter().map(|c| c.as_der().to_vec()).collect();
        Self::new(authority, client_id.into(), pair, certs)
    }

    fn new(
        authority: Authority,
        client_id: String,
        pair: RsaKeyPair,
        chain: Vec<Vec<u8>>,
    ) -> Result<Self, ClientError> {
        let cert_der = chain
            .first()
            .cloned()
            .ok_or_else(|| ClientError::Config("no certificate given".into()))?;
        Ok(Self {
            authority,
            client_id,
            key: Arc::new(pair),
            cert_der,
            chain,
            thumbprint: Thumbprint::Sha256,
            send_x5c: false,
        })
    }

    pub fn thumbprint_sha256(&self) -> String {
        b64::url_encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            &self.cert_der,
        ))
    }

    /// Upper-case hex SHA-1, as the Azure portal shows it.
    pub fn thumbprint_sha1_hex(&self) -> String {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &self.cert_der)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }

    /// A signed client assertion for the token endpoint, valid for 10 minutes.
    pub fn assertion(&self, now: i64) -> Result<Secret, ClientError> {
        let mut header = json!({"alg": "PS256", "typ": "JWT"});
        match self.thumbprint {
            Thumbprint::Sha256 => header["x5t#S256"] = json!(self.thumbprint_sha256()),
            Thumbprint::Sha1 => {
                header["alg"] = json!("RS256");
                header["x5t"] = json!(b64::url_encode(aws_lc_rs::digest::digest(
                    &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
                    &self.cert_der
                )));
            }
        }
        if self.send_x5c {
            header["x5c"] = json!(self.chain.iter().map(b64::std_encode).collect::<Vec<_>>());
        }
        let claims = json!({
            "aud": self.authority.token_endpoint(),
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + 600,
        });
        let input = tessera_proto::jwt::signing_input(&header, &claims)
            .map_err(|e| ClientError::Config(e.to_string()))?;
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        let padding: &'static dyn aws_lc_rs::signature::RsaEncoding =
            if self.thumbprint == Thumbprint::Sha1 {
                &RSA_PKCS1_SHA256
            } else {
                &RSA_PSS_SHA256
            };
        self.key
            .sign(
                padding,
                &aws_lc_rs::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| ClientError::Config("signing the client assertion failed".into()))?;
        let _ = self.key.public_key();
        Ok(Secret::new(format!("{input}.{}", b64::url_encode(sig))))
    }
}

impl Credential for ClientCertificateCredential {
    fn identity(&self) -> Identity {
        Identity::new(&self.authority, &self.client_id, "")
            .bound(Binding::of("x5t#S256", self.thumbprint_sha256().as_bytes()))
    }

    fn fetch<'a>(
        &'a self,
        http: &'a TokenHttp,
        request: &'a TokenRequest,
    ) -> BoxFuture<'a, TokenResponse> {
        Box::pin(async move {
            let assertion = self.assertion(http.server_now())?;
            let form = assertion_form(&self.client_id, &assertion, request);
            post(http, &self.authority, form, request).await.map_err(|e| match e {
                // Say which certificate was sent: the usual cause is a different one registered.
                ClientError::Aadsts(mut f) if f.code() == Some(700027) => {
                    f.context = Some(format!(
                        "this client sent the certificate with SHA-1 thumbprint {} (x5t#S256 {}); compare with the app's registered certificates",
                        self.thumbprint_sha1_hex(),
                        self.thumbprint_sha256()
                    ));
                    ClientError::Aadsts(f)
                }
                other => other,
            })
        })
    }
}
