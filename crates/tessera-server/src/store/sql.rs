//! The SQL both stores share: one implementation of `Store`, stamped out per backend by
//! `sql_store!` so that each query is written once. Where the dialects differ, the backend
//! supplies the statement through `Dialect` or its own method.

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
                    let sql = format!("SELECT {USER_SELECT} FROM users WHERE tenant_id = $1 AND id = $2");
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(&t)
                        .bind(&i)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(user_from_row).transpose()
                })
            }

            fn user_by_upn(&self, tenant_id: &str, upn: &str) -> BoxFuture<'_, Option<User>> {
                let (t, u) = (tenant_id.to_owned(), upn.to_ascii_lowercase());
                Box::pin(async move {
                    let sql = format!("SELECT {USER_SELECT} FROM users WHERE tenant_id = $1 AND upn = $2");
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(&t)
                        .bind(&u)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(user_from_row).transpose()
                })
            }

            fn put_user(&self, user: User) -> BoxFuture<'_, ()> {
                Box::pin(async move {
                    let mut conn = self.pool.acquire().await?;
                    upsert_user(&mut conn, &user).await
                })
            }

            fn put_group(&self, group: Group) -> BoxFuture<'_, ()> {
                Box::pin(async move {
                    let doc = to_doc(&group)?;
                    sqlx::query(
                        "INSERT INTO groups (tenant_id, id, display_name, doc) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (tenant_id, id) DO UPDATE SET display_name = excluded.display_name, doc = excluded.doc",
                    )
                    .bind(&group.tenant_id)
                    .bind(group.id.to_ascii_lowercase())
                    .bind(&group.display_name)
                    .bind(doc)
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                })
            }

            fn insert_refresh_token(&self, r: RefreshTokenRecord) -> BoxFuture<'_, ()> {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO refresh_tokens (hash, tenant_id, client_id, user_id, scope, session_id, issued_at, last_used_at, revoked, generation)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
                    .bind(r.generation)
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
                    // Cleaning up is no part of the answer: it runs apart so that it never
                    // makes two servers wait on each other's expired rows.
                    sqlx::query(<$store as Dialect>::FORGET_EXPIRED_JTIS)
                        .bind(now)
                        .execute(&self.pool)
                        .await?;
                    loop {
                        let inserted = sqlx::query(
                            "INSERT INTO assertion_jtis (client_id, jti, assertion_hash, expires_at) VALUES ($1, $2, $3, $4)
                             ON CONFLICT (client_id, jti) DO NOTHING",
                        )
                        .bind(&c)
                        .bind(&j)
                        .bind(&h)
                        .bind(expires_at)
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                        if inserted == 1 {
                            return Ok(JtiOutcome::New);
                        }
                        let seen: Option<String> = sqlx::query_scalar(
                            "SELECT assertion_hash FROM assertion_jtis WHERE client_id = $1 AND jti = $2",
                        )
                        .bind(&c)
                        .bind(&j)
                        .fetch_optional(&self.pool)
                        .await?;
                        // None: the row we collided with expired and was forgotten in between.
                        match seen {
                            Some(seen) if seen == h => return Ok(JtiOutcome::SameAssertion),
                            Some(_) => return Ok(JtiOutcome::Replayed),
                            None => continue,
                        }
                    }
                })
            }

            fn list_users(&self, tenant_id: &str, query: &ListQuery) -> BoxFuture<'_, Vec<User>> {
                let (t, q) = (tenant_id.to_owned(), query.clone());
                Box::pin(async move { list_rows(&self.pool, ("users", USER_SELECT), filter::USER_COLUMNS, &t, &q, user_from_row).await })
            }

            fn count_users(
                &self,
                tenant_id: &str,
                f: Option<&tessera_proto::odata::Filter>,
            ) -> BoxFuture<'_, u64> {
                let (t, f) = (tenant_id.to_owned(), f.cloned());
                Box::pin(async move {
                    count_rows(&self.pool, "users", filter::USER_COLUMNS, &t, f.as_ref()).await
                })
            }

            fn delete_user(&self, tenant_id: &str, id: &str) -> BoxFuture<'_, bool> {
                let (t, i) = (tenant_id.to_owned(), id.to_ascii_lowercase());
                Box::pin(async move {
                    let mut tx = self.pool.begin().await?;
                    let n = sqlx::query("DELETE FROM users WHERE tenant_id = $1 AND id = $2")
                        .bind(&t)
                        .bind(&i)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    sqlx::query(
                        "UPDATE refresh_tokens SET revoked = 1 WHERE tenant_id = $1 AND user_id = $2",
                    )
                    .bind(&t)
                    .bind(&i)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(n == 1)
                })
            }

            fn insert_users(&self, users: Vec<User>) -> BoxFuture<'_, ()> {
                Box::pin(self.insert_user_batch(users))
            }

            fn group(&self, tenant_id: &str, id: &str) -> BoxFuture<'_, Option<Group>> {
                let (t, i) = (tenant_id.to_owned(), id.to_ascii_lowercase());
                Box::pin(async move {
                    self.doc(
                        "SELECT doc FROM groups WHERE tenant_id = $1 AND id = $2",
                        &t,
                        &i,
                    )
                    .await
                })
            }

            fn list_groups(&self, tenant_id: &str, query: &ListQuery) -> BoxFuture<'_, Vec<Group>> {
                let (t, q) = (tenant_id.to_owned(), query.clone());
                Box::pin(
                    async move { list_rows(&self.pool, ("groups", "doc"), filter::GROUP_COLUMNS, &t, &q, doc_from_row).await },
                )
            }

            fn count_groups(
                &self,
                tenant_id: &str,
                f: Option<&tessera_proto::odata::Filter>,
            ) -> BoxFuture<'_, u64> {
                let (t, f) = (tenant_id.to_owned(), f.cloned());
                Box::pin(async move {
                    count_rows(&self.pool, "groups", filter::GROUP_COLUMNS, &t, f.as_ref()).await
                })
            }

            fn list_applications(&self, tenant_id: &str) -> BoxFuture<'_, Vec<Application>> {
                let t = tenant_id.to_owned();
                Box::pin(async move {
                    let docs: Vec<String> = sqlx::query_scalar(
                        "SELECT doc FROM applications WHERE tenant_id = $1 ORDER BY client_id",
                    )
                    .bind(&t)
                    .fetch_all(&self.pool)
                    .await?;
                    docs.iter().map(|d| from_doc(d)).collect()
                })
            }

            fn delete_application(&self, tenant_id: &str, client_id: &str) -> BoxFuture<'_, bool> {
                let (t, c) = (tenant_id.to_owned(), client_id.to_ascii_lowercase());
                Box::pin(async move {
                    let mut tx = self.pool.begin_with(<$store as Dialect>::BEGIN_WRITE).await?;
                    let app: Option<String> = sqlx::query_scalar(
                        "SELECT doc FROM applications WHERE tenant_id = $1 AND client_id = $2",
                    )
                    .bind(&t)
                    .bind(&c)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(app) = app else { return Ok(false) };
                    let app: Application = from_doc(&app)?;
                    sqlx::query("DELETE FROM applications WHERE tenant_id = $1 AND client_id = $2")
                        .bind(&t)
                        .bind(&c)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM app_identifiers WHERE tenant_id = $1 AND client_id = $2")
                        .bind(&t)
                        .bind(&c)
                        .execute(&mut *tx)
                        .await?;
                    for object in [&app.object_id, &app.service_principal_id] {
                        sqlx::query(
                            "DELETE FROM policy_assignments WHERE tenant_id = $1 AND object_id = $2",
                        )
                        .bind(&t)
                        .bind(object)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(true)
                })
            }

            fn policies(&self, tenant_id: &str) -> BoxFuture<'_, Vec<TokenLifetimePolicy>> {
                let t = tenant_id.to_owned();
                Box::pin(async move {
                    let docs: Vec<String> = sqlx::query_scalar(
                        "SELECT doc FROM token_lifetime_policies WHERE tenant_id = $1 ORDER BY id",
                    )
                    .bind(&t)
                    .fetch_all(&self.pool)
                    .await?;
                    docs.iter().map(|d| from_doc(d)).collect()
                })
            }

            fn put_policy(&self, policy: TokenLifetimePolicy) -> BoxFuture<'_, ()> {
                Box::pin(async move {
                    let doc = to_doc(&policy)?;
                    sqlx::query(
                        "INSERT INTO token_lifetime_policies (tenant_id, id, is_org_default, doc) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (tenant_id, id) DO UPDATE SET is_org_default = excluded.is_org_default, doc = excluded.doc",
                    )
                    .bind(&policy.tenant_id)
                    .bind(&policy.id)
                    .bind(i64::from(policy.is_organization_default))
                    .bind(doc)
                    .execute(&self.pool)
                    .await
                    .map_err(unique_to_conflict)?;
                    Ok(())
                })
            }

            fn delete_policy(&self, tenant_id: &str, id: &str) -> BoxFuture<'_, bool> {
                let (t, i) = (tenant_id.to_owned(), id.to_ascii_lowercase());
                Box::pin(async move {
                    let mut tx = self.pool.begin().await?;
                    let n =
                        sqlx::query("DELETE FROM token_lifetime_policies WHERE tenant_id = $1 AND id = $2")
                            .bind(&t)
                            .bind(&i)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                    sqlx::query("DELETE FROM policy_assignments WHERE tenant_id = $1 AND policy_id = $2")
                        .bind(&t)
                        .bind(&i)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(n == 1)
                })
            }

            fn assign_policy(&self, a: PolicyAssignment) -> BoxFuture<'_, AssignOutcome> {
                Box::pin(async move {
                    // The primary key (tenant, object) makes the first assignment win; the
                    // loop covers an assignment removed between our insert and our look.
                    loop {
                        let inserted = sqlx::query(
                            "INSERT INTO policy_assignments (tenant_id, object_id, object_kind, policy_id) VALUES ($1, $2, $3, $4)
                             ON CONFLICT (tenant_id, object_id) DO NOTHING",
                        )
                        .bind(&a.tenant_id)
                        .bind(&a.object_id)
                        .bind(a.kind.as_str())
                        .bind(&a.policy_id)
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                        if inserted == 1 {
                            return Ok(AssignOutcome::Assigned);
                        }
                        let current: Option<String> = sqlx::query_scalar("SELECT policy_id FROM policy_assignments WHERE tenant_id = $1 AND object_id = $2")
                            .bind(&a.tenant_id)
                            .bind(&a.object_id)
                            .fetch_optional(&self.pool)
                            .await?;
                        match current {
                            Some(p) if p == a.policy_id => return Ok(AssignOutcome::AlreadyAssigned),
                            Some(_) => return Ok(AssignOutcome::OtherPolicyAssigned),
                            None => continue,
                        }
                    }
                })
            }

            fn unassign_policy(
                &self,
                tenant_id: &str,
                object_id: &str,
                policy_id: &str,
            ) -> BoxFuture<'_, bool> {
                let (t, o, p) = (
                    tenant_id.to_owned(),
                    object_id.to_owned(),
                    policy_id.to_ascii_lowercase(),
                );
                Box::pin(async move {
                    let n = sqlx::query("DELETE FROM policy_assignments WHERE tenant_id = $1 AND object_id = $2 AND policy_id = $3")
                        .bind(&t)
                        .bind(&o)
                        .bind(&p)
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                    Ok(n == 1)
                })
            }

            fn policy_assignments(&self, tenant_id: &str) -> BoxFuture<'_, Vec<PolicyAssignment>> {
                let t = tenant_id.to_owned();
                Box::pin(async move {
                    let rows = sqlx::query("SELECT tenant_id, object_id, object_kind, policy_id FROM policy_assignments WHERE tenant_id = $1 ORDER BY object_id")
                        .bind(&t)
                        .fetch_all(&self.pool)
                        .await?;
                    rows.iter()
                        .map(|r| {
                            let kind: String = r.try_get("object_kind")?;
                            Ok(PolicyAssignment {
                                tenant_id: r.try_get("tenant_id")?,
                                object_id: r.try_get("object_id")?,
                                kind: ObjectKind::parse(&kind).ok_or_else(|| {
                                    StoreError::Corrupt(format!("assignment kind {kind}"))
                                })?,
                                policy_id: r.try_get("policy_id")?,
                            })
                        })
                        .collect()
                })
            }

            fn insert_device_code(&self, r: DeviceCodeRecord) -> BoxFuture<'_, ()> {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO device_codes (hash, user_code, tenant_id, client_id, scope, claims, created_at, expires_at, interval_seconds, last_poll_at, status, user_id, session_id)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    )
                    .bind(&r.hash)
                    .bind(&r.user_code)
                    .bind(&r.tenant_id)
                    .bind(&r.client_id)
                    .bind(&r.scope)
                    .bind(&r.claims)
                    .bind(r.created_at)
                    .bind(r.expires_at)
                    .bind(r.interval_seconds)
                    .bind(r.last_poll_at)
                    .bind(r.status.as_str())
                    .bind(&r.user_id)
                    .bind(&r.session_id)
                    .execute(&self.pool)
                    .await
                    .map_err(unique_to_conflict)?;
                    Ok(())
                })
            }

            fn device_code(&self, hash: &str) -> BoxFuture<'_, Option<DeviceCodeRecord>> {
                let h = hash.to_owned();
                Box::pin(async move {
                    let row = sqlx::query("SELECT * FROM device_codes WHERE hash = $1")
                        .bind(&h)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(device_from_row).transpose()
                })
            }

            fn device_code_by_user_code(&self, user_code: &str) -> BoxFuture<'_, Option<DeviceCodeRecord>> {
                let c = user_code.to_owned();
                Box::pin(async move {
                    let row = sqlx::query("SELECT * FROM device_codes WHERE user_code = $1")
                        .bind(&c)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(device_from_row).transpose()
                })
            }

            fn poll_device_code(&self, hash: &str, at: i64) -> BoxFuture<'_, i64> {
                let h = hash.to_owned();
                Box::pin(async move {
                    let mut tx = self.pool.begin_with(<$store as Dialect>::BEGIN_WRITE).await?;
                    let previous: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT last_poll_at FROM device_codes WHERE hash = $1{}",
                        <$store as Dialect>::LOCK_ROWS
                    )))
                    .bind(&h)
                    .fetch_optional(&mut *tx)
                    .await?;
                    sqlx::query("UPDATE device_codes SET last_poll_at = $2 WHERE hash = $1")
                        .bind(&h)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(previous.unwrap_or(0))
                })
            }

            fn transition_device_code(
                &self,
                hash: &str,
                from: DeviceCodeStatus,
                to: DeviceCodeStatus,
                user_id: Option<&str>,
                session_id: Option<&str>,
            ) -> BoxFuture<'_, bool> {
                let (h, u, s) = (
                    hash.to_owned(),
                    user_id.map(str::to_owned),
                    session_id.map(str::to_owned),
                );
                Box::pin(async move {
                    let n = sqlx::query(
                        "UPDATE device_codes SET status = $3, user_id = coalesce($4, user_id), session_id = coalesce($5, session_id)
                         WHERE hash = $1 AND status = $2",
                    )
                    .bind(&h)
                    .bind(from.as_str())
                    .bind(to.as_str())
                    .bind(&u)
                    .bind(&s)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                    Ok(n == 1)
                })
            }

            fn insert_auth_code(&self, record: AuthCodeRecord) -> BoxFuture<'_, ()> {
                Box::pin(async move {
                    let doc = to_doc(&record)?;
                    sqlx::query(
                        "INSERT INTO auth_codes (hash, doc, expires_at, redeemed) VALUES ($1, $2, $3, 0)",
                    )
                    .bind(&record.hash)
                    .bind(doc)
                    .bind(record.expires_at)
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                })
            }

            fn redeem_auth_code(&self, hash: &str) -> BoxFuture<'_, CodeRedemption> {
                let h = hash.to_owned();
                Box::pin(async move {
                    let mut tx = self.pool.begin_with(<$store as Dialect>::BEGIN_WRITE).await?;
                    let row = sqlx::query("SELECT doc, redeemed FROM auth_codes WHERE hash = $1")
                        .bind(&h)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(row) = row else {
                        return Ok(CodeRedemption::Unknown);
                    };
                    if row.try_get::<i64, _>("redeemed")? != 0 {
                        return Ok(CodeRedemption::AlreadyRedeemed);
                    }
                    let n =
                        sqlx::query("UPDATE auth_codes SET redeemed = 1 WHERE hash = $1 AND redeemed = 0")
                            .bind(&h)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                    if n != 1 {
                        return Ok(CodeRedemption::AlreadyRedeemed);
                    }
                    let doc: String = row.try_get("doc")?;
                    tx.commit().await?;
                    Ok(CodeRedemption::Redeemed(Box::new(from_doc(&doc)?)))
                })
            }

            fn insert_session(&self, s: SigninSession) -> BoxFuture<'_, ()> {
                Box::pin(async move {
                    sqlx::query("INSERT INTO signin_sessions (hash, tenant_id, user_id, created_at, auth_time, mfa_at, ended) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                        .bind(&s.hash)
                        .bind(&s.tenant_id)
                        .bind(&s.user_id)
                        .bind(s.created_at)
                        .bind(s.auth_time)
                        .bind(s.mfa_at)
                        .bind(i64::from(s.ended))
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                })
            }

            fn session(&self, hash: &str) -> BoxFuture<'_, Option<SigninSession>> {
                let h = hash.to_owned();
                Box::pin(async move {
                    let row = sqlx::query("SELECT * FROM signin_sessions WHERE hash = $1")
                        .bind(&h)
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(session_from_row).transpose()
                })
            }

            fn end_session(&self, hash: &str) -> BoxFuture<'_, ()> {
                let h = hash.to_owned();
                Box::pin(async move {
                    sqlx::query("UPDATE signin_sessions SET ended = 1 WHERE hash = $1")
                        .bind(&h)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                })
            }

            fn set_session_mfa(&self, hash: &str, at: i64) -> BoxFuture<'_, ()> {
                let h = hash.to_owned();
                Box::pin(async move {
                    sqlx::query("UPDATE signin_sessions SET mfa_at = $2 WHERE hash = $1")
                        .bind(&h)
                        .bind(at)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                })
            }

            fn user_consent(
                &self,
                tenant_id: &str,
                user_id: &str,
                client_id: &str,
                resource_key: &str,
            ) -> BoxFuture<'_, Vec<String>> {
                let (t, u, c, r) = (
                    tenant_id.to_owned(),
                    user_id.to_owned(),
                    client_id.to_ascii_lowercase(),
                    resource_key.to_owned(),
                );
                Box::pin(async move {
                    let scopes: Option<String> =
                        sqlx::query_scalar("SELECT scopes FROM user_consents WHERE tenant_id = $1 AND user_id = $2 AND client_id = $3 AND resource_key = $4")
                            .bind(&t)
                            .bind(&u)
                            .bind(&c)
                            .bind(&r)
                            .fetch_optional(&self.pool)
                            .await?;
                    Ok(scopes
                        .map(|s| s.split_whitespace().map(str::to_owned).collect())
                        .unwrap_or_default())
                })
            }

            fn add_user_consent(
                &self,
                tenant_id: &str,
                user_id: &str,
                client_id: &str,
                resource_key: &str,
                scopes: Vec<String>,
            ) -> BoxFuture<'_, ()> {
                let (t, u, c, r) = (
                    tenant_id.to_owned(),
                    user_id.to_owned(),
                    client_id.to_ascii_lowercase(),
                    resource_key.to_owned(),
                );
                Box::pin(async move {
                    let mut tx = self.pool.begin_with(<$store as Dialect>::BEGIN_WRITE).await?;
                    // Make sure the row exists, then lock it: two consents given at once (on
                    // two servers) both end up in it instead of the later replacing the other.
                    sqlx::query(
                        "INSERT INTO user_consents (tenant_id, user_id, client_id, resource_key, scopes) VALUES ($1, $2, $3, $4, '')
                         ON CONFLICT (tenant_id, user_id, client_id, resource_key) DO NOTHING",
                    )
                    .bind(&t)
                    .bind(&u)
                    .bind(&c)
                    .bind(&r)
                    .execute(&mut *tx)
                    .await?;
                    let existing: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT scopes FROM user_consents WHERE tenant_id = $1 AND user_id = $2 AND client_id = $3 AND resource_key = $4{}",
                        <$store as Dialect>::LOCK_ROWS
                    )))
                    .bind(&t)
                    .bind(&u)
                    .bind(&c)
                    .bind(&r)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let mut all: Vec<String> = existing
                        .map(|s| s.split_whitespace().map(str::to_owned).collect())
                        .unwrap_or_default();
                    for s in scopes {
                        if !all.iter().any(|a| a.eq_ignore_ascii_case(&s)) {
                            all.push(s);
                        }
                    }
                    sqlx::query(
                        "INSERT INTO user_consents (tenant_id, user_id, client_id, resource_key, scopes) VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (tenant_id, user_id, client_id, resource_key) DO UPDATE SET scopes = excluded.scopes",
                    )
                    .bind(&t)
                    .bind(&u)
                    .bind(&c)
                    .bind(&r)
                    .bind(all.join(" "))
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(())
                })
            }

            fn update_failure_counter(
                &self,
                key: &str,
                update: CounterUpdate,
            ) -> BoxFuture<'_, FailureCounter> {
                let k = key.to_owned();
                Box::pin(async move {
                    let mut tx = self.pool.begin_with(<$store as Dialect>::BEGIN_WRITE).await?;
                    // Make sure the row exists, then lock it: failures counted at once on two
                    // servers both count.
                    sqlx::query(
                        "INSERT INTO signin_failures (key, failures, window_start, locked_until) VALUES ($1, 0, 0, 0)
                         ON CONFLICT (key) DO NOTHING",
                    )
                    .bind(&k)
                    .execute(&mut *tx)
                    .await?;
                    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT failures, window_start, locked_until FROM signin_failures WHERE key = $1{}",
                        <$store as Dialect>::LOCK_ROWS
                    )))
                    .bind(&k)
                    .fetch_one(&mut *tx)
                    .await?;
                    let next = update(counter_from_row(&row)?);
                    sqlx::query(
                        "UPDATE signin_failures SET failures = $2, window_start = $3, locked_until = $4 WHERE key = $1",
                    )
                    .bind(&k)
                    .bind(next.failures)
                    .bind(next.window_start)
                    .bind(next.locked_until)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(next)
                })
            }

            fn failure_counters(&self, keys: &[String]) -> BoxFuture<'_, Vec<FailureCounter>> {
                let keys = keys.to_vec();
                Box::pin(async move {
                    let mut counters = Vec::new();
                    for k in keys {
                        let row = sqlx::query(
                            "SELECT failures, window_start, locked_until FROM signin_failures WHERE key = $1",
                        )
                        .bind(&k)
                        .fetch_optional(&self.pool)
                        .await?;
                        if let Some(row) = row {
                            counters.push(counter_from_row(&row)?);
                        }
                    }
                    Ok(counters)
                })
            }

            fn delete_failure_counter(&self, key: &str) -> BoxFuture<'_, ()> {
                let k = key.to_owned();
                Box::pin(async move {
                    sqlx::query("DELETE FROM signin_failures WHERE key = $1")
                        .bind(&k)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                })
            }

            fn forget_failure_counters(&self, before: i64, now: i64) -> BoxFuture<'_, ()> {
                Box::pin(async move {
                    sqlx::query("DELETE FROM signin_failures WHERE window_start < $1 AND locked_until <= $2")
                        .bind(before)
                        .bind(now)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
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
            $($extra)*
        }
    };
}

pub(super) use sql_store;
