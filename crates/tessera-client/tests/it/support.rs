//! A running server for the client tests, and clients that trust its CA.

use tessera_client::{Authority, HttpOptions, TokenHttp};
use tessera_server::{DemoFile, ServeOptions, Server};

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

    pub(crate) fn authority(&self) -> Authority {
        Authority::parse(&self.demo.authority).expect("authority")
    }
}
