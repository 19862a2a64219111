//! Token lifetime policies and their assignments to applications and the organization.

/// The `Store` methods of this part, for `sql_store!`'s `impl Store` (where every name they
/// use is in scope: the backend's module imports them).
macro_rules! sql_policies {
    () => {
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
    };
}

pub(crate) use sql_policies;
