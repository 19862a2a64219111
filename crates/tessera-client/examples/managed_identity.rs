//! A token for the machine's managed identity: IMDS on an Azure VM, or the App Service /
//! Functions endpoint when `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set. `AZURE_CLIENT_ID`
//! picks a user-assigned identity. Runs only where such an endpoint exists (or against
//! `tessera serve` in test mode, which has both).
//!
//!   cargo run -p tessera-client --example managed_identity

// An example is a command-line program: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::sync::Arc;

use tessera_client::{ManagedIdentityCredential, TokenProvider, TokenRequest};

#[tokio::main]
async fn main() {
    let credential = ManagedIdentityCredential::from_environment(|n| std::env::var(n).ok());
    let provider = TokenProvider::new(Arc::new(credential), common::http());
    let scope = common::scope("https://graph.microsoft.com/.default");
    match provider.token(&TokenRequest::new(&[&scope])).await {
        Ok(token) => common::show(&token, common::unix_now()),
        Err(e) => common::fail(&e),
    }
}
