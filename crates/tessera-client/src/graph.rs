//! Microsoft Graph requests with a token from any credential: paging that follows
//! `@odata.nextLink` verbatim, retries of throttling and transient failures that honour
//! `Retry-After`, and one replay after a 401 (expired token or a CAE claims challenge).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use crate::credential::TokenRequest;
use crate::error::ClientError;
pub use crate::error::GraphFailure;
use crate::http::{TokenHttp, backoff, retry_after};
use crate::provider::TokenProvider;

/// Retry budget for one Graph request (429, 503, 504, and connection failures).
const MAX_ATTEMPTS: u32 = 6;
const MAX_RETRY_TIME: Duration = Duration::from_secs(300);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// A Graph response that succeeded.
#[derive(Debug, Clone)]
pub struct GraphResponse {
    pub status: u16,
    /// The JSON body; `Value::Null` for 204 and empty bodies.
    pub body: Value,
    /// How many times the request was retried (throttling, transient errors, 401 replays).
    pub retries: u32,
}

/// A client for one Graph base URL with one token provider.
#[derive(Clone)]
pub struct GraphClient {
    base: String,
    provider: Arc<TokenProvider>,
    http: TokenHttp,
    request: TokenRequest,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl GraphClient {
    /// `base` is `https://graph.microsoft.com/v1.0` (or `/beta`, or `tessera serve`'s
    /// `graph_url`); the token is asked for `scope`, by default `https://graph.microsoft.com/.default`.
    pub fn new(base: impl Into<String>, provider: Arc<TokenProvider>, http: TokenHttp) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_owned(),
            provider,
            http,
            request: TokenRequest::new(&["https://graph.microsoft.com/.default"]),
        }
    }

    /// The token request used for Graph (scopes, CAE capability).
    #[must_use]
    pub fn with_token_request(mut self, request: TokenRequest) -> Self {
        self.request = request;
        self
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("https://") || path.starts_with("http://") {
            path.to_owned()
        } else {
            format!("{}/{}", self.base, path.trim_start_matches('/'))
        }
    }

    pub async fn get(&self, path: &str) -> Result<GraphResponse, ClientError> {
        self.send(Method::GET, path, &[], None).await
    }

    /// Sends one request. `path` is relative to the base URL, or a full URL (a nextLink).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<GraphResponse, ClientError> {
        let url = self.url(path);
        let started = Instant::now();
        let mut request = self.request.clone();
        let mut retries = 0u32;
        let mut replayed_401 = false;
        // The token Graph refused, when the next attempt needs a new one.
        let mut refused: Option<crate::secret::Secret> = None;
        loop {
            let token = if let Some(refused) = refused.take() {
                let token = self.provider.force_refresh(&request, &refused).await?;
                if request.claims.is_some() {
                    // The challenged token is dead for every later call too: the new one
                    // takes its place, as MSAL does after a claims challenge.
                    self.provider.insert(&self.request, token.clone());
                }
                token
            } else {
                self.provider.token(&request).await?
            };
            let mut builder = self
                .http
                .reqwest()?
                .request(method.clone(), &url)
                .bearer_auth(token.token.expose())
                .header("client-request-id", uuid::Uuid::new_v4().to_string());
            for (k, v) in headers {
                builder = builder.header(*k, *v);
            }
            if let Some(b) = body {
                builder = builder.json(b);
            }
            let retryable_method = method == Method::GET
                || method == Method::HEAD
                || method == Method::PUT
                || method == Method::DELETE;
            let response = match builder.send().await {
                Ok(r) => r,
                Err(e) => {
                    // A connection that failed before a response may or may not have reached
                    // Graph: only idempotent methods are sent again.
                    if retryable_method
                        && retries + 1 < MAX_ATTEMPTS
                        && started.elapsed() < MAX_RETRY_TIME
                    {
                        retries += 1;
                        tokio::time::sleep(backoff(retries)).await;
                        continue;
                    }
                    return Err(ClientError::Http(format!(
                        "Graph request failed: {}",
                        e.without_url()
                    )));
                }
            };
            let status = response.status().as_u16();
            let wait = retry_after(response.headers());
            let challenge = response
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let request_id = response
                .headers()
                .get("request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let bytes = response
                .bytes()
                .await
                .map_err(|e| ClientError::Http(format!("reading Graph's answer: {e}")))?;
            if (200..300).contains(&status) {
                let body = if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes).map_err(|e| {
                        ClientError::Http(format!("Graph's answer is not JSON: {e}"))
                    })?
                };
                return Ok(GraphResponse {
                    status,
                    body,
                    retries,
                });
            }
            let failure = failure(status, &bytes, request_id);
            if status == 401 && !replayed_401 {
                replayed_401 = true;
                retries += 1;
                if let Some(claims) = challenge.as_deref().and_then(claims_challenge) {
                    // CAE: a token carrying these claims, then one replay.
                    request.claims = Some(claims);
                    refused = Some(token.token);
                    continue;
                }
                if failure.code == "InvalidAuthenticationToken" {
                    refused = Some(token.token);
                    continue;
                }
            }
            // 429 means Graph did not run the request, so any method may be sent again; 503
            // and 504 may come after it ran, so only idempotent ones are.
            let retry = status == 429 || (matches!(status, 503 | 504) && retryable_method);
            if !retry {
                return Err(ClientError::Graph(Box::new(failure)));
            }
            let pause = wait.unwrap_or_else(|| backoff(retries + 1));
            match give_up(retries + 1, started.elapsed(), pause, wait.is_some()) {
                None => {
                    retries += 1;
                    tracing::debug!(
                        status,
                        wait_ms = pause.as_millis() as u64,
                        "Graph asked to retry"
                    );
                    tokio::time::sleep(pause).await;
                }
                Some(why) => {
                    return Err(ClientError::Graph(Box::new(GraphFailure {
                        gave_up: Some(why),
                        ..failure
                    })));
                }
            }
        }
    }

    /// Sends up to 20 requests as one `$batch` (`{"id", "method", "url", …}` each, as Graph
    /// takes them) and returns their responses in the order given. Items answered 429 (or
    /// 503/504 for a GET) are sent again in a new batch after the longest `Retry-After`
    /// among them, with the items that failed 424 because they depend on one of them.
    pub async fn batch(&self, requests: &[Value]) -> Result<Vec<Value>, ClientError> {
        if requests.is_empty() || requests.len() > 20 {
            return Err(ClientError::Config(format!(
                "a $batch takes 1 to 20 requests, not {}",
                requests.len()
            )));
        }
        let id_of = |v: &Value| v.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
        let mut done: std::collections::HashMap<String, Value> = std::collections::HashMap::new();
        let mut pending: Vec<Value> = requests.to_vec();
        for attempt in 1..=MAX_ATTEMPTS {
            let response = self
                .send(
                    Method::POST,
                    "/$batch",
                    &[],
                    Some(&serde_json::json!({ "requests": pending })),
                )
                .await?;
            let items = response.body["responses"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut again = std::collections::HashSet::new();
            let mut wait = Duration::ZERO;
            let mut last = attempt == MAX_ATTEMPTS;
            for item in &items {
                let status = item["status"].as_u64().unwrap_or(0);
                let id = id_of(item);
                let method = pending
                    .iter()
                    .find(|r| id_of(r) == id)
                    .and_then(|r| r["method"].as_str())
                    .unwrap_or("GET")
                    .to_ascii_uppercase();
                if status == 429 || (matches!(status, 503 | 504) && method == "GET") {
                    again.insert(id);
                    let after = item["headers"]
                        .as_object()
                        .and_then(|h| {
                            h.iter()
                                .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
                                .and_then(|(_, v)| v.as_str())
                        })
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .filter(|s| s.is_finite() && *s >= 0.0)
                        .map_or_else(|| backoff(attempt), Duration::from_secs_f64);
                    // A Retry-After longer than this client waits is not shortened: the
                    // items are returned as Graph answered them.
                    last |= after > MAX_RETRY_AFTER;
                    wait = wait.max(after);
                }
            }
            // Dependents that failed only because a retried item had not run go along.
            for r in &pending {
                let depends = r["dependsOn"].as_array().is_some_and(|d| {
                    d.iter()
                        .any(|x| x.as_str().is_some_and(|x| again.contains(x)))
                });
                if depends {
                    again.insert(id_of(r));
                }
            }
            for item in items {
                let id = id_of(&item);
                if last || !again.contains(&id) {
                    done.insert(id, item);
                }
            }
            if again.is_empty() || last {
                break;
            }
            pending.retain(|r| again.contains(&id_of(r)));
            tracing::debug!(
                items = pending.len(),
                wait_ms = wait.as_millis() as u64,
                "retrying throttled $batch items"
            );
            tokio::time::sleep(wait).await;
        }
        Ok(requests
            .iter()
            .map(|r| done.remove(&id_of(r)).unwrap_or(Value::Null))
            .collect())
    }

    /// Pages through a collection: each call to [`Pager::next_page`] gives one page's
    /// `value`. `headers` (for example `ConsistencyLevel: eventual`) go with every page.
    pub fn pages(&self, path: &str, headers: &[(&str, &str)]) -> Pager {
        Pager {
            client: self.clone(),
            next: Some(self.url(path)),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            pages: 0,
            retries: 0,
        }
    }
}

