//! Managed identity: tokens from the Azure Instance Metadata Service (IMDS) or from App
//! Service's identity endpoint (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`), with their
//! string-typed numbers and IMDS's retry rules (404, 410, 429 and 5xx are retried with
//! backoff, `Retry-After` honoured).

use std::time::Duration;

use tessera_proto::token::TokenResponse;

use crate::credential::{BoxFuture, Credential, Identity, TokenRequest};
use crate::error::ClientError;
use crate::http::{TokenHttp, backoff, retry_after};
use crate::secret::Secret;

const IMDS: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
const MAX_ATTEMPTS: u32 = 6;

/// Where the managed identity's tokens come from.
#[derive(Debug, Clone)]
pub enum ManagedIdentitySource {
    /// IMDS (virtual machines, AKS pods with pod identity): the token endpoint's URL.
    Imds { url: String },
    /// App Service and Functions: `IDENTITY_ENDPOINT` with `IDENTITY_HEADER`.
    AppService { endpoint: String, header: Secret },
}

/// The identity Azure gives the machine or app: no secret to keep.
///
/// Runnable example: `examples/managed_identity.rs` (`cargo run -p tessera-client --example managed_identity`),
/// run against `tessera serve` by the integration tests.
#[derive(Debug, Clone)]
pub struct ManagedIdentityCredential {
    pub source: ManagedIdentitySource,
    /// A user-assigned identity's client id; `None` for the system-assigned one.
    pub client_id: Option<String>,
}

impl ManagedIdentityCredential {
    /// App Service when `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set; otherwise IMDS (at
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST` when set). `AZURE_CLIENT_ID` picks a
    /// user-assigned identity.
    pub fn from_environment(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |n: &str| lookup(n).filter(|v| !v.is_empty());
        let source = match (get("IDENTITY_ENDPOINT"), get("IDENTITY_HEADER")) {
            (Some(endpoint), Some(header)) => ManagedIdentitySource::AppService {
                endpoint,
                header: Secret::new(header),
            },
            _ => ManagedIdentitySource::Imds {
                url: get("AZURE_POD_IDENTITY_AUTHORITY_HOST").map_or_else(
                    || IMDS.to_owned(),
                    |h| format!("{}/metadata/identity/oauth2/token", h.trim_end_matches('/')),
                ),
            },
        };
        Self {
            source,
            client_id: get("AZURE_CLIENT_ID"),
        }
    }
}

/// Managed identity endpoints take a resource, not scopes: `https://graph.microsoft.com/.default`
/// becomes `https://graph.microsoft.com`.
fn resource(request: &TokenRequest) -> Result<String, ClientError> {
    match request.scopes.as_slice() {
        [one] => Ok(one.strip_suffix("/.default").unwrap_or(one).to_owned()),
        _ => Err(ClientError::Config(
            "managed identity tokens are for one resource: pass exactly one scope".into(),
        )),
    }
}

fn number(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Credential for ManagedIdentityCredential {
    fn identity(&self) -> Identity {
        let authority = match &self.source {
            ManagedIdentitySource::Imds { url } => url.clone(),
            ManagedIdentitySource::AppService { endpoint, .. } => endpoint.clone(),
        };
        Identity {
            authority,
            client_id: self
                .client_id
                .clone()
                .unwrap_or_else(|| "system-assigned".into()),
            account: String::new(),
            binding: crate::credential::Binding::NONE,
        }
    }

    fn fetch<'a>(
        &'a self,
        http: &'a TokenHttp,
        request: &'a TokenRequest,
    ) -> BoxFuture<'a, TokenResponse> {
        Box::pin(async move {
            let resource = resource(request)?;
            let mut query = vec![("resource", resource)];
            if let Some(c) = &self.client_id {
                query.push(("client_id", c.clone()));
            }
            let (url, api_version) = match &self.source {
                ManagedIdentitySource::Imds { url } => (url.clone(), "2018-02-01"),
                ManagedIdentitySource::AppService { endpoint, .. } => {
                    (endpoint.clone(), "2019-08-01")
                }
            };
            query.push(("api-version", api_version.to_owned()));
            let mut attempt = 0;
            let body: serde_json::Value = loop {
                attempt += 1;
                let mut req = http.reqwest()?.get(&url).query(&query);
                req = match &self.source {
                    ManagedIdentitySource::Imds { .. } => req.header("Metadata", "true"),
                    ManagedIdentitySource::AppService { header, .. } => {
                        req.header("X-IDENTITY-HEADER", header.expose())
                    }
                };
                let response = req.send().await.map_err(|e| {
                    ClientError::Http(format!("managed identity endpoint {url}: {e}"))
                })?;
                let status = response.status().as_u16();
                if matches!(status, 404 | 410 | 429 | 500..=599) && attempt < MAX_ATTEMPTS {
                    let wait = retry_after(response.headers()).unwrap_or_else(|| backoff(attempt));
                    tokio::time::sleep(wait.min(Duration::from_secs(30))).await;
                    continue;
                }
                let text = response
                    .text()
                    .await
                    .map_err(|e| ClientError::Http(e.to_string()))?;
                if !(200..300).contains(&status) {
                    let detail: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                    let description = detail["error_description"]
                        .as_str()
                        .or_else(|| detail["message"].as_str())
                        .unwrap_or("no detail");
                    return Err(ClientError::Http(format!(
                        "managed identity endpoint answered HTTP {status}: {description}"
                    )));
                }
                break serde_json::from_str(&text).map_err(|_| {
                    ClientError::Http("the managed identity endpoint did not answer JSON".into())
                })?;
            };
            let access_token = body["access_token"]
                .as_str()
                .ok_or_else(|| {
                    ClientError::Http("no access_token in the managed identity answer".into())
                })?
                .to_owned();
            let now = http.clock().unix();
            let expires_in = number(&body["expires_in"])
                .or_else(|| number(&body["expires_on"]).map(|on| on - now))
                .unwrap_or(3600)
                .max(1);
            Ok(TokenResponse {
                token_type: "Bearer".into(),
                scope: None,
                expires_in,
                ext_expires_in: expires_in,
                // MSAL's managed identity rule: tokens of two hours or more refresh at half life.
                refresh_in: (expires_in >= 7200).then_some(expires_in / 2),
                access_token,
                refresh_token: None,
                id_token: None,
                client_info: None,
            })
        })
    }
}
