//! The `Store` contract on both backends: the same calls against a fresh SQLite file and a
//! fresh PostgreSQL database, and the read-modify-writes raced between two stores on one
//! database, as two server processes would race them.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use tessera_server::store::{
    Application, AssignOutcome, AuthCodeRecord, CodeRedemption, DeviceCodeRecord, DeviceCodeStatus,
    JtiOutcome, ListOrder, ListQuery, ObjectKind, PolicyAssignment, PostgresStore, PostgresUrl,
    RefreshTokenRecord, SqliteStore, Store, StoreError, Tenant, TokenLifetimePolicy, User,
};

use crate::support::PgDatabase;

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const RACERS: usize = 12;

/// Two stores on one database, and what keeps the database alive.
struct Backend {
    name: &'static str,
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    _db: Option<PgDatabase>,
}

/// SQLite always; PostgreSQL when it is reachable (the skip is printed).
async fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tessera.db");
    let sqlite = Backend {
        name: "sqlite",
        a: Arc::new(SqliteStore::open(&path).await.expect("sqlite a")),
        b: Arc::new(SqliteStore::open(&path).await.expect("sqlite b")),
        _dir: Some(dir),
        _db: None,
    };
    let mut all = vec![sqlite];
    if let Some(db) = PgDatabase::create().await {
        let url = PostgresUrl::parse(&db.url).expect("test URL");
        all.push(Backend {
            name: "postgres",
            a: Arc::new(PostgresStore::open(&url).await.expect("postgres a")),
            b: Arc::new(PostgresStore::open(&url).await.expect("postgres b")),
            _dir: None,
            _db: Some(db),
        });
    }
    all
}

fn tenant() -> Tenant {
    Tenant {
        id: TENANT.into(),
        domain: "contoso.example".into(),
        display_name: "Contoso".into(),
        lifetime_precedence: Default::default(),
    }
}

fn user(n: usize, name: &str) -> User {
    User {
        tenant_id: TENANT.into(),
        id: format!("00000000-0000-0000-0000-{n:012}"),
        user_principal_name: format!("user{n}@contoso.example"),
        display_name: name.into(),
        given_name: None,
        surname: None,
        mail: None,
        password_hash: None,
        account_enabled: true,
        mfa_required: false,
        tokens_valid_after: 0,
        mfa_totp_secret: None,
        revoked_at_ms: 0,
        session_generation: 0,
        created_at: 0,
        extra: BTreeMap::new(),
        directory_roles: Vec::new(),
    }
}

fn app(client_id: &str) -> Application {
    Application {
        tenant_id: TENANT.into(),
        client_id: client_id.into(),
        object_id: format!("{client_id}-object"),
        service_principal_id: format!("{client_id}-sp"),
        display_name: "api".into(),
        public_client: false,
        access_token_version: 2,
        identifier_uris: vec!["api://contoso-api".into()],
        redirect_uris: Vec::new(),
        secrets: Vec::new(),
        certificates: Vec::new(),
        app_roles: Vec::new(),
        oauth2_scopes: vec!["read".into()],
        application_permissions: BTreeMap::new(),
        delegated_permissions: BTreeMap::new(),
        managed_identity: false,
        created_at: 0,
        has_service_principal: true,
        application_extra: BTreeMap::new(),
        service_principal_extra: BTreeMap::new(),
        saml: Default::default(),
    }
}

