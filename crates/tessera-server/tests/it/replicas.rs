//! Servers on PostgreSQL: one alone (restart, bulk seeding, the flows), and two sharing one
//! database as replicas behind a load balancer would: they start together, trust each
//! other's tokens, and see each other's writes. Skipped, with a message, without PostgreSQL.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use tessera_server::ServeOptions;

use crate::portal::{csrf, fields, portal_sign_in};
use crate::support::{Browser, PgDatabase, TestServer, aadsts_code, jwt_parts, write_config};

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const PUBLIC_APP: &str = "33333333-4444-5555-6666-777777777777";
const WRITER_APP: &str = "66666666-7777-8888-9999-aaaaaaaaaaaa";
const WRITER_SECRET: &str = "writer-secret-value";
const USER: &str = "megan@contoso.example";
const PASSWORD: &str = "Megan-Pass-1";

const CONFIG: &str = r#"
[[tenants]]
id = "11111111-2222-3333-4444-555555555555"
domain = "contoso.example"

[[tenants.applications]]
client_id = "33333333-4444-5555-6666-777777777777"
display_name = "script"
public_client = true
delegated_permissions = { "https://graph.microsoft.com" = ["User.Read", "openid", "profile", "offline_access"] }

[[tenants.applications]]
client_id = "66666666-7777-8888-9999-aaaaaaaaaaaa"
display_name = "directory writer"
secrets = [{ value = "writer-secret-value" }]
application_permissions = { "https://graph.microsoft.com" = ["User.ReadWrite.All", "Policy.ReadWrite.ApplicationConfiguration"] }

[[tenants.users]]
user_principal_name = "megan@contoso.example"
display_name = "Megan Bowen"
password = "Megan-Pass-1"
"#;

fn token_url(s: &TestServer) -> String {
    format!("{}/{TENANT}/oauth2/v2.0/token", s.base)
}

async fn writer_token(s: &TestServer) -> (String, Value) {
    let (status, body) = s
        .post_form(
            &token_url(s),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", WRITER_APP),
                ("client_secret", WRITER_SECRET),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("at").to_owned();
    let claims = jwt_parts(&token).1;
    (token, claims)
}

async fn refresh(s: &TestServer, rt: &str) -> (u16, Value) {
    s.post_form(
        &token_url(s),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", PUBLIC_APP),
            ("refresh_token", rt),
        ],
    )
    .await
}

