//! The grants of the token endpoint: client credentials, password (ROPC) and refresh token,
//! each checking what Entra checks, in Entra's order where it is known, and answering with
//! the AADSTS code the real state calls for.

use std::sync::Arc;

use tessera_proto::clock::Clock as _;
use tessera_proto::errors::{self as aadsts};
use tessera_proto::scope::{self, OidcScopes, ScopeError};
use tessera_proto::token::{ClientInfo, TokenResponse};

use super::client_auth::{self, Acr, Presented};
use super::mint::{self, AccessTokenSpec, IdTokenSpec, Subject};
use super::{Failure, TokenRequest};
use crate::crypto;
use crate::directory::{Checked, Lockout, Resource, TenantAlias};
use crate::state::AppState;
use crate::store::{Application, Tenant, User};

/// Refresh tokens expire after this much inactivity (`MaxInactiveTime`, 90 days).
const REFRESH_INACTIVITY_SECONDS: i64 = 90 * 86_400;

pub(super) async fn tenant_by_segment(
    state: &AppState,
    segment: &str,
) -> Result<Arc<Tenant>, Failure> {
    if TenantAlias::parse(segment).is_some() {
        // Entra refuses these grants over /common and /consumers; over /organizations the
        // client credentials grant has no tenant to act in (answer UNCONFIRMED).
        return Err(aadsts::GRANT_NOT_ON_COMMON.err().into());
    }
    let shown: String = segment.chars().take(100).collect();
    state
        .directory
        .tenant(segment)
        .await?
        .ok_or_else(|| aadsts::TENANT_NOT_FOUND.with(&[&shown]).into())
}

pub(super) async fn application(
    state: &AppState,
    tenant: &Tenant,
    client_id: &str,
) -> Result<Arc<Application>, Failure> {
    let shown: String = client_id.chars().take(100).collect();
    state
        .directory
        .application(&tenant.id, client_id)
        .await?
        .ok_or_else(|| {
            aadsts::APPLICATION_NOT_FOUND
                .with(&[&shown, &tenant.display_name])
                .into()
        })
}

/// The audiences a client assertion may name: this tenant's token endpoint (v2.0 or v1.0)
/// under the path segment, GUID or domain, at the URL the client used or the public URL.
pub(super) fn assertion_audiences(
    state: &AppState,
    req: &TokenRequest,
    tenant: &Tenant,
) -> Vec<String> {
    let mut out = Vec::new();
    for base in [req.base_url.as_str(), state.settings.public_base.as_str()] {
        for seg in [
            req.tenant.as_str(),
            tenant.id.as_str(),
            tenant.domain.as_str(),
        ] {
            out.push(format!("{base}/{seg}/oauth2/v2.0/token"));
            out.push(format!("{base}/{seg}/oauth2/token"));
        }
    }
    out
}

/// What the `claims` parameter asks of the access token.
#[derive(Debug, Default)]
pub(super) struct ClaimsRequest {
    pub(super) cae: bool,
    pub(super) min_nbf: Option<i64>,
}

pub(super) fn claims_request(req: &TokenRequest) -> Result<ClaimsRequest, Failure> {
    let Some(text) = req.params.get("claims") else {
        return Ok(ClaimsRequest::default());
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|_| aadsts::INVALID_CLAIMS.err())?;
    let Some(at) = value.get("access_token") else {
        return Ok(ClaimsRequest::default());
    };
    let cae = at
        .pointer("/xms_cc/values")
        .and_then(|v| v.as_array())
        .is_some_and(|vals| {
            vals.iter()
                .any(|v| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("cp1")))
        });
    let min_nbf = at.pointer("/nbf/value").and_then(|v| match v {
        serde_json::Value::String(s) => s.parse().ok(),
        serde_json::Value::Number(n) => n.as_i64(),
        _ => None,
    });
    Ok(ClaimsRequest { cae, min_nbf })
}

pub(super) fn require_client_id(client_id: Option<String>) -> Result<String, Failure> {
    client_id
        .filter(|c| !c.is_empty())
        .map(|c| c.to_ascii_lowercase())
        .ok_or_else(|| aadsts::MISSING_PARAMETER.with(&["client_id"]).into())
}

