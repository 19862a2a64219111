//! Persistent state behind one `Store` trait: tenants, app registrations, users, groups,
//! refresh tokens, signing keys and assertion ids. Handlers never see SQL; backends
//! implement this trait with portable SQL and their own migrations.

mod sqlite;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

pub use sqlite::SqliteStore;

/// Storage failures. The message never contains secrets: queries bind them as parameters.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error("migration {version} failed: {source}")]
    Migration { version: i64, source: sqlx::Error },
}

pub type StoreResult<T> = Result<T, StoreError>;
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'a>>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    pub domain: String,
    pub display_name: String,
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
    pub members: Vec<String>,
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

/// All state access. Object-safe so backends can be chosen at start.
pub trait Store: Send + Sync + 'static {
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

    fn meta(&self, key: &str) -> BoxFuture<'_, Option<String>>;
    fn set_meta(&self, key: &str, value: &str) -> BoxFuture<'_, ()>;
}
