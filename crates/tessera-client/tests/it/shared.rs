//! The persistent cache across processes: ten processes on a cold cache cause one token
//! request; writers killed at random moments never leave a broken entry. Child processes are
//! this test binary again, running an `#[ignore]`d entry point selected by `--ignored`.

use std::process::{Command, Stdio};
use std::sync::Arc;

use tessera_client::{
    ClientSecretCredential, Credential, HttpOptions, PersistedToken, PersistentCache, Secret,
    TokenHttp, TokenProvider, TokenRequest,
};

use crate::support::Running;

const GRAPH: &str = "https://graph.microsoft.com/.default";

fn child(test: &str, env: &[(&str, String)]) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("test binary"));
    c.args([
        "--exact",
        test,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent test"))
}

/// Child entry point: one token through the shared cache; prints a digest of it.
#[tokio::test]
#[ignore = "run as a child process by ten_processes_cause_one_token_request"]
async fn child_gets_a_token() {
    let ca = std::fs::read(env("T_CA")).expect("ca");
    let http = TokenHttp::new(HttpOptions {
        extra_ca_pem: Some(ca),
        timeout: None,
    })
    .expect("http");
    let credential: Arc<dyn Credential> = Arc::new(ClientSecretCredential {
        authority: tessera_client::Authority::parse(&env("T_AUTHORITY")).expect("authority"),
        client_id: env("T_CLIENT"),
        secret: Secret::new(env("T_SECRET")),
    });
    let cache =
        PersistentCache::open_with_key_file(env("T_CACHE"), std::path::Path::new(&env("T_KEY")))
            .expect("cache");
    let p = TokenProvider::new(credential, http).with_persistent_cache(Arc::new(cache));
    let t = p.token(&TokenRequest::new(&[GRAPH])).await.expect("token");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, t.token.expose().as_bytes());
    // The parent reads this line from the child's standard output.
    #[allow(clippy::print_stdout)]
    {
        println!("TOKEN {}", tessera_proto::b64::url_encode(digest));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_processes_cause_one_token_request() {
    let s = Running::start(|_| {}).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let vars = vec![
        ("T_CA", s.demo.ca_cert.clone().expect("ca")),
        ("T_AUTHORITY", s.demo.authority.clone()),
        ("T_CLIENT", s.demo.daemon.client_id.clone()),
        ("T_SECRET", s.demo.daemon.client_secret.clone()),
        ("T_CACHE", dir.path().join("cache").display().to_string()),
        (
            "T_KEY",
            dir.path().join("config/cache.key").display().to_string(),
        ),
    ];
    // The key file is created once, before the race, as the CLI's first run would.
    PersistentCache::open_with_key_file(
        dir.path().join("cache"),
        &dir.path().join("config/cache.key"),
    )
    .expect("cache");
    let before = crate::provider::token_requests(&s).await;
    let children: Vec<_> = (0..10)
        .map(|_| {
            child("shared::child_gets_a_token", &vars)
                .spawn()
                .expect("spawn")
        })
        .collect();
    let mut digests = Vec::new();
    for c in children {
        let out = c.wait_with_output().expect("child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // libtest prints "test NAME ... " before the test runs, so the line may not start with it.
        let digest = stdout
            .split("TOKEN ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("token line");
        digests.push(digest.to_owned());
    }
    digests.dedup();
    assert_eq!(digests.len(), 1, "all ten processes got the same token");
    assert_eq!(
        crate::provider::token_requests(&s).await - before,
        1,
        "exactly one token request for ten processes"
    );
}

fn entry(n: u64) -> PersistedToken {
    PersistedToken {
        access_token: format!("{n:0>2000}"),
        expires_at: i64::try_from(n).unwrap_or(0) + 10_000,
        refresh_at: 5_000,
        lifetime: 10_000,
    }
}

/// Child entry point: rewrites entries as fast as it can until killed.
#[test]
#[ignore = "run as a child process by killed_writers_never_leave_a_broken_entry"]
fn child_writes_forever() {
    let cache =
        PersistentCache::open_with_key_file(env("T_CACHE"), std::path::Path::new(&env("T_KEY")))
            .expect("cache");
    let mut n = 0u64;
    loop {
        n += 1;
        cache
            .put(&format!("key-{}", n % 50), &entry(n))
            .expect("put");
    }
}

#[test]
fn killed_writers_never_leave_a_broken_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache_dir = dir.path().join("cache");
    let key = dir.path().join("cache.key");
    let vars = vec![
        ("T_CACHE", cache_dir.display().to_string()),
        ("T_KEY", key.display().to_string()),
    ];
    let cache = PersistentCache::open_with_key_file(&cache_dir, &key).expect("cache");
    for round in 0..25u64 {
        let mut writers: Vec<_> = (0..2)
            .map(|_| {
                child("shared::child_writes_forever", &vars)
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        // Kill at a different moment each round; the writers are mid-write most of the time.
        std::thread::sleep(std::time::Duration::from_millis(40 + (round * 37) % 90));
        for w in &mut writers {
            w.kill().expect("SIGKILL");
            let _ = w.wait();
        }
    }
    let mut whole = 0;
    for n in 0..50 {
        if let Some(t) = cache.get(&format!("key-{n}")).expect("read") {
            assert_eq!(t.access_token.len(), 2000, "entries are whole");
            whole += 1;
        }
    }
    assert!(whole > 0, "the writers wrote something");
    let set_aside = std::fs::read_dir(&cache_dir)
        .expect("ls")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "bad"))
        .count();
    assert_eq!(set_aside, 0, "no entry was broken");
}
