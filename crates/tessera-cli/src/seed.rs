//! `tessera seed users`: bulk users for tests and benchmarks; `tessera seed saml-app`: a SAML
//! app registration in one command. Both write into a server's data directory (also while it
//! runs).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use tessera_server::{SeedSamlApp, SeedUsers, seed_saml_app, seed_users};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera seed users --count 100000                       # into ./tessera-data, beside a running server
  tessera seed users --count 5000 --data-dir /tmp/t --tenant contoso.example")]
pub(crate) struct SeedArgs {
    #[command(subcommand)]
    what: SeedWhat,
}

#[derive(Subcommand)]
enum SeedWhat {
    /// Create many users (names vary, user principal names are unique per run).
    #[command(after_help = "Examples:
  tessera seed users --count 100000
  tessera seed users --count 100000 --database postgres://postgres@127.0.0.1:5432/tessera")]
    Users {
        /// How many users to create.
        #[arg(long)]
        count: u64,
        /// The server's data directory.
        #[arg(long, default_value = "./tessera-data", env = "TESSERA_DATA_DIR")]
        data_dir: PathBuf,
        /// Database URL, when not the data directory's SQLite file.
        #[arg(long, env = "TESSERA_DATABASE_URL", hide_env_values = true)]
        database: Option<String>,
        /// Tenant GUID or domain (default: the demo tenant).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Register a SAML app (entity ID, ACS URLs, logout URL, NameID format) with its
    /// service principal; prints its appId and the URLs its SP library needs.
    #[command(after_help = "Examples:
  tessera seed saml-app --entity-id https://app.example/saml --acs https://app.example/saml/acs
  tessera seed saml-app --entity-id urn:jira --acs https://jira.example/plugins/saml/acs \\
    --logout-url https://jira.example/logout --name-id-format persistent --tenant contoso.example")]
    SamlApp {
        /// The SP's entity ID (the app's identifier URI; the SAML request's Issuer).
        #[arg(long)]
        entity_id: String,
        /// An Assertion Consumer Service URL (reply URL); repeat for several.
        #[arg(long = "acs", value_name = "URL", required = true)]
        acs: Vec<String>,
        /// Where LogoutResponses go.
        #[arg(long, value_name = "URL")]
        logout_url: Option<String>,
        /// NameID when a request names none: emailAddress (the UPN; default), persistent,
        /// transient or unspecified.
        #[arg(long, value_name = "FORMAT")]
        name_id_format: Option<String>,
        /// The app's display name.
        #[arg(long, default_value = "SAML app")]
        name: String,
        /// The server's data directory.
        #[arg(long, default_value = "./tessera-data", env = "TESSERA_DATA_DIR")]
        data_dir: PathBuf,
        /// Database URL, when not the data directory's SQLite file.
        #[arg(long, env = "TESSERA_DATABASE_URL", hide_env_values = true)]
        database: Option<String>,
        /// Tenant GUID or domain (default: the demo tenant).
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// By hand: a database URL may hold a password.
impl std::fmt::Debug for SeedWhat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Users {
                count,
                data_dir,
                database,
                tenant,
            } => f
                .debug_struct("Users")
                .field("count", count)
                .field("data_dir", data_dir)
                .field(
                    "database",
                    &database.as_deref().map(tessera_server::redact_database),
                )
                .field("tenant", tenant)
                .finish(),
            Self::SamlApp {
                entity_id, tenant, ..
            } => f
                .debug_struct("SamlApp")
                .field("entity_id", entity_id)
                .field("tenant", tenant)
                .finish_non_exhaustive(),
        }
    }
}

pub(crate) async fn run(args: SeedArgs) -> anyhow::Result<()> {
    match args.what {
        SeedWhat::Users {
            count,
            data_dir,
            database,
            tenant,
        } => {
            let started = Instant::now();
            let report = seed_users(SeedUsers {
                data_dir,
                database,
                tenant,
                count,
            })
            .await
            .context("seeding users")?;
            print_report(&report, started.elapsed().as_secs_f64());
            Ok(())
        }
        SeedWhat::SamlApp {
            entity_id,
            acs,
            logout_url,
            name_id_format,
            name,
            data_dir,
            database,
            tenant,
        } => {
            let made = seed_saml_app(SeedSamlApp {
                data_dir: data_dir.clone(),
                database,
                tenant,
                display_name: name,
                entity_id: entity_id.clone(),
                acs_urls: acs,
                logout_url,
                name_id_format,
            })
            .await
            .context("registering the SAML app")?;
            // The server's URL, from the demo.json it writes, when there is one.
            let base = std::fs::read(data_dir.join("demo.json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|d| d["authority"].as_str().map(str::to_owned))
                .and_then(|a| a.rsplit_once('/').map(|(b, _)| b.to_owned()))
                .unwrap_or_else(|| "https://HOST:PORT".to_owned());
            print_saml_app(&made, &entity_id, &base);
            Ok(())
        }
    }
}

#[allow(clippy::print_stdout)] // what the SP library needs is the command's data
fn print_saml_app(made: &tessera_server::SeededSamlApp, entity_id: &str, base: &str) {
    let t = &made.tenant_id;
    println!("appId: {}", made.app_id);
    println!("entity ID (identifier): {entity_id}");
    println!("IdP entity ID: https://sts.windows.net/{t}/");
    println!("federation metadata: {base}/{t}/federationmetadata/2007-06/federationmetadata.xml");
    println!("SAML 2.0 sign-in and logout: {base}/{t}/saml2");
    println!(
        "IdP-initiated sign-in: {base}/api/signin/{}?tenantId={t}",
        made.app_id
    );
}

#[allow(clippy::print_stdout)] // the report is the command's data
fn print_report(report: &tessera_server::SeedReport, seconds: f64) {
    println!(
        "created {} users in tenant {} (run '{}') in {seconds:.2} s",
        report.created, report.tenant_id, report.run
    );
}
