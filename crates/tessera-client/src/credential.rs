//! Credentials: each knows how to get a token response for scopes from the token endpoint.
//! Client secret, client certificate (PS256 with `x5t#S256` by default, RS256 with SHA-1
//! `x5t` on request, `x5c` optional), client assertion (string, file or command), username
//! and password, device code and refresh token.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use serde_json::json;
use tessera_proto::b64;
use tessera_proto::token::{CLIENT_ASSERTION_TYPE_JWT, TokenResponse};

use crate::authority::Authority;
use crate::error::{AadstsFailure, ClientError};
use crate::http::TokenHttp;
use crate::secret::Secret;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ClientError>> + Send + 'a>>;

/// What a caller asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenRequest {
    pub scopes: Vec<String>,
    /// A claims request (JSON), e.g. from a CAE challenge; merged with `cp1` capability.
    pub claims: Option<String>,
    /// Declare CAE capability (`xms_cc` `cp1`).
    pub cae: bool,
}

impl TokenRequest {
    pub fn new(scopes: &[&str]) -> Self {
        Self {
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        }
    }

    /// The `claims` parameter: the challenge's claims merged with `xms_cc` when CAE is on.
    pub fn claims_parameter(&self) -> Result<Option<String>, ClientError> {
        let mut merged = match &self.claims {
            Some(text) => serde_json::from_str::<serde_json::Value>(text)
                .map_err(|e| ClientError::Config(format!("the claims request is not JSON: {e}")))?,
            None if !self.cae => return Ok(None),
            None => json!({}),
        };
        if self.cae
            && let Some(obj) = merged.as_object_mut()
        {
            let at = obj.entry("access_token").or_insert_with(|| json!({}));
            if let Some(at) = at.as_object_mut() {
                at.insert("xms_cc".into(), json!({"values": ["cp1"]}));
            }
        }
        Ok(Some(merged.to_string()))
    }
}

/// Who a token belongs to, for cache keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    pub authority: String,
    pub client_id: String,
    /// The user for delegated credentials; empty for app-only ones.
    pub account: String,
    /// The credential that earns the tokens (a secret, a certificate, an assertion source):
    /// another credential for the same client and account never reads them, so a wrong or
    /// rotated secret is refused by the server instead of answered from the cache.
    pub binding: Binding,
}

impl Identity {
    /// `account` is empty for app-only credentials.
    pub fn new(authority: &Authority, client_id: &str, account: impl Into<String>) -> Self {
        Self {
            authority: authority.url(),
            client_id: client_id.to_owned(),
            account: account.into(),
            binding: Binding::NONE,
        }
    }

    /// The same identity, its tokens bound to the credential `binding` stands for.
    #[must_use]
    pub fn bound(self, binding: Binding) -> Self {
        Self { binding, ..self }
    }
}

/// A digest of the credential that earned a token. It is never written as is: the
/// persistent cache keys entries by an HMAC of it under the cache's own key, so an entry's
/// name says nothing about the secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Binding([u8; 32]);

impl Binding {
    /// Not bound: tokens that belong to a signed-in account (its refresh token earns them).
    pub const NONE: Binding = Binding([0; 32]);

    /// `kind` names what `material` is ("secret", "x5t#S256", "assertion-file", ...), so
    /// equal bytes of two kinds never bind alike.
    pub fn of(kind: &str, material: &[u8]) -> Self {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(b"tessera credential binding v1\0");
        ctx.update(kind.as_bytes());
        ctx.update(b"\0");
        ctx.update(material);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        Self(out)
    }

    pub fn is_none(&self) -> bool {
        *self == Self::NONE
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_none() {
            "Binding(none)"
        } else {
            "Binding(..)"
        })
    }
}

/// A way to obtain tokens.
pub trait Credential: Send + Sync + std::fmt::Debug {
    fn identity(&self) -> Identity;

    fn fetch<'a>(
        &'a self,
        http: &'a TokenHttp,
        request: &'a TokenRequest,
    ) -> BoxFuture<'a, TokenResponse>;
}

fn scope_text(request: &TokenRequest) -> String {
    request.scopes.join(" ")
}

pub(crate) async fn post(
    http: &TokenHttp,
    authority: &Authority,
    mut form: Vec<(&str, String)>,
    request: &TokenRequest,
) -> Result<TokenResponse, ClientError> {
    if let Some(claims) = request.claims_parameter()? {
        form.push(("claims", claims));
    }
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    http.token(&authority.token_endpoint(), &pairs).await
}

