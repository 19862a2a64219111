//! The token endpoint's logic, independent of HTTP: parameters in, an Entra token response
//! or AADSTS error out. Grants live in `grants`, client authentication in `client_auth`,
//! token minting in `mint`.

pub(crate) mod client_auth;
mod grants;
pub(crate) mod interactive;
pub(crate) mod mint;
mod v1;

pub(crate) use v1::scope_for as v1_scope;

use std::collections::HashMap;

use tessera_proto::errors::{self as aadsts, AadstsError};
use tessera_proto::token::{GrantType, TokenResponse, V1TokenResponse};

use crate::state::AppState;
use crate::store::StoreError;

/// When a token this server minted was really issued, in milliseconds: the time recorded
/// in its `aio` claim, or `nbf_seconds` (back-dated) for a token without one. Continuous
/// access evaluation compares it with a user's revocation time.
pub(crate) fn issued_ms(aio: &str, nbf_seconds: i64) -> i64 {
    mint::issued_ms_from_aio(aio).unwrap_or(nbf_seconds.saturating_mul(1000))
}

/// Parameters the token endpoint reads; any other parameter is ignored, as Entra does.
/// A known parameter sent twice is refused.
pub(crate) const KNOWN_PARAMS: &[&str] = &[
    "grant_type",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "scope",
    "username",
    "password",
    "refresh_token",
    "code",
    "redirect_uri",
    "code_verifier",
    "device_code",
    "assertion",
    "requested_token_use",
    "claims",
    "client_info",
    "client-request-id",
    // v1.0 endpoint only (`token::v1` turns it into a scope).
    "resource",
];

/// The known parameters of one request.
#[derive(Default)]
pub(crate) struct Params(HashMap<&'static str, String>);

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: values include secrets, passwords and tokens.
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Params {
    /// Collects known parameters from decoded pairs; returns the first duplicated name.
    pub(crate) fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
    ) -> Result<Self, String> {
        let mut map = HashMap::new();
        for (k, v) in pairs {
            if let Some(name) = KNOWN_PARAMS.iter().find(|n| **n == k)
                && map.insert(*name, v.into_owned()).is_some()
            {
                return Err((*name).to_owned());
            }
        }
        Ok(Self(map))
    }

    /// A parameter's value; an empty value counts as absent.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn set(&mut self, name: &'static str, value: String) {
        self.0.insert(name, value);
    }

    fn remove(&mut self, name: &str) {
        self.0.remove(name);
    }

    pub(crate) fn require(&self, name: &str) -> Result<&str, Failure> {
        self.get(name)
            .ok_or_else(|| aadsts::MISSING_PARAMETER.with(&[name]).into())
    }
}

/// Which token endpoint a request came to. The grants are the same; the parameters and the
/// response's shape differ (`token::v1`), and the v1 endpoint issues v1 ID tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `/{tenant}/oauth2/v2.0/token`
    V2,
    /// `/{tenant}/oauth2/token`
    V1,
}

/// A token response in the shape of the endpoint that was asked.
#[derive(Debug)]
pub(crate) enum Answer {
    V2(TokenResponse),
    V1(V1TokenResponse),
}

impl Answer {
    /// The JSON body, as that endpoint writes it.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        match self {
            Self::V2(r) => serde_json::to_vec(r).unwrap_or_default(),
            Self::V1(r) => r.to_json(),
        }
    }
}

