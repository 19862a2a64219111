//! Signing in to the portal as an OpenID Connect client of this server (authorization code
//! with PKCE, state and nonce), the session it keeps in the store (so every replica knows
//! it, and logout ends it everywhere), the admin-role door and the CSRF value of its forms.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera_proto::claims::IdTokenClaims;
use tessera_proto::clock::Clock as _;
use tessera_proto::{b64, directory_roles, jwt};

use super::html::{self, esc};
use super::{Portal, Shared};
use crate::crypto;
use crate::directory::PORTAL_APP_ID;
use crate::store::{PortalSession, Tenant, User};

const SESSION_COOKIE: &str = "tessera_portal";
const FLOW_COOKIE: &str = "tessera_portal_flow";
/// A sign-in must come back within this long.
const FLOW_SECONDS: i64 = 600;
const SCOPE: &str = "openid profile https://graph.microsoft.com/.default";

/// The signed-in administrator of a portal request.
pub(crate) struct Admin {
    pub(crate) tenant: Arc<Tenant>,
    pub(crate) user: User,
    /// The portal's Graph access token for this session.
    pub(crate) token: String,
    hash: String,
    csrf: String,
    /// The navigation entry of the page asked for.
    pub(crate) section: &'static str,
}

impl html::Frame for Admin {
    fn csrf_field(&self) -> String {
        format!(r#"<input type="hidden" name="csrf" value="{}">"#, self.csrf)
    }

    fn tenant_name(&self) -> &str {
        &self.tenant.display_name
    }

    fn user_name(&self) -> &str {
        &self.user.user_principal_name
    }

    fn section(&self) -> &str {
        self.section
    }
}

impl Admin {
    /// The refusal of a form post whose CSRF value is not this session's, or that came from
    /// another origin; `None` for a good one.
    pub(crate) fn check_form(
        &self,
        portal: &Portal,
        headers: &HeaderMap,
        fields: &std::collections::HashMap<String, String>,
    ) -> Option<Response> {
        let origin_ok = headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .is_none_or(|o| o == portal.state.settings.public_base);
        let sent = fields.get("csrf").map_or("", String::as_str);
        if origin_ok && crypto::digests_equal(sent.as_bytes(), self.csrf.as_bytes()) {
            None
        } else {
            Some(html::bare(
                StatusCode::FORBIDDEN,
                "This form has expired",
                r#"<p>The form was not sent from this portal page, or the page is too old. <a href="/portal">Open the portal again</a> and repeat the change.</p>"#,
            ))
        }
    }
}

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

fn set_cookie(response: &mut Response, name: &str, value: &str, same_site: &str, max_age: i64) {
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{name}={value}; Path=/portal; Secure; HttpOnly; SameSite={same_site}; Max-Age={max_age}"
    )) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn section_of(path: &str) -> &'static str {
    [
        "/portal/apps",
        "/portal/users",
        "/portal/groups",
        "/portal/policies",
        "/portal/activity",
    ]
    .into_iter()
    .find(|p| path.starts_with(p))
    .unwrap_or("/portal")
}

/// Why a request has no admin: it must sign in, or it may not come in.
pub(crate) enum NoAdmin {
    SignIn {
        next: String,
    },
    Refused {
        upn: String,
        tenant: String,
        leave: String,
    },
    Failed,
}

impl IntoResponse for NoAdmin {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn { next } => html::see_other(&format!(
                "/portal/login?next={}",
                super::upstream::enc(&next)
            )),
            Self::Refused { upn, tenant, leave } => refused(&upn, &tenant, &leave),
            Self::Failed => html::bare(
                StatusCode::SERVICE_UNAVAILABLE,
                "The portal is unavailable",
                "<p>Something went wrong on our side. Try again in a moment.</p>",
            ),
        }
    }
}

/// Where a refused user leaves: the tenant's sign-out, which ends the sign-in session so
/// another account can be used, and lands on the portal's signed-out page.
fn leave_url(base: &str, tenant_id: &str) -> String {
    format!(
        "/{tenant_id}/oauth2/v2.0/logout?post_logout_redirect_uri={}",
        super::upstream::enc(&format!("{base}/portal/signed-out"))
    )
}

