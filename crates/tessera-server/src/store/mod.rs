//! Persistent state behind one `Store` trait: tenants, app registrations, users, groups,
//! refresh tokens, signing keys and assertion ids. Handlers never see SQL; backends
//! implement this trait with portable SQL and their own migrations.

mod filter;
mod postgres;
mod sql;
mod sqlite;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde::{Deserialize, Serialize};

pub use postgres::{PostgresStore, PostgresUrl};
pub use sqlite::SqliteStore;

/// Storage failures. The message never contains secrets: queries bind them as parameters.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// A value the database cannot hold, so no stored record can have it either: text with
    /// a NUL character on PostgreSQL. The request is at fault, not the store.
    #[error("invalid value: {0}")]
    Invalid(String),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error("migration {version} failed: {source}")]
    Migration { version: i64, source: sqlx::Error },
    /// A uniqueness rule of the directory would be broken (second organization default...).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A query the store cannot run (callers validate first; this is the backstop).
    #[error("unsupported query: {0}")]
    Query(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            // character_not_in_repertoire, untranslatable_character: PostgreSQL refuses a NUL
            // in text (SQLite stores it) and characters its database encoding lacks.
            sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("22021" | "22P05")) => {
                Self::Invalid(d.message().to_owned())
            }
            _ => Self::Database(e),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'a>>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    pub domain: String,
    pub display_name: String,
    /// Which wins between an organization default and an app's own lifetime policy.
    #[serde(default)]
    pub lifetime_precedence: tessera_proto::lifetime::Precedence,
}

/// A client secret as stored: only its SHA-256, never the value.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretCredential {
    pub key_id: String,
    pub display_name: String,
    /// Lower-case hex SHA-256 of the secret value.
    pub sha256: String,
    /// First three characters, as the portal shows (`hint`).
    pub hint: String,
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for SecretCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretCredential")
            .field("key_id", &self.key_id)
            .field("hint", &self.hint)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A certificate credential, parsed once when registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateCredential {
    pub key_id: String,
    pub display_name: String,
    /// Standard base64 DER of the certificate.
    pub der: String,
    /// base64url SHA-1 and SHA-256 thumbprints (`x5t`, `x5t#S256`).
    pub x5t: String,
    pub x5t_s256: String,
    /// base64 PKCS#1 RSAPublicKey, what signature verification needs.
    pub public_key: String,
    pub not_before: i64,
    pub not_after: i64,
}

/// An app registration with its service principal in the same tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    pub tenant_id: String,
    pub client_id: String,
    pub object_id: String,
    pub service_principal_id: String,
    pub display_name: String,
    /// "Allow public client flows": device code, ROPC, and credential-less refresh.
    pub public_client: bool,
    /// The access token version this app accepts when it is the resource (1 or 2).
    pub access_token_version: u8,
    pub identifier_uris: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub secrets: Vec<SecretCredential>,
    pub certificates: Vec<CertificateCredential>,
    /// App roles this app exposes as a resource.
    pub app_roles: Vec<String>,
    /// Delegated scopes this app exposes as a resource.
    pub oauth2_scopes: Vec<String>,
    /// Application permissions granted to this app, by resource key.
    pub application_permissions: BTreeMap<String, Vec<String>>,
    /// Delegated permissions consented for this app (tenant-wide), by resource key.
    pub delegated_permissions: BTreeMap<String, Vec<String>>,
    /// The service principal is a managed identity (token lifetime policies cannot apply).
    #[serde(default)]
    pub managed_identity: bool,
    #[serde(default)]
    pub created_at: i64,
    /// Whether the app has its service principal in the tenant. An app made by Graph's
    /// `POST /applications` has none until `POST /servicePrincipals` (as in Entra, where it
    /// cannot get app-only tokens before: AADSTS7000229), nor after its deletion.
    #[serde(default = "yes")]
    pub has_service_principal: bool,
    /// Graph properties kept as Graph sent them but not acted on, of the application
    /// (`requiredResourceAccess`, `notes`, `tags`, `info`) and of its service principal
    /// (`preferredSingleSignOnMode`, `notes`, `tags`, `loginUrl`,
    /// `samlSingleSignOnSettings`, `appRoleAssignmentRequired`).
    #[serde(default)]
    pub application_extra: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub service_principal_extra: BTreeMap<String, serde_json::Value>,
    /// How the app is answered when it signs users in with SAML or WS-Federation.
    #[serde(default)]
    pub saml: SamlSettings,
}

