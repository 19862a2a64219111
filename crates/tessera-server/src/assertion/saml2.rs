//! The SAML 2.0 assertion and the protocol `Response` that carries it to an app's ACS, in
//! Entra's element order, namespaces and attribute set (docs/saml-wsfed-wire.md §1-§2).

use tessera_proto::saml::names;
use tessera_proto::xml::escape::{attr, text};

use super::{TokenSpec, now_ms, saml_id, saml_time};
use crate::crypto::xml_sig::{Placement, sign_enveloped};
use crate::error::ServerError;
use crate::infra::activity::{ActivityEvent, ActivityKind};
use crate::state::AppState;
use crate::store::SamlSigning;

/// Back-dating of `NotBefore`, as in every captured Entra response.
const NOT_BEFORE_SKEW_MS: i64 = 5 * 60 * 1000;
/// `SubjectConfirmationData NotOnOrAfter`: an hour, whatever a policy says.
const CONFIRMATION_MS: i64 = 60 * 60 * 1000;

/// A signed assertion and what a caller reports about it.
pub(super) struct SignedAssertion {
    pub(super) xml: String,
    pub(super) not_before_ms: i64,
    pub(super) not_on_or_after_ms: i64,
}

/// The NameID for the format asked (or the app's, or Entra's default emailAddress/UPN).
fn name_id(state: &AppState, spec: &TokenSpec<'_>, format: &str) -> String {
    match format {
        names::NAMEID_PERSISTENT | names::NAMEID_UNSPECIFIED => {
            // Pairwise: the same user gets another value in every app, and always the same
            // one in this app (43 characters of base64url, as Entra's).
            let d = crate::crypto::sha256(
                format!(
                    "saml-persistent|{}|{}|{}",
                    spec.tenant.id,
                    spec.app.client_id.to_ascii_lowercase(),
                    spec.user.id
                )
                .as_bytes(),
            );
            tessera_proto::b64::url_encode(d)
        }
        names::NAMEID_TRANSIENT => crate::crypto::random_b64url(state.random.as_ref(), 32),
        _ => spec.user.user_principal_name.clone(),
    }
}

fn attribute(out: &mut String, name: &str, values: &[&str]) {
    let values: Vec<&&str> = values.iter().filter(|v| !v.is_empty()).collect();
    if values.is_empty() {
        return; // Entra leaves an empty attribute out.
    }
    out.push_str("<Attribute Name=\"");
    out.push_str(&attr(name));
    out.push_str("\">");
    for v in values {
        out.push_str("<AttributeValue>");
        out.push_str(&text(v));
        out.push_str("</AttributeValue>");
    }
    out.push_str("</Attribute>");
}

