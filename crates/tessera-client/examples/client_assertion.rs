//! A token for a federated identity (workload identity federation): the assertion is a token
//! from another issuer, here read from `AZURE_FEDERATED_TOKEN_FILE` on every request so a
//! rotated file is picked up (as Kubernetes projects it).
//!
//!   AZURE_TENANT_ID=… AZURE_CLIENT_ID=… AZURE_FEDERATED_TOKEN_FILE=/var/run/secrets/token \
//!     cargo run -p tessera-client --example client_assertion

// An example is a command-line program: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::sync::Arc;

use tessera_client::{AssertionSource, ClientAssertionCredential, TokenProvider, TokenRequest};

#[tokio::main]
async fn main() {
    let credential = ClientAssertionCredential {
        authority: common::authority(),
        client_id: common::var("AZURE_CLIENT_ID"),
        source: AssertionSource::File(common::var("AZURE_FEDERATED_TOKEN_FILE").into()),
    };
    let provider = TokenProvider::new(Arc::new(credential), common::http());
    let scope = common::scope("https://graph.microsoft.com/.default");
    match provider.token(&TokenRequest::new(&[&scope])).await {
        Ok(token) => common::show(&token, common::unix_now()),
        Err(e) => common::fail(&e),
    }
}
