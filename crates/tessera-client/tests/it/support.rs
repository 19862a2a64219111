//! A running server for the client tests, and clients that trust its CA.

use tessera_client::{Authority, HttpOptions, TokenHttp};
use tessera_server::{DemoFile, ServeOptions, Server};

pub(crate) const MANAGED_IDENTITY: &str = "66666666-7777-8888-9999-000000000000";
pub(crate) const APP_SERVICE_HEADER: &str = "app-service-header-secret";

pub(crate) struct Running {
    _dir: tempfile::TempDir,
    pub(crate) demo: DemoFile,
    pub(crate) http: TokenHttp,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Running {
    pub(crate) async fn start(tweak: impl FnOnce(&mut ServeOptions)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut options = ServeOptions::new(dir.path().join("data"));
        tweak(&mut options);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let mut server = Server::prepare(options, listener.local_addr().expect("addr"))
            .await
            .expect("prepare");
        let demo = server.demo.take().expect("demo");
        let ca = std::fs::read(server.ca_cert.as_ref().expect("ca")).expect("read ca");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = server
                .run(listener, async {
                    let _ = rx.await;
                })
                .await;
        });
        let http = TokenHttp::new(HttpOptions {
            extra_ca_pem: Some(ca),
            timeout: None,
        })
        .expect("http");
        Self {
            _dir: dir,
            demo,
            http,
            _stop: tx,
        }
    }

    /// A test-mode server whose one tenant has a managed identity
    /// (`MANAGED_IDENTITY`, allowed `User.Read.All` on Graph), with IMDS and the App Service
    /// endpoint (header `APP_SERVICE_HEADER`) served at the same host as the authority.
    pub(crate) async fn with_managed_identity() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("mi.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[token]
identity_header = "{APP_SERVICE_HEADER}"

[[tenants]]
id = "11111111-2222-3333-4444-555555555555"
domain = "contoso.example"

[[tenants.applications]]
client_id = "{MANAGED_IDENTITY}"
display_name = "vm identity"
managed_identity = true
application_permissions = {{ "https://graph.microsoft.com" = ["User.Read.All"] }}
"#
            ),
        )
        .expect("config");
        let s = Self::start(|o| {
            o.test_mode = true;
            o.config_file = Some(config);
        })
        .await;
        // The server has read its config; the file may go with `dir`.
        drop(dir);
        s
    }

    /// The authority's scheme and host, where the test-mode identity endpoints also are.
    /// The server's Prometheus text.
    pub(crate) async fn metrics(&self) -> String {
        self.http
            .reqwest()
            .expect("http client")
            .get(format!("{}/metrics", self.host()))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    pub(crate) fn host(&self) -> String {
        self.demo
            .authority
            .rsplit_once('/')
            .expect("tenant")
            .0
            .to_owned()
    }

    /// The server's data directory (for `tessera_server::bulk` beside the running server).
    pub(crate) fn data_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("data")
    }

    pub(crate) fn authority(&self) -> Authority {
        Authority::parse(&self.demo.authority).expect("authority")
    }

    /// The demo daemon's certificate and private key in one PEM, as azure-identity expects,
    /// written to `dir/daemon.pem`.
    pub(crate) fn daemon_pem(&self, dir: &std::path::Path) -> (Vec<u8>, std::path::PathBuf) {
        let mut pem = std::fs::read(&self.demo.daemon.certificate_pem).expect("cert");
        pem.extend(std::fs::read(&self.demo.daemon.private_key_pem).expect("key"));
        let path = dir.join("daemon.pem");
        std::fs::write(&path, &pem).expect("write pem");
        (pem, path)
    }

    /// A federated token file for the daemon: an assertion signed with its certificate, which
    /// the server accepts as a client assertion.
    pub(crate) fn federated_token_file(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let (pem, _) = self.daemon_pem(dir);
        let cert = tessera_client::ClientCertificateCredential::from_pem(
            self.authority(),
            self.demo.daemon.client_id.clone(),
            &pem,
            &pem,
        )
        .expect("pem");
        let path = dir.join("federated-token");
        let assertion = cert.assertion(self.http.server_now()).expect("assertion");
        std::fs::write(&path, assertion.expose()).expect("write token");
        path
    }
}

/// `node tests/browser/drive.mjs …` (Playwright driving Debian's Chromium), trusting the
/// server's CA `ca`.
fn drive(ca: &str, args: &[&str]) -> std::process::Command {
    let browser = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").exists(),
        "this test needs tests/browser/node_modules and Chromium: run scripts/test"
    );
    let mut cmd = std::process::Command::new(
        std::env::var("TESSERA_NODE").unwrap_or_else(|_| "node".to_owned()),
    );
    cmd.arg(browser.join("drive.mjs"))
        .args(args)
        .current_dir(&browser)
        .env("NODE_EXTRA_CA_CERTS", ca);
    cmd
}

/// A person entering the code at the verification page, signing in and answering
/// `decision` (`accept` or `cancel`).
pub(crate) fn drive_device(
    verification_uri: &str,
    user_code: &str,
    ca: &str,
    (username, password): (&str, &str),
    decision: &str,
) -> std::process::Command {
    drive(
        ca,
        &[
            "device",
            verification_uri,
            user_code,
            username,
            password,
            "--decision",
            decision,
        ],
    )
}

/// A person following an authorize URL through the sign-in pages; `app` is how the app gets
/// the redirect (`external`: its own loopback listener; `capture`: the address is printed, as
/// a person copying it from the address bar).
pub(crate) fn drive_authorize(
    url: &str,
    ca: &str,
    (username, password): (&str, &str),
    app: &str,
) -> std::process::Command {
    drive(ca, &["authorize", url, username, password, "--app", app])
}
