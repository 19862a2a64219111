//! A local managed identity endpoint (`tessera exec`, `tessera agent`): SDKs that look for
//! App Service's or IMDS's token endpoint get their tokens here, from `TokenProvider`s (the
//! shared cache, refreshed ahead of expiry, one upstream request per token however many
//! processes ask). Loopback only; each request must carry the per-run secret (App Service's
//! header, or the secret path prefix IMDS clients are given); an audit line per request
//! names the credential and resource, never the token.

pub mod arc;
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
use arc::ArcChallenges;
use protocol::{IdentityRequest, Protocol, Refusal, Selector};

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
    /// Azure Arc's challenge, when the endpoint also serves Arc's IMDS.
    arc: Option<ArcChallenges>,
}

/// What the endpoint answers: a status, a JSON body, and for Arc's first request the
/// challenge file to name in `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub challenge: Option<String>,
}

impl Answer {
    fn json(status: u16, body: String) -> Self {
        Self {
            status,
            body,
            challenge: None,
        }
    }
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

/// The environment of Azure Arc: `IDENTITY_ENDPOINT` and `IMDS_ENDPOINT` and no
/// `IDENTITY_HEADER`, so SDKs that know Arc take its challenge, with no secret in the
/// environment. SDKs that do not know Arc find nothing here.
pub fn arc_environment(addr: SocketAddr) -> Vec<(String, String)> {
    let base = format!("http://{addr}");
    vec![
        (
            "IDENTITY_ENDPOINT".into(),
            format!("{base}{}", protocol::IMDS_PATH),
        ),
        ("IMDS_ENDPOINT".into(), base),
    ]
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
            arc: None,
        })
    }

    /// Also serves Azure Arc's IMDS (unprefixed), authorized by challenge files in `dir`.
    pub fn with_arc(mut self, dir: &std::path::Path) -> Result<Self, ClientError> {
        self.arc = Some(ArcChallenges::new(dir)?);
        Ok(self)
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

    /// Arc's IMDS request: 401 with a new challenge until the caller sends one's content.
    fn arc_request(
        &self,
        arc: &ArcChallenges,
        query: &HashMap<String, String>,
        headers: &[(String, String)],
    ) -> Result<IdentityRequest, Answer> {
        let refused = |r: Refusal| Answer::json(r.status, r.body());
        protocol::imds_metadata(headers).map_err(refused)?;
        let now = self.credentials.first().map_or(0, |c| c.provider.now());
        match protocol::basic_credential(headers) {
            Some(answer) if arc.redeem(answer, now) => {
                protocol::request_of(Protocol::Imds, query).map_err(refused)
            }
            Some(_) => {
                tracing::info!(target: "tessera::audit", "Azure Arc challenge answered wrongly");
                Err(refused(Refusal {
                    status: 401,
                    error: "invalid_client".into(),
                    description: "The challenge's content does not match.".into(),
                }))
            }
            None => match arc.issue(now) {
                Ok(path) => Err(Answer {
                    status: 401,
                    body: Refusal {
                        status: 401,
                        error: "unauthorized_client".into(),
                        description: "Send the content of the challenge file as Basic credentials."
                            .into(),
                    }
                    .body(),
                    challenge: Some(path),
                }),
                Err(e) => {
                    tracing::error!(error = %e, "writing an Azure Arc challenge");
                    Err(refused(Refusal {
                        status: 503,
                        error: "temporarily_unavailable".into(),
                        description: "The challenge file could not be written.".into(),
                    }))
                }
            },
        }
    }

    /// Answers one request.
    pub async fn answer(
        &self,
        path: &str,
        query: &HashMap<String, String>,
        headers: &[(String, String)],
    ) -> Answer {
        let prefix = format!("/{}", self.secret.expose());
        let read = match &self.arc {
            Some(arc) if path == protocol::IMDS_PATH => self.arc_request(arc, query, headers),
            _ => protocol::read(path, query, headers, self.secret.expose(), &prefix)
                .map_err(|r| Answer::json(r.status, r.body())),
        };
        let request: IdentityRequest = match read {
            Ok(r) => r,
            Err(answer) => {
                tracing::info!(target: "tessera::audit", path = %redact(path, &prefix), status = answer.status, "refused");
                return answer;
            }
        };
        let Some(served) = self.pick(&request.selector) else {
            let r = Refusal {
                status: 400,
                error: "invalid_request".into(),
                description: "Identity not found".into(),
            };
            tracing::info!(target: "tessera::audit", selector = ?request.selector, "no such identity");
            return Answer::json(r.status, r.body());
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
                Answer::json(
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
                Answer::json(status, body.to_string())
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
                            let answer = if req.method() == hyper::Method::GET {
                                me.answer(&path, &query, &headers).await
                            } else {
                                let refusal = Refusal {
                                    status: 405,
                                    error: "invalid_request".into(),
                                    description: "Use GET.".into(),
                                };
                                Answer::json(405, refusal.body())
                            };
                            let mut response = json_response(answer.status, answer.body);
                            if let Some(challenge) = answer.challenge
                                && let Ok(v) = hyper::header::HeaderValue::from_str(&format!(
                                    "Basic realm={challenge}"
                                ))
                            {
                                response
                                    .headers_mut()
                                    .insert(hyper::header::WWW_AUTHENTICATE, v);
                            }
                            Ok::<_, Infallible>(response)
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
