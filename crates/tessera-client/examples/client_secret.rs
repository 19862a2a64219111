//! A daemon's token from a client secret (OAuth 2.0 client credentials).
//!
//!   AZURE_TENANT_ID=… AZURE_CLIENT_ID=… AZURE_CLIENT_SECRET=… \
//!     cargo run -p tessera-client --example client_secret
//!
//! Against `tessera serve`, add `TESSERA_AUTHORITY` and `TESSERA_CA_FILE` from its demo.json.

// An example is a command-line program: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::sync::Arc;

use tessera_client::{ClientSecretCredential, Secret, TokenProvider, TokenRequest};

#[tokio::main]
async fn main() {
    let credential = ClientSecretCredential {
        authority: common::authority(),
        client_id: common::var("AZURE_CLIENT_ID"),
        secret: Secret::new(common::var("AZURE_CLIENT_SECRET")),
    };
    // The provider caches the token and refreshes it ahead of expiry: keep one per app.
    let provider = TokenProvider::new(Arc::new(credential), common::http());
    let scope = common::scope("https://graph.microsoft.com/.default");
    match provider.token(&TokenRequest::new(&[&scope])).await {
        Ok(token) => common::show(&token, common::unix_now()),
        Err(e) => common::fail(&e),
    }
}
