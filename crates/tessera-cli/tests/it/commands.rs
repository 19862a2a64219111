//! The client commands against a running `tessera serve`: `policy` (local TimeSpan refusal,
//! the server agreeing with `explain`), `decode --verify`, `login`/`status`/`logout` across
//! processes, profiles, table and CSV output, exit codes, and snapshots of the help texts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{Running, delta, metrics, tessera};

/// A user's environment: HOME (with the profile file and token cache) and nothing else, so
/// the developer's own variables cannot leak into a test.
struct Env {
    home: PathBuf,
    secret: String,
}

impl Env {
    fn new(s: &Running, dir: &Path) -> Self {
        let home = dir.join("home");
        let config = home.join(".config/tessera");
        std::fs::create_dir_all(&config).expect("config dir");
        // Two profiles: the daemon's app credential by default, and a user sign-in.
        std::fs::write(
            config.join("config.toml"),
            format!(
                "default-profile = \"lab\"\n\n[profiles.lab]\nauthority = \"{a}\"\nclient-id = \"{d}\"\nclient-secret-env = \"LAB_SECRET\"\nca-cert = \"{ca}\"\n\n[profiles.user]\nauthority = \"{a}\"\nclient-id = \"{p}\"\nca-cert = \"{ca}\"\n",
                a = s.str("/authority"),
                d = s.str("/daemon/client_id"),
                p = s.str("/public_client/client_id"),
                ca = s.str("/ca_cert"),
            ),
        )
        .expect("config.toml");
        Self {
            home,
            secret: s.str("/daemon/client_secret"),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = tessera();
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("LAB_SECRET", &self.secret);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run tessera")
    }

    /// Runs and insists on success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "tessera {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).expect("JSON on stdout")
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        tessera_client::PersistentCache::forget_keyring_key(
            &self.home.join(".cache/tessera/tokens"),
        );
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Replaces GUIDs with `<guid>` so snapshots hold what stays the same between runs.
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if i + 36 <= b.len()
            && text.is_char_boundary(i)
            && text.is_char_boundary(i + 36)
            && uuid::Uuid::try_parse(&text[i..i + 36]).is_ok()
        {
            out.push_str("<guid>");
            i += 36;
        } else {
            let c = text[i..].chars().next().expect("char");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// A table with its rows sorted: row order follows random ids, the content does not.
fn rows_sorted(table: &str) -> String {
    let mut lines: Vec<&str> = table.lines().collect();
    if lines.len() > 1 {
        lines[1..].sort_unstable();
    }
    lines.join("\n") + "\n"
}

/// Compares with `tests/it/snapshots/NAME`; `UPDATE_SNAPSHOTS=1` rewrites it instead.
fn snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("snapshot dir");
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot {}: run with UPDATE_SNAPSHOTS=1 and review it",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{name} differs from its snapshot (UPDATE_SNAPSHOTS=1 rewrites it)\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

/// The server's own explanation (`/_tessera/lifetime`), for comparison with the CLI's.
fn server_lifetime(s: &Running, token: &str, app_id: &str) -> Value {
    s.client()
        .get(format!(
            "{}/_tessera/lifetime?client_id={app_id}&resource={app_id}",
            s.base()
        ))
        .bearer_auth(token)
        .send()
        .and_then(reqwest::blocking::Response::json)
        .expect("lifetime explanation")
}

#[test]
fn policy_commands_check_locally_and_explain_like_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Running::start(&dir.path().join("data"), &[]);
    let env = Env::new(&s, dir.path());
    let app = "tessera demo daemon";
    let app_id = s.str("/daemon/client_id");

    // Refused before any sign-in: exit 2, the reason, and no token request at the server.
    let before = metrics(&s);
    let refused = env.run(&["policy", "create", "--lifetime", "28:00:00"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("28:00:00 is more than the 1-day maximum"),
        "{}",
        stderr(&refused)
    );
    for bad in ["00:09:59", "8:00", "1.00:00:01"] {
        assert_eq!(
            env.run(&["policy", "create", "--lifetime", bad])
                .status
                .code(),
            Some(2),
            "{bad}"
        );
    }
    assert_eq!(
        delta(&before, &metrics(&s), |k| k
            .starts_with("tessera_token_requests_total")),
        0,
        "no sign-in for a refused lifetime"
    );

    let eight = env.json(&[
        "policy",
        "create",
        "--lifetime",
        "8:00:00",
        "--name",
        "Eight hours",
        "--output",
        "json",
    ]);
    assert_eq!(eight["accessTokenLifetime"], 28_800);
    let two = env.ok(&[
        "policy",
        "create",
        "--lifetime",
        "2:00:00",
        "--name",
        "Two hours",
    ]);
    assert!(two.starts_with("created Two hours ("), "{two}");
    let assigned = env.ok(&["policy", "assign", "Two hours", "--app", app]);
    assert!(assigned.contains("to tessera demo daemon"), "{assigned}");
    // One policy per application: Graph's error, exit 4.
    let second = env.run(&["policy", "assign", "Eight hours", "--app", &app_id]);
    assert_eq!(second.status.code(), Some(4));
    assert!(stderr(&second).contains("Request_MultipleObjectsWithSameKeyValue"));
    let missing = env.run(&["policy", "assign", "Two hours", "--app", "no such app"]);
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));

    // The CLI's explanation (from Graph alone) agrees with the server's decision.
    let token = env.ok(&["token"]).trim().to_owned();
    // Explains by appId and by name; returns the CLI's answer after checking the server's.
    let explain_both = |app: &str| {
        let explained = env.json(&["policy", "explain", "--app", app, "--output", "json"]);
        let server = server_lifetime(&s, &token, &app_id);
        for (theirs, ours) in [
            ("/accessToken/source", "/accessTokenSource"),
            ("/accessToken/timeSpan", "/accessTokenLifetime"),
            ("/idToken/timeSpan", "/idTokenLifetime"),
        ] {
            assert_eq!(server.pointer(theirs), explained.pointer(ours), "{ours}");
        }
        explained
    };
    let explained = explain_both(&app_id);
    assert_eq!(explained["accessTokenSource"], "application-policy");
    assert_eq!(explained["accessTokenLifetime"], "02:00:00");

    let updated = env.ok(&["policy", "update", "Eight hours", "--org-default", "true"]);
    assert!(updated.contains("organization default"), "{updated}");
    let explained = explain_both(app);
    assert_eq!(explained["accessTokenSource"], "organization-policy");

    snapshot(
        "policy-explain.txt",
        &normalize(&env.ok(&["policy", "explain", "--app", app])),
    );
    let list = env.ok(&["policy", "list"]);
    snapshot("policy-list.txt", &rows_sorted(&normalize(&list)));
    let show = env.ok(&["policy", "show", "Two hours"]);
    snapshot("policy-show.txt", &normalize(&show));

    env.ok(&["policy", "unassign", "Two hours", "--app", app]);
    let deleted = env.ok(&["policy", "delete", "Two hours"]);
    assert!(deleted.starts_with("deleted Two hours"), "{deleted}");
    let left = env.json(&["policy", "list", "--output", "json"]);
    let names: Vec<&str> = left
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["displayName"].as_str())
        .collect();
    assert_eq!(names, ["Eight hours"]);
    let gone = env.run(&["policy", "show", "Two hours"]);
    assert_eq!(gone.status.code(), Some(2));

