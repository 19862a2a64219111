//! The `tessera` command. Thin over the libraries: argument parsing, logging set-up and
//! process concerns (signals, exit codes) live here; everything else is in the crates.

mod auth;
mod graph;
mod seed;
mod serve;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// tessera: the Microsoft identity platform's token system, locally and as a client.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about, long_about = None)]
struct Cli {
    /// More log output on stderr (repeat for more); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the identity platform (Entra ID v2.0 endpoints and a Graph v1.0 subset) over HTTPS.
    Serve(serve::ServeArgs),
    /// Bulk-create directory objects for tests and benchmarks.
    Seed(seed::SeedArgs),
    /// Print an access token (cached and refreshed ahead of expiry across processes).
    Token(token::TokenArgs),
    /// Call Microsoft Graph: one request, or every page of a collection with --all.
    Graph(graph::GraphArgs),
    /// Where the shared token cache is, how its key is kept, and how many tokens it holds.
    Status,
}

fn init_logging(verbose: u8) {
    // rustls warns about every client that sends an IP address as SNI (curl, wrk and most
    // tools do for https://127.0.0.1); that is normal here, so only its errors are shown.
    let default = match verbose {
        0 => "warn,rustls=error,tessera=info,tessera_server=info",
        1 => "info,rustls=error",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            report(&anyhow::anyhow!(e).context("starting the async runtime"));
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Seed(args) => seed::run(args).await,
            Command::Token(args) => token::run(args).await,
            Command::Graph(args) => graph::run(args).await,
            Command::Status => status(),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::from(1)
        }
    }
}

#[allow(clippy::print_stdout)] // the status is the command's data
fn status() -> anyhow::Result<()> {
    let cache = auth::open_cache()?;
    println!("token cache: {}", cache.dir().display());
    println!("key: {}", cache.key_source.describe());
    println!("cached tokens: {}", cache.len());
    Ok(())
}

#[allow(clippy::print_stderr)] // the one place errors reach the user
fn report(e: &anyhow::Error) {
    eprintln!("error: {e:#}");
}
