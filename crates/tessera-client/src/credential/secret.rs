//! A confidential client with a secret: the secret goes in the form of every request.

use tessera_proto::token::TokenResponse;

use super::{Binding, BoxFuture, Credential, Identity, TokenRequest, post, scope_text};
use crate::authority::Authority;
use crate::http::TokenHttp;
use crate::secret::Secret;

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
