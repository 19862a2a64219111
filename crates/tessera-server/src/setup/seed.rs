//! The demo tenant seeded on first start, and `DATA_DIR/demo.json`, which tells any tool or
//! test where everything is: authority, Graph URL, CA, a daemon app with a secret and a
//! certificate, a public client and a user. Secrets exist only in that 0600 file; the store
//! keeps digests, so if the file is lost the demo credentials are re-issued.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tessera_proto::directory_roles::GLOBAL_ADMINISTRATOR;

use serde::{Deserialize, Serialize};
use tessera_proto::GRAPH_RESOURCE;
use tessera_proto::clock::Random;

use crate::crypto;
use crate::directory::Directory;
use crate::error::ServerError;
use crate::infra::files::write_private;
use crate::setup::config::secret_credential;
use crate::store::{Application, Tenant, User};

pub(crate) const DEMO_FILE: &str = "demo.json";
const META_KEY: &str = "demo";
pub(crate) const DEMO_DOMAIN: &str = "demo.tessera.test";

#[derive(Serialize, Deserialize)]
pub struct DemoFile {
    pub authority: String,
    pub tenant_id: String,
    pub tenant_domain: String,
    pub graph_url: String,
    pub ca_cert: Option<String>,
    pub daemon: DemoDaemon,
    pub public_client: DemoPublicClient,
    pub user: DemoUser,
}

impl std::fmt::Debug for DemoFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoFile")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
pub struct DemoDaemon {
    pub client_id: String,
    pub client_secret: String,
    /// Paths of the certificate (PEM), its private key (PKCS#8 PEM) and a PFX of both.
    pub certificate_pem: String,
    pub private_key_pem: String,
    pub pfx: String,
    pub pfx_password: String,
}

#[derive(Serialize, Deserialize)]
pub struct DemoPublicClient {
    pub client_id: String,
    pub redirect_uri: String,
}

#[derive(Serialize, Deserialize)]
pub struct DemoUser {
    pub username: String,
    pub password: String,
}

/// The ids of the seeded objects, kept in the store's meta table.
#[derive(Debug, Serialize, Deserialize)]
struct DemoIds {
    tenant_id: String,
    daemon_client_id: String,
    public_client_id: String,
    username: String,
    /// Which [`DAEMON_ROLES`] the daemon was last given: 0 for a demo seeded before the
    /// administration roles were added, so an existing data directory gains them once
    /// (and a role an admin later revokes through Graph stays revoked).
    #[serde(default)]
    roles_version: u32,
}

/// 1: the daemon's administration roles; 2: the demo user's Global Administrator role and
/// the daemon's RoleManagement.ReadWrite.Directory.
const ROLES_VERSION: u32 = 2;

/// The demo daemon can run every example of the README against the demo tenant: the reads
/// of an hour-long Graph job, and the writes of an admin script (apps, secrets, grants,
/// users, groups, policies).
pub(crate) const DAEMON_ROLES: [&str; 11] = [
    "User.Read.All",
    "Group.Read.All",
    "Application.ReadWrite.All",
    "Policy.ReadWrite.ApplicationConfiguration",
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "Directory.Read.All",
    "RoleManagement.ReadWrite.Directory",
];
pub(crate) const PUBLIC_SCOPES: [&str; 4] = ["User.Read", "openid", "profile", "offline_access"];

