//! `tessera exec` with unchanged SDK code against a real `tessera serve` that issues
//! 20-second tokens: azure-identity (`ManagedIdentityCredential`, `DefaultAzureCredential`),
//! MSAL Python's `ManagedIdentityClient`, @azure/identity, and msgraph-sdk walking 2,000
//! users one call each over several token lifetimes with no 401, while the server sees one
//! token request per refresh, not one per call; the endpoint's refusals; the exit status.

use std::process::Command;

use serde_json::Value;

use crate::browser::{browser_dir, node};
use crate::interop::{python, repo_root};
use crate::support::{Running, metrics, tessera};

fn client_credentials(s: &Running) -> u64 {
    metrics(s)
        .into_iter()
        .find(|(k, _)| {
            k.contains("tessera_token_requests_total")
                && k.contains("client_credentials")
                && k.contains("success")
        })
        .map_or(0, |(_, v)| v)
}

/// Adds the demo daemon's credential flags (and its secret in the environment) to a
/// `tessera` command.
fn as_daemon<'a>(cmd: &'a mut Command, s: &Running) -> &'a mut Command {
    cmd.arg("--authority")
        .arg(s.str("/authority"))
        .args(["--client-id", &s.str("/daemon/client_id")])
        .args(["--client-secret-env", "DAEMON_SECRET"])
        .args(["--ca-cert", &s.str("/ca_cert")])
        .env("DAEMON_SECRET", s.str("/daemon/client_secret"))
}

/// `tessera exec` as the demo daemon, running `sh -c SCRIPT`.
fn exec(s: &Running, home: &std::path::Path, script: &str) -> std::process::Output {
    let ca = s.str("/ca_cert");
    as_daemon(tessera().args(["-q", "exec"]), s)
        .args(["--", "sh", "-c", script])
        .current_dir(repo_root())
        .env("HOME", home)
        .env("SSL_CERT_FILE", &ca)
        .env("REQUESTS_CA_BUNDLE", &ca)
        .env("NODE_EXTRA_CA_CERTS", &ca)
        .output()
        .expect("tessera exec")
}

#[test]
fn unchanged_sdks_get_fresh_tokens_through_tessera_exec() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let s = Running::start(
        &data,
        &["--test-mode", "--test-access-token-lifetime", "20s"],
    );
    let home = dir.path().join("home");
    let seeded = tessera()
        .args(["seed", "users", "--count", "2000", "--data-dir"])
        .arg(&data)
        .output()
        .expect("seed");
    assert!(seeded.status.success());
    assert!(
        browser_dir().join("node_modules/@azure/identity").exists(),
        "tests/browser/node_modules lacks @azure/identity: run scripts/test (npm ci)"
    );
    let before = client_credentials(&s);
    let script = format!(
        "'{}' tests/interop/exec_sdk_walk.py '{}' 45 && '{}' tests/browser/exec-identity.mjs",
        python().display(),
        s.str("/graph_url"),
        node()
    );
    let out = exec(&s, &home, &script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout.lines();
    let py: Value = serde_json::from_str(lines.next().expect("python's line")).expect("json");
    let js: Value = serde_json::from_str(lines.next().expect("node's line")).expect("json");
    for sdk in [
        "ManagedIdentityCredential",
        "DefaultAzureCredential",
        "msal.ManagedIdentityClient",
    ] {
        assert_eq!(py[sdk]["aud"], "https://graph.microsoft.com", "{sdk}: {py}");
        assert!(
            py[sdk]["left"].as_i64().is_some_and(|l| l > 0),
            "{sdk}: {py}"
        );
    }
    assert_eq!(js["aud"], "https://graph.microsoft.com", "{js}");
    let walk = &py["walk"];
    assert!(walk["users"].as_u64().is_some_and(|n| n >= 2000), "{walk}");
    assert_eq!(walk["unauthorized"], 0, "no 401 over the walk: {walk}");
    let seconds = walk["walk_seconds"].as_f64().expect("seconds");
    assert!(seconds >= 45.0, "{walk}");
    assert!(
        walk["distinct_tokens"].as_u64().is_some_and(|n| n >= 3),
        "the tokens were refreshed as they aged: {walk}"
    );
    // Several thousand token lookups by four SDKs; upstream, one request per refresh (at
    // half of each 20-second lifetime), not one per call or per process.
    let upstream = client_credentials(&s) - before;
    let most = u64::try_from((seconds as i64 + 15) / 10 + 3).expect("positive");
    assert!(
        (2..=most).contains(&upstream),
        "{upstream} client-credentials requests upstream for a {seconds} s run"
    );
    s.stop();
}

