//! Credentials: each knows how to get a token response for scopes from the token endpoint,
//! one file per way of proving who the client is. This root holds what they share: the
//! request, the identity a token is cached under, and the forms every grant posts.

mod assertion;
mod certificate;
mod device;
mod password;
mod refresh;
mod secret;

pub use assertion::{AssertionSource, ClientAssertionCredential};
pub use certificate::{ClientCertificateCredential, Thumbprint};
pub use device::{DeviceCodeCredential, DeviceCodeInfo};
pub use password::UsernamePasswordCredential;
pub use refresh::RefreshTokenCredential;
pub(crate) use refresh::{HeldRefreshToken, refresh_form, with_oidc};
pub use secret::ClientSecretCredential;

use std::future::Future;
use std::pin::Pin;

use serde_json::json;
use tessera_proto::token::{CLIENT_ASSERTION_TYPE_JWT, TokenResponse};

use crate::authority::Authority;
use crate::error::ClientError;
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

pub(crate) fn scope_text(request: &TokenRequest) -> String {
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

/// The client-credentials form authenticated by a signed assertion (certificate or federated).
pub(crate) fn assertion_form(
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
