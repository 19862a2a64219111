//! Interactive sign-in: the authorize endpoint (authorization code with PKCE, `code
//! id_token`, query/fragment/form_post), the device code endpoint and its `/devicelogin`
//! pages, the sign-in pages (user name, password, one-time code, consent, account picker),
//! single sign-on by session cookie, and logout.

mod flow;
mod pages;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tessera_proto::clock::{Clock as _, Random};
use tessera_proto::errors::{self as aadsts, AadstsError};
use tessera_proto::scope;
use tessera_proto::token::ClientInfo;

use flow::{AuthorizeParams, FLOW_SECONDS, Flow, Purpose};

use crate::crypto;
use crate::directory::{Checked, Lockout, TenantAlias};
use crate::error::ServerError;
use crate::respond::{aadsts_response, base_url, entra_timestamp};
use crate::state::AppState;
use crate::store::{
    Application, AuthCodeRecord, DeviceCodeRecord, DeviceCodeStatus, SigninSession, Tenant, User,
};

type Shared = axum::extract::State<Arc<AppState>>;

const SESSION_COOKIE: &str = "tessera_sso";
const CSRF_COOKIE: &str = "tessera_csrf";
const CODE_SECONDS: i64 = 600;
const DEVICE_CODE_SECONDS: i64 = 900;
const DEVICE_INTERVAL: i64 = 5;
/// User codes avoid look-alike characters (0/O, 1/I).
const USER_CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

// ---------------------------------------------------------------------------------------
// Request plumbing: cookies, forms, errors.

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name && !v.is_empty()).then(|| v.to_owned())
        })
}

fn set_cookie(response: &mut Response, name: &str, value: &str, max_age: Option<i64>) {
    let age = max_age.map_or_else(String::new, |a| format!("; Max-Age={a}"));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax{age}"
    )) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The browser's CSRF value, and whether it must be set on the response.
fn csrf_value(state: &AppState, headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, CSRF_COOKIE) {
        Some(v) if v.len() >= 22 && v.len() <= 64 => (v, false),
        _ => (crypto::random_b64url(state.random.as_ref(), 24), true),
    }
}

fn with_csrf(mut response: Response, csrf: &str, fresh: bool) -> Response {
    if fresh {
        set_cookie(&mut response, CSRF_COOKIE, csrf, None);
    }
    response
}

fn form_fields(body: &[u8]) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    map
}

