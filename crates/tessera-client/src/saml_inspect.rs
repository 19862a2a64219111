//! SAML tokens read for people (`tessera decode`): a SAML 2.0 `Response` or `Assertion`, or
//! a WS-Federation `RequestSecurityTokenResponse`, as raw XML, base64 as an app receives it,
//! or the form body an ACS got; its issuer, subject, audience, attributes and times with the
//! lifetime explained; and its signatures checked against the issuer's federation metadata.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use tessera_proto::lifetime::{
    POLICY_MAX_SECONDS, POLICY_MIN_SECONDS, SAML_POLICY_SKEW_SECONDS, SAML_TOKEN_SECONDS,
};
use tessera_proto::saml::{binding, names};
use tessera_proto::xml::{self, Element, Limits, dsig};

use crate::error::ClientError;
use crate::http::TokenHttp;

/// A SAML token's readable parts.
#[derive(Debug, Clone)]
pub struct SamlToken {
    /// `Response`, `Assertion` or `RequestSecurityTokenResponse`.
    pub kind: String,
    pub issuer: Option<String>,
    pub name_id: Option<String>,
    pub name_id_format: Option<String>,
    pub audiences: Vec<String>,
    pub in_response_to: Option<String>,
    pub destination: Option<String>,
    pub status: Option<String>,
    pub attributes: Vec<(String, Vec<String>)>,
    pub authn_context: Option<String>,
    pub session_index: Option<String>,
    /// Unix milliseconds.
    pub issue_instant: Option<i64>,
    pub not_before: Option<i64>,
    pub not_on_or_after: Option<i64>,
    pub confirmation_not_on_or_after: Option<i64>,
    root: Element,
}

/// What a SAML token's `Conditions` lifetime matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SamlLifetime {
    /// Entra's default hour.
    Default,
    /// A token lifetime policy of this many seconds, plus Entra's five-minute skew.
    Policy { policy_seconds: i64 },
    /// Neither (another issuer, or a test override).
    Other { seconds: i64 },
}

impl SamlLifetime {
    pub fn describe(&self) -> String {
        match self {
            Self::Default => "1h: Entra's default for SAML tokens".into(),
            Self::Policy { policy_seconds } => format!(
                "{}: a token lifetime policy of {} plus Entra's five-minute clock skew",
                tessera_proto::lifetime::format_timespan(policy_seconds + SAML_POLICY_SKEW_SECONDS),
                tessera_proto::lifetime::format_timespan(*policy_seconds)
            ),
            Self::Other { seconds } => format!(
                "{}: neither Entra's default hour nor a policy (10 minutes to 1 day) plus five minutes",
                tessera_proto::lifetime::format_timespan(*seconds)
            ),
        }
    }
}

/// Whether `input` is a SAML token rather than a JWT: XML, base64 (or deflated base64) of
/// XML, or a posted form carrying one.
pub fn looks_like_saml(input: &str) -> bool {
    xml_text(input).is_ok()
}

fn invalid(why: impl std::fmt::Display) -> ClientError {
    ClientError::Invalid(format!("not a SAML token: {why}"))
}

/// The XML of `input`: as it is, from base64 (the HTTP-POST binding), from a deflated
/// redirect value, or out of a posted form body.
fn xml_text(input: &str) -> Result<String, ClientError> {
    let t = input.trim();
    if t.starts_with('<') {
        return Ok(t.to_owned());
    }
    if t.contains('=') && (t.contains("SAMLResponse=") || t.contains("wresult=")) {
        let fields: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(t.as_bytes())
                .into_owned()
                .collect();
        if let Some(x) = fields.get("wresult") {
            return Ok(x.clone());
        }
        if let Some(v) = fields.get("SAMLResponse") {
            return xml_text(v);
        }
    }
    binding::decode_post(t)
        .ok()
        .filter(|x| x.trim_start().starts_with('<'))
        .or_else(|| binding::decode_redirect(t).ok())
        .filter(|x| x.trim_start().starts_with('<'))
        .ok_or_else(|| invalid("neither XML nor base64 of it"))
}

