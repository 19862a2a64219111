//! The long job: `tessera graph get /users --all` walks 100,000 users on a test-mode server with
//! 20 s tokens through a clock jump past their expiry, 429s and a 503. It must exit 0 with every
//! user exactly once, and `/metrics` must show no token refused beyond the one the jump forces.

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Running, as_daemon, delta, metrics, tessera};

const SEEDED: usize = 100_000;
/// Far enough that every token issued before the jump (20 s life) is past Graph's 5-minute
/// clock-skew allowance after it.
const JUMP_SECONDS: i64 = 600;
const PAGE_LATENCY_MS: u64 = 400;
/// Only a hang ends here: the walk takes a fraction of this even in a debug build.
const WATCHDOG: Duration = Duration::from_secs(20 * 60);

/// Removes the token cache's key from the kernel keyring (it outlives the temp dir otherwise).
struct ForgetCacheKey(PathBuf);

impl Drop for ForgetCacheKey {
    fn drop(&mut self) {
        tessera_client::PersistentCache::forget_keyring_key(&self.0);
    }
}

fn post_test_control(s: &Running, path: &str, body: &Value) -> Value {
    let r = s
        .client()
        .post(format!("{}/_tessera/test/{path}", s.base()))
        .json(body)
        .send()
        .expect("test control");
    let status = r.status();
    let text = r.text().unwrap_or_default();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// GETs a Graph path with a bearer token: (status, body).
fn graph_get(s: &Running, token: &str, path: &str) -> (u16, String) {
    let r = s
        .client()
        .get(format!("{}{path}", s.str("/graph_url")))
        .bearer_auth(token)
        .header("ConsistencyLevel", "eventual")
        .send()
        .expect("Graph request");
    (r.status().as_u16(), r.text().unwrap_or_default())
}

fn walk_command(s: &Running, home: &Path) -> Command {
    let graph_url = s.str("/graph_url");
    let mut c = as_daemon(
        s,
        home,
        &[
            "graph",
            "get",
            "/users",
            "--all",
            "--top",
            "999",
            "--output",
            "jsonl",
            "--graph-url",
            &graph_url,
        ],
    );
    c
        // A private persistent token cache: the walk starts with no token and shares none.
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_CONFIG_HOME", home.join(".config"))
        // The library's retries at debug, for the figures printed at the end.
        .env(
            "RUST_LOG",
            "warn,rustls=error,tessera=info,tessera_client=debug",
        );
    c
}

#[test]
#[allow(clippy::print_stderr)] // the run's figures, shown with --nocapture
fn long_job_walks_100k_users_through_a_clock_jump_and_faults() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let home = dir.path().join("home");
    let _forget = ForgetCacheKey(home.join(".cache/tessera/tokens"));
    let s = Running::start(
        &data,
        &["--test-mode", "--test-access-token-lifetime", "20s"],
    );

    // `tessera seed users` needs the store the server creates, so it runs beside the server.
    let seed_started = Instant::now();
    let seeded = tessera()
        .args([
            "seed",
            "users",
            "--count",
            &SEEDED.to_string(),
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .expect("seed");
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    let seed_time = seed_started.elapsed();

    // A token from before the jump: after the walk it shows the jump made such tokens invalid,
    // so the walk really had to get past an expired token.
    let (status, body) = s.token(&[
        ("grant_type", "client_credentials"),
        ("client_id", &s.str("/daemon/client_id")),
        ("client_secret", &s.str("/daemon/client_secret")),
        ("scope", "https://graph.microsoft.com/.default"),
    ]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 20, "test-mode lifetime: {body}");
    let old_token = body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let (status, count) = graph_get(&s, &old_token, "/users/$count");
    assert_eq!(status, 200, "{count}");
    let expected: usize = count.trim().parse().expect("a number");
    assert!(
        expected > SEEDED,
        "the seeded users and the demo's: {expected}"
    );

    // The walk alone takes about 10 s, less than one token's life: 400 ms more per page
    // stretches it over several 20 s tokens, so refreshes ahead of expiry happen mid-walk.
    post_test_control(
        &s,
        "faults",
        &json!({"target": "graph", "path": "/v1.0/users", "latency_ms": PAGE_LATENCY_MS,
                "count": 1000}),
    );
    let before = metrics(&s);
    let walk_started = Instant::now();
    let stderr_path = dir.path().join("walk.stderr");
    let mut child = walk_command(&s, &home)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("spawn tessera graph");

    // Kills a hung walk so that the test fails instead of blocking CI. It is told to stand
    // down before the child is reaped, so its pid cannot have been reused.
    let (done, stand_down) = mpsc::channel::<()>();
    let pid = child.id().to_string();
    let watchdog = std::thread::spawn(move || {
        if stand_down.recv_timeout(WATCHDOG).is_err() {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
    });

    // The CLI writes each page before it asks for the next and the pipe holds far less than
    // a page, so acting at a line count always lands mid-walk with pages still to come.
    let mut ids = HashSet::with_capacity(expected);
    let mut duplicates = Vec::new();
    let mut lines = 0usize;
    let mut jump = Value::Null;
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let line = line.expect("read stdout");
        let user: Value = serde_json::from_str(&line).expect("one JSON object per line");
        let id = user["id"].as_str().expect("id").to_owned();
        if !ids.insert(id.clone()) {
            duplicates.push(id);
        }
        lines += 1;
        match lines {
            // Throttling: two 429s on consecutive requests, each to be waited out.
            25_000 => {
                post_test_control(
                    &s,
                    "faults",
                    &json!({"target": "graph", "path": "/v1.0/users", "status": 429,
                            "retry_after": "1", "count": 2}),
                );
            }
            // Every token issued so far is now expired, even with Graph's skew allowance.
            50_000 => {
                jump = post_test_control(&s, "clock", &json!({"advance_seconds": JUMP_SECONDS}));
            }
            // Another 429, then a 503 (no Retry-After: the client backs off on its own).
            75_000 => {
                post_test_control(
                    &s,
                    "faults",
                    &json!([
                        {"target": "graph", "path": "/v1.0/users", "status": 429,
                         "retry_after": "1", "count": 1},
                        {"target": "graph", "path": "/v1.0/users", "status": 503, "count": 1}
                    ]),
                );
            }
            _ => {}
        }
    }
    let _ = done.send(());
    watchdog.join().expect("watchdog");
    let exit = child.wait().expect("wait for tessera graph");
    let walk_time = walk_started.elapsed();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let after = metrics(&s);
    let users_route = |status: &str| {
        let key =
            format!("tessera_http_requests_total{{route=\"/v1.0/users\",status=\"{status}\"}}");
        move |k: &str| k == key
    };
    let throttled = delta(&before, &after, users_route("429"));
    let unavailable = delta(&before, &after, users_route("503"));
    let pages = delta(&before, &after, users_route("200"));
    let refused = delta(&before, &after, |k| {
        k.starts_with("tessera_graph_auth_failures_total{")
    });
    let expired = delta(&before, &after, |k| {
        k == "tessera_graph_auth_failures_total{reason=\"expired\"}"
    });
    let tokens = delta(&before, &after, |k| {
        k == "tessera_token_requests_total{grant=\"client_credentials\",outcome=\"success\"}"
    });
    let token_errors = delta(&before, &after, |k| {
        k.starts_with("tessera_token_requests_total{") && !k.ends_with("outcome=\"success\"}")
    });
    let client_retries = stderr.matches("Graph asked to retry").count();
    eprintln!(
        "long job: {SEEDED} users seeded in {seed_time:.1?}; walked {lines} users in \
         {walk_time:.1?}: {pages} pages, {throttled} x 429, {unavailable} x 503, \
         {refused} Graph 401s ({expired} expired), {tokens} tokens issued, \
         {client_retries} retries logged by the client; test {:.1?}",
        started.elapsed()
    );

    assert!(exit.success(), "tessera graph: {exit}\n{stderr}");
    assert_eq!(jump["offset_seconds"], JUMP_SECONDS, "clock moved: {jump}");

    assert!(duplicates.is_empty(), "users seen twice: {duplicates:?}");
    assert_eq!(lines, expected, "every user");
    assert_eq!(ids.len(), expected, "each once");

    // The injected faults were served (so the walk went through them, not around them).
    assert_eq!(throttled, 3, "429s served");
    assert_eq!(unavailable, 1, "503 served");
    // The jump may cost one 401 (then the client's one forced refresh and replay); zero when
    // a refresh ahead of expiry that was already in flight brought a post-jump token first.
    assert!(
        refused <= 1 && refused == expired,
        "Graph refused {refused} requests for their token ({expired} expired)"
    );
    assert_eq!(token_errors, 0, "failed token requests");
    // The first token, and at least one after the jump, which left the first one dead.
    assert!(tokens >= 2, "{tokens} tokens issued");

    // The token from before the jump is refused as expired: the jump did strand the walk's token.
    let (status, body) = graph_get(&s, &old_token, "/users?$top=1");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("expired"), "{body}");
}