#[test]
fn the_endpoint_refuses_what_it_must_and_exec_keeps_the_exit_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Running::start(&dir.path().join("data"), &[]);
    let home = dir.path().join("home");
    let script = format!("'{}' tests/interop/exec_refusals.py", python().display());
    let out = exec(&s, &home, &script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(stdout.trim()).expect("json");
    let status = |k: &str| v[k][0].as_u64().unwrap_or_else(|| panic!("{k}: {v}"));
    assert_eq!(status("no header"), 401);
    assert_eq!(status("wrong header"), 401);
    assert_eq!(status("imds without Metadata"), 400);
    assert_eq!(
        v["imds without Metadata"][1]["error_description"],
        "Required metadata header not specified"
    );
    assert_eq!(status("imds without the secret prefix"), 404);
    assert_eq!(status("no resource"), 400);
    assert_eq!(status("unknown identity"), 400);
    assert_eq!(
        v["unknown identity"][1]["error_description"],
        "Identity not found"
    );
    assert_eq!(status("resource the app cannot get"), 400);
    assert!(
        v["resource the app cannot get"][1]["error_description"]
            .as_str()
            .is_some_and(|d| d.starts_with("AADSTS500011")),
        "{v}"
    );
    assert_eq!(status("the right request"), 200);
    assert_eq!(v["the right request"][1]["token_type"], "Bearer");
    assert!(v["the right request"][1]["expires_on"].is_string());

    let code = exec(&s, &home, "exit 7").status.code();
    assert_eq!(
        code,
        Some(7),
        "tessera exec exits with the command's status"
    );
    let missing = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "exec",
            "--client-id",
            "x",
            "--tenant",
            "t",
            "--client-secret-env",
            "NONE",
            "--",
        ])
        .arg("no-such-program-for-tessera-exec")
        .env("NONE", "x")
        .output()
        .expect("exec");
    assert_eq!(
        missing.status.code(),
        Some(127),
        "as a shell reports a missing command"
    );
    assert!(String::from_utf8_lossy(&missing.stderr).contains("could not be started"));
    let mut killed = Command::new(env!("CARGO_BIN_EXE_tessera"));
    killed.args([
        "exec",
        "--client-id",
        "x",
        "--tenant",
        "t",
        "--client-secret-env",
        "NONE",
        "--",
        "sh",
        "-c",
        "kill -TERM $$",
    ]);
    let out = killed.env("NONE", "x").output().expect("exec");
    assert_eq!(
        out.status.code(),
        Some(128 + 15),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.stop();
}

