//! Whatever the `AZURE_*` variables describe (secret, certificate, federated token file, or
//! user name and password), as azure-identity's `EnvironmentCredential` reads them; then a
//! chain that falls back to managed identity, the usual choice for code that runs both on a
//! laptop and in Azure.
//!
//!   AZURE_TENANT_ID=… AZURE_CLIENT_ID=… AZURE_CLIENT_SECRET=… \
//!     cargo run -p tessera-client --example environment

// An example is a command-line program: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::sync::Arc;

use tessera_client::{
    ChainedCredential, Credential, ManagedIdentityCredential, TokenProvider, TokenRequest,
    from_environment,
};

#[tokio::main]
async fn main() {
    let lookup = |n: &str| std::env::var(n).ok();
    let mut chain: Vec<Arc<dyn Credential>> = Vec::new();
    match from_environment(lookup) {
        Ok(credential) => chain.push(credential),
        Err(e) => eprintln!("environment credential unavailable: {e}"),
    }
    chain.push(Arc::new(ManagedIdentityCredential::from_environment(
        lookup,
    )));
    let chain = ChainedCredential::new(chain).unwrap_or_else(|e| common::fail(&e));
    let provider = TokenProvider::new(Arc::new(chain), common::http());
    let scope = common::scope("https://graph.microsoft.com/.default");
    match provider.token(&TokenRequest::new(&[&scope])).await {
        Ok(token) => common::show(&token, common::unix_now()),
        Err(e) => common::fail(&e),
    }
}
