//! The typed forms a query parses into: the `$filter` tree with its canonical text and its
//! evaluation on JSON, and `$orderby` items. No parsing here.

use std::fmt;

/// A parsed `$filter` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Compare {
        property: String,
        op: CompareOp,
        value: Literal,
    },
    In {
        property: String,
        values: Vec<Literal>,
    },
    StartsWith {
        property: String,
        prefix: String,
    },
    EndsWith {
        property: String,
        suffix: String,
    },
    /// A word of the property starts with `prefix`: what `$search="property:prefix"` asks
    /// (Graph tokenizes on spaces and punctuation). Never produced by `$filter`.
    WordPrefix {
        property: String,
        prefix: String,
    },
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }

    pub(super) fn from_word(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A literal value. Dates, GUIDs and decimals are valid OData but outside this subset: Graph's
/// directory filters compare ids as quoted strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    String(String),
    Bool(bool),
    Null,
    Integer(i64),
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(s) => write_quoted(f, s),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Null => f.write_str("null"),
            Self::Integer(n) => write!(f, "{n}"),
        }
    }
}

pub(super) fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    write!(f, "'{}'", s.replace('\'', "''"))
}

impl Filter {
    /// Visits every node, parents before children, left before right. Iterative, so a tree a
    /// caller built deeper than the parser allows still cannot overflow the stack.
    fn walk<'a>(&'a self, mut visit: impl FnMut(&'a Filter)) {
        let mut stack = vec![self];
        while let Some(node) = stack.pop() {
            visit(node);
            match node {
                Self::And(l, r) | Self::Or(l, r) => {
                    stack.push(r);
                    stack.push(l);
                }
                Self::Not(inner) => stack.push(inner),
                _ => {}
            }
        }
    }

    /// Evaluates the filter on one JSON object, for collections kept in memory. Strings
    /// compare case-insensitively, as Graph's directory does; a missing property is null.
    pub fn matches(&self, item: &serde_json::Map<String, serde_json::Value>) -> bool {
        use serde_json::Value;
        let get = |p: &str| {
            item.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(p))
                .map_or(&Value::Null, |(_, v)| v)
        };
        let equal = |v: &Value, l: &Literal| match (v, l) {
            (Value::String(a), Literal::String(b)) => a.eq_ignore_ascii_case(b),
            (Value::Bool(a), Literal::Bool(b)) => a == b,
            (Value::Null, Literal::Null) => true,
            (Value::Number(a), Literal::Integer(b)) => a.as_i64() == Some(*b),
            _ => false,
        };
        let text = |p: &str| get(p).as_str().map(str::to_lowercase);
        match self {
            Self::Compare {
                property,
                op,
                value,
            } => {
                let v = get(property);
                match op {
                    CompareOp::Eq => equal(v, value),
                    CompareOp::Ne => !equal(v, value),
                    _ => {
                        let ord = match (v, value) {
                            (Value::String(a), Literal::String(b)) => {
                                Some(a.to_lowercase().cmp(&b.to_lowercase()))
                            }
                            (Value::Number(a), Literal::Integer(b)) => a.as_i64().map(|a| a.cmp(b)),
                            _ => None,
                        };
                        ord.is_some_and(|o| match op {
                            CompareOp::Gt => o.is_gt(),
                            CompareOp::Ge => o.is_ge(),
                            CompareOp::Lt => o.is_lt(),
                            _ => o.is_le(),
                        })
                    }
                }
            }
            Self::In { property, values } => values.iter().any(|l| equal(get(property), l)),
            Self::StartsWith { property, prefix } => {
                text(property).is_some_and(|t| t.starts_with(&prefix.to_lowercase()))
            }
            Self::EndsWith { property, suffix } => {
                text(property).is_some_and(|t| t.ends_with(&suffix.to_lowercase()))
            }
            Self::WordPrefix { property, prefix } => text(property).is_some_and(|t| {
                let prefix = prefix.to_lowercase();
                t.split(|c: char| !c.is_alphanumeric())
                    .any(|w| w.starts_with(&prefix))
            }),
            Self::And(a, b) => a.matches(item) && b.matches(item),
            Self::Or(a, b) => a.matches(item) || b.matches(item),
            Self::Not(a) => !a.matches(item),
        }
    }

    /// Every property named, first appearance first, each once, as written.
    pub fn properties(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        self.walk(|node| {
            let property = match node {
                Self::Compare { property, .. }
                | Self::In { property, .. }
                | Self::StartsWith { property, .. }
                | Self::EndsWith { property, .. }
                | Self::WordPrefix { property, .. } => property.as_str(),
                _ => return,
            };
            if !out.contains(&property) {
                out.push(property);
            }
        });
        out
    }

    /// Every operator and function used, each once, spelled as Graph's error messages spell
    /// them (`startsWith`, `endsWith`), so a caller can refuse the advanced-query ones.
    pub fn operators(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        self.walk(|node| {
            let name = match node {
                Self::Compare { op, .. } => op.as_str(),
                Self::In { .. } => "in",
                Self::StartsWith { .. } => "startsWith",
                Self::EndsWith { .. } => "endsWith",
                Self::WordPrefix { .. } => "search",
                Self::And(..) => "and",
                Self::Or(..) => "or",
                Self::Not(..) => "not",
            };
            if !out.contains(&name) {
                out.push(name);
            }
        });
        out
    }

    fn precedence(&self) -> u8 {
        match self {
            Self::Or(..) => 1,
            Self::And(..) => 2,
            _ => 3,
        }
    }
}

/// Writes one side of `and`/`or`, parenthesised only where the text would otherwise parse
/// into a different tree (chains are left-associative, so a right operand of equal
/// precedence needs parentheses).
pub(super) fn write_operand(
    f: &mut fmt::Formatter<'_>,
    child: &Filter,
    parent: u8,
    right: bool,
) -> fmt::Result {
    let p = child.precedence();
    if p < parent || (right && p == parent) {
        write!(f, "({child})")
    } else {
        write!(f, "{child}")
    }
}

/// Canonical OData text that parses back into the same tree.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Compare {
                property,
                op,
                value,
            } => write!(f, "{property} {op} {value}"),
            Self::In { property, values } => {
                write!(f, "{property} in (")?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str(")")
            }
            Self::StartsWith { property, prefix } => {
                write!(f, "startswith({property},")?;
                write_quoted(f, prefix)?;
                f.write_str(")")
            }
            Self::EndsWith { property, suffix } => {
                write!(f, "endswith({property},")?;
                write_quoted(f, suffix)?;
                f.write_str(")")
            }
            // `$search` clause text, as Graph writes it.
            Self::WordPrefix { property, prefix } => write!(f, "\"{property}:{prefix}\""),
            Self::And(l, r) => {
                write_operand(f, l, 2, false)?;
                f.write_str(" and ")?;
                write_operand(f, r, 2, true)
            }
            Self::Or(l, r) => {
                write_operand(f, l, 1, false)?;
                f.write_str(" or ")?;
                write_operand(f, r, 1, true)
            }
            // `not` binds tighter than `and`/`or`, so only those need parentheses; adding
            // them elsewhere would deepen the nesting a reparse counts against the limit.
            Self::Not(inner) if inner.precedence() < 3 => write!(f, "not ({inner})"),
            Self::Not(inner) => write!(f, "not {inner}"),
        }
    }
}

/// One `$orderby` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    pub property: String,
    pub descending: bool,
}
