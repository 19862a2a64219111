//! The login state machine: the sealed flow carried between pages, and the user name,
//! password, one-time code and account picker steps, down to the consent check.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use tessera_proto::clock::Clock as _;
use tessera_proto::errors::{self as aadsts};
use tessera_proto::scope;

use super::answer::{finish, redirect_error};
use super::flow::{self, Flow, Purpose};
use super::session::current_session;
use super::web::{
    cookie, error_page, expired_page, form_fields, internal, login_action, set_cookie,
};
use super::{CSRF_COOKIE, SESSION_COOKIE, Shared, pages};
use crate::crypto;
use crate::directory::{Checked, Lockout, TenantAlias};
use crate::error::ServerError;
use crate::infra::activity::{ActivityEvent, ActivityKind};
use crate::respond::base_url;
use crate::state::AppState;
use crate::store::{Application, SigninSession, Tenant, User};

/// Opens the flow token of a POSTed page form after checking the CSRF value.
pub(super) fn open_flow(
    state: &AppState,
    headers: &HeaderMap,
    fields: &HashMap<String, String>,
    tenant: &str,
) -> Option<Flow> {
    let csrf = cookie(headers, CSRF_COOKIE)?;
    if fields
        .get("csrf")
        .is_none_or(|v| !crypto::digests_equal(v.as_bytes(), csrf.as_bytes()))
    {
        return None;
    }
    let flow = flow::open(
        &state.flow_key,
        fields.get("flow")?,
        &csrf,
        state.clock.unix(),
    )?;
    (flow.tenant_id.eq_ignore_ascii_case(tenant) || tenant_matches(state, &flow, tenant))
        .then_some(flow)
}

pub(super) fn tenant_matches(_state: &AppState, flow: &Flow, segment: &str) -> bool {
    TenantAlias::parse(segment).is_some() || flow.tenant_id.eq_ignore_ascii_case(segment)
}

pub(super) fn reseal(state: &AppState, flow: &Flow) -> String {
    flow::seal(&state.flow_key, flow)
}

/// After the user is known: the one-time-code step when required, consent when missing,
/// then the code (authorize) or the confirmation (device code). Creates the SSO session
/// once the user is fully authenticated.
pub(super) async fn continue_signin(
    state: &AppState,
    base: &str,
    tenant: &Tenant,
    flow: Flow,
    user: User,
    session: Option<String>,
    csrf: &str,
) -> Response {
    let app = match state
        .directory
        .application(&tenant.id, flow.purpose.client_id())
        .await
    {
        Ok(Some(a)) => a,
        _ => return expired_page(state),
    };
    if user.mfa_required && !flow.mfa_done {
        return pages::mfa(
            &tenant.display_name,
            &login_action(base, &tenant.id, "/mfa"),
            csrf,
            &reseal(state, &flow),
            &user.user_principal_name,
            None,
        );
    }
    let now = state.clock.unix();
    let (session_hash, new_cookie) = match session {
        Some(h) => (h, None),
        None => {
            let value = crypto::random_b64url(state.random.as_ref(), 32);
            let hash = crypto::sha256_hex(value.as_bytes());
            let record = SigninSession {
                hash: hash.clone(),
                tenant_id: tenant.id.clone(),
                user_id: user.id.clone(),
                created_at: now,
                auth_time: now,
                mfa_at: if flow.mfa_done { now } else { 0 },
                ended: false,
            };
            if let Err(e) = state.store().insert_session(record).await {
                return internal(state, &e.into());
            }
            (hash, Some(value))
        }
    };
    let mut response = match consent_needed(state, tenant, &app, &user, flow.purpose.scope()).await
    {
        Err(e) => internal(state, &e),
        Ok(missing) if !missing.is_empty() || (is_prompt(&flow, "consent") && !flow.consented) => {
            let prompt_none = is_prompt(&flow, "none");
            if prompt_none {
                if let Purpose::Authorize(p) = &flow.purpose {
                    redirect_error(
                        state,
                        p,
                        &aadsts::CONSENT_REQUIRED_INTERACTIVE
                            .with(&[&app.client_id, &app.display_name]),
                    )
                } else {
                    expired_page(state)
                }
            } else {
                let shown = if missing.is_empty() {
                    scope_list(flow.purpose.scope())
                } else {
                    missing
                };
                let flow = Flow {
                    user_id: Some(user.id.clone()),
                    ..flow
                };
                pages::consent(
                    &tenant.display_name,
                    &login_action(base, &tenant.id, "/consent"),
                    csrf,
                    &reseal(state, &flow),
                    &user.user_principal_name,
                    &app.display_name,
                    &shown,
                )
            }
        }
        Ok(_) => finish(state, base, tenant, &app, &flow, &user, &session_hash, csrf).await,
    };
    if let Some(value) = new_cookie {
        set_cookie(&mut response, SESSION_COOKIE, &value, None);
    }
    response
}

pub(super) fn is_prompt(flow: &Flow, value: &str) -> bool {
    matches!(&flow.purpose, Purpose::Authorize(p) if p.prompt.as_deref() == Some(value))
}

