//! Credential selection shared by the client commands: flags choose a credential, else the
//! `AZURE_*` variables do; tokens go through the library's persistent cache unless
//! `--no-cache`. Secrets never come from arguments, only from named environment variables.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use tessera_client::{
    Authority, ClientCertificateCredential, ClientSecretCredential, Credential,
    DeviceCodeCredential, HttpOptions, InteractiveCredential, ManagedIdentityCredential,
    PersistentCache, Secret, TokenHttp, TokenProvider, UsernamePasswordCredential,
    from_environment,
};

#[derive(Debug, Args)]
pub(crate) struct AuthArgs {
    /// Authority URL with its tenant (https://login.microsoftonline.com/TENANT, or
    /// `tessera serve`'s from demo.json); default: the public cloud and --tenant.
    #[arg(long, value_name = "URL")]
    authority: Option<String>,
    /// Tenant GUID or domain (default $AZURE_TENANT_ID).
    #[arg(long, value_name = "TENANT")]
    tenant: Option<String>,
    /// Application (client) id (default $AZURE_CLIENT_ID).
    #[arg(long, value_name = "ID")]
    client_id: Option<String>,
    /// Name of the environment variable holding the client secret.
    #[arg(long, value_name = "VAR")]
    client_secret_env: Option<String>,
    /// Certificate: PEM with its key (plain or encrypted PKCS#8), or PFX.
    #[arg(long, value_name = "PATH")]
    certificate: Option<PathBuf>,
    /// Name of the environment variable holding the certificate's password.
    #[arg(long, value_name = "VAR", requires = "certificate")]
    certificate_password_env: Option<String>,
    /// Sign a user in with the device code flow (the code is shown on stderr).
    #[arg(long)]
    device_code: bool,
    /// Sign a user in through the system browser (authorization code with PKCE).
    #[arg(long)]
    interactive: bool,
    /// Sign a user in with a password (discouraged; no MFA); the password comes from the
    /// variable named by --password-env.
    #[arg(long, value_name = "UPN")]
    username: Option<String>,
    /// Name of the environment variable holding the user's password.
    #[arg(long, value_name = "VAR", default_value = "AZURE_PASSWORD")]
    password_env: String,
    /// Use the machine's managed identity (IMDS or App Service).
    #[arg(long)]
    managed_identity: bool,
    /// Extra CA certificate (PEM) to trust, for `tessera serve` or a private authority.
    #[arg(long, value_name = "PATH")]
    ca_cert: Option<PathBuf>,
    /// Do not use the shared persistent token cache.
    #[arg(long)]
    no_cache: bool,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn secret_from(var: &str, what: &str) -> anyhow::Result<Secret> {
    env(var)
        .map(Secret::new)
        .with_context(|| format!("{what}: the environment variable {var} is not set"))
}

/// `$XDG_CACHE_HOME/tessera` or `~/.cache/tessera`, and the same for the config directory.
fn user_dir(xdg: &str, fallback: &str) -> anyhow::Result<PathBuf> {
    if let Some(d) = env(xdg) {
        return Ok(PathBuf::from(d).join("tessera"));
    }
    let home = env("HOME").context("HOME is not set: cannot place the token cache")?;
    Ok(PathBuf::from(home).join(fallback).join("tessera"))
}

/// The shared persistent token cache every `tessera` process uses.
pub(crate) fn open_cache() -> anyhow::Result<PersistentCache> {
    let dir = user_dir("XDG_CACHE_HOME", ".cache")?.join("tokens");
    let key_file = user_dir("XDG_CONFIG_HOME", ".config")?.join("cache.key");
    PersistentCache::open_default(&dir, &key_file)
        .with_context(|| format!("opening the token cache {}", dir.display()))
}

impl AuthArgs {
    fn authority(&self) -> anyhow::Result<Authority> {
        if let Some(url) = &self.authority {
            return Authority::parse(url).context("--authority");
        }
        let tenant = self
            .tenant
            .clone()
            .or_else(|| env("AZURE_TENANT_ID"))
            .context("give --tenant (or --authority, or set AZURE_TENANT_ID)")?;
        Ok(Authority::public(tenant))
    }

    fn client_id(&self) -> anyhow::Result<String> {
        self.client_id
            .clone()
            .or_else(|| env("AZURE_CLIENT_ID"))
            .context("give --client-id (or set AZURE_CLIENT_ID)")
    }

    fn credential(&self) -> anyhow::Result<Arc<dyn Credential>> {
        let chosen = [
            self.client_secret_env.is_some(),
            self.certificate.is_some(),
            self.device_code,
            self.interactive,
            self.username.is_some(),
            self.managed_identity,
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if chosen > 1 {
            bail!(
                "choose one of --client-secret-env, --certificate, --device-code, --interactive, --username, --managed-identity"
            );
        }
        if self.managed_identity {
            return Ok(Arc::new(ManagedIdentityCredential::from_environment(env)));
        }
        if let Some(var) = &self.client_secret_env {
            return Ok(Arc::new(ClientSecretCredential {
                authority: self.authority()?,
                client_id: self.client_id()?,
                secret: secret_from(var, "--client-secret-env")?,
            }));
        }
        if let Some(path) = &self.certificate {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let password = match &self.certificate_password_env {
                Some(var) => secret_from(var, "--certificate-password-env")?,
                None => Secret::new(""),
            };
            let credential = ClientCertificateCredential::from_file_bytes(
                self.authority()?,
                self.client_id()?,
                &bytes,
                &password,
            );
            return Ok(Arc::new(
                credential.with_context(|| format!("the certificate {}", path.display()))?,
            ));
        }
        if self.device_code {
            return Ok(Arc::new(DeviceCodeCredential::new(
                self.authority()?,
                self.client_id()?,
                // The person must see this; stdout stays for the token.
                #[allow(clippy::print_stderr)]
                |info| eprintln!("{}", info.message),
            )));
        }
        if self.interactive {
            return Ok(Arc::new(InteractiveCredential::new(
                self.authority()?,
                self.client_id()?,
            )));
        }
        if let Some(user) = &self.username {
            return Ok(Arc::new(UsernamePasswordCredential {
                authority: self.authority()?,
                client_id: self.client_id()?,
                username: user.clone(),
                password: secret_from(&self.password_env, "--username")?,
            }));
        }
        from_environment(env).context(
            "no credential given: use a flag (--client-secret-env, --certificate, --device-code, --interactive, --username, --managed-identity) or the AZURE_* variables",
        )
    }

    /// The token provider the command uses, with the shared persistent cache unless
    /// `--no-cache`.
    pub(crate) fn provider(&self) -> anyhow::Result<(TokenProvider, TokenHttp)> {
        let extra_ca_pem = match &self.ca_cert {
            Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
            None => None,
        };
        let http = TokenHttp::new(HttpOptions {
            extra_ca_pem,
            timeout: None,
        })?;
        let mut provider = TokenProvider::new(self.credential()?, http.clone());
        if !self.no_cache {
            let cache = open_cache()?;
            tracing::debug!(dir = %cache.dir().display(), key = cache.key_source.describe(), "token cache");
            provider = provider.with_persistent_cache(Arc::new(cache));
        }
        Ok((provider, http))
    }
}