/// An app's SAML single sign-on settings, as Entra's enterprise app keeps them. Its entity
/// ID is one of `identifier_uris`, its ACS URLs are among `redirect_uris`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlSettings {
    /// Where LogoutResponses go (the app's "Logout URL", Graph's `web.logoutUrl`).
    #[serde(default)]
    pub logout_url: Option<String>,
    /// The NameID format when a request names none; the UPN as an emailAddress when unset,
    /// as Entra's default "Unique User Identifier" claim gives.
    #[serde(default)]
    pub name_id_format: Option<String>,
    #[serde(default)]
    pub signing: SamlSigning,
    /// Certificates (standard base64 DER) that sign this app's requests. With any, every
    /// request must be signed by one of them (AADSTS76021 otherwise).
    #[serde(default)]
    pub request_signing_certificates: Vec<String>,
    /// The RelayState sent with an IdP-initiated sign-in.
    #[serde(default)]
    pub relay_state: Option<String>,
}

/// What Entra signs in a SAML response ("Signing Option"; the assertion by default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SamlSigning {
    #[default]
    Assertion,
    Response,
    ResponseAndAssertion,
}

fn yes() -> bool {
    true
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub tenant_id: String,
    pub id: String,
    pub user_principal_name: String,
    pub display_name: String,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub mail: Option<String>,
    /// Argon2id PHC string; `None` for users who cannot sign in with a password.
    pub password_hash: Option<String>,
    pub account_enabled: bool,
    pub mfa_required: bool,
    /// Refresh tokens issued before this instant are revoked (sign-in sessions revoked,
    /// password changed).
    pub tokens_valid_after: i64,
    /// Base32 TOTP secret for the one-time-code step of MFA-required users.
    #[serde(default)]
    pub mfa_totp_secret: Option<String>,
    /// When sessions were last revoked, in milliseconds: CAE-capable access tokens issued
    /// before it are challenged (seconds cannot order a revocation and a token of the same second).
    #[serde(default)]
    pub revoked_at_ms: i64,
    /// Bumped by every revocation; refresh tokens remember the generation they were issued in.
    #[serde(default)]
    pub session_generation: i64,
    #[serde(default)]
    pub created_at: i64,
    /// Other Graph properties (jobTitle, mailNickname...), stored as Graph sends them.
    #[serde(default)]
    pub extra: BTreeMap<String, serde_json::Value>,
    /// Template ids of the built-in directory roles assigned to the user
    /// (`tessera_proto::directory_roles`), the `wids` claim of its tokens.
    #[serde(default)]
    pub directory_roles: Vec<String>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("user_principal_name", &self.user_principal_name)
            .field("account_enabled", &self.account_enabled)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub tenant_id: String,
    pub id: String,
    pub display_name: String,
    /// Member user ids.
    pub members: Vec<String>,
    #[serde(default)]
    pub created_at: i64,
    /// Other Graph properties (description, mailNickname, groupTypes...).
    #[serde(default)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A token lifetime policy (Graph `tokenLifetimePolicy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenLifetimePolicy {
    pub tenant_id: String,
    pub id: String,
    pub display_name: String,
    pub description: Option<String>,
    /// As Graph holds it: one JSON string.
    pub definition: Vec<String>,
    pub is_organization_default: bool,
    /// `AccessTokenLifetime` parsed from the definition.
    pub access_token_seconds: i64,
}

/// What a policy is assigned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectKind {
    Application,
    ServicePrincipal,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Application => "application",
            Self::ServicePrincipal => "servicePrincipal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "application" => Some(Self::Application),
            "servicePrincipal" => Some(Self::ServicePrincipal),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyAssignment {
    pub tenant_id: String,
    /// The application's or service principal's object id.
    pub object_id: String,
    pub kind: ObjectKind,
    pub policy_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignOutcome {
    Assigned,
    /// This policy was already assigned to the object.
    AlreadyAssigned,
    /// Another policy is assigned to the object (one per object).
    OtherPolicyAssigned,
}

/// Listing order for paged collections. Paging is by keyset, so a walk never returns an
/// object twice nor skips one that existed throughout, whatever is added or deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListOrder {
    Id,
    DisplayName { descending: bool },
}

