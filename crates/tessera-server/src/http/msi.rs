//! Test mode: the managed identity token protocols, so clients' managed identity code can
//! run against a real endpoint. IMDS (`GET /metadata/identity/oauth2/token`, header
//! `Metadata: true`) and App Service (`GET /msi/token`, header `X-IDENTITY-HEADER`) issue
//! app-only tokens for an app registered with `managed_identity = true`, with the
//! string-typed numbers those endpoints send.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tessera_proto::clock::Clock as _;

use super::Shared;
use crate::respond::json_body;
use crate::state::AppState;
use crate::store::Application;
use crate::token::client_auth::Acr;
use crate::token::mint::{self, AccessTokenSpec, Subject};

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        json_body(&json!({"error": code, "error_description": description})),
    )
        .into_response()
}

/// The managed identity app: the one named by `client_id`, or the only one there is.
async fn identity(
    state: &AppState,
    client_id: Option<&str>,
) -> Result<(std::sync::Arc<crate::store::Tenant>, Application), Response> {
    let not_found = || {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Identity not found",
        )
    };
    let tenants = state.store().tenants().await.map_err(|_| not_found())?;
    let mut found = Vec::new();
    for t in tenants {
        for a in state
            .store()
            .list_applications(&t.id)
            .await
            .map_err(|_| not_found())?
        {
            if a.managed_identity && client_id.is_none_or(|c| c.eq_ignore_ascii_case(&a.client_id))
            {
                found.push((t.id.clone(), a));
            }
        }
    }
    let [(tenant_id, app)] = <[_; 1]>::try_from(found).map_err(|_| not_found())?;
    let tenant = state
        .directory
        .tenant(&tenant_id)
        .await
        .ok()
        .flatten()
        .ok_or_else(not_found)?;
    Ok((tenant, app))
}

async fn issue(
    state: &AppState,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    uri: &Uri,
    app_service: bool,
) -> Response {
    let Some(resource) = q.get("resource").filter(|r| !r.is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required query variable 'resource' is missing",
        );
    };
    let (tenant, app) = match identity(state, q.get("client_id").map(String::as_str)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let resolved = match state.directory.resource(&tenant.id, resource).await {
        Ok(Some(r)) => r,
        _ => {
            let e =
                tessera_proto::errors::RESOURCE_NOT_FOUND.with(&[resource, &tenant.display_name]);
            return error(StatusCode::BAD_REQUEST, "invalid_resource", &e.to_string());
        }
    };
    let policies = match state.directory.policy_snapshot(&tenant.id).await {
        Ok(p) => p,
        Err(_) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "try again",
            );
        }
    };
    let now = state.clock.unix();
    let roles = app
        .application_permissions
        .get(&resolved.key)
        .cloned()
        .unwrap_or_default();
    let minted = mint::access_token(
        state,
        &AccessTokenSpec {
            tenant: &tenant,
            client: &app,
            resource: &resolved,
            requested_resource: resource.trim_end_matches("/.default"),
            subject: Subject::App { roles },
            acr: Acr::Certificate,
            cae: false,
            min_nbf: None,
            base_url: &crate::respond::base_url(state, headers, uri),
            now,
            policies: &policies,
            flow: "managed_identity",
        },
    );
    let Ok(minted) = minted else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "try again",
        );
    };
    let seconds = minted.decision.seconds;
    let mut body = json!({
        "access_token": minted.token,
        "client_id": app.client_id,
        "expires_on": (now + seconds).to_string(),
        "resource": resource,
        "token_type": "Bearer",
    });
    if !app_service {
        body["expires_in"] = json!(seconds.to_string());
        body["ext_expires_in"] = json!(seconds.to_string());
        body["not_before"] = json!((now - tessera_proto::lifetime::BACKDATE_SECONDS).to_string());
    }
    json_body(&body).into_response()
}

/// `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=...`.
pub(crate) async fn imds(
    State(state): Shared,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if headers.get("metadata").and_then(|v| v.to_str().ok()) != Some("true") {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required metadata header not specified",
        );
    }
    if !q.contains_key("api-version") {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Required query variable 'api-version' is missing",
        );
    }
    if let Some(fault) = state
        .faults
        .before(crate::infra::faults::Target::Token, uri.path())
        .await
    {
        let mut r = error(fault.status, "temporarily_unavailable", "injected fault");
        if let Some(ra) = fault.retry_after {
            crate::respond::set(r.headers_mut(), "retry-after", &ra);
        }
        return r;
    }
    issue(&state, &q, &headers, &uri, false).await
}

/// `GET /msi/token?api-version=2019-08-01&resource=...` with `X-IDENTITY-HEADER`.
pub(crate) async fn app_service(
    State(state): Shared,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let sent = headers
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let ok = state
        .settings
        .identity_header
        .as_deref()
        .is_some_and(|want| {
            !sent.is_empty() && crate::crypto::digests_equal(sent.as_bytes(), want.as_bytes())
        });
    if !ok {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_request",
            "The X-IDENTITY-HEADER header is missing or wrong",
        );
    }
    issue(&state, &q, &headers, &uri, true).await
}
