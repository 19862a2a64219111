//! A local managed identity endpoint (`tessera exec`, `tessera agent`): SDKs that look for
//! App Service's or IMDS's token endpoint get their tokens here, from `TokenProvider`s (the
//! shared cache, refreshed ahead of expiry, one upstream request per token however many
//! processes ask). Loopback only; each request must carry the per-run secret (App Service's
//! header, or the secret path prefix IMDS clients are given); an audit line per request
//! names the credential and resource, never the token.

pub mod protocol;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::credential::TokenRequest;
use crate::error::ClientError;
use crate::provider::TokenProvider;
use crate::secret::Secret;
use protocol::{IdentityRequest, Refusal, Selector};

/// One credential the endpoint serves.
#[derive(Debug, Clone)]
pub struct ServedCredential {
    /// A name requests may use (`object_id`, `principal_id`, `mi_res_id`), e.g. a profile's.
    pub name: String,
    /// The app's client id, which requests may give as `client_id`, and which answers carry.
    pub client_id: String,
    pub provider: TokenProvider,
}

/// The endpoint: credentials (the first serves requests that name none) and the per-run
/// secret.
#[derive(Debug)]
pub struct IdentityEndpoint {
    credentials: Vec<ServedCredential>,
    secret: Secret,
}

/// The environment that points SDKs at an endpoint listening on `addr` (App Service's
/// 2019 and 2017 variables, and IMDS's host override with the secret path prefix).
pub fn environment(addr: SocketAddr, secret: &Secret) -> Vec<(String, String)> {
    let base = format!("http://{addr}");
    let token_url = format!("{base}{}", protocol::APP_SERVICE_PATH);
    vec![
        ("IDENTITY_ENDPOINT".into(), token_url.clone()),
        ("IDENTITY_HEADER".into(), secret.expose().to_owned()),
        ("MSI_ENDPOINT".into(), token_url),
        ("MSI_SECRET".into(), secret.expose().to_owned()),
        (
            "AZURE_POD_IDENTITY_AUTHORITY_HOST".into(),
            format!("{base}/{}", secret.expose()),
        ),
    ]
}

fn json_response(status: u16, body: String) -> hyper::Response<Full<Bytes>> {
    let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_REQUEST);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    r
}

/// A new per-run secret: 32 random bytes, base64url (it is also a URL path segment).
pub fn new_secret() -> Result<Secret, ClientError> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| ClientError::Config("the system's random source failed".into()))?;
    Ok(Secret::new(tessera_proto::b64::url_encode(bytes)))
}

/// Whether an address is loopback: the endpoint serves nothing else.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

impl IdentityEndpoint {
    pub fn new(credentials: Vec<ServedCredential>, secret: Secret) -> Result<Self, ClientError> {
        if credentials.is_empty() {
            return Err(ClientError::Config(
                "the endpoint needs a credential to serve".into(),
            ));
        }
        if secret.expose().len() < 16 {
            return Err(ClientError::Config(
                "the endpoint's secret is too short".into(),
            ));
        }
        Ok(Self {
            credentials,
            secret,
        })
    }

    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    fn pick(&self, selector: &Selector) -> Option<&ServedCredential> {
        match selector {
            Selector::Default => self.credentials.first(),
            Selector::ClientId(c) => self
                .credentials
                .iter()
                .find(|s| s.client_id.eq_ignore_ascii_case(c) || s.name == *c),
            Selector::Name(n) => self.credentials.iter().find(|s| s.name == *n),
        }
    }

    /// Answers one request: (status, JSON body).
    pub async fn answer(
        &self,
        path: &str,
        query: &HashMap<String, String>,
        headers: &[(String, String)],
    ) -> (u16, String) {
        let prefix = format!("/{}", self.secret.expose());
        let request: IdentityRequest = match protocol::read(
            path,
            query,
            headers,
            self.secret.expose(),
            &prefix,
        ) {
            Ok(r) => r,
            Err(refusal) => {
                tracing::info!(target: "tessera::audit", path = %redact(path, &prefix), status = refusal.status, "refused");
                return (refusal.status, refusal.body());
            }
        };
        let Some(served) = self.pick(&request.selector) else {
            let r = Refusal {
                status: 400,
                error: "invalid_request".into(),
                description: "Identity not found".into(),
            };
            tracing::info!(target: "tessera::audit", selector = ?request.selector, "no such identity");
            return (r.status, r.body());
        };
        let scope = protocol::scope_of(&request.resource);
        let fetches = served.provider.stats().fetches.load(Ordering::Relaxed);
        match served.provider.token(&TokenRequest::new(&[&scope])).await {
            Ok(token) => {
                let now = served.provider.now();
                let upstream = served.provider.stats().fetches.load(Ordering::Relaxed) != fetches;
                tracing::info!(
                    target: "tessera::audit",
                    credential = %served.name,
                    resource = %request.resource,
                    protocol = ?request.protocol,
                    source = if upstream { "upstream" } else { "cache" },
                    expires_in = token.expires_at - now,
                    "token served"
                );
                (
                    200,
                    protocol::answer(
                        request.protocol,
                        token.token.expose(),
                        &request.resource,
                        &served.client_id,
                        now,
                        token.expires_at,
                    ),
                )
            }
            Err(e) => {
                tracing::info!(target: "tessera::audit", credential = %served.name, resource = %request.resource, error = %e, "refused upstream");
                let (error, description) = match &e {
                    ClientError::Aadsts(f) => (
                        f.response.error.clone(),
                        f.response.error_description.clone(),
                    ),
                    other => ("temporarily_unavailable".to_owned(), other.to_string()),
                };
                let status = match &e {
                    ClientError::Aadsts(_) => 400,
                    _ => 503,
                };
                let body = serde_json::json!({"error": error, "error_description": description});
                (status, body.to_string())
            }
        }
    }

    /// Serves `listener` (loopback only) until `shutdown` completes.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ClientError> {
        let local = listener
            .local_addr()
            .map_err(|e| ClientError::Config(format!("the endpoint's address: {e}")))?;
        if !is_loopback(&local) {
            return Err(ClientError::Config(format!(
                "the identity endpoint listens on loopback only, not {local}"
            )));
        }
        tokio::pin!(shutdown);
        loop {
            let (stream, _) = tokio::select! {
                () = &mut shutdown => return Ok(()),
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a connection");
                        continue;
                    }
                },
            };
            let me = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let me = me.clone();
                        async move {
                            let path = req.uri().path().to_owned();
                            let query: HashMap<String, String> = url::form_urlencoded::parse(
                                req.uri().query().unwrap_or_default().as_bytes(),
                            )
                            .into_owned()
                            .collect();
                            let headers: Vec<(String, String)> = req
                                .headers()
                                .iter()
                                .filter_map(|(k, v)| {
                                    Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned()))
                                })
                                .collect();
                            let (status, body) = if req.method() == hyper::Method::GET {
                                me.answer(&path, &query, &headers).await
                            } else {
                                (
                                    405,
                                    Refusal {
                                        status: 405,
                                        error: "invalid_request".into(),
                                        description: "Use GET.".into(),
                                    }
                                    .body(),
                                )
                            };
                            Ok::<_, Infallible>(json_response(status, body))
                        }
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }
}

/// A request path for the log, without the secret prefix.
fn redact(path: &str, prefix: &str) -> String {
    match path.strip_prefix(prefix) {
        Some(rest) => format!("/<secret>{rest}"),
        None => path.to_owned(),
    }
}
