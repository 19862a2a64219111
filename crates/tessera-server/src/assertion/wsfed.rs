//! WS-Federation's answer: a WS-Trust 2005/02 `RequestSecurityTokenResponse` carrying the
//! signed SAML 2.0 assertion (Entra's default token type for WS-Fed apps), posted to the
//! app's `wreply` as `wresult` (docs/saml-wsfed-wire.md §6).

use tessera_proto::saml::names;
use tessera_proto::xml::escape::text;

use super::saml2::signed_assertion;
use super::{TokenSpec, saml_time};
use crate::error::ServerError;
use crate::state::AppState;

const SAML2_TOKEN_TYPE: &str =
    "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0";

pub(crate) fn response(state: &AppState, spec: &TokenSpec<'_>) -> Result<String, ServerError> {
    let a = signed_assertion(state, spec, true)?;
    Ok(format!(
        concat!(
            r#"<t:RequestSecurityTokenResponse xmlns:t="{trust}"><t:Lifetime>"#,
            r#"<wsu:Created xmlns:wsu="{wsu}">{created}</wsu:Created><wsu:Expires xmlns:wsu="{wsu}">{expires}</wsu:Expires></t:Lifetime>"#,
            r#"<wsp:AppliesTo xmlns:wsp="{wsp}"><wsa:EndpointReference xmlns:wsa="{wsa}"><wsa:Address>{audience}</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>"#,
            r#"<t:RequestedSecurityToken>{assertion}</t:RequestedSecurityToken>"#,
            r#"<t:TokenType>{token_type}</t:TokenType><t:RequestType>{trust}/Issue</t:RequestType>"#,
            r#"<t:KeyType>http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey</t:KeyType></t:RequestSecurityTokenResponse>"#
        ),
        trust = names::WS_TRUST_2005,
        wsu = names::WSU,
        wsp = names::WS_POLICY,
        wsa = names::WS_ADDRESSING,
        created = saml_time(a.not_before_ms),
        expires = saml_time(a.not_on_or_after_ms),
        audience = text(spec.audience),
        assertion = a.xml,
        token_type = SAML2_TOKEN_TYPE,
    ))
}
