//! The grants that finish an interactive sign-in or act for a signed-in user: authorization
//! code (with PKCE), device code polling, and on-behalf-of.

use tessera_proto::claims::AccessTokenClaims;
use tessera_proto::clock::Clock as _;
use tessera_proto::errors::{self as aadsts};
use tessera_proto::token::TokenResponse;
use tessera_proto::{b64, jwt};

use super::client_auth::{self};
use super::grants::{
    UserGrant, application, authenticate_user_flow, claims_request, delegated, require_client_id,
    tenant_by_segment, user_response,
};
use super::{Failure, TokenRequest};
use crate::crypto;
use crate::directory::TenantAlias;
use crate::state::AppState;
use crate::store::{CodeRedemption, DeviceCodeStatus, Tenant, User};

/// RFC 7636: `BASE64URL(SHA256(verifier))` for S256, the verifier itself for plain.
pub(crate) fn pkce_matches(method: Option<&str>, challenge: &str, verifier: &str) -> bool {
    let computed = match method.unwrap_or("plain") {
        m if m.eq_ignore_ascii_case("S256") => b64::url_encode(crypto::sha256(verifier.as_bytes())),
        _ => verifier.to_owned(),
    };
    crypto::digests_equal(computed.as_bytes(), challenge.as_bytes())
}

async fn tenant_for(
    state: &AppState,
    req: &TokenRequest,
    tenant_id: &str,
) -> Result<std::sync::Arc<Tenant>, Failure> {
    // A code or device code belongs to one tenant; the path may name it or an alias.
    if TenantAlias::parse(&req.tenant).is_none() {
        let named = state.directory.tenant(&req.tenant).await?;
        match named {
            None => {
                let shown: String = req.tenant.chars().take(100).collect();
                return Err(aadsts::TENANT_NOT_FOUND.with(&[&shown]).into());
            }
            Some(t) if t.id != tenant_id => return Err(aadsts::GRANT_INVALID.err().into()),
            Some(_) => {}
        }
    }
    state
        .directory
        .tenant(tenant_id)
        .await?
        .ok_or_else(|| aadsts::GRANT_INVALID.err().into())
}

async fn active_user(state: &AppState, tenant: &Tenant, user_id: &str) -> Result<User, Failure> {
    let user = state
        .directory
        .user(&tenant.id, user_id)
        .await?
        .ok_or_else(|| aadsts::USER_NOT_FOUND.with(&[user_id, &tenant.id]))?;
    if !user.account_enabled {
        return Err(aadsts::USER_DISABLED.err().into());
    }
    Ok(user)
}

pub(super) async fn authorization_code(
    state: &AppState,
    req: &TokenRequest,
) -> Result<TokenResponse, Failure> {
    let (client_id, presented) = client_auth::presented(&req.params, req.basic.clone())?;
    let client_id = require_client_id(client_id)?;
    let code = req.params.require("code")?;
    let redirect_uri = req.params.require("redirect_uri")?.to_owned();
    let now = state.clock.unix();
    let record = match state
        .store()
        .redeem_auth_code(&crypto::sha256_hex(code.as_bytes()))
        .await?
    {
        CodeRedemption::Unknown => return Err(aadsts::MALFORMED_REQUEST.err().into()),
        CodeRedemption::AlreadyRedeemed => return Err(aadsts::CODE_ALREADY_REDEEMED.err().into()),
        CodeRedemption::Redeemed(r) => r,
    };
    if now > record.expires_at {
        return Err(aadsts::GRANT_EXPIRED.err().into());
    }
    if record.client_id != client_id {
        return Err(aadsts::GRANT_INVALID.err().into());
    }
    let tenant = tenant_for(state, req, &record.tenant_id).await?;
    let app = application(state, &tenant, &client_id).await?;
    let acr = authenticate_user_flow(state, req, &tenant, &app, presented).await?;
    if record.redirect_uri != redirect_uri {
        return Err(aadsts::REDIRECT_MISMATCH_TOKEN
            .with(&[&redirect_uri, &record.redirect_uri])
            .into());
    }
    if let Some(challenge) = &record.code_challenge {
        let verifier = req.params.get("code_verifier").unwrap_or_default();
        if !pkce_matches(record.code_challenge_method.as_deref(), challenge, verifier) {
            return Err(aadsts::PKCE_MISMATCH.err().into());
        }
    }
    let user = active_user(state, &tenant, &record.user_id).await?;
    let claims = claims_request(req)?;
    let scope_text = req
        .params
        .get("scope")
        .map_or_else(|| record.scope.clone(), str::to_owned);
    let delegated = delegated(state, &tenant, &app, &user, &scope_text).await?;
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
            always_refresh: false,
            nonce: record.nonce.clone(),
            mfa: record.mfa,
        },
    )
    .await
}

