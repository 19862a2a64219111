//! The store for several replicas: PostgreSQL, running the SQL it shares with SQLite. Servers
//! on one database agree through the database alone: row locks and unique keys at run time,
//! advisory locks for migrations and start-up, `NOTIFY` to drop cached directory objects.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions as _, Row};
use tessera_proto::scope::resource_key;

use super::filter::{self, Columns, Param};
use super::sql::{
    Dialect, USER_COLUMNS, USER_SELECT, from_doc, sql_store, to_doc, unique_to_conflict,
};
use super::*;

/// Migrations in order, the twins of the SQLite ones; each runs once inside a transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_init.sql")),
    (2, include_str!("../../migrations/postgres/0002_graph.sql")),
    (3, include_str!("../../migrations/postgres/0003_signin.sql")),
    (
        4,
        include_str!("../../migrations/postgres/0004_revocation.sql"),
    ),
    (
        5,
        include_str!("../../migrations/postgres/0005_signin_failures.sql"),
    ),
    (6, include_str!("../../migrations/postgres/0006_portal.sql")),
];

/// Advisory lock keys ("tessera" and a number): one server migrates at a time, and one
/// initialises (first key, configuration, demo) at a time.
const MIGRATION_LOCK: i64 = 0x7465_7373_6572_6101;
const STARTUP_LOCK: i64 = 0x7465_7373_6572_6102;
/// A server whose peer is stuck initialising gives up with an error instead of hanging.
const STARTUP_LOCK_TIMEOUT: &str = "SET lock_timeout = '120s'";
/// Where the migrations' triggers announce directory writes.
const CHANNEL: &str = "tessera_directory";
const MAX_CONNECTIONS: u32 = 10;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(15);

/// Query parameters a `--database` URL may carry; anything else is refused rather than
/// ignored, so a misspelt `sslmode` cannot silently connect without TLS.
const PARAMETERS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "application_name",
    "host",
];
const SSL_MODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// A validated `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=...]` URL. Its
/// `Display` and `Debug` never show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl {
    url: url::Url,
}

impl PostgresUrl {
    /// Checks the URL strictly; the error never repeats the password.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(format!(
                "scheme '{}' is not postgres:// or postgresql://",
                url.scheme()
            ));
        }
        if url.fragment().is_some() {
            return Err("a database URL has no #fragment".into());
        }
        let mut socket = false;
        for (key, value) in url.query_pairs() {
            if !PARAMETERS.contains(&key.as_ref()) {
                return Err(format!(
                    "unknown parameter '{key}' (known: {})",
                    PARAMETERS.join(", ")
                ));
            }
            match key.as_ref() {
                "sslmode" if !SSL_MODES.contains(&value.as_ref()) => {
                    return Err(format!(
                        "sslmode '{value}' is not one of {}",
                        SSL_MODES.join(", ")
                    ));
                }
                "host" => socket = true,
                _ => {}
            }
        }
        if url.host_str().is_none_or(str::is_empty) && !socket {
            return Err("no host (postgres://USER@HOST:PORT/DATABASE)".into());
        }
        let database = url.path().trim_start_matches('/');
        if database.is_empty() || database.contains('/') {
            return Err(
                "the path must name the database (postgres://USER@HOST:PORT/DATABASE)".into(),
            );
        }
        Ok(Self { url })
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted(&self) -> String {
        let mut shown = self.url.clone();
        if shown.password().is_some() {
            // Only fails for URLs that cannot have a password, which this one has.
            let _ = shown.set_password(Some("***"));
        }
        shown.to_string()
    }

    fn connect_options(&self) -> StoreResult<PgConnectOptions> {
        let options = PgConnectOptions::from_str(self.url.as_str())?;
        Ok(if options.get_application_name().is_none() {
            options.application_name("tessera")
        } else {
            options
        })
    }
}

impl std::fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PostgresUrl")
            .field(&self.redacted())
            .finish()
    }
}

/// Ends the notification task when the last clone of the store goes.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    changes: Arc<AtomicU64>,
    _listener: Arc<AbortOnDrop>,
}

impl std::fmt::Debug for PostgresStore {
    // The pool's connect options hold the password: show none of them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("connections", &self.pool.size())
            .finish_non_exhaustive()
    }
}