/// An error page for an AADSTS error that must not be sent to a redirect URI.
fn error_page(state: &AppState, tenant: Option<&str>, plain: &str, err: &AadstsError) -> Response {
    let trace = crypto::random_guid(state.random.as_ref());
    let correlation = crypto::random_guid(state.random.as_ref());
    let status = if err.status() == 401 {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    pages::error(
        status,
        tenant,
        plain,
        &err.to_string(),
        &trace,
        &correlation,
        &entra_timestamp(state),
    )
}

fn expired_page(state: &AppState) -> Response {
    let e = aadsts::MALFORMED_REQUEST.err();
    error_page(
        state,
        None,
        "This sign-in page has expired or was opened in another browser. Go back to the application and start signing in again.",
        &e,
    )
}

/// Opens the flow token of a POSTed page form after checking the CSRF value.
fn open_flow(
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

fn tenant_matches(_state: &AppState, flow: &Flow, segment: &str) -> bool {
    TenantAlias::parse(segment).is_some() || flow.tenant_id.eq_ignore_ascii_case(segment)
}

fn reseal(state: &AppState, flow: &Flow) -> String {
    flow::seal(&state.flow_key, flow)
}

/// The current SSO session for `tenant`, if the browser has a live one.
async fn current_session(
    state: &AppState,
    headers: &HeaderMap,
    tenant_id: &str,
) -> Option<(SigninSession, User)> {
    let value = cookie(headers, SESSION_COOKIE)?;
    let session = state
        .store()
        .session(&crypto::sha256_hex(value.as_bytes()))
        .await
        .ok()??;
    if session.ended || session.tenant_id != tenant_id {
        return None;
    }
    let user = state
        .directory
        .user(tenant_id, &session.user_id)
        .await
        .ok()??;
    user.account_enabled.then_some((session, user))
}

/// `sid` claim for a session: stable, not the cookie.
fn session_id(session_hash: &str) -> String {
    let d = crypto::sha256(format!("sid|{session_hash}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}

fn login_action(base: &str, tenant_id: &str, step: &str) -> String {
    format!("{base}/{tenant_id}/login{step}")
}

// ---------------------------------------------------------------------------------------
// Redirect URIs and responses to the app.

/// Registered redirect URIs match exactly, except that public clients may use any port on
/// `http://localhost` and `http://127.0.0.1` (Entra's loopback rule).
fn redirect_allowed(app: &Application, uri: &str) -> bool {
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

fn response_to_app(redirect_uri: &str, mode: &str, fields: Vec<(String, String)>) -> Response {
    if mode == "form_post" {
        return pages::form_post(redirect_uri, &fields);
    }
    let encoded: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .finish();
    let location = if mode == "fragment" {
        format!("{redirect_uri}#{encoded}")
    } else if redirect_uri.contains('?') {
        format!("{redirect_uri}&{encoded}")
    } else {
        format!("{redirect_uri}?{encoded}")
    };
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// An error after the app and redirect URI are known goes back to the app.
fn redirect_error(state: &AppState, params: &AuthorizeParams, err: &AadstsError) -> Response {
    let trace = crypto::random_guid(state.random.as_ref());
    let body = err.to_response(
        &trace,
        &crypto::random_guid(state.random.as_ref()),
        &entra_timestamp(state),
    );
    let mut fields = vec![
        ("error".to_owned(), body.error),
        ("error_description".to_owned(), body.error_description),
    ];
    if let Some(s) = &params.state {
        fields.push(("state".into(), s.clone()));
    }
    response_to_app(&params.redirect_uri, &params.response_mode, fields)
}

// ---------------------------------------------------------------------------------------
// The authorize endpoint.

async fn tenant_for_client(
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
        scope: get("scope").unwrap_or_default(),
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
        (None, _) if app.public_client => {
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
        (_, Some((session, user))) => {
            let flow = Flow {
                user_id: Some(user.id.clone()),
                mfa_done: session.mfa_at > 0,
                ..flow
            };
            continue_signin(
                &state,
                &base,
                &tenant,
                flow,
                user,
                Some(session.hash),
                &csrf,
            )
            .await
        }
        (_, None) => pages::username(
            &tenant.display_name,
            &login_action(&base, &tenant.id, ""),
            &csrf,
            &reseal(&state, &flow),
            params.login_hint.as_deref(),
            None,
        ),
    };
    with_csrf(response, &csrf, fresh)
}

fn internal(state: &AppState, e: &ServerError) -> Response {
    tracing::error!(error = %e, "sign-in failed inside the server");
    error_page(
        state,
        None,
        "Something went wrong on our side. Try again in a moment.",
        &aadsts::TRANSIENT.err(),
    )
}

/// After the user is known: the one-time-code step when required, consent when missing,
/// then the code (authorize) or the confirmation (device code). Creates the SSO session
/// once the user is fully authenticated.
async fn continue_signin(
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

fn is_prompt(flow: &Flow, value: &str) -> bool {
    matches!(&flow.purpose, Purpose::Authorize(p) if p.prompt.as_deref() == Some(value))
}

fn scope_list(scope_text: &str) -> Vec<String> {
    scope_text.split_whitespace().map(str::to_owned).collect()
}

/// The requested delegated permissions neither the tenant nor the user has consented to.
async fn consent_needed(
    state: &AppState,
    tenant: &Tenant,
    app: &Application,
    user: &User,
    scope_text: &str,
) -> Result<Vec<String>, ServerError> {
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

#[allow(clippy::too_many_arguments)]
async fn finish(
    state: &AppState,
    base: &str,
    tenant: &Tenant,
    app: &Application,
    flow: &Flow,
    user: &User,
    session_hash: &str,
    csrf: &str,
) -> Response {
    match &flow.purpose {
        Purpose::Device { .. } => {
            let flow = Flow {
                user_id: Some(user.id.clone()),
                ..flow.clone()
            };
            pages::device_confirm(
                &tenant.display_name,
                &login_action(base, &tenant.id, "/device"),
                csrf,
                &reseal(state, &flow),
                &user.user_principal_name,
                &app.display_name,
            )
        }
        Purpose::Authorize(params) => {
            match issue_code(
                state,
                base,
                tenant,
                app,
                params,
                user,
                session_hash,
                flow.mfa_done,
            )
            .await
            {
                Ok(r) => r,
                Err(e) => internal(state, &e),
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn issue_code(
    state: &AppState,
    base: &str,
    tenant: &Tenant,
    app: &Application,
    params: &AuthorizeParams,
    user: &User,
    session_hash: &str,
    mfa_done: bool,
) -> Result<Response, ServerError> {
    let now = state.clock.unix();
    let code = format!("1.{}", crypto::random_b64url(state.random.as_ref(), 48));
    let sid = session_id(session_hash);
    state
        .store()
        .insert_auth_code(AuthCodeRecord {
            hash: crypto::sha256_hex(code.as_bytes()),
            tenant_id: tenant.id.clone(),
            client_id: app.client_id.clone(),
            redirect_uri: params.redirect_uri.clone(),
            scope: params.scope.clone(),
            nonce: params.nonce.clone(),
            code_challenge: params.code_challenge.clone(),
            code_challenge_method: params.code_challenge.as_ref().map(|_| {
                params
                    .code_challenge_method
                    .clone()
                    .unwrap_or_else(|| "plain".into())
            }),
            user_id: user.id.clone(),
            session_id: sid.clone(),
            auth_time: now,
            claims: params.claims.clone(),
            created_at: now,
            expires_at: now + CODE_SECONDS,
            mfa: mfa_done,
        })
        .await?;
    let mut fields = vec![("code".to_owned(), code.clone())];
    if params.response_type.contains("id_token") {
        let parsed = scope::parse(&params.scope).unwrap_or_default();
        let policies = state.directory.policy_snapshot(&tenant.id).await?;
        let id_token = crate::token::mint::id_token(
            state,
            &crate::token::mint::IdTokenSpec {
                tenant,
                client: app,
                user,
                profile: parsed.oidc.profile,
                email: parsed.oidc.email,
                nonce: params.nonce.clone(),
                code: Some(&code),
                session_id: &sid,
                base_url: base,
                now,
                policies: &policies,
            },
        )
        .map_err(|e| ServerError::Crypto(format!("{e:?}")))?;
        fields.push(("id_token".into(), id_token));
    }
    if params.client_info {
        fields.push((
            "client_info".into(),
            ClientInfo {
                uid: user.id.clone(),
                utid: tenant.id.clone(),
            }
            .encode(),
        ));
    }
    if let Some(s) = &params.state {
        fields.push(("state".into(), s.clone()));
    }
    fields.push(("session_state".into(), sid));
    Ok(response_to_app(
        &params.redirect_uri,
        &params.response_mode,
        fields,
    ))
}

// ---------------------------------------------------------------------------------------
// The page steps.

struct Step {
    state: Arc<AppState>,
    base: String,
    tenant: Arc<Tenant>,
    flow: Flow,
    fields: HashMap<String, String>,
    csrf: String,
}

async fn step(
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
    // Argon2 takes tens of milliseconds of CPU: keep it off the async workers.
    let verify = async move {
        tokio::task::spawn_blocking(move || {
            !hash.is_empty() && crypto::verify_password(&hash, &password)
        })
        .await
        .unwrap_or(false)
    };
    let checked = s
        .state
        .lockout
        .check(s.state.store(), &who, &address, now, verify)
        .await;
    let user = match (checked, user) {
        (Ok(Checked::Right), Some(user)) => user,
        (Ok(Checked::Locked), _) => {
            return again(
                "You've tried to sign in too many times with an incorrect user name or password. Wait a moment and try again. (AADSTS50053)",
            );
        }
        (Ok(_), _) => {
            return again(
                "Your account or password is incorrect. If you don't remember your password, ask your administrator to reset it.",
            );
        }
        (Err(e), _) => return internal(&s.state, &e.into()),
    };
    if !user.account_enabled {
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

async fn flow_user(s: &Step) -> Option<User> {
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
        && let Err(e) = s.state.store().set_session_mfa(h, now).await
    {
        return internal(&s.state, &e.into());
    }
    let flow = Flow {
        mfa_done: true,
        ..s.flow.clone()
    };
    continue_signin(&s.state, &s.base, &s.tenant, flow, user, session, &s.csrf).await
}

pub(crate) async fn login_consent(
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
        return match &s.flow.purpose {
            Purpose::Authorize(p) => redirect_error(&s.state, p, &aadsts::USER_DECLINED.err()),
            Purpose::Device { device_hash, .. } => {
                decline_device(&s.state, &s.tenant, device_hash).await
            }
        };
    }
    let Ok(req) = scope::parse(s.flow.purpose.scope()) else {
        return expired_page(&s.state);
    };
    let resource_text = req
        .resource
        .clone()
        .unwrap_or_else(|| tessera_proto::GRAPH_RESOURCE.to_owned());
    let resource = match s
        .state
        .directory
        .resource(&s.tenant.id, &resource_text)
        .await
    {
        Ok(Some(r)) => r,
        _ => return expired_page(&s.state),
    };
    let mut granted = req.permissions.clone();
    for (asked, name) in [
        (req.oidc.openid, "openid"),
        (req.oidc.profile, "profile"),
        (req.oidc.email, "email"),
        (req.oidc.offline_access, "offline_access"),
    ] {
        if asked {
            granted.push(name.to_owned());
        }
    }
    if let Err(e) = s
        .state
        .store()
        .add_user_consent(
            &s.tenant.id,
            &user.id,
            s.flow.purpose.client_id(),
            &resource.key,
            granted,
        )
        .await
    {
        return internal(&s.state, &e.into());
    }
    let flow = Flow {
        consented: true,
        mfa_done: s.flow.mfa_done || session.mfa_at > 0,
        ..s.flow.clone()
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

// ---------------------------------------------------------------------------------------
// Device code.

fn device_error(state: &AppState, headers: &HeaderMap, err: &AadstsError) -> Response {
    let cid = crate::respond::correlation_id(state, headers, None, None);
    aadsts_response(state, err, &cid)
}

fn new_user_code(random: &dyn Random) -> String {
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
    let Some(scope_text) = get("scope") else {
        return device_error(
            &state,
            &headers,
            &aadsts::MISSING_PARAMETER.with(&["scope"]),
        );
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
    let body = serde_json::json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": verification_uri,
        "expires_in": DEVICE_CODE_SECONDS,
        "interval": DEVICE_INTERVAL,
        "message": format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."),
    });
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
        consented: false,
        csrf: csrf.clone(),
        expires_at: now + FLOW_SECONDS,
    };
    match current_session(&state, &headers, &tenant.id).await {
        Some((session, user)) => {
            let flow = Flow {
                user_id: Some(user.id.clone()),
                mfa_done: session.mfa_at > 0,
                ..flow
            };
            continue_signin(
                &state,
                &base,
                &tenant,
                flow,
                user,
                Some(session.hash),
                &csrf,
            )
            .await
        }
        None => pages::username(
            &tenant.display_name,
            &login_action(&base, &tenant.id, ""),
            &csrf,
            &reseal(&state, &flow),
            None,
            None,
        ),
    }
}

async fn decline_device(state: &AppState, tenant: &Tenant, device_hash: &str) -> Response {
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

// ---------------------------------------------------------------------------------------
// Logout.

/// `GET|POST /{tenant}/oauth2/v2.0/logout`: ends the SSO session, then returns to a
/// registered `post_logout_redirect_uri` or shows a signed-out page.
pub(crate) async fn logout(
    state: Shared,
    Path(segment): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let state = state.0;
    let fields = if method == Method::POST {
        form_fields(&body)
    } else {
        form_fields(query.unwrap_or_default().as_bytes())
    };
    if let Some(value) = cookie(&headers, SESSION_COOKIE) {
        let _ = state
            .store()
            .end_session(&crypto::sha256_hex(value.as_bytes()))
            .await;
    }
    let tenant = state.directory.tenant(&segment).await.ok().flatten();
    let target = match (fields.get("post_logout_redirect_uri"), &tenant) {
        (Some(uri), Some(t)) => match state.store().list_applications(&t.id).await {
            Ok(apps) => apps
                .iter()
                .any(|a| a.redirect_uris.iter().any(|r| r == uri))
                .then(|| uri.clone()),
            Err(_) => None,
        },
        _ => None,
    };
    let mut response = match target {
        Some(uri) => {
            let mut r = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&uri) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        None => pages::message(
            StatusCode::OK,
            "You signed out of your account",
            tenant.as_ref().map(|t| t.display_name.as_str()),
            "It's a good idea to close all browser windows.",
        ),
    };
    set_cookie(&mut response, SESSION_COOKIE, "", Some(0));
    response
}