/// Where the previous page ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub id: String,
}

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<tessera_proto::odata::Filter>,
    pub order: ListOrder,
    pub after: Option<Cursor>,
    pub limit: u32,
}

/// A refresh token as stored: keyed by the SHA-256 of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub hash: String,
    pub tenant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub session_id: String,
    pub issued_at: i64,
    pub last_used_at: i64,
    pub revoked: bool,
    /// The user's session generation when issued.
    pub generation: i64,
}

#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub pkcs8_der: Vec<u8>,
    pub cert_der: Vec<u8>,
    pub created_at: i64,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A device authorization request (device code flow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCodeRecord {
    /// SHA-256 of the device code.
    pub hash: String,
    pub user_code: String,
    pub tenant_id: String,
    pub client_id: String,
    pub scope: String,
    pub claims: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub interval_seconds: i64,
    pub last_poll_at: i64,
    pub status: DeviceCodeStatus,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceCodeStatus {
    Pending,
    Approved,
    Declined,
    Redeemed,
}

impl DeviceCodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Declined => "declined",
            Self::Redeemed => "redeemed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "declined" => Self::Declined,
            "redeemed" => Self::Redeemed,
            _ => return None,
        })
    }
}

/// An authorization code and everything its redemption must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthCodeRecord {
    /// SHA-256 of the code.
    pub hash: String,
    pub tenant_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    /// `S256` or `plain`.
    pub code_challenge_method: Option<String>,
    pub user_id: String,
    pub session_id: String,
    pub auth_time: i64,
    pub claims: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// The user completed the one-time-code step in this sign-in (`amr` gets `mfa`).
    #[serde(default)]
    pub mfa: bool,
}

/// What redeeming an authorization code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRedemption {
    Redeemed(Box<AuthCodeRecord>),
    AlreadyRedeemed,
    Unknown,
}

/// A browser sign-in session (the SSO cookie), keyed by the cookie's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigninSession {
    pub hash: String,
    pub tenant_id: String,
    pub user_id: String,
    pub created_at: i64,
    pub auth_time: i64,
    /// When the user last completed multi-factor authentication in this session (0: never).
    pub mfa_at: i64,
    pub ended: bool,
}

/// An admin portal session, keyed by the cookie's digest. Holds the portal's own Graph access
/// token, so the portal acts through Graph with the signed-in admin's rights.
#[derive(Clone, PartialEq, Eq)]
pub struct PortalSession {
    pub hash: String,
    pub tenant_id: String,
    pub user_id: String,
    pub access_token: String,
    /// Unix milliseconds, so a revocation in the same second orders before or after it.
    pub created_at_ms: i64,
    pub expires_at: i64,
    pub ended: bool,
}

impl std::fmt::Debug for PortalSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalSession")
            .field("tenant_id", &self.tenant_id)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// Failed attempts counted under one key (sign-in throttling).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureCounter {
    pub failures: i64,
    pub window_start: i64,
    pub locked_until: i64,
}

/// How a failure counter changes; runs while the store holds the counter's row.
pub type CounterUpdate = Box<dyn FnOnce(FailureCounter) -> FailureCounter + Send>;

/// What happened when an assertion id was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JtiOutcome {
    /// First time this id was seen for this client.
    New,
    /// The identical assertion again (msal-node re-sends its cached assertion).
    SameAssertion,
    /// The id was seen before inside a different assertion.
    Replayed,
}

/// Held while one server initialises a shared database (first signing key, `--config`, the
/// demo tenant): another server starting on the same database waits, then finds the work
/// done. Released by `release`, or when dropped (PostgreSQL then ends the session's lock).
#[derive(Default)]
pub struct StartupLock {
    session: Option<sqlx::PgConnection>,
}

impl std::fmt::Debug for StartupLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartupLock")
            .field("held", &self.session.is_some())
            .finish()
    }
}

impl StartupLock {
    pub(crate) fn held_by(session: sqlx::PgConnection) -> Self {
        Self {
            session: Some(session),
        }
    }

