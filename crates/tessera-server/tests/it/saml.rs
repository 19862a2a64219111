//! SAML 2.0 and WS-Federation through a real server and its sign-in pages: metadata,
//! SP-initiated sign-in by both bindings with single sign-on, the signed assertion's
//! content and lifetimes (with token lifetime policies), IsPassive, signed requests,
//! single logout, IdP-initiated sign-in, WS-Federation, and the errors Entra gives.

use std::collections::HashMap;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use serde_json::{Value, json};
use tessera_proto::saml::{binding, names};
use tessera_proto::xml::{self, Element, Limits, dsig};

use crate::support::{Browser, Page, TestServer, form_of, write_config};

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const APP: &str = "aaaaaaaa-1111-2222-3333-444444444444";
const SIGNED_APP: &str = "bbbbbbbb-1111-2222-3333-444444444444";
const ENTITY: &str = "https://sp.example/metadata";
const ACS: &str = "https://sp.example/acs";
const ADMIN: &str = "cccccccc-1111-2222-3333-444444444444";
const BOTH_SIGNED_APP: &str = "dddddddd-1111-2222-3333-444444444444";
const MFA_USER: &str = "mfa@contoso.example";
/// RFC 4648 base32 of the TOTP key the config gives the MFA user.
const MFA_SECRET: &str = "JBSWY3DPEHPK3PXPGEZDGNBVGY3TQOJQ";
const USER: &str = "megan@contoso.example";
const PASSWORD: &str = "Megan-Pass-1";

fn config(signing_cert: &std::path::Path) -> String {
    format!(
        r#"
[[tenants]]
id = "{TENANT}"
domain = "contoso.example"
display_name = "Contoso"

[[tenants.applications]]
client_id = "{APP}"
display_name = "SAML app"
identifier_uris = ["{ENTITY}"]
redirect_uris = ["{ACS}", "https://sp.example/other-acs"]
saml = {{ logout_url = "https://sp.example/slo", relay_state = "/launched" }}

[[tenants.applications]]
client_id = "{SIGNED_APP}"
display_name = "Signed requests"
identifier_uris = ["urn:signed-sp"]
redirect_uris = ["https://signed.example/acs"]
saml = {{ request_signing_certificates = ["{}"] }}

[[tenants.applications]]
client_id = "{BOTH_SIGNED_APP}"
display_name = "Second SAML app, response and assertion signed"
identifier_uris = ["urn:second-sp"]
redirect_uris = ["https://second.example/acs"]
saml = {{ signing = "response-and-assertion" }}

[[tenants.applications]]
client_id = "{ADMIN}"
display_name = "policy admin"
secrets = [{{ value = "admin-secret" }}]
application_permissions = {{ "https://graph.microsoft.com" = ["Policy.ReadWrite.ApplicationConfiguration", "Application.ReadWrite.All"] }}

[[tenants.users]]
user_principal_name = "{USER}"
display_name = "Megan Bowen"
given_name = "Megan"
surname = "Bowen"
mail = "{USER}"
password = "{PASSWORD}"

[[tenants.users]]
user_principal_name = "{MFA_USER}"
display_name = "Mfa User"
password = "{PASSWORD}"
mfa_required = true
mfa_totp_secret = "{MFA_SECRET}"
"#,
        signing_cert.display()
    )
}

/// The SP's request-signing key pair (RSA-2048) with its certificate file.
struct SpKey {
    pair: aws_lc_rs::rsa::KeyPair,
    cert_pem: std::path::PathBuf,
}

fn sp_key(dir: &std::path::Path) -> SpKey {
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
    let pkcs8 = aws_lc_rs::encoding::AsDer::as_der(&pair).expect("pkcs8");
    let rc = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &pkcs8.as_ref().into(),
        &rcgen::PKCS_RSA_SHA256,
    )
    .expect("rcgen key");
    let cert = rcgen::CertificateParams::new(vec!["sp.example".into()])
        .expect("params")
        .self_signed(&rc)
        .expect("cert");
    let cert_pem = dir.join("sp-signing.pem");
    std::fs::write(&cert_pem, cert.pem()).expect("write cert");
    SpKey { pair, cert_pem }
}

impl SpKey {
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                message,
                &mut sig,
            )
            .expect("sign");
        sig
    }
}

struct Saml {
    s: TestServer,
    sp: SpKey,
}

async fn server() -> Saml {
    let dir = tempfile::tempdir().expect("tempdir");
    let sp = sp_key(dir.path());
    let cfg = write_config(dir.path(), &config(&sp.cert_pem));
    let s = TestServer::start_in(dir, |o| {
        o.config_file = Some(cfg);
        o.test_mode = true;
    })
    .await;
    Saml { s, sp }
}

