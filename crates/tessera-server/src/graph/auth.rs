//! Bearer tokens validated as Graph validates them: signature against this server's keys,
//! audience, issuer and tenant, `exp`/`nbf` with five minutes of skew, and for CAE-capable
//! user tokens the user's current state. Then `roles` (app-only) or `scp` (delegated)
//! against the permissions each endpoint documents.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use tessera_proto::claims::AccessTokenClaims;
use tessera_proto::clock::Clock as _;
use tessera_proto::{GRAPH_APP_ID, GRAPH_RESOURCE, b64, jwt};

use super::GraphError;
use crate::state::AppState;
use crate::store::Tenant;

/// Microsoft.IdentityModel's default clock skew, which Graph's validation uses.
const SKEW_SECONDS: i64 = 300;

/// Who is calling.
#[derive(Debug, Clone)]
pub(crate) enum Principal {
    /// App-only token: application permissions.
    App { roles: Vec<String> },
    /// Delegated token: the user's object id, the consented scopes and the user's directory
    /// roles now (a delegated call acts with the user's privileges, as in Entra).
    User {
        user_id: String,
        scopes: Vec<String>,
        roles: Vec<String>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub(crate) tenant: Arc<Tenant>,
    /// The client application (`appid`/`azp`).
    pub(crate) app_id: String,
    pub(crate) principal: Principal,
}

/// Permission rows: the call is allowed if every permission of any one row is held.
pub(crate) type Rows = &'static [&'static [&'static str]];

impl Caller {
    pub(crate) fn holds(&self, permission: &str) -> bool {
        match &self.principal {
            Principal::App { roles } => roles.iter().any(|r| r.eq_ignore_ascii_case(permission)),
            Principal::User { scopes, roles, .. } => {
                scopes.iter().any(|s| s.eq_ignore_ascii_case(permission))
                    && tessera_proto::directory_roles::allows(roles, permission)
            }
        }
    }

    /// Authorizes against the endpoint's rows for app-only and delegated callers.
    pub(crate) fn require(&self, app_rows: Rows, delegated_rows: Rows) -> Result<(), GraphError> {
        let rows = match self.principal {
            Principal::App { .. } => app_rows,
            Principal::User { .. } => delegated_rows,
        };
        if rows.iter().any(|row| row.iter().all(|p| self.holds(p))) {
            Ok(())
        } else {
            Err(GraphError::forbidden())
        }
    }

    pub(crate) fn user_id(&self) -> Option<&str> {
        match &self.principal {
            Principal::User { user_id, .. } => Some(user_id),
            Principal::App { .. } => None,
        }
    }
}

fn unauthorized(state: &AppState, message: &str, base: &str) -> GraphError {
    let _ = state;
    let mut e = GraphError::new(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        message,
    );
    e.www_authenticate = Some(format!(
        r#"Bearer realm="", authorization_uri="{base}/common/oauth2/authorize", client_id="{GRAPH_APP_ID}""#
    ));
    e
}

/// The CAE claims challenge: the client must come back with a token whose `nbf` is at least
/// `not_before` (standard base64 with padding, as Graph sends it).
fn claims_challenge(base: &str, not_before: i64, code: &str) -> GraphError {
    let claims =
        format!(r#"{{"access_token":{{"nbf":{{"essential":true, "value":"{not_before}"}}}}}}"#);
    let encoded = b64::std_encode(claims.as_bytes());
    let mut e = GraphError::new(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        format!(
            "Continuous access evaluation resulted in challenge with result: InteractionRequired and code: {code}"
        ),
    );
    e.www_authenticate = Some(format!(
        r#"Bearer realm="", authorization_uri="{base}/common/oauth2/authorize", client_id="{GRAPH_APP_ID}", error="insufficient_claims", claims="{encoded}""#
    ));
    e
}

/// Validates a bearer token; returns the caller or Graph's 401.
pub(crate) async fn authenticate(
    state: &AppState,
    authorization: Option<&str>,
    base: &str,
) -> Result<Caller, GraphError> {
    let token = authorization
        .and_then(|h| tessera_proto::authorization::credentials(h, "Bearer"))
        .unwrap_or_default();
    if token.is_empty() {
        // The message for a missing header is UNCONFIRMED; Graph says this for an empty one.
        return Err(unauthorized(state, "Access token is empty.", base));
    }
    if !token.contains('.') {
        return Err(unauthorized(
            state,
            "IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in JWS or JWE Compact Serialization Format. (JWS): 'EncodedHeader.EncodedPayload.EncodedSignature'. (JWE): 'EncodedProtectedHeader.EncodedEncryptedKey.EncodedInitializationVector.EncodedCiphertext.EncodedAuthenticationTag'.",
            base,
        ));
    }
    let parsed = jwt::parse(token).map_err(|_| {
        unauthorized(
            state,
            "IDX14102: Unable to decode the header or payload of the token.",
            base,
        )
    })?;
    let kid = parsed.header.kid.clone().unwrap_or_default();
    if parsed.header.alg != "RS256"
        || !state
            .keys
            .verify_rs256(&kid, parsed.signing_input.as_bytes(), &parsed.signature)
    {
        return Err(unauthorized(state, "Signature is invalid.", base));
    }
    let claims: AccessTokenClaims = serde_json::from_slice(&parsed.payload).map_err(|_| {
        unauthorized(
            state,
            "IDX14102: Unable to decode the header or payload of the token.",
            base,
        )
    })?;
    let aud = claims.aud.trim_end_matches('/');
    if aud != GRAPH_RESOURCE && !aud.eq_ignore_ascii_case(GRAPH_APP_ID) {
        return Err(unauthorized(
            state,
            "Access token validation failure. Invalid audience.",
            base,
        ));
    }
    let tenant = state.directory.tenant(&claims.tid).await?;
    let Some(tenant) =
        tenant.filter(|t| claims.iss == format!("https://sts.windows.net/{}/", t.id))
    else {
        // Wording UNCONFIRMED.
        return Err(unauthorized(
            state,
            "Access token validation failure. Invalid issuer.",
            base,
        ));
    };
    let now = state.clock.unix();
    if now > claims.exp + SKEW_SECONDS {
        return Err(unauthorized(
            state,
            "Lifetime validation failed, the token is expired.",
            base,
        ));
    }
    if now + SKEW_SECONDS < claims.nbf {
        // Wording UNCONFIRMED.
        return Err(unauthorized(
            state,
            "Lifetime validation failed, the token is not yet valid.",
            base,
        ));
    }
    let app_id = claims
        .appid
        .clone()
        .or_else(|| claims.azp.clone())
        .unwrap_or_default();
    let principal = match &claims.scp {
        Some(scp) => {
            let cae = claims
                .xms_cc
                .as_ref()
                .is_some_and(|v| v.iter().any(|c| c.eq_ignore_ascii_case("cp1")));
            let user = state.directory.user(&tenant.id, &claims.oid).await?;
            if cae {
                // Continuous access evaluation: a CAE-capable token is checked against the
                // user's state now, not only at issuance.
                match &user {
                    None => return Err(claims_challenge(base, now, "UserDeleted")),
                    Some(u) if !u.account_enabled => {
                        return Err(claims_challenge(base, now, "UserDisabled"));
                    }
                    Some(u)
                        if crate::token::issued_ms(&claims.aio, claims.nbf) < u.revoked_at_ms =>
                    {
                        return Err(claims_challenge(
                            base,
                            u.tokens_valid_after,
                            "TokenIssuedBeforeRevocationTimestamp",
                        ));
                    }
                    Some(_) => {}
                }
            }
            Principal::User {
                user_id: claims.oid.clone(),
                scopes: scp.split_whitespace().map(str::to_owned).collect(),
                roles: user.map(|u| u.directory_roles).unwrap_or_default(),
            }
        }
        None => Principal::App {
            roles: claims.roles.clone().unwrap_or_default(),
        },
    };
    Ok(Caller {
        tenant,
        app_id,
        principal,
    })
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = GraphError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let base = crate::respond::base_url(state, &parts.headers, &parts.uri);
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let caller = authenticate(state, header, &base).await?;
        if let Some(limit) = state.faults.rate_limited(&caller.app_id) {
            return Err(GraphError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Please retry again later.",
            )
            .with_retry_after(&limit));
        }
        Ok(caller)
    }
}
