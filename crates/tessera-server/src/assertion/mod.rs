//! SAML tokens as Entra issues them to an app: a signed SAML 2.0 assertion with Entra's
//! attributes, NameID formats and lifetimes, wrapped in a SAML protocol `Response` (the
//! SAML 2.0 endpoint) or a WS-Trust `RequestSecurityTokenResponse` (WS-Federation); and
//! the protocol's status answers (errors, `LogoutResponse`). Wire shapes and sources:
//! docs/saml-wsfed-wire.md.

mod saml2;
mod status;
mod wsfed;

use tessera_proto::clock::Clock as _;
use tessera_proto::lifetime::{self, LifetimeDecision};
use time::OffsetDateTime;

use crate::directory::PolicySnapshot;
use crate::state::AppState;
use crate::store::{Application, Tenant, User};

pub(crate) use saml2::response as saml2_response;
pub(crate) use status::{logout_response, status_response};
pub(crate) use wsfed::response as wsfed_response;

/// Everything a SAML token is made of.
pub(crate) struct TokenSpec<'a> {
    pub(crate) tenant: &'a Tenant,
    pub(crate) app: &'a Application,
    pub(crate) user: &'a User,
    /// The entity ID the app named (or `spn:{appId}`): the `Audience`.
    pub(crate) audience: &'a str,
    /// Where the token is posted: `Destination` and `Recipient`.
    pub(crate) recipient: &'a str,
    /// The request's ID; none for an IdP-initiated sign-in.
    pub(crate) in_response_to: Option<&'a str>,
    pub(crate) name_id_format: Option<&'a str>,
    /// When the user signed in (the SSO session's authentication).
    pub(crate) auth_instant: i64,
    pub(crate) mfa: bool,
    pub(crate) policies: &'a PolicySnapshot,
}

/// The lifetime of a SAML token for `app`: the policy assigned to its service principal or
/// application object, or the organization default, as for access tokens.
pub(crate) fn lifetime(
    state: &AppState,
    tenant: &Tenant,
    app: &Application,
    policies: &PolicySnapshot,
) -> LifetimeDecision {
    let objects = [app.service_principal_id.as_str(), app.object_id.as_str()];
    lifetime::saml_token_lifetime(&crate::token::mint::lifetime_inputs(
        state, tenant, policies, &objects, false,
    ))
}

/// SAML's `dateTime` with milliseconds, as Entra writes it: `2021-04-09T12:53:30.562Z`.
pub(crate) fn saml_time(unix_ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// An ID as Entra writes them: `_` and a GUID (an XML ID must not start with a digit).
pub(crate) fn saml_id(state: &AppState) -> String {
    format!("_{}", crate::crypto::random_guid(state.random.as_ref()))
}

pub(crate) fn now_ms(state: &AppState) -> i64 {
    i64::try_from(state.clock.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_have_milliseconds_and_zulu() {
        assert_eq!(
            super::saml_time(1_617_972_810_562),
            "2021-04-09T12:53:30.562Z"
        );
        assert_eq!(super::saml_time(0), "1970-01-01T00:00:00.000Z");
    }
}