pub(super) fn scope_list(scope_text: &str) -> Vec<String> {
    scope_text.split_whitespace().map(str::to_owned).collect()
}

/// The requested delegated permissions neither the tenant nor the user has consented to.
pub(super) async fn consent_needed(
    state: &AppState,
    tenant: &Tenant,
    app: &Application,
    user: &User,
    scope_text: &str,
) -> Result<Vec<String>, ServerError> {
    // SAML and WS-Federation ask for no delegated permissions.
    if scope_text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let Ok(req) = scope::parse(scope_text) else {
        return Ok(Vec::new());
    };
    let resource_text = req
        .resource
        .clone()
        .unwrap_or_else(|| tessera_proto::GRAPH_RESOURCE.to_owned());
    let Some(resource) = state.directory.resource(&tenant.id, &resource_text).await? else {
        return Ok(Vec::new());
    };
    let mut consented = app
        .delegated_permissions
        .get(&resource.key)
        .cloned()
        .unwrap_or_default();
    consented.extend(
        state
            .store()
            .user_consent(&tenant.id, &user.id, &app.client_id, &resource.key)
            .await?,
    );
    let mut wanted: Vec<String> = req.permissions.clone();
    for (asked, name) in [
        (req.oidc.openid, "openid"),
        (req.oidc.profile, "profile"),
        (req.oidc.email, "email"),
        (req.oidc.offline_access, "offline_access"),
    ] {
        if asked {
            wanted.push(name.to_owned());
        }
    }
    Ok(wanted
        .into_iter()
        .filter(|w| !consented.iter().any(|c| c.eq_ignore_ascii_case(w)))
        .collect())
}

pub(super) struct Step {
    pub(super) state: Arc<AppState>,
    pub(super) base: String,
    pub(super) tenant: Arc<Tenant>,
    pub(super) flow: Flow,
    pub(super) fields: HashMap<String, String>,
    pub(super) csrf: String,
}

pub(super) async fn step(
    state: Arc<AppState>,
    segment: &str,
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
) -> Result<Step, Response> {
    let fields = form_fields(body);
    let Some(flow) = open_flow(&state, headers, &fields, segment) else {
        return Err(expired_page(&state));
    };
    let tenant = match state.directory.tenant(&flow.tenant_id).await {
        Ok(Some(t)) => t,
        _ => return Err(expired_page(&state)),
    };
    let csrf = cookie(headers, CSRF_COOKIE).unwrap_or_default();
    Ok(Step {
        base: base_url(&state, headers, uri),
        state,
        tenant,
        flow,
        fields,
        csrf,
    })
}

pub(crate) async fn login_username(
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
    let username = s
        .fields
        .get("username")
        .map(|u| u.trim().to_owned())
        .unwrap_or_default();
    if username.is_empty() || username.len() > 256 {
        return pages::username(
            &s.tenant.display_name,
            &login_action(&s.base, &s.tenant.id, ""),
            &s.csrf,
            &reseal(&s.state, &s.flow),
            None,
            Some("Enter your email or user name."),
        );
    }
    let flow = Flow {
        username: Some(username.clone()),
        user_id: None,
        mfa_done: false,
        ..s.flow
    };
    pages::password(
        &s.tenant.display_name,
        &login_action(&s.base, &s.tenant.id, "/password"),
        &s.csrf,
        &reseal(&s.state, &flow),
        &username,
        None,
    )
}

pub(crate) async fn login_password(
    state: Shared,
    Path(segment): Path<String>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = match step(state.0, &segment, &headers, &uri, &body).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(username) = s.flow.username.clone() else {
        return expired_page(&s.state);
    };
    let password = s.fields.get("password").cloned().unwrap_or_default();
    let address = peer.map_or_else(|| "unknown".to_owned(), |c| c.0.0.ip().to_string());
    let who = Lockout::user_key(&s.tenant.id, &username);
    let now = s.state.clock.unix();
    let action = login_action(&s.base, &s.tenant.id, "/password");
    let again = |msg: &str| {
        pages::password(
            &s.tenant.display_name,
            &action,
            &s.csrf,
            &reseal(&s.state, &s.flow),
            &username,
            Some(msg),
        )
    };
    let user = match s.state.directory.user_by_upn(&s.tenant.id, &username).await {
        Ok(u) => u,
        Err(e) => return internal(&s.state, &e.into()),
    };
    let hash = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_default();
    let verify = crypto::verify_queued(hash, password);
    let checked = s
        .state
        .lockout
        .check(s.state.store(), &who, &address, now, verify)
        .await;
    // Failed sign-ins go to the portal's activity log with Entra's code for them.
    let note = |code: u32| {
        s.state.activity.record(ActivityEvent {
            app_id: s.flow.purpose.client_id().to_owned(),
            user: Some(username.chars().take(256).collect()),
            flow: "sign-in page".into(),
            code: Some(code),
            ..ActivityEvent::new(ActivityKind::Failed, now, &s.tenant.id)
        });
    };
    let user = match (checked, user) {
        (Ok(Checked::Right), Some(user)) => user,
        (Ok(Checked::Locked), _) => {
            note(aadsts::ACCOUNT_LOCKED.code);
            return again(
                "You've tried to sign in too many times with an incorrect user name or password. Wait a moment and try again. (AADSTS50053)",
            );
        }
        (Ok(_), _) => {
            note(aadsts::INVALID_PASSWORD.code);
            return again(
                "Your account or password is incorrect. If you don't remember your password, ask your administrator to reset it.",
            );
        }
        (Err(e), _) => return internal(&s.state, &e.into()),
    };
    if !user.account_enabled {
        note(aadsts::USER_DISABLED.code);
        return error_page(
            &s.state,
            Some(&s.tenant.display_name),
            "Your account has been disabled. Contact your administrator.",
            &aadsts::USER_DISABLED.err(),
        );
    }
    let flow = Flow {
        user_id: Some(user.id.clone()),
        mfa_done: false,
        ..s.flow
    };
    continue_signin(&s.state, &s.base, &s.tenant, flow, user, None, &s.csrf).await
}

