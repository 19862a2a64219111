//! Runs `tessera serve` as a child process on a free port and reads its demo.json.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) fn tessera() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
}

/// `tessera ARGS` signed in as the demo daemon (its secret in `DAEMON_SECRET`) against `s`,
/// with the persistent token cache under `home`.
pub(crate) fn as_daemon(s: &Running, home: &Path, args: &[&str]) -> Command {
    let mut c = tessera();
    c.args(args)
        .arg("--authority")
        .arg(s.str("/authority"))
        .arg("--client-id")
        .arg(s.str("/daemon/client_id"))
        .args(["--client-secret-env", "DAEMON_SECRET", "--ca-cert"])
        .arg(s.str("/ca_cert"))
        .env("HOME", home)
        .env("DAEMON_SECRET", s.str("/daemon/client_secret"));
    c
}

pub(crate) struct Running {
    pub(crate) child: Child,
    pub(crate) demo: Value,
    pub(crate) stderr_path: PathBuf,
}

impl Running {
    /// Starts `tessera serve` on 127.0.0.1:0 over `data_dir` and waits for it to answer.
    pub(crate) fn start(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_with_env(data_dir, extra, &[])
    }

    /// As `start`, with extra environment variables for the server (`RUST_LOG`...).
    pub(crate) fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_on(tessera(), data_dir, "127.0.0.1:0", extra, env)
    }

    /// As `start_with_env`, running `program` (a `tessera` command) listening on `listen` (a
    /// fixed port, so that a restart keeps the URL).
    pub(crate) fn start_on(
        mut program: Command,
        data_dir: &Path,
        listen: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let demo_path = data_dir.join("demo.json");
        std::fs::create_dir_all(data_dir).expect("data dir");
        // demo.json is rewritten on every start; wait for this start's version.
        let spawned = std::time::SystemTime::now() - Duration::from_millis(10);
        let stderr_path = data_dir.with_extension(format!("stderr.{}", std::process::id()));
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_path)
            .expect("stderr file");
        let child = program
            .args(["serve", "--listen", listen, "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn tessera");
        let deadline = Instant::now() + Duration::from_secs(60);
        let demo = loop {
            let fresh = std::fs::metadata(&demo_path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= spawned);
            if fresh
                && let Ok(bytes) = std::fs::read(&demo_path)
                && let Ok(v) = serde_json::from_slice::<Value>(&bytes)
            {
                break v;
            }
            assert!(
                Instant::now() < deadline,
                "tessera did not write demo.json; stderr: {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Self {
            child,
            demo,
            stderr_path,
        }
    }

    pub(crate) fn base(&self) -> String {
        let a = self.demo["authority"].as_str().expect("authority");
        a[..a.rfind('/').expect("tenant segment")].to_owned()
    }

    pub(crate) fn str(&self, pointer: &str) -> String {
        self.demo
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("demo.json has no {pointer}"))
            .to_owned()
    }

    pub(crate) fn client(&self) -> reqwest::blocking::Client {
        let ca = std::fs::read(self.str("/ca_cert")).expect("CA");
        reqwest::blocking::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("pem")])
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client")
    }

    /// POSTs a form to the token endpoint.
    pub(crate) fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .client()
            .post(format!("{}/oauth2/v2.0/token", self.str("/authority")))
            .form(form)
            .send()
            .expect("token request");
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub(crate) fn kill9(mut self) -> String {
        let _ = self.child.kill(); // SIGKILL on Unix
        let _ = self.child.wait();
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Stops with SIGTERM and returns stderr.
    pub(crate) fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `name{labels} value` lines of the Prometheus text, keyed by everything before the value.
pub(crate) fn metrics(s: &Running) -> Vec<(String, u64)> {
    let text = s
        .client()
        .get(format!("{}/metrics", s.base()))
        .send()
        .and_then(reqwest::blocking::Response::text)
        .expect("GET /metrics");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The sum of the counters whose key matches, after minus before.
pub(crate) fn delta(
    before: &[(String, u64)],
    after: &[(String, u64)],
    matches: impl Fn(&str) -> bool,
) -> u64 {
    let sum =
        |m: &[(String, u64)]| -> u64 { m.iter().filter(|(k, _)| matches(k)).map(|(_, v)| v).sum() };
    sum(after) - sum(before)
}
