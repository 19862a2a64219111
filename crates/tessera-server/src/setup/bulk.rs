//! Bulk seeding for tests and benchmarks: `tessera seed users` writes many users straight
//! into the store in large batches (one statement each on PostgreSQL). It works while
//! servers run on the same database, and they see the users at once: users are not cached.

use std::path::PathBuf;

use tessera_proto::clock::{Clock as _, OffsetClock, Random};

use crate::crypto::{self, SystemRandom};
use crate::error::ServerError;
use crate::setup::options::{Database, redact_database};
use crate::store::User;

const BATCH: usize = 5_000;
const GIVEN: [&str; 16] = [
    "Adele",
    "Alex",
    "Diego",
    "Grady",
    "Henrietta",
    "Isaiah",
    "Johanna",
    "Joni",
    "Lee",
    "Lidia",
    "Lynne",
    "Megan",
    "Miriam",
    "Nestor",
    "Patti",
    "Pradeep",
];
const SURNAMES: [&str; 16] = [
    "Vance",
    "Wilber",
    "Siciliani",
    "Archie",
    "Mueller",
    "Langer",
    "Lauer",
    "Sherman",
    "Gu",
    "Holloway",
    "Robbins",
    "Bowen",
    "Graham",
    "Wilke",
    "Fernandez",
    "Gupta",
];

#[derive(Clone)]
pub struct SeedUsers {
    pub data_dir: PathBuf,
    /// `sqlite:` or `postgres://` URL, as `tessera serve --database`; default
    /// `DATA_DIR/tessera.db`.
    pub database: Option<String>,
    /// Tenant GUID or domain; default the demo tenant.
    pub tenant: Option<String>,
    pub count: u64,
}

impl std::fmt::Debug for SeedUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedUsers")
            .field("data_dir", &self.data_dir)
            .field("database", &self.database.as_deref().map(redact_database))
            .field("tenant", &self.tenant)
            .field("count", &self.count)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedReport {
    pub tenant_id: String,
    pub created: u64,
    /// The marker in every seeded user principal name (`…​.<run>.<n>@domain`).
    pub run: String,
}

/// The store a seeding command writes to (an existing server's), and the tenant it names
/// (GUID or domain), the demo tenant when it names none.
pub(crate) async fn seeding_target(
    data_dir: &std::path::Path,
    database: Option<&str>,
    tenant: Option<&str>,
) -> Result<
    (
        std::sync::Arc<dyn crate::store::Store>,
        crate::store::Tenant,
    ),
    ServerError,
> {
    let database = Database::resolve(database, data_dir)?;
    if let Database::SqliteFile(path) = &database
        && !path.exists()
    {
        return Err(ServerError::Config(format!(
            "{} does not exist: run `tessera serve` on this data directory first",
            path.display()
        )));
    }
    let store = database.open().await?;
    let tenant_key = match tenant {
        Some(t) => t.to_owned(),
        None => {
            let demo = store.meta("demo").await?.ok_or_else(|| {
                ServerError::Config("no demo tenant in this store: pass --tenant".into())
            })?;
            let v: serde_json::Value =
                serde_json::from_str(&demo).map_err(|e| ServerError::Config(e.to_string()))?;
            v["tenant_id"].as_str().unwrap_or_default().to_owned()
        }
    };
    let tenant = store
        .tenant(&tenant_key)
        .await?
        .ok_or_else(|| ServerError::Config(format!("tenant '{tenant_key}' not found")))?;
    Ok((store, tenant))
}

/// Creates `count` users in the tenant. Names vary (16 given names x 16 surnames) so that
/// filters and sorting have something to work on; user principal names are unique per run.
pub async fn seed_users(opts: SeedUsers) -> Result<SeedReport, ServerError> {
    if opts.count == 0 || opts.count > 10_000_000 {
        return Err(ServerError::Config(
            "--count must be between 1 and 10000000".into(),
        ));
    }
    let (store, tenant) = seeding_target(
        &opts.data_dir,
        opts.database.as_deref(),
        opts.tenant.as_deref(),
    )
    .await?;
    let random = SystemRandom::default();
    let now = OffsetClock::new().unix();
    let run = crypto::random_b64url(&random, 3)
        .to_ascii_lowercase()
        .replace(['-', '_'], "x");
    let mut created = 0u64;
    let mut batch = Vec::with_capacity(BATCH);
    for n in 0..opts.count {
        let given = GIVEN[usize::try_from(n % 16).unwrap_or(0)];
        let surname = SURNAMES[usize::try_from((n / 16) % 16).unwrap_or(0)];
        let upn = format!(
            "{}.{}.{run}.{n}@{}",
            given.to_ascii_lowercase(),
            surname.to_ascii_lowercase(),
            tenant.domain
        );
        batch.push(User {
            tenant_id: tenant.id.clone(),
            id: crypto::random_guid(&random as &dyn Random),
            user_principal_name: upn.clone(),
            display_name: format!("{given} {surname} {run}-{n:07}"),
            given_name: Some(given.to_owned()),
            surname: Some(surname.to_owned()),
            mail: Some(upn),
            password_hash: None,
            account_enabled: n % 10 != 9,
            mfa_required: false,
            mfa_totp_secret: None,
            tokens_valid_after: 0,
            session_generation: 0,
            revoked_at_ms: 0,
            created_at: now,
            extra: Default::default(),
            directory_roles: Vec::new(),
        });
        if batch.len() == BATCH {
            created += batch.len() as u64;
            store.insert_users(std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        created += batch.len() as u64;
        store.insert_users(batch).await?;
    }
    Ok(SeedReport {
        tenant_id: tenant.id,
        created,
        run,
    })
}
