//! `tessera token` against a running `tessera serve`: output forms, the shared persistent
//! cache across processes, and errors that explain themselves without echoing secrets.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::support::{Running, tessera};

/// `tessera token …` for the demo daemon, with the cache under `home`.
fn token_cmd(s: &Running, home: &Path, secret: &str, extra: &[&str]) -> Output {
    tessera()
        .args(["token", "--authority"])
        .arg(s.str("/authority"))
        .args(["--client-id"])
        .arg(s.str("/daemon/client_id"))
        .args(["--client-secret-env", "DAEMON_SECRET", "--ca-cert"])
        .arg(s.str("/ca_cert"))
        .args(extra)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("DAEMON_SECRET", secret)
        .output()
        .expect("run tessera token")
}

fn claims(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&tessera_proto::b64::url_decode(part).expect("b64")).expect("json")
}

#[test]
fn token_prints_forms_shares_the_cache_and_explains_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Running::start(&dir.path().join("data"), &[]);
    let home = dir.path().join("home");
    let secret = s.str("/daemon/client_secret");

    let out = token_cmd(&s, &home, &secret, &["--output", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("json output");
    let first = json["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    assert_eq!(claims(&first)["appid"], s.str("/daemon/client_id").as_str());
    assert_eq!(claims(&first)["aud"], "https://graph.microsoft.com");
    let left = json["expires_in"].as_i64().expect("expires_in");
    assert!((3000..=5400).contains(&left), "60-90 minutes: {left}");

    // A second process takes the token from the shared cache: the same token, no request.
    let raw = token_cmd(&s, &home, &secret, &[]);
    assert!(raw.status.success());
    assert_eq!(String::from_utf8_lossy(&raw.stdout).trim(), first);
    let header = token_cmd(&s, &home, &secret, &["--output", "header"]);
    assert_eq!(
        String::from_utf8_lossy(&header.stdout).trim(),
        format!("Authorization: Bearer {first}")
    );
    let cache = home.join(".cache/tessera/tokens");
    assert!(
        cache.join("cache.json").exists(),
        "the cache is where documented"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&cache).expect("cache dir").permissions(),
    );
    assert_eq!(mode & 0o777, 0o700);

    // `tessera status` says where the cache is, how its key is kept, and what it holds.
    let status = tessera()
        .arg("status")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .output()
        .expect("status");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        text.contains(&format!("token cache: {}", cache.display())),
        "{text}"
    );
    assert!(text.contains("tokens: 1\n"), "{text}");
    assert!(
        text.lines().any(|l| l.contains("(app)")
            && l.contains("https://graph.microsoft.com/.default")
            && l.contains(" valid ")),
        "{text}"
    );
    assert!(
        text.contains("key: encrypted with a key in the kernel keyring")
            || text.contains("key: encrypted with a key in a separate 0600 file"),
        "{text}"
    );
    assert!(!text.contains(&first), "no token in the status");

    // --no-cache asks the server again.
    let fresh = token_cmd(&s, &home, &secret, &["--no-cache"]);
    assert!(fresh.status.success());
    assert_ne!(String::from_utf8_lossy(&fresh.stdout).trim(), first);

    // A wrong secret: exit 3 (sign-in failed), nothing on stdout, the AADSTS code and advice on stderr, and
    // the secret is not repeated.
    let wrong = token_cmd(&s, &home, "Zq9~not-the-secret", &["--no-cache"]);
    assert_eq!(wrong.status.code(), Some(3));
    assert!(wrong.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("AADSTS7000215"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
    assert!(!stderr.contains("Zq9~not"), "{stderr}");

    // A secret variable that is not set is named.
    let out = tessera()
        .args(["token", "--authority"])
        .arg(s.str("/authority"))
        .args([
            "--client-id",
            "x",
            "--client-secret-env",
            "NOT_SET_ANYWHERE",
            "--no-cache",
        ])
        .env_remove("NOT_SET_ANYWHERE")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NOT_SET_ANYWHERE is not set"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = s.stop();
    assert!(!log.contains(&secret), "the server log holds no secret");
    // The cache's key may be in the kernel keyring: do not leave it behind.
    tessera_client::PersistentCache::forget_keyring_key(&cache);
}

#[test]
fn a_wrong_secret_is_not_answered_from_the_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Running::start(&dir.path().join("data"), &[]);
    let home = dir.path().join("home");
    let secret = s.str("/daemon/client_secret");

    let good = token_cmd(&s, &home, &secret, &[]);
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    // Same client, same scopes, a cached token still fresh: a wrong secret must still fail.
    for wrong in ["x", &format!("{secret}x")] {
        let out = token_cmd(&s, &home, wrong, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "a wrong secret exited 0");
        assert!(out.stdout.is_empty(), "no token printed");
        assert!(stderr.contains("AADSTS7000215"), "{stderr}");
        if wrong.len() > 8 {
            assert!(
                !stderr.contains(wrong),
                "the secret is not echoed: {stderr}"
            );
        }
    }
    // And the right one is still answered from the cache: the same token as before.
    let again = token_cmd(&s, &home, &secret, &[]);
    assert!(again.status.success());
    assert_eq!(again.stdout, good.stdout);
}
