//! A client that proves itself with an assertion from elsewhere (a string, a file re-read
//! per request, or a command): workload identity federation or an outside signer.

use std::path::PathBuf;

use tessera_proto::token::TokenResponse;

use super::{Binding, BoxFuture, Credential, Identity, TokenRequest, assertion_form, post};
use crate::authority::Authority;
use crate::error::ClientError;
use crate::http::TokenHttp;
use crate::secret::Secret;

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