fn policy(id: &str, default: bool) -> TokenLifetimePolicy {
    TokenLifetimePolicy {
        tenant_id: TENANT.into(),
        id: id.into(),
        display_name: id.into(),
        description: None,
        definition: vec![r#"{"TokenLifetimePolicy":{"Version":1}}"#.into()],
        is_organization_default: default,
        access_token_seconds: 3600,
    }
}

fn refresh(hash: &str, user_id: &str) -> RefreshTokenRecord {
    RefreshTokenRecord {
        hash: hash.into(),
        tenant_id: TENANT.into(),
        client_id: "client".into(),
        user_id: user_id.into(),
        scope: "openid".into(),
        session_id: "session".into(),
        issued_at: 100,
        last_used_at: 100,
        revoked: false,
        generation: 0,
    }
}

fn device(hash: &str, status: DeviceCodeStatus) -> DeviceCodeRecord {
    DeviceCodeRecord {
        hash: hash.into(),
        user_code: format!("CODE-{hash}"),
        tenant_id: TENANT.into(),
        client_id: "client".into(),
        scope: "openid".into(),
        claims: None,
        created_at: 0,
        expires_at: 900,
        interval_seconds: 5,
        last_poll_at: 0,
        status,
        user_id: Some("u".into()),
        session_id: Some("s".into()),
    }
}

fn auth_code(hash: &str) -> AuthCodeRecord {
    AuthCodeRecord {
        hash: hash.into(),
        tenant_id: TENANT.into(),
        client_id: "client".into(),
        redirect_uri: "http://localhost".into(),
        scope: "openid".into(),
        nonce: None,
        code_challenge: None,
        code_challenge_method: None,
        user_id: "u".into(),
        session_id: "s".into(),
        auth_time: 0,
        claims: None,
        created_at: 0,
        expires_at: 600,
        mfa: false,
    }
}

/// The store of racer `i`: alternately the first and the second server's.
fn pick(b: &Backend, i: usize) -> Arc<dyn Store> {
    if i.is_multiple_of(2) {
        b.a.clone()
    } else {
        b.b.clone()
    }
}

/// Runs `RACERS` calls of `f` at once, half on each store, and returns their results.
async fn race<T, F, Fut>(b: &Backend, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Arc<dyn Store>, usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| tokio::spawn(f(pick(b, i), i)))
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("racer"));
    }
    out
}

#[tokio::test]
async fn records_round_trip_on_both_backends() {
    for b in backends().await {
        let (s, name) = (b.a.as_ref(), b.name);
        s.put_tenant(tenant()).await.expect("tenant");
        let found = s.tenant("CONTOSO.example").await.expect("by domain");
        assert_eq!(found.map(|t| t.id), Some(TENANT.to_owned()), "{name}");

        s.put_application(app("aaaaaaaa-0000-0000-0000-000000000001"))
            .await
            .expect("app");
        let by_uri = s
            .application_by_identifier(TENANT, "api://contoso-api")
            .await
            .expect("by identifier");
        assert_eq!(by_uri.map(|a| a.display_name), Some("api".into()), "{name}");

        // Names chosen so that bytewise order differs from a linguistic one (case, accents).
        let names = ["alex", "Alex", "Zoë", "zed", "Émile", "bob", "Bob", "_x"];
        let users: Vec<User> = (0..24).map(|n| user(n, names[n % names.len()])).collect();
        s.insert_users(users.clone()).await.expect("bulk insert");
        let again = s.insert_users(vec![users[3].clone()]).await;
        assert!(
            matches!(again, Err(StoreError::Conflict(_))),
            "{name}: {again:?}"
        );
        let mut clash = user(99, "clash");
        clash.user_principal_name = users[0].user_principal_name.clone();
        let clash = s.put_user(clash).await;
        assert!(
            matches!(clash, Err(StoreError::Conflict(_))),
            "{name}: {clash:?}"
        );

        // A keyset walk by display name in pages of 5 sees every user once, in bytewise
        // (display name, id) order, the same on both backends.
        let mut walked = Vec::new();
        let mut query = ListQuery {
            filter: None,
            order: ListOrder::DisplayName { descending: false },
            after: None,
            limit: 5,
        };
        loop {
            let page = s.list_users(TENANT, &query).await.expect("page");
            let Some(last) = page.last() else { break };
            query.after = Some(tessera_server::store::Cursor {
                display_name: Some(last.display_name.clone()),
                id: last.id.clone(),
            });
            walked.extend(page.into_iter().map(|u| (u.display_name, u.id)));
        }
        let mut expected: Vec<(String, String)> = users
            .iter()
            .map(|u| (u.display_name.clone(), u.id.clone()))
            .collect();
        expected.sort();
        assert_eq!(walked, expected, "{name}");
        let filter =
            tessera_proto::odata::parse_filter("startswith(displayName,'al')").expect("filter");
        assert_eq!(
            s.count_users(TENANT, Some(&filter)).await.expect("count"),
            6,
            "{name}: alex and Alex, case-insensitively"
        );

        // Refresh tokens: last use only moves forward; deleting the user revokes them.
        s.insert_refresh_token(refresh("rt1", &users[1].id))
            .await
            .expect("rt");
        s.touch_refresh_token("rt1", 50).await.expect("touch back");
        s.touch_refresh_token("rt1", 500).await.expect("touch");
        let rt = s.refresh_token("rt1").await.expect("read").expect("rt1");
        assert_eq!((rt.last_used_at, rt.revoked), (500, false), "{name}");
        assert!(s.delete_user(TENANT, &users[1].id).await.expect("delete"));
        let rt = s.refresh_token("rt1").await.expect("read").expect("rt1");
        assert!(rt.revoked, "{name}: deleting the user revokes its tokens");

        s.put_policy(policy("p1", true)).await.expect("default");
        let second = s.put_policy(policy("p2", true)).await;
        assert!(
            matches!(second, Err(StoreError::Conflict(_))),
            "{name}: one organization default: {second:?}"
        );

        s.insert_auth_code(auth_code("code")).await.expect("code");
        assert!(matches!(
            s.redeem_auth_code("code").await.expect("redeem"),
            CodeRedemption::Redeemed(_)
        ));
        assert_eq!(
            s.redeem_auth_code("code").await.expect("again"),
            CodeRedemption::AlreadyRedeemed,
            "{name}"
        );
        assert_eq!(
            s.redeem_auth_code("nope").await.expect("unknown"),
            CodeRedemption::Unknown
        );

        s.set_meta("k", "one").await.expect("meta");
        s.set_meta("k", "two").await.expect("meta again");
        assert_eq!(
            s.meta("k").await.expect("read"),
            Some("two".into()),
            "{name}"
        );
    }
}