    pub async fn release(self) -> StoreResult<()> {
        if let Some(session) = self.session {
            // Closing the session releases its advisory locks.
            sqlx::Connection::close(session).await?;
        }
        Ok(())
    }
}

/// All state access. Object-safe so backends can be chosen at start.
pub trait Store: Send + Sync + 'static {
    /// Serialises start-up work among servers sharing this database. A store that only one
    /// server can use has nothing to wait for.
    fn startup_lock(&self) -> BoxFuture<'_, StartupLock> {
        Box::pin(async { Ok(StartupLock::default()) })
    }

    /// A counter that moves whenever another server may have changed tenants, applications
    /// or lifetime policies, whose cached copies must then go. `None` when no other server
    /// writes to this store.
    fn directory_changes(&self) -> Option<Arc<AtomicU64>> {
        None
    }

    fn tenant(&self, id_or_domain: &str) -> BoxFuture<'_, Option<Tenant>>;
    fn tenants(&self) -> BoxFuture<'_, Vec<Tenant>>;
    fn put_tenant(&self, tenant: Tenant) -> BoxFuture<'_, ()>;

    fn application(&self, tenant_id: &str, client_id: &str) -> BoxFuture<'_, Option<Application>>;
    /// The application whose client id or identifier URI is `identifier` (compared by
    /// `tessera_proto::scope::resource_key`).
    fn application_by_identifier(
        &self,
        tenant_id: &str,
        identifier: &str,
    ) -> BoxFuture<'_, Option<Application>>;
    fn put_application(&self, app: Application) -> BoxFuture<'_, ()>;

    fn user(&self, tenant_id: &str, id: &str) -> BoxFuture<'_, Option<User>>;
    fn user_by_upn(&self, tenant_id: &str, upn: &str) -> BoxFuture<'_, Option<User>>;
    fn put_user(&self, user: User) -> BoxFuture<'_, ()>;
    fn put_group(&self, group: Group) -> BoxFuture<'_, ()>;
    /// Deletes a group; false when there was none.
    fn delete_group(&self, tenant_id: &str, id: &str) -> BoxFuture<'_, bool>;

    fn insert_refresh_token(&self, record: RefreshTokenRecord) -> BoxFuture<'_, ()>;
    fn refresh_token(&self, hash: &str) -> BoxFuture<'_, Option<RefreshTokenRecord>>;
    fn touch_refresh_token(&self, hash: &str, at: i64) -> BoxFuture<'_, ()>;
    fn revoke_refresh_token(&self, hash: &str) -> BoxFuture<'_, bool>;

    fn signing_keys(&self) -> BoxFuture<'_, Vec<SigningKeyRecord>>;
    fn insert_signing_key(&self, key: SigningKeyRecord) -> BoxFuture<'_, ()>;

    /// Records an assertion id until `expires_at`, forgetting ids expired before `now`.
    fn record_assertion_jti(
        &self,
        client_id: &str,
        jti: &str,
        assertion_hash: &str,
        expires_at: i64,
        now: i64,
    ) -> BoxFuture<'_, JtiOutcome>;

    fn list_users(&self, tenant_id: &str, query: &ListQuery) -> BoxFuture<'_, Vec<User>>;
    fn count_users(
        &self,
        tenant_id: &str,
        filter: Option<&tessera_proto::odata::Filter>,
    ) -> BoxFuture<'_, u64>;
    fn delete_user(&self, tenant_id: &str, id: &str) -> BoxFuture<'_, bool>;
    /// Inserts many users in one transaction (bulk seeding); fails on a duplicate.
    fn insert_users(&self, users: Vec<User>) -> BoxFuture<'_, ()>;

    fn group(&self, tenant_id: &str, id: &str) -> BoxFuture<'_, Option<Group>>;
    fn list_groups(&self, tenant_id: &str, query: &ListQuery) -> BoxFuture<'_, Vec<Group>>;
    fn count_groups(
        &self,
        tenant_id: &str,
        filter: Option<&tessera_proto::odata::Filter>,
    ) -> BoxFuture<'_, u64>;

    fn list_applications(&self, tenant_id: &str) -> BoxFuture<'_, Vec<Application>>;
    fn delete_application(&self, tenant_id: &str, client_id: &str) -> BoxFuture<'_, bool>;

    fn policies(&self, tenant_id: &str) -> BoxFuture<'_, Vec<TokenLifetimePolicy>>;
    /// Creates or replaces a policy; `Conflict` if it would be a second organization default.
    fn put_policy(&self, policy: TokenLifetimePolicy) -> BoxFuture<'_, ()>;
    /// Deletes a policy and its assignments.
    fn delete_policy(&self, tenant_id: &str, id: &str) -> BoxFuture<'_, bool>;
    fn assign_policy(&self, assignment: PolicyAssignment) -> BoxFuture<'_, AssignOutcome>;
    fn unassign_policy(
        &self,
        tenant_id: &str,
        object_id: &str,
        policy_id: &str,
    ) -> BoxFuture<'_, bool>;
    fn policy_assignments(&self, tenant_id: &str) -> BoxFuture<'_, Vec<PolicyAssignment>>;

    fn insert_device_code(&self, record: DeviceCodeRecord) -> BoxFuture<'_, ()>;
    fn device_code(&self, hash: &str) -> BoxFuture<'_, Option<DeviceCodeRecord>>;
    fn device_code_by_user_code(&self, user_code: &str) -> BoxFuture<'_, Option<DeviceCodeRecord>>;
    /// Records a poll; returns the time of the previous one.
    fn poll_device_code(&self, hash: &str, at: i64) -> BoxFuture<'_, i64>;
    /// Moves a pending code to approved/declined (with the user), or approved to redeemed.
    /// Returns false when the code was not in `from`.
    fn transition_device_code(
        &self,
        hash: &str,
        from: DeviceCodeStatus,
        to: DeviceCodeStatus,
        user_id: Option<&str>,
        session_id: Option<&str>,
    ) -> BoxFuture<'_, bool>;

    fn insert_auth_code(&self, record: AuthCodeRecord) -> BoxFuture<'_, ()>;
    /// Marks a code redeemed, once: a second redemption is reported, never served.
    fn redeem_auth_code(&self, hash: &str) -> BoxFuture<'_, CodeRedemption>;

    fn insert_session(&self, session: SigninSession) -> BoxFuture<'_, ()>;
    fn session(&self, hash: &str) -> BoxFuture<'_, Option<SigninSession>>;
    fn end_session(&self, hash: &str) -> BoxFuture<'_, ()>;
    fn set_session_mfa(&self, hash: &str, at: i64) -> BoxFuture<'_, ()>;

    /// Stores a portal session; sessions that expired a day before it was made go.
    fn insert_portal_session(&self, s: PortalSession) -> BoxFuture<'_, ()>;
    fn portal_session(&self, hash: &str) -> BoxFuture<'_, Option<PortalSession>>;
    fn end_portal_session(&self, hash: &str) -> BoxFuture<'_, ()>;

    /// The delegated scopes a user consented to for a client and resource.
    fn user_consent(
        &self,
        tenant_id: &str,
        user_id: &str,
        client_id: &str,
        resource_key: &str,
    ) -> BoxFuture<'_, Vec<String>>;
    fn add_user_consent(
        &self,
        tenant_id: &str,
        user_id: &str,
        client_id: &str,
        resource_key: &str,
        scopes: Vec<String>,
    ) -> BoxFuture<'_, ()>;

    /// Applies `update` to the counter under `key` (zeros when there is none) and stores the
    /// result, atomically among all servers on the database; returns the new counter.
    fn update_failure_counter(
        &self,
        key: &str,
        update: CounterUpdate,
    ) -> BoxFuture<'_, FailureCounter>;
    /// The counters that exist under `keys`.
    fn failure_counters(&self, keys: &[String]) -> BoxFuture<'_, Vec<FailureCounter>>;
    fn delete_failure_counter(&self, key: &str) -> BoxFuture<'_, ()>;
    /// Forgets counters whose window started before `before` and that are not locked at `now`.
    fn forget_failure_counters(&self, before: i64, now: i64) -> BoxFuture<'_, ()>;

    fn meta(&self, key: &str) -> BoxFuture<'_, Option<String>>;
    fn set_meta(&self, key: &str, value: &str) -> BoxFuture<'_, ()>;
}
