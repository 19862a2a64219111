//! `tessera graph` against a running `tessera serve`: a whole collection streamed with
//! `--all`, single requests, and Graph's errors on stderr.

use std::collections::HashSet;
use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::support::{Running, as_daemon, tessera};

fn graph_cmd(s: &Running, home: &Path, args: &[&str]) -> Output {
    let graph_url = s.str("/graph_url");
    let mut all = vec!["graph"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--graph-url", &graph_url]);
    as_daemon(s, home, &all)
        .output()
        .expect("run tessera graph")
}

#[test]
fn graph_get_all_streams_every_user_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let s = Running::start(&data, &[]);
    let home = dir.path().join("home");
    let seeded = tessera()
        .args(["seed", "users", "--count", "1200", "--data-dir"])
        .arg(&data)
        .output()
        .expect("seed");
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );

    let count = graph_cmd(
        &s,
        &home,
        &[
            "get",
            "/users/$count",
            "--header",
            "ConsistencyLevel:eventual",
        ],
    );
    assert!(
        count.status.success(),
        "{}",
        String::from_utf8_lossy(&count.stderr)
    );
    let count: usize = String::from_utf8_lossy(&count.stdout)
        .trim()
        .parse()
        .expect("a number");
    assert!(count > 1200, "{count}");

    let out = graph_cmd(
        &s,
        &home,
        &[
            "get",
            "/users",
            "--all",
            "--top",
            "500",
            "--select",
            "id,displayName",
            "--output",
            "jsonl",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), count, "every user");
    let ids: HashSet<&str> = lines
        .iter()
        .map(|u| u["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), count, "each once");
    assert!(
        lines.iter().all(|u| u.get("userPrincipalName").is_none()),
        "$select applied"
    );

    // --output json with --all is one array.
    let out = graph_cmd(
        &s,
        &home,
        &["get", "/users", "--all", "--top", "999", "--select", "id"],
    );
    let all: Value = serde_json::from_slice(&out.stdout).expect("one JSON array");
    assert_eq!(all.as_array().map(Vec::len), Some(count));

    // Graph's error: exit 4, code and request-id on stderr, nothing on stdout.
    let missing = graph_cmd(
        &s,
        &home,
        &["get", "/users/00000000-0000-0000-0000-000000000000"],
    );
    assert_eq!(missing.status.code(), Some(4));
    assert!(missing.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("Request_ResourceNotFound") && stderr.contains("request-id"),
        "{stderr}"
    );
    let bad = graph_cmd(&s, &home, &["post", "/users", "--all"]);
    assert_eq!(bad.status.code(), Some(2), "a usage error");
    tessera_client::PersistentCache::forget_keyring_key(&home.join(".cache/tessera/tokens"));
}