/// A confidential client with a secret.
///
/// Runnable example: `examples/client_secret.rs` (`cargo run -p tessera-client --example client_secret`),
/// run against `tessera serve` by the integration tests.
#[derive(Debug, Clone)]
pub struct ClientSecretCredential {
    pub authority: Authority,
    pub client_id: String,
    pub secret: Secret,
}

impl Credential for ClientSecretCredential {
    fn identity(&self) -> Identity {
        Identity::new(&self.authority, &self.client_id, "")
            .bound(Binding::of("secret", self.secret.expose().as_bytes()))
    }

    fn fetch<'a>(
        &'a self,
        http: &'a TokenHttp,
        request: &'a TokenRequest,
    ) -> BoxFuture<'a, TokenResponse> {
        Box::pin(async move {
            let form = vec![
                ("grant_type", "client_credentials".to_owned()),
                ("client_id", self.client_id.clone()),
                ("client_secret", self.secret.expose().to_owned()),
                ("scope", scope_text(request)),
            ];
            post(http, &self.authority, form, request).await
        })
    }
}

/// The client-credentials form authenticated by a signed assertion (certificate or federated).
fn assertion_form(
    client_id: &str,
    assertion: &Secret,
    request: &TokenRequest,
) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "client_credentials".to_owned()),
        ("client_id", client_id.to_owned()),
        (
            "client_assertion_type",
            CLIENT_ASSERTION_TYPE_JWT.to_owned(),
        ),
        ("client_assertion", assertion.expose().to_owned()),
        ("scope", scope_text(request)),
    ]
}

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

/// Where a client assertion comes from (workload identity federation and the like).
#[derive(Debug, Clone)]
pub enum AssertionSource {
    Value(Secret),
    /// Re-read on every request, so a rotated token file is picked up.
    File(PathBuf),
    /// A program whose standard output is the assertion.
    Command(Vec<String>),
}

/// A client that proves itself with an assertion from elsewhere: workload identity
/// federation (a Kubernetes or GitHub token) or a signer outside this process.
///
/// Runnable example: `examples/client_assertion.rs` (`cargo run -p tessera-client --example client_assertion`),
/// run against `tessera serve` by the integration tests.
#[derive(Debug, Clone)]
pub struct ClientAssertionCredential {
    pub authority: Authority,
    pub client_id: String,
    pub source: AssertionSource,
}

impl ClientAssertionCredential {
    async fn assertion(&self) -> Result<Secret, ClientError> {
        match &self.source {
            AssertionSource::Value(s) => Ok(s.clone()),
            AssertionSource::File(p) => {
                let text = tokio::fs::read_to_string(p).await.map_err(|e| {
                    ClientError::io(
                        format!("reading the client assertion file {}", p.display()),
                        e,
                    )
                })?;
                Ok(Secret::new(text.trim().to_owned()))
            }
            AssertionSource::Command(argv) => {
                let (program, args) = argv
                    .split_first()
                    .ok_or_else(|| ClientError::Config("the assertion command is empty".into()))?;
                let out = tokio::process::Command::new(program)
                    .args(args)
                    .output()
                    .await
                    .map_err(|e| ClientError::io(format!("running {program}"), e))?;
                if !out.status.success() {
                    return Err(ClientError::Config(format!(
                        "the assertion command {program} failed with {}",
                        out.status
                    )));
                }
                Ok(Secret::new(
                    String::from_utf8_lossy(&out.stdout).trim().to_owned(),
                ))
            }
        }
    }
}

impl Credential for ClientAssertionCredential {
    fn identity(&self) -> Identity {
        // The source, not the assertion: a file or command yields a fresh assertion each
        // time for the same federated identity.
        let binding = match &self.source {
            AssertionSource::Value(s) => Binding::of("assertion", s.expose().as_bytes()),
            AssertionSource::File(p) => {
                Binding::of("assertion-file", p.as_os_str().as_encoded_bytes())
            }
            AssertionSource::Command(argv) => {
                Binding::of("assertion-command", argv.join("\0").as_bytes())
            }
        };
        Identity::new(&self.authority, &self.client_id, "").bound(binding)
    }

    fn fetch<'a>(
        &'a self,
        http: &'a TokenHttp,
        request: &'a TokenRequest,
    ) -> BoxFuture<'a, TokenResponse> {
        Box::pin(async move {
            let assertion = self.assertion().await?;
            let form = assertion_form(&self.client_id, &assertion, request);
            post(http, &self.authority, form, request).await
        })
    }
}

/// User and password (ROPC). Works, but Microsoft discourages it: it cannot do MFA and
/// exposes the password to the app; prefer device code or interactive sign-in.
///
/// Runnable example: `examples/username_password.rs` (`cargo run -p tessera-client --example username_password`),
/// run against `tessera serve` by the integration tests.
#[derive(Debug, Clone)]
pub struct UsernamePasswordCredential {
    pub authority: Authority,
    pub client_id: String,
    pub username: String,
    pub password: Secret,
}