/// Seeds the demo tenant on first start and (re)writes `demo.json` with the current URLs.
/// Returns the file's contents.
pub(crate) async fn ensure_demo(
    directory: &Directory,
    data_dir: &Path,
    base_url: &str,
    ca_cert: Option<&Path>,
    random: &dyn Random,
    now: i64,
) -> Result<DemoFile, ServerError> {
    let store = directory.store();
    let path = data_dir.join(DEMO_FILE);
    let stored = store.meta(META_KEY).await?;
    let seeded_before = stored.is_some();
    let ids: DemoIds = match stored {
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| ServerError::Config(format!("stored demo ids are corrupt: {e}")))?,
        None => {
            let ids = DemoIds {
                tenant_id: crypto::random_guid(random),
                daemon_client_id: crypto::random_guid(random),
                public_client_id: crypto::random_guid(random),
                username: format!("adele.vance@{DEMO_DOMAIN}"),
                roles_version: ROLES_VERSION,
            };
            create_objects(directory, &ids, random, now).await?;
            store
                .set_meta(META_KEY, &serde_json::to_string(&ids).unwrap_or_default())
                .await?;
            ids
        }
    };
    let ids = if ids.roles_version < ROLES_VERSION {
        grant_daemon_roles(directory, &ids).await?;
        if ids.roles_version < 2 {
            make_demo_user_admin(directory, &ids).await?;
        }
        let ids = DemoIds {
            roles_version: ROLES_VERSION,
            ..ids
        };
        store
            .set_meta(META_KEY, &serde_json::to_string(&ids).unwrap_or_default())
            .await?;
        ids
    } else {
        ids
    };
    let previous: Option<DemoFile> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let mut demo = match previous {
        Some(d) if d.tenant_id == ids.tenant_id && Path::new(&d.daemon.pfx).exists() => d,
        // First start, or the file was lost: issue fresh credentials for the same objects.
        _ => {
            if seeded_before && store.directory_changes().is_some() {
                // The secrets live only in demo.json: another server's copy stops working.
                tracing::warn!(
                    path = %path.display(),
                    "re-issuing the demo credentials: other servers on this database whose data \
                     directory is not this one lose theirs (share the data directory, or run \
                     them with --no-demo)"
                );
            }
            issue_credentials(directory, &ids, data_dir, random, now).await?
        }
    };
    demo.authority = format!("{base_url}/{}", ids.tenant_id);
    demo.graph_url = format!("{base_url}/v1.0");
    demo.ca_cert = ca_cert.map(|p| p.display().to_string());
    let json = serde_json::to_vec_pretty(&demo).map_err(|e| ServerError::Config(e.to_string()))?;
    write_private(&path, &json)?;
    Ok(demo)
}

async fn create_objects(
    directory: &Directory,
    ids: &DemoIds,
    random: &dyn Random,
    now: i64,
) -> Result<(), ServerError> {
    directory
        .put_tenant(Tenant {
            id: ids.tenant_id.clone(),
            domain: DEMO_DOMAIN.into(),
            display_name: "Tessera Demo".into(),
            lifetime_precedence: Default::default(),
        })
        .await?;
    let graph = |perms: &[&str]| {
        BTreeMap::from([(
            GRAPH_RESOURCE.to_owned(),
            perms.iter().map(|s| (*s).to_owned()).collect(),
        )])
    };
    let app = |client_id: &str, name: &str| Application {
        tenant_id: ids.tenant_id.clone(),
        client_id: client_id.to_owned(),
        object_id: crypto::random_guid(random),
        service_principal_id: crypto::random_guid(random),
        display_name: name.to_owned(),
        public_client: false,
        access_token_version: 1,
        identifier_uris: Vec::new(),
        redirect_uris: Vec::new(),
        secrets: Vec::new(),
        certificates: Vec::new(),
        app_roles: Vec::new(),
        oauth2_scopes: Vec::new(),
        application_permissions: BTreeMap::new(),
        delegated_permissions: BTreeMap::new(),
        managed_identity: false,
        created_at: now,
        has_service_principal: true,
        application_extra: BTreeMap::new(),
        service_principal_extra: BTreeMap::new(),
        saml: Default::default(),
    };
    directory
        .put_application(Application {
            application_permissions: graph(&DAEMON_ROLES),
            ..app(&ids.daemon_client_id, "tessera demo daemon")
        })
        .await?;
    directory
        .put_application(Application {
            public_client: true,
            redirect_uris: vec!["http://localhost".into()],
            delegated_permissions: graph(&PUBLIC_SCOPES),
            ..app(&ids.public_client_id, "tessera demo public client")
        })
        .await?;
    Ok(())
}

