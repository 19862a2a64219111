//! Username and password (ROPC), kept for the scripts that still use it.

use tessera_proto::token::TokenResponse;

use super::{Binding, BoxFuture, Credential, Identity, TokenRequest, post, with_oidc};
use crate::authority::Authority;
use crate::http::TokenHttp;
use crate::secret::Secret;

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
