//! The declarative TOML file of tenants, app registrations, users and groups (`--config`):
//! validated before anything starts, with errors that name the offending key, then applied
//! through the directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tessera_proto::clock::Random;
use tessera_proto::scope::resource_key;

use crate::crypto;
use crate::directory::Directory;
use crate::error::ServerError;
use crate::store::{Application, Group, SecretCredential, Tenant, User};

/// The TOML configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub token: TokenSettings,
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// Refuse a client assertion presented a second time, even unchanged. Off by default:
    /// msal-node re-sends its cached assertion until it expires and real Entra accepts it.
    #[serde(default)]
    pub reject_assertion_reuse: bool,
    /// Answer the 15th identical password, refresh-token or on-behalf-of request within 5
    /// minutes with AADSTS50196, as Entra does (`directory::Loops`). On by default.
    #[serde(default = "yes")]
    pub loop_detection: bool,
    /// Test mode: the `X-IDENTITY-HEADER` secret of the App Service managed identity endpoint
    /// (`/msi/token`); the IMDS endpoint needs only `Metadata: true`.
    #[serde(default)]
    pub identity_header: Option<String>,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            reject_assertion_reuse: false,
            loop_detection: true,
            identity_header: None,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub id: String,
    pub domain: String,
    pub display_name: Option<String>,
    /// `organization-first` (documented order, default) or `application-first`.
    #[serde(default)]
    pub lifetime_precedence: tessera_proto::lifetime::Precedence,
    #[serde(default)]
    pub applications: Vec<AppConfig>,
    #[serde(default)]
    pub users: Vec<UserConfig>,
    #[serde(default)]
    pub groups: Vec<GroupConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    pub client_id: String,
    pub display_name: String,
    #[serde(default)]
    pub public_client: bool,
    #[serde(default = "one")]
    pub access_token_version: u8,
    #[serde(default)]
    pub identifier_uris: Vec<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub secrets: Vec<SecretConfig>,
    #[serde(default)]
    pub certificates: Vec<CertificateConfig>,
    #[serde(default)]
    pub app_roles: Vec<String>,
    #[serde(default)]
    pub oauth2_scopes: Vec<String>,
    #[serde(default)]
    pub application_permissions: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub delegated_permissions: BTreeMap<String, Vec<String>>,
    /// The service principal is a managed identity (lifetime policies cannot apply).
    #[serde(default)]
    pub managed_identity: bool,
    /// SAML and WS-Federation sign-in settings.
    #[serde(default)]
    pub saml: Option<SamlConfig>,
}

/// `[tenants.applications.saml]`: the entity ID is one of `identifier_uris`, the ACS URLs
/// are among `redirect_uris`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SamlConfig {
    pub logout_url: Option<String>,
    /// `emailAddress`, `persistent`, `transient` or `unspecified` (or the full URN).
    pub name_id_format: Option<String>,
    /// `assertion` (the default), `response` or `response-and-assertion`.
    #[serde(default)]
    pub signing: crate::store::SamlSigning,
    /// PEM certificates whose keys sign the app's requests; with any, requests must be signed.
    #[serde(default)]
    pub request_signing_certificates: Vec<PathBuf>,
    pub relay_state: Option<String>,
}

fn one() -> u8 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretConfig {
    /// The secret itself, or the name of an environment variable holding it.
    pub value: Option<String>,
    pub value_env: Option<String>,
    pub display_name: Option<String>,
    /// RFC 3339 expiry.
    pub expires: Option<String>,
}

impl std::fmt::Debug for SecretConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretConfig")
            .field("value_env", &self.value_env)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    /// A PEM file holding the certificate (a key in the same file is ignored).
    pub pem_file: PathBuf,
    pub display_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub user_principal_name: String,
    pub display_name: String,
    pub id: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub mail: Option<String>,
    pub password: Option<String>,
    pub password_env: Option<String>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub mfa_required: bool,
    /// Base32 TOTP secret for the sign-in pages' one-time-code step (RFC 6238, SHA-1, 30 s).
    pub mfa_totp_secret: Option<String>,
    /// Built-in directory roles, by name ("Global Administrator") or template id.
    #[serde(default)]
    pub roles: Vec<String>,
}