fn ms(text: Option<&str>) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text?, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Reads a SAML token from `input`.
pub fn decode_saml(input: &str) -> Result<SamlToken, ClientError> {
    let text = xml_text(input)?;
    let root = xml::parse(&text, Limits::default()).map_err(invalid)?;
    let kind = root.local.clone();
    let assertion = if root.is(names::ASSERTION, "Assertion") {
        Some(&root)
    } else {
        root.descendants()
            .into_iter()
            .find(|e| e.is(names::ASSERTION, "Assertion"))
    };
    if assertion.is_none() && !root.is(names::PROTOCOL, "Response") {
        return Err(invalid(format!("the document is a {kind}")));
    }
    let first = |scope: Option<&Element>, local: &str| {
        scope.and_then(|s| {
            s.descendants()
                .into_iter()
                .find(|e| e.is(names::ASSERTION, local))
                .cloned()
        })
    };
    let name_id = first(assertion, "NameID");
    let conditions = first(assertion, "Conditions");
    let confirmation = first(assertion, "SubjectConfirmationData");
    let authn = first(assertion, "AuthnStatement");
    let status = root.child(names::PROTOCOL, "Status").map(|s| {
        s.descendants()
            .into_iter()
            .filter(|e| e.local == "StatusCode")
            .filter_map(|e| e.attr("Value"))
            .map(|v| v.rsplit(':').next().unwrap_or(v).to_owned())
            .collect::<Vec<_>>()
            .join("/")
    });
    let attributes = assertion
        .and_then(|a| a.child(names::ASSERTION, "AttributeStatement"))
        .map(|s| {
            s.children_named(names::ASSERTION, "Attribute")
                .map(|a| {
                    (
                        a.attr("Name").unwrap_or_default().to_owned(),
                        a.children_named(names::ASSERTION, "AttributeValue")
                            .map(Element::text)
                            .collect(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(SamlToken {
        kind,
        issuer: assertion
            .and_then(|a| a.child(names::ASSERTION, "Issuer"))
            .or_else(|| root.child(names::ASSERTION, "Issuer"))
            .map(Element::text),
        name_id_format: name_id
            .as_ref()
            .and_then(|n| n.attr("Format"))
            .map(str::to_owned),
        name_id: name_id.as_ref().map(Element::text),
        audiences: assertion
            .map(|a| {
                a.descendants()
                    .into_iter()
                    .filter(|e| e.is(names::ASSERTION, "Audience"))
                    .map(Element::text)
                    .collect()
            })
            .unwrap_or_default(),
        in_response_to: root.attr("InResponseTo").map(str::to_owned),
        destination: root.attr("Destination").map(str::to_owned),
        status,
        attributes,
        authn_context: authn.as_ref().and_then(|a| {
            a.descendants()
                .into_iter()
                .find(|e| e.local == "AuthnContextClassRef")
                .map(Element::text)
        }),
        session_index: authn
            .as_ref()
            .and_then(|a| a.attr("SessionIndex"))
            .map(str::to_owned),
        issue_instant: ms(assertion.and_then(|a| a.attr("IssueInstant"))),
        not_before: ms(conditions.as_ref().and_then(|c| c.attr("NotBefore"))),
        not_on_or_after: ms(conditions.as_ref().and_then(|c| c.attr("NotOnOrAfter"))),
        confirmation_not_on_or_after: ms(confirmation
            .as_ref()
            .and_then(|c| c.attr("NotOnOrAfter"))),
        root,
    })
}

/// Checks against the certificates a federation metadata document publishes.
struct MetadataKeys(Vec<Vec<u8>>);

impl dsig::DsigCrypto for MetadataKeys {
    fn digest(&self, algorithm: &str, data: &[u8]) -> Option<Vec<u8>> {
        let alg = match algorithm {
            dsig::SHA256 => &digest::SHA256,
            dsig::SHA1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            _ => return None,
        };
        Some(digest::digest(alg, data).as_ref().to_vec())
    }

    fn verify(&self, algorithm: &str, data: &[u8], sig: &[u8], _: Option<&[u8]>) -> bool {
        let params: &'static dyn signature::VerificationAlgorithm = match algorithm {
            dsig::RSA_SHA256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            dsig::RSA_SHA1 => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            _ => return false,
        };
        self.0
            .iter()
            .any(|k| UnparsedPublicKey::new(params, k).verify(data, sig).is_ok())
    }
}

/// Which parts of a token verified, and against what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlVerified {
    pub metadata_url: String,
    /// `Response` and/or `Assertion`.
    pub signed: Vec<String>,
}

/// Federation metadata for an issuer: Entra's `https://sts.windows.net/{tid}/` is served by
/// `https://login.microsoftonline.com/{tid}/federationmetadata/2007-06/federationmetadata.xml`.
fn metadata_for_issuer(issuer: &str) -> Result<String, ClientError> {
    let tenant = issuer
        .strip_prefix("https://sts.windows.net/")
        .map(|t| t.trim_end_matches('/'))
        .filter(|t| !t.is_empty() && !t.contains('/'))
        .ok_or_else(|| {
            ClientError::Invalid(format!(
                "the issuer '{issuer}' is not Entra's; give --authority to say where its federation metadata is"
            ))
        })?;
    Ok(format!(
        "https://login.microsoftonline.com/{tenant}/federationmetadata/2007-06/federationmetadata.xml"
    ))
}

/// The RSA public keys (PKCS#1) of the signing certificates a metadata document names.
fn metadata_keys(text: &str) -> Result<Vec<Vec<u8>>, ClientError> {
    let doc = xml::parse(text, Limits::default())
        .map_err(|e| ClientError::Http(format!("the federation metadata is not readable: {e}")))?;
    let keys: Vec<Vec<u8>> = doc
        .descendants()
        .into_iter()
        .filter(|e| e.is(names::METADATA, "KeyDescriptor"))
        .filter(|k| k.attr("use").is_none_or(|u| u == "signing"))
        .flat_map(|k| {
            k.descendants()
                .into_iter()
                .filter(|e| e.is(names::DSIG, "X509Certificate"))
        })
        .filter_map(|c| tessera_proto::b64::decode_lenient(&c.text()))
        .filter_map(|der| {
            let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
            Some(
                cert.tbs_certificate
                    .subject_pki
                    .subject_public_key
                    .data
                    .to_vec(),
            )
        })
        .collect();
    if keys.is_empty() {
        return Err(ClientError::Http(
            "the federation metadata names no signing certificate".into(),
        ));
    }
    Ok(keys)
}

impl SamlToken {
    /// What the `Conditions` lifetime (NotOnOrAfter after IssueInstant) matches.
    pub fn lifetime(&self) -> Option<SamlLifetime> {
        let seconds = (self.not_on_or_after? - self.issue_instant?) / 1000;
        let policy = seconds - SAML_POLICY_SKEW_SECONDS;
        Some(if seconds == SAML_TOKEN_SECONDS {
            SamlLifetime::Default
        } else if (POLICY_MIN_SECONDS..=POLICY_MAX_SECONDS).contains(&policy) {
            SamlLifetime::Policy {
                policy_seconds: policy,
            }
        } else {
            SamlLifetime::Other { seconds }
        })
    }

    /// Checks every signature the token carries (the response's and the assertion's; at
    /// least one must be there) against the certificates in the issuer's federation
    /// metadata, fetched from `metadata_url`, else from the issuer's own.
    pub async fn verify(
        &self,
        http: &TokenHttp,
        metadata_url: Option<&str>,
    ) -> Result<SamlVerified, ClientError> {
        let url = match metadata_url {
            Some(u) => u.to_owned(),
            None => metadata_for_issuer(self.issuer.as_deref().unwrap_or_default())?,
        };
        let response = http
            .reqwest()?
            .get(&url)
            .send()
            .await
            .map_err(|e| ClientError::Http(format!("fetching {url}: {e}")))?;
        if !response.status().is_success() {
            return Err(ClientError::Http(format!(
                "fetching {url}: HTTP {}",
                response.status()
            )));
        }
        let text = response
            .text()
            .await
            .map_err(|e| ClientError::Http(format!("reading {url}: {e}")))?;
        let keys = MetadataKeys(metadata_keys(&text)?);
        let mut signed = Vec::new();
        let mut candidates: Vec<&Element> = vec![&self.root];
        candidates.extend(
            self.root
                .descendants()
                .into_iter()
                .filter(|e| e.is(names::ASSERTION, "Assertion") && !std::ptr::eq(*e, &self.root)),
        );
        for element in candidates {
            match dsig::verify_enveloped(element, &keys) {
                Ok(_) => signed.push(element.local.clone()),
                Err(dsig::DsigError::Unsigned) => {}
                Err(e) => {
                    return Err(ClientError::Invalid(format!(
                        "the {}'s signature does NOT verify with the certificates at {url}: {e}",
                        element.local
                    )));
                }
            }
        }
        if signed.is_empty() {
            return Err(ClientError::Invalid(
                "nothing in the token is signed".into(),
            ));
        }
        Ok(SamlVerified {
            metadata_url: url,
            signed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESPONSE: &str = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r" Version="2.0" IssueInstant="2026-12-04T05:00:00.100Z" Destination="https://sp/acs" InResponseTo="_q"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">https://sts.windows.net/t1/</Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a" IssueInstant="2026-12-04T05:00:00.000Z" Version="2.0"><Issuer>https://sts.windows.net/t1/</Issuer><Subject><NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">a@b</NameID><SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><SubjectConfirmationData NotOnOrAfter="2026-12-04T06:00:00.000Z"/></SubjectConfirmation></Subject><Conditions NotBefore="2026-12-04T04:55:00.000Z" NotOnOrAfter="2026-12-04T07:05:00.000Z"><AudienceRestriction><Audience>urn:sp</Audience></AudienceRestriction></Conditions><AttributeStatement><Attribute Name="n"><AttributeValue>v1</AttributeValue><AttributeValue>v2</AttributeValue></Attribute></AttributeStatement><AuthnStatement AuthnInstant="2026-12-04T05:00:00.000Z" SessionIndex="_a"><AuthnContext><AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password</AuthnContextClassRef></AuthnContext></AuthnStatement></Assertion></samlp:Response>"#;

    #[test]
    fn a_response_reads_the_same_as_xml_base64_or_a_posted_form() {
        let b64 = binding::encode_post(RESPONSE);
        let form = format!(
            "SAMLResponse={}&RelayState=x",
            url::form_urlencoded::byte_serialize(b64.as_bytes()).collect::<String>()
        );
        for input in [RESPONSE.to_owned(), b64, form] {
            assert!(looks_like_saml(&input));
            let t = decode_saml(&input).expect("reads");
            assert_eq!(t.kind, "Response");
            assert_eq!(t.issuer.as_deref(), Some("https://sts.windows.net/t1/"));
            assert_eq!(t.name_id.as_deref(), Some("a@b"));
            assert_eq!(t.audiences, ["urn:sp"]);
            assert_eq!(t.status.as_deref(), Some("Success"));
            assert_eq!(
                t.attributes,
                [("n".to_owned(), vec!["v1".to_owned(), "v2".to_owned()])]
            );
            assert_eq!(t.session_index.as_deref(), Some("_a"));
            assert_eq!(
                t.lifetime(),
                Some(SamlLifetime::Policy {
                    policy_seconds: 7200
                })
            );
        }
        assert!(!looks_like_saml("eyJ0eXAi.eyJhdWQi.c2ln"));
        assert!(!looks_like_saml("not-a-token"));
        assert!(decode_saml("<a/>").is_err());
        assert_eq!(
            metadata_for_issuer("https://sts.windows.net/t1/").expect("entra"),
            "https://login.microsoftonline.com/t1/federationmetadata/2007-06/federationmetadata.xml"
        );
        assert!(metadata_for_issuer("https://idp.example/").is_err());
        let default = RESPONSE.replace("07:05:00.000Z", "06:00:00.000Z");
        assert_eq!(
            decode_saml(&default).expect("reads").lifetime(),
            Some(SamlLifetime::Default)
        );
    }
}