/// `tessera agent` with two credentials (the flags' and a profile's), found by SDKs through
/// `tessera agent env`; a request picks one by `client_id`; a non-loopback address is refused.
#[test]
fn the_agent_serves_several_credentials_by_client_id() {
    const OTHER_TENANT: &str = "31313131-3434-5656-7878-909090909090";
    const OTHER_APP: &str = "c3c3c3c3-3434-5656-7878-909090909090";
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("other.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[tenants]]
id = "{OTHER_TENANT}"
domain = "other.example"
display_name = "Other"

[[tenants.applications]]
client_id = "{OTHER_APP}"
display_name = "reports job"
secrets = [{{ value = "other-secret-value" }}]
application_permissions = {{ "https://graph.microsoft.com" = ["User.Read.All"] }}
"#
        ),
    )
    .expect("config");
    let s = Running::start(
        &dir.path().join("data"),
        &["--config", config.to_str().expect("utf-8")],
    );
    let home = dir.path().join("home");
    let runtime = dir.path().join("run");
    std::fs::create_dir_all(home.join(".config/tessera")).expect("dirs");
    std::fs::write(
        home.join(".config/tessera/config.toml"),
        format!(
            "[profiles.reports]\nauthority = \"{}/{OTHER_TENANT}\"\nclient-id = \"{OTHER_APP}\"\nclient-secret-env = \"OTHER_SECRET\"\nca-cert = \"{}\"\n",
            s.base(),
            s.str("/ca_cert")
        ),
    )
    .expect("profile");
    let refused = tessera()
        .args([
            "agent",
            "--listen",
            "0.0.0.0:0",
            "--client-id",
            "x",
            "--tenant",
            "t",
        ])
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .expect("agent");
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("loopback only"));

    let mut agent = as_daemon(
        tessera().args([
            "agent",
            "--listen",
            "127.0.0.1:0",
            "--credential",
            "reports",
        ]),
        &s,
    )
    .env("HOME", &home)
    .env("XDG_RUNTIME_DIR", &runtime)
    .env("OTHER_SECRET", "other-secret-value")
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("agent");
    let state = runtime.join("tessera/agent.json");
    for _ in 0..300 {
        if state.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&state)
            .expect("state")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the state file holds the secret");
    }
    let env = tessera()
        .args(["agent", "env"])
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .expect("agent env");
    let exports = String::from_utf8_lossy(&env.stdout).to_string();
    let vars: Vec<(String, String)> = exports
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
        .collect();
    assert!(
        vars.iter().any(|(k, _)| k == "IDENTITY_HEADER"),
        "{exports}"
    );
    let ps = tessera()
        .args(["agent", "env", "--shell", "powershell"])
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .expect("agent env");
    assert!(
        String::from_utf8_lossy(&ps.stdout).contains("$env:IDENTITY_ENDPOINT = 'http://127.0.0.1:")
    );

    let script = r#"
import base64, json
from azure.identity import ManagedIdentityCredential
def appid(cred):
    t = cred.get_token("https://graph.microsoft.com/.default").token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)))["appid"]
print(json.dumps({"default": appid(ManagedIdentityCredential()),
                  "reports": appid(ManagedIdentityCredential(client_id="c3c3c3c3-3434-5656-7878-909090909090"))}))
"#;
    let out = Command::new(python())
        .args(["-c", script])
        .envs(vars)
        .output()
        .expect("python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(v["default"], s.str("/daemon/client_id").as_str());
    assert_eq!(v["reports"], OTHER_APP);

    let _ = Command::new("kill")
        .args(["-TERM", &agent.id().to_string()])
        .status();
    let status = agent.wait().expect("agent exits");
    let mut log = String::new();
    std::io::Read::read_to_string(&mut agent.stderr.take().expect("stderr"), &mut log)
        .expect("log");
    assert!(status.success(), "{log}");
    assert!(
        log.contains("credential=reports") && log.contains("token served"),
        "{log}"
    );
    assert!(
        !log.contains("other-secret-value") && !log.contains("eyJ"),
        "no secret or token in the log"
    );

    // Killed outright while serving, the agent leaves the shared cache usable: the next
    // process reads it (and the restarted agent keeps its secret, so old shells still work).
    let mut agent = as_daemon(tessera().args(["agent", "--listen", "127.0.0.1:0"]), &s)
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &runtime)
        .spawn()
        .expect("agent");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let again = tessera()
        .args(["agent", "env"])
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .expect("agent env");
    let header = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("export IDENTITY_HEADER="))
            .map(str::to_owned)
    };
    assert!(header(&exports).is_some());
    assert_eq!(
        header(&String::from_utf8_lossy(&again.stdout)),
        header(&exports)
    );
    let _ = Command::new("kill")
        .args(["-KILL", &agent.id().to_string()])
        .status();
    let _ = agent.wait();
    let token = as_daemon(tessera().arg("token"), &s)
        .env("HOME", &home)
        .output()
        .expect("token");
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    s.stop();
}

