//! `tessera serve`'s options, checked and resolved once into the `ServeConfig` start-up
//! uses: the database, TLS source, public URL, test-mode settings and the loaded config file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::config::{FileConfig, TokenSettings};
use crate::error::ServerError;
use crate::store::{PostgresStore, PostgresUrl, SqliteStore, Store};

/// Options of `tessera serve`.
#[derive(Clone, Default)]
pub struct ServeOptions {
    pub data_dir: PathBuf,
    /// `sqlite:PATH` or `postgres://USER@HOST:PORT/DATABASE` (default: SQLite in
    /// `DATA_DIR/tessera.db`). See `Database::parse`.
    pub database: Option<String>,
    pub config_file: Option<PathBuf>,
    /// The URL clients use to reach this server; default `https://LISTEN_ADDR`.
    pub public_url: Option<url::Url>,
    pub test_mode: bool,
    pub test_access_token_lifetime: Option<Duration>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Seed the demo tenant and write `demo.json` on first start.
    pub seed_demo: bool,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("data_dir", &self.data_dir)
            .field("database", &self.database.as_deref().map(redact_database))
            .field("config_file", &self.config_file)
            .field("public_url", &self.public_url)
            .field("test_mode", &self.test_mode)
            .field(
                "test_access_token_lifetime",
                &self.test_access_token_lifetime,
            )
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("seed_demo", &self.seed_demo)
            .finish()
    }
}

/// A database URL as it may be shown: any password replaced by `***`, and text that is not a
/// URL but could hold one (`user:secret@host`) not shown at all.
pub fn redact_database(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if url.has_host() || !text.contains('@') => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            url.to_string()
        }
        // `scheme:user:secret@host` has no authority to find the password in.
        _ if text.contains('@') || text.contains(':') => "(unparsable URL)".into(),
        _ => text.to_owned(),
    }
}

/// Where the store lives: `--database`, or SQLite in the data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Database {
    SqliteFile(PathBuf),
    /// A `sqlite:` URL (`sqlite:PATH`, `sqlite::memory:`...).
    SqliteUrl(String),
    Postgres(PostgresUrl),
}

impl Database {
    /// Parses `--database`: `sqlite:...` or `postgres://...`. The error names the option and
    /// never repeats a password.
    pub(crate) fn parse(text: &str) -> Result<Self, ServerError> {
        let scheme = text.split_once(':').map_or("", |(s, _)| s);
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Ok(Self::SqliteUrl(text.to_owned())),
            "postgres" | "postgresql" => PostgresUrl::parse(text)
                .map(Self::Postgres)
                .map_err(|e| ServerError::Config(format!("--database: {e}"))),
            _ => Err(ServerError::Config(format!(
                "--database: unsupported scheme '{}' (use sqlite:PATH or postgres://USER@HOST:PORT/DATABASE)",
                scheme.chars().take(20).collect::<String>()
            ))),
        }
    }

    /// `--database` when given, else `DATA_DIR/tessera.db`.
    pub(crate) fn resolve(database: Option<&str>, data_dir: &Path) -> Result<Self, ServerError> {
        match database {
            Some(text) => Self::parse(text),
            None => Ok(Self::SqliteFile(data_dir.join("tessera.db"))),
        }
    }

    /// What to call it in messages: never with a password.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::SqliteFile(path) => path.display().to_string(),
            Self::SqliteUrl(url) => format!("--database {}", redact_database(url)),
            Self::Postgres(url) => format!("--database {url}"),
        }
    }

    /// Opens the store (creating and migrating it as needed).
    pub(crate) async fn open(&self) -> Result<Arc<dyn Store>, ServerError> {
        let opened: Result<Arc<dyn Store>, _> = match self {
            Self::SqliteFile(path) => {
                crate::infra::files::precreate_private(path)?;
                SqliteStore::open(path).await.map(|s| Arc::new(s) as _)
            }
            Self::SqliteUrl(url) => SqliteStore::open_url(url).await.map(|s| Arc::new(s) as _),
            Self::Postgres(url) => PostgresStore::open(url).await.map(|s| Arc::new(s) as _),
        };
        opened.map_err(|error| ServerError::Database {
            what: self.describe(),
            error,
        })
    }
}

