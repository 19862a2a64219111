//! Federation metadata (`/{tenant}/federationmetadata/2007-06/federationmetadata.xml`, also
//! with `?appid=`), as Entra publishes it: entity ID `https://sts.windows.net/{tid}/`, the
//! WS-Federation STS and application roles, the SAML 2.0 IdP role with its signing
//! certificates and endpoints, the document itself signed (docs/saml-wsfed-wire.md §4).
//! Entra's `?appid=` document carries the app's own SAML certificate; here every app is
//! signed for by the tenant's keys, so both forms are the same document.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse as _, Response};
use tessera_proto::saml::names;
use tessera_proto::xml::escape::{attr, text};

use super::Shared;
use super::apps::{self, page};
use crate::crypto::xml_sig::{Placement, sign_enveloped};
use crate::respond::base_url;
use crate::state::AppState;

/// The claims the tokens carry, as `ClaimTypesOffered` lists them (URI, display name).
const CLAIMS: &[(&str, &str)] = &[
    (names::ATTR_NAME, "Name"),
    (names::ATTR_GIVEN_NAME, "Given Name"),
    (names::ATTR_SURNAME, "Surname"),
    (names::ATTR_DISPLAY_NAME, "Display Name"),
    (names::ATTR_OBJECT_ID, "ObjectIdentifier"),
    (names::ATTR_TENANT_ID, "TenantId"),
    (names::ATTR_IDENTITY_PROVIDER, "IdentityProvider"),
    (names::ATTR_EMAIL, "Email"),
    (
        names::ATTR_AUTHN_METHODS,
        "Authentication Methods References",
    ),
];

fn key_descriptors(state: &AppState) -> String {
    state
        .keys
        .jwks(None)
        .keys
        .iter()
        .filter_map(|k| k.x5c.first())
        .map(|cert| {
            format!(
                r#"<KeyDescriptor use="signing"><KeyInfo xmlns="{}"><X509Data><X509Certificate>{cert}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>"#,
                names::DSIG
            )
        })
        .collect()
}

fn endpoint(element: &str, address: &str) -> String {
    format!(
        r#"<fed:{element}><wsa:EndpointReference xmlns:wsa="{}"><wsa:Address>{}</wsa:Address></wsa:EndpointReference></fed:{element}>"#,
        names::WS_ADDRESSING,
        text(address)
    )
}

/// The unsigned document and its `ID`.
pub(super) fn build(state: &AppState, base: &str, tenant_id: &str) -> (String, String) {
    let issuer = names::issuer(tenant_id);
    let wsfed = format!("{base}/{tenant_id}/wsfed");
    let saml2 = format!("{base}/{tenant_id}/saml2");
    let keys = key_descriptors(state);
    let role = |kind: &str| {
        format!(
            r#"<RoleDescriptor xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:fed="{fed}" xsi:type="fed:{kind}" protocolSupportEnumeration="{fed}">{keys}"#,
            fed = names::WSFED
        )
    };
    let claims: String = CLAIMS
        .iter()
        .map(|(uri, name)| {
            format!(
                r#"<auth:ClaimType xmlns:auth="http://docs.oasis-open.org/wsfed/authorization/200706" Uri="{}"><auth:DisplayName>{}</auth:DisplayName></auth:ClaimType>"#,
                attr(uri),
                text(name)
            )
        })
        .collect();
    let id = crate::assertion::saml_id(state);
    let xml = format!(
        concat!(
            r#"<EntityDescriptor xmlns="{md}" ID="{id}" entityID="{issuer}">"#,
            "{sts}<fed:ClaimTypesOffered>{claims}</fed:ClaimTypesOffered>{sts_endpoint}{passive}</RoleDescriptor>",
            r#"{app}<fed:TargetScopes><wsa:EndpointReference xmlns:wsa="{wsa}"><wsa:Address>{issuer}</wsa:Address></wsa:EndpointReference></fed:TargetScopes>{app_endpoint}{passive}</RoleDescriptor>"#,
            r#"<IDPSSODescriptor protocolSupportEnumeration="{protocol}">{keys}"#,
            r#"<SingleLogoutService Binding="{redirect}" Location="{saml2}"/>"#,
            r#"<SingleSignOnService Binding="{redirect}" Location="{saml2}"/>"#,
            r#"<SingleSignOnService Binding="{post}" Location="{saml2}"/>"#,
            "</IDPSSODescriptor></EntityDescriptor>"
        ),
        md = names::METADATA,
        id = id,
        issuer = attr(&issuer),
        sts = role("SecurityTokenServiceType"),
        app = role("ApplicationServiceType"),
        claims = claims,
        sts_endpoint = endpoint("SecurityTokenServiceEndpoint", &wsfed),
        app_endpoint = endpoint("ApplicationServiceEndpoint", &wsfed),
        passive = endpoint("PassiveRequestorEndpoint", &wsfed),
        wsa = names::WS_ADDRESSING,
        protocol = names::PROTOCOL,
        keys = keys,
        redirect = names::BINDING_REDIRECT,
        post = names::BINDING_POST,
        saml2 = attr(&saml2),
    );
    (xml, id)
}

/// `GET /{tenant}/federationmetadata/2007-06/federationmetadata.xml`.
pub(crate) async fn document(
    state: Shared,
    Path(segment): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let state = state.0;
    let tenant = match apps::tenant(&state, &segment).await {
        Ok(t) => t,
        Err(e) => return page(&state, &e),
    };
    let base = base_url(&state, &headers, &uri);
    let (unsigned, id) = build(&state, &base, &tenant.id);
    match sign_enveloped(state.keys.active(), &unsigned, &id, Placement::FirstChild) {
        Ok(signed) => {
            let mut r = (StatusCode::OK, signed).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/samlmetadata+xml"),
            );
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "signing federation metadata failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
