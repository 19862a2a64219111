//! Minting: access tokens (v1.0 or v2.0 by what the resource accepts), ID tokens and refresh
//! tokens, with Entra's claim sets, back-dated `iat`/`nbf`, and lifetimes decided in one
//! place (`tessera_proto::lifetime`).

use tessera_proto::b64;
use tessera_proto::claims::{AccessTokenClaims, IdTokenClaims};
use tessera_proto::lifetime::{
    self, BACKDATE_SECONDS, LifetimeDecision, LifetimeInputs, PolicyLifetime,
};

use super::Failure;
use super::client_auth::Acr;
use crate::crypto;
use crate::crypto::keys::HeaderKind;
use crate::directory::{PolicySnapshot, Resource};
use crate::infra::activity::{ActivityEvent, ActivityKind};
use crate::state::AppState;
use crate::store::{Application, RefreshTokenRecord, Tenant, User};

/// Who the token is about.
pub(crate) enum Subject<'a> {
    App {
        roles: Vec<String>,
    },
    User {
        user: &'a User,
        scp: String,
        session_id: &'a str,
        mfa: bool,
    },
}

pub(crate) struct AccessTokenSpec<'a> {
    pub tenant: &'a Tenant,
    pub client: &'a Application,
    pub resource: &'a Resource,
    /// The resource as the client wrote it; v1.0 tokens carry it as `aud`.
    pub requested_resource: &'a str,
    pub subject: Subject<'a>,
    pub acr: Acr,
    pub cae: bool,
    /// A claims challenge's demand that `nbf` be at least this.
    pub min_nbf: Option<i64>,
    /// `https://host:port` as the client reached us (v2.0 issuer).
    pub base_url: &'a str,
    pub now: i64,
    pub policies: &'a PolicySnapshot,
    /// The grant that asked (`client_credentials`, `refresh_token`...), for the activity log.
    pub flow: &'a str,
}

pub(crate) struct Minted {
    pub token: String,
    pub decision: LifetimeDecision,
}

/// Opaque random claim values (`aio`, `rh`, `uti`) in Entra's lengths.
fn opaque(state: &AppState, bytes: usize) -> String {
    crypto::random_b64url(state.random.as_ref(), bytes)
}

/// `aio` is opaque to clients (Entra: "an internal claim... should be ignored"). tessera
/// keeps the token's real issue time in it, in milliseconds, because `iat` and `nbf` are
/// back-dated five minutes and continuous access evaluation must tell tokens issued after a
/// revocation, even within the same second.
pub(crate) fn aio(state: &AppState) -> String {
    let issued_ms = i64::try_from(
        tessera_proto::clock::Clock::now(state.clock.as_ref()).unix_timestamp_nanos() / 1_000_000,
    )
    .unwrap_or(0);
    let mut bytes = issued_ms.to_be_bytes().to_vec();
    let mut noise = [0u8; 24];
    state.random.fill(&mut noise);
    bytes.extend_from_slice(&noise);
    format!("E{}", b64::url_encode(bytes))
}

/// The real issue time (milliseconds) recorded by [`aio`], if `aio` is one of ours.
pub(crate) fn issued_ms_from_aio(aio: &str) -> Option<i64> {
    let bytes = b64::url_decode(aio.strip_prefix('E')?)?;
    let head: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some(i64::from_be_bytes(head))
}

/// Pairwise subject: stable per (user, application), unlinkable across applications.
pub(crate) fn pairwise_sub(tenant_id: &str, app_id: &str, user_id: &str) -> String {
    let digest = crypto::sha256(format!("{tenant_id}|{app_id}|{user_id}").as_bytes());
    b64::url_encode(&digest[..32])
}

pub(crate) fn v2_issuer(base_url: &str, tenant_id: &str) -> String {
    format!("{base_url}/{tenant_id}/v2.0")
}

/// Gathers what decides a token's lifetime: the tenant's organization default, the policy
/// assigned to `objects` (the resource's service principal, then its application object;
/// for ID tokens the signing-in app's), the tenant's precedence switch, CAE and test mode.
pub(crate) fn lifetime_inputs(
    state: &AppState,
    tenant: &Tenant,
    policies: &PolicySnapshot,
    objects: &[&str],
    cae: bool,
) -> LifetimeInputs {
    let to_input = |p: &crate::store::TokenLifetimePolicy| PolicyLifetime {
        policy_id: p.id.clone(),
        display_name: p.display_name.clone(),
        access_token_seconds: p.access_token_seconds,
    };
    LifetimeInputs {
        cae_capable: cae,
        organization_default: policies.organization_default().map(to_input),
        application_policy: objects
            .iter()
            .find_map(|o| policies.assigned_to(o))
            .map(to_input),
        precedence: tenant.lifetime_precedence,
        test_override_seconds: state.settings.test_token_lifetime,
    }
}