impl ServeOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            seed_demo: true,
            ..Default::default()
        }
    }

    /// Checks the options (and loads the `--config` file) without starting anything.
    pub fn validate(&self) -> Result<(), ServerError> {
        self.resolve().map(drop)
    }

    /// Checks every option and resolves them, with the `--config` file loaded, into the one
    /// value start-up uses; nothing is parsed or decided again after this.
    pub(crate) fn resolve(&self) -> Result<ServeConfig, ServerError> {
        if self.test_access_token_lifetime.is_some() && !self.test_mode {
            return Err(ServerError::Config(
                "--test-access-token-lifetime needs --test-mode".into(),
            ));
        }
        let test_token_lifetime = match self.test_access_token_lifetime {
            Some(d) if d.as_secs() == 0 || d.as_secs() > 86_400 * 7 => {
                return Err(ServerError::Config(
                    "--test-access-token-lifetime must be between 1 second and 7 days".into(),
                ));
            }
            Some(d) => Some(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            None => None,
        };
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => TlsSource::Provided {
                cert: cert.clone(),
                key: key.clone(),
            },
            (None, None) => TlsSource::Generated,
            _ => {
                return Err(ServerError::Config(
                    "--tls-cert and --tls-key go together".into(),
                ));
            }
        };
        if let Some(url) = &self.public_url
            && (url.scheme() != "https" || url.host_str().is_none())
        {
            return Err(ServerError::Config(format!(
                "--public-url {url}: must be an https URL with a host"
            )));
        }
        let database = Database::resolve(self.database.as_deref(), &self.data_dir)?;
        let file = self
            .config_file
            .as_deref()
            .map(FileConfig::load)
            .transpose()?;
        Ok(ServeConfig {
            data_dir: self.data_dir.clone(),
            database,
            public_base: self
                .public_url
                .as_ref()
                .map(|u| u.as_str().trim_end_matches('/').to_owned()),
            test_mode: self.test_mode,
            test_token_lifetime,
            tls,
            seed_demo: self.seed_demo,
            token: file.as_ref().map(|f| f.token.clone()).unwrap_or_default(),
            file,
        })
    }
}

/// Where the TLS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TlsSource {
    /// A local CA in the data directory issues the server certificate.
    Generated,
    Provided {
        cert: PathBuf,
        key: PathBuf,
    },
}

/// `ServeOptions` validated and resolved, with the `--config` file loaded.
#[derive(Debug)]
pub(crate) struct ServeConfig {
    pub data_dir: PathBuf,
    pub database: Database,
    /// `--public-url` without a trailing slash; `None`: the listening address.
    pub public_base: Option<String>,
    pub test_mode: bool,
    /// `--test-access-token-lifetime` in seconds.
    pub test_token_lifetime: Option<i64>,
    pub tls: TlsSource,
    pub seed_demo: bool,
    /// The config file's `[token]` settings (defaults without a file).
    pub token: TokenSettings,
    /// Tenants, apps, users and groups to apply at start.
    pub file: Option<FileConfig>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_validate() {
        let mut o = ServeOptions::new("/tmp/x");
        o.validate().expect("defaults are valid");
        o.test_access_token_lifetime = Some(Duration::from_secs(20));
        assert!(o.validate().is_err(), "lifetime override needs test mode");
        o.test_mode = true;
        o.validate().expect("valid in test mode");
        o.database = Some("postgres://x".into());
        assert!(o.validate().is_err());
    }

    #[test]
    fn database_urls_are_strict_and_never_shown_with_a_password() {
        let ok =
            Database::parse("postgres://app:s3cret@db.example:6543/tessera?sslmode=verify-full")
                .expect("valid");
        let shown = ok.describe();
        assert_eq!(
            shown,
            "--database postgres://app:***@db.example:6543/tessera?sslmode=verify-full"
        );
        assert!(!format!("{ok:?}").contains("s3cret"), "{ok:?}");
        assert!(matches!(
            Database::parse("postgresql:///tessera?host=/run/postgresql"),
            Ok(Database::Postgres(_))
        ));
        assert!(matches!(
            Database::parse("sqlite:/tmp/x.db"),
            Ok(Database::SqliteUrl(_))
        ));
        for (bad, says) in [
            (
                "postgres://app:s3cret@db.example/tessera?sslmod=require",
                "unknown parameter 'sslmod'",
            ),
            (
                "postgres://app:s3cret@db.example/tessera?sslmode=maybe",
                "sslmode 'maybe'",
            ),
            ("postgres://app:s3cret@db.example:5432", "name the database"),
            ("postgres://app:s3cret@db.example/a/b", "name the database"),
            ("postgres://app:s3cret@:5432/tessera", "not a URL"),
            ("postgres:///tessera", "no host"),
            (
                "mysql://app:s3cret@db.example/tessera",
                "unsupported scheme 'mysql'",
            ),
            ("app:s3cret@db.example", "unsupported scheme 'app'"),
        ] {
            let e = Database::parse(bad).expect_err(bad).to_string();
            assert!(e.contains("--database") && e.contains(says), "{bad}: {e}");
            assert!(!e.contains("s3cret"), "{bad}: {e}");
        }
        let mut o = ServeOptions::new("/tmp/x");
        o.database = Some("postgres://app:s3cret@db.example/tessera".into());
        o.validate().expect("valid");
        assert!(!format!("{o:?}").contains("s3cret"));
        assert_eq!(redact_database("app:s3cret@db.example"), "(unparsable URL)");
    }
}