fn refused(upn: &str, tenant: &str, leave: &str) -> Response {
    html::bare(
        StatusCode::FORBIDDEN,
        "You need an administrator role",
        &format!(
            r#"<p>You are signed in as <strong>{}</strong>, who holds no administrator role in {}. The portal is for administrators of the tenant.</p><p>An administrator can assign you a role (for example Global Administrator) on your page in this portal, with Graph's <code>roleManagement/directory/roleAssignments</code>, or with <code>roles</code> in the configuration file.</p><p><a href="{}">Sign out and use another account</a></p>"#,
            esc(upn),
            esc(tenant),
            esc(leave)
        ),
    )
}

/// A store failure behind a portal request: logged, and answered as unavailable.
fn failed(e: impl std::fmt::Display) -> NoAdmin {
    tracing::error!(error = %e, "portal: the session store failed");
    NoAdmin::Failed
}

impl FromRequestParts<Portal> for Admin {
    type Rejection = NoAdmin;

    async fn from_request_parts(parts: &mut Parts, portal: &Portal) -> Result<Self, NoAdmin> {
        let state = &portal.state;
        let path = parts
            .uri
            .path_and_query()
            .map_or("/portal", |p| p.as_str())
            .to_owned();
        let sign_in = || NoAdmin::SignIn { next: path.clone() };
        let Some(value) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(sign_in());
        };
        let hash = crypto::sha256_hex(value.as_bytes());
        let session = state
            .store()
            .portal_session(&hash)
            .await
            .map_err(failed)?
            .filter(|s| !s.ended && s.expires_at > state.clock.unix())
            .ok_or_else(sign_in)?;
        let user = state
            .directory
            .user(&session.tenant_id, &session.user_id)
            .await
            .map_err(failed)?;
        // A disabled user, or one whose sessions were revoked, is out of the portal too.
        let Some(user) =
            user.filter(|u| u.account_enabled && u.revoked_at_ms < session.created_at_ms)
        else {
            let _ = state.store().end_portal_session(&hash).await;
            return Err(sign_in());
        };
        let tenant = state
            .directory
            .tenant(&session.tenant_id)
            .await
            .map_err(failed)?
            .ok_or(NoAdmin::Failed)?;
        if !directory_roles::any_admin(&user.directory_roles) {
            return Err(NoAdmin::Refused {
                upn: user.user_principal_name,
                tenant: tenant.display_name.clone(),
                leave: leave_url(&state.settings.public_base, &tenant.id),
            });
        }
        let csrf = b64::url_encode(state.flow_key.tag("portal-csrf", hash.as_bytes()));
        Ok(Admin {
            tenant,
            user,
            token: session.access_token,
            hash,
            csrf,
            section: section_of(parts.uri.path()),
        })
    }
}

/// What the sign-in remembers between leaving for `/authorize` and coming back (sealed in a
/// short-lived cookie).
#[derive(Serialize, Deserialize)]
struct Flow {
    verifier: String,
    state: String,
    nonce: String,
    tenant: String,
    expires: i64,
    next: String,
}

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    tenant: Option<String>,
    next: Option<String>,
}

/// Only a portal path is a place to go back to after signing in.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/portal") && !n.contains("//") && !n.contains('\\') => {
            n.to_owned()
        }
        _ => "/portal".to_owned(),
    }
}