/// A walk through a paged collection.
#[derive(Debug)]
pub struct Pager {
    client: GraphClient,
    next: Option<String>,
    headers: Vec<(String, String)>,
    /// Pages fetched so far (empty pages included).
    pub pages: u64,
    /// Retries over all pages so far.
    pub retries: u64,
}

impl Pager {
    /// The next page's items; `None` when the collection has been walked. Empty pages with a
    /// nextLink are followed, not taken for the end.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Value>>, ClientError> {
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let response = self.client.send(Method::GET, &url, &headers, None).await?;
        self.pages += 1;
        self.retries += u64::from(response.retries);
        let mut body = response.body;
        // The nextLink is opaque: followed exactly as given.
        self.next = body
            .get("@odata.nextLink")
            .and_then(Value::as_str)
            .map(str::to_owned);
        match body.get_mut("value").map(Value::take) {
            Some(Value::Array(items)) => Ok(Some(items)),
            _ => Err(ClientError::Http(
                "the Graph answer has no 'value' array: not a collection".into(),
            )),
        }
    }
}

/// Why a request that got a retryable answer on attempt `attempts` is not sent again, or
/// `None` to send it again after `pause`. A `Retry-After` is never shortened: one longer than
/// this client waits ends the request at once instead of being retried early.
fn give_up(attempts: u32, elapsed: Duration, pause: Duration, asked: bool) -> Option<String> {
    let secs = |d: Duration| format!("{:.1} s", d.as_secs_f64());
    if asked && pause > MAX_RETRY_AFTER {
        Some(format!(
            "not retried: Graph asked to wait {} (Retry-After), longer than the {} this client waits",
            secs(pause),
            secs(MAX_RETRY_AFTER)
        ))
    } else if attempts >= MAX_ATTEMPTS {
        Some(format!(
            "gave up after {attempts} attempts in {}",
            secs(elapsed)
        ))
    } else if elapsed + pause >= MAX_RETRY_TIME {
        Some(format!(
            "gave up after {attempts} attempts in {}: waiting {} more would pass the {} retry budget",
            secs(elapsed),
            secs(pause),
            secs(MAX_RETRY_TIME)
        ))
    } else {
        None
    }
}

