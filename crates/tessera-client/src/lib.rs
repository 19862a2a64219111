//! tessera's client library for the Microsoft identity platform and Graph: every credential
//! behind one trait, typed AADSTS errors with plain-language advice, and an HTTP layer that
//! retries the way Entra asks. Works against Entra (login.microsoftonline.com, the default),
//! the sovereign clouds, and `tessera serve`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tessera_client::ClientError> {
//! use tessera_client::{Authority, ClientSecretCredential, Credential, Secret, TokenHttp, TokenRequest};
//! let credential = ClientSecretCredential {
//!     authority: Authority::public("contoso.onmicrosoft.com"),
//!     client_id: "00000000-0000-0000-0000-000000000000".into(),
//!     secret: Secret::new(std::env::var("CLIENT_SECRET").unwrap_or_default()),
//! };
//! let http = TokenHttp::new(Default::default())?;
//! let token = credential.fetch(&http, &TokenRequest::new(&["https://graph.microsoft.com/.default"])).await?;
//! # let _ = token; Ok(()) }
//! ```
//!
//! Every credential has a runnable example in `examples/` (`client_secret`,
//! `client_certificate`, `client_assertion`, `username_password`, `device_code`,
//! `interactive`, `managed_identity`, `environment`, `signed_in_account`). They sign in at Entra by default; `TESSERA_AUTHORITY`
//! and `TESSERA_CA_FILE` point them at another host such as `tessera serve`, and the
//! integration tests run each of them that way.

pub mod account;
pub mod authority;
pub mod credential;
pub mod endpoint;
pub mod environment;
pub mod error;
pub mod graph;
pub mod http;
pub mod inspect;
pub mod interactive;
mod keyring;
pub mod managed;
pub mod persist;
pub mod policy;
pub mod provider;
pub mod saml_inspect;
pub mod secret;

pub use account::{AccountCredential, account_key, accounts, sign_in, sign_out};
pub use authority::{Authority, Cloud};
pub use credential::{
    AssertionSource, Binding, ClientAssertionCredential, ClientCertificateCredential,
    ClientSecretCredential, Credential, DeviceCodeCredential, DeviceCodeInfo, Identity,
    RefreshTokenCredential, Thumbprint, TokenRequest, UsernamePasswordCredential,
};
pub use environment::{ChainedCredential, from_environment};
pub use error::{AadstsFailure, ClientError};
pub use graph::{GraphClient, GraphFailure, GraphResponse, Pager};
pub use http::{HttpOptions, TokenHttp};
pub use inspect::{DecodedToken, Verified, decode, fingerprint};
pub use interactive::{InteractiveCredential, Redirect, open_system_browser};
pub use managed::{ManagedIdentityCredential, ManagedIdentitySource};
pub use persist::{KeySource, ListedEntry, PersistedAccount, PersistedToken, PersistentCache};
pub use policy::{AppRef, Explanation, LifetimePolicy, NewPolicy, Policies, PolicyUpdate};
pub use provider::{AccessToken, ProviderStats, TokenKey, TokenProvider, parse_token_key};
pub use saml_inspect::{SamlLifetime, SamlToken, SamlVerified, decode_saml, looks_like_saml};
pub use secret::Secret;