async fn graph(
    s: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = s
        .client
        .request(method, format!("{}/v1.0{path}", s.base))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.expect("graph request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn options(data_dir: &std::path::Path, db: &PgDatabase, config: &std::path::Path) -> ServeOptions {
    let mut o = ServeOptions::new(data_dir);
    o.database = Some(db.url.clone());
    o.config_file = Some(config.to_owned());
    o.test_mode = true;
    o
}

#[tokio::test]
async fn two_servers_share_one_database() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    // One data directory for both, as on one host: one CA and one demo.json.
    let shared = tempfile::tempdir().expect("tempdir");
    let config = write_config(shared.path(), CONFIG);
    let data = shared.path().join("data");
    // Both start at once on the empty database: one creates the signing key, applies the
    // configuration and seeds the demo; the other waits, then finds all of it.
    let (a, b) = tokio::join!(
        TestServer::start_options(
            tempfile::tempdir().expect("a"),
            options(&data, &db, &config),
            None
        ),
        TestServer::start_options(
            tempfile::tempdir().expect("b"),
            options(&data, &db, &config),
            None
        ),
    );
    assert_eq!(a.demo.tenant_id, b.demo.tenant_id, "one demo tenant");
    let jwks = |s: &TestServer| format!("{}/{TENANT}/discovery/v2.0/keys", s.base);
    // The same key material; only the issuer (each server's own URL) differs.
    let (_, keys_a) = a.get_json(&jwks(&a)).await;
    let (_, keys_b) = b.get_json(&jwks(&b)).await;
    let material = |keys: &Value| -> Vec<(Value, Value)> {
        keys["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| (k["kid"].clone(), k["n"].clone()))
            .collect()
    };
    assert_eq!(material(&keys_a).len(), 1, "{keys_a}");
    assert_eq!(
        material(&keys_a),
        material(&keys_b),
        "one signing key for both servers"
    );

    // A user created through Graph on one server is there on the other, whose token works.
    let (token_a, _) = writer_token(&a).await;
    let (status, created) = graph(
        &a,
        reqwest::Method::POST,
        "/users",
        &token_a,
        Some(&json!({
            "accountEnabled": true,
            "displayName": "Adele Vance",
            "mailNickname": "adele",
            "userPrincipalName": "adele@contoso.example",
            "passwordProfile": {"password": "Adele-Pass-1"}
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id");
    let (status, seen) = graph(
        &b,
        reqwest::Method::GET,
        &format!("/users/{id}"),
        &token_a,
        None,
    )
    .await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["userPrincipalName"], "adele@contoso.example");

    // A refresh token issued by one server is redeemed at the other.
    let (status, body) = a
        .post_form(
            &token_url(&a),
            &[
                ("grant_type", "password"),
                ("client_id", PUBLIC_APP),
                ("username", USER),
                ("password", PASSWORD),
                ("scope", "User.Read offline_access"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let first = body["refresh_token"].as_str().expect("rt").to_owned();
    let (status, body) = refresh(&b, &first).await;
    assert_eq!(status, 200, "{body}");
    let second = body["refresh_token"].as_str().expect("rt").to_owned();

    // Both servers rotate the same token at once: every redemption succeeds (Entra keeps a
    // redeemed token valid) and each hands out a token of its own.
    let (a, b) = (std::sync::Arc::new(a), std::sync::Arc::new(b));
    let tasks: Vec<_> = (0..8_u32)
        .map(|i| {
            let s = if i.is_multiple_of(2) {
                a.clone()
            } else {
                b.clone()
            };
            let rt = second.clone();
            tokio::spawn(async move { refresh(&s, &rt).await })
        })
        .collect();
    let mut chain = vec![first, second];
    for t in tasks {
        let (status, body) = t.await.expect("task");
        assert_eq!(status, 200, "{body}");
        chain.push(body["refresh_token"].as_str().expect("rt").to_owned());
    }
    assert_eq!(
        chain.iter().collect::<HashSet<_>>().len(),
        chain.len(),
        "every rotation issued a new token"
    );

    // Revoking the user's sessions on one server stops every token of the chain on the other.
    let r = a
        .client
        .post(format!("{}/_tessera/test/revoke-sessions", a.base))
        .json(&json!({"tenant": TENANT, "user": USER}))
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status().as_u16(), 204);
    for rt in &chain {
        let (status, body) = refresh(&b, rt).await;
        assert_eq!((status, aadsts_code(&body)), (400, 50173), "{body}");
    }

    // A lifetime policy made on one server governs the other's tokens: its cached policies
    // go when the database announces the write. Announcements arrive shortly after the
    // write, hence the bounded wait.
    let source = |s: std::sync::Arc<TestServer>, token: String| async move {
        let r = s
            .client
            .get(format!("{}/_tessera/lifetime", s.base))
            .query(&[
                ("client_id", WRITER_APP),
                ("resource", "https://graph.microsoft.com"),
            ])
            .bearer_auth(token)
            .send()
            .await
            .expect("explain");
        assert_eq!(r.status().as_u16(), 200);
        let e: Value = r.json().await.expect("json");
        e["accessToken"]["source"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(source(b.clone(), token_a.clone()).await, "default");
    let (status, body) = graph(
        &a,
        reqwest::Method::POST,
        "/policies/tokenLifetimePolicies",
        &token_a,
        Some(&json!({
            "definition": [r#"{"TokenLifetimePolicy":{"Version":1,"AccessTokenLifetime":"2:00:00"}}"#],
            "displayName": "two hours",
            "isOrganizationDefault": true
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        source(a.clone(), token_a.clone()).await,
        "organization-policy"
    );
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen.push(source(b.clone(), token_a.clone()).await);
        if seen.last().is_some_and(|s| s == "organization-policy") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen.last().map(String::as_str),
        Some("organization-policy"),
        "what the other server applied: {seen:?}"
    );
}

#[tokio::test]
async fn a_server_on_postgres_keeps_its_state_across_a_restart() {
    let Some(s) = TestServer::start_postgres(|o| o.test_mode = true).await else {
        return;
    };
    let (status, body) = s.daemon_token(&[]).await;
    assert_eq!(status, 200, "{body}");
    let kid = jwt_parts(body["access_token"].as_str().expect("at")).0["kid"].clone();
    let secret = s.demo.daemon.client_secret.clone();
    let url = s.database_url().expect("on postgres");

    // Bulk seeding goes straight into the database while the server runs.
    let report = tessera_server::seed_users(tessera_server::SeedUsers {
        data_dir: s.dir.path().join("data"),
        database: Some(url.clone()),
        tenant: None,
        count: 12_345,
    })
    .await
    .expect("seed");
    assert_eq!(report.created, 12_345);

    let dir = s.stop().await;
    let s = TestServer::start_in(dir, |o| o.test_mode = true).await;
    assert_eq!(s.database_url(), Some(url), "the same database again");
    assert_eq!(s.demo.daemon.client_secret, secret, "demo.json kept");
    let (status, body) = s.daemon_token(&[]).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("at");
    assert_eq!(jwt_parts(token).0["kid"], kid, "same signing key");
    let r = s
        .client
        .get(format!("{}/v1.0/users/$count", s.base))
        .bearer_auth(token)
        .header("ConsistencyLevel", "eventual")
        .send()
        .await
        .expect("count");
    assert_eq!(r.status().as_u16(), 200);
    let count: u64 = r
        .text()
        .await
        .expect("text")
        .trim()
        .parse()
        .expect("number");
    assert_eq!(count, 12_345 + 1, "the seeded users and the demo user");
}

#[tokio::test]
async fn a_change_in_one_replicas_portal_shows_in_the_others() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let shared = tempfile::tempdir().expect("tempdir");
    // An administrator by the configuration file's `roles`.
    let config = write_config(
        shared.path(),
        &format!(
            "{CONFIG}\n[[tenants.users]]\nuser_principal_name = \"admin@contoso.example\"\ndisplay_name = \"Admin\"\npassword = \"Admin-Pass-1\"\nroles = [\"Global Administrator\"]\n"
        ),
    );
    let data = shared.path().join("data");
    let (a, b) = tokio::join!(
        TestServer::start_options(
            tempfile::tempdir().expect("a"),
            options(&data, &db, &config),
            None
        ),
        TestServer::start_options(
            tempfile::tempdir().expect("b"),
            options(&data, &db, &config),
            None
        ),
    );
    let mut browser = Browser::new(&a);
    let overview = portal_sign_in(&a, &mut browser, "admin@contoso.example", "Admin-Pass-1").await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    let made = browser
        .post(
            &format!("{}/portal/groups", a.base),
            &fields(
                &csrf(&overview.body),
                &[
                    ("op", "create"),
                    ("displayName", "Made on A"),
                    ("mailNickname", "made-on-a"),
                ],
            ),
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    // The session lives in the shared store: the same browser is signed in on B, and B's
    // portal lists what A's made.
    let listed = browser.get(&format!("{}/portal/groups", b.base)).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert!(listed.body.contains("Made on A"), "{}", listed.body);
    // Logging out on B ends the session on A too.
    let out = browser
        .post(
            &format!("{}/portal/logout", b.base),
            &fields(&csrf(&listed.body), &[]),
        )
        .await;
    assert_eq!(out.status, 303);
    let gone = browser.get(&format!("{}/portal/groups", a.base)).await;
    assert_eq!(gone.status, 303, "{}", gone.body);
}