pub(super) async fn flow_user(s: &Step) -> Option<User> {
    let id = s.flow.user_id.as_deref()?;
    s.state
        .directory
        .user(&s.tenant.id, id)
        .await
        .ok()
        .flatten()
        .filter(|u| u.account_enabled)
}

pub(crate) async fn login_mfa(
    state: Shared,
    Path(segment): Path<String>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = match step(state.0, &segment, &headers, &uri, &body).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(user) = flow_user(&s).await else {
        return expired_page(&s.state);
    };
    let now = s.state.clock.unix();
    let address = peer.map_or_else(|| "unknown".to_owned(), |c| c.0.0.ip().to_string());
    let who = format!("{}|{}|mfa", s.tenant.id, user.id);
    let code = s.fields.get("otc").cloned().unwrap_or_default();
    let throttle = &s.state.lockout;
    let locked = match throttle.locked(s.state.store(), &who, &address, now).await {
        Ok(locked) => locked,
        Err(e) => return internal(&s.state, &e.into()),
    };
    let ok = !locked
        && user
            .mfa_totp_secret
            .as_deref()
            .is_some_and(|secret| flow::totp_matches(secret, &code, now));
    if !ok {
        if let Err(e) = throttle.failed(s.state.store(), &who, &address, now).await {
            return internal(&s.state, &e.into());
        }
        return pages::mfa(
            &s.tenant.display_name,
            &login_action(&s.base, &s.tenant.id, "/mfa"),
            &s.csrf,
            &reseal(&s.state, &s.flow),
            &user.user_principal_name,
            Some("That code didn't work. Check the code in your authenticator app and try again."),
        );
    }
    if let Err(e) = throttle.succeeded(s.state.store(), &who, &address).await {
        return internal(&s.state, &e.into());
    }
    let session = current_session(&s.state, &headers, &s.tenant.id)
        .await
        .filter(|(_, u)| u.id == user.id)
        .map(|(sess, _)| sess.hash);
    if let Some(h) = &session
        && let Err(e) = s.state.directory.set_session_mfa(h, now).await
    {
        return internal(&s.state, &e.into());
    }
    let flow = Flow {
        mfa_done: true,
        ..s.flow.clone()
    };
    continue_signin(&s.state, &s.base, &s.tenant, flow, user, session, &s.csrf).await
}

pub(crate) async fn login_account(
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
    let current = current_session(&s.state, &headers, &s.tenant.id).await;
    match (s.fields.get("account").map(String::as_str), current) {
        (Some("current"), Some((session, user)))
            if s.flow.user_id.as_deref() == Some(user.id.as_str()) =>
        {
            let flow = Flow {
                mfa_done: session.mfa_at > 0,
                auth_time: Some(session.auth_time),
                ..s.flow
            };
            continue_signin(
                &s.state,
                &s.base,
                &s.tenant,
                flow,
                user,
                Some(session.hash),
                &s.csrf,
            )
            .await
        }
        _ => {
            let flow = Flow {
                user_id: None,
                mfa_done: false,
                ..s.flow
            };
            pages::username(
                &s.tenant.display_name,
                &login_action(&s.base, &s.tenant.id, ""),
                &s.csrf,
                &reseal(&s.state, &flow),
                None,
                None,
            )
        }
    }
}

/// Where a new flow goes once the request is accepted (authorize and `/devicelogin` alike):
/// a signed-in session carries on to the next step the flow needs; without one, the user
/// name page, filled with `hint`.
pub(super) async fn resume_or_ask(
    state: &AppState,
    base: &str,
    tenant: &Tenant,
    flow: Flow,
    session: Option<(SigninSession, User)>,
    csrf: &str,
    hint: Option<&str>,
) -> Response {
    match session {
        Some((session, user)) => {
            let flow = Flow {
                user_id: Some(user.id.clone()),
                mfa_done: session.mfa_at > 0,
                auth_time: Some(session.auth_time),
                ..flow
            };
            continue_signin(state, base, tenant, flow, user, Some(session.hash), csrf).await
        }
        None => pages::username(
            &tenant.display_name,
            &login_action(base, &tenant.id, ""),
            csrf,
            &reseal(state, &flow),
            hint,
            None,
        ),
    }
}
