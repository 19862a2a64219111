//! The directory as the token service sees it: tenants, applications and resources, read
//! through an in-process cache so the hot path (client credentials) touches no database.
//! Writes here, and other servers' writes the store reports, clear the cache at once.

mod lockout;
mod loops;
mod sessions;

pub(crate) use lockout::{Checked, Lockout};
pub(crate) use loops::{LoopKey, Loops};

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tessera_proto::scope::resource_key;
use tessera_proto::{GRAPH_APP_ID, GRAPH_RESOURCE};

use crate::store::{
    Application, AssignOutcome, PolicyAssignment, Store, StoreResult, Tenant, TokenLifetimePolicy,
    User,
};

/// The tenant aliases of the v2.0 endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TenantAlias {
    Common,
    Organizations,
    Consumers,
}

impl TenantAlias {
    pub(crate) fn parse(segment: &str) -> Option<Self> {
        match segment.to_ascii_lowercase().as_str() {
            "common" => Some(Self::Common),
            "organizations" => Some(Self::Organizations),
            "consumers" | "9188040d-6c67-4c5b-b112-36a304b66dad" => Some(Self::Consumers),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Common => "common",
            Self::Organizations => "organizations",
            Self::Consumers => "consumers",
        }
    }
}

/// A resource a token can be for.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The resource's application (client) id.
    pub app_id: String,
    pub display_name: String,
    /// Access token version the resource accepts (1 or 2).
    pub token_version: u8,
    /// The canonical key under which permissions are granted.
    pub key: String,
    /// Delegated scopes the resource exposes; `None` means any (Microsoft Graph: its
    /// permission catalogue is large and tessera does not police names).
    pub scopes: Option<Vec<String>>,
    /// Where a lifetime policy for this resource may be assigned, in lookup order: its
    /// service principal, then its application object.
    pub object_ids: Vec<String>,
}

/// `user` with its sign-in sessions revoked at `now`: refresh tokens of earlier generations
/// stop working and CAE-capable access tokens issued before `now` are challenged.
pub(crate) fn revoked(user: User, now: time::OffsetDateTime) -> User {
    User {
        tokens_valid_after: now.unix_timestamp(),
        revoked_at_ms: i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX),
        session_generation: user.session_generation + 1,
        ..user
    }
}

/// Microsoft Graph's service principal in a tenant. Graph is not an app registration here,
/// but policies can be assigned to its service principal as in Entra; its id is derived from
/// the tenant so it is stable without being stored.
pub(crate) fn graph_service_principal_id(tenant_id: &str) -> String {
    derived_id("tessera graph service principal", tenant_id)
}

/// The admin portal's client id: a first-party app present in every tenant, as Entra's own
/// admin center is, and pre-consented for the Graph permissions its pages use. It is not an
/// app registration: Graph's `/applications` does not list it.
pub(crate) const PORTAL_APP_ID: &str = "c4817b83-f468-448d-82b9-e2a7fff8f673";

/// The delegated Graph permissions the portal holds. What a signed-in admin can do with them
/// is still bounded by the admin's directory roles (`tessera_proto::directory_roles`).
pub(crate) const PORTAL_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "User.ReadWrite.All",
    "User.RevokeSessions.All",
    "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "Policy.Read.All",
    "Policy.ReadWrite.ApplicationConfiguration",
    "RoleManagement.ReadWrite.Directory",
    "Directory.Read.All",
];