    // Graph output for people and spreadsheets.
    let table = env.ok(&[
        "graph",
        "get",
        "/applications",
        "--select",
        "appId,displayName",
        "--output",
        "table",
    ]);
    snapshot(
        "graph-applications-table.txt",
        &rows_sorted(&normalize(&table)),
    );
    let csv = env.ok(&[
        "graph",
        "get",
        "/applications",
        "--select",
        "displayName,appId",
        "--output",
        "csv",
    ]);
    assert!(csv.starts_with("displayName,appId\r\n"), "{csv}");
    assert!(
        csv.contains(&format!("tessera demo daemon,{app_id}\r\n")),
        "{csv}"
    );
}

#[test]
fn decode_reads_times_and_lifetime_and_verifies_signatures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Running::start(&dir.path().join("data"), &[]);
    let env = Env::new(&s, dir.path());
    let token = env.ok(&["token"]).trim().to_owned();

    let decoded = env.json(&["decode", &token, "--output", "json"]);
    assert_eq!(
        decoded["claims"]["appid"],
        s.str("/daemon/client_id").as_str()
    );
    let left = decoded["expiresIn"].as_i64().expect("expiresIn");
    assert!((3000..=5400).contains(&left), "{left}");
    assert!(
        decoded["lifetime"]
            .as_str()
            .expect("lifetime")
            .contains("within Entra's default"),
        "{decoded}"
    );

    // From stdin, as `Authorization: Bearer …`, verified with the server's published keys.
    let authority = s.str("/authority");
    let ca = s.str("/ca_cert");
    let verify = |t: &str| {
        let mut c = env.cmd(&[
            "decode",
            "--verify",
            "--authority",
            &authority,
            "--ca-cert",
            &ca,
        ]);
        c.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().expect("spawn decode");
        std::io::Write::write_all(
            &mut child.stdin.take().expect("stdin"),
            format!("Authorization: Bearer {t}\n").as_bytes(),
        )
        .expect("write token");
        child.wait_with_output().expect("decode")
    };
    let good = verify(&token);
    let text = String::from_utf8_lossy(&good.stdout);
    assert!(good.status.success(), "{}", stderr(&good));
    assert!(text.contains("signature: valid, key "), "{text}");
    assert!(text.contains("expires: "), "{text}");

    // One changed character in the signature: exit 6, said on stdout and stderr.
    let mut forged = token.clone().into_bytes();
    let last = forged.len() - 5;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let bad = verify(&String::from_utf8(forged).expect("ascii"));
    assert_eq!(bad.status.code(), Some(6), "{}", stderr(&bad));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("signature: INVALID"));

    let garbage = env.run(&["decode", "not-a-token"]);
    assert_eq!(garbage.status.code(), Some(2));
    assert!(
        stderr(&garbage).contains("not a JWT"),
        "{}",
        stderr(&garbage)
    );
}