pub(super) async fn client_credentials(
    state: &AppState,
    req: &TokenRequest,
) -> Result<TokenResponse, Failure> {
    let (client_id, presented) = client_auth::presented(&req.params, req.basic.clone())?;
    let client_id = require_client_id(client_id)?;
    let tenant = tenant_by_segment(state, &req.tenant).await?;
    let app = application(state, &tenant, &client_id).await?;
    if presented.is_none() {
        return Err(aadsts::MISSING_CREDENTIAL_CLIENT_CREDENTIALS.err().into());
    }
    let acr = client_auth::authenticate(
        state,
        &app,
        presented,
        &assertion_audiences(state, req, &tenant),
    )
    .await?;
    // Checked once the caller is authenticated, so the answer tells strangers nothing.
    if !app.has_service_principal {
        return Err(aadsts::MISSING_SERVICE_PRINCIPAL
            .with(&[&app.client_id, &tenant.id])
            .into());
    }
    let scope = req.params.require("scope")?;
    let Some(requested) = scope::client_credentials_resource(scope) else {
        let shown: String = scope.chars().take(500).collect();
        return Err(aadsts::CLIENT_CREDENTIALS_SCOPE.with(&[&shown]).into());
    };
    let resource = resolve_resource(state, &tenant, requested).await?;
    let claims = claims_request(req)?;
    let roles = app
        .application_permissions
        .get(&resource.key)
        .cloned()
        .unwrap_or_default();
    let now = state.clock.unix();
    let policies = state.directory.policy_snapshot(&tenant.id).await?;
    let minted = mint::access_token(
        state,
        &AccessTokenSpec {
            tenant: &tenant,
            client: &app,
            resource: &resource,
            requested_resource: requested,
            subject: Subject::App { roles },
            acr,
            cae: claims.cae,
            min_nbf: claims.min_nbf,
            base_url: &req.base_url,
            now,
            policies: &policies,
            flow: "client_credentials",
        },
    )?;
    Ok(TokenResponse {
        token_type: "Bearer".into(),
        scope: None,
        expires_in: minted.decision.seconds,
        ext_expires_in: minted.decision.seconds,
        refresh_in: None,
        access_token: minted.token,
        refresh_token: None,
        id_token: None,
        client_info: None,
    })
}

pub(super) async fn resolve_resource(
    state: &AppState,
    tenant: &Tenant,
    identifier: &str,
) -> Result<Resource, Failure> {
    let shown: String = identifier.chars().take(200).collect();
    state
        .directory
        .resource(&tenant.id, identifier)
        .await?
        .ok_or_else(|| {
            aadsts::RESOURCE_NOT_FOUND
                .with(&[&shown, &tenant.display_name])
                .into()
        })
}

/// Checks the credential for a grant a public client may use: none at all is fine only
/// for an app that allows public client flows.
pub(super) async fn authenticate_user_flow(
    state: &AppState,
    req: &TokenRequest,
    tenant: &Tenant,
    app: &Application,
    presented: Presented,
) -> Result<Acr, Failure> {
    if presented.is_none() {
        return if app.public_client {
            Ok(Acr::Public)
        } else {
            Err(aadsts::PUBLIC_FLOWS_DISABLED.err().into())
        };
    }
    client_auth::authenticate(
        state,
        app,
        presented,
        &assertion_audiences(state, req, tenant),
    )
    .await
}

/// The delegated permissions a user token carries, and how the response echoes them.
pub(super) struct Delegated {
    pub(super) resource: Resource,
    pub(super) requested_resource: String,
    pub(super) scp: String,
    pub(super) scope_echo: String,
    pub(super) oidc: OidcScopes,
}