impl Dialect for PostgresStore {
    const LOCK_ROWS: &'static str = " FOR UPDATE";
    // Rows another transaction is deleting are skipped: they are going anyway, and waiting
    // for them would make concurrent token requests queue behind each other.
    const FORGET_EXPIRED_JTIS: &'static str = "DELETE FROM assertion_jtis WHERE (client_id, jti) IN
         (SELECT client_id, jti FROM assertion_jtis WHERE expires_at < $1 FOR UPDATE SKIP LOCKED)";
    const BEGIN_WRITE: &'static str = "BEGIN";
    const GREATEST: &'static str = "greatest";
}

impl PostgresStore {
    /// Connects, applies pending migrations (one server at a time) and starts following
    /// other servers' directory writes.
    pub async fn open(url: &PostgresUrl) -> StoreResult<Self> {
        let options = url.connect_options()?;
        // One plain connection first: the pool would retry until its timeout and then report
        // only that, where this says "connection refused" or "password authentication failed".
        sqlx::Connection::close(options.connect().await?).await?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        migrate(&pool).await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        let changes = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(follow(listener, changes.clone()));
        Ok(Self {
            pool,
            changes,
            _listener: Arc::new(AbortOnDrop(task.abort_handle())),
        })
    }

    /// Bulk insert: each batch is one statement over arrays, one round trip.
    async fn insert_user_batch(&self, users: Vec<User>) -> StoreResult<()> {
        let mut columns: [Vec<String>; 5] = Default::default();
        let mut optional: [Vec<Option<String>>; 3] = Default::default();
        let mut numbers: [Vec<i64>; 4] = Default::default();
        for user in &users {
            let [tenant, id, upn, name, doc] = &mut columns;
            tenant.push(user.tenant_id.clone());
            id.push(user.id.to_ascii_lowercase());
            upn.push(user.user_principal_name.to_ascii_lowercase());
            name.push(user.display_name.clone());
            doc.push(to_doc(user)?);
            let [given, surname, mail] = &mut optional;
            given.push(user.given_name.clone());
            surname.push(user.surname.clone());
            mail.push(user.mail.clone());
            let [enabled, generation, revoked_at, valid_after] = &mut numbers;
            enabled.push(i64::from(user.account_enabled));
            generation.push(user.session_generation);
            revoked_at.push(user.revoked_at_ms);
            valid_after.push(user.tokens_valid_after);
        }
        let [tenant, id, upn, name, doc] = columns;
        let [given, surname, mail] = optional;
        let [enabled, generation, revoked_at, valid_after] = numbers;
        let sql = format!(
            "INSERT INTO users ({USER_COLUMNS}) SELECT * FROM UNNEST($1::text[], $2::text[],
             $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int8[], $9::text[],
             $10::int8[], $11::int8[], $12::int8[])"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(id)
            .bind(upn)
            .bind(name)
            .bind(given)
            .bind(surname)
            .bind(mail)
            .bind(enabled)
            .bind(doc)
            .bind(generation)
            .bind(revoked_at)
            .bind(valid_after)
            .execute(&self.pool)
            .await
            .map_err(unique_to_conflict)?;
        Ok(())
    }
}

/// Runs the migrations under an advisory lock, so replicas starting together do not race.
async fn migrate(pool: &PgPool) -> StoreResult<()> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *conn)
        .await?;
    let applied = apply_migrations(&mut conn, MIGRATIONS).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *conn)
        .await;
    if applied.is_err() || unlocked.is_err() {
        // Never hand a session that may still hold the lock back to the pool.
        conn.close_on_drop();
    }
    applied?;
    unlocked?;
    Ok(())
}

/// Moves `changes` for every announced directory write and whenever the listening session
/// was lost, since announcements made meanwhile are gone.
async fn follow(mut listener: PgListener, changes: Arc<AtomicU64>) {
    loop {
        let next = listener.try_recv().await;
        changes.fetch_add(1, Ordering::SeqCst);
        match next {
            Ok(Some(_)) => {}
            Ok(None) => {
                tracing::warn!(
                    "PostgreSQL notification session lost; cached directory objects dropped"
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "waiting for PostgreSQL notifications failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

sql_store!(PostgresStore, sqlx::Postgres;
    fn startup_lock(&self) -> BoxFuture<'_, StartupLock> {
        Box::pin(async move {
            // A session of its own: the lock lives as long as it, never in a pooled one.
            let mut session = self.pool.connect_options().connect().await?;
            sqlx::query(STARTUP_LOCK_TIMEOUT).execute(&mut session).await?;
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(STARTUP_LOCK)
                .execute(&mut session)
                .await?;
            Ok(StartupLock::held_by(session))
        })
    }

    fn directory_changes(&self) -> Option<Arc<AtomicU64>> {
        Some(self.changes.clone())
    }
);
