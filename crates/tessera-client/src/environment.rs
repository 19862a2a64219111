//! Credentials chosen from the `AZURE_*` environment variables azure-identity reads, and a
//! chain that tries credentials in order.

use std::path::PathBuf;
use std::sync::Arc;

use tessera_proto::token::TokenResponse;

use crate::authority::{Authority, Cloud};
use crate::credential::{
    AssertionSource, BoxFuture, ClientAssertionCredential, ClientCertificateCredential,
    ClientSecretCredential, Credential, Identity, Thumbprint, TokenRequest,
    UsernamePasswordCredential,
};
use crate::error::ClientError;
use crate::http::TokenHttp;
use crate::secret::Secret;

/// Builds the credential the `AZURE_*` variables describe, as azure-identity's
/// `EnvironmentCredential` does: a client secret, a certificate file (PEM with its key, or
/// PFX), a federated token file (workload identity), or a user name and password, in that
/// order. `AZURE_AUTHORITY_HOST` points at another cloud or host.
///
/// Runnable example: `examples/environment.rs` (`cargo run -p tessera-client --example environment`),
/// run against `tessera serve` by the integration tests.
pub fn from_environment(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Arc<dyn Credential>, ClientError> {
    let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
    let need =
        |name: &str| get(name).ok_or_else(|| ClientError::Config(format!("{name} is not set")));
    let tenant = need("AZURE_TENANT_ID")?;
    let client_id = need("AZURE_CLIENT_ID")?;
    crate::authority::validate_tenant(&tenant)?;
    let cloud = match get("AZURE_AUTHORITY_HOST") {
        None => Cloud::Public,
        Some(host) => {
            let with_scheme = if host.contains("://") {
                host
            } else {
                format!("https://{host}")
            };
            let url = url::Url::parse(&with_scheme).map_err(|e| {
                ClientError::Config(format!("AZURE_AUTHORITY_HOST is not a URL: {e}"))
            })?;
            if url.scheme() != "https" {
                return Err(ClientError::Config(
                    "AZURE_AUTHORITY_HOST must be an https URL".into(),
                ));
            }
            match url.host_str() {
                Some("login.microsoftonline.com") => Cloud::Public,
                Some("login.microsoftonline.us") => Cloud::UsGovernment,
                Some("login.chinacloudapi.cn" | "login.partner.microsoftonline.cn") => Cloud::China,
                _ => Cloud::Custom(url),
            }
        }
    };
    let authority = Authority { cloud, tenant };
    if let Some(secret) = get("AZURE_CLIENT_SECRET") {
        return Ok(Arc::new(ClientSecretCredential {
            authority,
            client_id,
            secret: Secret::new(secret),
        }));
    }
    if let Some(path) = get("AZURE_CLIENT_CERTIFICATE_PATH") {
        let bytes = std::fs::read(&path).map_err(|e| {
            ClientError::io(format!("reading AZURE_CLIENT_CERTIFICATE_PATH {path}"), e)
        })?;
        let password = Secret::new(get("AZURE_CLIENT_CERTIFICATE_PASSWORD").unwrap_or_default());
        let mut credential =
            ClientCertificateCredential::from_file_bytes(authority, client_id, &bytes, &password)?;
        // azure-identity sends RS256 with the SHA-1 thumbprint; keep its wire shape.
        credential.thumbprint = Thumbprint::Sha1;
        credential.send_x5c = get("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN")
            .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        return Ok(Arc::new(credential));
    }
    if let Some(file) = get("AZURE_FEDERATED_TOKEN_FILE") {
        return Ok(Arc::new(ClientAssertionCredential {
            authority,
            client_id,
            source: AssertionSource::File(PathBuf::from(file)),
        }));
    }
    if let (Some(username), Some(password)) = (get("AZURE_USERNAME"), get("AZURE_PASSWORD")) {
        return Ok(Arc::new(UsernamePasswordCredential {
            authority,
            client_id,
            username,
            password: Secret::new(password),
        }));
    }
    Err(ClientError::Config(
        "AZURE_TENANT_ID and AZURE_CLIENT_ID are set, but none of AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE or AZURE_USERNAME/AZURE_PASSWORD".into(),
    ))
}

/// Tries each credential in turn and uses the first that gets a token; if all fail, the
/// error lists why each one failed.
#[derive(Debug)]
pub struct ChainedCredential {
    credentials: Vec<Arc<dyn Credential>>,
}

impl ChainedCredential {
    pub fn new(credentials: Vec<Arc<dyn Credential>>) -> Result<Self, ClientError> {
        if credentials.is_empty() {
            return Err(ClientError::Config(
                "a credential chain needs at least one credential".into(),
            ));
        }
        Ok(Self { credentials })
    }
}

impl Credential for ChainedCredential {
    fn identity(&self) -> Identity {
        // Tokens are cached under the chain's first credential: the chain stands for one
        // identity obtained in several possible ways.
        self.credentials.first().map_or_else(
            || Identity {
                authority: String::new(),
                client_id: String::new(),
                account: String::new(),
                binding: crate::credential::Binding::NONE,
            },
            |c| c.identity(),
        )
    }

    fn fetch<'a>(
        &'a self,
        http: &'a TokenHttp,
        request: &'a TokenRequest,
    ) -> BoxFuture<'a, TokenResponse> {
        Box::pin(async move {
            let mut failures = Vec::new();
            for c in &self.credentials {
                match c.fetch(http, request).await {
                    Ok(t) => return Ok(t),
                    Err(e) => failures.push(format!("- {}: {e}", c.identity().client_id)),
                }
            }
            Err(ClientError::Config(format!(
                "no credential in the chain could get a token:\n{}",
                failures.join("\n")
            )))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn picks_by_variables_and_explains_what_is_missing() {
        let e = from_environment(env(&[])).expect_err("nothing set");
        assert!(e.to_string().contains("AZURE_TENANT_ID"));
        let e = from_environment(env(&[("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_ID", "c")]))
            .expect_err("no credential");
        assert!(e.to_string().contains("AZURE_CLIENT_SECRET"));
        let c = from_environment(env(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s"),
        ]))
        .expect("secret");
        assert_eq!(
            c.identity().authority,
            "https://login.microsoftonline.com/t"
        );
        assert!(
            !format!("{c:?}").contains("\"s\""),
            "the secret is not printed"
        );
        let c = from_environment(env(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s"),
            ("AZURE_AUTHORITY_HOST", "login.microsoftonline.us"),
        ]))
        .expect("gov");
        assert_eq!(c.identity().authority, "https://login.microsoftonline.us/t");
        assert!(
            from_environment(env(&[
                ("AZURE_TENANT_ID", "t"),
                ("AZURE_CLIENT_ID", "c"),
                ("AZURE_CLIENT_SECRET", "s"),
                ("AZURE_AUTHORITY_HOST", "http://x")
            ]))
            .is_err()
        );
        assert!(
            from_environment(env(&[
                ("AZURE_TENANT_ID", "bad tenant"),
                ("AZURE_CLIENT_ID", "c"),
                ("AZURE_CLIENT_SECRET", "s")
            ]))
            .is_err()
        );
        let c = from_environment(env(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_USERNAME", "u"),
            ("AZURE_PASSWORD", "p"),
        ]))
        .expect("ropc");
        assert_eq!(c.identity().account, "u");
        assert!(ChainedCredential::new(Vec::new()).is_err());
    }
}
