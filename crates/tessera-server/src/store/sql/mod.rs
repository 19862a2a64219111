//! The SQL both stores share: one implementation of `Store`, stamped out per backend by
//! `sql_store!` so that each query is written once. Where the dialects differ, the backend
//! supplies the statement through `Dialect` or its own method. The `Store` methods live
//! by part (directory, grants, policies, sessions), each a macro expanded in the one impl.

pub(super) mod directory;
pub(super) mod grants;
pub(super) mod policies;
pub(super) mod sessions;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{StoreError, StoreResult};

/// What SQLite and PostgreSQL must say differently.
pub(super) trait Dialect {
    /// Appended to a `SELECT` whose rows the transaction goes on to update: PostgreSQL locks
    /// them so a concurrent transaction waits instead of reading the value being replaced.
    /// SQLite has one writer at a time and no row locks.
    const LOCK_ROWS: &'static str;
    /// Forgets assertion ids that expired before `$1`.
    const FORGET_EXPIRED_JTIS: &'static str;
    /// Begins a transaction that reads what it then writes. SQLite takes its write lock at
    /// once (another process could otherwise write in between, and our write would fail);
    /// PostgreSQL relies on `LOCK_ROWS`.
    const BEGIN_WRITE: &'static str;
    /// The larger of two values: `max` in SQLite, `greatest` in PostgreSQL.
    const GREATEST: &'static str;
}

/// What a user is read from.
pub(super) const USER_SELECT: &str = "doc, session_generation, revoked_at_ms, tokens_valid_after";

pub(super) const USER_COLUMNS: &str = "tenant_id, id, upn, display_name, given_name, surname, mail,
    account_enabled, doc, session_generation, revoked_at_ms, tokens_valid_after";

pub(super) fn to_doc<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn from_doc<T: DeserializeOwned>(doc: &str) -> StoreResult<T> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Unique-constraint violations are conflicts of the directory's rules, not failures.
pub(super) fn unique_to_conflict(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(d.message().to_owned())
        }
        _ => StoreError::Database(e),
    }
}

