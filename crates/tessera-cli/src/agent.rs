//! `tessera agent`: the managed identity endpoint of `tessera exec` as a long-lived service
//! (foreground; a systemd user unit in the README), serving several credentials at once: a
//! request picks one by `client_id` or by a profile's name (`object_id`, `mi_res_id`), the
//! first serves requests that name none. `tessera agent env` prints the variables a shell
//! needs to use a running agent. The address and secret live in a 0600 state file, so the
//! secret survives restarts and shells keep working.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};
use tessera_client::Secret;
use tessera_client::endpoint::{
    IdentityEndpoint, ServedCredential, arc_environment, environment, new_secret,
};

use crate::auth::AuthArgs;
use crate::common::Ctx;

/// The agent's port when none is given ("50342" is IMDS's own for Azure Arc agents; this
/// is the next one, so both can run on one machine).
const DEFAULT_LISTEN: &str = "127.0.0.1:50343";

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:
  tessera agent --profile lab                          # serves the lab profile's credential
  tessera agent --profile lab --credential reports    # and the 'reports' profile, by client_id or name
  eval \"$(tessera agent env)\"                          # then any SDK's managed identity works here
  tessera agent env --shell powershell | Invoke-Expression

systemd user unit (~/.config/systemd/user/tessera-agent.service):
  [Service]
  ExecStart=%h/.cargo/bin/tessera agent --profile lab
  Restart=on-failure
  [Install]
  WantedBy=default.target"
)]
pub(crate) struct AgentArgs {
    #[command(subcommand)]
    what: Option<AgentCommand>,
    /// Loopback address to listen on (anything else is refused).
    #[arg(long, default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Also serve this profile's credential (repeat for several); requests name it by its
    /// client id or by the profile's name.
    #[arg(long = "credential", value_name = "PROFILE")]
    credentials: Vec<String>,
    /// Also speak Azure Arc's protocol (challenge files in DIR, by default
    /// /var/opt/azcmagent/tokens); `tessera agent env` then prints Arc's variables.
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "/var/opt/azcmagent/tokens")]
    arc: Option<PathBuf>,
    #[command(flatten)]
    auth: AuthArgs,
}

#[derive(Debug, Subcommand)]
enum AgentCommand {
    /// Print the export lines for a shell that wants to use the running agent.
    Env {
        #[arg(long, value_enum, default_value_t = ShellKind::Sh)]
        shell: ShellKind,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ShellKind {
    Sh,
    Powershell,
}

/// What a running agent leaves for `tessera agent env`.
#[derive(Serialize, Deserialize)]
struct AgentState {
    address: SocketAddr,
    secret: String,
    #[serde(default)]
    arc: bool,
}

fn state_path() -> anyhow::Result<PathBuf> {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d).join("tessera"),
        None => crate::paths::user_dir("XDG_CACHE_HOME", ".cache")?,
    };
    Ok(dir.join("agent.json"))
}

fn read_state() -> Option<AgentState> {
    serde_json::from_slice(&std::fs::read(state_path().ok()?).ok()?).ok()
}

/// Writes the state file readable by its owner alone, whatever the umask.
fn write_state(state: &AgentState) -> anyhow::Result<()> {
    let path = state_path()?;
    let dir = path.parent().context("state path")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    // A leftover from a crash may carry other permissions: the mode applies only on create.
    let _ = std::fs::remove_file(&tmp);
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::io::Write::write_all(&mut f, &serde_json::to_vec(state)?)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[allow(clippy::print_stdout)] // the export lines are the command's data
fn print_env(shell: ShellKind) -> anyhow::Result<()> {
    let state = read_state().context(
        "no running agent's state found: start `tessera agent` first (it writes $XDG_RUNTIME_DIR/tessera/agent.json)",
    )?;
    let secret = Secret::new(state.secret);
    let vars = if state.arc {
        arc_environment(state.address)
    } else {
        environment(state.address, &secret)
    };
    for (k, v) in vars {
        match shell {
            ShellKind::Sh => println!("export {k}='{v}'"),
            ShellKind::Powershell => println!("$env:{k} = '{v}'"),
        }
    }
    Ok(())
}

pub(crate) async fn run(args: AgentArgs, ctx: &Ctx) -> anyhow::Result<()> {
    if let Some(AgentCommand::Env { shell }) = args.what {
        return print_env(shell);
    }
    if !args.listen.ip().is_loopback() {
        return Err(crate::common::usage(anyhow::anyhow!(
            "--listen {}: the agent listens on loopback only (127.0.0.1 or ::1): tokens must not leave this machine",
            args.listen
        )));
    }
    let mut served = Vec::new();
    let default = args.auth.clone().with_profile(ctx.profile.as_ref());
    served.push(ServedCredential {
        name: "default".to_owned(),
        client_id: default.client_id().unwrap_or_else(|_| "default".to_owned()),
        provider: default.provider()?.0,
    });
    for name in &args.credentials {
        let Some(profile) = crate::profile::load(Some(name))? else {
            bail!("--credential {name}: no such profile");
        };
        let auth = AuthArgs::default().with_profile(Some(&profile));
        served.push(ServedCredential {
            name: name.clone(),
            client_id: auth
                .client_id()
                .with_context(|| format!("--credential {name}"))?,
            provider: auth
                .provider()
                .with_context(|| format!("--credential {name}"))?
                .0,
        });
    }
    // The secret survives restarts, so shells that read `tessera agent env` keep working.
    let secret = match read_state() {
        Some(s) if s.secret.len() >= 32 => Secret::new(s.secret),
        _ => new_secret()?,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    write_state(&AgentState {
        address,
        secret: secret.expose().to_owned(),
        arc: args.arc.is_some(),
    })?;
    let names: Vec<String> = served
        .iter()
        .map(|s| format!("{} ({})", s.name, s.client_id))
        .collect();
    let mut endpoint = IdentityEndpoint::new(served, secret)?;
    if let Some(dir) = &args.arc {
        endpoint = endpoint.with_arc(dir)?;
    }
    let endpoint = Arc::new(endpoint);
    tracing::info!(address = %address, credentials = %names.join(", "), "tessera agent serving; `tessera agent env` prints the variables");
    endpoint
        .serve(listener, async {
            let _ = shutdown_signal().await;
        })
        .await?;
    tracing::info!("tessera agent stopped");
    Ok(())
}

#[cfg(unix)]
async fn shutdown_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {},
        r = tokio::signal::ctrl_c() => r?,
    }
    Ok(())
}

#[cfg(not(unix))]
async fn shutdown_signal() -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}
