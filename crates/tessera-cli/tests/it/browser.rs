//! Interactive sign-in in a real browser: Debian's Chromium driven by Playwright
//! (tests/browser, node's test runner) against a real `tessera serve`, plus the device code
//! cases that need the server's clock or a restart. `scripts/test` installs
//! tests/browser/node_modules (`npm ci`); `.ci/run` installs Chromium.
//!
//! Environment: TESSERA_NODE (default `node`), TESSERA_CHROMIUM (default /usr/bin/chromium),
//! TESSERA_SCREENSHOT_DIR (default <repo>/target/screenshots), TESSERA_PYTHON (the venv with
//! MSAL Python the portal tests use; default <repo>/.venv/bin/python, which scripts/test makes).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::Running;

const TENANT_ID: &str = "f00dcafe-1111-4222-8333-444455556666";
const APP_ID: &str = "f00dcafe-2222-4333-8444-000000000001";
const UNCONSENTED_APP_ID: &str = "f00dcafe-2222-4333-8444-000000000002";
const MFA_USER: &str = "megan.mfa@fabrikam.test";
const MFA_PASSWORD: &str = "Fabrikam-Mfa-Pass-42";
/// RFC 4648 base32 of 20 random-looking bytes; the tests compute RFC 6238 codes from it.
const MFA_SECRET: &str = "JBSWY3DPEHPK3PXPGEZDGNBVGY3TQOJQ";
const CONSENT_USER: &str = "lee.consent@fabrikam.test";
const CONSENT_PASSWORD: &str = "Fabrikam-Consent-Pass-42";

pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

pub(crate) fn browser_dir() -> PathBuf {
    repo_root().join("tests/browser")
}

pub(crate) fn node() -> String {
    std::env::var("TESSERA_NODE").unwrap_or_else(|_| "node".to_owned())
}

/// Fails with instructions unless node, playwright-core and Chromium are there.
pub(crate) fn require_browser_tools() {
    let dir = browser_dir();
    assert!(
        dir.join("node_modules/playwright-core/package.json")
            .exists(),
        "the browser tests need tests/browser/node_modules: run scripts/test (it runs `npm ci` there)"
    );
    let chromium =
        std::env::var("TESSERA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        Path::new(&chromium).exists(),
        "the browser tests need Debian's Chromium at {chromium}: apt-get install chromium (.ci/run does)"
    );
}

fn screenshot_dir() -> PathBuf {
    std::env::var_os("TESSERA_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/screenshots"))
}

fn config_toml() -> String {
    format!(
        r#"
[[tenants]]
id = "{TENANT_ID}"
domain = "fabrikam.test"
display_name = "Fabrikam (browser tests)"

[[tenants.applications]]
client_id = "{APP_ID}"
display_name = "Fabrikam Desktop"
public_client = true
redirect_uris = ["http://localhost"]
delegated_permissions = {{ "https://graph.microsoft.com" = ["User.Read", "openid", "profile", "offline_access"] }}

[[tenants.applications]]
client_id = "{UNCONSENTED_APP_ID}"
display_name = "Fabrikam Notes"
public_client = true
redirect_uris = ["http://localhost"]

[[tenants.users]]
user_principal_name = "{MFA_USER}"
display_name = "Megan (MFA)"
password = "{MFA_PASSWORD}"
mfa_required = true
mfa_totp_secret = "{MFA_SECRET}"

[[tenants.users]]
user_principal_name = "{CONSENT_USER}"
display_name = "Lee (consent)"
password = "{CONSENT_PASSWORD}"
"#
    )
}

/// Runs a command with a deadline; returns (success, stdout, stderr).
pub(crate) fn run_with_deadline(mut cmd: Command, limit: Duration) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let mut stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    if status.is_none() {
        stderr.push_str(&format!("\n[killed after {} s]", limit.as_secs()));
    }
    (status.is_some_and(|s| s.success()), stdout, stderr)
}

fn summary_count(tap: &str, key: &str) -> Option<u64> {
    tap.lines()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("# {key} ")))
        .and_then(|n| n.trim().parse().ok())
}

