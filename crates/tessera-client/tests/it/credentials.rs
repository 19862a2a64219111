//! Each credential against the real server: tokens come back, errors are typed and helpful.

use tessera_client::{
    ClientCertificateCredential, ClientError, ClientSecretCredential, Credential,
    RefreshTokenCredential, Secret, Thumbprint, TokenRequest, UsernamePasswordCredential,
};

use crate::support::{
    APP_SERVICE_HEADER, MANAGED_IDENTITY, Running, drive_authorize, drive_device,
};

const GRAPH: &str = "https://graph.microsoft.com/.default";

fn claims(token: &str) -> serde_json::Value {
    let part = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&tessera_proto::b64::url_decode(part).expect("b64")).expect("json")
}

#[tokio::test]
async fn client_secret_and_its_errors() {
    let s = Running::start(|_| {}).await;
    let good = ClientSecretCredential {
        authority: s.authority(),
        client_id: s.demo.daemon.client_id.clone(),
        secret: Secret::new(s.demo.daemon.client_secret.clone()),
    };
    let t = good
        .fetch(&s.http, &TokenRequest::new(&[GRAPH]))
        .await
        .expect("token");
    assert_eq!(
        claims(&t.access_token)["appid"],
        s.demo.daemon.client_id.as_str()
    );
    assert!(
        format!("{good:?}").contains("[redacted]")
            && !format!("{good:?}").contains(&s.demo.daemon.client_secret)
    );

    let bad = ClientSecretCredential {
        secret: Secret::new("wrong"),
        ..good.clone()
    };
    let err = bad
        .fetch(&s.http, &TokenRequest::new(&[GRAPH]))
        .await
        .expect_err("refused");
    assert_eq!(err.aadsts_codes(), [7000215]);
    let text = err.to_string();
    assert!(text.contains("hint: the client secret is wrong"), "{text}");
    assert!(text.contains("trace id: "), "{text}");

    let cae = TokenRequest {
        cae: true,
        ..TokenRequest::new(&[GRAPH])
    };
    let t = good.fetch(&s.http, &cae).await.expect("cae token");
    assert!(
        t.expires_in >= 72_000,
        "CAE-capable clients get long-lived tokens: {}",
        t.expires_in
    );
}

#[tokio::test]
async fn certificate_from_pem_and_pfx_in_both_thumbprint_styles() {
    let s = Running::start(|_| {}).await;
    let cert = std::fs::read(&s.demo.daemon.certificate_pem).expect("cert");
    let key = std::fs::read(&s.demo.daemon.private_key_pem).expect("key");
    let mut c = ClientCertificateCredential::from_pem(
        s.authority(),
        s.demo.daemon.client_id.clone(),
        &cert,
        &key,
    )
    .expect("pem");
    let t = c
        .fetch(&s.http, &TokenRequest::new(&[GRAPH]))
        .await
        .expect("PS256 x5t#S256");
    assert_eq!(claims(&t.access_token)["appidacr"], "2");
    c.thumbprint = Thumbprint::Sha1;
    c.send_x5c = true;
    c.fetch(&s.http, &TokenRequest::new(&[GRAPH]))
        .await
        .expect("RS256 x5t with x5c");

    let pfx = std::fs::read(&s.demo.daemon.pfx).expect("pfx");
    let p = ClientCertificateCredential::from_pfx(
        s.authority(),
        s.demo.daemon.client_id.clone(),
        &pfx,
        &Secret::new(s.demo.daemon.pfx_password.clone()),
    )
    .expect("pfx");
    p.fetch(&s.http, &TokenRequest::new(&[GRAPH]))
        .await
        .expect("token from PFX");
    assert!(
        ClientCertificateCredential::from_pfx(s.authority(), "x", &pfx, &Secret::new("wrong"))
            .is_err()
    );

    // Encrypted PKCS#8 as OpenSSL writes it (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC).
    let dir = tempfile::tempdir().expect("tempdir");
    let encrypted = dir.path().join("key.enc.pem");
    let status = std::process::Command::new("openssl")
        .args([
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:Open-Sesame-9",
        ])
        .arg("-in")
        .arg(&s.demo.daemon.private_key_pem)
        .arg("-out")
        .arg(&encrypted)
        .status()
        .expect("openssl");
    assert!(status.success());
    let enc = std::fs::read(&encrypted).expect("read");
    assert!(String::from_utf8_lossy(&enc).contains("BEGIN ENCRYPTED PRIVATE KEY"));
    let open = |password: Option<&str>| {
        ClientCertificateCredential::from_pem_with_password(
            s.authority(),
            s.demo.daemon.client_id.clone(),
            &cert,
            &enc,
            password.map(Secret::new).as_ref(),
        )
    };
    open(Some("Open-Sesame-9"))
        .expect("opens with its password")
        .fetch(&s.http, &TokenRequest::new(&[GRAPH]))
        .await
        .expect("token with the decrypted key");
    let wrong = open(Some("nope")).expect_err("wrong password");
    assert!(wrong.to_string().contains("did not open"), "{wrong}");
    let missing = open(None).expect_err("no password");
    assert!(
        missing.to_string().contains("give its password"),
        "{missing}"
    );

    // A certificate the app does not know: the error names the thumbprints that were sent.
    let other = ClientCertificateCredential::from_pem(
        s.authority(),
        "00000000-0000-0000-0000-000000000001",
        &cert,
        &key,
    )
    .expect("pem");
    let err = other
        .fetch(&s.http, &TokenRequest::new(&[GRAPH]))
        .await
        .expect_err("unknown app");
    assert!(matches!(err, ClientError::Aadsts(_)));
}

