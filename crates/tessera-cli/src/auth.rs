//! Credential selection shared by the client commands: flags choose a credential, else the
//! profile does, else the `AZURE_*` variables, else an account signed in with `tessera login`
//! (`--account` puts that first); tokens go through the library's persistent cache unless
//! `--no-cache`. Secrets never come from arguments, only from named environment variables.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tessera_client::{
    AccountCredential, Authority, ClientCertificateCredential, ClientSecretCredential, Cloud,
    Credential, DeviceCodeCredential, GraphClient, HttpOptions, InteractiveCredential,
    ManagedIdentityCredential, PersistentCache, Secret, TokenHttp, TokenProvider, TokenRequest,
    UsernamePasswordCredential, from_environment,
};

use crate::profile::Profile;

#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Sign-in")]
pub(crate) struct AuthArgs {
    /// Authority URL with its tenant (https://login.microsoftonline.com/TENANT, or
    /// `tessera serve`'s from demo.json); default: --cloud and --tenant.
    #[arg(long, value_name = "URL")]
    authority: Option<String>,
    /// The cloud for --tenant: public (default), usgov or china.
    #[arg(long, value_name = "CLOUD", conflicts_with = "authority")]
    cloud: Option<String>,
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
    /// Name of the environment variable holding the user's password (default
    /// AZURE_PASSWORD; without it the password is asked for on the terminal).
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
    /// The signed-in account to use (`tessera login`), when several are.
    #[arg(long, value_name = "UPN")]
    account: Option<String>,
    /// Use the machine's managed identity (IMDS or App Service).
    #[arg(long)]
    managed_identity: bool,
    /// Extra CA certificate (PEM) to trust, for `tessera serve` or a private authority.
    #[arg(long, value_name = "PATH")]
    ca_cert: Option<PathBuf>,
    /// Do not use the shared persistent token cache.
    #[arg(long)]
    pub(crate) no_cache: bool,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn secret_from(var: &str, what: &str) -> anyhow::Result<Secret> {
    env(var)
        .map(Secret::new)
        .with_context(|| format!("{what}: the environment variable {var} is not set"))
        .map_err(crate::common::usage)
}

/// The shared persistent token cache every `tessera` process uses.
pub(crate) fn open_cache() -> anyhow::Result<PersistentCache> {
    let dir = crate::paths::user_dir("XDG_CACHE_HOME", ".cache")?.join("tokens");
    let key_file = crate::paths::user_dir("XDG_CONFIG_HOME", ".config")?.join("cache.key");
    PersistentCache::open_default(&dir, &key_file)
        .with_context(|| format!("opening the token cache {}", dir.display()))
}

impl AuthArgs {
    /// Fills what the command line left out from `profile`. The profile's credential is
    /// used only when the command line names none, so flags never mix with it.
    pub(crate) fn with_profile(mut self, profile: Option<&Profile>) -> Self {
        let Some(p) = profile.map(Self::from) else {
            return self;
        };
        if self.authority.is_none() && self.cloud.is_none() && self.tenant.is_none() {
            (self.authority, self.cloud, self.tenant) = (p.authority, p.cloud, p.tenant);
        }
        self.client_id = self.client_id.or(p.client_id);
        self.account = self.account.or(p.account);
        self.ca_cert = self.ca_cert.or(p.ca_cert);
        self.password_env = self.password_env.or(p.password_env);
        if self.credentials_named() == 0 {
            self.client_secret_env = p.client_secret_env;
            self.certificate = p.certificate;
            self.certificate_password_env = p.certificate_password_env;
            self.device_code = p.device_code;
            self.interactive = p.interactive;
            self.username = p.username;
            self.managed_identity = p.managed_identity;
        }
        self
    }

    /// How many credentials the flags name (more than one is a usage error).
    fn credentials_named(&self) -> usize {
        [
            self.client_secret_env.is_some(),
            self.certificate.is_some(),
            self.device_code,
            self.interactive,
            self.username.is_some(),
            self.managed_identity,
        ]
        .into_iter()
        .filter(|named| *named)
        .count()
    }

