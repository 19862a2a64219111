//! The portal as a client of its own server: token requests and Graph calls sent through the
//! router in-process (no socket), with the portal's bearer token, so they meet exactly the
//! rules, permissions and messages a script meets.

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt as _;

use super::Portal;

/// What Graph or the token endpoint refused, in its own words.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl Refusal {
    /// A form whose `op` the page does not know.
    pub(crate) fn unknown_action() -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: "This form asks for something the page does not do.".into(),
        }
    }

    fn from_body(status: StatusCode, body: &Value) -> Self {
        // Graph: {"error": {"code", "message"}}; the token endpoint: {"error", "error_description"}.
        let message = body
            .pointer("/error/message")
            .or_else(|| body.get("error_description"))
            .and_then(Value::as_str)
            .map_or_else(
                || format!("The request failed with status {}.", status.as_u16()),
                str::to_owned,
            );
        Self { status, message }
    }
}

/// Bodies larger than this from our own server would be a defect; stop reading.
const MAX_BODY: usize = 8 * 1024 * 1024;

impl Portal {
    async fn send(&self, request: Request<Body>) -> Result<(StatusCode, Value), Refusal> {
        let internal = |detail: String| {
            tracing::error!(error = %detail, "portal: the in-process call failed");
            Refusal {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: "Something went wrong on our side. Try again in a moment.".into(),
            }
        };
        let response = self
            .upstream
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| internal(e.to_string()))?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), MAX_BODY)
            .await
            .map_err(|e| internal(e.to_string()))?;
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| internal(e.to_string()))?
        };
        if status.is_success() {
            Ok((status, body))
        } else {
            Err(Refusal::from_body(status, &body))
        }
    }

    fn request(&self, method: Method, path_and_query: &str) -> axum::http::request::Builder {
        let host = self
            .state
            .settings
            .public_base
            .trim_start_matches("https://")
            .to_owned();
        Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(header::HOST, host)
    }

    /// A Graph call with the admin's token: `path` is relative to `/v1.0` (or a tessera
    /// extension such as `/_tessera/lifetime`, given whole).
    pub(crate) async fn graph(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Refusal> {
        let uri = if path.starts_with("/_tessera/") {
            path.to_owned()
        } else {
            format!("/v1.0{path}")
        };
        let mut builder = self.request(method, &uri);
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
            builder = builder.header(header::AUTHORIZATION, v);
        }
        let body = match body {
            Some(b) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(b).unwrap_or_default())
            }
            None => Body::empty(),
        };
        let request = builder.body(body).map_err(|e| Refusal {
            status: StatusCode::BAD_REQUEST,
            message: e.to_string(),
        })?;
        self.send(request).await.map(|(_, v)| v)
    }

    /// `GET` a Graph path.
    pub(crate) async fn get(&self, token: &str, path: &str) -> Result<Value, Refusal> {
        self.graph(token, Method::GET, path, None).await
    }

    /// A form post to the tenant's v2.0 token endpoint.
    pub(crate) async fn token_request(
        &self,
        tenant: &str,
        form: &[(&str, &str)],
    ) -> Result<Value, Refusal> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = self
            .request(Method::POST, &format!("/{tenant}/oauth2/v2.0/token"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .map_err(|e| Refusal {
                status: StatusCode::BAD_REQUEST,
                message: e.to_string(),
            })?;
        self.send(request).await.map(|(_, v)| v)
    }
}

/// A path segment or query value made safe to put in a Graph URL.
pub(crate) fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
