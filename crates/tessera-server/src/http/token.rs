//! `POST /{tenant}/oauth2/v2.0/token` and its v1.0 twin `/{tenant}/oauth2/token`: reads a
//! bounded form body, hands the parameters to the token service and renders its answer, in
//! the endpoint's shape, with Entra's headers.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery};
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use tessera_proto::errors::{self as aadsts};

use super::Shared;
use crate::infra::activity::{ActivityEvent, ActivityKind};
use crate::respond::{aadsts_response, base_url, correlation_id, no_store, set};
use crate::state::AppState;
use crate::token::{self, Endpoint, Failure, Params, TokenRequest};

/// Largest accepted form body. Real requests are a few KiB (a client assertion with an
/// `x5c` chain is the largest).
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        })
}

fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, Failure> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || Failure::Aadsts(aadsts::BAD_BASIC_AUTH.err());
    let text = value.to_str().map_err(|_| bad())?;
    let Some(encoded) = tessera_proto::authorization::credentials(text, "Basic") else {
        return Ok(None);
    };
    let raw = tessera_proto::b64::decode_lenient(encoded).ok_or_else(bad)?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = raw.split_once(':').ok_or_else(bad)?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    let decode = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((decode(id), decode(secret))))
}

pub(crate) async fn token(
    state: Shared,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let state = state.0;
    if state.settings.test_mode
        && let Some(fault) = state
            .faults
            .before(crate::infra::faults::Target::Token, uri.path())
            .await
    {
        let cid = correlation_id(&state, &headers, query.as_deref(), None);
        let err = if fault.status == axum::http::StatusCode::TOO_MANY_REQUESTS {
            aadsts::THROTTLED.err()
        } else {
            aadsts::TRANSIENT.err()
        };
        let mut r = aadsts_response(&state, &err, &cid);
        *r.status_mut() = fault.status;
        if let Some(ra) = fault.retry_after {
            set(r.headers_mut(), "retry-after", &ra);
        }
        state.metrics.token_request("faulted", err.entry.error);
        return r;
    }
    let bytes = match super::body::read(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(refused) => {
            let cid = correlation_id(&state, &headers, query.as_deref(), None);
            state.metrics.token_request("unparsed", "invalid_request");
            let mut r = aadsts_response(
                &state,
                &aadsts::MALFORMED_BODY.with(&[&MAX_BODY_BYTES.to_string()]),
                &cid,
            );
            if refused != (super::body::Refused::TooLarge { drained: true }) {
                // The rest of the body is still coming: this connection cannot carry another
                // request, so say so rather than let the client find out by a reset.
                set(r.headers_mut(), "connection", "close");
            }
            return r;
        }
    };
    // A body that is not a form is read as an empty form, so the answer is Entra's
    // "must contain 'grant_type'".
    let pairs: Vec<_> = if is_form(&headers) {
        form_urlencoded::parse(&bytes).collect()
    } else {
        Vec::new()
    };
    let body_cid = pairs
        .iter()
        .find(|(k, _)| k == "client-request-id")
        .map(|(_, v)| v.to_string());
    let cid = correlation_id(&state, &headers, query.as_deref(), body_cid.as_deref());
    let params = match Params::from_pairs(pairs) {
        Ok(p) => p,
        Err(name) => {
            state.metrics.token_request("unparsed", "invalid_request");
            return aadsts_response(&state, &aadsts::DUPLICATE_PARAMETER.with(&[&name]), &cid);
        }
    };
    let basic = match basic_credentials(&headers) {
        Ok(b) => b,
        Err(f) => {
            state.metrics.token_request("unparsed", "invalid_client");
            return aadsts_response(&state, &f.into_aadsts(), &cid);
        }
    };
    let endpoint = if uri.path().ends_with("/oauth2/token") {
        Endpoint::V1
    } else {
        Endpoint::V2
    };
    // Cut short: the activity ring keeps thousands of these, whatever a stranger sends.
    let short = |v: &str| v.chars().take(256).collect::<String>();
    let client_id = params
        .get("client_id")
        .or_else(|| basic.as_ref().map(|(id, _)| id.as_str()))
        .map(short)
        .unwrap_or_default();
    let username = params.get("username").map(short);
    let tenant_segment = tenant.clone();
    let request = TokenRequest {
        endpoint,
        tenant,
        params,
        basic,
        base_url: base_url(&state, &headers, &uri),
        client_address: peer.map_or_else(|| "unknown".to_owned(), |c| c.0.0.ip().to_string()),
    };
    let (grant, result) = token::token(&state, request).await;
    match result {
        Ok(response) => {
            state.metrics.token_request(grant, "success");
            let mut r = crate::respond::json_bytes(response.to_json()).into_response();
            no_store(r.headers_mut());
            set(r.headers_mut(), "client-request-id", &cid);
            set(
                r.headers_mut(),
                "x-ms-request-id",
                &crate::crypto::random_guid(state.random.as_ref()),
            );
            r
        }
        Err(failure) => {
            if let Failure::Internal(detail) = &failure {
                tracing::error!(grant, correlation_id = %cid, error = %detail, "token request failed inside the server");
            }
            let err = failure.into_aadsts();
            state.metrics.token_request(grant, err.entry.error);
            record_failure(
                &state,
                &tenant_segment,
                client_id,
                username,
                grant,
                err.code(),
            )
            .await;
            aadsts_response(&state, &err, &cid)
        }
    }
}

/// A failed token request in the activity log, under the tenant it named (or the user's).
async fn record_failure(
    state: &AppState,
    segment: &str,
    client_id: String,
    username: Option<String>,
    grant: &str,
    code: u32,
) {
    let domain = username
        .as_deref()
        .and_then(|u| u.rsplit_once('@'))
        .map(|(_, d)| d);
    let mut tenant = None;
    for key in std::iter::once(segment).chain(domain) {
        if let Ok(Some(t)) = state.directory.tenant(key).await {
            tenant = Some(t);
            break;
        }
    }
    let Some(tenant) = tenant else { return };
    let app_name = match state.directory.application(&tenant.id, &client_id).await {
        Ok(Some(a)) => a.display_name.clone(),
        _ => String::new(),
    };
    state.activity.record(ActivityEvent {
        app_id: client_id,
        app_name,
        user: username,
        flow: grant.to_owned(),
        code: Some(code),
        ..ActivityEvent::new(
            ActivityKind::Failed,
            tessera_proto::clock::Clock::unix(state.clock.as_ref()),
            &tenant.id,
        )
    });
}

pub(crate) async fn wrong_method(
    state: Shared,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let cid = correlation_id(&state.0, &headers, query.as_deref(), None);
    aadsts_response(&state.0, &aadsts::POST_ONLY.with(&[method.as_str()]), &cid)
}