/// Adds the roles an older demo's daemon lacks, keeping what it holds.
async fn grant_daemon_roles(directory: &Directory, ids: &DemoIds) -> Result<(), ServerError> {
    let Some(app) = directory
        .application(&ids.tenant_id, &ids.daemon_client_id)
        .await?
    else {
        return Ok(());
    };
    let mut app = (*app).clone();
    let held = app
        .application_permissions
        .entry(GRAPH_RESOURCE.to_owned())
        .or_default();
    for role in DAEMON_ROLES {
        if !held.iter().any(|r| r == role) {
            held.push(role.to_owned());
        }
    }
    directory.put_application(app).await?;
    Ok(())
}

/// The demo user administers the demo tenant (the portal's door), once: an admin who
/// removes the role later keeps it removed.
async fn make_demo_user_admin(directory: &Directory, ids: &DemoIds) -> Result<(), ServerError> {
    let Some(mut user) = directory.user_by_upn(&ids.tenant_id, &ids.username).await? else {
        return Ok(());
    };
    if !user
        .directory_roles
        .iter()
        .any(|r| r == GLOBAL_ADMINISTRATOR)
    {
        user.directory_roles.push(GLOBAL_ADMINISTRATOR.to_owned());
        directory.store().put_user(user).await?;
    }
    Ok(())
}

async fn issue_credentials(
    directory: &Directory,
    ids: &DemoIds,
    data_dir: &Path,
    random: &dyn Random,
    now: i64,
) -> Result<DemoFile, ServerError> {
    let secret = crypto::random_b64url(random, 30);
    let password = format!("Tessera-{}", crypto::random_b64url(random, 9));
    let files = write_certificate(&data_dir.join("demo"), random, now)?;
    let cred = crypto::certificate_credential(
        &files.cert_der,
        crypto::random_guid(random),
        "demo certificate".into(),
    )
    .map_err(ServerError::Crypto)?;

    let Some(app) = directory
        .application(&ids.tenant_id, &ids.daemon_client_id)
        .await?
    else {
        return Err(ServerError::Config(
            "the demo daemon app is missing from the store".into(),
        ));
    };
    let mut app = (*app).clone();
    app.secrets = vec![secret_credential(
        &secret,
        "demo secret".into(),
        None,
        random,
    )];
    app.certificates = vec![cred];
    directory.put_application(app).await?;

    let existing = directory.user_by_upn(&ids.tenant_id, &ids.username).await?;
    directory
        .store()
        .put_user(User {
            tenant_id: ids.tenant_id.clone(),
            id: existing
                .as_ref()
                .map_or_else(|| crypto::random_guid(random), |u| u.id.clone()),
            user_principal_name: ids.username.clone(),
            display_name: "Adele Vance".into(),
            given_name: Some("Adele".into()),
            surname: Some("Vance".into()),
            mail: Some(ids.username.clone()),
            password_hash: Some(
                crypto::hash_password(&password, random).map_err(ServerError::Crypto)?,
            ),
            account_enabled: true,
            mfa_required: false,
            mfa_totp_secret: None,
            tokens_valid_after: existing.as_ref().map_or(0, |u| u.tokens_valid_after),
            session_generation: existing.as_ref().map_or(0, |u| u.session_generation),
            revoked_at_ms: existing.as_ref().map_or(0, |u| u.revoked_at_ms),
            created_at: existing.as_ref().map_or(now, |u| u.created_at),
            directory_roles: existing.as_ref().map_or_else(
                || vec![GLOBAL_ADMINISTRATOR.to_owned()],
                |u| u.directory_roles.clone(),
            ),
            extra: existing.map(|u| u.extra).unwrap_or_default(),
        })
        .await?;
    let user = directory.user_by_upn(&ids.tenant_id, &ids.username).await?;
    let group_id = {
        let d = crypto::sha256(format!("tessera demo group|{}", ids.tenant_id).as_bytes());
        let mut b = [0u8; 16];
        b.copy_from_slice(&d[..16]);
        uuid::Builder::from_random_bytes(b).into_uuid().to_string()
    };
    directory
        .store()
        .put_group(crate::store::Group {
            tenant_id: ids.tenant_id.clone(),
            id: group_id,
            display_name: "Tessera Demo Team".into(),
            members: user.map(|u| vec![u.id]).unwrap_or_default(),
            created_at: now,
            extra: BTreeMap::from([
                (
                    "description".to_owned(),
                    serde_json::json!("Everyone in the demo tenant"),
                ),
                ("mailNickname".to_owned(), serde_json::json!("demo-team")),
            ]),
        })
        .await?;
    Ok(DemoFile {
        authority: String::new(),
        tenant_id: ids.tenant_id.clone(),
        tenant_domain: DEMO_DOMAIN.into(),
        graph_url: String::new(),
        ca_cert: None,
        daemon: DemoDaemon {
            client_id: ids.daemon_client_id.clone(),
            client_secret: secret,
            certificate_pem: files.cert.display().to_string(),
            private_key_pem: files.key.display().to_string(),
            pfx: files.pfx.display().to_string(),
            pfx_password: files.pfx_password,
        },
        public_client: DemoPublicClient {
            client_id: ids.public_client_id.clone(),
            redirect_uri: "http://localhost".into(),
        },
        user: DemoUser {
            username: ids.username.clone(),
            password,
        },
    })
}

struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
    pfx: PathBuf,
    pfx_password: String,
    cert_der: Vec<u8>,
}

/// Makes an RSA-2048 client certificate as PEM, PKCS#8 PEM key and password-protected PFX.
fn write_certificate(dir: &Path, random: &dyn Random, now: i64) -> Result<CertFiles, ServerError> {
    let err = |what: &str, e: &dyn std::fmt::Display| {
        ServerError::Crypto(format!("demo certificate {what}: {e}"))
    };
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(|e| err("key", &e))?;
    let mut params =
        rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| err("params", &e))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "tessera demo daemon");
    params.not_before =
        time::OffsetDateTime::from_unix_timestamp(now - 86_400).map_err(|e| err("time", &e))?;
    params.not_after = time::OffsetDateTime::from_unix_timestamp(now + 2 * 365 * 86_400)
        .map_err(|e| err("time", &e))?;
    let cert = params.self_signed(&key).map_err(|e| err("signing", &e))?;
    let cert_der = cert.der().to_vec();
    let pfx_password = crypto::random_b64url(random, 12);
    let chain = p12_keystore::PrivateKeyChain::new(
        crypto::sha1(&cert_der),
        p12_keystore::PrivateKey::from_der(&key.serialize_der()).map_err(|e| err("PFX key", &e))?,
        [
            p12_keystore::Certificate::from_der(&cert_der)
                .map_err(|e| err("PFX certificate", &e))?,
        ],
    );
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(
        "tessera-demo",
        p12_keystore::KeyStoreEntry::PrivateKeyChain(chain),
    );
    let pfx = store
        .writer(&pfx_password)
        .write()
        .map_err(|e| err("PFX", &e))?;
    let files = CertFiles {
        cert: crate::infra::tls::absolute(&dir.join("daemon-cert.pem")),
        key: crate::infra::tls::absolute(&dir.join("daemon-key.pem")),
        pfx: crate::infra::tls::absolute(&dir.join("daemon.pfx")),
        pfx_password,
        cert_der,
    };
    write_private(&files.key, key.serialize_pem().as_bytes())?;
    write_private(&files.cert, cert.pem().as_bytes())?;
    write_private(&files.pfx, &pfx)?;
    Ok(files)
}
