//! `tessera seed saml-app`: one SAML app registration in a server's store, as the portal's
//! "non-gallery application" makes it: its entity ID as identifier URI, its ACS URL as reply
//! URL, a service principal, and the SAML settings (logout URL, NameID format). Works while a
//! server runs on the same store: a server caches the apps it found, never a miss.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tessera_proto::clock::{Clock as _, OffsetClock};
use tessera_proto::saml::names;

use crate::crypto::{self, SystemRandom};
use crate::error::ServerError;
use crate::setup::options::redact_database;
use crate::store::{Application, SamlSettings};

pub struct SeedSamlApp {
    pub data_dir: PathBuf,
    pub database: Option<String>,
    /// Tenant GUID or domain; the demo tenant when `None`.
    pub tenant: Option<String>,
    pub display_name: String,
    pub entity_id: String,
    pub acs_urls: Vec<String>,
    pub logout_url: Option<String>,
    /// `emailAddress`, `persistent`, `transient`, `unspecified` or a full URN.
    pub name_id_format: Option<String>,
}

impl std::fmt::Debug for SeedSamlApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedSamlApp")
            .field("data_dir", &self.data_dir)
            .field("database", &self.database.as_deref().map(redact_database))
            .field("tenant", &self.tenant)
            .field("entity_id", &self.entity_id)
            .finish_non_exhaustive()
    }
}

/// What was made: the app's appId and the tenant it lives in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededSamlApp {
    pub tenant_id: String,
    pub app_id: String,
}

fn name_id_format(text: &str) -> Result<String, ServerError> {
    names::name_id_format(text).map(str::to_owned).ok_or_else(|| {
        ServerError::Config(format!(
            "--name-id-format '{text}' is not one of emailAddress, persistent, transient, unspecified"
        ))
    })
}

pub async fn seed_saml_app(opts: SeedSamlApp) -> Result<SeededSamlApp, ServerError> {
    let absolute = |what: &str, u: &str| {
        url::Url::parse(u)
            .map(|_| ())
            .map_err(|_| ServerError::Config(format!("{what} '{u}' is not an absolute URL")))
    };
    if opts.entity_id.trim().is_empty() {
        return Err(ServerError::Config("--entity-id is empty".into()));
    }
    if opts.acs_urls.is_empty() {
        return Err(ServerError::Config("give at least one --acs URL".into()));
    }
    for u in &opts.acs_urls {
        absolute("--acs", u)?;
    }
    if let Some(u) = &opts.logout_url {
        absolute("--logout-url", u)?;
    }
    let name_id_format = opts
        .name_id_format
        .as_deref()
        .map(name_id_format)
        .transpose()?;
    let (store, tenant) = crate::setup::bulk::seeding_target(
        &opts.data_dir,
        opts.database.as_deref(),
        opts.tenant.as_deref(),
    )
    .await?;
    if store
        .application_by_identifier(&tenant.id, &opts.entity_id)
        .await?
        .is_some()
    {
        return Err(ServerError::Config(format!(
            "an app with the identifier '{}' already exists in the tenant",
            opts.entity_id
        )));
    }
    let random = SystemRandom::default();
    let app = Application {
        tenant_id: tenant.id.clone(),
        client_id: crypto::random_guid(&random),
        object_id: crypto::random_guid(&random),
        service_principal_id: crypto::random_guid(&random),
        display_name: opts.display_name.clone(),
        public_client: false,
        access_token_version: 1,
        identifier_uris: vec![opts.entity_id.clone()],
        redirect_uris: opts.acs_urls.clone(),
        secrets: Vec::new(),
        certificates: Vec::new(),
        app_roles: Vec::new(),
        oauth2_scopes: Vec::new(),
        application_permissions: BTreeMap::new(),
        delegated_permissions: BTreeMap::new(),
        managed_identity: false,
        created_at: OffsetClock::new().unix(),
        has_service_principal: true,
        application_extra: BTreeMap::new(),
        service_principal_extra: BTreeMap::from([(
            "preferredSingleSignOnMode".to_owned(),
            serde_json::json!("saml"),
        )]),
        saml: SamlSettings {
            logout_url: opts.logout_url.clone(),
            name_id_format,
            ..Default::default()
        },
    };
    let app_id = app.client_id.clone();
    store.put_application(app).await?;
    Ok(SeededSamlApp {
        tenant_id: tenant.id.clone(),
        app_id,
    })
}
