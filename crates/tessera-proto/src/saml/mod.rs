//! SAML 2.0 and WS-Federation as Entra ID speaks them: the names and URIs, the HTTP-Redirect
//! and HTTP-POST encodings, and the requests a service provider sends (`AuthnRequest`,
//! `LogoutRequest`). Wire shapes and their sources: docs/saml-wsfed-wire.md.

pub mod binding;
pub mod names;
pub mod request;

pub use binding::BindingError;
pub use request::{AuthnRequest, LogoutRequest, RequestError};
