//! The device code flow: `/devicecode` issues the codes, `/devicelogin` takes the user
//! code (throttled per address) and leads into the sign-in steps, the end marks the code.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse as _, Response};
use tessera_proto::clock::Clock as _;
use tessera_proto::clock::Random;
use tessera_proto::errors::AadstsError;
use tessera_proto::errors::{self as aadsts};
use tessera_proto::scope;

use super::authorize::tenant_for_client;
use super::flow::{FLOW_SECONDS, Flow, Purpose};
use super::session::{current_session, session_id};
use super::steps::{flow_user, resume_or_ask, step};
use super::web::{cookie, csrf_value, expired_page, form_fields, internal, with_csrf};
use super::{CSRF_COOKIE, DEVICE_CODE_SECONDS, DEVICE_INTERVAL, Shared, USER_CODE_ALPHABET, pages};
use crate::crypto;
use crate::respond::{aadsts_response, base_url};
use crate::state::AppState;
use crate::store::{DeviceCodeRecord, DeviceCodeStatus, Tenant};

pub(super) fn device_error(state: &AppState, headers: &HeaderMap, err: &AadstsError) -> Response {
    let cid = crate::respond::correlation_id(state, headers, None, None);
    aadsts_response(state, err, &cid)
}

pub(super) fn new_user_code(random: &dyn Random) -> String {
    let mut b = [0u8; 9];
    random.fill(&mut b);
    b.iter()
        .map(|x| char::from(USER_CODE_ALPHABET[usize::from(*x) % USER_CODE_ALPHABET.len()]))
        .collect()
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`.
pub(crate) async fn device_authorization(
    state: Shared,
    Path(segment): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let state = state.0;
    let fields = form_fields(&body);
    let get = |k: &str| fields.get(k).filter(|v| !v.is_empty()).cloned();
    let Some(client_id) = get("client_id") else {
        return device_error(
            &state,
            &headers,
            &aadsts::MISSING_PARAMETER.with(&["client_id"]),
        );
    };
    // `/{tenant}/oauth2/devicecode` is the v1.0 endpoint: a `resource` instead of scopes, and
    // the answer in v1's shape (ADAL's `acquire_user_code`).
    let v1 = uri.path().ends_with("/oauth2/devicecode");
    let requested = if v1 {
        get("resource").map(|r| crate::token::v1_scope(&r, true, true))
    } else {
        get("scope")
    };
    let Some(scope_text) = requested else {
        let name = if v1 { "resource" } else { "scope" };
        return device_error(&state, &headers, &aadsts::MISSING_PARAMETER.with(&[name]));
    };
    let tenant = match tenant_for_client(&state, &segment, &client_id).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            let shown: String = segment.chars().take(100).collect();
            return device_error(&state, &headers, &aadsts::TENANT_NOT_FOUND.with(&[&shown]));
        }
        Err(e) => {
            tracing::error!(error = %e, "device code tenant lookup failed");
            return device_error(&state, &headers, &aadsts::TRANSIENT.err());
        }
    };
    let app = match state.directory.application(&tenant.id, &client_id).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            let shown: String = client_id.chars().take(100).collect();
            return device_error(
                &state,
                &headers,
                &aadsts::APPLICATION_NOT_FOUND.with(&[&shown, &tenant.display_name]),
            );
        }
        Err(_) => return device_error(&state, &headers, &aadsts::TRANSIENT.err()),
    };
    if !app.public_client {
        return device_error(&state, &headers, &aadsts::PUBLIC_FLOWS_DISABLED.err());
    }
    if let Err(e) = scope::parse(&scope_text) {
        let shown: String = scope_text.chars().take(300).collect();
        let err = match e {
            scope::ScopeError::MultipleResources(_) => aadsts::MULTIPLE_RESOURCES.with(&[&shown]),
            scope::ScopeError::Invalid(_) => aadsts::INVALID_SCOPE.with(&[&shown]),
        };
        return device_error(&state, &headers, &err);
    }
    let now = state.clock.unix();
    let device_code = crypto::random_b64url(state.random.as_ref(), 48);
    let mut user_code = new_user_code(state.random.as_ref());
    for attempt in 0..5 {
        let record = DeviceCodeRecord {
            hash: crypto::sha256_hex(device_code.as_bytes()),
            user_code: user_code.clone(),
            tenant_id: tenant.id.clone(),
            client_id: app.client_id.clone(),
            scope: scope_text.clone(),
            claims: get("claims"),
            created_at: now,
            expires_at: now + DEVICE_CODE_SECONDS,
            interval_seconds: DEVICE_INTERVAL,
            last_poll_at: 0,
            status: DeviceCodeStatus::Pending,
            user_id: None,
            session_id: None,
        };
        match state.store().insert_device_code(record).await {
            Ok(()) => break,
            Err(crate::store::StoreError::Conflict(_)) if attempt < 4 => {
                user_code = new_user_code(state.random.as_ref())
            }
            Err(e) => {
                tracing::error!(error = %e, "storing a device code failed");
                return device_error(&state, &headers, &aadsts::TRANSIENT.err());
            }
        }
    }
    let verification_uri = format!("{}/devicelogin", base_url(&state, &headers, &uri));
    let message = format!(
        "To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."
    );
    let body = if v1 {
        // v1 says `verification_url` and writes the numbers as strings (as a pam_aad log
        // of Entra's answer shows; ADAL reads these names).
        serde_json::json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_url": verification_uri,
            "expires_in": DEVICE_CODE_SECONDS.to_string(),
            "interval": DEVICE_INTERVAL.to_string(),
            "message": message,
        })
    } else {
        serde_json::json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": verification_uri,
            "expires_in": DEVICE_CODE_SECONDS,
            "interval": DEVICE_INTERVAL,
            "message": message,
        })
    };
    let mut r = crate::respond::json_body(&body).into_response();
    crate::respond::no_store(r.headers_mut());
    r
}

/// `GET /devicelogin`: the code entry page.
pub(crate) async fn devicelogin_page(state: Shared, uri: Uri, headers: HeaderMap) -> Response {
    let state = state.0;
    let (csrf, fresh) = csrf_value(&state, &headers);
    let action = format!("{}/devicelogin", base_url(&state, &headers, &uri));
    with_csrf(pages::device_entry(&action, &csrf, None), &csrf, fresh)
}

/// `POST /devicelogin`: looks the code up and starts the sign-in for it.
pub(crate) async fn devicelogin_submit(
    state: Shared,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let state = state.0;
    let address = peer.map_or_else(|| "unknown".to_owned(), |c| c.0.0.ip().to_string());
    let fields = form_fields(&body);
    let base = base_url(&state, &headers, &uri);
    let action = format!("{base}/devicelogin");
    let Some(csrf) = cookie(&headers, CSRF_COOKIE).filter(|c| {
        fields
            .get("csrf")
            .is_some_and(|f| crypto::digests_equal(f.as_bytes(), c.as_bytes()))
    }) else {
        return expired_page(&state);
    };
    let code: String = fields
        .get("otc")
        .map(|c| {
            c.chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
                .to_ascii_uppercase()
        })
        .unwrap_or_default();
    let now = state.clock.unix();
    match state
        .lockout
        .device_codes_locked(state.store(), &address, now)
        .await
    {
        Ok(false) => {}
        Ok(true) => {
            let mut page = pages::device_entry(
                &action,
                &csrf,
                Some(
                    "Too many codes that didn't work were entered from here. Wait a minute, then try again.",
                ),
            );
            *page.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
            return page;
        }
        Err(e) => return internal(&state, &e.into()),
    }
    let record = if code.len() == 9 {
        state
            .store()
            .device_code_by_user_code(&code)
            .await
            .ok()
            .flatten()
    } else {
        None
    };
    let Some(record) =
        record.filter(|r| r.status == DeviceCodeStatus::Pending && r.expires_at >= now)
    else {
        if let Err(e) = state
            .lockout
            .device_code_failed(state.store(), &address, now)
            .await
        {
            return internal(&state, &e.into());
        }
        return pages::device_entry(
            &action,
            &csrf,
            Some(
                "That code didn't work. Check the code and try again; codes expire after 15 minutes.",
            ),
        );
    };
    let Ok(Some(tenant)) = state.directory.tenant(&record.tenant_id).await else {
        return expired_page(&state);
    };
    let flow = Flow {
        tenant_id: tenant.id.clone(),
        purpose: Purpose::Device {
            device_hash: record.hash.clone(),
            client_id: record.client_id.clone(),
            scope: record.scope.clone(),
        },
        username: None,
        user_id: None,
        mfa_done: false,
        auth_time: None,
        consented: false,
        csrf: csrf.clone(),
        expires_at: now + FLOW_SECONDS,
    };
    let session = current_session(&state, &headers, &tenant.id).await;
    resume_or_ask(&state, &base, &tenant, flow, session, &csrf, None).await
}

pub(super) async fn decline_device(
    state: &AppState,
    tenant: &Tenant,
    device_hash: &str,
) -> Response {
    let _ = state
        .store()
        .transition_device_code(
            device_hash,
            DeviceCodeStatus::Pending,
            DeviceCodeStatus::Declined,
            None,
            None,
        )
        .await;
    pages::message(
        StatusCode::OK,
        "Sign-in canceled",
        Some(&tenant.display_name),
        "You canceled signing in on the other device. You can close this window.",
    )
}

/// The device confirmation page's answer.
pub(crate) async fn login_device(
    state: Shared,
    Path(segment): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = match step(state.0, &segment, &headers, &uri, &body).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Purpose::Device {
        device_hash,
        client_id,
        ..
    } = &s.flow.purpose
    else {
        return expired_page(&s.state);
    };
    let Some(user) = flow_user(&s).await else {
        return expired_page(&s.state);
    };
    let Some((session, _)) = current_session(&s.state, &headers, &s.tenant.id)
        .await
        .filter(|(_, u)| u.id == user.id)
    else {
        return expired_page(&s.state);
    };
    if s.fields.get("decision").map(String::as_str) != Some("accept") {
        return decline_device(&s.state, &s.tenant, device_hash).await;
    }
    let sid = session_id(&session.hash);
    match s
        .state
        .store()
        .transition_device_code(
            device_hash,
            DeviceCodeStatus::Pending,
            DeviceCodeStatus::Approved,
            Some(&user.id),
            Some(&sid),
        )
        .await
    {
        Ok(true) => {
            let app = s
                .state
                .directory
                .application(&s.tenant.id, client_id)
                .await
                .ok()
                .flatten()
                .map_or_else(|| "the application".to_owned(), |a| a.display_name.clone());
            pages::message(
                StatusCode::OK,
                "You're signed in",
                Some(&s.tenant.display_name),
                &format!("You have signed in to {app} on your device. You can close this window."),
            )
        }
        Ok(false) => expired_page(&s.state),
        Err(e) => internal(&s.state, &e.into()),
    }
}