/// A token's short digest for the activity log: tells tokens apart, reveals nothing.
pub(crate) fn fingerprint(token: &str) -> String {
    crypto::sha256_hex(token.as_bytes())[..12].to_owned()
}

/// `wids`: the user's directory role template ids, only when it holds any.
fn wids(user: &crate::store::User) -> Option<Vec<String>> {
    (!user.directory_roles.is_empty()).then(|| user.directory_roles.clone())
}

pub(crate) fn access_token(
    state: &AppState,
    spec: &AccessTokenSpec<'_>,
) -> Result<Minted, Failure> {
    let objects: Vec<&str> = spec
        .resource
        .object_ids
        .iter()
        .map(String::as_str)
        .collect();
    let inputs = lifetime_inputs(state, spec.tenant, spec.policies, &objects, spec.cae);
    let decision = lifetime::access_token_lifetime(&inputs, state.random.as_ref());
    let now = spec.now;
    let issued = now - BACKDATE_SECONDS;
    let nbf = spec.min_nbf.map_or(issued, |m| m.clamp(issued, now));
    let tid = spec.tenant.id.clone();
    let v1 = spec.resource.token_version == 1;
    let mut c = AccessTokenClaims {
        aud: if v1 {
            spec.requested_resource.to_owned()
        } else {
            spec.resource.app_id.clone()
        },
        iss: if v1 {
            format!("https://sts.windows.net/{tid}/")
        } else {
            v2_issuer(spec.base_url, &tid)
        },
        iat: nbf,
        nbf,
        exp: now + decision.seconds,
        aio: aio(state),
        rh: format!("0.{}.", opaque(state, 48)),
        tid: tid.clone(),
        uti: opaque(state, 16),
        ver: if v1 { "1.0" } else { "2.0" }.into(),
        xms_cc: spec.cae.then(|| vec!["cp1".to_owned()]),
        ..Default::default()
    };
    if v1 {
        c.app_displayname = Some(spec.client.display_name.clone());
        c.appid = Some(spec.client.client_id.clone());
        c.appidacr = Some(spec.acr.claim().into());
    } else {
        c.azp = Some(spec.client.client_id.clone());
        c.azpacr = Some(spec.acr.claim().into());
    }
    match &spec.subject {
        Subject::App { roles } => {
            c.idp = Some(format!("https://sts.windows.net/{tid}/"));
            c.idtyp = Some("app".into());
            c.oid = spec.client.service_principal_id.clone();
            c.sub = spec.client.service_principal_id.clone();
            c.roles = (!roles.is_empty()).then(|| roles.clone());
        }
        Subject::User {
            user,
            scp,
            session_id,
            mfa,
        } => {
            c.idtyp = Some("user".into());
            c.oid = user.id.clone();
            c.sub = pairwise_sub(&tid, &spec.client.client_id, &user.id);
            c.name = Some(user.display_name.clone());
            c.scp = Some(scp.clone());
            c.sid = Some((*session_id).to_owned());
            c.wids = wids(user);
            if v1 {
                c.acr = Some("1".into());
                c.amr = Some(if *mfa {
                    vec!["pwd".into(), "mfa".into()]
                } else {
                    vec!["pwd".into()]
                });
                c.given_name = user.given_name.clone();
                c.family_name = user.surname.clone();
                c.unique_name = Some(user.user_principal_name.clone());
                c.upn = Some(user.user_principal_name.clone());
            } else {
                c.preferred_username = Some(user.user_principal_name.clone());
            }
        }
    }
    let kind = if v1 { HeaderKind::V1 } else { HeaderKind::V2 };
    let token = state
        .keys
        .active()
        .sign(kind, &c)
        .map_err(|e| Failure::Internal(e.to_string()))?;
    state.activity.record(ActivityEvent {
        app_id: spec.client.client_id.clone(),
        app_name: spec.client.display_name.clone(),
        user: match &spec.subject {
            Subject::User { user, .. } => Some(user.user_principal_name.clone()),
            Subject::App { .. } => None,
        },
        flow: spec.flow.to_owned(),
        token_kind: "access token",
        expires: c.exp,
        lifetime_source: decision.source.describe(),
        fingerprint: fingerprint(&token),
        ..ActivityEvent::new(ActivityKind::Issued, now, &tid)
    });
    Ok(Minted { token, decision })
}

