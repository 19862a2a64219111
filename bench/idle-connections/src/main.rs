//! Opens COUNT TLS connections to a `tessera serve`, holds them idle, and reads the server's
//! resident memory (VmRSS from /proc/PID/status) at rest, with every connection open, and
//! after they are closed; then reports when the server itself ended the idle connections.
//! Modes:
//!
//! - `handshake`: the TLS handshake completes and nothing more is sent. All COUNT must be
//!   open within the server's 10-second limit for silent connections (`oldest_idle_s` says
//!   whether they were).
//! - `request`: each connection gets one `GET /health` answered, then sends it again every
//!   7 s, so that no connection reaches the server's 10-second idle limit while the others
//!   are being opened. Memory is read once all COUNT are open, between requests; then the
//!   requests stop and the connections idle until the server ends them.
//!
//! usage: tessera-idle-connections ADDR CA_PEM SERVER_PID COUNT MODE
//! (ADDR like 127.0.0.1:39444; the certificate is checked for the address's IP.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustls_pki_types::pem::PemObject as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// Handshakes in flight at once.
const CONCURRENCY: usize = 200;
/// `request` mode: how often each connection asks again while the others are opened.
const AGAIN: Duration = Duration::from_secs(7);
/// How long to watch for the server ending the idle connections.
const WATCH: Duration = Duration::from_secs(20);

/// A connection and when it last had an answer (or finished its handshake).
type Conn = (TlsStream<TcpStream>, Instant);

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("server status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

fn die(msg: &str) -> ! {
    eprintln!("tessera-idle-connections: {msg}");
    std::process::exit(2)
}

/// `GET /health` on an open connection: headers, then exactly Content-Length bytes of body,
/// so the connection stays usable.
async fn health(tls: &mut TlsStream<TcpStream>, addr: std::net::SocketAddr) -> std::io::Result<()> {
    let head = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    tls.write_all(head.as_bytes()).await?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        if !text.starts_with("HTTP/1.1 200") {
            return Err(std::io::Error::other(format!(
                "GET /health: {}",
                text.lines().next().unwrap_or("")
            )));
        }
        let length: usize = text[..end]
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        if got.len() >= end + 4 + length {
            return Ok(());
        }
    }
}

/// Opens one connection; in `request` mode keeps it alive with a request every `AGAIN` until
/// `all_open` is sent, then returns it idle.
async fn connection(
    connector: TlsConnector,
    addr: std::net::SocketAddr,
    request: bool,
    opened: Arc<AtomicUsize>,
    mut all_open: tokio::sync::watch::Receiver<bool>,
    slot: tokio::sync::OwnedSemaphorePermit,
) -> std::io::Result<Conn> {
    let tcp = TcpStream::connect(addr).await?;
    let name = rustls_pki_types::ServerName::IpAddress(addr.ip().into());
    let mut tls = connector.connect(name, tcp).await?;
    if request {
        health(&mut tls, addr).await?;
    }
    let mut last = Instant::now();
    opened.fetch_add(1, Ordering::SeqCst);
    drop(slot);
    if request {
        loop {
            tokio::select! {
                _ = all_open.changed() => break,
                () = tokio::time::sleep_until((last + AGAIN).into()) => {
                    health(&mut tls, addr).await?;
                    last = Instant::now();
                }
            }
        }
    }
    Ok((tls, last))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, ca, pid, count, mode] = args.as_slice() else {
        die("usage: tessera-idle-connections ADDR CA_PEM SERVER_PID COUNT handshake|request");
    };
    let addr: std::net::SocketAddr = addr.parse().unwrap_or_else(|_| die("ADDR"));
    let pid: u32 = pid.parse().unwrap_or_else(|_| die("SERVER_PID"));
    let count: usize = count.parse().unwrap_or_else(|_| die("COUNT"));
    let request = match mode.as_str() {
        "handshake" => false,
        "request" => true,
        _ => die("MODE is handshake or request"),
    };
    let pem = std::fs::read(ca).unwrap_or_else(|e| die(&format!("{ca}: {e}")));
    let mut roots = RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots
            .add(cert.unwrap_or_else(|e| die(&format!("{ca}: {e}"))))
            .unwrap_or_else(|e| die(&format!("{ca}: {e}")));
    }
    let mut config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = TlsConnector::from(Arc::new(config));

    let at_rest = rss_kb(pid);
    let started = Instant::now();
    let opened = Arc::new(AtomicUsize::new(0));
    let (all_open_tx, all_open) = tokio::sync::watch::channel(false);
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    let mut failed = 0usize;
    for _ in 0..count {
        // A slot is held until its connection is open (or has failed).
        let slot = slots.clone().acquire_owned().await.expect("semaphore");
        tasks.spawn(connection(
            connector.clone(),
            addr,
            request,
            opened.clone(),
            all_open.clone(),
            slot,
        ));
    }
    let _every_slot_back = slots
        .acquire_many(u32::try_from(CONCURRENCY).expect("concurrency"))
        .await;
    let opened_in = started.elapsed();
    let open = opened.load(Ordering::SeqCst);
    let all_open_rss = rss_kb(pid);
    all_open_tx.send_replace(true);
    let mut conns: Vec<Conn> = Vec::with_capacity(count);
    while let Some(r) = tasks.join_next().await {
        match r.expect("task") {
            Ok(c) => conns.push(c),
            Err(e) => {
                failed += 1;
                if failed <= 3 {
                    eprintln!("a connection failed: {e}");
                }
            }
        }
    }
    let oldest = conns
        .iter()
        .map(|(_, t)| t.elapsed())
        .max()
        .unwrap_or_default();
    let per_conn = (all_open_rss.saturating_sub(at_rest)) as f64 / open.max(1) as f64;
    println!(
        "mode={mode} count={count} open={open} failed={failed} opened_in_s={:.2} oldest_idle_s={:.2} rss_at_rest_kb={at_rest} rss_all_open_kb={all_open_rss} per_connection_kb={per_conn:.1}",
        opened_in.as_secs_f64(),
        oldest.as_secs_f64()
    );

    // Who ends the idle connections, and when: each waits for the server's end of stream.
    let mut watchers = tokio::task::JoinSet::new();
    for (mut tls, last) in conns {
        watchers.spawn(async move {
            let mut buf = [0u8; 64];
            let ended = tokio::time::timeout(WATCH, tls.read(&mut buf))
                .await
                .is_ok();
            (ended.then(|| last.elapsed()), tls)
        });
    }
    let mut ages = Vec::new();
    let mut still_open = Vec::new();
    while let Some(r) = watchers.join_next().await {
        let (age, tls) = r.expect("watcher");
        match age {
            Some(a) => ages.push(a.as_secs_f64()),
            None => still_open.push(tls),
        }
    }
    ages.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        ages.get(((ages.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "ended_by_server={} still_open_after_{}s={} idle_age_at_end_s_min={:.2} median={:.2} max={:.2}",
        ages.len(),
        WATCH.as_secs(),
        still_open.len(),
        pick(0.0),
        pick(0.5),
        pick(1.0)
    );
    let before_close = rss_kb(pid);
    drop(still_open);
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "rss_before_close_kb={before_close} rss_after_close_kb={}",
        rss_kb(pid)
    );
}
