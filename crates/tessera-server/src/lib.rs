//! tessera's identity platform: Entra ID v2.0 endpoints (discovery, JWKS, token) over
//! HTTPS, with Entra's flows, claims, AADSTS errors and lifetimes, on an embedded SQLite
//! store or a PostgreSQL database several servers share. `Server::prepare` sets everything
//! up; `Server::run` serves an already-bound listener, so tests bind port 0.

// Protocol surfaces: each answers one protocol's requests and uses the core below.
mod graph;
mod http;
mod portal;
mod saml;
mod signin;

// The core: token minting and lifetimes, SAML tokens, the directory, keys, the shared
// response shapes.
mod assertion;
mod crypto;
mod directory;
mod respond;
mod state;
mod token;

// Plumbing: start-up and tools, the store, files, TLS, metrics.
mod error;
mod infra;
mod setup;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tessera_proto::clock::{Clock, OffsetClock, Random};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

pub use error::ServerError;
pub use setup::bulk::{SeedReport, SeedUsers, seed_users};
pub use setup::config::FileConfig;
use setup::options::TlsSource;
pub use setup::options::{ServeOptions, redact_database};
pub use setup::saml_app::{SeedSamlApp, SeededSamlApp, seed_saml_app};
pub use setup::seed::DemoFile;

use crate::directory::Directory;
use crate::state::{AppState, Settings};

/// A TLS handshake that takes longer than this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A client has this long to send a request's headers (slow-header clients are cut off).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; beyond it new ones wait in the kernel's backlog until one
/// ends, so a flood of idle connections cannot exhaust memory or file descriptors.
const MAX_CONNECTIONS: usize = 10_000;

/// A prepared server: store open, keys loaded, TLS ready, demo seeded.
pub struct Server {
    state: Arc<AppState>,
    acceptor: TlsAcceptor,
    /// `https://host:port` clients use.
    pub base_url: String,
    /// The generated CA certificate (PEM path) clients must trust, if the server made one.
    pub ca_cert: Option<PathBuf>,
    /// The demo tenant's details (`DATA_DIR/demo.json`), when seeded.
    pub demo: Option<DemoFile>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

fn default_base(addr: SocketAddr) -> String {
    let host = match addr.ip() {
        ip if ip.is_unspecified() => "localhost".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    respond::https_origin(&format!("{host}:{}", addr.port()))
}

impl Server {
    /// Opens the store, loads or creates keys and TLS material, applies `--config` and
    /// seeds the demo tenant. `local_addr` is the address the listener is bound to.
    pub async fn prepare(opts: ServeOptions, local_addr: SocketAddr) -> Result<Self, ServerError> {
        let config = opts.resolve()?;
        infra::files::secure_data_dir(&config.data_dir)?;
        let store = config.database.open().await?;
        // Servers sharing a database initialise one after the other: the second finds the
        // first's signing key, configuration and demo tenant instead of making its own.
        let startup = store.startup_lock().await?;
        let clock = Arc::new(OffsetClock::new());
        let random: Arc<dyn Random> = Arc::new(crypto::SystemRandom::default());
        let directory = Directory::new(store.clone());
        let keys = crypto::keys::KeySet::load_or_create(store.as_ref(), clock.unix()).await?;
        if let Some(file) = &config.file {
            file.apply(&directory, random.as_ref(), clock.unix())
                .await?;
        }

        let base_url = config
            .public_base
            .clone()
            .unwrap_or_else(|| default_base(local_addr));
        let public_host = url::Url::parse(&base_url)
            .ok()
            .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_owned()));
        let mut known_hosts: Vec<String> =
            vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
        if let Some(h) = &public_host
            && !known_hosts.contains(h)
        {
            known_hosts.push(h.clone());
        }
        let tls = match &config.tls {
            TlsSource::Provided { cert, key } => infra::tls::provided(cert, key)?,
            TlsSource::Generated => {
                infra::tls::generated(&config.data_dir, &known_hosts, clock.now())?
            }
        };
        let settings = Settings {
            public_base: base_url.clone(),
            known_hosts,
            test_mode: config.test_mode,
            test_token_lifetime: config.test_token_lifetime,
            reject_assertion_reuse: config.token.reject_assertion_reuse,
            identity_header: config.token.identity_header.clone(),
        };
        directory.set_portal_base(&base_url);
        let flow_key = crypto::FlowKey::load(store.as_ref(), random.as_ref()).await?;
        let state = Arc::new(AppState {
            directory,
            keys,
            clock,
            random,
            metrics: infra::metrics::Metrics::default(),
            settings,
            faults: infra::faults::Faults::default(),
            flow_key,
            lockout: directory::Lockout::default(),
            activity: infra::activity::Activity::default(),
            loops: directory::Loops::new(config.token.loop_detection),
        });
        let demo = if config.seed_demo {
            Some(
                setup::seed::ensure_demo(
                    &state.directory,
                    &config.data_dir,
                    &base_url,
                    tls.ca_cert.as_deref(),
                    state.random.as_ref(),
                    state.clock.unix(),
                )
                .await?,
            )
        } else {
            None
        };
        startup.release().await?;
        Ok(Self {
            state,
            acceptor: TlsAcceptor::from(tls.config),
            base_url,
            ca_cert: tls.ca_cert,
            demo,
        })
    }

    /// The router, for tests that call it without sockets.
    pub fn router(&self) -> axum::Router {
        http::router(self.state.clone())
    }

    /// Serves HTTPS on `listener` until `shutdown` completes.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServerError> {
        let router = self.router();
        tokio::pin!(shutdown);
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        loop {
            let slot = tokio::select! {
                () = &mut shutdown => return Ok(()),
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(s) => s,
                    Err(_) => return Ok(()),
                },
            };
            let (tcp, peer) = tokio::select! {
                () = &mut shutdown => return Ok(()),
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = self.acceptor.clone();
            let router = router.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
                let service =
                    router.map_request(move |req: hyper::Request<hyper::body::Incoming>| {
                        let mut req = req.map(axum::body::Body::new);
                        req.extensions_mut()
                            .insert(axum::extract::ConnectInfo(peer));
                        req
                    });
                let mut builder =
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                builder
                    .http1()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT);
                // The header timeout starts with the first bytes: a connection silent since
                // its handshake is ended after the same time.
                let (tls, heard) = infra::tls::Heard::new(tls);
                let connection = builder.serve_connection_with_upgrades(
                    TokioIo::new(tls),
                    TowerToHyperService::new(service),
                );
                let result = tokio::select! {
                    result = connection => result,
                    () = infra::tls::silent_for(heard, HEADER_READ_TIMEOUT) => {
                        tracing::debug!(%peer, "nothing sent after the TLS handshake");
                        return;
                    }
                };
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
    }
}