#[tokio::test]
async fn username_password_then_refresh_token() {
    let s = Running::start(|_| {}).await;
    let ropc = UsernamePasswordCredential {
        authority: s.authority(),
        client_id: s.demo.public_client.client_id.clone(),
        username: s.demo.user.username.clone(),
        password: Secret::new(s.demo.user.password.clone()),
    };
    let t = ropc
        .fetch(&s.http, &TokenRequest::new(&["User.Read"]))
        .await
        .expect("ropc");
    assert_eq!(
        claims(&t.access_token)["upn"],
        s.demo.user.username.as_str()
    );
    let rt = t
        .refresh_token
        .clone()
        .expect("refresh token with offline_access");
    let r = RefreshTokenCredential::new(
        s.authority(),
        s.demo.public_client.client_id.clone(),
        Secret::new(rt.clone()),
    );
    r.fetch(&s.http, &TokenRequest::new(&["User.Read"]))
        .await
        .expect("refresh");
    assert_ne!(
        r.current_refresh_token().expose(),
        rt,
        "the newest refresh token is kept"
    );
    let wrong = UsernamePasswordCredential {
        password: Secret::new("nope"),
        ..ropc
    };
    let err = wrong
        .fetch(&s.http, &TokenRequest::new(&["User.Read"]))
        .await
        .expect_err("bad password");
    assert_eq!(err.aadsts_codes(), [50126]);
}

