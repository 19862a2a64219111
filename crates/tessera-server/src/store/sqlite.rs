//! The embedded default store: SQLite in WAL mode with `synchronous=FULL`, so a committed
//! write survives `kill -9` and power loss. Records with nested lists are JSON documents.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tessera_proto::scope::resource_key;

use super::*;

/// Migrations in order; each runs once inside a transaction.
const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../../migrations/sqlite/0001_init.sql"))];

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

fn to_doc<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_doc<T: DeserializeOwned>(doc: &str) -> StoreResult<T> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        Self::connect(options).await
    }

    /// Opens a database from a `sqlite:` URL.
    pub async fn open_url(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        Self::connect(options).await
    }

    async fn connect(options: SqliteConnectOptions) -> StoreResult<Self> {
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> StoreResult<()> {
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)")
            .execute(&self.pool)
            .await?;
        for (version, sql) in MIGRATIONS {
            let mut tx = self.pool.begin().await?;
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_some() {
                continue;
            }
            sqlx::raw_sql(*sql)
                .execute(&mut *tx)
                .await
                .map_err(|source| StoreError::Migration {
                    version: *version,
                    source,
                })?;
            sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)")
                .bind(version)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    async fn doc<T: DeserializeOwned>(
        &self,
        sql: &'static str,
        a: &str,
        b: &str,
    ) -> StoreResult<Option<T>> {
        let doc: Option<String> = sqlx::query_scalar(sql)
            .bind(a)
            .bind(b)
            .fetch_optional(&self.pool)
            .await?;
        doc.map(|d| from_doc(&d)).transpose()
    }
}