/// `GET /portal/login`: starts the authorization code flow with PKCE against the tenant.
pub(crate) async fn login(portal: Shared, Query(q): Query<LoginQuery>) -> Response {
    let state = &portal.state;
    let tenant = match &q.tenant {
        Some(t) if !t.trim().is_empty() => state.directory.tenant(t.trim()).await,
        _ => match state.store().tenants().await {
            Ok(all) if all.len() == 1 => state.directory.tenant(&all[0].id).await,
            Ok(_) => Ok(None),
            Err(e) => Err(e),
        },
    };
    let tenant = match tenant {
        Ok(Some(t)) => t,
        Ok(None) => return choose_tenant(q.tenant.as_deref(), q.next.as_deref()),
        Err(e) => return failed(e).into_response(),
    };
    let random = state.random.as_ref();
    let flow = Flow {
        verifier: crypto::random_b64url(random, 32),
        state: crypto::random_b64url(random, 16),
        nonce: crypto::random_b64url(random, 16),
        tenant: tenant.id.clone(),
        expires: state.clock.unix() + FLOW_SECONDS,
        next: safe_next(q.next.as_deref()),
    };
    let challenge = b64::url_encode(crypto::sha256(flow.verifier.as_bytes()));
    let base = &state.settings.public_base;
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", PORTAL_APP_ID)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &format!("{base}/portal/callback"))
        .append_pair("response_mode", "query")
        .append_pair("scope", SCOPE)
        .append_pair("state", &flow.state)
        .append_pair("nonce", &flow.nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let sealed = state
        .flow_key
        .seal(&serde_json::to_vec(&flow).unwrap_or_default());
    let mut r = html::see_other(&format!("/{}/oauth2/v2.0/authorize?{query}", tenant.id));
    set_cookie(&mut r, FLOW_COOKIE, &sealed, "Lax", FLOW_SECONDS);
    r
}

fn choose_tenant(asked: Option<&str>, next: Option<&str>) -> Response {
    let problem = asked.map_or_else(String::new, |a| {
        format!(
            r#"<p class="notice error" role="alert">No organization '{}' is served here.</p>"#,
            esc(a)
        )
    });
    html::bare(
        if asked.is_some() {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        },
        "Sign in to the portal",
        &format!(
            r#"{problem}<form method="get" action="/portal/login"><input type="hidden" name="next" value="{}"><div class="field"><label for="f-tenant">Organization: its domain or tenant ID</label><input id="f-tenant" name="tenant" type="text" required autocomplete="organization"></div><button type="submit">Continue</button></form>"#,
            esc(&safe_next(next))
        ),
    )
}

#[derive(Deserialize)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn sign_in_failed(message: &str) -> Response {
    let mut r = html::bare(
        StatusCode::BAD_REQUEST,
        "Sign-in did not complete",
        &format!(
            r#"<p>{}</p><p><a href="/portal/login">Sign in again</a></p>"#,
            esc(message)
        ),
    );
    set_cookie(&mut r, FLOW_COOKIE, "", "Lax", 0);
    r
}

/// `GET /portal/callback`: redeems the code (with the PKCE verifier) at the token endpoint,
/// checks the ID token, and opens a session for an administrator.
pub(crate) async fn callback(
    portal: Shared,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let state = &portal.state;
    let flow: Option<Flow> = cookie(&headers, FLOW_COOKIE)
        .and_then(|c| state.flow_key.open(&c))
        .and_then(|b| serde_json::from_slice(&b).ok());
    let Some(flow) = flow.filter(|f| f.expires > state.clock.unix()) else {
        return sign_in_failed("This sign-in has expired or was started in another browser.");
    };
    if !crypto::digests_equal(
        q.state.as_deref().unwrap_or_default().as_bytes(),
        flow.state.as_bytes(),
    ) {
        return sign_in_failed("The sign-in answer does not belong to this sign-in.");
    }
    if let Some(error) = &q.error {
        let text = q.error_description.as_deref().unwrap_or(error);
        return sign_in_failed(&text.chars().take(500).collect::<String>());
    }
    let Some(code) = &q.code else {
        return sign_in_failed("The sign-in answer carries no authorization code.");
    };
    let base = &state.settings.public_base;
    let redirect = format!("{base}/portal/callback");
    let answer = portal
        .token_request(
            &flow.tenant,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", PORTAL_APP_ID),
                ("code", code),
                ("redirect_uri", &redirect),
                ("code_verifier", &flow.verifier),
                ("scope", SCOPE),
            ],
        )
        .await;
    let answer = match answer {
        Ok(a) => a,
        Err(refusal) => return sign_in_failed(&refusal.message),
    };
    let (Some(access_token), Some(id_token)) = (
        answer.get("access_token").and_then(Value::as_str),
        answer.get("id_token").and_then(Value::as_str),
    ) else {
        return sign_in_failed("The token endpoint's answer has no tokens.");
    };
    let Some(claims) = verified_id_token(portal.0.clone(), id_token, &flow) else {
        return sign_in_failed("The ID token did not verify.");
    };
    let user = match state
        .directory
        .user(&flow.tenant, claims.oid.as_deref().unwrap_or_default())
        .await
    {
        Ok(Some(u)) => u,
        Ok(None) => return sign_in_failed("The signed-in user no longer exists."),
        Err(e) => return failed(e).into_response(),
    };
    if !directory_roles::any_admin(&user.directory_roles) {
        let tenant = state
            .directory
            .tenant(&flow.tenant)
            .await
            .ok()
            .flatten()
            .map_or_else(|| flow.tenant.clone(), |t| t.display_name.clone());
        let leave = leave_url(&state.settings.public_base, &flow.tenant);
        let mut r = refused(&user.user_principal_name, &tenant, &leave);
        set_cookie(&mut r, FLOW_COOKIE, "", "Lax", 0);
        return r;
    }
    let now = state.clock.unix();
    let now_ms = i64::try_from(state.clock.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let expires_in = answer
        .get("expires_in")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    let value = crypto::random_b64url(state.random.as_ref(), 32);
    let session = PortalSession {
        hash: crypto::sha256_hex(value.as_bytes()),
        tenant_id: flow.tenant.clone(),
        user_id: user.id.clone(),
        access_token: access_token.to_owned(),
        created_at_ms: now_ms,
        expires_at: now + expires_in,
        ended: false,
    };
    if let Err(e) = state.store().insert_portal_session(session).await {
        return failed(e).into_response();
    }
    let mut r = html::see_other(&flow.next);
    set_cookie(&mut r, FLOW_COOKIE, "", "Lax", 0);
    set_cookie(&mut r, SESSION_COOKIE, &value, "Strict", expires_in);
    r
}

