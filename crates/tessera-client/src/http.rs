//! Talking to the token endpoint: form posts over reqwest (rustls, the one crypto backend),
//! an optional extra CA for custom hosts, proxies from the environment, retries of 429 and
//! 5xx honouring `Retry-After`, and the server's clock skew estimated from `Date`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tessera_proto::clock::{Clock, OffsetClock};
use tessera_proto::errors::ErrorResponse;
use tessera_proto::token::TokenResponse;

use crate::error::{AadstsFailure, ClientError};

/// Retry budget for 429 and 5xx from the token endpoint.
const MAX_ATTEMPTS: u32 = 4;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A shared HTTP client for identity endpoints.
#[derive(Clone)]
pub struct TokenHttp {
    /// Built on first use: loading the system's CA roots costs milliseconds, and a process
    /// served from the token cache never sends a request (`tessera token`, warm, is ~40%
    /// faster this way).
    client: Arc<OnceLock<Result<reqwest::Client, String>>>,
    extra_roots: Arc<Vec<reqwest::Certificate>>,
    timeout: Duration,
    clock: Arc<dyn Clock>,
    /// Server time minus local time, in seconds, from the last `Date` header.
    skew: Arc<AtomicI64>,
}

impl std::fmt::Debug for TokenHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenHttp")
            .field("skew_seconds", &self.skew_seconds())
            .finish_non_exhaustive()
    }
}

/// Options for [`TokenHttp`].
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// PEM certificates to trust in addition to the system's (for `tessera serve` or a
    /// private authority).
    pub extra_ca_pem: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
}

impl TokenHttp {
    pub fn new(options: HttpOptions) -> Result<Self, ClientError> {
        Self::with_clock(options, Arc::new(OffsetClock::new()))
    }

    /// Checks the options now (a bad CA file is a configuration error at start); the
    /// client itself is built when the first request needs it.
    pub fn with_clock(options: HttpOptions, clock: Arc<dyn Clock>) -> Result<Self, ClientError> {
        let extra_roots = match &options.extra_ca_pem {
            Some(pem) => reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                ClientError::Config(format!("the CA certificate is not valid PEM: {e}"))
            })?,
            None => Vec::new(),
        };
        Ok(Self {
            client: Arc::default(),
            extra_roots: Arc::new(extra_roots),
            timeout: options.timeout.unwrap_or(Duration::from_secs(30)),
            clock,
            skew: Arc::new(AtomicI64::new(0)),
        })
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Local time corrected by the server's clock skew (for assertion times).
    pub fn server_now(&self) -> i64 {
        self.clock.unix() + self.skew.load(Ordering::Relaxed)
    }

    pub fn skew_seconds(&self) -> i64 {
        self.skew.load(Ordering::Relaxed)
    }

    /// The underlying client, built on first use (proxies from the environment, the
    /// system's roots and the extra CA).
    pub fn reqwest(&self) -> Result<&reqwest::Client, ClientError> {
        self.client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .timeout(self.timeout)
                    .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
                    .tls_certs_merge(self.extra_roots.iter().cloned())
                    .build()
                    .map_err(|e| format!("building the HTTP client: {e}"))
            })
            .as_ref()
            .map_err(|e| ClientError::Http(e.clone()))
    }

    fn note_date(&self, headers: &reqwest::header::HeaderMap) {
        let date = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|d| {
                time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc2822).ok()
            });
        if let Some(d) = date {
            self.skew
                .store(d.unix_timestamp() - self.clock.unix(), Ordering::Relaxed);
        }
    }

    /// POSTs a form and returns the JSON body of a 2xx answer; Entra's error JSON becomes
    /// [`ClientError::Aadsts`]. 429 and 5xx are retried with `Retry-After` or backoff.
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<serde_json::Value, ClientError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let response = self
                .reqwest()?
                .post(url)
                .header("client-request-id", uuid::Uuid::new_v4().to_string())
                .form(form)
                .send()
                .await
                .map_err(|e| ClientError::Http(format!("POST {url}: {}", redact_url_error(&e))))?;
            let status = response.status().as_u16();
            self.note_date(response.headers());
            if (status == 429 || status >= 500) && attempt < MAX_ATTEMPTS {
                let wait = retry_after(response.headers()).unwrap_or_else(|| backoff(attempt));
                tracing::debug!(
                    status,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "token endpoint asked to retry"
                );
                tokio::time::sleep(wait.min(MAX_RETRY_AFTER)).await;
                continue;
            }
            let body = response
                .bytes()
                .await
                .map_err(|e| ClientError::Http(format!("reading the answer from {url}: {e}")))?;
            if (200..300).contains(&status) {
                return serde_json::from_slice(&body).map_err(|_| {
                    ClientError::Http(format!("{url} answered {status} without JSON"))
                });
            }
            return match serde_json::from_slice::<ErrorResponse>(&body) {
                Ok(response) => Err(ClientError::Aadsts(Box::new(AadstsFailure {
                    status,
                    response,
                    context: None,
                }))),
                Err(_) if status == 429 || status >= 500 => Err(ClientError::Unavailable {
                    status,
                    attempts: attempt,
                }),
                Err(_) => Err(ClientError::Http(format!(
                    "{url} answered HTTP {status} without an Entra error body"
                ))),
            };
        }
    }

    /// POSTs to a token endpoint and parses a token response.
    pub async fn token(
        &self,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<TokenResponse, ClientError> {
        let value = self.post_form(url, form).await?;
        serde_json::from_value(normalize_numbers(value)).map_err(|e| {
            ClientError::Http(format!(
                "{url} answered a token response of an unexpected shape: {e}"
            ))
        })
    }
}

/// Some services send `expires_in` as a string ("3599"); accept both.
fn normalize_numbers(mut v: serde_json::Value) -> serde_json::Value {
    for key in ["expires_in", "ext_expires_in", "refresh_in"] {
        if let Some(serde_json::Value::String(s)) = v.get(key)
            && let Ok(n) = s.parse::<i64>()
        {
            v[key] = serde_json::Value::from(n);
        }
    }
    v
}

/// `Retry-After` as whole or fractional seconds (HTTP dates are rare here and ignored).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let secs: f64 = text.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

/// Exponential backoff with jitter: 0.5 s, 1 s, 2 s... plus up to 250 ms.
pub fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(500u64 << attempt.saturating_sub(1).min(6));
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 250;
    base + Duration::from_millis(jitter)
}

/// reqwest errors can include the URL; ours never carry secrets in URLs, but keep only the
/// kind of failure to be safe.
fn redact_url_error(e: &reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "could not connect"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_request() {
        "the request failed"
    } else {
        "HTTP error"
    };
    let source = std::error::Error::source(e)
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    format!("{kind}{source}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "2".parse().expect("header"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(reqwest::header::RETRY_AFTER, "1.5".parse().expect("header"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "soon".parse().expect("header"),
        );
        assert_eq!(retry_after(&h), None);
        assert!(backoff(1) >= Duration::from_millis(500) && backoff(3) >= Duration::from_secs(2));
    }

    #[test]
    fn string_numbers_are_accepted() {
        let v = normalize_numbers(
            serde_json::json!({"token_type":"Bearer","expires_in":"3599","access_token":"a"}),
        );
        let t: TokenResponse = serde_json::from_value(v).expect("parses");
        assert_eq!(t.expires_in, 3599);
    }
}