fn delegated_scopes(
    resource: Resource,
    requested_resource: String,
    req: &scope::ScopeRequest,
    app: &Application,
    user_consent: Vec<String>,
) -> Result<Delegated, Failure> {
    // Tenant-wide (admin) consent and what this user consented to themselves.
    let mut consented: Vec<String> = app
        .delegated_permissions
        .get(&resource.key)
        .cloned()
        .unwrap_or_default();
    consented.extend(user_consent);
    let is_oidc = |p: &str| {
        ["openid", "profile", "email", "offline_access"]
            .iter()
            .any(|o| o.eq_ignore_ascii_case(p))
    };
    let granted: Vec<String> = if req.default {
        consented.iter().filter(|p| !is_oidc(p)).cloned().collect()
    } else {
        if let Some(exposed) = &resource.scopes
            && let Some(unknown) = req
                .permissions
                .iter()
                .find(|p| !exposed.iter().any(|e| e.eq_ignore_ascii_case(p)))
        {
            let shown = format!("{requested_resource}/{unknown}");
            return Err(aadsts::INVALID_SCOPE.with(&[&shown]).into());
        }
        if req
            .permissions
            .iter()
            .any(|p| !consented.iter().any(|c| c.eq_ignore_ascii_case(p)))
        {
            return Err(aadsts::CONSENT_REQUIRED
                .with(&[&app.client_id, &app.display_name])
                .into());
        }
        req.permissions.clone()
    };
    let graph_short = req.short_form && resource.key == tessera_proto::GRAPH_RESOURCE;
    let mut echo: Vec<String> = granted
        .iter()
        .map(|p| {
            if graph_short {
                p.clone()
            } else {
                format!("{requested_resource}/{p}")
            }
        })
        .collect();
    if req.default {
        echo.push(format!("{requested_resource}/.default"));
    }
    let mut scp = granted.clone();
    for (wanted, name) in [
        (req.oidc.profile, "profile"),
        (req.oidc.openid, "openid"),
        (req.oidc.email, "email"),
    ] {
        if wanted {
            echo.push(name.into());
            scp.push(name.into());
        }
    }
    Ok(Delegated {
        resource,
        requested_resource,
        scp: scp.join(" "),
        scope_echo: echo.join(" "),
        oidc: req.oidc,
    })
}

pub(super) async fn delegated(
    state: &AppState,
    tenant: &Tenant,
    app: &Application,
    user: &User,
    scope_text: &str,
) -> Result<Delegated, Failure> {
    let shown: String = scope_text.chars().take(500).collect();
    let req = scope::parse(scope_text).map_err(|e| match e {
        ScopeError::MultipleResources(_) => aadsts::MULTIPLE_RESOURCES.with(&[&shown]),
        ScopeError::Invalid(_) => aadsts::INVALID_SCOPE.with(&[&shown]),
    })?;
    let requested_resource = req
        .resource
        .clone()
        .unwrap_or_else(|| tessera_proto::GRAPH_RESOURCE.to_owned());
    let resource = resolve_resource(state, tenant, &requested_resource).await?;
    let user_consent = state
        .store()
        .user_consent(&tenant.id, &user.id, &app.client_id, &resource.key)
        .await?;
    delegated_scopes(resource, requested_resource, &req, app, user_consent)
}

/// A user who must use multi-factor authentication cannot get a token by password or by a
/// single-factor refresh token (AADSTS50076, `basic_action`).
pub(super) fn require_no_mfa(user: &User, delegated: &Delegated) -> Result<(), Failure> {
    if user.mfa_required {
        return Err(aadsts::MFA_REQUIRED
            .with(&[&delegated.resource.app_id])
            .with_suberror("basic_action")
            .into());
    }
    Ok(())
}

/// Everything a user token response needs.
pub(super) struct UserGrant<'a> {
    pub(super) tenant: &'a Tenant,
    pub(super) app: &'a Application,
    pub(super) user: &'a User,
    pub(super) acr: Acr,
    pub(super) delegated: Delegated,
    pub(super) claims: ClaimsRequest,
    pub(super) session_id: String,
    /// The scope string a new refresh token remembers.
    pub(super) refresh_scope: String,
    /// Always issue a refresh token (refresh grant), not only with offline_access.
    pub(super) always_refresh: bool,
    /// The authorize request's nonce, echoed into the ID token.
    pub(super) nonce: Option<String>,
    /// The sign-in included multi-factor authentication.
    pub(super) mfa: bool,
}

