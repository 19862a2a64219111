//! `tessera serve` as a process: state survives kill -9, logs hold no secrets, bad options
//! and config exit non-zero with the offending key named.

use crate::support::{Running, tessera};

fn ropc(r: &Running) -> serde_json::Value {
    let (status, body) = r.token(&[
        ("grant_type", "password"),
        ("client_id", &r.str("/public_client/client_id")),
        ("username", &r.str("/user/username")),
        ("password", &r.str("/user/password")),
        ("scope", "User.Read offline_access openid profile"),
    ]);
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn kill_dash_nine_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let first = Running::start(&data, &[]);
    let secret = first.str("/daemon/client_secret");
    let daemon = first.str("/daemon/client_id");
    let public = first.str("/public_client/client_id");
    let rt = ropc(&first)["refresh_token"]
        .as_str()
        .expect("rt")
        .to_owned();
    // Rotate once so the newest refresh token was written just before the crash.
    let (status, body) = first.token(&[
        ("grant_type", "refresh_token"),
        ("client_id", &public),
        ("refresh_token", &rt),
    ]);
    assert_eq!(status, 200, "{body}");
    let rt2 = body["refresh_token"].as_str().expect("rt2").to_owned();
    let kid = {
        let (_, jwks) = (
            0,
            first
                .client()
                .get(format!("{}/discovery/v2.0/keys", first.str("/authority")))
                .send()
                .expect("jwks")
                .json::<serde_json::Value>()
                .expect("json"),
        );
        jwks["keys"][0]["kid"].clone()
    };
    first.kill9();

    let second = Running::start(&data, &[]);
    assert_eq!(
        second.str("/daemon/client_secret"),
        secret,
        "demo credentials kept"
    );
    let (status, body) = second.token(&[
        ("grant_type", "client_credentials"),
        ("client_id", &daemon),
        ("client_secret", &secret),
        ("scope", "https://graph.microsoft.com/.default"),
    ]);
    assert_eq!(status, 200, "app and secret survive: {body}");
    for token in [&rt, &rt2] {
        let (status, body) = second.token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &public),
            ("refresh_token", token),
        ]);
        assert_eq!(status, 200, "refresh token survives kill -9: {body}");
    }
    let jwks: serde_json::Value = second
        .client()
        .get(format!("{}/discovery/v2.0/keys", second.str("/authority")))
        .send()
        .expect("jwks")
        .json()
        .expect("json");
    assert_eq!(jwks["keys"][0]["kid"], kid, "signing key survives");
    let (status, _) = second.token(&[
        ("grant_type", "password"),
        ("client_id", &public),
        ("username", &second.str("/user/username")),
        ("password", &second.str("/user/password")),
        ("scope", "User.Read"),
    ]);
    assert_eq!(status, 200, "user survives");
}

#[test]
fn logs_never_hold_secrets_or_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let r = Running::start(&data, &["-vv"]);
    let secret = r.str("/daemon/client_secret");
    let password = r.str("/user/password");
    let body = ropc(&r);
    let (_, cc) = r.token(&[
        ("grant_type", "client_credentials"),
        ("client_id", &r.str("/daemon/client_id")),
        ("client_secret", &secret),
        ("scope", "https://graph.microsoft.com/.default"),
    ]);
    r.token(&[
        ("grant_type", "client_credentials"),
        ("client_id", &r.str("/daemon/client_id")),
        ("client_secret", "wrong-secret-value"),
        ("scope", "x/.default"),
    ]);
    r.token(&[
        ("grant_type", "password"),
        ("client_id", &r.str("/public_client/client_id")),
        ("username", "x@y"),
        ("password", "wrong-password-value"),
        ("scope", "User.Read"),
    ]);
    let stderr = r.stop();
    assert!(
        stderr.contains("listening"),
        "debug logging was on: {stderr}"
    );
    // stderr is a pipe here, as under a service manager: no colour codes in the lines.
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI escapes in a piped log: {stderr}"
    );
    let secrets = [
        secret.as_str(),
        password.as_str(),
        "wrong-secret-value",
        "wrong-password-value",
        body["refresh_token"].as_str().expect("rt"),
        body["access_token"].as_str().expect("at"),
        cc["access_token"].as_str().expect("at"),
    ];
    for s in secrets {
        assert!(!stderr.contains(s), "a secret or token reached the log");
    }
}

#[test]
fn invalid_config_and_options_exit_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[[tenants]]\nid = \"11111111-2222-3333-4444-555555555555\"\ndomain = \"a.example\"\n[[tenants.users]]\nuser_principal_name = \"no-at-sign\"\ndisplay_name = \"x\"\n").expect("write");
    let out = tessera()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tenants[0].users[0].user_principal_name"),
        "{stderr}"
    );

    let out = tessera()
        .args(["serve", "--test-access-token-lifetime", "20s"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap refuses the override without --test-mode"
    );
    let out = tessera()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            "postgres://x/y",
            "--data-dir",
        ])
        .arg(dir.path().join("d2"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--database"));
}

#[test]
fn serve_help_documents_the_options() {
    let out = tessera().args(["serve", "--help"]).output().expect("run");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--data-dir",
        "--database",
        "--config",
        "--public-url",
        "--test-mode",
        "--test-access-token-lifetime",
        "--tls-cert",
        "--tls-key",
    ] {
        assert!(help.contains(flag), "{flag} in help");
    }
    // A client profile means nothing to the server: not offered, and still harmless.
    assert!(!help.contains("--profile"), "{help}");
    let token = tessera().args(["token", "--help"]).output().expect("run");
    assert!(String::from_utf8_lossy(&token.stdout).contains("--profile"));
}

