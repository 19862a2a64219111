//! The data directory holds the signing keys and every refresh token: whatever the umask,
//! and even when it already existed open to others, it ends up 0700 with 0600 files, and a
//! TLS key every local user can read is refused.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use tessera_server::{ServeOptions, Server};

use crate::support::TestServer;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

/// Every file and directory under `dir` that group or others can reach.
fn open_to_others(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        if mode(&p) & 0o077 != 0 {
            found.push(format!("{} {:o}", p.display(), mode(&p)));
        }
        if p.is_dir() {
            for e in std::fs::read_dir(&p).expect("read_dir").flatten() {
                stack.push(e.path());
            }
        }
    }
    found
}

#[tokio::test]
async fn an_open_data_directory_is_made_private() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    let s = TestServer::start_in(dir, |_| {}).await;
    let (status, _) = s.daemon_token(&[]).await;
    assert_eq!(status, 200);
    let data = s.dir.path().join("data");
    assert_eq!(mode(&data), 0o700);
    if s.database_url().is_none() {
        // SQLite: the database and its WAL files hold the private key and refresh tokens.
        for name in ["tessera.db", "tessera.db-wal", "tessera.db-shm"] {
            assert_eq!(mode(&data.join(name)), 0o600, "{name}");
        }
    }
    assert_eq!(open_to_others(&data), Vec::<String>::new());

    // A restart after someone opened it up again narrows tessera's files once more.
    for p in [data.join("demo.json"), data.join("tls/ca-key.pem")] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let dir = s.stop().await;
    let s = TestServer::start_in(dir, |_| {}).await;
    assert_eq!(
        open_to_others(&s.dir.path().join("data")),
        Vec::<String>::new()
    );
}

/// A data directory shared with other files (`--data-dir .`): tessera's files are made
/// private, the directory and the other files are left as they are.
#[tokio::test]
async fn files_that_are_not_tesseras_are_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(data.join("notes.txt"), "left by the operator").expect("write");
    std::fs::set_permissions(
        data.join("notes.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");

    let s = TestServer::start_in(dir, |_| {}).await;
    let data = s.dir.path().join("data");
    assert_eq!(mode(&data.join("notes.txt")), 0o644, "not tessera's");
    assert_eq!(
        mode(&data),
        0o755,
        "a directory that is not tessera's alone is left"
    );
    for name in ["demo.json", "tls", "demo"] {
        assert_eq!(mode(&data.join(name)) & 0o077, 0, "{name}");
    }
    if s.database_url().is_none() {
        assert_eq!(mode(&data.join("tessera.db")), 0o600);
    }
}

#[tokio::test]
async fn a_tls_key_everyone_can_read_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.pem()).expect("cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("key");
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).expect("chmod");

    let options = || {
        let mut o = ServeOptions::new(dir.path().join("data"));
        o.tls_cert = Some(cert_path.clone());
        o.tls_key = Some(key_path.clone());
        o
    };
    let addr = "127.0.0.1:1".parse().expect("addr");
    let err = match Server::prepare(options(), addr).await {
        Ok(_) => panic!("a world-readable TLS key was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("chmod 600"), "{err}");
    assert!(err.contains(&key_path.display().to_string()), "{err}");

    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert!(
        Server::prepare(options(), addr).await.is_ok(),
        "a private key is taken"
    );
}