#[test]
#[allow(clippy::print_stderr)] // the run's summary, shown with --nocapture
fn sign_in_pages_in_chromium() {
    require_browser_tools();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("browser.toml");
    std::fs::write(&config, config_toml()).expect("config");
    let data = dir.path().join("data");
    let server = Running::start(&data, &["--config", config.to_str().expect("utf-8 path")]);
    let base = server.base();
    let fixtures = json!({
        "tenant_id": TENANT_ID,
        "authority": format!("{base}/{TENANT_ID}"),
        "tenant_display_name": "Fabrikam (browser tests)",
        "app": { "client_id": APP_ID, "display_name": "Fabrikam Desktop" },
        "unconsented_app": { "client_id": UNCONSENTED_APP_ID, "display_name": "Fabrikam Notes" },
        "mfa_user": { "username": MFA_USER, "password": MFA_PASSWORD, "totp_secret": MFA_SECRET },
        "consent_user": { "username": CONSENT_USER, "password": CONSENT_PASSWORD },
    });
    let fixtures_path = dir.path().join("fixtures.json");
    std::fs::write(&fixtures_path, fixtures.to_string()).expect("fixtures");

    let started = Instant::now();
    let mut cmd = Command::new(node());
    cmd.args([
        "--test",
        "--test-concurrency=1",
        "--test-timeout=240000",
        "tests/browser/",
    ])
    .current_dir(repo_root())
    .env("TESSERA_DEMO_JSON", data.join("demo.json"))
    .env("TESSERA_BASE_URL", &base)
    .env("TESSERA_FIXTURES", &fixtures_path)
    .env("TESSERA_SCREENSHOT_DIR", screenshot_dir())
    .env("TESSERA_PYTHON", crate::interop::python())
    .env("NODE_EXTRA_CA_CERTS", server.str("/ca_cert"));
    let (ok, stdout, stderr) = run_with_deadline(cmd, Duration::from_secs(900));
    let took = started.elapsed();
    let pass = summary_count(&stdout, "pass");
    let fail = summary_count(&stdout, "fail");
    eprintln!(
        "node --test tests/browser: pass {pass:?}, fail {fail:?}, {:.1} s; screenshots in {}",
        took.as_secs_f64(),
        screenshot_dir().display()
    );
    let server_log = server.stop();
    assert!(
        ok,
        "node --test failed:\n{stdout}\n{stderr}\n--- server log (tail) ---\n{}",
        tail(&server_log, 60)
    );
    assert!(
        pass.is_some_and(|n| n >= 20) && fail == Some(0),
        "unexpected summary (pass {pass:?}, fail {fail:?}):\n{stdout}"
    );
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---------------------------------------------------------------------------------------
// Device code: expiry by the server's clock, and a pending code across a restart.

fn device_code(server: &Running) -> Value {
    let r = server
        .client()
        .post(format!(
            "{}/oauth2/v2.0/devicecode",
            server.str("/authority")
        ))
        .form(&[
            ("client_id", server.str("/public_client/client_id").as_str()),
            ("scope", "User.Read offline_access openid profile"),
        ])
        .send()
        .expect("devicecode");
    assert_eq!(r.status().as_u16(), 200);
    r.json().expect("devicecode json")
}

fn poll(server: &Running, code: &Value) -> (u16, Value) {
    server.token(&[
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", &server.str("/public_client/client_id")),
        (
            "device_code",
            code["device_code"].as_str().expect("device_code"),
        ),
    ])
}

fn assert_error(res: &(u16, Value), error: &str, code: u64) {
    assert_eq!(res.0, 400, "{}", res.1);
    assert_eq!(res.1["error"], error, "{}", res.1);
    assert!(
        res.1["error_codes"]
            .as_array()
            .is_some_and(|a| a.iter().any(|c| c.as_u64() == Some(code))),
        "{}",
        res.1
    );
    assert!(
        res.1["error_description"]
            .as_str()
            .is_some_and(|d| d.starts_with(&format!("AADSTS{code}:"))),
        "{}",
        res.1
    );
}

/// The /devicelogin page's answer to a user code, posted the way the browser does (CSRF
/// cookie and field).
fn enter_user_code(server: &Running, user_code: &str) -> (u16, String) {
    let client = server.client();
    let url = format!("{}/devicelogin", server.base());
    let page = client.get(&url).send().expect("devicelogin");
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("tessera_csrf="))
        .and_then(|v| v.split(';').next())
        .expect("csrf cookie")
        .to_owned();
    let html = page.text().expect("page");
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("csrf field") + marker.len();
    let field = &html[start..start + html[start..].find('"').expect("end")];
    assert_eq!(field, cookie);
    let r = client
        .post(&url)
        .header("cookie", format!("tessera_csrf={cookie}"))
        .form(&[("csrf", field), ("otc", user_code)])
        .send()
        .expect("post code");
    (r.status().as_u16(), r.text().unwrap_or_default())
}

