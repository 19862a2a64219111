//! `tessera serve`: binds the listener, prepares the server and runs it until Ctrl-C or
//! SIGTERM. Prints a quick start (data) on stdout; logs go to stderr.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use tessera_server::{ServeOptions, Server};

#[derive(Args)]
#[command(after_help = "Examples:
  tessera serve                                   # https://127.0.0.1:8443, data in ./tessera-data
  tessera serve --listen 127.0.0.1:0 --data-dir /tmp/t   # a free port; see /tmp/t/demo.json
  tessera serve --config tenants.toml --no-demo
  tessera serve --database postgres://tessera@db:5432/tessera --public-url https://login.example
  tessera serve --test-mode --test-access-token-lifetime 20s")]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Where keys, the database, TLS material and demo.json live.
    #[arg(long, default_value = "./tessera-data", env = "TESSERA_DATA_DIR")]
    data_dir: PathBuf,
    /// Database URL (default: SQLite in the data directory): sqlite:/path/db, or
    /// postgres://USER@HOST:PORT/DATABASE[?sslmode=verify-full] for a database several
    /// servers share (password: PGPASSWORD or ~/.pgpass rather than the URL).
    #[arg(long, env = "TESSERA_DATABASE_URL", hide_env_values = true)]
    database: Option<String>,
    /// TOML file declaring tenants, app registrations, users and groups.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The URL clients use to reach this server (default: https://LISTEN_ADDRESS).
    #[arg(long)]
    public_url: Option<url::Url>,
    /// Serve this certificate chain (PEM) instead of a generated one.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Enable test controls (clock, lifetimes). Never on a shared server.
    #[arg(long)]
    test_mode: bool,
    /// Test mode: every access and ID token lives exactly this long (e.g. 20s, 5m, 1h),
    /// below Entra's 10-minute floor on purpose.
    #[arg(long, value_parser = parse_duration, requires = "test_mode")]
    test_access_token_lifetime: Option<Duration>,
    /// Do not seed the demo tenant or write demo.json.
    #[arg(long)]
    no_demo: bool,
}

// By hand: --database may carry a password.
impl std::fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeArgs")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database",
                &self
                    .database
                    .as_deref()
                    .map(tessera_server::redact_database),
            )
            .finish_non_exhaustive()
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{text}' is not a duration like 20s, 5m or 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("'{text}': unknown unit '{unit}' (use s, m or h)")),
    };
    Ok(Duration::from_secs(secs))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let local = listener.local_addr().context("reading the bound address")?;
    let options = ServeOptions {
        data_dir: args.data_dir.clone(),
        database: args.database,
        config_file: args.config,
        public_url: args.public_url,
        test_mode: args.test_mode,
        test_access_token_lifetime: args.test_access_token_lifetime,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        seed_demo: !args.no_demo,
    };
    let server = Server::prepare(options, local)
        .await
        .context("starting the server")?;
    print_quick_start(&server, &args.data_dir);
    if args.test_mode {
        tracing::warn!("test mode is on: the clock can be moved and token lifetimes overridden");
    }
    tracing::info!(url = %server.base_url, "listening");
    server
        .run(listener, shutdown_signal())
        .await
        .context("serving")?;
    tracing::info!("stopped");
    Ok(())
}

#[allow(clippy::print_stdout)] // the quick start is the command's data output
fn print_quick_start(server: &Server, data_dir: &std::path::Path) {
    println!("tessera is listening on {}", server.base_url);
    if let Some(ca) = &server.ca_cert {
        println!("  CA certificate (trust it): {}", ca.display());
    }
    println!("  admin portal: {}/portal", server.base_url);
    if let Some(demo) = &server.demo {
        let demo_json = std::path::absolute(data_dir.join("demo.json"))
            .unwrap_or_else(|_| data_dir.join("demo.json"));
        println!("  authority:  {}", demo.authority);
        println!(
            "  demo apps, user and secrets: {} (the user signs in to the portal)",
            demo_json.display()
        );
        println!();
        println!("Try it:");
        println!(
            "  curl --cacert {} -d grant_type=client_credentials -d client_id={} \\\n       --data-urlencode client_secret=\"$(jq -r .daemon.client_secret {})\" \\\n       --data-urlencode scope=https://graph.microsoft.com/.default {}/oauth2/v2.0/token",
            server
                .ca_cert
                .as_ref()
                .map_or_else(|| "CA.pem".into(), |p| p.display().to_string()),
            demo.daemon.client_id,
            demo_json.display(),
            demo.authority
        );
    }
}