impl std::fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserConfig")
            .field("user_principal_name", &self.user_principal_name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    pub display_name: String,
    pub id: Option<String>,
    #[serde(default)]
    pub members: Vec<String>,
}

fn cfg_err(key: &str, msg: impl std::fmt::Display) -> ServerError {
    ServerError::Config(format!("{key}: {msg}"))
}

pub(crate) fn is_guid(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok() && s.len() == 36
}

fn parse_time(key: &str, text: &str) -> Result<i64, ServerError> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| cfg_err(key, format!("'{text}' is not an RFC 3339 time ({e})")))
}

fn secret_value(
    key: &str,
    value: &Option<String>,
    env: &Option<String>,
) -> Result<Option<String>, ServerError> {
    match (value, env) {
        (Some(_), Some(_)) => Err(cfg_err(
            key,
            "set either the value or the _env variable name, not both",
        )),
        (Some(v), None) => Ok(Some(v.clone())),
        (None, Some(var)) => std::env::var(var)
            .map(Some)
            .map_err(|_| cfg_err(key, format!("environment variable {var} is not set"))),
        (None, None) => Ok(None),
    }
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, ServerError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ServerError::io(format!("reading --config {}", path.display()), e))?;
        let config: FileConfig = toml::from_str(&text).map_err(|e| {
            ServerError::Config(format!("{}: {}", path.display(), e.to_string().trim_end()))
        })?;
        config.check()?;
        Ok(config)
    }

    /// Checks what serde cannot: GUIDs, uniqueness, references, versions.
    fn check(&self) -> Result<(), ServerError> {
        let mut domains = std::collections::HashSet::new();
        for (ti, t) in self.tenants.iter().enumerate() {
            let tk = format!("tenants[{ti}]");
            if !is_guid(&t.id) {
                return Err(cfg_err(
                    &format!("{tk}.id"),
                    format!("'{}' is not a GUID", t.id),
                ));
            }
            if t.domain.is_empty()
                || t.domain.contains('/')
                || !domains.insert(t.domain.to_ascii_lowercase())
            {
                return Err(cfg_err(
                    &format!("{tk}.domain"),
                    format!("'{}' is empty, malformed or used twice", t.domain),
                ));
            }
            let mut ids = std::collections::HashSet::new();
            for (ai, a) in t.applications.iter().enumerate() {
                let ak = format!("{tk}.applications[{ai}]");
                if !is_guid(&a.client_id) || !ids.insert(a.client_id.to_ascii_lowercase()) {
                    return Err(cfg_err(
                        &format!("{ak}.client_id"),
                        format!("'{}' is not a GUID or is used twice", a.client_id),
                    ));
                }
                if !(1..=2).contains(&a.access_token_version) {
                    return Err(cfg_err(
                        &format!("{ak}.access_token_version"),
                        "must be 1 or 2",
                    ));
                }
                for (ri, r) in a.redirect_uris.iter().enumerate() {
                    if url::Url::parse(r).is_err() {
                        return Err(cfg_err(
                            &format!("{ak}.redirect_uris[{ri}]"),
                            format!("'{r}' is not a URL"),
                        ));
                    }
                }
                for (si, s) in a.secrets.iter().enumerate() {
                    let sk = format!("{ak}.secrets[{si}]");
                    if secret_value(&sk, &s.value, &s.value_env)?.is_none_or(|v| v.is_empty()) {
                        return Err(cfg_err(&sk, "needs value or value_env"));
                    }
                    if let Some(e) = &s.expires {
                        parse_time(&format!("{sk}.expires"), e)?;
                    }
                }
            }
            let mut upns = std::collections::HashSet::new();
            for (ui, u) in t.users.iter().enumerate() {
                let uk = format!("{tk}.users[{ui}]");
                if !u.user_principal_name.contains('@')
                    || !upns.insert(u.user_principal_name.to_ascii_lowercase())
                {
                    return Err(cfg_err(
                        &format!("{uk}.user_principal_name"),
                        format!(
                            "'{}' is not an address or is used twice",
                            u.user_principal_name
                        ),
                    ));
                }
                if let Some(id) = &u.id
                    && !is_guid(id)
                {
                    return Err(cfg_err(
                        &format!("{uk}.id"),
                        format!("'{id}' is not a GUID"),
                    ));
                }
                secret_value(&format!("{uk}.password"), &u.password, &u.password_env)?;
                for (ri, r) in u.roles.iter().enumerate() {
                    if tessera_proto::directory_roles::find(r).is_none() {
                        let known: Vec<&str> = tessera_proto::directory_roles::ROLES
                            .iter()
                            .map(|r| r.display_name)
                            .collect();
                        return Err(cfg_err(
                            &format!("{uk}.roles[{ri}]"),
                            format!(
                                "'{r}' is not a built-in role tessera knows ({})",
                                known.join(", ")
                            ),
                        ));
                    }
                }
            }
            for (gi, g) in t.groups.iter().enumerate() {
                for (mi, m) in g.members.iter().enumerate() {
                    if !upns.contains(&m.to_ascii_lowercase()) {
                        return Err(cfg_err(
                            &format!("{tk}.groups[{gi}].members[{mi}]"),
                            format!("'{m}' is not a user of this tenant"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes the configured objects into the directory (create or replace). Objects keep
    /// their object ids across restarts.
    pub async fn apply(
        &self,
        directory: &Directory,
        random: &dyn Random,
        now: i64,
    ) -> Result<(), ServerError> {
        for (ti, t) in self.tenants.iter().enumerate() {
            let tk = format!("tenants[{ti}]");
            let tenant_id = t.id.to_ascii_lowercase();
            directory
                .put_tenant(Tenant {
                    id: tenant_id.clone(),
                    domain: t.domain.to_ascii_lowercase(),
                    display_name: t.display_name.clone().unwrap_or_else(|| t.domain.clone()),
                    lifetime_precedence: t.lifetime_precedence,
                })
                .await?;
            for (ai, a) in t.applications.iter().enumerate() {
                let ak = format!("{tk}.applications[{ai}]");
                let existing = directory
                    .store()
                    .application(&tenant_id, &a.client_id)
                    .await?;
                let mut secrets = Vec::new();
                for (si, s) in a.secrets.iter().enumerate() {
                    let sk = format!("{ak}.secrets[{si}]");
                    let value = secret_value(&sk, &s.value, &s.value_env)?.unwrap_or_default();
                    secrets.push(secret_credential(
                        &value,
                        s.display_name
                            .clone()
                            .unwrap_or_else(|| format!("secret {si}")),
                        s.expires
                            .as_deref()
                            .map(|e| parse_time(&sk, e))
                            .transpose()?,
                        random,
                    ));
                }
                let mut certificates = Vec::new();
                for (ci, c) in a.certificates.iter().enumerate() {
                    let ck = format!("{ak}.certificates[{ci}].pem_file");
                    let pem = std::fs::read(&c.pem_file)
                        .map_err(|e| cfg_err(&ck, format!("{}: {e}", c.pem_file.display())))?;
                    let der = rustls_pki_types::pem::PemObject::from_pem_slice(&pem)
                        .map(|d: rustls_pki_types::CertificateDer<'_>| d.to_vec())
                        .map_err(|e| {
                            cfg_err(
                                &ck,
                                format!("no certificate in {}: {e}", c.pem_file.display()),
                            )
                        })?;
                    certificates.push(
                        crypto::certificate_credential(
                            &der,
                            crypto::random_guid(random),
                            c.display_name
                                .clone()
                                .unwrap_or_else(|| format!("certificate {ci}")),
                        )
                        .map_err(|e| cfg_err(&ck, e))?,
                    );
                }
                let key_map = |m: &BTreeMap<String, Vec<String>>| {
                    m.iter()
                        .map(|(k, v)| (resource_key(k), v.clone()))
                        .collect()
                };
                directory
                    .put_application(Application {
                        tenant_id: tenant_id.clone(),
                        client_id: a.client_id.to_ascii_lowercase(),
                        object_id: existing
                            .as_ref()
                            .map_or_else(|| crypto::random_guid(random), |e| e.object_id.clone()),
                        service_principal_id: existing.as_ref().map_or_else(
                            || crypto::random_guid(random),
                            |e| e.service_principal_id.clone(),
                        ),
                        display_name: a.display_name.clone(),
                        public_client: a.public_client,
                        access_token_version: a.access_token_version,
                        identifier_uris: a.identifier_uris.clone(),
                        redirect_uris: a.redirect_uris.clone(),
                        secrets,
                        certificates,
                        app_roles: a.app_roles.clone(),
                        oauth2_scopes: a.oauth2_scopes.clone(),
                        application_permissions: key_map(&a.application_permissions),
                        delegated_permissions: key_map(&a.delegated_permissions),
                        managed_identity: a.managed_identity,
                        created_at: existing.as_ref().map_or(now, |e| e.created_at),
                        has_service_principal: true,
                        application_extra: existing
                            .as_ref()
                            .map(|e| e.application_extra.clone())
                            .unwrap_or_default(),
                        service_principal_extra: existing
                            .as_ref()
                            .map(|e| e.service_principal_extra.clone())
                            .unwrap_or_default(),
                        saml: match &a.saml {
                            Some(s) => saml_settings(&format!("{ak}.saml"), s)?,
                            None => existing
                                .as_ref()
                                .map(|e| e.saml.clone())
                                .unwrap_or_default(),
                        },
                    })
                    .await?;
            }
            let mut user_ids = BTreeMap::new();
            for (ui, u) in t.users.iter().enumerate() {
                let uk = format!("{tk}.users[{ui}]");
                let existing = directory
                    .user_by_upn(&tenant_id, &u.user_principal_name)
                    .await?;
                let password =
                    secret_value(&format!("{uk}.password"), &u.password, &u.password_env)?;
                let password_hash = password
                    .map(|p| crypto::hash_password(&p, random))
                    .transpose()
                    .map_err(|e| cfg_err(&uk, e))?;
                let id =
                    u.id.clone()
                        .or_else(|| existing.as_ref().map(|e| e.id.clone()))
                        .unwrap_or_else(|| crypto::random_guid(random));
                user_ids.insert(u.user_principal_name.to_ascii_lowercase(), id.clone());
                directory
                    .store()
                    .put_user(User {
                        tenant_id: tenant_id.clone(),
                        id,
                        user_principal_name: u.user_principal_name.clone(),
                        display_name: u.display_name.clone(),
                        given_name: u.given_name.clone(),
                        surname: u.surname.clone(),
                        mail: u.mail.clone(),
                        password_hash,
                        account_enabled: !u.disabled,
                        mfa_required: u.mfa_required,
                        mfa_totp_secret: u.mfa_totp_secret.clone(),
                        tokens_valid_after: existing.as_ref().map_or(0, |e| e.tokens_valid_after),
                        session_generation: existing.as_ref().map_or(0, |e| e.session_generation),
                        revoked_at_ms: existing.as_ref().map_or(0, |e| e.revoked_at_ms),
                        created_at: existing.as_ref().map_or(now, |e| e.created_at),
                        extra: existing.map(|e| e.extra).unwrap_or_default(),
                        // The file names every role the user holds: one removed there is removed.
                        directory_roles: u
                            .roles
                            .iter()
                            .filter_map(|r| tessera_proto::directory_roles::find(r))
                            .map(|r| r.template_id.to_owned())
                            .collect(),
                    })
                    .await?;
            }
            for g in &t.groups {
                directory
                    .store()
                    .put_group(Group {
                        tenant_id: tenant_id.clone(),
                        id: g.id.clone().unwrap_or_else(|| crypto::random_guid(random)),
                        display_name: g.display_name.clone(),
                        members: g
                            .members
                            .iter()
                            .filter_map(|m| user_ids.get(&m.to_ascii_lowercase()).cloned())
                            .collect(),
                        created_at: now,
                        extra: BTreeMap::new(),
                    })
                    .await?;
            }
        }
        Ok(())
    }
}

/// A stored secret credential for a secret value: only its digest is kept.
pub(crate) fn secret_credential(
    value: &str,
    display_name: String,
    expires_at: Option<i64>,
    random: &dyn Random,
) -> SecretCredential {
    SecretCredential {
        key_id: crypto::random_guid(random),
        display_name,
        sha256: crypto::sha256_hex(value.as_bytes()),
        hint: value.chars().take(3).collect(),
        expires_at,
    }
}

/// A SAML section checked at start: a known NameID format, an absolute logout URL,
/// readable RSA certificates.
fn saml_settings(key: &str, s: &SamlConfig) -> Result<crate::store::SamlSettings, ServerError> {
    use tessera_proto::saml::names;
    let name_id_format = s
        .name_id_format
        .as_deref()
        .map(|f| {
            names::name_id_format(f).map(str::to_owned).ok_or_else(|| {
                cfg_err(
                    &format!("{key}.name_id_format"),
                    format!("'{f}' is not one of emailAddress, persistent, transient, unspecified"),
                )
            })
        })
        .transpose()?;
    if let Some(u) = &s.logout_url
        && url::Url::parse(u).is_err()
    {
        return Err(cfg_err(
            &format!("{key}.logout_url"),
            format!("'{u}' is not an absolute URL"),
        ));
    }
    let mut certificates = Vec::new();
    for (i, path) in s.request_signing_certificates.iter().enumerate() {
        let ck = format!("{key}.request_signing_certificates[{i}]");
        let pem =
            std::fs::read(path).map_err(|e| cfg_err(&ck, format!("{}: {e}", path.display())))?;
        let der = rustls_pki_types::pem::PemObject::from_pem_slice(&pem)
            .map(|d: rustls_pki_types::CertificateDer<'_>| d.to_vec())
            .map_err(|e| cfg_err(&ck, format!("no certificate in {}: {e}", path.display())))?;
        if crate::crypto::xml_sig::rsa_public_key(&der).is_none() {
            return Err(cfg_err(&ck, "not an RSA certificate".to_owned()));
        }
        certificates.push(tessera_proto::b64::std_encode(&der));
    }
    Ok(crate::store::SamlSettings {
        logout_url: s.logout_url.clone(),
        name_id_format,
        signing: s.signing,
        request_signing_certificates: certificates,
        relay_state: s.relay_state.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FileConfig, ServerError> {
        let c: FileConfig = toml::from_str(text).map_err(|e| ServerError::Config(e.to_string()))?;
        c.check()?;
        Ok(c)
    }

    #[test]
    fn saml_settings_are_checked_naming_the_key() {
        let ok = saml_settings(
            "k",
            &SamlConfig {
                name_id_format: Some("persistent".into()),
                logout_url: Some("https://sp.example/slo".into()),
                ..Default::default()
            },
        )
        .expect("valid");
        assert_eq!(
            ok.name_id_format.as_deref(),
            Some(tessera_proto::saml::names::NAMEID_PERSISTENT)
        );
        let bad = |c: SamlConfig| {
            saml_settings("tenants[0].applications[1].saml", &c)
                .expect_err("refused")
                .to_string()
        };
        let e = bad(SamlConfig {
            name_id_format: Some("kerberos".into()),
            ..Default::default()
        });
        assert!(
            e.contains("tenants[0].applications[1].saml.name_id_format") && e.contains("kerberos"),
            "{e}"
        );
        let e = bad(SamlConfig {
            logout_url: Some("/relative".into()),
            ..Default::default()
        });
        assert!(e.contains("saml.logout_url"), "{e}");
        let e = bad(SamlConfig {
            request_signing_certificates: vec!["/nonexistent/cert.pem".into()],
            ..Default::default()
        });
        assert!(e.contains("saml.request_signing_certificates[0]"), "{e}");
    }

    #[test]
    fn errors_name_the_key() {
        let e =
            parse("[[tenants]]\nid = \"nope\"\ndomain = \"a.example\"\n").expect_err("bad guid");
        assert!(e.to_string().contains("tenants[0].id"), "{e}");
        let e = parse("bogus = 1\n").expect_err("unknown key");
        assert!(e.to_string().contains("bogus"), "{e}");
        let e = parse(
            "[[tenants]]\nid = \"11111111-2222-3333-4444-555555555555\"\ndomain = \"a.example\"\n[[tenants.applications]]\nclient_id = \"22222222-3333-4444-5555-666666666666\"\ndisplay_name = \"x\"\naccess_token_version = 3\n",
        )
        .expect_err("bad version");
        assert!(
            e.to_string()
                .contains("tenants[0].applications[0].access_token_version"),
            "{e}"
        );
        let e = parse("[[tenants]]\nid = \"11111111-2222-3333-4444-555555555555\"\ndomain = \"a.example\"\n[[tenants.groups]]\ndisplay_name = \"g\"\nmembers = [\"x@a.example\"]\n")
            .expect_err("unknown member");
        assert!(
            e.to_string().contains("tenants[0].groups[0].members[0]"),
            "{e}"
        );
    }
}