/// The ID token's signature, audience, tenant and nonce, as a relying party checks them.
fn verified_id_token(portal: Portal, token: &str, flow: &Flow) -> Option<IdTokenClaims> {
    let parsed = jwt::parse(token).ok()?;
    let kid = parsed.header.kid.clone().unwrap_or_default();
    if parsed.header.alg != "RS256"
        || !portal
            .state
            .keys
            .verify_rs256(&kid, parsed.signing_input.as_bytes(), &parsed.signature)
    {
        return None;
    }
    let claims: IdTokenClaims = serde_json::from_slice(&parsed.payload).ok()?;
    let now = portal.state.clock.unix();
    (claims.aud == PORTAL_APP_ID
        && claims.tid.eq_ignore_ascii_case(&flow.tenant)
        && claims.nonce.as_deref() == Some(flow.nonce.as_str())
        && claims.exp > now)
        .then_some(claims)
}

/// `POST /portal/logout`: ends the portal session in the store, then the sign-in session.
pub(crate) async fn logout(
    portal: Shared,
    admin: Admin,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let fields = crate::respond::form_fields(&body);
    if let Some(r) = admin.check_form(&portal, &headers, &fields) {
        return r;
    }
    if let Err(e) = portal.state.store().end_portal_session(&admin.hash).await {
        return failed(e).into_response();
    }
    let mut r = html::see_other(&leave_url(
        &portal.state.settings.public_base,
        &admin.tenant.id,
    ));
    set_cookie(&mut r, SESSION_COOKIE, "", "Strict", 0);
    r
}

/// `GET /portal/signed-out`.
pub(crate) async fn signed_out() -> Response {
    let mut r = html::bare(
        StatusCode::OK,
        "You are signed out",
        r#"<p>You have left the portal. <a href="/portal/login">Sign in again</a></p>"#,
    );
    set_cookie(&mut r, SESSION_COOKIE, "", "Strict", 0);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_portal_paths_are_places_to_return_to() {
        assert_eq!(safe_next(Some("/portal/apps?x=1")), "/portal/apps?x=1");
        assert_eq!(safe_next(Some("https://evil.example/portal")), "/portal");
        assert_eq!(safe_next(Some("/portal//evil.example")), "/portal");
        assert_eq!(safe_next(Some("/portal\\x")), "/portal");
        assert_eq!(safe_next(None), "/portal");
        assert_eq!(section_of("/portal/apps/x"), "/portal/apps");
        assert_eq!(section_of("/portal"), "/portal");
    }
}
