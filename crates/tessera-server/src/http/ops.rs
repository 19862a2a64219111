//! Operations routes (`/health`, `/metrics`) and the test-mode controls, which exist only
//! when the server runs with `--test-mode`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tessera_proto::clock::Clock as _;

use super::Shared;
use crate::respond::json_body;

pub(crate) async fn health() -> Response {
    json_body(&serde_json::json!({"status": "ok"})).into_response()
}

pub(crate) async fn metrics(state: Shared) -> Response {
    let mut r = state.0.metrics.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

pub(crate) async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        json_body(
            &serde_json::json!({"error": "not_found", "error_description": "No such endpoint."}),
        ),
    )
        .into_response()
}

fn bad_request(msg: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        json_body(&serde_json::json!({"error": "invalid_request", "error_description": msg})),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdvanceClock {
    advance_seconds: i64,
}

/// `POST /_tessera/test/clock {"advance_seconds": N}`: moves the server's clock.
pub(crate) async fn advance_clock(
    state: Shared,
    body: Result<Json<AdvanceClock>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return bad_request("expected {\"advance_seconds\": N}");
    };
    if body.advance_seconds.unsigned_abs() > 10 * 365 * 86_400 {
        return bad_request("advance_seconds is limited to ten years either way");
    }
    let offset = state.0.clock.advance(body.advance_seconds);
    json_body(
        &serde_json::json!({"offset_seconds": offset, "now": state.0.clock.now().unix_timestamp()}),
    )
    .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeSessions {
    tenant: String,
    user: String,
}

/// `POST /_tessera/test/revoke-sessions {"tenant": T, "user": UPN}`: revokes the user's
/// refresh tokens, as Graph's revokeSignInSessions will.
pub(crate) async fn revoke_sessions(
    state: Shared,
    body: Result<Json<RevokeSessions>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return bad_request("expected {\"tenant\": T, \"user\": UPN}");
    };
    let state = state.0;
    let tenant = match state.directory.tenant(&body.tenant).await {
        Ok(Some(t)) => t,
        _ => {
            return (
                StatusCode::NOT_FOUND,
                json_body(&serde_json::json!({"error": "tenant not found"})),
            )
                .into_response();
        }
    };
    let user = match state.directory.user_by_upn(&tenant.id, &body.user).await {
        Ok(Some(u)) => u,
        _ => {
            return (
                StatusCode::NOT_FOUND,
                json_body(&serde_json::json!({"error": "user not found"})),
            )
                .into_response();
        }
    };
    match state
        .directory
        .revoke_sessions(user, state.clock.now())
        .await
    {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "revoking sessions failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// `POST /_tessera/test/faults` with one fault rule or an array of them (see `faults.rs`).
pub(crate) async fn add_faults(state: Shared, body: axum::body::Bytes) -> Response {
    let rules: Vec<crate::infra::faults::FaultSpec> =
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(v @ serde_json::Value::Array(_)) => match serde_json::from_value(v) {
                Ok(r) => r,
                Err(e) => return bad_request(&e.to_string()),
            },
            Ok(v) => match serde_json::from_value(v) {
                Ok(r) => vec![r],
                Err(e) => return bad_request(&e.to_string()),
            },
            Err(e) => return bad_request(&e.to_string()),
        };
    for r in &rules {
        if let Err(e) = r.validate() {
            return bad_request(&e);
        }
    }
    state.0.faults.add(rules);
    StatusCode::NO_CONTENT.into_response()
}

/// `DELETE /_tessera/test/faults`: removes every fault and rate limit.
pub(crate) async fn clear_faults(state: Shared) -> Response {
    state.0.faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateLimit {
    client_id: String,
    per_second: f64,
}

/// `POST /_tessera/test/rate-limit {"client_id": C, "per_second": N}` (0 removes it): Graph
/// requests by that app beyond N per second answer 429 as Graph's throttling does.
pub(crate) async fn rate_limit(
    state: Shared,
    body: Result<Json<RateLimit>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return bad_request("expected {\"client_id\": C, \"per_second\": N}");
    };
    if !body.per_second.is_finite() || body.per_second < 0.0 {
        return bad_request("per_second must be a number >= 0");
    }
    state
        .0
        .faults
        .set_rate_limit(&body.client_id, body.per_second);
    StatusCode::NO_CONTENT.into_response()
}
