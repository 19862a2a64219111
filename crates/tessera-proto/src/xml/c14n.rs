//! Exclusive XML Canonicalization 1.0 without comments (https://www.w3.org/TR/xml-exc-c14n/),
//! the `http://www.w3.org/2001/10/xml-exc-c14n#` algorithm SAML signatures use, of one
//! element's subtree. One descendant can be left out, which is the enveloped-signature
//! transform (`http://www.w3.org/2000/09/xmldsig#enveloped-signature`) when it is the
//! `Signature` element itself.

use super::{Element, Node};

/// The algorithm's URI, as it appears in `CanonicalizationMethod` and `Transform`.
pub const EXCLUSIVE: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// The enveloped-signature transform's URI.
pub const ENVELOPED_SIGNATURE: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// Canonical form of `apex` and its subtree, without `omit` (compared by identity) and its
/// subtree. `inclusive_prefixes` is the `InclusiveNamespaces PrefixList` ("#default" for
/// the default namespace): those prefixes are rendered wherever in scope, as inclusive
/// canonicalization would.
pub fn exclusive(apex: &Element, omit: Option<&Element>, inclusive_prefixes: &[&str]) -> String {
    let mut out = String::with_capacity(4096);
    let inclusive: Vec<&str> = inclusive_prefixes
        .iter()
        .map(|p| if *p == "#default" { "" } else { *p })
        .collect();
    write_element(apex, &mut out, &[], omit, &inclusive);
    out
}

/// `rendered`: the namespace declarations in effect in the output so far (prefix, URI),
/// later entries winning.
fn write_element(
    e: &Element,
    out: &mut String,
    rendered: &[(String, String)],
    omit: Option<&Element>,
    inclusive: &[&str],
) {
    let mut utilized: Vec<&str> = vec![e.prefix.as_deref().unwrap_or("")];
    utilized.extend(e.attributes.iter().filter_map(|a| a.prefix.as_deref()));
    for p in inclusive {
        if e.lookup(p).is_some() {
            utilized.push(p);
        }
    }
    utilized.retain(|p| *p != "xml");
    utilized.sort_unstable();
    utilized.dedup();

    let in_output = |p: &str| {
        rendered
            .iter()
            .rev()
            .find(|(q, _)| q == p)
            .map(|(_, u)| u.as_str())
    };
    let mut declared: Vec<(String, String)> = Vec::new();
    for p in utilized {
        let uri = e.lookup(p).unwrap_or("");
        let before = in_output(p);
        let render = if p.is_empty() {
            // An empty default namespace is only worth saying where a non-empty one is in
            // effect in the output.
            if uri.is_empty() {
                before.is_some_and(|u| !u.is_empty())
            } else {
                before != Some(uri)
            }
        } else {
            before != Some(uri)
        };
        if render {
            declared.push((p.to_owned(), uri.to_owned()));
        }
    }

    out.push('<');
    push_qname(out, e.prefix.as_deref(), &e.local);
    for (p, uri) in &declared {
        if p.is_empty() {
            out.push_str(" xmlns=\"");
        } else {
            out.push_str(" xmlns:");
            out.push_str(p);
            out.push_str("=\"");
        }
        escape_attr(out, uri);
        out.push('"');
    }
    let mut attrs: Vec<_> = e.attributes.iter().collect();
    attrs.sort_by(|a, b| {
        (a.namespace.as_deref().unwrap_or(""), a.local.as_str())
            .cmp(&(b.namespace.as_deref().unwrap_or(""), b.local.as_str()))
    });
    for a in attrs {
        out.push(' ');
        push_qname(out, a.prefix.as_deref(), &a.local);
        out.push_str("=\"");
        escape_attr(out, &a.value);
        out.push('"');
    }
    out.push('>');

    let context: Vec<(String, String)>;
    let rendered = if declared.is_empty() {
        rendered
    } else {
        context = rendered.iter().cloned().chain(declared).collect();
        &context
    };
    for child in &e.children {
        match child {
            Node::Element(c) => {
                if omit.is_some_and(|o| std::ptr::eq(o, c)) {
                    continue;
                }
                write_element(c, out, rendered, omit, inclusive);
            }
            Node::Text(t) => escape_text(out, t),
            Node::ProcessingInstruction { target, data } => {
                out.push_str("<?");
                out.push_str(target);
                if !data.is_empty() {
                    out.push(' ');
                    out.push_str(data);
                }
                out.push_str("?>");
            }
        }
    }
    out.push_str("</");
    push_qname(out, e.prefix.as_deref(), &e.local);
    out.push('>');
}

fn push_qname(out: &mut String, prefix: Option<&str>, local: &str) {
    if let Some(p) = prefix {
        out.push_str(p);
        out.push(':');
    }
    out.push_str(local);
}

fn escape_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn escape_attr(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}
