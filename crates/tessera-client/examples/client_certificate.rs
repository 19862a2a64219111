//! A daemon's token from a certificate: the library signs a client assertion with the key.
//! `AZURE_CLIENT_CERTIFICATE_PATH` is a PEM file holding the certificate and its private key
//! (plain, or encrypted PKCS#8), or a PFX; `AZURE_CLIENT_CERTIFICATE_PASSWORD` opens either.
//!
//!   AZURE_TENANT_ID=… AZURE_CLIENT_ID=… AZURE_CLIENT_CERTIFICATE_PATH=app.pem \
//!     cargo run -p tessera-client --example client_certificate

// An example is a command-line program: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::sync::Arc;

use tessera_client::{ClientCertificateCredential, Secret, TokenProvider, TokenRequest};

#[tokio::main]
async fn main() {
    let path = common::var("AZURE_CLIENT_CERTIFICATE_PATH");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| common::fail(&format!("{path}: {e}")));
    let (authority, client_id) = (common::authority(), common::var("AZURE_CLIENT_ID"));
    let password =
        Secret::new(std::env::var("AZURE_CLIENT_CERTIFICATE_PASSWORD").unwrap_or_default());
    // PEM (certificate and key, the key plain or encrypted) or PFX, told apart by content.
    let credential =
        ClientCertificateCredential::from_file_bytes(authority, client_id, &bytes, &password)
            .unwrap_or_else(|e| common::fail(&e));
    // Entra matches this against the certificates uploaded to the app registration.
    eprintln!(
        "certificate SHA-1 thumbprint {}",
        credential.thumbprint_sha1_hex()
    );
    let provider = TokenProvider::new(Arc::new(credential), common::http());
    let scope = common::scope("https://graph.microsoft.com/.default");
    match provider.token(&TokenRequest::new(&[&scope])).await {
        Ok(token) => common::show(&token, common::unix_now()),
        Err(e) => common::fail(&e),
    }
}
