//! Sign-in state: SSO sessions, user consent, the password and device code limits'
//! failure counters, and the store's own metadata.

/// The `Store` methods of this part, for `sql_store!`'s `impl Store` (where every name they
/// use is in scope: the backend's module imports them).
macro_rules! sql_sessions {
    () => {
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

        fn insert_portal_session(&self, s: PortalSession) -> BoxFuture<'_, ()> {
            Box::pin(async move {
                sqlx::query("DELETE FROM portal_sessions WHERE expires_at < $1")
                    .bind(s.created_at_ms / 1000 - 86_400)
                    .execute(&self.pool)
                    .await?;
                sqlx::query("INSERT INTO portal_sessions (hash, tenant_id, user_id, access_token, created_at_ms, expires_at, ended) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                    .bind(&s.hash)
                    .bind(&s.tenant_id)
                    .bind(&s.user_id)
                    .bind(&s.access_token)
                    .bind(s.created_at_ms)
                    .bind(s.expires_at)
                    .bind(i64::from(s.ended))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            })
        }

        fn portal_session(&self, hash: &str) -> BoxFuture<'_, Option<PortalSession>> {
            let h = hash.to_owned();
            Box::pin(async move {
                let row = sqlx::query("SELECT * FROM portal_sessions WHERE hash = $1")
                    .bind(&h)
                    .fetch_optional(&self.pool)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                Ok(Some(PortalSession {
                    hash: row.try_get("hash")?,
                    tenant_id: row.try_get("tenant_id")?,
                    user_id: row.try_get("user_id")?,
                    access_token: row.try_get("access_token")?,
                    created_at_ms: row.try_get("created_at_ms")?,
                    expires_at: row.try_get("expires_at")?,
                    ended: row.try_get::<i64, _>("ended")? != 0,
                }))
            })
        }

        fn end_portal_session(&self, hash: &str) -> BoxFuture<'_, ()> {
            let h = hash.to_owned();
            Box::pin(async move {
                sqlx::query("UPDATE portal_sessions SET ended = 1 WHERE hash = $1")
                    .bind(&h)
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
                let mut tx = self.pool.begin_with(<Self as Dialect>::BEGIN_WRITE).await?;
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
                    <Self as Dialect>::LOCK_ROWS
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
                let mut tx = self.pool.begin_with(<Self as Dialect>::BEGIN_WRITE).await?;
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
                    <Self as Dialect>::LOCK_ROWS
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
    };
}

pub(crate) use sql_sessions;