pub(super) async fn device_code(
    state: &AppState,
    req: &TokenRequest,
) -> Result<TokenResponse, Failure> {
    let (client_id, presented) = client_auth::presented(&req.params, req.basic.clone())?;
    let client_id = require_client_id(client_id)?;
    let code = req.params.require("device_code")?;
    let hash = crypto::sha256_hex(code.as_bytes());
    let Some(record) = state.store().device_code(&hash).await? else {
        return Err(aadsts::BAD_DEVICE_CODE.err().into());
    };
    if record.client_id != client_id {
        return Err(aadsts::BAD_DEVICE_CODE.err().into());
    }
    let now = state.clock.unix();
    if now > record.expires_at {
        return Err(aadsts::DEVICE_EXPIRED.err().into());
    }
    let previous_poll = state.store().poll_device_code(&hash, now).await?;
    match record.status {
        DeviceCodeStatus::Declined => return Err(aadsts::DEVICE_DECLINED.err().into()),
        DeviceCodeStatus::Redeemed => return Err(aadsts::CODE_ALREADY_REDEEMED.err().into()),
        DeviceCodeStatus::Pending => {
            // One second of grace for clients that sleep exactly `interval`.
            if previous_poll > 0 && now - previous_poll < record.interval_seconds - 1 {
                return Err(aadsts::DEVICE_SLOW_DOWN
                    .with(&[&record.interval_seconds.to_string()])
                    .into());
            }
            return Err(aadsts::DEVICE_PENDING.err().into());
        }
        DeviceCodeStatus::Approved => {}
    }
    if !state
        .store()
        .transition_device_code(
            &hash,
            DeviceCodeStatus::Approved,
            DeviceCodeStatus::Redeemed,
            None,
            None,
        )
        .await?
    {
        return Err(aadsts::CODE_ALREADY_REDEEMED.err().into());
    }
    let tenant = tenant_for(state, req, &record.tenant_id).await?;
    let app = application(state, &tenant, &client_id).await?;
    let acr = authenticate_user_flow(state, req, &tenant, &app, presented).await?;
    let user = active_user(
        state,
        &tenant,
        record.user_id.as_deref().unwrap_or_default(),
    )
    .await?;
    let claims = claims_request(req)?;
    let delegated = delegated(state, &tenant, &app, &user, &record.scope).await?;
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
            session_id: record.session_id.clone().unwrap_or_default(),
            refresh_scope: record.scope.clone(),
            always_refresh: false,
            nonce: None,
            mfa: false,
        },
    )
    .await
}

/// On-behalf-of: a web API trades the user's access token (whose audience is the API) for a
/// token to another resource, for the same user.
pub(super) async fn on_behalf_of(
    state: &AppState,
    req: &TokenRequest,
) -> Result<TokenResponse, Failure> {
    if req.params.get("requested_token_use") != Some("on_behalf_of") {
        return Err(aadsts::OBO_BAD_USE.err().into());
    }
    let (client_id, presented) = client_auth::presented(&req.params, req.basic.clone())?;
    let client_id = require_client_id(client_id)?;
    let assertion = req.params.require("assertion")?.to_owned();
    let scope_text = req.params.require("scope")?.to_owned();
    let tenant = tenant_by_segment(state, &req.tenant).await?;
    let app = application(state, &tenant, &client_id).await?;
    if presented.is_none() {
        return Err(aadsts::MISSING_CREDENTIAL.err().into());
    }
    let acr = client_auth::authenticate(
        state,
        &app,
        presented,
        &super::grants::assertion_audiences(state, req, &tenant),
    )
    .await?;
    let parsed = jwt::parse(&assertion).map_err(|_| aadsts::OBO_MALFORMED_ASSERTION.err())?;
    let kid = parsed.header.kid.clone().unwrap_or_default();
    if parsed.header.alg != "RS256"
        || !state
            .keys
            .verify_rs256(&kid, parsed.signing_input.as_bytes(), &parsed.signature)
    {
        return Err(aadsts::OBO_BAD_ASSERTION.err().into());
    }
    let claims: AccessTokenClaims =
        serde_json::from_slice(&parsed.payload).map_err(|_| aadsts::OBO_BAD_ASSERTION.err())?;
    let now = state.clock.unix();
    if now > claims.exp + 300 || claims.tid != tenant.id || claims.scp.is_none() {
        return Err(aadsts::OBO_EXPIRED_ASSERTION.err().into());
    }
    // The incoming token must be for this API: its client id (v2) or an identifier URI (v1).
    let aud_ok = claims.aud.eq_ignore_ascii_case(&app.client_id)
        || app.identifier_uris.iter().any(|u| {
            tessera_proto::scope::resource_key(u) == tessera_proto::scope::resource_key(&claims.aud)
        });
    if !aud_ok {
        let expected = app
            .identifier_uris
            .first()
            .cloned()
            .unwrap_or_else(|| app.client_id.clone());
        return Err(aadsts::OBO_WRONG_AUDIENCE
            .with(&[&claims.aud, &expected])
            .into());
    }
    let user = active_user(state, &tenant, &claims.oid).await?;
    let token_claims = claims_request(req)?;
    let delegated = delegated(state, &tenant, &app, &user, &scope_text).await?;
    // The incoming token already carries the user's sign-in (MFA included); OBO does not ask again.
    user_response(
        state,
        req,
        UserGrant {
            tenant: &tenant,
            app: &app,
            user: &user,
            acr,
            delegated,
            claims: token_claims,
            session_id: claims.sid.clone().unwrap_or_default(),
            refresh_scope: scope_text,
            always_refresh: false,
            nonce: None,
            mfa: false,
        },
    )
    .await
}