/// A token request as the HTTP layer hands it over.
pub(crate) struct TokenRequest {
    pub endpoint: Endpoint,
    /// The `{tenant}` path segment as sent.
    pub tenant: String,
    pub params: Params,
    /// Client id and secret from `Authorization: Basic`.
    pub basic: Option<(String, String)>,
    /// `https://host:port` as the client reached this server.
    pub base_url: String,
    /// The client's IP address, for the password limits ("unknown" without one).
    pub client_address: String,
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest")
            .field("endpoint", &self.endpoint)
            .field("tenant", &self.tenant)
            .field("params", &self.params)
            .field("basic", &self.basic.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Why a request failed: an AADSTS error for the client, or an internal failure that is
/// logged and answered with a retryable AADSTS error.
#[derive(Debug)]
pub(crate) enum Failure {
    Aadsts(AadstsError),
    Internal(String),
}

impl From<AadstsError> for Failure {
    fn from(e: AadstsError) -> Self {
        Self::Aadsts(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(_) => Self::Aadsts(aadsts::MALFORMED_REQUEST.err()),
            e => Self::Internal(e.to_string()),
        }
    }
}

impl Failure {
    /// The error for the client; internal details are logged by the caller, never sent.
    pub(crate) fn into_aadsts(self) -> AadstsError {
        match self {
            Self::Aadsts(e) => e,
            Self::Internal(_) => aadsts::TRANSIENT.err(),
        }
    }
}

/// A time as Entra prints it inside error messages: ISO 8601 with seven fractional digits.
pub(crate) fn entra_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].0000000Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// AADSTS50173 for a grant issued at `issued_at` to a user whose sessions were revoked.
pub(crate) fn grant_revoked(issued_at: i64, user: &crate::store::User) -> AadstsError {
    aadsts::GRANT_REVOKED.with(&[&entra_time(issued_at), &entra_time(user.tokens_valid_after)])
}

/// Runs a token request. Returns the grant label (for metrics) with the outcome.
pub(crate) async fn token(
    state: &AppState,
    mut req: TokenRequest,
) -> (&'static str, Result<Answer, Failure>) {
    let grant = match req.params.get("grant_type") {
        None => {
            return (
                "missing",
                Err(aadsts::MISSING_PARAMETER.with(&["grant_type"]).into()),
            );
        }
        Some(g) => match GrantType::parse(g) {
            Some(g) => g,
            None => {
                let shown: String = g.chars().take(100).collect();
                return (
                    "unsupported",
                    Err(aadsts::UNSUPPORTED_GRANT.with(&[&shown]).into()),
                );
            }
        },
    };
    let v1_resource = req.params.get("resource").map(str::to_owned);
    if req.endpoint == Endpoint::V1
        && let Err(e) = v1::translate(&mut req.params, grant)
    {
        return (grant.label(), Err(e));
    }
    let now = tessera_proto::clock::Clock::unix(state.clock.as_ref());
    let loop_key = loop_key(state, &req, grant);
    if loop_key.is_some_and(|k| state.loops.looping(k, now)) {
        return (grant.label(), Err(aadsts::LOOP_DETECTED.err().into()));
    }
    let result = match grant {
        GrantType::ClientCredentials => grants::client_credentials(state, &req).await,
        GrantType::Password => grants::password(state, &req).await,
        GrantType::RefreshToken => grants::refresh_token(state, &req).await,
        GrantType::AuthorizationCode => interactive::authorization_code(state, &req).await,
        GrantType::DeviceCode => interactive::device_code(state, &req).await,
        GrantType::JwtBearer => interactive::on_behalf_of(state, &req).await,
    };
    if let (Some(k), Ok(r)) = (loop_key, &result) {
        state.loops.issued(k, now, r.expires_in);
    }
    let answer = result.and_then(|r| match req.endpoint {
        Endpoint::V2 => Ok(Answer::V2(r)),
        Endpoint::V1 => v1::response(
            r,
            v1_resource.as_deref(),
            tessera_proto::clock::Clock::unix(state.clock.as_ref()),
        )
        .map(Answer::V1),
    });
    (grant.label(), answer)
}

/// What makes two requests of a watched grant the same request (`directory::Loops`).
fn loop_key(
    state: &AppState,
    req: &TokenRequest,
    grant: GrantType,
) -> Option<crate::directory::LoopKey> {
    let client_id = req
        .params
        .get("client_id")
        .or(req.basic.as_ref().map(|(id, _)| id.as_str()))?;
    let subject = match grant {
        GrantType::Password => req.params.get("username"),
        GrantType::RefreshToken => req.params.get("refresh_token"),
        GrantType::JwtBearer => req.params.get("assertion"),
        _ => Some(""),
    }?;
    let scope = req.params.get("scope").unwrap_or_default();
    state
        .loops
        .key(&req.tenant, client_id, grant, subject, scope)
}