impl Credential for UsernamePasswordCredential {
    fn identity(&self) -> Identity {
        Identity::new(
            &self.authority,
            &self.client_id,
            self.username.to_ascii_lowercase(),
        )
        .bound(Binding::of("password", self.password.expose().as_bytes()))
    }

    fn fetch<'a>(
        &'a self,
        http: &'a TokenHttp,
        request: &'a TokenRequest,
    ) -> BoxFuture<'a, TokenResponse> {
        Box::pin(async move {
            tracing::warn!(
                "username/password sign-in is discouraged: it cannot do MFA; prefer device code or interactive sign-in"
            );
            let form = vec![
                ("grant_type", "password".to_owned()),
                ("client_id", self.client_id.clone()),
                ("username", self.username.clone()),
                ("password", self.password.expose().to_owned()),
                ("scope", with_oidc(request)),
                ("client_info", "1".to_owned()),
            ];
            post(http, &self.authority, form, request).await
        })
    }
}

/// User flows ask for a refresh token and an ID token too, as MSAL does.
pub(crate) fn with_oidc(request: &TokenRequest) -> String {
    let mut scopes = request.scopes.clone();
    for s in ["offline_access", "openid", "profile"] {
        if !scopes.iter().any(|x| x.eq_ignore_ascii_case(s)) {
            scopes.push(s.to_owned());
        }
    }
    scopes.join(" ")
}

/// The form that redeems a refresh token (with the OpenID scopes, so a new refresh token and
/// `client_info` come back); shared by every credential that holds one.
pub(crate) fn refresh_form(
    client_id: &str,
    refresh_token: &str,
    request: &TokenRequest,
) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "refresh_token".to_owned()),
        ("client_id", client_id.to_owned()),
        ("refresh_token", refresh_token.to_owned()),
        ("scope", with_oidc(request)),
        ("client_info", "1".to_owned()),
    ]
}

/// A refresh token held by the caller. The newest refresh token is kept after each use.
///
/// Runnable example: `examples/username_password.rs`, which redeems the refresh token the
/// password flow returned.
#[derive(Debug)]
pub struct RefreshTokenCredential {
    pub authority: Authority,
    pub client_id: String,
    /// Optional secret for confidential clients.
    pub client_secret: Option<Secret>,
    refresh_token: std::sync::Mutex<Secret>,
}

impl RefreshTokenCredential {
    pub fn new(authority: Authority, client_id: impl Into<String>, refresh_token: Secret) -> Self {
        Self {
            authority,
            client_id: client_id.into(),
            client_secret: None,
            refresh_token: std::sync::Mutex::new(refresh_token),
        }
    }

    pub fn current_refresh_token(&self) -> Secret {
        self.refresh_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Credential for RefreshTokenCredential {
    fn identity(&self) -> Identity {
        Identity::new(&self.authority, &self.client_id, "refresh-token")
    }

    fn fetch<'a>(
        &'a self,
        http: &'a TokenHttp,
        request: &'a TokenRequest,
    ) -> BoxFuture<'a, TokenResponse> {
        Box::pin(async move {
            let mut form = refresh_form(
                &self.client_id,
                self.current_refresh_token().expose(),
                request,
            );
            if let Some(s) = &self.client_secret {
                form.push(("client_secret", s.expose().to_owned()));
            }
            let response = post(http, &self.authority, form, request).await?;
            if let Some(rt) = &response.refresh_token {
                *self
                    .refresh_token
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Secret::new(rt.clone());
            }
            Ok(response)
        })
    }
}

/// The newest refresh token of an interactive credential, so that later tokens (refresh
/// ahead of expiry, other scopes) come silently instead of asking the person again.
#[derive(Default)]
pub(crate) struct HeldRefreshToken(std::sync::Mutex<Option<Secret>>);

impl HeldRefreshToken {
    pub(crate) fn keep(&self, response: &TokenResponse) {
        if let Some(rt) = &response.refresh_token {
            *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Secret::new(rt.clone()));
        }
    }

    /// A token from the held refresh token; `None` when there is none or Entra refused it
    /// (expired, revoked, MFA now required): then the person must sign in again.
    pub(crate) async fn redeem(
        &self,
        http: &TokenHttp,
        authority: &Authority,
        client_id: &str,
        request: &TokenRequest,
    ) -> Option<Result<TokenResponse, ClientError>> {
        let rt = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()?;
        let form = refresh_form(client_id, rt.expose(), request);
        match post(http, authority, form, request).await {
            Ok(response) => {
                self.keep(&response);
                Some(Ok(response))
            }
            Err(ClientError::Aadsts(f)) => {
                tracing::info!(error = %f.response.error, codes = ?f.response.error_codes, "the refresh token was refused; asking the person to sign in again");
                *self
                    .0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                None
            }
            // Network trouble is not a reason to interrupt the person.
            Err(e) => Some(Err(e)),
        }
    }
}

