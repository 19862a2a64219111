//! Shared test helpers: a running server with its demo tenant, an HTTPS client that trusts
//! the generated CA, small helpers to post forms and read JWTs, and PostgreSQL databases
//! of a test's own. `TESSERA_TEST_DATABASE=postgres` runs every server on PostgreSQL.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;
use sqlx::Connection as _;
use tessera_server::{DemoFile, ServeOptions, Server};
use tokio::sync::oneshot;

pub(crate) struct TestServer {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) base: String,
    pub(crate) demo: DemoFile,
    pub(crate) client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The PostgreSQL database this server made for itself (dropped with it).
    database: Option<PgDatabase>,
}

impl TestServer {
    pub(crate) async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server; `tweak` adjusts the options (test mode, config file...).
    pub(crate) async fn start_with(tweak: impl FnOnce(&mut ServeOptions)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, tweak).await
    }

    pub(crate) async fn start_in(
        dir: tempfile::TempDir,
        tweak: impl FnOnce(&mut ServeOptions),
    ) -> Self {
        let mut options = ServeOptions::new(dir.path().join("data"));
        // A restart finds the database its data directory had before.
        let parked = parked().remove(dir.path());
        let database = match parked {
            Some(db) => Some(db),
            None if postgres_everywhere() => Some(
                PgDatabase::create()
                    .await
                    .expect("TESSERA_TEST_DATABASE=postgres needs PostgreSQL"),
            ),
            None => None,
        };
        if let Some(db) = &database {
            options.database = Some(db.url.clone());
        }
        tweak(&mut options);
        Self::start_options(dir, options, database).await
    }

    /// Starts a server on a PostgreSQL database of its own, or `None` (after saying so) when
    /// PostgreSQL is not reachable.
    pub(crate) async fn start_postgres(tweak: impl FnOnce(&mut ServeOptions)) -> Option<Self> {
        let db = PgDatabase::create().await?;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut options = ServeOptions::new(dir.path().join("data"));
        options.database = Some(db.url.clone());
        tweak(&mut options);
        Some(Self::start_options(dir, options, Some(db)).await)
    }

    /// Starts a server with exactly these options; `database` is dropped with the server.
    pub(crate) async fn start_options(
        dir: tempfile::TempDir,
        options: ServeOptions,
        database: Option<PgDatabase>,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut server = Server::prepare(options, addr)
            .await
            .expect("server prepares");
        let demo = server.demo.take().expect("demo seeded");
        let ca = std::fs::read(server.ca_cert.as_ref().expect("generated CA")).expect("read CA");
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("CA pem")])
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let base = server.base_url.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(listener, async {
                    let _ = rx.await;
                })
                .await
                .expect("server runs");
        });
        Self {
            dir,
            base,
            demo,
            client,
            stop: Some(tx),
            task: Some(task),
            database,
        }
    }

    /// Stops the server and returns its directory, for a restart on the same data.
    pub(crate) async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        // Give pooled connections a moment to close before the store is reopened.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let dir = tempfile::tempdir().expect("placeholder");
        let dir = std::mem::replace(&mut self.dir, dir);
        if let Some(db) = self.database.take() {
            parked().insert(dir.path().to_owned(), db);
        }
        dir
    }

    /// The `--database` URL when the server runs on PostgreSQL.
    pub(crate) fn database_url(&self) -> Option<String> {
        self.database.as_ref().map(|db| db.url.clone())
    }

    pub(crate) fn authority(&self) -> &str {
        &self.demo.authority
    }

    pub(crate) fn token_url(&self) -> String {
        format!("{}/oauth2/v2.0/token", self.demo.authority)
    }

    pub(crate) async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .client
            .post(url)
            .form(form)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        let body = r.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub(crate) async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        self.post_form(&self.token_url(), form).await
    }

    pub(crate) async fn get_json(&self, url: &str) -> (u16, Value) {
        let r = self.client.get(url).send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// A client-credentials request with the demo daemon's secret.
    pub(crate) async fn daemon_token(&self, extra: &[(&str, &str)]) -> (u16, Value) {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.demo.daemon.client_id.as_str()),
            ("client_secret", self.demo.daemon.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ];
        form.extend_from_slice(extra);
        self.token(&form).await
    }

    pub(crate) async fn advance_clock(&self, seconds: i64) {
        let r = self
            .client
            .post(format!("{}/_tessera/test/clock", self.base))
            .json(&serde_json::json!({ "advance_seconds": seconds }))
            .send()
            .await
            .expect("clock request");
        assert_eq!(r.status().as_u16(), 200, "test clock route answers");
    }

    pub(crate) async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Decodes a JWT's header and claims (no signature check).