#[test]
fn login_keeps_a_user_signed_in_across_processes_until_logout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Running::start(&dir.path().join("data"), &[]);
    let env = Env::new(&s, dir.path());
    let user = s.str("/user/username");

    // An app credential needs no login.
    let wrong = env.run(&["login"]);
    assert_eq!(wrong.status.code(), Some(2), "{}", stderr(&wrong));

    let out = env
        .cmd(&[
            "login",
            "--profile",
            "user",
            "--username",
            &user,
            "--password-env",
            "PW",
        ])
        .env("PW", s.str("/user/password"))
        .output()
        .expect("login");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(&format!("signed in as {user}")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Another process, no credential flags and no password: the kept sign-in is used.
    let before = metrics(&s);
    let token = env.ok(&["token", "--profile", "user"]).trim().to_owned();
    let claims = env.json(&["decode", &token, "--output", "json"]);
    assert_eq!(claims["claims"]["upn"], user.as_str());
    assert_eq!(
        delta(&before, &metrics(&s), |k| k.starts_with(
            "tessera_token_requests_total{grant=\"refresh_token\",outcome=\"success\""
        )),
        1,
        "one refresh-token redemption"
    );
    // And the next process takes the cached token: no request at all.
    let before = metrics(&s);
    assert_eq!(env.ok(&["token", "--profile", "user"]).trim(), token);
    assert_eq!(
        delta(&before, &metrics(&s), |k| k
            .starts_with("tessera_token_requests_total")),
        0
    );

    // AZURE_* app credentials come before the signed-in user (as in azure-identity), unless
    // --account names the user.
    let with_env = |extra: &[&str]| {
        let mut args = vec!["token", "--profile", "user"];
        args.extend_from_slice(extra);
        let out = env
            .cmd(&args)
            .env("AZURE_AUTHORITY_HOST", s.base())
            .env("AZURE_TENANT_ID", s.str("/tenant_id"))
            .env("AZURE_CLIENT_ID", s.str("/daemon/client_id"))
            .env("AZURE_CLIENT_SECRET", s.str("/daemon/client_secret"))
            .output()
            .expect("token");
        assert!(out.status.success(), "{}", stderr(&out));
        let t = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        env.json(&["decode", &t, "--output", "json"])["claims"].clone()
    };
    assert_eq!(with_env(&[])["appid"], s.str("/daemon/client_id").as_str());
    assert_eq!(with_env(&["--account", &user])["upn"], user.as_str());

    // Named with --account (any case): the same cached token; an unknown name is refused.
    assert_eq!(
        env.ok(&[
            "token",
            "--profile",
            "user",
            "--account",
            &user.to_uppercase()
        ])
        .trim(),
        token
    );
    let nobody = env.run(&["token", "--profile", "user", "--account", "nobody@x.test"]);
    assert_eq!(nobody.status.code(), Some(2), "{}", stderr(&nobody));
    assert!(
        stderr(&nobody).contains("not signed in"),
        "{}",
        stderr(&nobody)
    );

    let status = env.ok(&["status"]);
    assert!(status.contains("accounts: 1\n"), "{status}");
    assert!(status.contains(&user), "{status}");
    assert!(!status.contains(&token), "no token in the status");
    let json = env.json(&["status", "--output", "json"]);
    let tokens = json["tokens"].as_array().expect("tokens");
    assert!(
        tokens
            .iter()
            .any(|t| t["account"] == user.as_str() && t["state"] == "valid"),
        "{json}"
    );

    let bye = env.ok(&["logout"]);
    assert!(bye.starts_with(&format!("signed out {user}")), "{bye}");
    let after = env.json(&["status", "--output", "json"]);
    assert!(after["accounts"].as_array().is_some_and(Vec::is_empty));
    assert!(
        !after["tokens"]
            .as_array()
            .expect("tokens")
            .iter()
            .any(|t| t["account"] == user.as_str()),
        "the user's tokens are gone: {after}"
    );
    // Signed out, and a public client has nothing else to sign in with.
    let again = env.run(&["token", "--profile", "user"]);
    assert!(!again.status.success());
}

