//! A user's token by the device code flow: the program prints a code, the person enters it at
//! the verification page on any device with a browser and signs in there (MFA included), and
//! the program, polling, gets the tokens.
//!
//!   AZURE_TENANT_ID=… AZURE_CLIENT_ID=<public client> \
//!     cargo run -p tessera-client --example device_code

// An example is a command-line program: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::sync::Arc;

use tessera_client::{DeviceCodeCredential, TokenProvider, TokenRequest};

#[tokio::main]
async fn main() {
    let credential = DeviceCodeCredential::new(
        common::authority(),
        common::var("AZURE_CLIENT_ID"),
        // Entra's message names the page and the code; the person must see it (stderr, so a
        // pipe on stdout still gets only the data).
        |info| eprintln!("{}", info.message),
    );
    let provider = TokenProvider::new(Arc::new(credential), common::http());
    match provider
        .token(&TokenRequest::new(&[&common::scope("User.Read")]))
        .await
    {
        Ok(token) => common::show(&token, common::unix_now()),
        Err(e) => common::fail(&e),
    }
}