    pub(crate) fn authority(&self) -> anyhow::Result<Authority> {
        if let Some(url) = &self.authority {
            return Authority::parse(url)
                .context("--authority")
                .map_err(crate::common::usage);
        }
        let tenant = self
            .tenant
            .clone()
            .or_else(|| env("AZURE_TENANT_ID"))
            .context("give --tenant (or --authority, or set AZURE_TENANT_ID)")
            .map_err(crate::common::usage)?;
        let cloud = match &self.cloud {
            Some(c) => Cloud::parse(c).context("--cloud")?,
            None => Cloud::Public,
        };
        tessera_client::authority::validate_tenant(&tenant).context("--tenant")?;
        Ok(Authority { cloud, tenant })
    }

    pub(crate) fn client_id(&self) -> anyhow::Result<String> {
        self.client_id
            .clone()
            .or_else(|| env("AZURE_CLIENT_ID"))
            .context("give --client-id (or set AZURE_CLIENT_ID)")
            .map_err(crate::common::usage)
    }

    pub(crate) fn credential(&self) -> anyhow::Result<Arc<dyn Credential>> {
        if self.credentials_named() > 1 {
            return Err(crate::common::usage(anyhow::anyhow!(
                "choose one of --client-secret-env, --certificate, --device-code, --interactive, --username, --managed-identity"
            )));
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
                password: self.password()?,
            }));
        }
        // The AZURE_* app credentials come before a signed-in user, as in azure-identity's
        // DefaultAzureCredential; that also spares scripts configured that way a look
        // through the token cache for accounts on every run.
        let env_names_credential = [
            "AZURE_CLIENT_SECRET",
            "AZURE_CLIENT_CERTIFICATE_PATH",
            "AZURE_FEDERATED_TOKEN_FILE",
            "AZURE_USERNAME",
        ]
        .into_iter()
        .any(|v| env(v).is_some());
        if (self.account.is_some() || !env_names_credential)
            && let Some(account) = self.signed_in_account()?
        {
            tracing::debug!(account = account.username(), "using the signed-in account");
            return Ok(Arc::new(account));
        }
        from_environment(env).context(
            "no credential given: use a flag (--client-secret-env, --certificate, --device-code, --interactive, --username, --managed-identity) or the AZURE_* variables",
        )
    }

    /// The user sign-in flow for `tessera login`: the one the flags or profile name, else the
    /// browser when `browser` is true, else the device code.
    pub(crate) fn user_flow(&self, browser: bool) -> anyhow::Result<Arc<dyn Credential>> {
        if self.client_secret_env.is_some() || self.certificate.is_some() || self.managed_identity {
            return Err(crate::common::usage(anyhow::anyhow!(
                "login signs a user in; an application credential (secret, certificate, managed identity) needs no login: use it with `tessera token` directly"
            )));
        }
        let mut chosen = self.clone();
        if !(self.device_code || self.interactive || self.username.is_some()) {
            chosen.interactive = browser;
            chosen.device_code = !browser;
        }
        chosen.account = None;
        chosen.credential()
    }

    /// The user's password: from the variable --password-env names (AZURE_PASSWORD by
    /// default), else asked for on the terminal without echo.
    fn password(&self) -> anyhow::Result<Secret> {
        let var = self.password_env.as_deref().unwrap_or("AZURE_PASSWORD");
        if let Some(p) = env(var) {
            return Ok(Secret::new(p));
        }
        if self.password_env.is_some() {
            return secret_from(var, "--password-env");
        }
        crate::term::read_password("Password: ")
            .with_context(|| format!("--username: set {var}, or run on a terminal to type it"))
    }

    /// The account `tessera login` signed in for this authority and client, if any.
    fn signed_in_account(&self) -> anyhow::Result<Option<AccountCredential>> {
        if self.no_cache {
            return Ok(None);
        }
        let (Ok(authority), Ok(client_id)) = (self.authority(), self.client_id()) else {
            if self.account.is_some() {
                return Err(crate::common::usage(anyhow::anyhow!(
                    "--account: give the application too (--client-id, and --tenant or --authority)"
                )));
            }
            return Ok(None);
        };
        let found = AccountCredential::find(
            Arc::new(open_cache()?),
            authority,
            &client_id,
            self.account.as_deref(),
        )?;
        if found.is_none()
            && let Some(a) = &self.account
        {
            return Err(crate::common::usage(anyhow::anyhow!(
                "--account {a}: not signed in for this application; run `tessera login` first"
            )));
        }
        Ok(found)
    }

    /// The token provider the command uses, with the shared persistent cache unless
    /// `--no-cache`.
    pub(crate) fn provider(&self) -> anyhow::Result<(TokenProvider, TokenHttp)> {
        let http = self.http()?;
        let mut provider = TokenProvider::new(self.credential()?, http.clone());
        if !self.no_cache {
            let cache = open_cache()?;
            tracing::debug!(dir = %cache.dir().display(), key = cache.key_source.describe(), "token cache");
            provider = provider.with_persistent_cache(Arc::new(cache));
        }
        Ok((provider, http))
    }

    /// The HTTP client, trusting --ca-cert as well as the system's roots.
    pub(crate) fn http(&self) -> anyhow::Result<TokenHttp> {
        let extra_ca_pem = match &self.ca_cert {
            Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
            None => None,
        };
        Ok(TokenHttp::new(HttpOptions {
            extra_ca_pem,
            timeout: None,
        })?)
    }
}

