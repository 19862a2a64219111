//! A small XML tree for SAML and WS-Federation messages: parsed with quick-xml, names
//! resolved against their namespaces, bounded in size, depth and node count, and a
//! `<!DOCTYPE` refused before anything in it is read, so no entity is ever expanded (the
//! billion laughs and external entities cannot start). Canonicalization for XML signatures
//! is in [`c14n`]; escaping for writing in [`escape`].

pub mod c14n;
pub mod dsig;
pub mod escape;
mod parse;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use parse::{Limits, parse};

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("the document is larger than {0} bytes")]
    TooLarge(usize),
    #[error("a DOCTYPE declaration is not allowed")]
    Doctype,
    #[error("elements nest deeper than {0}")]
    TooDeep(usize),
    #[error("the document has more than {0} nodes")]
    TooManyNodes(usize),
    #[error("the prefix '{0}' is not declared")]
    UnboundPrefix(String),
    #[error("the entity '&{0};' is not defined")]
    UnknownEntity(String),
    #[error("the document has no root element")]
    NoRoot,
    #[error("not well-formed XML: {0}")]
    Malformed(String),
}

/// A namespace prefix bound to a URI; the default namespace has the prefix "".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub prefix: String,
    pub uri: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The prefix as written (`None` for an unprefixed attribute, which has no namespace).
    pub prefix: Option<String>,
    pub local: String,
    pub namespace: Option<String>,
    /// The value with references resolved and whitespace normalized, as a parser reports it.
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
    ProcessingInstruction { target: String, data: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub prefix: Option<String>,
    pub local: String,
    pub namespace: Option<String>,
    /// The `xmlns` / `xmlns:p` declarations written on this element, in document order.
    pub declarations: Vec<Binding>,
    pub attributes: Vec<Attribute>,
    pub children: Vec<Node>,
    /// Every binding in scope here (ancestors' and this element's), later ones winning;
    /// shared with the children that declare nothing new.
    scope: Arc<Vec<Binding>>,
}

impl Element {
    /// Whether this element is `{namespace}local`.
    pub fn is(&self, namespace: &str, local: &str) -> bool {
        self.local == local && self.namespace.as_deref() == Some(namespace)
    }

    /// The value of the unprefixed attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.prefix.is_none() && a.local == name)
            .map(|a| a.value.as_str())
    }

    /// The value of the attribute `{namespace}local`.
    pub fn attr_ns(&self, namespace: &str, local: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.local == local && a.namespace.as_deref() == Some(namespace))
            .map(|a| a.value.as_str())
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// The first child element `{namespace}local`.
    pub fn child(&self, namespace: &str, local: &str) -> Option<&Element> {
        self.elements().find(|e| e.is(namespace, local))
    }

    pub fn children_named<'a>(
        &'a self,
        namespace: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.is(namespace, local))
    }

    /// The element's text content (its text children joined; child elements skipped).
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|n| match n {
                Node::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The URI bound to `prefix` here ("" for the default namespace).
    pub fn lookup(&self, prefix: &str) -> Option<&str> {
        self.scope
            .iter()
            .rev()
            .find(|b| b.prefix == prefix)
            .map(|b| b.uri.as_str())
            .filter(|u| !u.is_empty() || prefix.is_empty())
    }

    /// The element in this subtree whose unprefixed `ID` attribute is `id` (what an XML
    /// signature's `Reference URI="#id"` names; SAML's ID attributes are unprefixed).
    pub fn find_by_id(&self, id: &str) -> Option<&Element> {
        if self.attr("ID") == Some(id) {
            return Some(self);
        }
        self.elements().find_map(|e| e.find_by_id(id))
    }

    /// Every element of the subtree, this one first, in document order.
    pub fn descendants(&self) -> Vec<&Element> {
        fn walk<'a>(e: &'a Element, out: &mut Vec<&'a Element>) {
            out.push(e);
            for c in e.elements() {
                walk(c, out);
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }
}
