//! SAML protocol answers without a token: an error `Response` (a request Entra could read
//! but will not serve, such as `IsPassive` without a session) and the `LogoutResponse`.
//! Entra's shapes: docs/saml-wsfed-wire.md §3 and §5. Whether Entra signs these is
//! UNCONFIRMED; they are sent unsigned, as the documented samples are.

use tessera_proto::saml::names;
use tessera_proto::xml::escape::{attr, text};

use super::{now_ms, saml_id, saml_time};
use crate::state::AppState;

/// A `Response` with a non-success status: `top` (Requester or Responder), an optional
/// second-level code, and the message (`AADSTSnnnnn: …`, trace id, timestamp).
pub(crate) fn status_response(
    state: &AppState,
    tenant_id: &str,
    in_response_to: Option<&str>,
    destination: &str,
    top: &str,
    second: Option<&str>,
    message: &str,
) -> String {
    let mut x = format!(
        r#"<samlp:Response ID="{}" Version="2.0" IssueInstant="{}" Destination="{}""#,
        saml_id(state),
        saml_time(now_ms(state)),
        attr(destination)
    );
    if let Some(r) = in_response_to {
        x.push_str(&format!(r#" InResponseTo="{}""#, attr(r)));
    }
    x.push_str(&format!(
        r#" xmlns:samlp="{}"><Issuer xmlns="{}">{}</Issuer><samlp:Status><samlp:StatusCode Value="{}">"#,
        names::PROTOCOL,
        names::ASSERTION,
        text(&names::issuer(tenant_id)),
        attr(top)
    ));
    if let Some(s) = second {
        x.push_str(&format!(r#"<samlp:StatusCode Value="{}"/>"#, attr(s)));
    }
    x.push_str(&format!(
        r#"</samlp:StatusCode><samlp:StatusMessage>{}</samlp:StatusMessage></samlp:Status></samlp:Response>"#,
        text(message)
    ));
    x
}

/// The `LogoutResponse` to a `LogoutRequest`. Its issuer is the tenant's SAML issuer, as
/// the older documented sample has it and SP libraries expect (the current page names
/// `login.microsoftonline.com/{tid}/`; no capture settles it: UNCONFIRMED).
pub(crate) fn logout_response(
    state: &AppState,
    tenant_id: &str,
    in_response_to: &str,
    destination: &str,
) -> String {
    format!(
        r#"<samlp:LogoutResponse ID="{}" Version="2.0" IssueInstant="{}" Destination="{}" InResponseTo="{}" xmlns:samlp="{}"><Issuer xmlns="{}">{}</Issuer><samlp:Status><samlp:StatusCode Value="{}"/></samlp:Status></samlp:LogoutResponse>"#,
        saml_id(state),
        saml_time(now_ms(state)),
        attr(destination),
        attr(in_response_to),
        names::PROTOCOL,
        names::ASSERTION,
        text(&names::issuer(tenant_id)),
        names::STATUS_SUCCESS
    )
}
