//! What every command shares that is not an argument: the context (profile, quiet, clock)
//! and the exit status by kind of failure. A leaf: the commands and main use it.

use std::sync::Arc;

use tessera_client::ClientError;
use tessera_proto::clock::Clock;

use crate::profile;

/// What every command may need besides its own arguments.
pub(crate) struct Ctx {
    pub(crate) profile: Option<profile::Profile>,
    pub(crate) quiet: bool,
    pub(crate) clock: Arc<dyn Clock>,
}

/// The process's exit status by kind of failure; documented in `tessera --help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitCode {
    Failure = 1,
    Usage = 2,
    SignIn = 3,
    Graph = 4,
    Unreachable = 5,
    Invalid = 6,
}

/// An error that carries its exit code.
#[derive(Debug)]
struct Coded {
    code: ExitCode,
    source: anyhow::Error,
}

impl std::fmt::Display for Coded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.source)
    }
}

impl std::error::Error for Coded {}

pub(crate) fn with_code(code: ExitCode, e: anyhow::Error) -> anyhow::Error {
    anyhow::Error::new(Coded { code, source: e })
}

/// Marks an error as the caller's: bad arguments or input refused before anything was sent.
pub(crate) fn usage(e: anyhow::Error) -> anyhow::Error {
    with_code(ExitCode::Usage, e)
}

/// The exit code for an error: a marked one, else by the library error inside it.
pub(crate) fn exit_code(e: &anyhow::Error) -> ExitCode {
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<Coded>() {
            return c.code;
        }
        if let Some(c) = cause.downcast_ref::<ClientError>() {
            return match c {
                ClientError::Aadsts(_) | ClientError::Interaction(_) => ExitCode::SignIn,
                ClientError::Graph(_) => ExitCode::Graph,
                ClientError::Http(_) | ClientError::Unavailable { .. } => ExitCode::Unreachable,
                ClientError::Invalid(_) => ExitCode::Usage,
                ClientError::Config(_) | ClientError::Io { .. } => ExitCode::Failure,
            };
        }
    }
    ExitCode::Failure
}
