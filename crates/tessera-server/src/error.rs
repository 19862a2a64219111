//! The server crate's one error type for everything outside a request: start-up,
//! configuration, storage and key material. Request errors are AADSTS errors instead.

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store could not be opened; `what` names it without any password. The cause is
    /// part of the message (not a `source`), so a report shows it once.
    #[error("{what}: {error}")]
    Database { what: String, error: StoreError },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("crypto: {0}")]
    Crypto(String),
}

impl ServerError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