/// What the device code endpoint answered, for the caller to show to the user.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct DeviceCodeInfo {
    pub user_code: String,
    pub verification_uri: String,
    #[serde(deserialize_with = "number_or_string")]
    pub expires_in: i64,
    #[serde(default = "five", deserialize_with = "number_or_string")]
    pub interval: i64,
    pub message: String,
    device_code: String,
}

fn five() -> i64 {
    5
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    match v {
        serde_json::Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| serde::de::Error::custom("not an integer")),
        serde_json::Value::String(s) => s.parse().map_err(serde::de::Error::custom),
        _ => Err(serde::de::Error::custom("expected a number")),
    }
}

use serde::Deserialize as _;

/// Device code: the callback shows the message; polling honours `interval` and `slow_down`.
/// After the first sign-in the newest refresh token is held, so later tokens (refresh ahead,
/// other scopes) come without asking the person again until Entra refuses it.
///
/// Runnable example: `examples/device_code.rs` (`cargo run -p tessera-client --example device_code`),
/// run against `tessera serve` by the integration tests.
pub struct DeviceCodeCredential {
    pub authority: Authority,
    pub client_id: String,
    prompt: Arc<dyn Fn(&DeviceCodeInfo) + Send + Sync>,
    refresh: HeldRefreshToken,
}

impl std::fmt::Debug for DeviceCodeCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCodeCredential")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl DeviceCodeCredential {
    pub fn new(
        authority: Authority,
        client_id: impl Into<String>,
        prompt: impl Fn(&DeviceCodeInfo) + Send + Sync + 'static,
    ) -> Self {
        Self {
            authority,
            client_id: client_id.into(),
            prompt: Arc::new(prompt),
            refresh: HeldRefreshToken::default(),
        }
    }
}

impl Credential for DeviceCodeCredential {
    fn identity(&self) -> Identity {
        Identity::new(&self.authority, &self.client_id, "device-code")
    }

    fn fetch<'a>(
        &'a self,
        http: &'a TokenHttp,
        request: &'a TokenRequest,
    ) -> BoxFuture<'a, TokenResponse> {
        Box::pin(async move {
            if let Some(done) = self
                .refresh
                .redeem(http, &self.authority, &self.client_id, request)
                .await
            {
                return done;
            }
            let scope = with_oidc(request);
            let value = http
                .post_form(
                    &self.authority.device_code_endpoint(),
                    &[("client_id", &self.client_id), ("scope", &scope)],
                )
                .await?;
            let info: DeviceCodeInfo = serde_json::from_value(value).map_err(|e| {
                ClientError::Http(format!(
                    "the device code answer has an unexpected shape: {e}"
                ))
            })?;
            (self.prompt)(&info);
            let mut interval = info.interval.max(1);
            let deadline = http.clock().unix() + info.expires_in;
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(
                    u64::try_from(interval).unwrap_or(5),
                ))
                .await;
                let form = vec![
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:device_code".to_owned(),
                    ),
                    ("client_id", self.client_id.clone()),
                    ("device_code", info.device_code.clone()),
                ];
                match post(http, &self.authority, form, request).await {
                    Ok(t) => {
                        self.refresh.keep(&t);
                        return Ok(t);
                    }
                    Err(ClientError::Aadsts(f)) if f.response.error == "authorization_pending" => {}
                    Err(ClientError::Aadsts(f)) if f.response.error == "slow_down" => interval += 5,
                    Err(ClientError::Aadsts(f)) if f.response.error == "authorization_declined" => {
                        return Err(ClientError::Interaction(
                            "the sign-in was declined on the other device".into(),
                        ));
                    }
                    Err(ClientError::Aadsts(f)) if f.response.error == "expired_token" => {
                        return Err(ClientError::Interaction(format!(
                            "the device code expired before the sign-in was finished: {}",
                            first_line(&f)
                        )));
                    }
                    Err(e) => return Err(e),
                }
                if http.clock().unix() > deadline {
                    return Err(ClientError::Interaction(
                        "the device code expired before the sign-in was finished".into(),
                    ));
                }
            }
        })
    }
}

fn first_line(f: &AadstsFailure) -> String {
    f.response
        .error_description
        .split(" Trace ID:")
        .next()
        .unwrap_or_default()
        .to_owned()
}