fn refresh_from_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<RefreshTokenRecord> {
    Ok(RefreshTokenRecord {
        hash: row.try_get("hash")?,
        tenant_id: row.try_get("tenant_id")?,
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        scope: row.try_get("scope")?,
        session_id: row.try_get("session_id")?,
        issued_at: row.try_get("issued_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked: row.try_get::<i64, _>("revoked")? != 0,
    })
}

impl Store for SqliteStore {
    fn tenant(&self, id_or_domain: &str) -> BoxFuture<'_, Option<Tenant>> {
        let key = id_or_domain.to_ascii_lowercase();
        Box::pin(async move {
            let doc: Option<String> = sqlx::query_scalar(
                "SELECT doc FROM tenants WHERE lower(id) = $1 OR lower(domain) = $1",
            )
            .bind(&key)
            .fetch_optional(&self.pool)
            .await?;
            doc.map(|d| from_doc(&d)).transpose()
        })
    }

    fn tenants(&self) -> BoxFuture<'_, Vec<Tenant>> {
        Box::pin(async move {
            let docs: Vec<String> = sqlx::query_scalar("SELECT doc FROM tenants ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
            docs.iter().map(|d| from_doc(d)).collect()
        })
    }

    fn put_tenant(&self, tenant: Tenant) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let doc = to_doc(&tenant)?;
            sqlx::query(
                "INSERT INTO tenants (id, domain, display_name, doc) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET domain = excluded.domain, display_name = excluded.display_name, doc = excluded.doc",
            )
            .bind(&tenant.id)
            .bind(tenant.domain.to_ascii_lowercase())
            .bind(&tenant.display_name)
            .bind(doc)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn application(&self, tenant_id: &str, client_id: &str) -> BoxFuture<'_, Option<Application>> {
        let (t, c) = (tenant_id.to_owned(), client_id.to_ascii_lowercase());
        Box::pin(async move {
            self.doc(
                "SELECT doc FROM applications WHERE tenant_id = $1 AND client_id = $2",
                &t,
                &c,
            )
            .await
        })
    }

    fn application_by_identifier(
        &self,
        tenant_id: &str,
        identifier: &str,
    ) -> BoxFuture<'_, Option<Application>> {
        let (t, key) = (tenant_id.to_owned(), resource_key(identifier));
        Box::pin(async move {
            self.doc(
                "SELECT a.doc FROM app_identifiers i JOIN applications a ON a.tenant_id = i.tenant_id AND a.client_id = i.client_id
                 WHERE i.tenant_id = $1 AND i.identifier = $2",
                &t,
                &key,
            )
            .await
        })
    }

    fn put_application(&self, app: Application) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let doc = to_doc(&app)?;
            let client_id = app.client_id.to_ascii_lowercase();
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "INSERT INTO applications (tenant_id, client_id, doc) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant_id, client_id) DO UPDATE SET doc = excluded.doc",
            )
            .bind(&app.tenant_id)
            .bind(&client_id)
            .bind(doc)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM app_identifiers WHERE tenant_id = $1 AND client_id = $2")
                .bind(&app.tenant_id)
                .bind(&client_id)
                .execute(&mut *tx)
                .await?;
            let mut keys: Vec<String> = app
                .identifier_uris
                .iter()
                .map(|u| resource_key(u))
                .collect();
            keys.push(client_id.clone());
            keys.sort();
            keys.dedup();
            for key in keys {
                sqlx::query(
                    "INSERT INTO app_identifiers (tenant_id, identifier, client_id) VALUES ($1, $2, $3)
                     ON CONFLICT (tenant_id, identifier) DO UPDATE SET client_id = excluded.client_id",
                )
                .bind(&app.tenant_id)
                .bind(key)
                .bind(&client_id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn user(&self, tenant_id: &str, id: &str) -> BoxFuture<'_, Option<User>> {
        let (t, i) = (tenant_id.to_owned(), id.to_ascii_lowercase());
        Box::pin(async move {
            self.doc(
                "SELECT doc FROM users WHERE tenant_id = $1 AND id = $2",
                &t,
                &i,
            )
            .await
        })
    }

    fn user_by_upn(&self, tenant_id: &str, upn: &str) -> BoxFuture<'_, Option<User>> {
        let (t, u) = (tenant_id.to_owned(), upn.to_ascii_lowercase());
        Box::pin(async move {
            self.doc(
                "SELECT doc FROM users WHERE tenant_id = $1 AND upn = $2",
                &t,
                &u,
            )
            .await
        })
    }

    fn put_user(&self, user: User) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let doc = to_doc(&user)?;
            sqlx::query(
                "INSERT INTO users (tenant_id, id, upn, doc) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id, id) DO UPDATE SET upn = excluded.upn, doc = excluded.doc",
            )
            .bind(&user.tenant_id)
            .bind(user.id.to_ascii_lowercase())
            .bind(user.user_principal_name.to_ascii_lowercase())
            .bind(doc)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn put_group(&self, group: Group) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let doc = to_doc(&group)?;
            sqlx::query(
                "INSERT INTO groups (tenant_id, id, doc) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant_id, id) DO UPDATE SET doc = excluded.doc",
            )
            .bind(&group.tenant_id)
            .bind(&group.id)
            .bind(doc)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn insert_refresh_token(&self, r: RefreshTokenRecord) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO refresh_tokens (hash, tenant_id, client_id, user_id, scope, session_id, issued_at, last_used_at, revoked)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&r.hash)
            .bind(&r.tenant_id)
            .bind(&r.client_id)
            .bind(&r.user_id)
            .bind(&r.scope)
            .bind(&r.session_id)
            .bind(r.issued_at)
            .bind(r.last_used_at)
            .bind(i64::from(r.revoked))
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn refresh_token(&self, hash: &str) -> BoxFuture<'_, Option<RefreshTokenRecord>> {
        let hash = hash.to_owned();
        Box::pin(async move {
            let row = sqlx::query("SELECT * FROM refresh_tokens WHERE hash = $1")
                .bind(&hash)
                .fetch_optional(&self.pool)
                .await?;
            row.as_ref().map(refresh_from_row).transpose()
        })
    }

    fn touch_refresh_token(&self, hash: &str, at: i64) -> BoxFuture<'_, ()> {
        let hash = hash.to_owned();
        Box::pin(async move {
            sqlx::query(
                "UPDATE refresh_tokens SET last_used_at = $2 WHERE hash = $1 AND last_used_at < $2",
            )
            .bind(&hash)
            .bind(at)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn revoke_refresh_token(&self, hash: &str) -> BoxFuture<'_, bool> {
        let hash = hash.to_owned();
        Box::pin(async move {
            let done = sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE hash = $1")
                .bind(&hash)
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    fn signing_keys(&self) -> BoxFuture<'_, Vec<SigningKeyRecord>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT kid, pkcs8_der, cert_der, created_at FROM signing_keys ORDER BY created_at",
            )
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let decode = |col: &str| -> StoreResult<Vec<u8>> {
                        let text: String = row.try_get(col)?;
                        tessera_proto::b64::decode_lenient(&text)
                            .ok_or_else(|| StoreError::Corrupt(format!("signing key {col}")))
                    };
                    Ok(SigningKeyRecord {
                        kid: row.try_get("kid")?,
                        pkcs8_der: decode("pkcs8_der")?,
                        cert_der: decode("cert_der")?,
                        created_at: row.try_get("created_at")?,
                    })
                })
                .collect()
        })
    }

    fn insert_signing_key(&self, key: SigningKeyRecord) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            sqlx::query("INSERT INTO signing_keys (kid, pkcs8_der, cert_der, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&key.kid)
                .bind(tessera_proto::b64::std_encode(&key.pkcs8_der))
                .bind(tessera_proto::b64::std_encode(&key.cert_der))
                .bind(key.created_at)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn record_assertion_jti(
        &self,
        client_id: &str,
        jti: &str,
        assertion_hash: &str,
        expires_at: i64,
        now: i64,
    ) -> BoxFuture<'_, JtiOutcome> {
        let (c, j, h) = (
            client_id.to_owned(),
            jti.to_owned(),
            assertion_hash.to_owned(),
        );
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            sqlx::query("DELETE FROM assertion_jtis WHERE expires_at < $1")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let inserted = sqlx::query(
                "INSERT INTO assertion_jtis (client_id, jti, assertion_hash, expires_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (client_id, jti) DO NOTHING",
            )
            .bind(&c)
            .bind(&j)
            .bind(&h)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let outcome = if inserted == 1 {
                JtiOutcome::New
            } else {
                let seen: String = sqlx::query_scalar(
                    "SELECT assertion_hash FROM assertion_jtis WHERE client_id = $1 AND jti = $2",
                )
                .bind(&c)
                .bind(&j)
                .fetch_one(&mut *tx)
                .await?;
                if seen == h {
                    JtiOutcome::SameAssertion
                } else {
                    JtiOutcome::Replayed
                }
            };
            tx.commit().await?;
            Ok(outcome)
        })
    }

    fn meta(&self, key: &str) -> BoxFuture<'_, Option<String>> {
        let key = key.to_owned();
        Box::pin(async move {
            Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
                .bind(&key)
                .fetch_optional(&self.pool)
                .await?)
        })
    }

    fn set_meta(&self, key: &str, value: &str) -> BoxFuture<'_, ()> {
        let (k, v) = (key.to_owned(), value.to_owned());
        Box::pin(async move {
            sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                .bind(&k)
                .bind(&v)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }
}
