//! Operations routes (`/health`, `/metrics`) and the test-mode controls, which exist only
//! when the server runs with `--test-mode`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tessera_proto::clock::Clock as _;

use super::Shared;
use crate::respond::json_body;
use crate::store::DeviceCodeStatus;

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
    match state.revoke_sessions(user).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "revoking sessions failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApproveDevice {
    user_code: String,
    user: String,
}

/// `POST /_tessera/test/device-approve {"user_code": C, "user": UPN}`: completes a device
/// code sign-in as that user, as if they had entered the code, signed in and accepted on
/// `/devicelogin`, so a headless test need not drive the pages. Consent and MFA are not
/// asked; the next poll gets the tokens.
pub(crate) async fn approve_device(
    state: Shared,
    body: Result<Json<ApproveDevice>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return bad_request("expected {\"user_code\": C, \"user\": UPN}");
    };
    let state = state.0;
    let store = state.store();
    let now = state.clock.unix();
    let code: String = body
        .user_code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_uppercase();
    let record = match store.device_code_by_user_code(&code).await {
        Ok(Some(r)) if r.status == DeviceCodeStatus::Pending && r.expires_at > now => r,
        Ok(_) => return bad_request("no pending device code has that user code"),
        Err(e) => {
            tracing::error!(error = %e, "device code lookup failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let user = match state
        .directory
        .user_by_upn(&record.tenant_id, &body.user)
        .await
    {
        Ok(Some(u)) => u,
        _ => {
            return (
                StatusCode::NOT_FOUND,
                json_body(&serde_json::json!({"error": "user not found in the code's tenant"})),
            )
                .into_response();
        }
    };
    match store
        .transition_device_code(
            &record.hash,
            DeviceCodeStatus::Pending,
            DeviceCodeStatus::Approved,
            Some(&user.id),
            None,
        )
        .await
    {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => bad_request("no pending device code has that user code"),
        Err(e) => {
            tracing::error!(error = %e, "approving a device code failed");
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