#[test]
fn profiles_are_checked_and_flags_override_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Running::start(&dir.path().join("data"), &[]);
    let env = Env::new(&s, dir.path());
    let missing = env.run(&["token", "--profile", "nope"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("no profile 'nope'"),
        "{}",
        stderr(&missing)
    );
    // A flag naming another credential replaces the profile's: here one whose variable is unset.
    let other = env.run(&["token", "--client-secret-env", "UNSET_VAR"]);
    assert_eq!(other.status.code(), Some(2));
    assert!(
        stderr(&other).contains("UNSET_VAR is not set"),
        "{}",
        stderr(&other)
    );
    // TESSERA_PROFILE chooses too.
    let by_env = env
        .cmd(&["token", "--output", "json"])
        .env("TESSERA_PROFILE", "lab")
        .output()
        .expect("token");
    assert!(by_env.status.success(), "{}", stderr(&by_env));
}

#[test]
fn help_texts_match_their_snapshots_and_completions_cover_every_command() {
    let commands: &[&[&str]] = &[
        &[],
        &["serve"],
        &["seed"],
        &["seed", "users"],
        &["token"],
        &["graph"],
        &["policy"],
        &["policy", "list"],
        &["policy", "show"],
        &["policy", "create"],
        &["policy", "update"],
        &["policy", "delete"],
        &["policy", "assign"],
        &["policy", "unassign"],
        &["policy", "explain"],
        &["decode"],
        &["login"],
        &["logout"],
        &["status"],
        &["completions"],
    ];
    for c in commands {
        let out = tessera()
            .args(*c)
            .arg("--help")
            .env_clear()
            .env("COLUMNS", "100")
            .output()
            .expect("help");
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).expect("utf-8");
        let name = if c.is_empty() {
            "tessera".to_owned()
        } else {
            format!("tessera-{}", c.join("-"))
        };
        // Every command shows examples.
        assert!(text.contains("Examples:"), "{name} shows no examples");
        snapshot(&format!("help/{name}.txt"), &text);
    }
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = tessera()
            .args(["completions", shell])
            .output()
            .expect("completions");
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        for word in ["policy", "decode", "login", "client-secret-env"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
}

