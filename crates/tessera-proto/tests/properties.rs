//! Properties that the fuzz targets (`fuzz/`) check at length, here in the normal test suite
//! on stable with proptest: what reads outside input never panics, and exclusive c14n of any
//! well-formed document reads back to itself.

use proptest::prelude::*;
use tessera_proto::saml::{AuthnRequest, LogoutRequest, binding};
use tessera_proto::xml::{self, Limits, c14n};
use tessera_proto::{jwt, lifetime, odata};

/// A small well-formed document: names from a few prefixes and namespaces, attributes,
/// text with characters that need escaping, nested elements.
fn element(depth: u32) -> BoxedStrategy<String> {
    let name = prop::sample::select(vec!["a", "b", "p:c", "q:d", "e"]);
    let attrs = prop::collection::vec(
        (
            prop::sample::select(vec!["x", "y", "p:z", "ID"]),
            "[ -~\t\n]{0,8}",
        ),
        0..3,
    );
    let text = "[ -~\r\n\u{e9}\u{263a}]{0,12}";
    let leaf = (name.clone(), attrs.clone(), text)
        .prop_map(|(n, attrs, t)| format!("<{n}{}>{}</{n}>", attributes(&attrs), escape_text(&t)));
    if depth == 0 {
        return leaf.boxed();
    }
    (
        name,
        attrs,
        prop::collection::vec(element(depth - 1), 0..3),
        leaf,
    )
        .prop_map(|(n, attrs, kids, tail)| {
            format!("<{n}{}>{}{tail}</{n}>", attributes(&attrs), kids.concat())
        })
        .boxed()
}

fn attributes(attrs: &[(&str, String)]) -> String {
    let mut seen = std::collections::HashSet::new();
    attrs
        .iter()
        .filter(|(k, _)| seen.insert(*k))
        .map(|(k, v)| format!(" {k}=\"{}\"", xml::escape::attr(v)))
        .collect()
}

fn escape_text(t: &str) -> String {
    xml::escape::text(t)
}

fn document() -> impl Strategy<Value = String> {
    element(3).prop_map(|body| {
        format!(
            "<root xmlns=\"urn:default\" xmlns:p=\"urn:p\" xmlns:q=\"urn:q\" xmlns:unused=\"urn:u\">{body}</root>"
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn canonical_form_reads_back_to_itself(doc in document()) {
        let parsed = xml::parse(&doc, Limits::default()).expect("generated documents are well-formed");
        let once = c14n::exclusive(&parsed, None, &[]);
        let again = xml::parse(&once, Limits::default()).expect("canonical XML reads back");
        prop_assert_eq!(c14n::exclusive(&again, None, &[]), once.clone());
        // Any child left out (the enveloped-signature transform) keeps it well-formed.
        if let Some(first) = parsed.elements().next() {
            let without = c14n::exclusive(&parsed, Some(first), &[]);
            prop_assert!(xml::parse(&without, Limits::default()).is_ok());
        }
    }

    #[test]
    fn outside_input_never_panics(text in "\\PC{0,300}") {
        if let Ok(doc) = xml::parse(&text, Limits::default()) {
            let _ = c14n::exclusive(&doc, None, &["#default"]);
            let _ = AuthnRequest::read(&doc);
            let _ = LogoutRequest::read(&doc);
        }
        let _ = binding::decode_redirect(&text);
        let _ = binding::decode_post(&text);
        let _ = binding::redirect_signature(&text, "SAMLRequest");
        let _ = odata::parse_filter(&text);
        let _ = odata::parse_orderby(&text);
        let _ = odata::parse_select(&text);
        let _ = odata::parse_top(&text);
        let _ = lifetime::parse_timespan(&text);
        let _ = lifetime::parse_policy_lifetime(&text);
        let _ = jwt::parse(&text);
    }

    #[test]
    fn tag_soup_reads_back_or_is_refused(parts in prop::collection::vec(prop::sample::select(vec![
        "<", ">", "/", "//", "/>", "<a>", "</a>", "<b", "a", "p:", "=", "\"", "'", "&", "&amp;",
        "&#x41;", "<!--", "-->", "<![CDATA[", "]]>", "<?", "?>", "xmlns", "xmlns:p", " ", "<!DOCTYPE",
        "]", "[",
    ]), 0..40)) {
        // Inside a root element, so that a piece that happens to be well-formed is read.
        let text = format!("<a>{}</a>", parts.concat());
        if let Ok(doc) = xml::parse(&text, Limits::default()) {
            let once = c14n::exclusive(&doc, None, &[]);
            prop_assert!(xml::parse(&once, Limits::default()).is_ok(), "{} -> {}", text, once);
        }
    }
}