pub(super) async fn user_response(
    state: &AppState,
    req: &TokenRequest,
    g: UserGrant<'_>,
) -> Result<TokenResponse, Failure> {
    let now = state.clock.unix();
    let policies = state.directory.policy_snapshot(&g.tenant.id).await?;
    let minted = mint::access_token(
        state,
        &AccessTokenSpec {
            tenant: g.tenant,
            client: g.app,
            resource: &g.delegated.resource,
            requested_resource: &g.delegated.requested_resource,
            subject: Subject::User {
                user: g.user,
                scp: g.delegated.scp.clone(),
                session_id: &g.session_id,
                mfa: g.mfa,
            },
            acr: g.acr,
            cae: g.claims.cae,
            min_nbf: g.claims.min_nbf,
            base_url: &req.base_url,
            now,
            policies: &policies,
            flow: req.params.get("grant_type").unwrap_or_default(),
        },
    )?;
    let oidc = g.delegated.oidc;
    let id_token = if oidc.openid {
        let spec = IdTokenSpec {
            tenant: g.tenant,
            client: g.app,
            user: g.user,
            profile: oidc.profile,
            email: oidc.email,
            nonce: g.nonce.clone(),
            code: None,
            session_id: &g.session_id,
            base_url: &req.base_url,
            now,
            policies: &policies,
        };
        Some(match req.endpoint {
            super::Endpoint::V2 => mint::id_token(state, &spec)?,
            super::Endpoint::V1 => mint::id_token_v1(state, &spec),
        })
    } else {
        None
    };
    let refresh_token = if oidc.offline_access || g.always_refresh {
        Some(
            mint::refresh_token(
                state,
                &g.tenant.id,
                &g.app.client_id,
                g.user,
                &g.refresh_scope,
                &g.session_id,
                now,
            )
            .await?,
        )
    } else {
        None
    };
    let client_info = (req.params.get("client_info") == Some("1")).then(|| {
        ClientInfo {
            uid: g.user.id.clone(),
            utid: g.tenant.id.clone(),
        }
        .encode()
    });
    Ok(TokenResponse {
        token_type: "Bearer".into(),
        scope: Some(g.delegated.scope_echo),
        expires_in: minted.decision.seconds,
        ext_expires_in: minted.decision.seconds,
        refresh_in: None,
        access_token: minted.token,
        refresh_token,
        id_token,
        client_info,
    })
}

pub(super) async fn password(
    state: &AppState,
    req: &TokenRequest,
) -> Result<TokenResponse, Failure> {
    let (client_id, presented) = client_auth::presented(&req.params, req.basic.clone())?;
    let client_id = require_client_id(client_id)?;
    let username = req.params.require("username")?.to_owned();
    let password = req.params.require("password")?.to_owned();
    let scope_text = req.params.require("scope")?.to_owned();
    let tenant =
        match TenantAlias::parse(&req.tenant) {
            Some(TenantAlias::Organizations) => {
                let domain = username
                    .rsplit_once('@')
                    .map(|(_, d)| d)
                    .unwrap_or_default();
                state.directory.tenant(domain).await?.ok_or_else(|| {
                    aadsts::USER_NOT_FOUND.with(&["{EmailHidden}", "organizations"])
                })?
            }
            _ => tenant_by_segment(state, &req.tenant).await?,
        };
    let app = application(state, &tenant, &client_id).await?;
    let acr = authenticate_user_flow(state, req, &tenant, &app, presented).await?;
    let claims = claims_request(req)?;
    let who = Lockout::user_key(&tenant.id, &username);
    let now = state.clock.unix();
    let Some(user) = state.directory.user_by_upn(&tenant.id, &username).await? else {
        // A guess at a user name counts against the address like a wrong password, so
        // names cannot be tried faster than passwords.
        let checked = state
            .lockout
            .check(state.store(), &who, &req.client_address, now, async {
                false
            })
            .await?;
        if checked == Checked::Locked {
            return Err(aadsts::ACCOUNT_LOCKED.err().into());
        }
        return Err(aadsts::USER_NOT_FOUND
            .with(&["{EmailHidden}", &tenant.display_name])
            .into());
    };
    let hash = user.password_hash.clone().unwrap_or_default();
    let verify = crypto::verify_queued(hash, password);
    // The same limits as the sign-in pages: a guesser gains nothing by switching flows.
    match state
        .lockout
        .check(state.store(), &who, &req.client_address, now, verify)
        .await?
    {
        Checked::Right => {}
        Checked::Wrong => return Err(aadsts::INVALID_PASSWORD.err().into()),
        Checked::Locked => return Err(aadsts::ACCOUNT_LOCKED.err().into()),
    }
    if !user.account_enabled {
        return Err(aadsts::USER_DISABLED.err().into());
    }
    let delegated = delegated(state, &tenant, &app, &user, &scope_text).await?;
    require_no_mfa(&user, &delegated)?;
    let session_id = crypto::random_guid(state.random.as_ref());
    user_response(
        state,
        req,
        UserGrant {
            tenant: &tenant,
            app: &app,
            user: &user,
            acr,
            delegated,
            claims,
            session_id,
            refresh_scope: scope_text,
            always_refresh: false,
            nonce: None,
            mfa: false,
        },
    )
    .await
}

