//! Refresh tokens: the form that redeems one, a credential for a refresh token the caller
//! holds, and the newest refresh token a user flow keeps between requests.

use tessera_proto::token::TokenResponse;

use super::{BoxFuture, Credential, Identity, TokenRequest, post};
use crate::authority::Authority;
use crate::error::ClientError;
use crate::http::TokenHttp;
use crate::secret::Secret;

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