fn failure(status: u16, bytes: &[u8], request_id: String) -> GraphFailure {
    let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let error = &v["error"];
    let text = |k: &str| error.get(k).and_then(Value::as_str).unwrap_or_default();
    let request_id = if request_id.is_empty() {
        error["innerError"]["request-id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    } else {
        request_id
    };
    GraphFailure {
        status,
        code: if text("code").is_empty() {
            format!("HTTP {status}")
        } else {
            text("code").to_owned()
        },
        message: if text("message").is_empty() {
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned()
        } else {
            text("message").to_owned()
        },
        request_id,
        gave_up: None,
    }
}

/// The claims of a CAE challenge: `WWW-Authenticate: Bearer …, error="insufficient_claims",
/// claims="<base64 JSON>"`, decoded (Graph pads the base64; both forms are accepted).
pub fn claims_challenge(header: &str) -> Option<String> {
    if !header.contains("insufficient_claims") {
        return None;
    }
    let start = header.find("claims=\"")? + "claims=\"".len();
    let encoded = &header[start..start + header[start..].find('"')?];
    let bytes = tessera_proto::b64::decode_lenient(encoded)?;
    let text = String::from_utf8(bytes).ok()?;
    serde_json::from_str::<Value>(&text).ok()?;
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_challenges_are_decoded() {
        let json = r#"{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}"#;
        let padded = tessera_proto::b64::std_encode(json.as_bytes());
        let header = format!(
            r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="{padded}""#
        );
        assert_eq!(claims_challenge(&header).as_deref(), Some(json));
        assert_eq!(claims_challenge(r#"Bearer realm="""#), None);
        assert_eq!(
            claims_challenge(r#"Bearer error="insufficient_claims", claims="bm90IGpzb24=""#),
            None,
            "not JSON"
        );
    }

    #[test]
    fn failures_keep_graph_code_message_and_request_id() {
        let body = br#"{"error":{"code":"Request_ResourceNotFound","message":"Resource 'x' does not exist.","innerError":{"request-id":"r-1","date":"2026-11-22T10:00:00"}}}"#;
        let f = failure(404, body, String::new());
        assert_eq!(f.code, "Request_ResourceNotFound");
        assert_eq!(f.request_id, "r-1");
        assert!(f.to_string().contains("404 Request_ResourceNotFound"));
        let g = failure(502, b"<html>bad gateway</html>", "r-2".into());
        assert_eq!(g.code, "HTTP 502");
        assert_eq!(g.request_id, "r-2");
    }
}
