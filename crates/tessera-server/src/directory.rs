//! The directory as the token service sees it: tenants, applications and resources, read
//! through an in-process cache so the hot path (client credentials) touches no database.
//! Every write goes through here and clears what it changed, so changes apply at once.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tessera_proto::scope::resource_key;
use tessera_proto::{GRAPH_APP_ID, GRAPH_RESOURCE};

use crate::store::{Application, Store, StoreResult, Tenant, User};

/// The tenant aliases of the v2.0 endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantAlias {
    Common,
    Organizations,
    Consumers,
}

impl TenantAlias {
    pub fn parse(segment: &str) -> Option<Self> {
        match segment.to_ascii_lowercase().as_str() {
            "common" => Some(Self::Common),
            "organizations" => Some(Self::Organizations),
            "consumers" | "9188040d-6c67-4c5b-b112-36a304b66dad" => Some(Self::Consumers),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
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
}

impl Resource {
    pub fn graph() -> Self {
        Self {
            app_id: GRAPH_APP_ID.into(),
            display_name: "Microsoft Graph".into(),
            token_version: 1,
            key: GRAPH_RESOURCE.into(),
            scopes: None,
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
        }
    }
}

type AppKey = (String, String);

pub struct Directory {
    store: Arc<dyn Store>,
    tenants: RwLock<HashMap<String, Arc<Tenant>>>,
    apps: RwLock<HashMap<AppKey, Arc<Application>>>,
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

impl Directory {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            tenants: RwLock::default(),
            apps: RwLock::default(),
        }
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// A tenant by GUID or verified domain (case-insensitive).
    pub async fn tenant(&self, id_or_domain: &str) -> StoreResult<Option<Arc<Tenant>>> {
        let key = id_or_domain.to_ascii_lowercase();
        if let Some(t) = read(&self.tenants, &key) {
            return Ok(Some(t));
        }
        let Some(tenant) = self.store.tenant(&key).await? else {
            return Ok(None);
        };
        let tenant = Arc::new(tenant);
        write(&self.tenants).insert(key, tenant.clone());
        Ok(Some(tenant))
    }

    pub async fn put_tenant(&self, tenant: Tenant) -> StoreResult<()> {
        self.store.put_tenant(tenant).await?;
        write(&self.tenants).clear();
        Ok(())
    }

    pub async fn application(
        &self,
        tenant_id: &str,
        client_id: &str,
    ) -> StoreResult<Option<Arc<Application>>> {
        let key = (tenant_id.to_owned(), client_id.to_ascii_lowercase());
        if let Some(a) = read(&self.apps, &key) {
            return Ok(Some(a));
        }
        let Some(app) = self.store.application(tenant_id, client_id).await? else {
            return Ok(None);
        };
        let app = Arc::new(app);
        write(&self.apps).insert(key, app.clone());
        Ok(Some(app))
    }

    pub async fn put_application(&self, app: Application) -> StoreResult<()> {
        self.store.put_application(app).await?;
        write(&self.apps).clear();
        Ok(())
    }

    /// Resolves a resource identifier (as written in a scope) in a tenant.
    pub async fn resource(
        &self,
        tenant_id: &str,
        identifier: &str,
    ) -> StoreResult<Option<Resource>> {
        if resource_key(identifier) == GRAPH_RESOURCE {
            return Ok(Some(Resource::graph()));
        }
        Ok(self
            .store
            .application_by_identifier(tenant_id, identifier)
            .await?
            .as_ref()
            .map(Resource::from_app))
    }

    pub async fn user_by_upn(&self, tenant_id: &str, upn: &str) -> StoreResult<Option<User>> {
        self.store.user_by_upn(tenant_id, upn).await
    }

    pub async fn user(&self, tenant_id: &str, id: &str) -> StoreResult<Option<User>> {
        self.store.user(tenant_id, id).await
    }
}