/// A profile is the same flags, written down.
impl From<&Profile> for AuthArgs {
    fn from(p: &Profile) -> Self {
        Self {
            authority: p.authority.clone(),
            cloud: p.cloud.clone(),
            tenant: p.tenant.clone(),
            client_id: p.client_id.clone(),
            client_secret_env: p.client_secret_env.clone(),
            certificate: p.certificate.clone(),
            certificate_password_env: p.certificate_password_env.clone(),
            device_code: p.device_code,
            interactive: p.interactive,
            username: p.username.clone(),
            password_env: p.password_env.clone(),
            account: p.account.clone(),
            managed_identity: p.managed_identity,
            ca_cert: p.ca_cert.clone(),
            no_cache: false,
        }
    }
}

/// Where Graph calls go and with which credential; shared by `graph` and `policy`.
#[derive(Debug, Clone, Args)]
pub(crate) struct GraphTarget {
    #[command(flatten)]
    pub(crate) auth: AuthArgs,
    /// Graph base URL: https://graph.microsoft.com/v1.0 (the default for the public cloud),
    /// .../beta, or `tessera serve`'s graph_url (the default with its --authority).
    #[arg(long, value_name = "URL", help_heading = "Sign-in")]
    pub(crate) graph_url: Option<String>,
}

impl GraphTarget {
    pub(crate) fn with_profile(self, profile: Option<&Profile>) -> Self {
        Self {
            graph_url: self
                .graph_url
                .or_else(|| profile.and_then(|p| p.graph_url.clone())),
            auth: self.auth.with_profile(profile),
        }
    }

    /// A Graph client for the chosen URL, asking tokens for that Graph's `.default` scope.
    pub(crate) fn client(&self) -> anyhow::Result<GraphClient> {
        let base = match &self.graph_url {
            Some(u) => u.clone(),
            None => match self.auth.authority() {
                Ok(a) => a.cloud.graph_url(),
                // The app-only environment credentials may carry no authority flags.
                Err(_) => Cloud::Public.graph_url(),
            },
        };
        let url = url::Url::parse(&base).with_context(|| format!("--graph-url {base}"))?;
        let scope = match url.host_str() {
            Some(
                h @ ("graph.microsoft.us"
                | "dod-graph.microsoft.us"
                | "microsoftgraph.chinacloudapi.cn"),
            ) => {
                format!("https://{h}/.default")
            }
            _ => "https://graph.microsoft.com/.default".to_owned(),
        };
        let (provider, http) = self.auth.provider()?;
        Ok(GraphClient::new(base, Arc::new(provider), http)
            .with_token_request(TokenRequest::new(&[scope.as_str()])))
    }
}