#[tokio::test]
async fn environment_variables_and_chains() {
    use std::collections::HashMap;
    use tessera_client::{ChainedCredential, from_environment};
    let s = Running::start(|_| {}).await;
    let host = s.host();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut vars: HashMap<&str, String> = HashMap::from([
        ("AZURE_TENANT_ID", s.demo.tenant_id.clone()),
        ("AZURE_CLIENT_ID", s.demo.daemon.client_id.clone()),
        ("AZURE_AUTHORITY_HOST", host),
    ]);
    fn lookup(vars: &HashMap<&str, String>) -> impl Fn(&str) -> Option<String> + use<> {
        let owned: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        move |k: &str| owned.get(k).cloned()
    }

    vars.insert("AZURE_CLIENT_SECRET", s.demo.daemon.client_secret.clone());
    from_environment(lookup(&vars))
        .expect("secret")
        .fetch(&s.http, &TokenRequest::new(&[GRAPH]))
        .await
        .expect("token by secret");
    vars.remove("AZURE_CLIENT_SECRET");

    let (_, pem_path) = s.daemon_pem(dir.path());
    vars.insert(
        "AZURE_CLIENT_CERTIFICATE_PATH",
        pem_path.display().to_string(),
    );
    from_environment(lookup(&vars))
        .expect("cert")
        .fetch(&s.http, &TokenRequest::new(&[GRAPH]))
        .await
        .expect("token by PEM");
    vars.insert("AZURE_CLIENT_CERTIFICATE_PATH", s.demo.daemon.pfx.clone());
    vars.insert(
        "AZURE_CLIENT_CERTIFICATE_PASSWORD",
        s.demo.daemon.pfx_password.clone(),
    );
    from_environment(lookup(&vars))
        .expect("pfx")
        .fetch(&s.http, &TokenRequest::new(&[GRAPH]))
        .await
        .expect("token by PFX");
    vars.remove("AZURE_CLIENT_CERTIFICATE_PATH");

    // Workload identity: the federated token file is re-read on every request.
    let token_file = s.federated_token_file(dir.path());
    vars.insert(
        "AZURE_FEDERATED_TOKEN_FILE",
        token_file.display().to_string(),
    );
    let federated = from_environment(lookup(&vars)).expect("federated");
    federated
        .fetch(&s.http, &TokenRequest::new(&[GRAPH]))
        .await
        .expect("token by federated file");
    std::fs::write(&token_file, "not-a-jwt").expect("rotate");
    assert!(
        federated
            .fetch(&s.http, &TokenRequest::new(&[GRAPH]))
            .await
            .is_err(),
        "the file is read again"
    );

    // A chain falls through a failing credential to a working one.
    let bad: std::sync::Arc<dyn Credential> = std::sync::Arc::new(ClientSecretCredential {
        authority: s.authority(),
        client_id: s.demo.daemon.client_id.clone(),
        secret: Secret::new("wrong"),
    });
    let good: std::sync::Arc<dyn Credential> = std::sync::Arc::new(ClientSecretCredential {
        authority: s.authority(),
        client_id: s.demo.daemon.client_id.clone(),
        secret: Secret::new(s.demo.daemon.client_secret.clone()),
    });
    let chain = ChainedCredential::new(vec![bad.clone(), good]).expect("chain");
    chain
        .fetch(&s.http, &TokenRequest::new(&[GRAPH]))
        .await
        .expect("second credential works");
    let err = ChainedCredential::new(vec![bad.clone(), bad])
        .expect("chain")
        .fetch(&s.http, &TokenRequest::new(&[GRAPH]))
        .await
        .expect_err("all fail");
    assert!(err.to_string().contains("7000215"), "{err}");
}