pub(crate) fn jwt_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let h = tessera_proto::b64::url_decode(parts.next().expect("header")).expect("b64");
    let c = tessera_proto::b64::url_decode(parts.next().expect("claims")).expect("b64");
    (
        serde_json::from_slice(&h).expect("json"),
        serde_json::from_slice(&c).expect("json"),
    )
}

/// Checks an RS256 JWT's signature against a JWKS document.
pub(crate) fn verify_with_jwks(token: &str, jwks: &Value) -> bool {
    let (header, _) = jwt_parts(token);
    let kid = header["kid"].as_str().expect("kid");
    let Some(key) = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid)
    else {
        return false;
    };
    let n = tessera_proto::b64::url_decode(key["n"].as_str().expect("n")).expect("n b64");
    let e = tessera_proto::b64::url_decode(key["e"].as_str().expect("e")).expect("e b64");
    let (input, sig) = token.rsplit_once('.').expect("three parts");
    let sig = tessera_proto::b64::url_decode(sig).expect("sig b64");
    let public = aws_lc_rs::signature::RsaPublicKeyComponents { n: &n, e: &e };
    public
        .verify(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            input.as_bytes(),
            &sig,
        )
        .is_ok()
}

pub(crate) fn aadsts_code(body: &Value) -> u64 {
    body["error_codes"][0].as_u64().unwrap_or(0)
}