fn saml2_url(s: &TestServer) -> String {
    format!("{}/{TENANT}/saml2", s.base)
}

fn authn_request(id: &str, issuer: &str, extra_attrs: &str, inner: &str) -> String {
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="{id}" Version="2.0" IssueInstant="2026-12-04T05:00:00Z" {extra_attrs}><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">{issuer}</saml:Issuer>{inner}</samlp:AuthnRequest>"#
    )
}

/// The HTTP-Redirect binding's URL for a request.
fn redirect_url(s: &TestServer, xml: &str, relay: Option<&str>) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("SAMLRequest", &binding::encode_redirect(xml));
    if let Some(r) = relay {
        q.append_pair("RelayState", r);
    }
    format!("{}?{}", saml2_url(s), q.finish())
}

/// Trusts exactly the server's published signing certificates.
struct Trust(Vec<Vec<u8>>);

impl dsig::DsigCrypto for Trust {
    fn digest(&self, algorithm: &str, data: &[u8]) -> Option<Vec<u8>> {
        (algorithm == dsig::SHA256).then(|| digest::digest(&digest::SHA256, data).as_ref().to_vec())
    }
    fn verify(&self, algorithm: &str, data: &[u8], sig: &[u8], _: Option<&[u8]>) -> bool {
        algorithm == dsig::RSA_SHA256
            && self.0.iter().any(|k| {
                UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, k)
                    .verify(data, sig)
                    .is_ok()
            })
    }
}

async fn metadata(s: &TestServer) -> (Element, Trust) {
    let r = s
        .client
        .get(format!(
            "{}/{TENANT}/federationmetadata/2007-06/federationmetadata.xml",
            s.base
        ))
        .send()
        .await
        .expect("metadata");
    assert_eq!(r.status(), 200);
    let text = r.text().await.expect("text");
    let doc = xml::parse(&text, Limits::default()).expect("metadata parses");
    let keys = doc
        .descendants()
        .into_iter()
        .filter(|e| e.is(names::DSIG, "X509Certificate"))
        .map(|c| tessera_proto::b64::decode_lenient(&c.text()).expect("b64"))
        .map(|der| {
            let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("x509");
            cert.tbs_certificate
                .subject_pki
                .subject_public_key
                .data
                .to_vec()
        })
        .collect();
    (doc, Trust(keys))
}

/// The form an answer page posts: its action and fields by name.
fn posted(page: &Page) -> (String, HashMap<String, String>) {
    assert_eq!(page.status, 200, "{}", page.body);
    let (action, fields) = form_of(&page.body);
    (action, fields.into_iter().collect())
}

fn response_of(fields: &HashMap<String, String>) -> Element {
    let xml = binding::decode_post(fields.get("SAMLResponse").expect("SAMLResponse")).expect("b64");
    xml::parse(&xml, Limits::default()).expect("response parses")
}

fn time(text: &str) -> i64 {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).expect("ms")
}

fn attributes(assertion: &Element) -> Vec<(String, Vec<String>)> {
    assertion
        .child(names::ASSERTION, "AttributeStatement")
        .expect("attributes")
        .children_named(names::ASSERTION, "Attribute")
        .map(|a| {
            (
                a.attr("Name").expect("name").to_owned(),
                a.children_named(names::ASSERTION, "AttributeValue")
                    .map(Element::text)
                    .collect(),
            )
        })
        .collect()
}

/// Conditions' and the confirmation's NotOnOrAfter, each after the assertion's IssueInstant.
fn lifetimes_ms(assertion: &Element) -> (i64, i64, i64) {
    let issued = time(assertion.attr("IssueInstant").expect("issued"));
    let conditions = assertion
        .child(names::ASSERTION, "Conditions")
        .expect("conditions");
    let confirmation = assertion
        .child(names::ASSERTION, "Subject")
        .and_then(|s| s.child(names::ASSERTION, "SubjectConfirmation"))
        .and_then(|c| c.child(names::ASSERTION, "SubjectConfirmationData"))
        .expect("confirmation data");
    (
        time(conditions.attr("NotBefore").expect("nbf")) - issued,
        time(conditions.attr("NotOnOrAfter").expect("exp")) - issued,
        time(confirmation.attr("NotOnOrAfter").expect("exp")) - issued,
    )
}

