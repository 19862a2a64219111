//! Reading a document into the tree: quick-xml's events folded into elements, with the
//! limits checked as the events arrive (a hostile document stops at its first excess).

use std::sync::Arc;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use super::{Attribute, Binding, Element, Node, XmlError};

const XML_NAMESPACE: &str = "http://www.w3.org/XML/1998/namespace";

/// Bounds on what a document may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_nodes: usize,
}

impl Default for Limits {
    /// Ample for any SAML message or metadata document (Entra's tenant metadata is about
    /// 25 KB), small enough that a hostile one costs little.
    fn default() -> Self {
        Self {
            max_bytes: 1024 * 1024,
            max_depth: 64,
            max_nodes: 50_000,
        }
    }
}

fn malformed(e: impl std::fmt::Display) -> XmlError {
    XmlError::Malformed(e.to_string())
}

/// Parses `text` into its root element.
pub fn parse(text: &str, limits: Limits) -> Result<Element, XmlError> {
    if text.len() > limits.max_bytes {
        return Err(XmlError::TooLarge(limits.max_bytes));
    }
    // A byte-order mark is allowed before the document (Entra's app metadata starts with one).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = true;
    config.expand_empty_elements = false;

    let root_scope = Arc::new(vec![Binding {
        prefix: "xml".into(),
        uri: XML_NAMESPACE.into(),
    }]);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut nodes = 0usize;
    loop {
        let event = reader.read_event().map_err(malformed)?;
        // `<a/>` closes itself: no end tag to wait for.
        let self_closing = matches!(event, Event::Empty(_));
        match event {
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Start(_) | Event::Empty(_) if root.is_some() && stack.is_empty() => {
                return Err(malformed("a second root element"));
            }
            Event::Start(start) | Event::Empty(start) => {
                nodes += 1;
                if nodes > limits.max_nodes {
                    return Err(XmlError::TooManyNodes(limits.max_nodes));
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep(limits.max_depth));
                }
                let scope = stack.last().map_or(&root_scope, |p| &p.scope).clone();
                let e = element(&start, scope)?;
                if !self_closing {
                    stack.push(e);
                } else {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(Node::Element(e)),
                        None => root = Some(e),
                    }
                }
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(malformed("an end tag without its start"));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(done)),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                text_into(&mut stack, &content, &mut nodes, limits)?;
            }
            Event::CData(c) => {
                let content = c.xml10_content();
                text_into(&mut stack, &content, &mut nodes, limits)?;
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(malformed)? {
                    Some(c) => c.to_string(),
                    None => {
                        let name: &str = &r;
                        quick_xml::escape::resolve_predefined_entity(name)
                            .ok_or_else(|| {
                                XmlError::UnknownEntity(name.chars().take(64).collect())
                            })?
                            .to_owned()
                    }
                };
                text_into(&mut stack, &resolved, &mut nodes, limits)?;
            }
            Event::PI(pi) => {
                if let Some(parent) = stack.last_mut() {
                    nodes += 1;
                    parent.children.push(Node::ProcessingInstruction {
                        target: pi.target().to_owned(),
                        data: pi.content().trim_start().to_owned(),
                    });
                }
            }
            Event::Comment(_) | Event::Decl(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(malformed("the document ends inside an element"));
    }
    root.ok_or(XmlError::NoRoot)
}

/// Text inside the current element (merged with the text before it); outside the root,
/// only whitespace may appear.
fn text_into(
    stack: &mut [Element],
    content: &str,
    nodes: &mut usize,
    limits: Limits,
) -> Result<(), XmlError> {
    let Some(parent) = stack.last_mut() else {
        return if content.chars().all(char::is_whitespace) {
            Ok(())
        } else {
            Err(malformed("text outside the root element"))
        };
    };
    if let Some(Node::Text(previous)) = parent.children.last_mut() {
        previous.push_str(content);
        return Ok(());
    }
    *nodes += 1;
    if *nodes > limits.max_nodes {
        return Err(XmlError::TooManyNodes(limits.max_nodes));
    }
    parent.children.push(Node::Text(content.to_owned()));
    Ok(())
}

/// An XML name as the spec's `Name` production has it (ASCII simplified; any non-ASCII
/// character is allowed): quick-xml takes `<b/ >` and `<b//>` apart loosely, and a name
/// this reader lets through must be one a canonical form can write back.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let start = |c: char| c.is_ascii_alphabetic() || c == '_' || !c.is_ascii();
    start(first) && chars.all(|c| start(c) || c.is_ascii_digit() || c == '-' || c == '.')
}

/// A qualified name: `local` or `prefix:local`, both valid names.
fn valid_qname(qname: &str) -> bool {
    match qname.split_once(':') {
        Some((p, l)) => valid_name(p) && valid_name(l),
        None => valid_name(qname),
    }
}

fn split(qname: &str) -> (Option<&str>, &str) {
    match qname.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, qname),
    }
}

fn element(start: &BytesStart<'_>, parent_scope: Arc<Vec<Binding>>) -> Result<Element, XmlError> {
    let qname = start.name();
    if !valid_qname(qname.0) {
        return Err(malformed(format!(
            "'{}' is not an element name",
            qname.0.chars().take(64).collect::<String>()
        )));
    }
    let (prefix, local) = split(qname.0);
    let mut declarations = Vec::new();
    let mut raw = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(malformed)?;
        let value =
            attr.normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| match e {
                    quick_xml::Error::Escape(
                        quick_xml::escape::EscapeError::UnrecognizedEntity(_, name),
                    ) => XmlError::UnknownEntity(name.chars().take(64).collect()),
                    other => malformed(other),
                })?
                .into_owned();
        let key = attr.key.0;
        if !valid_qname(key) {
            return Err(malformed(format!(
                "'{}' is not an attribute name",
                key.chars().take(64).collect::<String>()
            )));
        }
        if attr.value.contains('<') {
            return Err(malformed("'<' in an attribute value"));
        }
        if key == "xmlns" {
            declarations.push(Binding {
                prefix: String::new(),
                uri: value,
            });
        } else if let Some(p) = key.strip_prefix("xmlns:") {
            declarations.push(Binding {
                prefix: p.to_owned(),
                uri: value,
            });
        } else {
            raw.push((key.to_owned(), value));
        }
    }
    let scope = if declarations.is_empty() {
        parent_scope
    } else {
        let mut s = (*parent_scope).clone();
        s.extend(declarations.iter().cloned());
        Arc::new(s)
    };
    let lookup = |p: &str| {
        scope
            .iter()
            .rev()
            .find(|b| b.prefix == p)
            .map(|b| b.uri.clone())
            .filter(|u| !u.is_empty())
    };
    let namespace = match prefix {
        Some(p) => Some(lookup(p).ok_or_else(|| XmlError::UnboundPrefix(p.to_owned()))?),
        None => lookup(""),
    };
    let mut attributes = Vec::with_capacity(raw.len());
    for (key, value) in raw {
        let (p, l) = split(&key);
        let ns = match p {
            Some(p) => Some(lookup(p).ok_or_else(|| XmlError::UnboundPrefix(p.to_owned()))?),
            None => None,
        };
        attributes.push(Attribute {
            prefix: p.map(str::to_owned),
            local: l.to_owned(),
            namespace: ns,
            value,
        });
    }
    Ok(Element {
        prefix: prefix.map(str::to_owned),
        local: local.to_owned(),
        namespace,
        declarations,
        attributes,
        children: Vec::new(),
        scope,
    })
}