/// The signed assertion. `wsfed` writes WS-Federation's variant: a persistent NameID by
/// default, a bearer confirmation without data, no `SessionIndex`.
pub(super) fn signed_assertion(
    state: &AppState,
    spec: &TokenSpec<'_>,
    wsfed: bool,
) -> Result<SignedAssertion, ServerError> {
    let now = now_ms(state);
    let id = saml_id(state);
    let issuer = names::issuer(&spec.tenant.id);
    let lifetime = super::lifetime(state, spec.tenant, spec.app, spec.policies);
    let not_before = now - NOT_BEFORE_SKEW_MS;
    let not_on_or_after = now + lifetime.seconds * 1000;
    let format = spec
        .name_id_format
        .or(spec.app.saml.name_id_format.as_deref())
        .unwrap_or(if wsfed {
            names::NAMEID_PERSISTENT
        } else {
            names::NAMEID_EMAIL
        });
    let user = spec.user;
    let mut x = String::with_capacity(4096);
    x.push_str(&format!(
        r#"<Assertion ID="{id}" IssueInstant="{}" Version="2.0" xmlns="{}"><Issuer>{}</Issuer>"#,
        saml_time(now),
        names::ASSERTION,
        text(&issuer)
    ));
    x.push_str(&format!(
        r#"<Subject><NameID Format="{}">{}</NameID>"#,
        attr(format),
        text(&name_id(state, spec, format))
    ));
    if wsfed {
        x.push_str(&format!(
            r#"<SubjectConfirmation Method="{}"/></Subject>"#,
            names::BEARER
        ));
    } else {
        x.push_str(&format!(
            r#"<SubjectConfirmation Method="{}"><SubjectConfirmationData"#,
            names::BEARER
        ));
        if let Some(r) = spec.in_response_to {
            x.push_str(&format!(r#" InResponseTo="{}""#, attr(r)));
        }
        x.push_str(&format!(
            r#" NotOnOrAfter="{}" Recipient="{}"/></SubjectConfirmation></Subject>"#,
            saml_time(now + CONFIRMATION_MS),
            attr(spec.recipient)
        ));
    }
    x.push_str(&format!(
        r#"<Conditions NotBefore="{}" NotOnOrAfter="{}"><AudienceRestriction><Audience>{}</Audience></AudienceRestriction></Conditions>"#,
        saml_time(not_before),
        saml_time(not_on_or_after),
        text(spec.audience)
    ));
    x.push_str("<AttributeStatement>");
    let mut methods = vec![names::AMR_PASSWORD];
    if spec.mfa {
        methods.push(names::AMR_MFA);
    }
    attribute(&mut x, names::ATTR_TENANT_ID, &[&spec.tenant.id]);
    attribute(&mut x, names::ATTR_OBJECT_ID, &[&user.id]);
    attribute(&mut x, names::ATTR_DISPLAY_NAME, &[&user.display_name]);
    attribute(&mut x, names::ATTR_IDENTITY_PROVIDER, &[&issuer]);
    attribute(&mut x, names::ATTR_AUTHN_METHODS, &methods);
    attribute(
        &mut x,
        names::ATTR_GIVEN_NAME,
        &[user.given_name.as_deref().unwrap_or_default()],
    );
    attribute(
        &mut x,
        names::ATTR_SURNAME,
        &[user.surname.as_deref().unwrap_or_default()],
    );
    attribute(
        &mut x,
        names::ATTR_EMAIL,
        &[user.mail.as_deref().unwrap_or_default()],
    );
    attribute(&mut x, names::ATTR_NAME, &[&user.user_principal_name]);
    x.push_str("</AttributeStatement>");
    x.push_str(&format!(
        r#"<AuthnStatement AuthnInstant="{}""#,
        saml_time(spec.auth_instant * 1000)
    ));
    if !wsfed {
        x.push_str(&format!(r#" SessionIndex="{id}""#));
    }
    x.push_str(&format!(
        r#"><AuthnContext><AuthnContextClassRef>{}</AuthnContextClassRef></AuthnContext></AuthnStatement></Assertion>"#,
        names::AC_PASSWORD
    ));
    let sign = wsfed || spec.app.saml.signing != SamlSigning::Response;
    let xml = if sign {
        sign_enveloped(state.keys.active(), &x, &id, Placement::AfterIssuer)?
    } else {
        x
    };
    state.activity.record(ActivityEvent {
        app_id: spec.app.client_id.clone(),
        app_name: spec.app.display_name.clone(),
        user: Some(user.user_principal_name.clone()),
        flow: if wsfed { "ws-federation" } else { "saml" }.to_owned(),
        token_kind: "SAML token",
        expires: not_on_or_after / 1000,
        lifetime_source: lifetime.source.describe(),
        fingerprint: crate::token::mint::fingerprint(&xml),
        ..ActivityEvent::new(ActivityKind::Issued, now / 1000, &spec.tenant.id)
    });
    Ok(SignedAssertion {
        xml,
        not_before_ms: not_before,
        not_on_or_after_ms: not_on_or_after,
    })
}

/// The `Response` for the app's ACS, signed as the app asks (the assertion by default).
pub(crate) fn response(state: &AppState, spec: &TokenSpec<'_>) -> Result<String, ServerError> {
    let assertion = signed_assertion(state, spec, false)?;
    let id = saml_id(state);
    let mut x = format!(
        r#"<samlp:Response ID="{id}" Version="2.0" IssueInstant="{}" Destination="{}""#,
        saml_time(now_ms(state)),
        attr(spec.recipient)
    );
    if let Some(r) = spec.in_response_to {
        x.push_str(&format!(r#" InResponseTo="{}""#, attr(r)));
    }
    x.push_str(&format!(
        r#" xmlns:samlp="{}"><Issuer xmlns="{}">{}</Issuer><samlp:Status><samlp:StatusCode Value="{}"/></samlp:Status>{}</samlp:Response>"#,
        names::PROTOCOL,
        names::ASSERTION,
        text(&names::issuer(&spec.tenant.id)),
        names::STATUS_SUCCESS,
        assertion.xml
    ));
    if spec.app.saml.signing == SamlSigning::Assertion {
        Ok(x)
    } else {
        sign_enveloped(state.keys.active(), &x, &id, Placement::AfterIssuer)
    }
}
