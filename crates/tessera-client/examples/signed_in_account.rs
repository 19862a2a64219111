//! A user signs in once and later processes get tokens silently: `sign_in` runs a user flow
//! (here the password flow, for brevity; use device code or the browser for people) and keeps
//! the account's refresh token in an encrypted persistent cache; `AccountCredential` finds it
//! there, in this process or any later one, and redeems it. This is what `tessera login` does.
//!
//!   AZURE_TENANT_ID=… AZURE_CLIENT_ID=<public client> AZURE_USERNAME=… AZURE_PASSWORD=… \
//!     TESSERA_CACHE_DIR=/tmp/my-cache cargo run -p tessera-client --example signed_in_account

// An example is a command-line program: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::sync::Arc;

use tessera_client::{
    AccountCredential, PersistentCache, Secret, TokenProvider, TokenRequest,
    UsernamePasswordCredential, sign_in,
};

#[tokio::main]
async fn main() {
    let http = common::http();
    let dir = std::path::PathBuf::from(common::var("TESSERA_CACHE_DIR"));
    let open = || {
        PersistentCache::open_with_key_file(dir.join("tokens"), &dir.join("cache.key"))
            .unwrap_or_else(|e| common::fail(&e))
    };
    let client_id = common::var("AZURE_CLIENT_ID");
    let request = TokenRequest::new(&[&common::scope("User.Read")]);
    let flow = UsernamePasswordCredential {
        authority: common::authority(),
        client_id: client_id.clone(),
        username: common::var("AZURE_USERNAME"),
        password: Secret::new(common::var("AZURE_PASSWORD")),
    };
    let account = sign_in(
        &open(),
        &http,
        &common::authority(),
        &client_id,
        &flow,
        &request,
    )
    .await
    .unwrap_or_else(|e| common::fail(&e));
    eprintln!("signed in as {}", account.username);

    // Later (another handle on the cache, as another process would open it): no password.
    let cache = Arc::new(open());
    let Some(credential) =
        AccountCredential::find(cache.clone(), common::authority(), &client_id, None)
            .unwrap_or_else(|e| common::fail(&e))
    else {
        common::fail(&"the account is not in the cache");
    };
    let provider =
        TokenProvider::new(Arc::new(credential), http.clone()).with_persistent_cache(cache);
    let token = provider
        .token(&request)
        .await
        .unwrap_or_else(|e| common::fail(&e));
    common::show(&token, common::unix_now());
}