pub(super) async fn refresh_token(
    state: &AppState,
    req: &TokenRequest,
) -> Result<TokenResponse, Failure> {
    let (client_id, presented) = client_auth::presented(&req.params, req.basic.clone())?;
    let client_id = require_client_id(client_id)?;
    let value = req.params.require("refresh_token")?;
    let now = state.clock.unix();
    let hash = crypto::sha256_hex(value.as_bytes());
    let Some(record) = state.store().refresh_token(&hash).await? else {
        return Err(aadsts::MALFORMED_REQUEST.err().into());
    };
    if TenantAlias::parse(&req.tenant).is_none() {
        let tenant = state.directory.tenant(&req.tenant).await?;
        match tenant {
            None => {
                let shown: String = req.tenant.chars().take(100).collect();
                return Err(aadsts::TENANT_NOT_FOUND.with(&[&shown]).into());
            }
            Some(t) if t.id != record.tenant_id => return Err(aadsts::GRANT_INVALID.err().into()),
            Some(_) => {}
        }
    }
    let Some(tenant) = state.directory.tenant(&record.tenant_id).await? else {
        return Err(aadsts::GRANT_INVALID.err().into());
    };
    if record.client_id != client_id {
        return Err(aadsts::GRANT_INVALID.err().into());
    }
    let app = application(state, &tenant, &client_id).await?;
    let acr = authenticate_user_flow(state, req, &tenant, &app, presented).await?;
    let Some(user) = state.directory.user(&tenant.id, &record.user_id).await? else {
        return Err(aadsts::USER_NOT_FOUND
            .with(&[&record.user_id, &tenant.id])
            .into());
    };
    if record.revoked || record.generation < user.session_generation {
        return Err(super::grant_revoked(record.issued_at, &user).into());
    }
    if !user.account_enabled {
        return Err(aadsts::USER_DISABLED.err().into());
    }
    if now - record.last_used_at > REFRESH_INACTIVITY_SECONDS {
        let issued = super::entra_time(record.issued_at);
        return Err(aadsts::REFRESH_TOKEN_INACTIVE
            .with(&[&issued, "90.00:00:00"])
            .into());
    }
    let claims = claims_request(req)?;
    let scope_text = req.params.get("scope").unwrap_or(&record.scope).to_owned();
    let delegated = delegated(state, &tenant, &app, &user, &scope_text).await?;
    require_no_mfa(&user, &delegated)?;
    // Entra keeps the redeemed token valid (clients are told to discard it); using it
    // restarts its inactivity window.
    state.store().touch_refresh_token(&hash, now).await?;
    user_response(
        state,
        req,
        UserGrant {
            tenant: &tenant,
            app: &app,
            user: &user,
            acr,
            delegated,
            claims,
            session_id: record.session_id.clone(),
            refresh_scope: scope_text,
            always_refresh: true,
            nonce: None,
            mfa: false,
        },
    )
    .await
}
