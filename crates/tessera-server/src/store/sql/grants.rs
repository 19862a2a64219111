//! The SQL of what tokens are made from and checked against: refresh tokens, signing
//! keys, assertion ids, device codes and authorization codes.

/// The `Store` methods of this part, for `sql_store!`'s `impl Store` (where every name they
/// use is in scope: the backend's module imports them).
macro_rules! sql_grants {
    () => {
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
                sqlx::query(<Self as Dialect>::FORGET_EXPIRED_JTIS)
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
                let mut tx = self.pool.begin_with(<Self as Dialect>::BEGIN_WRITE).await?;
                let previous: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT last_poll_at FROM device_codes WHERE hash = $1{}",
                    <Self as Dialect>::LOCK_ROWS
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
                let mut tx = self.pool.begin_with(<Self as Dialect>::BEGIN_WRITE).await?;
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
    };
}

pub(crate) use sql_grants;
