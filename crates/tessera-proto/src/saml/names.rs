//! Namespaces, formats, status codes and attribute names of SAML 2.0 and WS-Federation as
//! Entra ID uses them (docs/saml-wsfed-wire.md §1-§6).

pub const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const WSFED: &str = "http://docs.oasis-open.org/wsfed/federation/200706";
pub const WS_TRUST_2005: &str = "http://schemas.xmlsoap.org/ws/2005/02/trust";
pub const WS_ADDRESSING: &str = "http://www.w3.org/2005/08/addressing";
pub const WS_POLICY: &str = "http://schemas.xmlsoap.org/ws/2004/09/policy";
pub const WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
pub const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

pub const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
pub const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
pub const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
pub const NAMEID_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
/// The formats an `AuthnRequest` may ask for; any other is AADSTS75016.
pub const NAMEID_FORMATS: [&str; 4] = [
    NAMEID_EMAIL,
    NAMEID_PERSISTENT,
    NAMEID_TRANSIENT,
    NAMEID_UNSPECIFIED,
];

pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const STATUS_REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
pub const STATUS_RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";
pub const STATUS_NO_PASSIVE: &str = "urn:oasis:names:tc:SAML:2.0:status:NoPassive";
pub const STATUS_REQUEST_UNSUPPORTED: &str =
    "urn:oasis:names:tc:SAML:2.0:status:RequestUnsupported";
pub const STATUS_INVALID_NAMEID_POLICY: &str =
    "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy";

/// `AuthnContextClassRef`: Entra sends Password even after MFA; MFA shows only in the
/// `authnmethodsreferences` attribute.
pub const AC_PASSWORD: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password";
pub const AMR_PASSWORD: &str =
    "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password";
pub const AMR_MFA: &str = "http://schemas.microsoft.com/claims/multipleauthn";

pub const ATTR_TENANT_ID: &str = "http://schemas.microsoft.com/identity/claims/tenantid";
pub const ATTR_OBJECT_ID: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";
pub const ATTR_DISPLAY_NAME: &str = "http://schemas.microsoft.com/identity/claims/displayname";
pub const ATTR_IDENTITY_PROVIDER: &str =
    "http://schemas.microsoft.com/identity/claims/identityprovider";
pub const ATTR_AUTHN_METHODS: &str = "http://schemas.microsoft.com/claims/authnmethodsreferences";
pub const ATTR_GIVEN_NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname";
pub const ATTR_SURNAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname";
pub const ATTR_EMAIL: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
pub const ATTR_NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";
pub const ATTR_GROUPS: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups";

/// A NameID format by its short name (`emailAddress`, `persistent`, `transient`,
/// `unspecified`, as the portal and tessera's config name them) or its full URN.
pub fn name_id_format(text: &str) -> Option<&'static str> {
    match text {
        "emailAddress" => Some(NAMEID_EMAIL),
        "persistent" => Some(NAMEID_PERSISTENT),
        "transient" => Some(NAMEID_TRANSIENT),
        "unspecified" => Some(NAMEID_UNSPECIFIED),
        full => NAMEID_FORMATS.into_iter().find(|f| *f == full),
    }
}

/// The `ID` the portal's "Test single sign-on" sends; Entra answers it without
/// `InResponseTo`, as if IdP-initiated (MicrosoftDocs/azure-docs#81334).
pub const PORTAL_TEST_REQUEST_ID: &str = "F84D888AA3B44C1B844375A4E8210D9E";

/// The issuer Entra names in SAML tokens, metadata and WS-Federation:
/// `https://sts.windows.net/{tid}/`.
pub fn issuer(tenant_id: &str) -> String {
    format!("https://sts.windows.net/{tenant_id}/")
}
