//! Wire types and pure rules of the Microsoft identity platform, shared by tessera's server
//! and client: token requests and responses, the AADSTS error catalogue, JWT claim sets,
//! scope parsing and token lifetime rules. No I/O lives here.

pub mod authorization;
pub mod b64;
pub mod claims;
pub mod clock;
pub mod directory_roles;
pub mod discovery;
pub mod errors;
pub mod graph_roles;
pub mod jwt;
pub mod lifetime;
pub mod odata;
pub mod saml;
pub mod scope;
pub mod token;
pub mod xml;

/// Microsoft Graph's well-known application (resource) id.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// Microsoft Graph's resource identifier as clients write it in scopes.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