/// Writes a TOML config file into `dir` and returns its path.
pub(crate) fn write_config(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("tessera.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// `TESSERA_TEST_DATABASE=postgres`: every test server runs on a PostgreSQL database.
fn postgres_everywhere() -> bool {
    std::env::var("TESSERA_TEST_DATABASE").is_ok_and(|v| v.eq_ignore_ascii_case("postgres"))
}

/// Databases of stopped servers, by data directory, until a restart takes them back.
fn parked() -> std::sync::MutexGuard<'static, HashMap<PathBuf, PgDatabase>> {
    static PARKED: OnceLock<Mutex<HashMap<PathBuf, PgDatabase>>> = OnceLock::new();
    PARKED
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The PostgreSQL server tests use: `TESSERA_TEST_POSTGRES`, or the local one with trust
/// authentication.
fn postgres_admin_url() -> String {
    std::env::var("TESSERA_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of one test's own on the test PostgreSQL server, dropped when this is.
pub(crate) struct PgDatabase {
    pub(crate) url: String,
    name: String,
}

impl PgDatabase {
    /// Creates an empty database. `None`, after printing why, when PostgreSQL is not
    /// reachable, unless `TESSERA_REQUIRE_POSTGRES` is set: then that fails the test.
    #[allow(clippy::print_stderr)] // the skip must be visible in the test output
    pub(crate) async fn create() -> Option<Self> {
        let admin = postgres_admin_url();
        let shown = tessera_server::redact_database(&admin);
        let connected =
            tokio::time::timeout(Duration::from_secs(10), sqlx::PgConnection::connect(&admin))
                .await;
        let mut conn = match connected {
            Ok(Ok(conn)) => conn,
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "no answer in 10 s".into(),
                };
                assert!(
                    std::env::var_os("TESSERA_REQUIRE_POSTGRES").is_none(),
                    "PostgreSQL at {shown} is required but not reachable: {why}"
                );
                eprintln!("SKIPPED: PostgreSQL is not reachable at {shown} ({why})");
                return None;
            }
        };
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "tessera_it_{}_{nanos}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        let _ = conn.close().await;
        let mut url = reqwest::Url::parse(&admin).expect("TESSERA_TEST_POSTGRES is a URL");
        url.set_path(&name);
        Some(Self {
            url: url.to_string(),
            name,
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Drop is synchronous and may run inside the test's runtime: a thread of its own
        // with a runtime of its own does the async work.
        let (admin, name) = (postgres_admin_url(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let mut conn = sqlx::PgConnection::connect(&admin).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await?;
                conn.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) && !std::thread::panicking() {
            panic!("dropping test database {} failed: {dropped:?}", self.name);
        }
    }
}

/// The action and hidden fields of the first form on a page (a sign-in step, or the
/// auto-posting form that carries an answer to an app).
pub(crate) fn form_of(page: &str) -> (String, Vec<(String, String)>) {
    let unescape = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    let action = page
        .split("action=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(unescape)
        .unwrap_or_else(|| panic!("no form in {page}"));
    let hidden = page
        .split("<input type=\"hidden\" name=\"")
        .skip(1)
        .filter_map(|r| {
            let (name, rest) = r.split_once('"')?;
            let value = rest.split("value=\"").nth(1)?.split('"').next()?;
            Some((unescape(name), unescape(value)))
        })
        .collect();
    (action, hidden)
}

/// A browser for the sign-in pages: keeps its cookies, follows nothing by itself.
pub(crate) struct Browser {
    client: reqwest::Client,
    cookies: HashMap<String, String>,
}

/// What a browser request got back.
pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) body: String,
}

impl Browser {
    pub(crate) fn new(s: &TestServer) -> Self {
        let ca = std::fs::read(s.demo.ca_cert.as_ref().expect("ca")).expect("ca");
        Self {
            client: reqwest::Client::builder()
                .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("ca pem")])
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: HashMap::new(),
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let r = request
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("request");
        for v in r.headers().get_all("set-cookie") {
            let Some((name, rest)) = v.to_str().ok().and_then(|v| v.split_once('=')) else {
                continue;
            };
            let value = rest.split(';').next().unwrap_or_default();
            if value.is_empty() || rest.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Page {
            status,
            location,
            body: r.text().await.unwrap_or_default(),
        }
    }

    /// Takes on the cookies of a `Cookie` header (another browser's, copied).
    pub(crate) fn copy_cookies(&mut self, header: &str) {
        for pair in header.split("; ") {
            if let Some((k, v)) = pair.split_once('=') {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
    }

    /// The `Cookie` header this browser sends.
    pub(crate) fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(crate) async fn get(&mut self, url: &str) -> Page {
        let request = self.client.get(url);
        self.send(request).await
    }

    pub(crate) async fn post(&mut self, url: &str, fields: &[(String, String)]) -> Page {
        let request = self.client.post(url).form(fields);
        self.send(request).await
    }

    /// Answers the user name and password pages from `page` on, until a page that is not
    /// one of them (the answer to the app).
    pub(crate) async fn sign_in(&mut self, mut page: Page, user: &str, password: &str) -> Page {
        for _ in 0..4 {
            let field = if page.body.contains("name=\"password\"") {
                "password"
            } else if page.body.contains("name=\"username\"") {
                "username"
            } else {
                return page;
            };
            let (action, mut fields) = form_of(&page.body);
            fields.retain(|(k, _)| k != "username");
            fields.push(("username".into(), user.to_owned()));
            if field == "password" {
                fields.push(("password".into(), password.to_owned()));
            }
            page = self.post(&action, &fields).await;
        }
        page
    }
}
