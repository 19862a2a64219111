//! `tessera exec -- COMMAND`: runs a command with a managed identity endpoint beside it, so
//! unchanged SDK code (`ManagedIdentityCredential`, `DefaultAzureCredential`,
//! `Connect-MgGraph -Identity`) gets tokens from the credential the flags or profile name,
//! through the shared cache, never expired. Signals are forwarded, stdio passes through, and
//! tessera exits with the command's status.

use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use tessera_client::endpoint::{
    IdentityEndpoint, ServedCredential, arc_environment, environment, new_secret,
};

use crate::auth::AuthArgs;
use crate::common::Ctx;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  tessera exec --profile lab -- python nightly.py          # azure-identity's ManagedIdentityCredential
  tessera exec --client-id … --client-secret-env SECRET -- pwsh -c 'Connect-MgGraph -Identity; Get-MgUser'
  tessera login --client-id … && tessera exec --client-id … -- node report.js   # as the signed-in user

The command gets IDENTITY_ENDPOINT and IDENTITY_HEADER (App Service, 2019-08-01), MSI_ENDPOINT
and MSI_SECRET (2017-09-01) and AZURE_POD_IDENTITY_AUTHORITY_HOST (IMDS clients), all pointing at
a loopback endpoint that lives as long as the command; the secret is new on every run.
SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are forwarded; Ctrl-C reaches the command from
the terminal itself.")]
pub(crate) struct ExecArgs {
    /// Speak Azure Arc's protocol instead: no secret in the command's environment; callers
    /// prove themselves by reading a challenge file in DIR (the SDKs require
    /// /var/opt/azcmagent/tokens; see the README for the one-time install step).
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "/var/opt/azcmagent/tokens")]
    arc: Option<std::path::PathBuf>,
    #[command(flatten)]
    auth: AuthArgs,
    /// The command and its arguments (after --).
    #[arg(trailing_var_arg = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

pub(crate) async fn run(args: ExecArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let auth = args.auth.clone().with_profile(ctx.profile.as_ref());
    let (provider, _) = auth.provider()?;
    let client_id = auth
        .client_id()
        .unwrap_or_else(|_| "managed-identity".to_owned());
    let mut endpoint = IdentityEndpoint::new(
        vec![ServedCredential {
            name: "default".to_owned(),
            client_id,
            provider,
        }],
        new_secret()?,
    )?;
    if let Some(dir) = &args.arc {
        endpoint = endpoint.with_arc(dir)?;
    }
    let endpoint = Arc::new(endpoint);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("opening the loopback endpoint")?;
    let addr = listener.local_addr()?;
    let env = if args.arc.is_some() {
        arc_environment(addr)
    } else {
        environment(addr, endpoint.secret())
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(endpoint.clone().serve(listener, async {
        let _ = stopped.await;
    }));
    tracing::debug!(endpoint = %format!("http://{addr}"), "identity endpoint ready");

    let (program, rest) = args.command.split_first().context("no command given")?;
    let spawned = tokio::process::Command::new(program)
        .args(rest)
        .envs(env)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            // As a shell reports it: 127 not found, 126 found but not runnable.
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            tracing::error!(command = %program, error = %e, "the command could not be started");
            let _ = stop.send(());
            let _ = server.await;
            return Ok(code);
        }
    };
    let status = forward_signals_until_exit(&mut child).await?;
    let _ = stop.send(());
    let _ = server.await;
    Ok(exit_code(status))
}

/// The command's exit status as a shell reports it (128 + the signal that ended it).
fn exit_code(status: std::process::ExitStatus) -> i32 {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            return 128 + signal;
        }
    }
    status.code().unwrap_or(1)
}

#[cfg(unix)]
async fn forward_signals_until_exit(
    child: &mut tokio::process::Child,
) -> anyhow::Result<std::process::ExitStatus> {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use tokio::signal::unix::{SignalKind, signal};

    let pid = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .map(Pid::from_raw)
        .context("the command has no process id")?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut quit = signal(SignalKind::quit())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;
    // Ctrl-C goes to the whole foreground group, the command included: tessera only waits.
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        let forward = tokio::select! {
            status = child.wait() => return Ok(status?),
            _ = term.recv() => Signal::SIGTERM,
            _ = hup.recv() => Signal::SIGHUP,
            _ = quit.recv() => Signal::SIGQUIT,
            _ = usr1.recv() => Signal::SIGUSR1,
            _ = usr2.recv() => Signal::SIGUSR2,
            _ = int.recv() => continue,
        };
        let _ = kill(pid, forward);
    }
}

#[cfg(not(unix))]
async fn forward_signals_until_exit(
    child: &mut tokio::process::Child,
) -> anyhow::Result<std::process::ExitStatus> {
    Ok(child.wait().await?)
}