pub(crate) struct IdTokenSpec<'a> {
    pub tenant: &'a Tenant,
    pub client: &'a Application,
    pub user: &'a User,
    pub profile: bool,
    pub email: bool,
    pub nonce: Option<String>,
    /// The authorization code this ID token accompanies (hybrid flow), for `c_hash`.
    pub code: Option<&'a str>,
    pub session_id: &'a str,
    pub base_url: &'a str,
    pub now: i64,
    pub policies: &'a PolicySnapshot,
}

/// An ID token's lifetime in seconds: the signing-in app's policy, else one hour.
fn id_token_seconds(state: &AppState, spec: &IdTokenSpec<'_>) -> i64 {
    let objects = [
        spec.client.service_principal_id.as_str(),
        spec.client.object_id.as_str(),
    ];
    lifetime::id_token_lifetime(&lifetime_inputs(
        state,
        spec.tenant,
        spec.policies,
        &objects,
        false,
    ))
    .seconds
}

pub(crate) fn id_token(state: &AppState, spec: &IdTokenSpec<'_>) -> Result<String, Failure> {
    let lifetime = id_token_seconds(state, spec);
    let issued = spec.now - BACKDATE_SECONDS;
    let user = spec.user;
    let claims = IdTokenClaims {
        aud: spec.client.client_id.clone(),
        iss: v2_issuer(spec.base_url, &spec.tenant.id),
        iat: issued,
        nbf: issued,
        exp: spec.now + lifetime,
        email: if spec.email { user.mail.clone() } else { None },
        name: spec.profile.then(|| user.display_name.clone()),
        nonce: spec.nonce.clone(),
        // OIDC: base64url of the left half of the code's SHA-256.
        c_hash: spec
            .code
            .map(|c| b64::url_encode(&crypto::sha256(c.as_bytes())[..16])),
        oid: spec.profile.then(|| user.id.clone()),
        preferred_username: spec.profile.then(|| user.user_principal_name.clone()),
        rh: format!("0.{}.", opaque(state, 48)),
        sid: Some(spec.session_id.to_owned()),
        sub: pairwise_sub(&spec.tenant.id, &spec.client.client_id, &user.id),
        tid: spec.tenant.id.clone(),
        uti: opaque(state, 16),
        ver: "2.0".into(),
        wids: wids(user),
        ..Default::default()
    };
    state
        .keys
        .active()
        .sign(HeaderKind::V2, &claims)
        .map_err(|e| Failure::Internal(e.to_string()))
}

/// A v1.0 ID token, as the v1 token endpoint returns it: unsigned (`alg` `none`, an empty
/// signature), issuer `https://sts.windows.net/{tid}/`, `unique_name` and `upn`. Lifetime as
/// for v2.0 ID tokens (one hour, or the applicable policy).
pub(crate) fn id_token_v1(state: &AppState, spec: &IdTokenSpec<'_>) -> String {
    let lifetime = id_token_seconds(state, spec);
    let issued = spec.now - BACKDATE_SECONDS;
    let user = spec.user;
    let claims = tessera_proto::claims::V1IdTokenClaims {
        aud: spec.client.client_id.clone(),
        iss: format!("https://sts.windows.net/{}/", spec.tenant.id),
        iat: issued,
        nbf: issued,
        exp: spec.now + lifetime,
        amr: vec!["pwd".into()],
        family_name: user.surname.clone(),
        given_name: user.given_name.clone(),
        name: user.display_name.clone(),
        oid: user.id.clone(),
        sub: pairwise_sub(&spec.tenant.id, &spec.client.client_id, &user.id),
        tid: spec.tenant.id.clone(),
        unique_name: user.user_principal_name.clone(),
        upn: user.user_principal_name.clone(),
        ver: "1.0".into(),
    };
    let header = b64::url_encode(br#"{"typ":"JWT","alg":"none"}"#);
    let body = b64::url_encode(serde_json::to_vec(&claims).unwrap_or_default());
    format!("{header}.{body}.")
}

/// Issues and stores a new refresh token in a sign-in session.
pub(crate) async fn refresh_token(
    state: &AppState,
    tenant_id: &str,
    client_id: &str,
    user: &User,
    scope: &str,
    session_id: &str,
    now: i64,
) -> Result<String, Failure> {
    let value = format!("1.{}", opaque(state, 48));
    state
        .store()
        .insert_refresh_token(RefreshTokenRecord {
            hash: crypto::sha256_hex(value.as_bytes()),
            tenant_id: tenant_id.to_owned(),
            client_id: client_id.to_owned(),
            user_id: user.id.clone(),
            scope: scope.to_owned(),
            session_id: session_id.to_owned(),
            issued_at: now,
            last_used_at: now,
            revoked: false,
            generation: user.session_generation,
        })
        .await?;
    Ok(value)
}