/// Implements `Store` for `$store`: a struct with a `pool: sqlx::Pool<$db>` field, which
/// implements `Dialect` and has `async fn insert_user_batch(&self, Vec<User>)`. What follows
/// the `;` goes into the `Store` impl: the methods a backend overrides.
macro_rules! sql_store {
    ($store:ident, $db:ty; $($extra:tt)*) => {
        /// Applies the migrations `conn` has not seen, each once, in its own transaction.
        async fn apply_migrations(
            conn: &mut <$db as sqlx::Database>::Connection,
            migrations: &[(i64, &'static str)],
        ) -> StoreResult<()> {
            use sqlx::Connection as _;
            sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)")
                .execute(&mut *conn)
                .await?;
            for (version, sql) in migrations {
                let mut tx = conn.begin().await?;
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

        impl $store {
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

        /// Binds a user's twelve columns, in `USER_COLUMNS` order.
        fn bind_user<'q>(
            query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
            user: &User,
        ) -> StoreResult<sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>> {
            Ok(query
                .bind(user.tenant_id.clone())
                .bind(user.id.to_ascii_lowercase())
                .bind(user.user_principal_name.to_ascii_lowercase())
                .bind(user.display_name.clone())
                .bind(user.given_name.clone())
                .bind(user.surname.clone())
                .bind(user.mail.clone())
                .bind(i64::from(user.account_enabled))
                .bind(to_doc(user)?)
                .bind(user.session_generation)
                .bind(user.revoked_at_ms)
                .bind(user.tokens_valid_after))
        }

        /// A user as stored: the document, with the revocation state from its columns.
        fn user_from_row(row: &<$db as sqlx::Database>::Row) -> StoreResult<User> {
            let mut user: User = from_doc(&row.try_get::<String, _>("doc")?)?;
            user.session_generation = row.try_get("session_generation")?;
            user.revoked_at_ms = row.try_get("revoked_at_ms")?;
            user.tokens_valid_after = row.try_get("tokens_valid_after")?;
            Ok(user)
        }

        fn doc_from_row<T: DeserializeOwned>(row: &<$db as sqlx::Database>::Row) -> StoreResult<T> {
            from_doc(&row.try_get::<String, _>("doc")?)
        }

        async fn upsert_user(conn: &mut <$db as sqlx::Database>::Connection, user: &User) -> StoreResult<()> {
            // The revocation state only grows: see migration 0004.
            let sql = format!(
                "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                 ON CONFLICT (tenant_id, id) DO UPDATE SET upn = excluded.upn, display_name = excluded.display_name,
                   given_name = excluded.given_name, surname = excluded.surname, mail = excluded.mail,
                   account_enabled = excluded.account_enabled, doc = excluded.doc,
                   session_generation = {g}(users.session_generation, excluded.session_generation),
                   revoked_at_ms = {g}(users.revoked_at_ms, excluded.revoked_at_ms),
                   tokens_valid_after = {g}(users.tokens_valid_after, excluded.tokens_valid_after)",
                g = <$store as Dialect>::GREATEST
            );
            bind_user(sqlx::query(sqlx::AssertSqlSafe(sql)), user)?
                .execute(&mut *conn)
                .await
                .map_err(unique_to_conflict)?;
            Ok(())
        }

        /// A paged listing: `SELECT {select} FROM {table}` with the tenant, the filter, the
        /// keyset condition after the cursor, the order and the limit.
        async fn list_rows<T>(
            pool: &sqlx::Pool<$db>,
            (table, select): (&'static str, &'static str),
            columns: Columns,
            tenant_id: &str,
            q: &ListQuery,
            record: fn(&<$db as sqlx::Database>::Row) -> StoreResult<T>,
        ) -> StoreResult<Vec<T>> {
            let mut sql = format!("SELECT {select} FROM {table} WHERE tenant_id = $1");
            let mut params: Vec<Param> = vec![Param::Text(tenant_id.to_owned())];
            if let Some(f) = &q.filter {
                let t = filter::translate(f, columns, params.len() + 1).map_err(StoreError::Query)?;
                sql.push_str(" AND ");
                sql.push_str(&t.sql);
                params.extend(t.params);
            }
            let order = match q.order {
                ListOrder::Id => {
                    if let Some(c) = &q.after {
                        params.push(Param::Text(c.id.clone()));
                        sql.push_str(&format!(" AND id > ${}", params.len()));
                    }
                    " ORDER BY id"
                }
                ListOrder::DisplayName { descending } => {
                    let cmp = if descending { "<" } else { ">" };
                    if let Some(c) = &q.after {
                        params.push(Param::Text(c.display_name.clone().unwrap_or_default()));
                        let n = params.len();
                        params.push(Param::Text(c.id.clone()));
                        sql.push_str(&format!(
                            " AND (display_name {cmp} ${n} OR (display_name = ${n} AND id {cmp} ${}))",
                            n + 1
                        ));
                    }
                    if descending {
                        " ORDER BY display_name DESC, id DESC"
                    } else {
                        " ORDER BY display_name, id"
                    }
                }
            };
            sql.push_str(order);
            sql.push_str(&format!(" LIMIT {}", q.limit.clamp(1, 1000)));
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for p in params {
                query = match p {
                    Param::Text(t) => query.bind(t),
                    Param::Int(i) => query.bind(i),
                };
            }
            let rows = query.fetch_all(pool).await?;
            rows.iter().map(record).collect()
        }

        async fn count_rows(
            pool: &sqlx::Pool<$db>,
            table: &'static str,
            columns: Columns,
            tenant_id: &str,
            f: Option<&tessera_proto::odata::Filter>,
        ) -> StoreResult<u64> {
            let mut sql = format!("SELECT count(*) FROM {table} WHERE tenant_id = $1");
            let mut params = vec![Param::Text(tenant_id.to_owned())];
            if let Some(f) = f {
                let t = filter::translate(f, columns, 2).map_err(StoreError::Query)?;
                sql.push_str(" AND ");
                sql.push_str(&t.sql);
                params.extend(t.params);
            }
            let mut query = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
            for p in params {
                query = match p {
                    Param::Text(t) => query.bind(t),
                    Param::Int(i) => query.bind(i),
                };
            }
            Ok(u64::try_from(query.fetch_one(pool).await?).unwrap_or(0))
        }

        fn device_from_row(row: &<$db as sqlx::Database>::Row) -> StoreResult<DeviceCodeRecord> {
            let status: String = row.try_get("status")?;
            Ok(DeviceCodeRecord {
                hash: row.try_get("hash")?,
                user_code: row.try_get("user_code")?,
                tenant_id: row.try_get("tenant_id")?,
                client_id: row.try_get("client_id")?,
                scope: row.try_get("scope")?,
                claims: row.try_get("claims")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
                interval_seconds: row.try_get("interval_seconds")?,
                last_poll_at: row.try_get("last_poll_at")?,
                status: DeviceCodeStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("device code status {status}")))?,
                user_id: row.try_get("user_id")?,
                session_id: row.try_get("session_id")?,
            })
        }

        fn session_from_row(row: &<$db as sqlx::Database>::Row) -> StoreResult<SigninSession> {
            Ok(SigninSession {
                hash: row.try_get("hash")?,
                tenant_id: row.try_get("tenant_id")?,
                user_id: row.try_get("user_id")?,
                created_at: row.try_get("created_at")?,
                auth_time: row.try_get("auth_time")?,
                mfa_at: row.try_get("mfa_at")?,
                ended: row.try_get::<i64, _>("ended")? != 0,
            })
        }

        fn counter_from_row(row: &<$db as sqlx::Database>::Row) -> StoreResult<FailureCounter> {
            Ok(FailureCounter {
                failures: row.try_get("failures")?,
                window_start: row.try_get("window_start")?,
                locked_until: row.try_get("locked_until")?,
            })
        }

        fn refresh_from_row(row: &<$db as sqlx::Database>::Row) -> StoreResult<RefreshTokenRecord> {
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
                generation: row.try_get("generation")?,
            })
        }

        impl Store for $store {
            $crate::store::sql::directory::sql_directory!();
            $crate::store::sql::grants::sql_grants!();
            $crate::store::sql::policies::sql_policies!();
            $crate::store::sql::sessions::sql_sessions!();
            $($extra)*
        }
    };
}

pub(super) use sql_store;
