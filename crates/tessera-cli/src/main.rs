//! The `tessera` command. Thin over the libraries: argument parsing, profiles, output and
//! process concerns (logging, exit codes) live here; tokens, Graph and the server are in the
//! crates.

mod agent;
mod auth;
mod common;
mod decode;
mod decode_saml;
mod exec;
mod graph;
mod output;
mod paths;
mod policy;
mod profile;
mod seed;
mod serve;
mod session;
mod term;
mod times;
mod token;

use std::process::ExitCode as ProcessExit;
use std::sync::Arc;

use std::io::IsTerminal as _;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use tessera_proto::clock::OffsetClock;

use common::{Ctx, ExitCode, exit_code, usage};

/// tessera: the Microsoft identity platform's token system, locally and as a client.
#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about,
    long_about = None,
    after_help = "Examples:
  tessera token --tenant contoso.onmicrosoft.com --client-id … --client-secret-env MY_SECRET
  tessera graph get /users --all --output jsonl > users.jsonl
  tessera policy create --lifetime 8:00:00 --org-default
  tessera decode --verify < token.txt
  tessera serve                       # a local identity platform on https://127.0.0.1:8443

Profiles: ~/.config/tessera/config.toml ($XDG_CONFIG_HOME/tessera/config.toml) holds
named sets of sign-in flags, chosen with --profile or default-profile:
  default-profile = \"lab\"
  [profiles.lab]
  authority = \"https://127.0.0.1:8443/contoso.onmicrosoft.com\"
  client-id = \"…\"
  client-secret-env = \"LAB_SECRET\"
  ca-cert = \"/home/me/.local/share/tessera/ca.pem\"

Exit codes: 0 success; 1 other failure (I/O, cache, server start); 2 usage (bad
arguments or input, refused locally); 3 sign-in failed (AADSTS error, user action
needed); 4 Graph refused the request; 5 a service could not be reached or stayed
unavailable; 6 a token's signature did not verify."
)]
struct Cli {
    /// More log output on stderr (repeat for more); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// No progress display and only errors on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// A profile from ~/.config/tessera/config.toml (format: `tessera --help`).
    #[arg(
        long,
        global = true,
        env = "TESSERA_PROFILE",
        hide_env_values = true,
        value_name = "NAME"
    )]
    profile: Option<String>,
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
    /// Manage token lifetime policies: list, show, create, update, delete, assign, explain.
    Policy(policy::PolicyArgs),
    /// Show a token's header and claims, its times and lifetime; --verify checks the signature.
    Decode(decode::DecodeArgs),
    /// Sign a user in once (browser or device code); later commands use it silently.
    Login(session::LoginArgs),
    /// Forget a signed-in user and the tokens cached for them.
    Logout(session::LogoutArgs),
    /// The shared token cache: where it is, how it is encrypted, its accounts and tokens.
    Status(session::StatusArgs),
    /// Run a command with a managed identity endpoint: unchanged SDK code gets fresh tokens.
    Exec(exec::ExecArgs),
    /// The managed identity endpoint as a long-lived service, for several credentials.
    Agent(agent::AgentArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    #[command(after_help = "Examples:
  tessera completions bash > ~/.local/share/bash-completion/completions/tessera
  tessera completions zsh > \"${fpath[1]}/_tessera\"
  tessera completions fish > ~/.config/fish/completions/tessera.fish")]
    Completions { shell: clap_complete::Shell },
}

fn init_logging(verbose: u8, quiet: bool) {
    // rustls warns about every client that sends an IP address as SNI (curl, wrk and most
    // tools do for https://127.0.0.1); that is normal here, so only its errors are shown.
    let default = match (verbose, quiet) {
        (_, true) => "error",
        (0, _) => "warn,rustls=error,tessera=info,tessera_server=info",
        (1, _) => "info,rustls=error",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only for a person at a terminal: a redirected log or a service manager's
        // journal gets plain lines.
        .with_ansi(
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// The command line, with `--profile` left out of the help of the commands that take no
/// profile: each gets its own hidden `--profile` (a subcommand's own argument shadows the
/// global one), so a TESSERA_PROFILE in the environment or a stray flag breaks nothing.
fn command() -> clap::Command {
    let mut cmd = Cli::command();
    for name in PROFILELESS {
        cmd = cmd.mut_subcommand(name, |c| {
            c.arg(
                clap::Arg::new("profile")
                    .long("profile")
                    .value_name("NAME")
                    .hide(true),
            )
        });
    }
    cmd
}

/// Commands that read no profile: the server has its own config file.
const PROFILELESS: [&str; 4] = ["serve", "seed", "decode", "completions"];

fn main() -> ProcessExit {
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    init_logging(cli.verbose, cli.quiet);
    if let Command::Completions { shell } = cli.command {
        // Written whole, so a closed pipe (`| head`) ends quietly rather than in a panic.
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut command(), "tessera", &mut script);
        return match std::io::Write::write_all(&mut std::io::stdout(), &script) {
            Ok(()) => ProcessExit::SUCCESS,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ProcessExit::SUCCESS,
            Err(_) => ProcessExit::from(ExitCode::Failure as u8),
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            report(&anyhow::anyhow!(e).context("starting the async runtime"));
            return ProcessExit::from(ExitCode::Failure as u8);
        }
    };
    // `tessera exec` ends with its command's status.
    let exec_status = std::cell::Cell::new(None::<i32>);
    let result = runtime.block_on(async {
        // The commands of PROFILELESS.
        let needs_profile = !matches!(
            cli.command,
            Command::Serve(_) | Command::Seed(_) | Command::Decode(_) | Command::Completions { .. }
        );
        let ctx = Ctx {
            profile: if needs_profile {
                profile::load(cli.profile.as_deref()).map_err(usage)?
            } else {
                None
            },
            quiet: cli.quiet,
            clock: Arc::new(OffsetClock::new()),
        };
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Seed(args) => seed::run(args).await,
            Command::Token(args) => token::run(args, &ctx).await,
            Command::Graph(args) => graph::run(args, &ctx).await,
            Command::Policy(args) => policy::run(args, &ctx).await,
            Command::Decode(args) => decode::run(args, &ctx).await,
            Command::Login(args) => session::login(args, &ctx).await,
            Command::Logout(args) => session::logout(&args),
            Command::Status(args) => session::status(&args, &ctx),
            Command::Exec(args) => exec::run(args, &ctx)
                .await
                .map(|code| exec_status.set(Some(code))),
            Command::Agent(args) => agent::run(args, &ctx).await,
            Command::Completions { .. } => Ok(()),
        }
    });
    match result {
        Ok(()) => match exec_status.get() {
            Some(code) => ProcessExit::from(u8::try_from(code & 0xff).unwrap_or(1)),
            None => ProcessExit::SUCCESS,
        },
        Err(e) => {
            report(&e);
            ProcessExit::from(exit_code(&e) as u8)
        }
    }
}

#[allow(clippy::print_stderr)] // the one place errors reach the user
fn report(e: &anyhow::Error) {
    eprintln!("error: {e:#}");
}
