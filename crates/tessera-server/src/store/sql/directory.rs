//! The directory's SQL: tenants, applications (with their identifier URIs), users and
//! groups, their lists and counts. Expanded inside `sql_store!`'s `impl Store`.

/// The `Store` methods of this part, for `sql_store!`'s `impl Store` (where every name they
/// use is in scope: the backend's module imports them).
macro_rules! sql_directory {
    () => {
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


        fn delete_group(&self, tenant_id: &str, id: &str) -> BoxFuture<'_, bool> {
            let (t, i) = (tenant_id.to_owned(), id.to_ascii_lowercase());
            Box::pin(async move {
                let n = sqlx::query("DELETE FROM groups WHERE tenant_id = $1 AND id = $2")
                    .bind(&t)
                    .bind(&i)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                Ok(n == 1)
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
                let mut tx = self.pool.begin_with(<Self as Dialect>::BEGIN_WRITE).await?;
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
    };
}

pub(crate) use sql_directory;