#[tokio::test]
async fn metadata_is_signed_and_names_the_endpoints() {
    let Saml { s, .. } = server().await;
    let (doc, trust) = metadata(&s).await;
    assert!(doc.is(names::METADATA, "EntityDescriptor"));
    assert_eq!(
        doc.attr("entityID"),
        Some(format!("https://sts.windows.net/{TENANT}/").as_str())
    );
    dsig::verify_enveloped(&doc, &trust).expect("the document's signature verifies");
    let idp = doc.child(names::METADATA, "IDPSSODescriptor").expect("idp");
    let sso: Vec<_> = idp
        .children_named(names::METADATA, "SingleSignOnService")
        .map(|e| {
            (
                e.attr("Binding").expect("b"),
                e.attr("Location").expect("l"),
            )
        })
        .collect();
    let saml2 = saml2_url(&s);
    assert_eq!(
        sso,
        [
            (names::BINDING_REDIRECT, saml2.as_str()),
            (names::BINDING_POST, saml2.as_str())
        ]
    );
    let passive = doc
        .descendants()
        .into_iter()
        .find(|e| e.local == "PassiveRequestorEndpoint")
        .map(|e| e.descendants().last().map(|a| a.text()).unwrap_or_default());
    assert_eq!(passive, Some(format!("{}/{TENANT}/wsfed", s.base)));
}