/// After `tessera login`, `tessera exec` serves the signed-in user's delegated tokens: an
/// unchanged "managed identity" script acts as the user.
#[test]
fn exec_serves_a_signed_in_users_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Running::start(&dir.path().join("data"), &[]);
    let home = dir.path().join("home");
    let common = |c: &mut Command| {
        c.args([
            "--authority",
            &s.str("/authority"),
            "--ca-cert",
            &s.str("/ca_cert"),
        ])
        .args(["--client-id", &s.str("/public_client/client_id")])
        .env("HOME", &home)
        .env("USER_PASSWORD", s.str("/user/password"))
        .env("REQUESTS_CA_BUNDLE", s.str("/ca_cert"));
    };
    let mut login = tessera();
    login.args([
        "-q",
        "login",
        "--username",
        &s.str("/user/username"),
        "--password-env",
        "USER_PASSWORD",
    ]);
    common(&mut login);
    let out = login.output().expect("login");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = r#"
import base64, json
from azure.identity import ManagedIdentityCredential
t = ManagedIdentityCredential().get_token("https://graph.microsoft.com/.default").token.split(".")[1]
c = json.loads(base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)))
print(json.dumps({"upn": c.get("upn"), "idtyp": c.get("idtyp"), "scp": c.get("scp")}))
"#;
    let mut exec = tessera();
    exec.args(["-q", "exec"]);
    common(&mut exec);
    exec.arg("--").arg(python()).args(["-c", script]);
    let out = exec.output().expect("exec");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(v["upn"], s.str("/user/username").as_str());
    assert_eq!(v["idtyp"], "user");
    assert!(
        v["scp"].as_str().is_some_and(|s| s.contains("User.Read")),
        "{v}"
    );
    s.stop();
}

/// `tessera exec --arc`: Azure Arc's protocol, no secret in the command's environment:
/// azure-identity and MSAL Python answer the challenge by reading the `.key` file under
/// /var/opt/azcmagent/tokens; a wrong answer is refused. Needs that directory (the README's
/// install step; `scripts/test` makes it when run as root).
#[test]
fn exec_speaks_azure_arc_with_challenge_files() {
    let tokens = std::path::Path::new("/var/opt/azcmagent/tokens");
    assert!(
        tokens.is_dir(),
        "{} is missing: run the README's install step (scripts/test does, as root)",
        tokens.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Running::start(&dir.path().join("data"), &[]);
    let home = dir.path().join("home");
    let script = r#"
import base64, json, os, requests, msal
from azure.identity import ManagedIdentityCredential
assert "IDENTITY_HEADER" not in os.environ and "MSI_SECRET" not in os.environ
def aud(token):
    p = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["aud"]
out = {"azure-identity": aud(ManagedIdentityCredential().get_token("https://graph.microsoft.com/.default").token)}
r = msal.ManagedIdentityClient(msal.SystemAssignedManagedIdentity(), http_client=requests.Session()).acquire_token_for_client(resource="https://graph.microsoft.com")
out["msal"] = aud(r["access_token"])
url = os.environ["IDENTITY_ENDPOINT"]
params = {"api-version": "2020-06-01", "resource": "https://graph.microsoft.com"}
first = requests.get(url, params=params, headers={"Metadata": "true"})
out["challenge"] = [first.status_code, first.headers.get("WWW-Authenticate", "")]
wrong = requests.get(url, params=params, headers={"Metadata": "true", "Authorization": "Basic not-the-content"})
out["wrong"] = wrong.status_code
print(json.dumps(out))
"#;
    let out = as_daemon(tessera().args(["-q", "exec", "--arc"]), &s)
        .arg("--")
        .arg(python())
        .args(["-c", script])
        .env("HOME", &home)
        .output()
        .expect("exec --arc");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(v["azure-identity"], "https://graph.microsoft.com", "{v}");
    assert_eq!(v["msal"], "https://graph.microsoft.com", "{v}");
    assert_eq!(v["challenge"][0], 401);
    let realm = v["challenge"][1].as_str().expect("header");
    assert!(
        realm.starts_with("Basic realm=/var/opt/azcmagent/tokens/") && realm.ends_with(".key"),
        "{realm}"
    );
    assert_eq!(v["wrong"], 401);
    s.stop();
}
