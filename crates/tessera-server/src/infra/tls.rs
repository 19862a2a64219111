//! HTTPS material: a local CA kept in the data directory (so clients trust it once) and a
//! server certificate re-issued by it on every start for the names the server answers to;
//! or a certificate and key the operator brings.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::ServerError;
use crate::infra::files::write_private;

/// Where the generated CA lives, relative to the data directory.
pub(crate) const CA_CERT_FILE: &str = "tls/ca.pem";
const CA_KEY_FILE: &str = "tls/ca-key.pem";
const SERVER_CERT_FILE: &str = "tls/server.pem";
const SERVER_KEY_FILE: &str = "tls/server-key.pem";

/// The certificate chain and key the server presents, and the CA path to hand to clients.
pub(crate) struct TlsMaterial {
    pub config: Arc<ServerConfig>,
    /// The generated CA's PEM path, when the server made its own certificate.
    pub ca_cert: Option<PathBuf>,
}

fn tls_err(what: &str, e: impl std::fmt::Display) -> ServerError {
    ServerError::Tls(format!("{what}: {e}"))
}

/// Loads or generates the local CA, then issues a server certificate for `hosts`
/// (always with localhost, 127.0.0.1 and ::1).
pub(crate) fn generated(
    data_dir: &Path,
    hosts: &[String],
    now: time::OffsetDateTime,
) -> Result<TlsMaterial, ServerError> {
    let ca_cert_path = data_dir.join(CA_CERT_FILE);
    let ca_key_path = data_dir.join(CA_KEY_FILE);
    let (ca_pem, ca_key) = if ca_cert_path.exists() && ca_key_path.exists() {
        let pem = std::fs::read_to_string(&ca_cert_path)
            .map_err(|e| ServerError::io(format!("reading {}", ca_cert_path.display()), e))?;
        let key_pem = std::fs::read_to_string(&ca_key_path)
            .map_err(|e| ServerError::io(format!("reading {}", ca_key_path.display()), e))?;
        (
            pem,
            KeyPair::from_pem(&key_pem).map_err(|e| tls_err("CA key", e))?,
        )
    } else {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| tls_err("CA key", e))?;
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(|e| tls_err("CA", e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, "tessera local CA");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "tessera");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(3650);
        let cert = params.self_signed(&key).map_err(|e| tls_err("CA", e))?;
        // The key first: a crash between the writes leaves no CA without its key.
        write_private(&ca_key_path, key.serialize_pem().as_bytes())?;
        write_private(&ca_cert_path, cert.pem().as_bytes())?;
        (cert.pem(), key)
    };
    let issuer =
        Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(|e| tls_err("CA certificate", e))?;

    let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| tls_err("server key", e))?;
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for h in hosts {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(h)) {
            names.push(h.clone());
        }
    }
    let mut params = CertificateParams::new(Vec::<String>::new())
        .map_err(|e| tls_err("server certificate", e))?;
    params.subject_alt_names = names
        .iter()
        .map(|n| match n.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => n
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e| tls_err("server name", e)),
        })
        .collect::<Result<_, _>>()?;
    params
        .distinguished_name
        .push(DnType::CommonName, "tessera");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(365);
    let leaf = params
        .signed_by(&leaf_key, &issuer)
        .map_err(|e| tls_err("server certificate", e))?;
    write_private(
        &data_dir.join(SERVER_KEY_FILE),
        leaf_key.serialize_pem().as_bytes(),
    )?;
    write_private(&data_dir.join(SERVER_CERT_FILE), leaf.pem().as_bytes())?;

    let ca_der = CertificateDer::from_pem_slice(ca_pem.as_bytes())
        .map_err(|e| tls_err("CA certificate", e))?;
    let chain = vec![leaf.der().clone(), ca_der];
    let key =
        PrivateKeyDer::try_from(leaf_key.serialize_der()).map_err(|e| tls_err("server key", e))?;
    Ok(TlsMaterial {
        config: server_config(chain, key)?,
        ca_cert: Some(absolute(&ca_cert_path)),
    })
}

/// Uses an operator's certificate chain and key (PEM).
pub(crate) fn provided(cert: &Path, key: &Path) -> Result<TlsMaterial, ServerError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls_err(&format!("--tls-cert {}", cert.display()), e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err(&format!("--tls-cert {}", cert.display()), e))?;
    if chain.is_empty() {
        return Err(ServerError::Tls(format!(
            "--tls-cert {} holds no certificate",
            cert.display()
        )));
    }
    check_key_file(key)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| tls_err(&format!("--tls-key {}", key.display()), e))?;
    Ok(TlsMaterial {
        config: server_config(chain, key)?,
        ca_cert: None,
    })
}

/// A TLS key any local user can read is refused: whoever reads it can impersonate this
/// server to every client. A group-readable key is allowed with a warning (the `ssl-cert`
/// group convention); the file is the operator's, so tessera does not change it.
fn check_key_file(key: &Path) -> Result<(), ServerError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(key)
        .map_err(|e| ServerError::io(format!("reading --tls-key {}", key.display()), e))?
        .permissions()
        .mode();
    if mode & 0o007 != 0 {
        return Err(ServerError::Tls(format!(
            "--tls-key {} can be read by every user on this machine (mode {:o}); make it private first: chmod 600 {}",
            key.display(),
            mode & 0o777,
            key.display()
        )));
    }
    if mode & 0o070 != 0 {
        tracing::warn!(key = %key.display(), mode = format!("{:o}", mode & 0o777), "the TLS key is readable by its group");
    }
    Ok(())
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, ServerError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("protocol versions", e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| tls_err("certificate and key", e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// An accepted connection that notes whether the client has sent anything since the TLS
/// handshake. hyper's header read timeout starts only once the first bytes have told it the
/// HTTP version, so a client that completes the handshake and then stays silent would hold
/// its connection (one of the server's limited slots) for ever; [`silent_for`] ends it.
#[derive(Debug)]
pub(crate) struct Heard<I> {
    io: I,
    heard: Arc<std::sync::atomic::AtomicBool>,
}

impl<I> Heard<I> {
    pub(crate) fn new(io: I) -> (Self, Arc<std::sync::atomic::AtomicBool>) {
        let heard = Arc::new(std::sync::atomic::AtomicBool::new(false));
        (
            Self {
                io,
                heard: heard.clone(),
            },
            heard,
        )
    }
}

/// Completes after `limit` if nothing was heard by then; never completes otherwise.
pub(crate) async fn silent_for(heard: Arc<std::sync::atomic::AtomicBool>, limit: Duration) {
    tokio::time::sleep(limit).await;
    if heard.load(std::sync::atomic::Ordering::Relaxed) {
        std::future::pending::<()>().await;
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Heard<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.heard.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Heard<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