#[tokio::test]
async fn sp_initiated_sign_in_posts_a_signed_assertion_and_a_second_request_is_silent() {
    let Saml { s, .. } = server().await;
    let (_, trust) = metadata(&s).await;
    let mut browser = Browser::new(&s);
    let request = authn_request(
        "_req-1",
        ENTITY,
        &format!(r#"AssertionConsumerServiceURL="{ACS}""#),
        "",
    );
    let first = browser
        .get(&redirect_url(&s, &request, Some("relay&state=1")))
        .await;
    assert_eq!(first.status, 200);
    assert!(
        first.body.contains("name=\"username\""),
        "the sign-in page: {}",
        first.body
    );
    let answer = browser.sign_in(first, USER, PASSWORD).await;
    let (action, fields) = posted(&answer);
    assert_eq!(action, ACS);
    assert_eq!(
        fields.get("RelayState").map(String::as_str),
        Some("relay&state=1")
    );
    let response = response_of(&fields);
    assert!(response.is(names::PROTOCOL, "Response"));
    assert_eq!(response.attr("InResponseTo"), Some("_req-1"));
    assert_eq!(response.attr("Destination"), Some(ACS));
    assert!(response.attr("ID").expect("id").starts_with('_'));
    let issuer = format!("https://sts.windows.net/{TENANT}/");
    assert_eq!(
        response
            .child(names::ASSERTION, "Issuer")
            .map(Element::text)
            .as_deref(),
        Some(issuer.as_str())
    );
    let status = response
        .child(names::PROTOCOL, "Status")
        .and_then(|s| s.child(names::PROTOCOL, "StatusCode"))
        .and_then(|c| c.attr("Value"));
    assert_eq!(status, Some(names::STATUS_SUCCESS));
    assert!(
        response.child(names::DSIG, "Signature").is_none(),
        "the assertion is signed, not the response"
    );

    let assertion = response
        .child(names::ASSERTION, "Assertion")
        .expect("assertion");
    dsig::verify_enveloped(assertion, &trust).expect("the assertion's signature verifies");
    let subject = assertion
        .child(names::ASSERTION, "Subject")
        .expect("subject");
    let name_id = subject.child(names::ASSERTION, "NameID").expect("nameid");
    assert_eq!(name_id.attr("Format"), Some(names::NAMEID_EMAIL));
    assert_eq!(name_id.text(), USER);
    let data = subject
        .child(names::ASSERTION, "SubjectConfirmation")
        .and_then(|c| c.child(names::ASSERTION, "SubjectConfirmationData"))
        .expect("data");
    assert_eq!(data.attr("InResponseTo"), Some("_req-1"));
    assert_eq!(data.attr("Recipient"), Some(ACS));
    let audience = assertion
        .descendants()
        .into_iter()
        .find(|e| e.is(names::ASSERTION, "Audience"))
        .map(Element::text);
    assert_eq!(audience.as_deref(), Some(ENTITY));
    assert_eq!(lifetimes_ms(assertion), (-300_000, 3_600_000, 3_600_000));
    let attrs = attributes(assertion);
    let names_in_order: Vec<&str> = attrs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names_in_order,
        [
            names::ATTR_TENANT_ID,
            names::ATTR_OBJECT_ID,
            names::ATTR_DISPLAY_NAME,
            names::ATTR_IDENTITY_PROVIDER,
            names::ATTR_AUTHN_METHODS,
            names::ATTR_GIVEN_NAME,
            names::ATTR_SURNAME,
            names::ATTR_EMAIL,
            names::ATTR_NAME,
        ]
    );
    let value = |n: &str| {
        attrs
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .expect(n)
    };
    assert_eq!(value(names::ATTR_TENANT_ID), [TENANT]);
    assert_eq!(value(names::ATTR_DISPLAY_NAME), ["Megan Bowen"]);
    assert_eq!(value(names::ATTR_AUTHN_METHODS), [names::AMR_PASSWORD]);
    let authn = assertion
        .child(names::ASSERTION, "AuthnStatement")
        .expect("authn");
    assert_eq!(authn.attr("SessionIndex"), assertion.attr("ID"));
    assert_eq!(
        authn.descendants().last().map(|e| e.text()).as_deref(),
        Some(names::AC_PASSWORD)
    );

    // One changed attribute value and the signature no longer holds.
    let raw = binding::decode_post(&fields["SAMLResponse"]).expect("b64");
    let tampered = raw.replace("Megan Bowen", "Megan Bowem");
    let doc = xml::parse(&tampered, Limits::default()).expect("parses");
    assert_eq!(
        dsig::verify_enveloped(doc.child(names::ASSERTION, "Assertion").expect("a"), &trust),
        Err(dsig::DsigError::Digest)
    );

    // A second request, by the POST binding and with IsPassive: the session answers at once.
    let second = authn_request("_req-2", ENTITY, r#"IsPassive="true""#, "");
    let page = browser
        .post(
            &saml2_url(&s),
            &[("SAMLRequest".into(), binding::encode_post(&second))],
        )
        .await;
    let (action, fields) = posted(&page);
    assert_eq!(
        action, ACS,
        "the app's first reply URL when the request names none"
    );
    let again = response_of(&fields);
    assert_eq!(again.attr("InResponseTo"), Some("_req-2"));
    assert!(!fields.contains_key("RelayState"));
    let a2 = again
        .child(names::ASSERTION, "Assertion")
        .expect("assertion");
    dsig::verify_enveloped(a2, &trust).expect("verifies");
    assert_ne!(a2.attr("ID"), assertion.attr("ID"));
    // ForceAuthn asks for the password again despite the session.
    let forced = authn_request("_req-3", ENTITY, r#"ForceAuthn="true""#, "");
    let page = browser.get(&redirect_url(&s, &forced, None)).await;
    assert!(page.body.contains("name=\"username\""), "{}", page.body);
}

#[tokio::test]
async fn name_id_formats_and_is_passive_without_a_session() {
    let Saml { s, .. } = server().await;
    let mut browser = Browser::new(&s);
    let passive = authn_request("_p1", ENTITY, r#"IsPassive="true""#, "");
    let page = browser.get(&redirect_url(&s, &passive, Some("rs"))).await;
    let (action, fields) = posted(&page);
    assert_eq!(action, ACS);
    assert_eq!(fields.get("RelayState").map(String::as_str), Some("rs"));
    let response = response_of(&fields);
    assert_eq!(response.attr("InResponseTo"), Some("_p1"));
    let top = response
        .child(names::PROTOCOL, "Status")
        .and_then(|s| s.child(names::PROTOCOL, "StatusCode"))
        .expect("status");
    assert_eq!(top.attr("Value"), Some(names::STATUS_RESPONDER));
    assert_eq!(
        top.child(names::PROTOCOL, "StatusCode")
            .and_then(|c| c.attr("Value")),
        Some(names::STATUS_NO_PASSIVE)
    );
    assert!(response.child(names::ASSERTION, "Assertion").is_none());
    let message = response
        .child(names::PROTOCOL, "Status")
        .and_then(|s| s.child(names::PROTOCOL, "StatusMessage"))
        .map(Element::text)
        .expect("message");
    assert!(message.starts_with("AADSTS50058:"), "{message}");

    // Persistent: the same opaque value for the same user and app, every time.
    let persistent = |id: &str| {
        authn_request(
            id,
            ENTITY,
            "",
            r#"<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" AllowCreate="true"/>"#,
        )
    };
    let page = browser
        .get(&redirect_url(&s, &persistent("_n1"), None))
        .await;
    let answer = browser.sign_in(page, USER, PASSWORD).await;
    let name_id = |page: &Page| {
        let (_, fields) = posted(page);
        let r = response_of(&fields);
        let n = r
            .descendants()
            .into_iter()
            .find(|e| e.is(names::ASSERTION, "NameID"))
            .expect("nameid");
        (n.attr("Format").expect("format").to_owned(), n.text())
    };
    let (format, first) = name_id(&answer);
    assert_eq!(format, names::NAMEID_PERSISTENT);
    assert_eq!(first.len(), 43, "{first}");
    assert!(!first.contains("megan"));
    let page = browser
        .get(&redirect_url(&s, &persistent("_n2"), None))
        .await;
    assert_eq!(name_id(&page).1, first);
    let transient = authn_request(
        "_n3",
        ENTITY,
        "",
        r#"<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient"/>"#,
    );
    let page = browser.get(&redirect_url(&s, &transient, None)).await;
    let (format, value) = name_id(&page);
    assert_eq!(format, names::NAMEID_TRANSIENT);
    assert_ne!(value, first);
    // An unknown format is posted back as Requester / InvalidNameIDPolicy.
    let unknown = authn_request(
        "_n4",
        ENTITY,
        "",
        r#"<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:kerberos"/>"#,
    );
    let page = browser.get(&redirect_url(&s, &unknown, None)).await;
    let (_, fields) = posted(&page);
    let r = response_of(&fields);
    let message = r
        .descendants()
        .into_iter()
        .find(|e| e.local == "StatusMessage")
        .map(Element::text)
        .expect("message");
    assert!(message.starts_with("AADSTS75016:"), "{message}");
}

async fn admin_token(s: &TestServer) -> String {
    let (status, body) = s
        .post_form(
            &format!("{}/{TENANT}/oauth2/v2.0/token", s.base),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", ADMIN),
                ("client_secret", "admin-secret"),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("at").to_owned()
}

async fn graph(
    s: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let mut r = s
        .client
        .request(method, format!("{}/v1.0{path}", s.base))
        .bearer_auth(token);
    if !body.is_null() {
        r = r.json(&body);
    }
    let r = r.send().await.expect("graph");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_lifetime_policy_sets_not_on_or_after_plus_five_minutes() {
    let Saml { s, .. } = server().await;
    let token = admin_token(&s).await;
    let mut browser = Browser::new(&s);
    let lifetimes = |id: &'static str| {
        let url = redirect_url(&s, &authn_request(id, ENTITY, "", ""), None);
        async move { url }
    };
    let page = browser.get(&lifetimes("_l0").await).await;
    let page = browser.sign_in(page, USER, PASSWORD).await;
    let read = |page: &Page| {
        let (_, fields) = posted(page);
        let r = response_of(&fields);
        lifetimes_ms(r.child(names::ASSERTION, "Assertion").expect("assertion"))
    };
    assert_eq!(read(&page), (-300_000, 3_600_000, 3_600_000));

    // A two-hour policy on the app: Conditions get 2 h + 5 min, the confirmation keeps its hour.
    let definition =
        json!({"TokenLifetimePolicy": {"Version": 1, "AccessTokenLifetime": "02:00:00"}})
            .to_string();
    let (status, policy) = graph(
        &s,
        &token,
        reqwest::Method::POST,
        "/policies/tokenLifetimePolicies",
        json!({"definition": [definition], "displayName": "two hours", "isOrganizationDefault": false}),
    )
    .await;
    assert_eq!(status, 201, "{policy}");
    let policy_id = policy["id"].as_str().expect("id").to_owned();
    let (_, app) = graph(
        &s,
        &token,
        reqwest::Method::GET,
        &format!("/applications(appId='{APP}')"),
        Value::Null,
    )
    .await;
    let object_id = app["id"].as_str().expect("object id").to_owned();
    let (status, body) = graph(
        &s,
        &token,
        reqwest::Method::POST,
        &format!("/applications/{object_id}/tokenLifetimePolicies/$ref"),
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/policies/tokenLifetimePolicies/{policy_id}")}),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let page = browser.get(&lifetimes("_l1").await).await;
    assert_eq!(read(&page), (-300_000, 7_500_000, 3_600_000));

    // Removed: back to the hour.
    let (status, _) = graph(
        &s,
        &token,
        reqwest::Method::DELETE,
        &format!("/applications/{object_id}/tokenLifetimePolicies/{policy_id}/$ref"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 204);
    let page = browser.get(&lifetimes("_l2").await).await;
    assert_eq!(read(&page), (-300_000, 3_600_000, 3_600_000));

    // An organization default applies to an app without its own policy.
    let definition =
        json!({"TokenLifetimePolicy": {"Version": 1, "AccessTokenLifetime": "00:30:00"}})
            .to_string();
    let (status, body) = graph(
        &s,
        &token,
        reqwest::Method::POST,
        "/policies/tokenLifetimePolicies",
        json!({"definition": [definition], "displayName": "org", "isOrganizationDefault": true}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let page = browser.get(&lifetimes("_l3").await).await;
    assert_eq!(read(&page), (-300_000, 2_100_000, 3_600_000));
}

#[tokio::test]
async fn signed_requests_are_required_where_the_app_registers_a_certificate() {
    let Saml { s, sp } = server().await;
    let mut browser = Browser::new(&s);
    let request = authn_request("_s1", "urn:signed-sp", "", "");
    let page = browser.get(&redirect_url(&s, &request, None)).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("AADSTS76021"), "{}", page.body);

    // Signed as SAML Bindings §3.4.4.1 says: over the query's own encoded octets.
    let signed_url = |key_sign: &dyn Fn(&[u8]) -> Vec<u8>| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("SAMLRequest", &binding::encode_redirect(&request));
        q.append_pair("RelayState", "r1");
        q.append_pair("SigAlg", names::RSA_SHA256);
        let octets = q.finish();
        let signature = tessera_proto::b64::std_encode(key_sign(octets.as_bytes()));
        let mut full = form_urlencoded::Serializer::new(octets);
        full.append_pair("Signature", &signature);
        format!("{}?{}", saml2_url(&s), full.finish())
    };
    let page = browser.get(&signed_url(&|m| sp.sign(m))).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("name=\"username\""));
    let other = sp_key(tempfile::tempdir().expect("tmp").path());
    let page = browser.get(&signed_url(&|m| other.sign(m))).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("AADSTS76023"), "{}", page.body);
}

#[tokio::test]
async fn bad_requests_get_entra_errors_and_the_server_stays_up() {
    let Saml { s, .. } = server().await;
    let mut browser = Browser::new(&s);
    let expect = |page: &Page, code: &str| {
        assert_eq!(page.status, 400, "{code}: {}", page.body);
        assert!(page.body.contains(code), "{code}: {}", page.body);
        assert!(page.body.contains("Sorry, but we"), "{}", page.body);
    };
    let page = browser.get(&saml2_url(&s)).await;
    expect(&page, "AADSTS750054");
    let page = browser
        .get(&format!("{}?SAMLRequest=%%%%", saml2_url(&s)))
        .await;
    expect(&page, "AADSTS75005");
    let plain = tessera_proto::b64::std_encode(authn_request("_x", ENTITY, "", ""));
    let page = browser
        .get(&format!(
            "{}?SAMLRequest={}",
            saml2_url(&s),
            urlencode(&plain)
        ))
        .await;
    expect(&page, "AADSTS75005");
    let unknown = authn_request("_x", "https://stranger.example", "", "");
    let page = browser.get(&redirect_url(&s, &unknown, None)).await;
    expect(&page, "AADSTS700016");
    let wrong_acs = authn_request(
        "_x",
        ENTITY,
        r#"AssertionConsumerServiceURL="https://evil.example/acs""#,
        "",
    );
    let page = browser.get(&redirect_url(&s, &wrong_acs, None)).await;
    expect(&page, "AADSTS50011");
    // XML bombs and external entities are refused before anything expands.
    let laughs = format!(
        r#"<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>{}"#,
        authn_request("_x", "&c;", "", "")
    );
    let page = browser.get(&redirect_url(&s, &laughs, None)).await;
    expect(&page, "AADSTS75005");
    let xxe = format!(
        r#"<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>{}"#,
        authn_request("_x", "&x;", "", "")
    );
    let page = browser
        .post(
            &saml2_url(&s),
            &[("SAMLRequest".into(), binding::encode_post(&xxe))],
        )
        .await;
    expect(&page, "AADSTS75005");
    // A 10 MB request, deflated to a few KB: it stops at the inflate limit.
    let padding = format!("<!--{}-->", "x".repeat(10 * 1024 * 1024));
    let big = authn_request("_x", ENTITY, "", &padding);
    let page = browser.get(&redirect_url(&s, &big, None)).await;
    expect(&page, "AADSTS75005");
    // Comment injection in the issuer (the classic NameID attack): the comment is not text,
    // so the issuer read is the whole value around it and matches no app.
    let injected = authn_request("_x", "https://sp.example/meta<!---->data.evil", "", "");
    let page = browser.get(&redirect_url(&s, &injected, None)).await;
    expect(&page, "AADSTS700016");
    let r = s
        .client
        .get(format!("{}/health", s.base))
        .send()
        .await
        .expect("health");
    assert_eq!(r.status(), 200);
}

fn urlencode(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

#[tokio::test]
async fn single_logout_ends_the_session_and_answers_the_app() {
    let Saml { s, .. } = server().await;
    let mut browser = Browser::new(&s);
    let page = browser
        .get(&redirect_url(
            &s,
            &authn_request("_o1", ENTITY, "", ""),
            None,
        ))
        .await;
    let page = browser.sign_in(page, USER, PASSWORD).await;
    posted(&page);
    let logout = format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_lo1" Version="2.0" IssueInstant="2026-12-04T05:00:00Z"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">{ENTITY}</Issuer><NameID xmlns="urn:oasis:names:tc:SAML:2.0:assertion">{USER}</NameID></samlp:LogoutRequest>"#
    );
    let page = browser
        .get(&redirect_url(&s, &logout, Some("after-logout")))
        .await;
    assert_eq!(page.status, 302, "{}", page.body);
    let location = reqwest::Url::parse(page.location.as_deref().expect("location")).expect("url");
    assert_eq!(
        location.as_str().split('?').next(),
        Some("https://sp.example/slo")
    );
    let q: HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(
        q.get("RelayState").map(String::as_str),
        Some("after-logout")
    );
    let xml = binding::decode_redirect(q.get("SAMLResponse").expect("response")).expect("inflate");
    let response = xml::parse(&xml, Limits::default()).expect("xml");
    assert!(response.is(names::PROTOCOL, "LogoutResponse"));
    assert_eq!(response.attr("InResponseTo"), Some("_lo1"));
    let page = browser
        .get(&redirect_url(
            &s,
            &authn_request("_o2", ENTITY, r#"IsPassive="true""#, ""),
            None,
        ))
        .await;
    let (_, fields) = posted(&page);
    let status = response_of(&fields)
        .descendants()
        .into_iter()
        .filter(|e| e.local == "StatusCode")
        .filter_map(|e| e.attr("Value").map(str::to_owned))
        .collect::<Vec<_>>();
    assert_eq!(
        status,
        [names::STATUS_RESPONDER, names::STATUS_NO_PASSIVE],
        "the session ended"
    );
}

#[tokio::test]
async fn idp_initiated_and_ws_federation() {
    let Saml { s, .. } = server().await;
    let (_, trust) = metadata(&s).await;
    let mut browser = Browser::new(&s);
    let page = browser
        .get(&format!("{}/api/signin/{APP}?tenantId={TENANT}", s.base))
        .await;
    let page = browser.sign_in(page, USER, PASSWORD).await;
    let (action, fields) = posted(&page);
    assert_eq!(action, ACS);
    assert_eq!(
        fields.get("RelayState").map(String::as_str),
        Some("/launched")
    );
    let response = response_of(&fields);
    assert_eq!(response.attr("InResponseTo"), None);
    let assertion = response
        .child(names::ASSERTION, "Assertion")
        .expect("assertion");
    dsig::verify_enveloped(assertion, &trust).expect("verifies");
    let data = assertion
        .descendants()
        .into_iter()
        .find(|e| e.local == "SubjectConfirmationData")
        .expect("data");
    assert_eq!(data.attr("InResponseTo"), None);

    // WS-Federation, answered from the same session.
    let url = format!(
        "{}/{TENANT}/wsfed?wa=wsignin1.0&wtrealm={}&wreply={}&wctx=ctx%3D1",
        s.base,
        urlencode(ENTITY),
        urlencode("https://sp.example/other-acs")
    );
    let page = browser.get(&url).await;
    let (action, fields) = posted(&page);
    assert_eq!(action, "https://sp.example/other-acs");
    assert_eq!(fields.get("wa").map(String::as_str), Some("wsignin1.0"));
    assert_eq!(fields.get("wctx").map(String::as_str), Some("ctx=1"));
    let rstr = xml::parse(fields.get("wresult").expect("wresult"), Limits::default()).expect("xml");
    assert!(rstr.is(names::WS_TRUST_2005, "RequestSecurityTokenResponse"));
    let assertion = rstr
        .descendants()
        .into_iter()
        .find(|e| e.is(names::ASSERTION, "Assertion"))
        .expect("assertion")
        .clone();
    dsig::verify_enveloped(&assertion, &trust).expect("the WS-Fed assertion verifies");
    let name_id = assertion
        .descendants()
        .into_iter()
        .find(|e| e.local == "NameID")
        .expect("nameid");
    assert_eq!(name_id.attr("Format"), Some(names::NAMEID_PERSISTENT));
    let wsfed_unknown = format!("{}/{TENANT}/wsfed?wa=wsignin1.0&wtrealm=urn:nobody", s.base);
    let page = browser.get(&wsfed_unknown).await;
    assert!(page.body.contains("AADSTS700016"), "{}", page.body);
    let page = browser
        .get(&format!(
            "{}/{TENANT}/wsfed?wa=wsignout1.0&wreply={}",
            s.base,
            urlencode(ACS)
        ))
        .await;
    assert_eq!((page.status, page.location.as_deref()), (302, Some(ACS)));
    let page = browser.get(&url).await;
    assert!(
        page.body.contains("name=\"username\""),
        "signed out: {}",
        page.body
    );
}

/// RFC 6238 (SHA-1, 30 s, 6 digits) from a base32 key, as an authenticator app computes it.
fn totp(secret_b32: &str) -> String {
    let mut bits = 0u64;
    let mut n = 0;
    let mut key = Vec::new();
    for c in secret_b32.bytes() {
        let v = u64::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => continue,
        });
        bits = (bits << 5) | v;
        n += 5;
        if n >= 8 {
            n -= 8;
            key.push(u8::try_from((bits >> n) & 0xff).expect("byte"));
        }
    }
    let step = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs()
        / 30;
    let tag = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key),
        &step.to_be_bytes(),
    );
    let mac = tag.as_ref();
    let o = usize::from(mac[19] & 0x0f);
    let code = u32::from_be_bytes([mac[o] & 0x7f, mac[o + 1], mac[o + 2], mac[o + 3]]) % 1_000_000;
    format!("{code:06}")
}

#[tokio::test]
async fn mfa_a_second_app_signed_responses_and_post_binding_signatures() {
    let Saml { s, sp } = server().await;
    let (_, trust) = metadata(&s).await;
    let mut browser = Browser::new(&s);
    // The MFA user: password, then the one-time code; the methods claim says so, while the
    // class reference stays Password, as Entra's does.
    let page = browser
        .get(&redirect_url(
            &s,
            &authn_request("_m1", ENTITY, "", ""),
            None,
        ))
        .await;
    let page = browser.sign_in(page, MFA_USER, PASSWORD).await;
    assert!(
        page.body.contains("name=\"otc\""),
        "the code page: {}",
        page.body
    );
    let (action, mut fields) = form_of(&page.body);
    fields.push(("otc".into(), totp(MFA_SECRET)));
    let page = browser.post(&action, &fields).await;
    let (_, fields) = posted(&page);
    let response = response_of(&fields);
    let assertion = response
        .child(names::ASSERTION, "Assertion")
        .expect("assertion");
    let methods = attributes(assertion)
        .into_iter()
        .find(|(n, _)| n == names::ATTR_AUTHN_METHODS)
        .map(|(_, v)| v)
        .expect("methods");
    assert_eq!(methods, [names::AMR_PASSWORD, names::AMR_MFA]);

    // A second SAML app signs the same user in silently, and gets the response signed too.
    let second = authn_request("_m2", "urn:second-sp", "", "");
    let page = browser.get(&redirect_url(&s, &second, None)).await;
    let (action, fields) = posted(&page);
    assert_eq!(action, "https://second.example/acs");
    let response = response_of(&fields);
    dsig::verify_enveloped(&response, &trust).expect("the response's signature");
    let assertion = response
        .child(names::ASSERTION, "Assertion")
        .expect("assertion");
    dsig::verify_enveloped(assertion, &trust).expect("the assertion's signature");
    let name_id = assertion
        .descendants()
        .into_iter()
        .find(|e| e.local == "NameID")
        .expect("nameid");
    assert_eq!(name_id.text(), MFA_USER);
    // The response signature covers the assertion as well: one changed attribute breaks both.
    let raw = binding::decode_post(&fields["SAMLResponse"]).expect("b64");
    let doc = xml::parse(&raw.replace("Mfa User", "Mfa Admin"), Limits::default()).expect("xml");
    assert_eq!(
        dsig::verify_enveloped(&doc, &trust),
        Err(dsig::DsigError::Digest)
    );

    // HTTP-POST binding with an enveloped signature, where the app requires signed requests.
    let unsigned = authn_request("_m3", "urn:signed-sp", "", "");
    let canonical = xml::c14n::exclusive(
        &xml::parse(&unsigned, Limits::default()).expect("xml"),
        None,
        &[],
    );
    let info = dsig::signed_info(
        "_m3",
        digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref(),
    );
    let signature = dsig::signature_element(&info, &sp.sign(info.as_bytes()), b"");
    let signed = unsigned.replacen("</saml:Issuer>", &format!("</saml:Issuer>{signature}"), 1);
    let page = browser
        .post(
            &saml2_url(&s),
            &[("SAMLRequest".into(), binding::encode_post(&signed))],
        )
        .await;
    let (action, _) = posted(&page);
    assert_eq!(
        action, "https://signed.example/acs",
        "signed, and answered from the session"
    );
    let forged = signed.replace(
        "urn:signed-sp</saml:Issuer>",
        "urn:signed-sp</saml:Issuer><!-- -->",
    );
    let altered = forged.replacen(r#"Version="2.0""#, r#"Version="2.0" ForceAuthn="true""#, 1);
    let page = browser
        .post(
            &saml2_url(&s),
            &[("SAMLRequest".into(), binding::encode_post(&altered))],
        )
        .await;
    assert!(page.body.contains("AADSTS76023"), "{}", page.body);
    let page = browser
        .post(
            &saml2_url(&s),
            &[("SAMLRequest".into(), binding::encode_post(&unsigned))],
        )
        .await;
    assert!(page.body.contains("AADSTS76021"), "{}", page.body);

    // A 10 MB posted request is refused with a status the client can read.
    let huge = "A".repeat(10 * 1024 * 1024);
    let page = browser
        .post(&saml2_url(&s), &[("SAMLRequest".into(), huge)])
        .await;
    assert!((400..500).contains(&page.status), "{}", page.status);
    let r = s
        .client
        .get(format!("{}/health", s.base))
        .send()
        .await
        .expect("health");
    assert_eq!(r.status(), 200);
}
