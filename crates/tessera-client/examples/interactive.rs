//! A user's token by interactive sign-in (authorization code with PKCE): the system browser
//! opens at the sign-in page (`$BROWSER`, else xdg-open / open), and a listener on 127.0.0.1
//! receives the redirect. With `--no-browser` (over SSH, in a container) the URL is printed;
//! sign in on any machine and paste back the address the browser ended on.
//!
//!   AZURE_TENANT_ID=… AZURE_CLIENT_ID=<public client with redirect URI http://localhost> \
//!     cargo run -p tessera-client --example interactive [-- --no-browser]

// An example is a command-line program: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::sync::Arc;

use tessera_client::{InteractiveCredential, TokenProvider, TokenRequest};

#[tokio::main]
async fn main() {
    let mut credential =
        InteractiveCredential::new(common::authority(), common::var("AZURE_CLIENT_ID"));
    if std::env::args().any(|a| a == "--no-browser") {
        credential = credential.pasting_from_terminal();
    }
    let provider = TokenProvider::new(Arc::new(credential), common::http());
    match provider
        .token(&TokenRequest::new(&[&common::scope("User.Read")]))
        .await
    {
        Ok(token) => common::show(&token, common::unix_now()),
        Err(e) => common::fail(&e),
    }
}
