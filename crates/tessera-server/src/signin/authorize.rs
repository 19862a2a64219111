//! The authorize endpoint: the request checked as Entra checks it (client, redirect URI,
//! response type and mode, PKCE, prompt), then handed to the sign-in steps.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use tessera_proto::clock::Clock as _;
use tessera_proto::errors::{self as aadsts};
use tessera_proto::scope;

use super::answer::redirect_error;
use super::flow::{AuthorizeParams, FLOW_SECONDS, Flow, Purpose};
use super::session::current_session;
use super::steps::{reseal, resume_or_ask};
use super::web::{csrf_value, error_page, form_fields, internal, login_action, with_csrf};
use super::{Shared, pages};
use crate::directory::TenantAlias;
use crate::error::ServerError;
use crate::respond::base_url;
use crate::state::AppState;
use crate::store::{Application, Tenant};

/// Registered redirect URIs match exactly, except that public clients may use any port on
/// `http://localhost` and `http://127.0.0.1` (Entra's loopback rule).
pub(super) fn redirect_allowed(app: &Application, uri: &str) -> bool {
    if uri.len() > 2048 {
        return false;
    }
    if app.redirect_uris.iter().any(|r| r == uri) {
        return true;
    }
    let Ok(asked) = url::Url::parse(uri) else {
        return false;
    };
    let loopback = |u: &url::Url| {
        u.scheme() == "http" && matches!(u.host_str(), Some("localhost" | "127.0.0.1"))
    };
    if !(app.public_client && loopback(&asked)) {
        return false;
    }
    app.redirect_uris
        .iter()
        .filter_map(|r| url::Url::parse(r).ok())
        .any(|r| {
            loopback(&r)
                && r.host_str() == asked.host_str()
                && r.path().trim_end_matches('/') == asked.path().trim_end_matches('/')
        })
}

pub(super) async fn tenant_for_client(
    state: &AppState,
    segment: &str,
    client_id: &str,
) -> Result<Option<Arc<Tenant>>, ServerError> {
    if TenantAlias::parse(segment).is_none() {
        return Ok(state.directory.tenant(segment).await?);
    }
    // common/organizations: the tenant whose registration this client is.
    for t in state.store().tenants().await? {
        if state
            .directory
            .application(&t.id, client_id)
            .await?
            .is_some()
        {
            return Ok(state.directory.tenant(&t.id).await?);
        }
    }
    Ok(None)
}

