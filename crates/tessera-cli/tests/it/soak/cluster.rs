//! The servers under the soak: one `tessera serve` on SQLite, or several on one PostgreSQL
//! database, each on a fixed port of its own (a restart keeps the URL, as behind a load
//! balancer) and all on one data directory (one CA, one demo.json). Killed with SIGKILL and
//! restarted in place; their memory read from /proc.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::Running;

/// VmRSS and VmHWM of a process, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Memory {
    pub(crate) rss_kib: u64,
    pub(crate) peak_kib: u64,
}

pub(crate) fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kib: field("VmRSS:"),
        peak_kib: field("VmHWM:"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

pub(crate) struct Cluster {
    data: PathBuf,
    database: Option<String>,
    pub(crate) ports: Vec<u16>,
    servers: Vec<Option<Running>>,
    /// demo.json as the first server wrote it (credentials, tenant, CA).
    pub(crate) demo: Value,
    health: reqwest::blocking::Client,
}

impl Cluster {
    /// Starts `replicas` servers one after the other on `data` (and `database`, a PostgreSQL
    /// URL, when given), in test mode for the device code approval endpoint.
    pub(crate) fn start(data: &Path, database: Option<&str>, replicas: usize) -> Self {
        let ports: Vec<u16> = (0..replicas).map(|_| free_port()).collect();
        let first = spawn(data, database, ports[0]);
        let demo = first.demo.clone();
        let health = client(&demo, Duration::from_secs(5));
        let mut cluster = Self {
            data: data.to_owned(),
            database: database.map(str::to_owned),
            ports,
            servers: vec![Some(first)],
            demo,
            health,
        };
        cluster.wait_healthy(0);
        for r in 1..replicas {
            cluster.servers.push(None);
            cluster.restart(r);
        }
        cluster
    }

    pub(crate) fn replicas(&self) -> usize {
        self.ports.len()
    }

    pub(crate) fn base(&self, replica: usize) -> String {
        format!("https://127.0.0.1:{}", self.ports[replica])
    }

    pub(crate) fn pid(&self, replica: usize) -> Option<u32> {
        self.servers[replica].as_ref().map(|s| s.child.id())
    }

    pub(crate) fn memory(&self, replica: usize) -> Memory {
        self.pid(replica).map(memory).unwrap_or_default()
    }

    /// Whether the replica's process is still running (it may not have died on its own).
    pub(crate) fn alive(&mut self, replica: usize) -> bool {
        self.servers[replica]
            .as_mut()
            .is_some_and(|s| matches!(s.child.try_wait(), Ok(None)))
    }

    /// SIGKILL; returns the process's memory just before.
    pub(crate) fn kill(&mut self, replica: usize) -> Memory {
        let before = self.memory(replica);
        if let Some(s) = self.servers[replica].take() {
            let _ = s.kill9();
        }
        before
    }

    /// Starts the replica again on its port and waits until `/health` answers 200.
    pub(crate) fn restart(&mut self, replica: usize) {
        let s = spawn(&self.data, self.database.as_deref(), self.ports[replica]);
        self.servers[replica] = Some(s);
        self.wait_healthy(replica);
    }

    fn wait_healthy(&self, replica: usize) {
        let url = format!("{}/health", self.base(replica));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self
                .health
                .get(&url)
                .send()
                .is_ok_and(|r| r.status().as_u16() == 200)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "replica {replica} never answered /health"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops every server with SIGTERM; returns what they wrote on stderr.
    pub(crate) fn stop(mut self) -> String {
        let mut stderr = String::new();
        for s in self.servers.iter_mut().filter_map(Option::take) {
            // The replicas share one stderr file (one data directory): keep the last read.
            stderr = s.stop();
        }
        stderr
    }
}

fn spawn(data: &Path, database: Option<&str>, port: u16) -> Running {
    let mut args = vec!["--test-mode"];
    if let Some(url) = database {
        args.extend(["--database", url]);
    }
    // bench/soak/run.sh runs a copy of the binary, which other builds cannot replace mid-soak.
    let program = match std::env::var_os("SOAK_TESSERA_BIN") {
        Some(path) => Command::new(path),
        None => crate::support::tessera(),
    };
    Running::start_on(program, data, &format!("127.0.0.1:{port}"), &args, &[])
}

/// An HTTPS client that trusts the servers' CA.
pub(crate) fn client(demo: &Value, timeout: Duration) -> reqwest::blocking::Client {
    let ca_path = demo["ca_cert"].as_str().expect("demo.json has the CA");
    let ca = std::fs::read(ca_path).expect("CA");
    reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("pem")])
        .timeout(timeout)
        .build()
        .expect("client")
}

/// A PostgreSQL database of the soak's own on the local server (`TESSERA_TEST_POSTGRES`, or
/// postgres@127.0.0.1:5432 with trust authentication, as the server's tests use), made and
/// dropped with psql.
pub(crate) struct PgDatabase {
    admin: String,
    pub(crate) url: String,
    name: String,
}

impl PgDatabase {
    /// `None`, after saying why, when psql or PostgreSQL is not there, unless
    /// `TESSERA_REQUIRE_POSTGRES` is set: then that fails the test.
    #[allow(clippy::print_stderr)] // the skip must be visible in the test output
    pub(crate) fn create() -> Option<Self> {
        let admin = std::env::var("TESSERA_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("tessera_soak_{}_{nanos}", std::process::id());
        if let Err(why) = psql(&admin, &format!("CREATE DATABASE {name}")) {
            assert!(
                std::env::var_os("TESSERA_REQUIRE_POSTGRES").is_none(),
                "PostgreSQL is required but: {why}"
            );
            eprintln!("SKIPPED: no PostgreSQL for the soak ({why})");
            return None;
        }
        let mut url = url::Url::parse(&admin).expect("TESSERA_TEST_POSTGRES is a URL");
        url.set_path(&name);
        Some(Self {
            admin,
            url: url.to_string(),
            name,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn psql(url: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}