#[tokio::test]
async fn read_modify_writes_hold_between_two_servers() {
    for b in backends().await {
        let name = b.name;
        b.a.put_tenant(tenant()).await.expect("tenant");

        // One assertion id, many different assertions at once: exactly one is new.
        let outcomes = race(&b, |s, i| async move {
            s.record_assertion_jti("client", "jti-1", &format!("hash-{i}"), 1_000, 0)
                .await
                .expect("jti")
        })
        .await;
        let new: Vec<usize> = (0..RACERS)
            .filter(|i| outcomes[*i] == JtiOutcome::New)
            .collect();
        assert_eq!(new.len(), 1, "{name}: {outcomes:?}");
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == JtiOutcome::Replayed)
                .count(),
            RACERS - 1,
            "{name}"
        );
        let same =
            b.b.record_assertion_jti("client", "jti-1", &format!("hash-{}", new[0]), 1_000, 0)
                .await
                .expect("same");
        assert_eq!(same, JtiOutcome::SameAssertion, "{name}");

        // An authorization code is redeemed once, whoever asks.
        b.a.insert_auth_code(auth_code("race")).await.expect("code");
        let redeemed = race(&b, |s, _| async move {
            matches!(
                s.redeem_auth_code("race").await.expect("redeem"),
                CodeRedemption::Redeemed(_)
            )
        })
        .await;
        assert_eq!(redeemed.iter().filter(|r| **r).count(), 1, "{name}");

        // An approved device code is redeemed once.
        b.a.insert_device_code(device("dev", DeviceCodeStatus::Approved))
            .await
            .expect("device code");
        let moved = race(&b, |s, _| async move {
            s.transition_device_code(
                "dev",
                DeviceCodeStatus::Approved,
                DeviceCodeStatus::Redeemed,
                None,
                None,
            )
            .await
            .expect("transition")
        })
        .await;
        assert_eq!(moved.iter().filter(|m| **m).count(), 1, "{name}");

        // Polls at once each see a different previous poll: they are ordered, none lost.
        b.a.insert_device_code(device("poll", DeviceCodeStatus::Pending))
            .await
            .expect("device code");
        let previous = race(&b, |s, i| async move {
            s.poll_device_code("poll", 1_000 + i64::try_from(i).expect("small"))
                .await
                .expect("poll")
        })
        .await;
        let distinct: HashSet<i64> = previous.iter().copied().collect();
        assert_eq!(distinct.len(), RACERS, "{name}: {previous:?}");
        assert!(distinct.contains(&0), "{name}: one poll was the first");

        // One policy per object: of many assigned at once, one wins.
        for i in 0..RACERS {
            b.a.put_policy(policy(&format!("race-{i}"), false))
                .await
                .expect("policy");
        }
        let outcomes = race(&b, |s, i| async move {
            s.assign_policy(PolicyAssignment {
                tenant_id: TENANT.into(),
                object_id: "object".into(),
                kind: ObjectKind::ServicePrincipal,
                policy_id: format!("race-{i}"),
            })
            .await
            .expect("assign")
        })
        .await;
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == AssignOutcome::Assigned)
                .count(),
            1,
            "{name}: {outcomes:?}"
        );
        assert_eq!(
            b.b.policy_assignments(TENANT).await.expect("list").len(),
            1,
            "{name}"
        );

        // Consents given at once all count: none replaces another.
        race(&b, |s, i| async move {
            s.add_user_consent(TENANT, "u", "client", "api", vec![format!("scope{i}")])
                .await
                .expect("consent")
        })
        .await;
        let scopes =
            b.a.user_consent(TENANT, "u", "client", "api")
                .await
                .expect("consent");
        assert_eq!(scopes.len(), RACERS, "{name}: {scopes:?}");

        // Touches at once keep the latest use.
        b.a.insert_refresh_token(refresh("touched", "u"))
            .await
            .expect("rt");
        race(&b, |s, i| async move {
            s.touch_refresh_token("touched", 1_000 + i64::try_from(i).expect("small"))
                .await
                .expect("touch")
        })
        .await;
        let rt =
            b.b.refresh_token("touched")
                .await
                .expect("read")
                .expect("rt");
        assert_eq!(
            rt.last_used_at,
            1_000 + i64::try_from(RACERS - 1).expect("small"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn postgres_refuses_text_it_cannot_hold_as_invalid() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let url = PostgresUrl::parse(&db.url).expect("test URL");
    let s = PostgresStore::open(&url).await.expect("open");
    let found = s.application(TENANT, "nul\0client").await;
    assert!(
        matches!(found, Err(StoreError::Invalid(_))),
        "a NUL is the request's fault: {found:?}"
    );
}

#[tokio::test]
async fn an_older_copy_of_a_user_never_undoes_a_revocation() {
    for b in backends().await {
        let name = b.name;
        b.a.put_tenant(tenant()).await.expect("tenant");
        let stale = user(1, "Megan");
        b.a.put_user(stale.clone()).await.expect("user");
        // One server revokes the user's sessions while another edits the copy it read before.
        let revoked = User {
            session_generation: 1,
            revoked_at_ms: 1_000_500,
            tokens_valid_after: 1_000,
            ..stale.clone()
        };
        b.a.put_user(revoked).await.expect("revoke");
        b.b.put_user(User {
            display_name: "Megan Bowen".into(),
            ..stale.clone()
        })
        .await
        .expect("edit");
        let read =
            b.a.user(TENANT, &stale.id)
                .await
                .expect("read")
                .expect("user");
        assert_eq!(read.display_name, "Megan Bowen", "{name}: the edit applies");
        assert_eq!(
            (
                read.session_generation,
                read.revoked_at_ms,
                read.tokens_valid_after
            ),
            (1, 1_000_500, 1_000),
            "{name}: the revocation stays"
        );
        let listed =
            b.b.list_users(
                TENANT,
                &ListQuery {
                    filter: None,
                    order: ListOrder::Id,
                    after: None,
                    limit: 10,
                },
            )
            .await
            .expect("list");
        assert_eq!(listed[0].session_generation, 1, "{name}");
        let by_upn =
            b.b.user_by_upn(TENANT, &stale.user_principal_name)
                .await
                .expect("by upn")
                .expect("user");
        assert_eq!(by_upn.session_generation, 1, "{name}");
    }
}