pub(crate) async fn authorize(
    state: Shared,
    Path(segment): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let state = state.0;
    let fields = if method == Method::POST {
        form_fields(&body)
    } else {
        form_fields(query.unwrap_or_default().as_bytes())
    };
    let get = |k: &str| fields.get(k).filter(|v| !v.is_empty()).cloned();
    let base = base_url(&state, &headers, &uri);
    let (csrf, fresh) = csrf_value(&state, &headers);
    // `/{tenant}/oauth2/authorize`: the v1.0 endpoint, the same sign-in for a `resource`.
    let v1 = uri.path().ends_with("/oauth2/authorize");

    let Some(client_id) = get("client_id") else {
        return with_csrf(
            error_page(
                &state,
                None,
                "The request is missing the application's client_id.",
                &aadsts::MISSING_PARAMETER.with(&["client_id"]),
            ),
            &csrf,
            fresh,
        );
    };
    let tenant = match tenant_for_client(&state, &segment, &client_id).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            let shown: String = segment.chars().take(100).collect();
            return error_page(
                &state,
                None,
                "The organization in the sign-in address does not exist here.",
                &aadsts::TENANT_NOT_FOUND.with(&[&shown]),
            );
        }
        Err(e) => return internal(&state, &e),
    };
    let app = match state.directory.application(&tenant.id, &client_id).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            let shown: String = client_id.chars().take(100).collect();
            return error_page(
                &state,
                Some(&tenant.display_name),
                "The application asking you to sign in is not registered in this organization.",
                &aadsts::APPLICATION_NOT_FOUND.with(&[&shown, &tenant.display_name]),
            );
        }
        Err(e) => return internal(&state, &e.into()),
    };
    let redirect_uri = match get("redirect_uri") {
        Some(r) => r,
        None if app.redirect_uris.len() == 1 => app.redirect_uris[0].clone(),
        None => {
            return error_page(
                &state,
                Some(&tenant.display_name),
                "The request is missing redirect_uri.",
                &aadsts::MISSING_PARAMETER.with(&["redirect_uri"]),
            );
        }
    };
    if !redirect_allowed(&app, &redirect_uri) {
        let shown: String = redirect_uri.chars().take(300).collect();
        return error_page(
            &state,
            Some(&tenant.display_name),
            "The address the application wants to return you to is not registered for it, so you are not sent there.",
            &aadsts::REDIRECT_MISMATCH.with(&[&shown, &app.client_id]),
        );
    }
    let response_type = get("response_type").unwrap_or_default();
    let mut kinds: Vec<&str> = response_type.split_whitespace().collect();
    kinds.sort_unstable();
    let hybrid = kinds == ["code", "id_token"];
    let default_mode = if hybrid { "fragment" } else { "query" };
    let response_mode = get("response_mode").unwrap_or_else(|| default_mode.to_owned());
    let mut params = AuthorizeParams {
        client_id: app.client_id.clone(),
        redirect_uri,
        response_type: response_type.clone(),
        response_mode: if ["query", "fragment", "form_post"].contains(&response_mode.as_str()) {
            response_mode
        } else {
            default_mode.to_owned()
        },
        scope: if v1 {
            // v1 names the resource; `scope` there only asks for OpenID Connect.
            get("resource").map_or_else(
                || "openid profile offline_access".to_owned(),
                |r| crate::token::v1_scope(&r, true, true),
            )
        } else {
            get("scope").unwrap_or_default()
        },
        state: fields.get("state").cloned(),
        nonce: get("nonce"),
        code_challenge: get("code_challenge"),
        code_challenge_method: get("code_challenge_method"),
        prompt: get("prompt"),
        login_hint: get("login_hint"),
        client_info: get("client_info").as_deref() == Some("1"),
        claims: get("claims"),
    };
    if kinds != ["code"] && !hybrid {
        let shown: String = response_type.chars().take(50).collect();
        return redirect_error(
            &state,
            &params,
            &aadsts::UNSUPPORTED_RESPONSE_TYPE.with(&[&shown]),
        );
    }
    if hybrid && params.response_mode == "query" {
        params.response_mode = "fragment".into();
        return redirect_error(
            &state,
            &params,
            &aadsts::UNSUPPORTED_RESPONSE_TYPE.with(&["code id_token with response_mode=query"]),
        );
    }
    if params.scope.is_empty() {
        return redirect_error(&state, &params, &aadsts::MISSING_PARAMETER.with(&["scope"]));
    }
    let parsed = match scope::parse(&params.scope) {
        Ok(p) => p,
        Err(_) => {
            let shown: String = params.scope.chars().take(300).collect();
            return redirect_error(&state, &params, &aadsts::INVALID_SCOPE.with(&[&shown]));
        }
    };
    if hybrid && (!parsed.oidc.openid || params.nonce.is_none()) {
        return redirect_error(&state, &params, &aadsts::MISSING_PARAMETER.with(&["nonce"]));
    }
    match (
        &params.code_challenge,
        params.code_challenge_method.as_deref(),
    ) {
        // The v1.0 endpoint never required PKCE (ADAL's native clients do not send it).
        (None, _) if app.public_client && !v1 => {
            return redirect_error(&state, &params, &aadsts::PKCE_REQUIRED.err());
        }
        (None, _) => {}
        (Some(c), m) => {
            let valid = match m.unwrap_or("plain") {
                "S256" => {
                    c.len() == 43
                        && c.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                }
                "plain" => {
                    (43..=128).contains(&c.len())
                        && c.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
                }
                _ => false,
            };
            if !valid {
                return redirect_error(&state, &params, &aadsts::BAD_CODE_CHALLENGE.err());
            }
        }
    }

    let now = state.clock.unix();
    let prompt = params.prompt.clone().unwrap_or_default();
    let flow = Flow {
        tenant_id: tenant.id.clone(),
        purpose: Purpose::Authorize(Box::new(params.clone())),
        username: params.login_hint.clone(),
        user_id: None,
        mfa_done: false,
        auth_time: None,
        consented: false,
        csrf: csrf.clone(),
        expires_at: now + FLOW_SECONDS,
    };
    let session = if prompt == "login" {
        None
    } else {
        current_session(&state, &headers, &tenant.id).await
    };
    let response = match (prompt.as_str(), session) {
        ("none", None) => redirect_error(&state, &params, &aadsts::LOGIN_REQUIRED.err()),
        ("select_account", Some((_, user))) => pages::pick_account(
            &tenant.display_name,
            &login_action(&base, &tenant.id, "/account"),
            &csrf,
            &reseal(
                &state,
                &Flow {
                    user_id: Some(user.id.clone()),
                    ..flow
                },
            ),
            &user.user_principal_name,
        ),
        (_, session) => {
            resume_or_ask(
                &state,
                &base,
                &tenant,
                flow,
                session,
                &csrf,
                params.login_hint.as_deref(),
            )
            .await
        }
    };
    with_csrf(response, &csrf, fresh)
}