/// A stable id for a first-party object in a tenant (derived, never stored).
fn derived_id(purpose: &str, tenant_id: &str) -> String {
    let d = crate::crypto::sha256(format!("{purpose}|{tenant_id}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}

/// The portal's app in a tenant, served from `base`.
fn portal_app(tenant_id: &str, base: &str) -> Application {
    Application {
        tenant_id: tenant_id.to_owned(),
        client_id: PORTAL_APP_ID.to_owned(),
        object_id: derived_id("tessera portal application", tenant_id),
        service_principal_id: derived_id("tessera portal service principal", tenant_id),
        display_name: "tessera admin portal".to_owned(),
        public_client: true,
        access_token_version: 2,
        identifier_uris: Vec::new(),
        redirect_uris: vec![
            format!("{base}/portal/callback"),
            format!("{base}/portal/signed-out"),
        ],
        secrets: Vec::new(),
        certificates: Vec::new(),
        app_roles: Vec::new(),
        oauth2_scopes: Vec::new(),
        application_permissions: Default::default(),
        delegated_permissions: std::collections::BTreeMap::from([(
            GRAPH_RESOURCE.to_owned(),
            PORTAL_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        )]),
        managed_identity: false,
        created_at: 0,
        has_service_principal: true,
        application_extra: Default::default(),
        service_principal_extra: Default::default(),
        saml: Default::default(),
    }
}

/// The token lifetime policies of a tenant and what they are assigned to, read once and
/// kept until a policy or assignment changes.
#[derive(Debug, Default)]
pub struct PolicySnapshot {
    pub policies: Vec<TokenLifetimePolicy>,
    pub assignments: Vec<PolicyAssignment>,
}

impl PolicySnapshot {
    pub fn organization_default(&self) -> Option<&TokenLifetimePolicy> {
        self.policies.iter().find(|p| p.is_organization_default)
    }

    pub fn assigned_to(&self, object_id: &str) -> Option<&TokenLifetimePolicy> {
        let a = self
            .assignments
            .iter()
            .find(|a| a.object_id.eq_ignore_ascii_case(object_id))?;
        self.policies.iter().find(|p| p.id == a.policy_id)
    }

    pub fn policy(&self, id: &str) -> Option<&TokenLifetimePolicy> {
        self.policies.iter().find(|p| p.id.eq_ignore_ascii_case(id))
    }
}

impl Resource {
    pub fn graph(tenant_id: &str) -> Self {
        Self {
            app_id: GRAPH_APP_ID.into(),
            display_name: "Microsoft Graph".into(),
            token_version: 1,
            key: GRAPH_RESOURCE.into(),
            scopes: None,
            object_ids: vec![graph_service_principal_id(tenant_id)],
        }
    }

    fn from_app(app: &Application) -> Self {
        Self {
            app_id: app.client_id.clone(),
            display_name: app.display_name.clone(),
            token_version: app.access_token_version,
            key: app
                .identifier_uris
                .first()
                .map_or_else(|| app.client_id.clone(), |u| resource_key(u)),
            scopes: Some(app.oauth2_scopes.clone()),
            object_ids: vec![app.service_principal_id.clone(), app.object_id.clone()],
        }
    }
}

type AppKey = (String, String);

pub struct Directory {
    store: Arc<dyn Store>,
    tenants: RwLock<HashMap<String, Arc<Tenant>>>,
    apps: RwLock<HashMap<AppKey, Arc<Application>>>,
    /// Apps by (tenant, identifier as written): SAML and WS-Federation look every request's
    /// app up by its entity ID. Only found apps are cached, so a new app is seen at once.
    identified: RwLock<HashMap<AppKey, Arc<Application>>>,
    policies: RwLock<HashMap<String, Arc<PolicySnapshot>>>,
    sessions: sessions::SessionCache,
    /// Bumped by every write, after the store is written and before the caches are cleared.
    /// A reader caches what it read only if no write happened meanwhile; otherwise a read
    /// that raced a write could put the old value back after the write cleared it.
    generation: std::sync::atomic::AtomicU64,
    /// The store's count of other servers' writes (PostgreSQL), and the value last acted on.
    others: Option<Arc<std::sync::atomic::AtomicU64>>,
    others_seen: std::sync::atomic::AtomicU64,
    /// The server's base URL for the portal's redirect URIs, known once its address is.
    portal_base: std::sync::OnceLock<String>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").finish_non_exhaustive()
    }
}

fn read<K: std::hash::Hash + Eq, V: Clone>(map: &RwLock<HashMap<K, V>>, key: &K) -> Option<V> {
    map.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(key)
        .cloned()
}

fn write<K: std::hash::Hash + Eq, V>(
    map: &RwLock<HashMap<K, V>>,
) -> std::sync::RwLockWriteGuard<'_, HashMap<K, V>> {
    map.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

use std::sync::atomic::Ordering::SeqCst;

impl Directory {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            tenants: RwLock::default(),
            apps: RwLock::default(),
            identified: RwLock::default(),
            policies: RwLock::default(),
            sessions: sessions::SessionCache::default(),
            generation: std::sync::atomic::AtomicU64::new(0),
            others: store.directory_changes(),
            others_seen: std::sync::atomic::AtomicU64::new(0),
            portal_base: std::sync::OnceLock::new(),
            store,
        }
    }

    /// Drops the caches when another server sharing the store wrote directory objects since
    /// the last look. Called before every cached read; a load and a compare otherwise.
    fn follow_others(&self) {
        if let Some(others) = &self.others {
            let now = others.load(SeqCst);
            if self.others_seen.swap(now, SeqCst) != now {
                self.invalidate();
            }
        }
    }

    /// Caches `value` under `key` unless a write happened since `seen` was read.
    fn remember<K: std::hash::Hash + Eq, V>(
        &self,
        map: &RwLock<HashMap<K, V>>,
        seen: u64,
        key: K,
        value: V,
    ) {
        let mut guard = write(map);
        if self.generation.load(SeqCst) == seen {
            guard.insert(key, value);
        }
    }

    /// After a write: no cached value read before it survives.
    fn invalidate(&self) {
        self.generation.fetch_add(1, SeqCst);
        write(&self.tenants).clear();
        write(&self.apps).clear();
        write(&self.identified).clear();
        write(&self.policies).clear();
        self.sessions.clear();
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// A tenant by GUID or verified domain (case-insensitive).
    pub async fn tenant(&self, id_or_domain: &str) -> StoreResult<Option<Arc<Tenant>>> {
        self.follow_others();
        let key = id_or_domain.to_ascii_lowercase();
        if let Some(t) = read(&self.tenants, &key) {
            return Ok(Some(t));
        }
        let seen = self.generation.load(SeqCst);
        let Some(tenant) = self.store.tenant(&key).await? else {
            return Ok(None);
        };
        let tenant = Arc::new(tenant);
        self.remember(&self.tenants, seen, key, tenant.clone());
        Ok(Some(tenant))
    }

    pub async fn put_tenant(&self, tenant: Tenant) -> StoreResult<()> {
        self.store.put_tenant(tenant).await?;
        self.invalidate();
        Ok(())
    }

    /// The server's base URL, where the portal's sign-in answers (`/portal/callback`) and
    /// its sign-out lands (`/portal/signed-out`). Set once at start.
    pub(crate) fn set_portal_base(&self, base: &str) {
        let _ = self.portal_base.set(base.to_owned());
    }

    /// The first-party apps present in every tenant without a registration (the portal):
    /// the store's app list does not hold them.
    pub(crate) fn first_party(&self, tenant_id: &str) -> Vec<Application> {
        self.portal_base
            .get()
            .map(|base| portal_app(tenant_id, base))
            .into_iter()
            .collect()
    }

    pub async fn application(
        &self,
        tenant_id: &str,
        client_id: &str,
    ) -> StoreResult<Option<Arc<Application>>> {
        if client_id.eq_ignore_ascii_case(PORTAL_APP_ID) {
            return Ok(self.first_party(tenant_id).into_iter().next().map(Arc::new));
        }
        self.follow_others();
        let key = (tenant_id.to_owned(), client_id.to_ascii_lowercase());
        if let Some(a) = read(&self.apps, &key) {
            return Ok(Some(a));
        }
        let seen = self.generation.load(SeqCst);
        let Some(app) = self.store.application(tenant_id, client_id).await? else {
            return Ok(None);
        };
        let app = Arc::new(app);
        self.remember(&self.apps, seen, key, app.clone());
        Ok(Some(app))
    }

    /// The app whose client id or identifier URI is `identifier` (as the store's identifier
    /// index compares them), cached like `application`.
    pub async fn application_by_identifier(
        &self,
        tenant_id: &str,
        identifier: &str,
    ) -> StoreResult<Option<Arc<Application>>> {
        self.follow_others();
        let key = (tenant_id.to_owned(), identifier.to_owned());
        if let Some(a) = read(&self.identified, &key) {
            return Ok(Some(a));
        }
        let seen = self.generation.load(SeqCst);
        let Some(app) = self
            .store
            .application_by_identifier(tenant_id, identifier)
            .await?
        else {
            return Ok(None);
        };
        let app = Arc::new(app);
        self.remember(&self.identified, seen, key, app.clone());
        Ok(Some(app))
    }

    pub async fn put_application(&self, app: Application) -> StoreResult<()> {
        self.store.put_application(app).await?;
        self.invalidate();
        Ok(())
    }

    /// Resolves a resource identifier (as written in a scope) in a tenant.
    pub async fn resource(
        &self,
        tenant_id: &str,
        identifier: &str,
    ) -> StoreResult<Option<Resource>> {
        if resource_key(identifier) == GRAPH_RESOURCE {
            return Ok(Some(Resource::graph(tenant_id)));
        }
        Ok(self
            .store
            .application_by_identifier(tenant_id, identifier)
            .await?
            .as_ref()
            .map(Resource::from_app))
    }

    pub async fn delete_application(&self, tenant_id: &str, client_id: &str) -> StoreResult<bool> {
        let deleted = self.store.delete_application(tenant_id, client_id).await?;
        self.invalidate();
        Ok(deleted)
    }

    /// The tenant's policies and assignments (cached; every policy write clears it).
    pub async fn policy_snapshot(&self, tenant_id: &str) -> StoreResult<Arc<PolicySnapshot>> {
        self.follow_others();
        if let Some(p) = read(&self.policies, &tenant_id.to_owned()) {
            return Ok(p);
        }
        let seen = self.generation.load(SeqCst);
        let snapshot = Arc::new(PolicySnapshot {
            policies: self.store.policies(tenant_id).await?,
            assignments: self.store.policy_assignments(tenant_id).await?,
        });
        self.remember(&self.policies, seen, tenant_id.to_owned(), snapshot.clone());
        Ok(snapshot)
    }

    pub async fn put_policy(&self, policy: TokenLifetimePolicy) -> StoreResult<()> {
        let r = self.store.put_policy(policy).await;
        self.invalidate();
        r
    }

    pub async fn delete_policy(&self, tenant_id: &str, id: &str) -> StoreResult<bool> {
        let r = self.store.delete_policy(tenant_id, id).await;
        self.invalidate();
        r
    }

    pub async fn assign_policy(&self, assignment: PolicyAssignment) -> StoreResult<AssignOutcome> {
        let r = self.store.assign_policy(assignment).await;
        self.invalidate();
        r
    }

    pub async fn unassign_policy(
        &self,
        tenant_id: &str,
        object_id: &str,
        policy_id: &str,
    ) -> StoreResult<bool> {
        let r = self
            .store
            .unassign_policy(tenant_id, object_id, policy_id)
            .await;
        self.invalidate();
        r
    }

    /// Revokes a user's sign-in sessions: refresh tokens stop working, and CAE-capable
    /// access tokens issued before now are challenged.
    pub async fn revoke_sessions(
        &self,
        user: User,
        now: time::OffsetDateTime,
    ) -> StoreResult<User> {
        let user = revoked(user, now);
        self.store.put_user(user.clone()).await?;
        self.sessions.clear();
        Ok(user)
    }

    pub async fn user_by_upn(&self, tenant_id: &str, upn: &str) -> StoreResult<Option<User>> {
        self.store.user_by_upn(tenant_id, upn).await
    }

    pub async fn user(&self, tenant_id: &str, id: &str) -> StoreResult<Option<User>> {
        self.store.user(tenant_id, id).await
    }
}