#[tokio::test]
async fn managed_identity_over_imds_and_app_service() {
    use tessera_client::{ManagedIdentityCredential, ManagedIdentitySource};
    let s = Running::with_managed_identity().await;
    let host = s.host();
    let imds = ManagedIdentityCredential::from_environment(|k| {
        (k == "AZURE_POD_IDENTITY_AUTHORITY_HOST").then(|| host.clone())
    });
    assert!(matches!(imds.source, ManagedIdentitySource::Imds { .. }));
    let t = imds
        .fetch(&s.http, &TokenRequest::new(&[GRAPH]))
        .await
        .expect("IMDS token");
    let c = claims(&t.access_token);
    assert_eq!(c["appid"], MANAGED_IDENTITY);
    assert_eq!(c["appidacr"], "2");
    assert_eq!(c["roles"][0], "User.Read.All");
    assert!(
        t.expires_in >= 3600,
        "string-typed expires_in parsed: {}",
        t.expires_in
    );

    // IMDS's retry rules: a 503 is retried and the token still comes.
    let r = s
        .http
        .reqwest()
        .expect("http client")
        .post(format!("{host}/_tessera/test/faults"))
        .json(&serde_json::json!({"target": "token", "path": "/metadata", "status": 503, "retry_after": "0.2", "count": 2}))
        .send()
        .await
        .expect("fault");
    assert_eq!(r.status().as_u16(), 204);
    imds.fetch(&s.http, &TokenRequest::new(&[GRAPH]))
        .await
        .expect("token after two 503s");
    let metrics = s.metrics().await;
    assert!(
        metrics.contains("tessera_http_requests_total{route=\"/metadata/identity/oauth2/token\",status=\"503\"} 2"),
        "the two 503s were served and retried: {metrics}"
    );

    let app_service = ManagedIdentityCredential::from_environment(|k| match k {
        "IDENTITY_ENDPOINT" => Some(format!("{host}/msi/token")),
        "IDENTITY_HEADER" => Some(APP_SERVICE_HEADER.into()),
        _ => None,
    });
    assert!(matches!(
        app_service.source,
        ManagedIdentitySource::AppService { .. }
    ));
    let t = app_service
        .fetch(&s.http, &TokenRequest::new(&[GRAPH]))
        .await
        .expect("App Service token");
    assert!(t.expires_in > 0, "expires_on turned into expires_in");
    let wrong = ManagedIdentityCredential {
        source: ManagedIdentitySource::AppService {
            endpoint: format!("{host}/msi/token"),
            header: Secret::new("wrong"),
        },
        client_id: None,
    };
    assert!(
        wrong
            .fetch(&s.http, &TokenRequest::new(&[GRAPH]))
            .await
            .is_err()
    );
    let unknown = ManagedIdentityCredential {
        client_id: Some("00000000-0000-0000-0000-00000000beef".into()),
        ..imds.clone()
    };
    let err = unknown
        .fetch(&s.http, &TokenRequest::new(&[GRAPH]))
        .await
        .expect_err("no such identity");
    assert!(err.to_string().contains("Identity not found"), "{err}");
}

// Multi-threaded: the server must keep answering the browser while this thread waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_approved_and_declined_in_a_browser() {
    let s = Running::start(|_| {}).await;
    let ca = s.demo.ca_cert.clone().expect("test server CA");
    for decision in ["accept", "cancel"] {
        let (tx, rx) = std::sync::mpsc::channel();
        let shown = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let prompts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = prompts.clone();
        let (user, password, seen) = (
            s.demo.user.username.clone(),
            s.demo.user.password.clone(),
            shown.clone(),
        );
        let ca = ca.clone();
        let credential = tessera_client::DeviceCodeCredential::new(
            s.authority(),
            s.demo.public_client.client_id.clone(),
            move |info| {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                *seen.lock().expect("lock") = info.message.clone();
                let mut browser = drive_device(
                    &info.verification_uri,
                    &info.user_code,
                    &ca,
                    (&user, &password),
                    decision,
                );
                let done = tx.clone();
                std::thread::spawn(move || {
                    let _ = done.send(browser.output().expect("run node drive.mjs"));
                });
            },
        );
        // Without the person the device would poll for 15 minutes; a hang guard, not a timing check.
        let result = tokio::time::timeout(
            std::time::Duration::from_secs(180),
            credential.fetch(&s.http, &TokenRequest::new(&["User.Read"])),
        )
        .await;
        let browser = rx.recv().expect("drive.mjs finished");
        assert!(
            browser.status.success(),
            "drive.mjs: {}",
            String::from_utf8_lossy(&browser.stderr)
        );
        assert!(
            shown.lock().expect("lock").contains("/devicelogin"),
            "the callback got the message to show"
        );
        let result = result.expect("the flow finished once the browser was done");
        if decision == "accept" {
            let t = result.expect("device code token");
            assert_eq!(
                claims(&t.access_token)["upn"],
                s.demo.user.username.as_str()
            );
            assert!(t.refresh_token.is_some(), "offline_access is asked for");
            // Later tokens, for the same or other scopes, come from the held refresh token.
            for scope in ["User.Read", "https://graph.microsoft.com/.default"] {
                let again = credential
                    .fetch(&s.http, &TokenRequest::new(&[scope]))
                    .await
                    .expect("silent token");
                assert_eq!(
                    claims(&again.access_token)["upn"],
                    s.demo.user.username.as_str()
                );
            }
            assert_eq!(
                prompts.load(std::sync::atomic::Ordering::SeqCst),
                1,
                "the person was asked once"
            );
        } else {
            let err = result.expect_err("declined");
            assert!(
                matches!(err, ClientError::Interaction(_)),
                "declined is an interaction error: {err:?}"
            );
        }
    }
}