#[test]
fn device_code_expires_by_the_server_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Running::start(&dir.path().join("data"), &["--test-mode"]);
    let code = device_code(&server);
    assert_eq!(code["expires_in"], 900);
    assert_error(&poll(&server, &code), "authorization_pending", 70016);

    let r = server
        .client()
        .post(format!("{}/_tessera/test/clock", server.base()))
        .json(&json!({"advance_seconds": 901}))
        .send()
        .expect("clock");
    assert!(r.status().is_success(), "clock: {}", r.status());

    assert_error(&poll(&server, &code), "expired_token", 70020);
    // The sign-in page no longer takes the code either.
    let (status, html) = enter_user_code(&server, code["user_code"].as_str().expect("user_code"));
    assert_eq!(status, 400);
    assert!(html.contains("That code didn&#39;t work"), "{html}");
    server.stop();
}

#[test]
fn pending_device_code_survives_a_restart() {
    require_browser_tools();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let first = Running::start(&data, &[]);
    let code = device_code(&first);
    let polled_at = Instant::now();
    assert_error(&poll(&first, &code), "authorization_pending", 70016);
    let log = first.stop();
    assert!(!log.contains("panicked"), "{log}");

    let second = Running::start(&data, &[]);
    // Poll no faster than the interval, or the (persisted) last poll says slow_down.
    std::thread::sleep(Duration::from_secs(5).saturating_sub(polled_at.elapsed()));
    assert_error(&poll(&second, &code), "authorization_pending", 70016);

    // Approve it in the browser on the restarted server (its port changed: the code did not).
    let user_code = code["user_code"].as_str().expect("user_code");
    let mut cmd = Command::new(node());
    cmd.arg(browser_dir().join("drive.mjs"))
        .args([
            "device",
            &format!("{}/devicelogin", second.base()),
            user_code,
        ])
        .arg(second.str("/user/username"))
        .arg(second.str("/user/password"))
        .current_dir(browser_dir())
        .env("NODE_EXTRA_CA_CERTS", second.str("/ca_cert"));
    let (ok, stdout, stderr) = run_with_deadline(cmd, Duration::from_secs(120));
    assert!(ok, "drive.mjs device failed:\n{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), "You're signed in");

    let (status, body) = poll(&second, &code);
    assert_eq!(status, 200, "{body}");
    for k in ["access_token", "refresh_token", "id_token"] {
        assert!(
            body[k].as_str().is_some_and(|t| !t.is_empty()),
            "{k}: {body}"
        );
    }
    let payload = body["id_token"]
        .as_str()
        .and_then(|t| t.split('.').nth(1))
        .expect("jwt");
    let claims: Value =
        serde_json::from_slice(&tessera_proto::b64::url_decode(payload).expect("base64url"))
            .expect("claims");
    assert_eq!(
        claims["preferred_username"]
            .as_str()
            .map(str::to_ascii_lowercase),
        Some(second.str("/user/username").to_ascii_lowercase())
    );
    // Redeemed once only.
    assert_error(&poll(&second, &code), "invalid_grant", 54005);
    second.stop();
}
