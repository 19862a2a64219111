//! A user's token from a user name and password (ROPC). Microsoft discourages this flow: it
//! fails for accounts that need MFA (AADSTS50076) and for personal and federated accounts;
//! prefer `device_code` for people. Then the refresh token buys a second access token.
//!
//!   AZURE_TENANT_ID=… AZURE_CLIENT_ID=<public client> AZURE_USERNAME=… AZURE_PASSWORD=… \
//!     cargo run -p tessera-client --example username_password

// An example is a command-line program: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use tessera_client::{
    Credential, RefreshTokenCredential, Secret, TokenRequest, UsernamePasswordCredential,
};

#[tokio::main]
async fn main() {
    let http = common::http();
    let credential = UsernamePasswordCredential {
        authority: common::authority(),
        client_id: common::var("AZURE_CLIENT_ID"),
        username: common::var("AZURE_USERNAME"),
        password: Secret::new(common::var("AZURE_PASSWORD")),
    };
    let request = TokenRequest::new(&[&common::scope("User.Read")]);
    // `fetch` is the raw flow, without the cache, to show the refresh token it returns.
    let first = credential
        .fetch(&http, &request)
        .await
        .unwrap_or_else(|e| common::fail(&e));
    let Some(refresh_token) = first.refresh_token else {
        common::fail(&"no refresh token came back");
    };
    let refreshed = RefreshTokenCredential::new(
        common::authority(),
        credential.client_id.clone(),
        Secret::new(refresh_token),
    );
    let second = refreshed
        .fetch(&http, &request)
        .await
        .unwrap_or_else(|e| common::fail(&e));
    let now = common::unix_now();
    common::show(
        &tessera_client::AccessToken {
            token: Secret::new(second.access_token),
            expires_at: now + second.expires_in,
            refresh_at: now,
        },
        now,
    );
}
