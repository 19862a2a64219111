use super::c14n::exclusive;
use super::dsig::{self, DsigCrypto, DsigError};
use super::{Limits, XmlError, parse};

const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

fn doc(text: &str) -> super::Element {
    parse(text, Limits::default()).expect("parses")
}

#[test]
fn names_resolve_against_their_namespaces() {
    let d = doc(r#"<?xml version="1.0"?>
<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="id1" Version="2.0">
  <saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">https://sp.example</saml:Issuer>
  <samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/>
</samlp:AuthnRequest>"#);
    assert!(d.is(SAMLP, "AuthnRequest"));
    assert_eq!(d.attr("ID"), Some("id1"));
    assert_eq!(
        d.child(SAML, "Issuer").map(|e| e.text()).as_deref(),
        Some("https://sp.example")
    );
    assert_eq!(
        d.child(SAMLP, "NameIDPolicy")
            .and_then(|e| e.attr("Format")),
        Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent")
    );
    assert!(
        d.child(SAMLP, "Issuer").is_none(),
        "a name in another namespace"
    );
}

#[test]
fn references_and_whitespace_are_read_as_a_parser_reads_them() {
    let d = doc("<a v=\"x&amp;y&#10;z\tw\">1 &lt; 2&#x41;<![CDATA[<b>]]>\r\nend</a>");
    assert_eq!(
        d.attr("v"),
        Some("x&y\nz w"),
        "tab normalized, reference kept"
    );
    assert_eq!(d.text(), "1 < 2A<b>\nend");
}

#[test]
fn hostile_documents_are_refused_before_expansion() {
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>"#;
    assert_eq!(parse(laughs, Limits::default()), Err(XmlError::Doctype));
    let external = r#"<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>"#;
    assert_eq!(parse(external, Limits::default()), Err(XmlError::Doctype));
    assert!(
        matches!(parse("<foo>&xxe;</foo>", Limits::default()), Err(XmlError::UnknownEntity(n)) if n == "xxe")
    );
    let deep = "<a>".repeat(100) + &"</a>".repeat(100);
    assert_eq!(parse(&deep, Limits::default()), Err(XmlError::TooDeep(64)));
    let big = format!("<a>{}</a>", "x".repeat(2 * 1024 * 1024));
    assert!(matches!(
        parse(&big, Limits::default()),
        Err(XmlError::TooLarge(_))
    ));
    let many = format!("<a>{}</a>", "<b/>".repeat(60_000));
    assert!(matches!(
        parse(&many, Limits::default()),
        Err(XmlError::TooManyNodes(_))
    ));
    assert!(matches!(
        parse("<a><b></a>", Limits::default()),
        Err(XmlError::Malformed(_))
    ));
    assert!(
        matches!(parse("<p:a/>", Limits::default()), Err(XmlError::UnboundPrefix(p)) if p == "p")
    );
    assert!(matches!(
        parse("<a/><b/>", Limits::default()),
        Err(XmlError::Malformed(_))
    ));
    assert_eq!(parse("  ", Limits::default()), Err(XmlError::NoRoot));
    // Found by fuzzing: names and values a canonical form could not write back.
    for bad in [
        "<a><b//></a>",
        "<a><1b/></a>",
        "<a x=\"<\"/>",
        "<a -y=\"1\"/>",
        "<a:b:c/>",
    ] {
        assert!(
            matches!(
                parse(bad, Limits::default()),
                Err(XmlError::Malformed(_)) | Err(XmlError::UnboundPrefix(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn exclusive_c14n_renders_only_utilized_namespaces_in_order() {
    // The apex's ancestor declares samlp and an unused prefix; only what the subtree uses
    // appears, attributes sort by namespace URI then name, empty elements get end tags.
    let d = doc(concat!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:unused="urn:x" ID="r">"#,
        r#"<Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" Version="2.0" ID="_a" IssueInstant="t">"#,
        r#"<Issuer>a &amp; b &gt; c</Issuer>"#,
        r#"<Subject xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><NameID Format="f"/></Subject>"#,
        r#"<samlp:Extra xsi:type="q" b="2" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" a="1"/>"#,
        r#"</Assertion></samlp:Response>"#
    ));
    let assertion = d.child(SAML, "Assertion").expect("assertion");
    assert_eq!(
        exclusive(assertion, None, &[]),
        concat!(
            r#"<Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a" IssueInstant="t" Version="2.0">"#,
            r#"<Issuer>a &amp; b &gt; c</Issuer>"#,
            r#"<Subject><NameID Format="f"></NameID></Subject>"#,
            r#"<samlp:Extra xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" a="1" b="2" xsi:type="q"></samlp:Extra>"#,
            r#"</Assertion>"#
        )
    );
    // With the prefix listed as inclusive, the unused declaration is rendered too.
    assert!(exclusive(assertion, None, &["unused"]).starts_with(
        r#"<Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:unused="urn:x" ID="_a""#
    ));
}

#[test]
fn exclusive_c14n_omits_the_enveloped_signature_and_undeclares_a_default() {
    let d = doc(concat!(
        r#"<root xmlns="urn:a" ID="x"><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/></Signature>"#,
        r#"<plain xmlns=""><inner>t&#13;</inner></plain></root>"#
    ));
    let signature = d.elements().next().expect("signature");
    assert_eq!(
        exclusive(&d, Some(signature), &[]),
        r#"<root xmlns="urn:a" ID="x"><plain xmlns=""><inner>t&#xD;</inner></plain></root>"#
    );
    // SignedInfo alone carries its inherited default namespace.
    let signed_info = signature.elements().next().expect("signed info");
    assert_eq!(
        exclusive(signed_info, None, &[]),
        r#"<SignedInfo xmlns="http://www.w3.org/2000/09/xmldsig#"></SignedInfo>"#
    );
}

#[test]
fn find_by_id_and_descendants_follow_document_order() {
    let d = doc(r#"<a ID="1"><b ID="2"><c ID="3"/></b><d ID="4"/></a>"#);
    let order: Vec<_> = d
        .descendants()
        .iter()
        .filter_map(|e| e.attr("ID"))
        .collect();
    assert_eq!(order, ["1", "2", "3", "4"]);
    assert_eq!(d.find_by_id("3").map(|e| e.local.as_str()), Some("c"));
    assert!(d.find_by_id("9").is_none());
}

/// Stand-in cryptography: the "digest" is the data itself and a "signature" is the data
/// reversed, so the test sees exactly which octets were digested and signed.
struct Mirror;
impl DsigCrypto for Mirror {
    fn digest(&self, algorithm: &str, data: &[u8]) -> Option<Vec<u8>> {
        (algorithm == dsig::SHA256).then(|| data.to_vec())
    }
    fn verify(&self, _: &str, data: &[u8], signature: &[u8], cert: Option<&[u8]>) -> bool {
        cert == Some(b"cert".as_slice()) && data.iter().rev().eq(signature.iter())
    }
}

fn signed_assertion(text: &str) -> String {
    let unsigned = format!(
        r#"<Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1" Version="2.0"><Issuer>https://sts.windows.net/t/</Issuer><Subject>{text}</Subject></Assertion>"#
    );
    let canonical = exclusive(&doc(&unsigned), None, &[]);
    let info = dsig::signed_info("_a1", canonical.as_bytes());
    let mut sig: Vec<u8> = info.as_bytes().to_vec();
    sig.reverse();
    let element = dsig::signature_element(&info, &sig, b"cert");
    unsigned.replacen("</Issuer>", &format!("</Issuer>{element}"), 1)
}

#[test]
fn an_enveloped_signature_covers_the_element_and_nothing_else_changes_it() {
    let signed = signed_assertion("adele");
    let d = doc(&signed);
    let verified = dsig::verify_enveloped(&d, &Mirror).expect("verifies");
    assert_eq!(verified.certificate.as_deref(), Some(b"cert".as_slice()));
    // Inside a Response that declares other namespaces, it still verifies.
    let wrapped = format!(
        r#"<samlp:Response xmlns:samlp="{SAMLP}" xmlns:x="urn:x" ID="_r">{signed}</samlp:Response>"#
    );
    let w = doc(&wrapped);
    dsig::verify_enveloped(w.child(SAML, "Assertion").expect("a"), &Mirror).expect("still");

    // One changed character of content: the digest no longer matches.
    let tampered = signed.replace("<Subject>adele", "<Subject>admin");
    assert_eq!(
        dsig::verify_enveloped(&doc(&tampered), &Mirror),
        Err(DsigError::Digest)
    );
    // The reference must name the element being read.
    let moved = signed.replace(r#"ID="_a1""#, r#"ID="_other""#);
    assert_eq!(
        dsig::verify_enveloped(&doc(&moved), &Mirror),
        Err(DsigError::WrongReference)
    );
    // A changed SignedInfo: the signature fails.
    let swapped = signed.replace("<SignedInfo>", "<SignedInfo Id=\"changed\">");
    assert_ne!(swapped, signed);
    assert_eq!(
        dsig::verify_enveloped(&doc(&swapped), &Mirror),
        Err(DsigError::Signature)
    );
    let unsigned = doc(r#"<Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion" ID="x"/>"#);
    assert_eq!(
        dsig::verify_enveloped(&unsigned, &Mirror),
        Err(DsigError::Unsigned)
    );
}
