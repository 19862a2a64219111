//! The requests a service provider sends to `/{tenant}/saml2`, read from their XML as Entra
//! reads them (single-sign-on-saml-protocol, single-sign-out-saml-protocol): what Entra
//! ignores is not kept; what it refuses is an error naming its AADSTS code.

use super::names::{ASSERTION, NAMEID_FORMATS, PROTOCOL};
use crate::xml::Element;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// AADSTS75005: not a SAML 2.0 protocol message this endpoint takes.
    #[error("the request is not a valid Saml2 protocol message")]
    NotSaml2,
    /// AADSTS75005 as well: a required part is missing (`ID`, `Issuer`, `Version="2.0"`).
    #[error("the request lacks {0}")]
    Missing(&'static str),
    /// AADSTS75016: a `NameIDPolicy` format Entra does not issue.
    #[error("the NameIDPolicy format '{0}' is not supported")]
    NameIdFormat(String),
    /// AADSTS900236: a property Entra refuses to take (`Subject`, `Scoping`).
    #[error("the SAML authentication request property '{0}' is not supported and must not be set")]
    Unsupported(&'static str),
}

/// A SAML 2.0 `AuthnRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthnRequest {
    pub id: String,
    /// The service provider's entity ID, matched against an app's identifier URIs.
    pub issuer: String,
    pub assertion_consumer_service_url: Option<String>,
    pub destination: Option<String>,
    pub force_authn: bool,
    pub is_passive: bool,
    pub name_id_format: Option<String>,
}

fn flag(e: &Element, name: &str) -> bool {
    matches!(e.attr(name).map(str::trim), Some("true" | "1"))
}

fn id_of(e: &Element) -> Result<String, RequestError> {
    let id = e
        .attr("ID")
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(RequestError::Missing("an ID"))?;
    if e.attr("Version").map(str::trim) != Some("2.0") {
        return Err(RequestError::Missing("Version=\"2.0\""));
    }
    Ok(id.to_owned())
}

fn issuer_of(e: &Element) -> Result<String, RequestError> {
    e.child(ASSERTION, "Issuer")
        .map(|i| i.text().trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or(RequestError::Missing("an Issuer"))
}

impl AuthnRequest {
    pub fn read(e: &Element) -> Result<Self, RequestError> {
        if !e.is(PROTOCOL, "AuthnRequest") {
            return Err(RequestError::NotSaml2);
        }
        let id = id_of(e)?;
        let issuer = issuer_of(e)?;
        if e.child(ASSERTION, "Subject").is_some() {
            return Err(RequestError::Unsupported("Subject"));
        }
        if e.child(PROTOCOL, "Scoping").is_some() {
            return Err(RequestError::Unsupported("Scoping"));
        }
        let name_id_format = match e
            .child(PROTOCOL, "NameIDPolicy")
            .and_then(|p| p.attr("Format"))
            .map(str::trim)
        {
            Some(f) if NAMEID_FORMATS.contains(&f) => Some(f.to_owned()),
            Some(f) => return Err(RequestError::NameIdFormat(f.chars().take(200).collect())),
            None => None,
        };
        Ok(Self {
            id,
            issuer,
            assertion_consumer_service_url: e
                .attr("AssertionConsumerServiceURL")
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
            destination: e.attr("Destination").map(str::to_owned),
            force_authn: flag(e, "ForceAuthn"),
            is_passive: flag(e, "IsPassive"),
            name_id_format,
        })
    }
}

/// A SAML 2.0 `LogoutRequest`. Entra does not consider the `NameID`; it is kept for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    pub id: String,
    pub issuer: String,
    pub name_id: Option<String>,
    pub session_index: Option<String>,
}

impl LogoutRequest {
    pub fn read(e: &Element) -> Result<Self, RequestError> {
        if !e.is(PROTOCOL, "LogoutRequest") {
            return Err(RequestError::NotSaml2);
        }
        Ok(Self {
            id: id_of(e)?,
            issuer: issuer_of(e)?,
            name_id: e.child(ASSERTION, "NameID").map(|n| n.text()),
            session_index: e.child(PROTOCOL, "SessionIndex").map(|n| n.text()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{Limits, parse};

    fn read(xml: &str) -> Result<AuthnRequest, RequestError> {
        AuthnRequest::read(&parse(xml, Limits::default()).expect("xml"))
    }

    #[test]
    fn an_authn_request_is_read_as_entra_reads_it() {
        let r = read(concat!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" "#,
            r#"ID="id6c1c" Version="2.0" IssueInstant="2013-03-18T03:28:54.1839884Z" ForceAuthn="true" IsPassive="false" "#,
            r#"AssertionConsumerServiceURL="https://sp.example/acs"><saml:Issuer> https://sp.example </saml:Issuer>"#,
            r#"<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" AllowCreate="true"/></samlp:AuthnRequest>"#
        ))
        .expect("valid");
        assert_eq!(r.id, "id6c1c");
        assert_eq!(r.issuer, "https://sp.example");
        assert_eq!(
            r.assertion_consumer_service_url.as_deref(),
            Some("https://sp.example/acs")
        );
        assert!(r.force_authn && !r.is_passive);
        assert_eq!(
            r.name_id_format.as_deref(),
            Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent")
        );
    }

    #[test]
    fn what_entra_refuses_is_an_error() {
        let base = |inner: &str, attrs: &str| {
            format!(
                r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" {attrs}><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">x</Issuer>{inner}</samlp:AuthnRequest>"#
            )
        };
        assert_eq!(
            read(&base("", r#"Version="2.0""#)),
            Err(RequestError::Missing("an ID"))
        );
        assert_eq!(
            read(&base("", r#"ID="a""#)),
            Err(RequestError::Missing("Version=\"2.0\""))
        );
        assert_eq!(
            read(&base(
                r#"<samlp:NameIDPolicy Format="urn:x"/>"#,
                r#"ID="a" Version="2.0""#
            )),
            Err(RequestError::NameIdFormat("urn:x".into()))
        );
        assert_eq!(
            read(&base(
                r#"<Subject xmlns="urn:oasis:names:tc:SAML:2.0:assertion"/>"#,
                r#"ID="a" Version="2.0""#
            )),
            Err(RequestError::Unsupported("Subject"))
        );
        assert_eq!(
            read(r#"<AuthnRequest ID="a" Version="2.0"/>"#),
            Err(RequestError::NotSaml2),
            "no namespace"
        );
        let logout = parse(
            r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="l1" Version="2.0"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">sp</Issuer><NameID xmlns="urn:oasis:names:tc:SAML:2.0:assertion">u</NameID></samlp:LogoutRequest>"#,
            Limits::default(),
        )
        .expect("xml");
        let l = LogoutRequest::read(&logout).expect("logout");
        assert_eq!(
            (l.id.as_str(), l.issuer.as_str(), l.name_id.as_deref()),
            ("l1", "sp", Some("u"))
        );
    }
}