#[test]
fn login_by_device_code_with_the_code_entered_in_chromium() {
    crate::browser::require_browser_tools();
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Running::start(&dir.path().join("data"), &[]);
    let env = Env::new(&s, dir.path());
    let mut login = env
        .cmd(&["login", "--profile", "user", "--device-code"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn login");
    // The message goes to stderr, for the person: "... open the page URL and enter the code CODE ...".
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(
        login.stderr.take().expect("stderr"),
    ));
    let message = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("enter the code"))
        .expect("the device code message on stderr");
    let words: Vec<&str> = message.split_whitespace().collect();
    let url = words
        .iter()
        .find(|w| w.starts_with("https://"))
        .expect("a verification URL");
    let code = words[words.iter().position(|w| *w == "code").expect("'code'") + 1];
    let mut drive = Command::new(crate::browser::node());
    drive
        .arg(crate::browser::browser_dir().join("drive.mjs"))
        .args(["device", url, code])
        .arg(s.str("/user/username"))
        .arg(s.str("/user/password"))
        .current_dir(crate::browser::browser_dir())
        .env("NODE_EXTRA_CA_CERTS", s.str("/ca_cert"));
    let (ok, out, err) =
        crate::browser::run_with_deadline(drive, std::time::Duration::from_secs(120));
    assert!(ok, "drive.mjs device failed:\n{out}\n{err}");
    // Drain stderr so the child never blocks on a full pipe, then collect it.
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let done = login.wait_with_output().expect("login");
    assert!(done.status.success(), "login failed: {rest:?}");
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(
        stdout.starts_with(&format!("signed in as {}", s.str("/user/username"))),
        "{stdout}"
    );
    // Silent from now on, in another process.
    let token = env.ok(&["token", "--profile", "user"]).trim().to_owned();
    let claims = env.json(&["decode", &token, "--output", "json"]);
    assert_eq!(claims["claims"]["upn"], s.str("/user/username").as_str());
}

#[test]
fn progress_shows_on_a_terminal_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Running::start(&dir.path().join("data"), &[]);
    let env = Env::new(&s, dir.path());
    let walk = "tessera graph get /applications --all --top 1 --output jsonl > walked.jsonl";
    // util-linux `script` gives the command a terminal; what it writes there is our stdout.
    let on_tty = |extra: &str| {
        let mut c = Command::new("script");
        c.args(["-qec", &format!("{walk} {extra}"), "/dev/null"])
            .current_dir(dir.path())
            .env_clear()
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    Path::new(env!("CARGO_BIN_EXE_tessera"))
                        .parent()
                        .expect("bin dir")
                        .display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("HOME", &env.home)
            .env("LAB_SECRET", &env.secret);
        let out = c.output().expect("script");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = on_tty("");
    assert!(
        shown.contains("/applications: 2 items, 2 pages"),
        "progress on the terminal: {shown:?}"
    );
    let walked = std::fs::read_to_string(dir.path().join("walked.jsonl")).expect("output");
    assert_eq!(walked.lines().count(), 2, "the data still goes to stdout");
    assert!(!on_tty("--quiet").contains("items"), "--quiet hides it");
    // Not a terminal: nothing on stderr.
    let out = env.run(&["graph", "get", "/applications", "--all", "--top", "1"]);
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}
