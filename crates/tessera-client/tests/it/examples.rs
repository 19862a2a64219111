//! The credential examples in `examples/` run as a user would run them (`cargo run --example`),
//! pointed at the test server by `TESSERA_AUTHORITY` and `TESSERA_CA_FILE`.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::AsyncBufReadExt;

use crate::support::{MANAGED_IDENTITY, Running, drive_authorize, drive_device};

/// `cargo test` builds the package's examples next to the test binary's `deps` directory.
fn example(name: &str) -> tokio::process::Command {
    let exe = std::env::current_exe().expect("test binary");
    let dir: PathBuf = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the examples with `cargo test -p tessera-client` (or `cargo build -p tessera-client --examples`)",
        path.display()
    );
    let mut cmd = tokio::process::Command::new(path);
    cmd.kill_on_drop(true)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd
}

fn at(cmd: &mut tokio::process::Command, s: &Running) {
    cmd.env("TESSERA_AUTHORITY", &s.demo.authority)
        .env("TESSERA_CA_FILE", s.demo.ca_cert.as_deref().expect("CA"))
        .env("AZURE_TENANT_ID", &s.demo.tenant_id);
}

/// Runs the example; returns its stdout, having checked it succeeded and named `who`.
async fn run(mut cmd: tokio::process::Command, who: &str) -> String {
    let out = cmd.output().await.expect("run example");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("got a token: ") && stdout.contains(&format!("for={who} ")),
        "{stdout}"
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_credential_example_gets_a_token() {
    let s = Running::start(|_| {}).await;
    let daemon = &s.demo.daemon;
    let dir = tempfile::tempdir().expect("tempdir");

    let mut cmd = example("client_secret");
    at(&mut cmd, &s);
    cmd.env("AZURE_CLIENT_ID", &daemon.client_id)
        .env("AZURE_CLIENT_SECRET", &daemon.client_secret);
    let out = run(cmd, &daemon.client_id).await;
    assert!(out.contains("aud=https://graph.microsoft.com"), "{out}");
    assert!(
        !out.contains(&daemon.client_secret),
        "the secret is not printed"
    );

    let (_, pem_path) = s.daemon_pem(dir.path());
    for (path, password) in [
        (pem_path.display().to_string(), String::new()),
        (daemon.pfx.clone(), daemon.pfx_password.clone()),
    ] {
        let mut cmd = example("client_certificate");
        at(&mut cmd, &s);
        cmd.env("AZURE_CLIENT_ID", &daemon.client_id)
            .env("AZURE_CLIENT_CERTIFICATE_PATH", path)
            .env("AZURE_CLIENT_CERTIFICATE_PASSWORD", password);
        run(cmd, &daemon.client_id).await;
    }

    let token_file = s.federated_token_file(dir.path());
    let mut cmd = example("client_assertion");
    at(&mut cmd, &s);
    cmd.env("AZURE_CLIENT_ID", &daemon.client_id)
        .env("AZURE_FEDERATED_TOKEN_FILE", &token_file);
    run(cmd, &daemon.client_id).await;

    let user = &s.demo.user;
    let mut cmd = example("username_password");
    at(&mut cmd, &s);
    cmd.env("AZURE_CLIENT_ID", &s.demo.public_client.client_id)
        .env("AZURE_USERNAME", &user.username)
        .env("AZURE_PASSWORD", &user.password);
    run(cmd, &user.username).await;

    // Signed in once, then silent from the cache.
    let mut cmd = example("signed_in_account");
    at(&mut cmd, &s);
    cmd.env("AZURE_CLIENT_ID", &s.demo.public_client.client_id)
        .env("AZURE_USERNAME", &user.username)
        .env("AZURE_PASSWORD", &user.password)
        .env("TESSERA_CACHE_DIR", dir.path().join("account"));
    run(cmd, &user.username).await;

    // The environment example reads AZURE_AUTHORITY_HOST like azure-identity.
    let mut cmd = example("environment");
    cmd.env("TESSERA_CA_FILE", s.demo.ca_cert.as_deref().expect("CA"))
        .env("AZURE_AUTHORITY_HOST", s.host())
        .env("AZURE_TENANT_ID", &s.demo.tenant_id)
        .env("AZURE_CLIENT_ID", &daemon.client_id)
        .env("AZURE_CLIENT_SECRET", &daemon.client_secret);
    run(cmd, &daemon.client_id).await;

    // Missing configuration is a message naming the variable, exit status 2.
    let mut cmd = example("client_secret");
    at(&mut cmd, &s);
    let out = cmd.output().await.expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("set AZURE_CLIENT_ID"));

    // A wrong secret: the typed AADSTS error and its advice, exit status 1.
    let mut cmd = example("client_secret");
    at(&mut cmd, &s);
    cmd.env("AZURE_CLIENT_ID", &daemon.client_id)
        .env("AZURE_CLIENT_SECRET", "Qx8~not-the-real-secret");
    let out = cmd.output().await.expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("7000215"), "{stderr}");
    assert!(
        !stderr.contains("Qx8~not"),
        "the secret is not echoed: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_identity_example_against_test_mode_imds() {
    let s = Running::with_managed_identity().await;
    let mut cmd = example("managed_identity");
    cmd.env("TESSERA_CA_FILE", s.demo.ca_cert.as_deref().expect("CA"))
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", s.host());
    run(cmd, MANAGED_IDENTITY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_example_with_a_person_in_a_browser() {
    let s = Running::start(|_| {}).await;
    let mut cmd = example("device_code");
    at(&mut cmd, &s);
    cmd.env("AZURE_CLIENT_ID", &s.demo.public_client.client_id)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn example");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    // "To sign in, use a web browser to open the page <url> and enter the code <code> to …"
    let message = lines
        .next_line()
        .await
        .expect("read")
        .expect("the example prints the device code message");
    let words: Vec<&str> = message.split_whitespace().collect();
    let url = words
        .iter()
        .find(|w| w.starts_with("https://"))
        .expect("a URL in the message");
    let code = words
        .iter()
        .position(|w| *w == "code")
        .and_then(|i| words.get(i + 1))
        .expect("a code in the message");
    let browser = drive_device(
        url,
        code,
        s.demo.ca_cert.as_deref().expect("CA"),
        (&s.demo.user.username, &s.demo.user.password),
        "accept",
    );
    let out = tokio::process::Command::from(browser)
        .output()
        .await
        .expect("node");
    assert!(
        out.status.success(),
        "drive.mjs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done = child.wait_with_output().await.expect("example output");
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(
        done.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(
        stdout.contains(&format!("for={} ", s.demo.user.username)),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_example_opens_the_browser_or_takes_a_pasted_address() {
    let s = Running::start(|_| {}).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = s.demo.ca_cert.as_deref().expect("CA");

    // "The system browser" is $BROWSER: a script that has Chromium sign in through drive.mjs.
    let browser = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/browser")
        .canonicalize()
        .expect("tests/browser");
    let script = dir.path().join("browser.sh");
    let log = dir.path().join("browser.log");
    std::fs::write(
        &script,
        "#!/bin/sh\ncd \"$DRIVE_DIR\" && exec \"$DRIVE_NODE\" drive.mjs authorize \"$1\" \"$DRIVE_USER\" \"$DRIVE_PASSWORD\" --app external >\"$DRIVE_LOG\" 2>&1\n",
    )
    .expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let mut cmd = example("interactive");
    at(&mut cmd, &s);
    cmd.env("AZURE_CLIENT_ID", &s.demo.public_client.client_id)
        .env("BROWSER", &script)
        .env("DRIVE_DIR", &browser)
        .env(
            "DRIVE_NODE",
            std::env::var("TESSERA_NODE").unwrap_or_else(|_| "node".to_owned()),
        )
        .env("DRIVE_USER", &s.demo.user.username)
        .env("DRIVE_PASSWORD", &s.demo.user.password)
        .env("DRIVE_LOG", &log)
        .env("NODE_EXTRA_CA_CERTS", ca);
    let out = cmd.output().await.expect("run example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\nbrowser: {}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(
        stdout.contains(&format!("for={} ", s.demo.user.username)),
        "{stdout}"
    );

    // --no-browser: read the URL from stderr, sign in "elsewhere", paste the address on stdin.
    let mut cmd = example("interactive");
    at(&mut cmd, &s);
    cmd.arg("--no-browser")
        .env("AZURE_CLIENT_ID", &s.demo.public_client.client_id)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn example");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let url = loop {
        let line = lines
            .next_line()
            .await
            .expect("read")
            .expect("the example prints the sign-in URL");
        if let Some(u) = line.trim().strip_prefix("https://") {
            break format!("https://{u}");
        }
    };
    let signed_in = tokio::process::Command::from(drive_authorize(
        &url,
        ca,
        (&s.demo.user.username, &s.demo.user.password),
        "capture",
    ))
    .output()
    .await
    .expect("node");
    assert!(
        signed_in.status.success(),
        "drive.mjs: {}",
        String::from_utf8_lossy(&signed_in.stderr)
    );
    let address = String::from_utf8_lossy(&signed_in.stdout);
    assert!(address.starts_with("http://localhost/?code="), "{address}");
    let mut stdin = child.stdin.take().expect("stdin");
    tokio::io::AsyncWriteExt::write_all(&mut stdin, address.as_bytes())
        .await
        .expect("paste");
    drop(stdin);
    let done = child.wait_with_output().await.expect("example output");
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(done.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("for={} ", s.demo.user.username)),
        "{stdout}"
    );
}
