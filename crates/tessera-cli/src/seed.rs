//! `tessera seed users`: bulk users for tests and benchmarks, into a server's data directory
//! (also while it runs).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use tessera_server::{SeedUsers, seed_users};

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
    }
}

#[allow(clippy::print_stdout)] // the report is the command's data
fn print_report(report: &tessera_server::SeedReport, seconds: f64) {
    println!(
        "created {} users in tenant {} (run '{}') in {seconds:.2} s",
        report.created, report.tenant_id, report.run
    );
}
