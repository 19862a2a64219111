//! The embedded default store: SQLite in WAL mode with `synchronous=FULL`, so a committed
//! write survives `kill -9` and power loss. Records with nested lists are JSON documents.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tessera_proto::scope::resource_key;

use super::filter::{self, Columns, Param};
use super::sql::{
    Dialect, USER_COLUMNS, USER_SELECT, from_doc, sql_store, to_doc, unique_to_conflict,
};
use super::*;

/// Migrations in order; each runs once inside a transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../../migrations/sqlite/0002_graph.sql")),
    (3, include_str!("../../migrations/sqlite/0003_signin.sql")),
    (
        4,
        include_str!("../../migrations/sqlite/0004_revocation.sql"),
    ),
    (
        5,
        include_str!("../../migrations/sqlite/0005_signin_failures.sql"),
    ),
    (6, include_str!("../../migrations/sqlite/0006_portal.sql")),
];

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl Dialect for SqliteStore {
    const LOCK_ROWS: &'static str = "";
    const FORGET_EXPIRED_JTIS: &'static str = "DELETE FROM assertion_jtis WHERE expires_at < $1";
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const GREATEST: &'static str = "max";
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        Self::connect(SqliteConnectOptions::new().filename(path)).await
    }

    /// Opens a database from a `sqlite:` URL.
    pub async fn open_url(url: &str) -> StoreResult<Self> {
        Self::connect(SqliteConnectOptions::from_str(url)?).await
    }

    async fn connect(options: SqliteConnectOptions) -> StoreResult<Self> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        let mut conn = pool.acquire().await?;
        apply_migrations(&mut conn, MIGRATIONS).await?;
        drop(conn);
        Ok(Self { pool })
    }

    /// Bulk insert: one prepared statement, one transaction.
    async fn insert_user_batch(&self, users: Vec<User>) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "INSERT INTO users ({USER_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        for user in &users {
            bind_user(sqlx::query(sqlx::AssertSqlSafe(sql.clone())), user)?
                .execute(&mut *tx)
                .await
                .map_err(unique_to_conflict)?;
        }
        tx.commit().await?;
        Ok(())
    }
}

sql_store!(SqliteStore, sqlx::Sqlite;);
