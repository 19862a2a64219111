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

/// The admin script of the README, through `tessera graph`: create an app, give it a
/// secret, grant it Graph's User.Read.All by app role assignment; `tessera token` for the
/// new app then carries exactly that role.
#[test]
fn an_admin_script_creates_an_app_a_secret_and_a_grant() {
    const TENANT: &str = "12121212-3434-5656-7878-909090909090";
    const ADMIN: &str = "abababab-cdcd-efef-0101-232323232323";
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("tenant.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[tenants]]
id = "{TENANT}"
domain = "fabrikam.example"
display_name = "Fabrikam"

[[tenants.applications]]
client_id = "{ADMIN}"
display_name = "provisioning script"
secrets = [{{ value = "provisioning-secret" }}]
application_permissions = {{ "https://graph.microsoft.com" = ["Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All"] }}
"#
        ),
    )
    .expect("config");
    let config = config.display().to_string();
    let s = Running::start(&dir.path().join("data"), &["--config", &config]);
    let home = dir.path().join("home");
    let authority = format!("{}/{TENANT}", s.base());
    let graph_url = s.str("/graph_url");
    let call = |client: &str, secret: &str, args: &[&str]| -> Value {
        let out = tessera()
            .arg("graph")
            .args(args)
            .args([
                "--graph-url",
                &graph_url,
                "--authority",
                &authority,
                "--client-id",
                client,
            ])
            .args(["--client-secret-env", "SECRET", "--ca-cert"])
            .arg(s.str("/ca_cert"))
            .env("HOME", &home)
            .env("SECRET", secret)
            .output()
            .expect("tessera graph");
        assert!(
            out.status.success(),
            "tessera graph {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    };
    let admin = |args: &[&str]| call(ADMIN, "provisioning-secret", args);

    let app = admin(&[
        "post",
        "/applications",
        "--body",
        r#"{"displayName":"nightly report"}"#,
    ]);
    let (object_id, app_id) = (
        app["id"].as_str().expect("id").to_owned(),
        app["appId"].as_str().expect("appId").to_owned(),
    );
    let secret = admin(&[
        "post",
        &format!("/applications/{object_id}/addPassword"),
        "--body",
        r#"{"passwordCredential":{"displayName":"ci"}}"#,
    ])["secretText"]
        .as_str()
        .expect("secretText")
        .to_owned();
    let sp = admin(&[
        "post",
        "/servicePrincipals",
        "--body",
        &format!(r#"{{"appId":"{app_id}"}}"#),
    ]);
    let graph_sp = admin(&[
        "get",
        "/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')",
    ]);
    let role = graph_sp["appRoles"]
        .as_array()
        .expect("appRoles")
        .iter()
        .find(|r| r["value"] == "User.Read.All")
        .expect("User.Read.All")["id"]
        .clone();
    let grant = serde_json::json!({
        "principalId": sp["id"],
        "resourceId": graph_sp["id"],
        "appRoleId": role,
    })
    .to_string();
    let assigned = admin(&[
        "post",
        &format!(
            "/servicePrincipals/{}/appRoleAssignments",
            sp["id"].as_str().expect("sp id")
        ),
        "--body",
        &grant,
    ]);
    assert_eq!(assigned["appRoleId"], role);

    // The new app, with its new secret, reads users: the grant is in its token.
    let users = call(&app_id, &secret, &["get", "/users", "--top", "1"]);
    assert!(users["value"].is_array(), "{users}");
    let out = tessera()
        .args(["token", "--authority", &authority, "--client-id", &app_id])
        .args(["--client-secret-env", "SECRET", "--ca-cert"])
        .arg(s.str("/ca_cert"))
        .args(["--output", "json"])
        .env("HOME", &home)
        .env("SECRET", &secret)
        .output()
        .expect("tessera token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token: Value = serde_json::from_slice(&out.stdout).expect("json");
    let payload = token["access_token"]
        .as_str()
        .expect("token")
        .split('.')
        .nth(1)
        .expect("payload");
    let claims: Value =
        serde_json::from_slice(&tessera_proto::b64::url_decode(payload).expect("b64"))
            .expect("claims");
    assert_eq!(claims["roles"], serde_json::json!(["User.Read.All"]));
    assert_eq!(claims["appid"], app_id.as_str());
}

/// Every `tessera graph` line of the README's "Run an hour-long Graph job" example runs
/// against the demo tenant as written (with the demo user for the README's placeholder
/// user), through a profile holding the demo daemon, as a reader following the README has.
#[test]
fn the_readme_graph_job_examples_run_against_the_demo() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .expect("README.md");
    let section = readme
        .split("### Run an hour-long Graph job")
        .nth(1)
        .expect("the section");
    let block = section
        .split("```sh")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("its example");
    let lines: Vec<&str> = block
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("tessera graph "))
        .collect();
    assert!(lines.len() >= 4, "{block}");

    let dir = tempfile::tempdir().expect("tempdir");
    let s = Running::start(&dir.path().join("data"), &[]);
    let home = dir.path().join("home");
    let config = home.join(".config/tessera");
    std::fs::create_dir_all(&config).expect("config dir");
    std::fs::write(
        config.join("config.toml"),
        format!(
            "default-profile = \"demo\"\n[profiles.demo]\nauthority = \"{}\"\nclient-id = \"{}\"\n\
             client-secret-env = \"DEMO_SECRET\"\nca-cert = \"{}\"\ngraph-url = \"{}\"\n",
            s.str("/authority"),
            s.str("/daemon/client_id"),
            s.str("/ca_cert"),
            s.str("/graph_url"),
        ),
    )
    .expect("profile");
    let bin = Path::new(env!("CARGO_BIN_EXE_tessera"))
        .parent()
        .expect("bin dir")
        .to_owned();
    let user = s.str("/user/username");
    for line in lines {
        let line = line.replace("megan@contoso.com", &user);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&line)
            .current_dir(dir.path())
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", config.parent().expect("parent"))
            .env("DEMO_SECRET", s.str("/daemon/client_secret"))
            .output()
            .expect("sh");
        assert!(
            out.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // What the redirected lines wrote is real data.
    let users = std::fs::read_to_string(dir.path().join("users.jsonl")).expect("users.jsonl");
    assert!(users.contains(&user), "{users}");
    let groups = std::fs::read_to_string(dir.path().join("groups.csv")).expect("groups.csv");
    assert!(groups.contains("Tessera Demo Team"), "{groups}");
    tessera_client::PersistentCache::forget_keyring_key(&home.join(".cache/tessera/tokens"));
}