/// Every flow with logging at trace level (every crate's, the HTTP and TLS stacks' included):
/// no client secret, password, refresh or access token, authorization or device code, new
/// secret text or SAML response reaches a log line, and no error body echoes a wrong secret.
#[test]
fn trace_logs_never_hold_secrets_codes_or_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let r = Running::start_with_env(&data, &["--test-mode"], &[("RUST_LOG", "trace")]);
    let mut secrets: Vec<String> = vec![
        r.str("/daemon/client_secret"),
        r.str("/user/password"),
        "wrong-secret-value-7f3a".into(),
        "wrong-password-value-9c1d".into(),
    ];
    let public = r.str("/public_client/client_id");
    let body = ropc(&r);
    secrets.push(body["refresh_token"].as_str().expect("rt").to_owned());
    secrets.push(body["access_token"].as_str().expect("at").to_owned());
    let (_, refreshed) = r.token(&[
        ("grant_type", "refresh_token"),
        ("client_id", &public),
        ("refresh_token", body["refresh_token"].as_str().expect("rt")),
    ]);
    secrets.push(
        refreshed["refresh_token"]
            .as_str()
            .expect("rotated")
            .to_owned(),
    );
    let (_, cc) = r.token(&[
        ("grant_type", "client_credentials"),
        ("client_id", &r.str("/daemon/client_id")),
        ("client_secret", &r.str("/daemon/client_secret")),
        ("scope", "https://graph.microsoft.com/.default"),
    ]);
    let graph_token = cc["access_token"].as_str().expect("at").to_owned();
    secrets.push(graph_token.clone());
    let (_, wrong) = r.token(&[
        ("grant_type", "client_credentials"),
        ("client_id", &r.str("/daemon/client_id")),
        ("client_secret", "wrong-secret-value-7f3a"),
        ("scope", "https://graph.microsoft.com/.default"),
    ]);
    assert!(
        !wrong.to_string().contains("wrong-secret-value-7f3a"),
        "{wrong}"
    );
    let (_, bad_password) = r.token(&[
        ("grant_type", "password"),
        ("client_id", &public),
        ("username", &r.str("/user/username")),
        ("password", "wrong-password-value-9c1d"),
        ("scope", "User.Read"),
    ]);
    assert!(
        !bad_password
            .to_string()
            .contains("wrong-password-value-9c1d")
    );
    // Device code, approved through the test-mode control, then redeemed.
    let client = r.client();
    let code: serde_json::Value = client
        .post(format!("{}/oauth2/v2.0/devicecode", r.str("/authority")))
        .form(&[
            ("client_id", public.as_str()),
            ("scope", "User.Read offline_access"),
        ])
        .send()
        .expect("devicecode")
        .json()
        .expect("json");
    let device_code = code["device_code"]
        .as_str()
        .expect("device_code")
        .to_owned();
    let user_code = code["user_code"].as_str().expect("user_code").to_owned();
    secrets.push(device_code.clone());
    let approved = client
        .post(format!("{}/_tessera/test/device-approve", r.base()))
        .json(&serde_json::json!({"user_code": user_code, "user": r.str("/user/username")}))
        .send()
        .expect("approve");
    assert_eq!(approved.status().as_u16(), 204);
    let (status, device) = r.token(&[
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", &public),
        ("device_code", &device_code),
    ]);
    assert_eq!(status, 200, "{device}");
    secrets.push(device["refresh_token"].as_str().expect("rt").to_owned());
    // Graph with a bearer token, and a new secret made through it (returned once).
    let graph = r.str("/graph_url");
    let app: serde_json::Value = client
        .post(format!("{graph}/applications"))
        .bearer_auth(&graph_token)
        .json(&serde_json::json!({"displayName": "trace test"}))
        .send()
        .expect("create app")
        .json()
        .expect("json");
    let made: serde_json::Value = client
        .post(format!(
            "{graph}/applications/{}/addPassword",
            app["id"].as_str().expect("id")
        ))
        .bearer_auth(&graph_token)
        .json(&serde_json::json!({"passwordCredential": {"displayName": "t"}}))
        .send()
        .expect("addPassword")
        .json()
        .expect("json");
    secrets.push(made["secretText"].as_str().expect("secretText").to_owned());
    let stderr = r.stop();
    assert!(stderr.contains("TRACE"), "trace logging was on");
    for s in &secrets {
        assert!(s.len() >= 8, "a real secret: {s}");
        // The middle 8 characters too: a log line may cut or wrap a value.
        let piece = &s[s.len() / 2 - 4..s.len() / 2 + 4];
        assert!(
            !stderr.contains(s.as_str()) && !stderr.contains(piece),
            "a secret, token or code reached the trace log ({} bytes of log)",
            stderr.len()
        );
    }
}

/// TLS 1.2 and 1.3 only: `openssl s_client` asking for 1.0 or 1.1 is refused, 1.2 and 1.3
/// connect.
#[test]
fn tls_offers_versions_1_2_and_1_3_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Running::start(&dir.path().join("data"), &[]);
    let address = s.base().trim_start_matches("https://").to_owned();
    for (version, accepted) in [
        ("-tls1", false),
        ("-tls1_1", false),
        ("-tls1_2", true),
        ("-tls1_3", true),
    ] {
        let out = std::process::Command::new("openssl")
            .args(["s_client", version, "-connect", &address])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl s_client (Debian's openssl)");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        let connected = text.contains("New, TLSv1.");
        assert_eq!(connected, accepted, "{version}: {text}");
    }
    s.stop();
}