// Multi-threaded: the server must keep answering the browser while the opener's thread waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_sign_in_by_loopback_and_by_pasted_address() {
    use tessera_client::{InteractiveCredential, Redirect};
    let s = Running::start(|_| {}).await;
    let ca = s.demo.ca_cert.clone().expect("test server CA");
    let user = (s.demo.user.username.clone(), s.demo.user.password.clone());
    let hang_guard = std::time::Duration::from_secs(180);

    // Loopback: the credential listens on 127.0.0.1 and "opens the browser" (Chromium here).
    let (tx, rx) = std::sync::mpsc::channel();
    let (ca2, user2) = (ca.clone(), user.clone());
    let opens = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let opened = opens.clone();
    let loopback =
        InteractiveCredential::new(s.authority(), s.demo.public_client.client_id.clone())
            .with_opener(move |url| {
                opened.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                assert!(url.contains("code_challenge_method=S256"), "{url}");
                let mut cmd = drive_authorize(url, &ca2, (&user2.0, &user2.1), "external");
                let done = tx.clone();
                std::thread::spawn(move || {
                    let _ = done.send(cmd.output().expect("run node drive.mjs"));
                });
                Ok(())
            });
    let t = tokio::time::timeout(
        hang_guard,
        loopback.fetch(&s.http, &TokenRequest::new(&["User.Read"])),
    )
    .await
    .expect("the flow finished")
    .expect("token by loopback");
    let browser = rx.recv().expect("drive.mjs finished");
    let printed = String::from_utf8_lossy(&browser.stdout);
    assert!(
        browser.status.success(),
        "drive.mjs: {}",
        String::from_utf8_lossy(&browser.stderr)
    );
    assert!(printed.starts_with("http://localhost:"), "{printed}");
    assert_eq!(
        claims(&t.access_token)["upn"],
        s.demo.user.username.as_str()
    );
    // The next token comes silently: the browser is not opened a second time.
    let again = loopback
        .fetch(&s.http, &TokenRequest::new(&["User.Read"]))
        .await
        .expect("silent token");
    assert_eq!(
        claims(&again.access_token)["upn"],
        s.demo.user.username.as_str()
    );
    assert_eq!(
        opens.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the browser was opened once"
    );
    assert!(t.refresh_token.is_some() && t.id_token.is_some());

    // No browser here: the credential shows the URL, the person signs in elsewhere and pastes
    // the address the browser ended on.
    let (ca3, user3) = (ca.clone(), user.clone());
    let mut pasted =
        InteractiveCredential::new(s.authority(), s.demo.public_client.client_id.clone());
    pasted.redirect = Redirect::Paste(std::sync::Arc::new(move |url| {
        let out = drive_authorize(url, &ca3, (&user3.0, &user3.1), "capture")
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }));
    let t = tokio::time::timeout(
        hang_guard,
        pasted.fetch(&s.http, &TokenRequest::new(&["User.Read"])),
    )
    .await
    .expect("the flow finished")
    .expect("token by pasted address");
    assert_eq!(
        claims(&t.access_token)["upn"],
        s.demo.user.username.as_str()
    );

    // A pasted address from another sign-in (wrong state) is refused before any code is used.
    let mut wrong =
        InteractiveCredential::new(s.authority(), s.demo.public_client.client_id.clone());
    wrong.redirect = Redirect::Paste(std::sync::Arc::new(|_| {
        Ok("http://localhost/?code=stolen&state=not-ours".to_owned())
    }));
    let err = wrong
        .fetch(&s.http, &TokenRequest::new(&["User.Read"]))
        .await
        .expect_err("state mismatch");
    assert!(err.to_string().contains("different state"), "{err}");
}
