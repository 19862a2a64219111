//! OData query options of the Graph subset (`$filter`, `$select`, `$orderby`, `$top`), parsed
//! from already URL-decoded text into small typed forms. Hostile input gets a Graph-shaped error,
//! never a panic; which properties and operators an endpoint allows is the caller's decision.

use std::collections::HashSet;
use std::fmt;

/// Longest `$filter`, `$select` or `$orderby` text accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Deepest nesting of parentheses and `not` in a `$filter`.
pub const MAX_NESTING: usize = 32;
/// Most values in one `in (...)` list.
pub const MAX_IN_VALUES: usize = 100;
/// Most conditions (comparisons, `in`, function calls) in one `$filter`.
pub const MAX_CLAUSES: usize = 50;
/// Graph's directory maximum page size (graph-api.md §2.3).
pub const MAX_PAGE_SIZE: u32 = 999;

/// Client text echoed into an error message is cut to this many characters, so a hostile
/// request cannot make the error body as large as itself.
const ECHO_CHARS: usize = 100;

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

    fn from_word(word: &str) -> Option<Self> {
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

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
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
                | Self::EndsWith { property, .. } => property.as_str(),
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
fn write_operand(
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

/// A refused query option. `Display` is the Graph error `message`; [`ODataError::code`] is
/// the Graph error `code`. Every variant is a 400 except where the caller decides otherwise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ODataError {
    /// `$top` outside 1..=999 or not an integer. Exact Graph text (OBSERVED, graph-api.md §2.3).
    #[error("Invalid page size specified: '{0}'. Must be between 1 and 999 inclusive.")]
    InvalidPageSize(String),
    /// A `$filter` that does not parse. Graph's directory answers a bare `Invalid filter
    /// clause` (OBSERVED msgraph-sdk-dotnet#1190, microsoft-graph-docs#3044); the reason after
    /// the colon is ours, so the full wording is UNCONFIRMED.
    #[error("Invalid filter clause: {0}")]
    InvalidFilter(String),
    /// Valid OData outside this subset: property paths, lambdas (`identities/any(...)`),
    /// other functions, date/GUID/decimal literals. Names the clause. Wording UNCONFIRMED.
    #[error("Invalid filter clause: '{0}' is not supported.")]
    UnsupportedFilter(String),
    /// A `$filter` beyond this server's size limits. Wording UNCONFIRMED.
    #[error("Invalid filter clause: {0}")]
    FilterTooComplex(String),
    /// A malformed `$select`. Prefix modelled on the likely Graph message for an unknown
    /// property (graph-api.md §2.3); wording UNCONFIRMED.
    #[error("Parsing OData Select and Expand failed: {0}")]
    InvalidSelect(String),
    /// A malformed `$orderby`. Wording UNCONFIRMED.
    #[error("Invalid $orderby clause: {0}")]
    InvalidOrderBy(String),
    /// For callers: a property outside the endpoint's filter allow-list, `resource` as Graph
    /// names it (`User`, `Group`). Exact Graph text (DOC and OBSERVED, graph-api.md §2.3).
    #[error(
        "Unsupported or invalid query filter clause specified for property '{property}' of resource '{resource}'."
    )]
    UnsupportedFilterProperty { property: String, resource: String },
    /// For callers: an advanced-query operator (`ne`, `not`, `endsWith`) without
    /// `$count=true` and `ConsistencyLevel: eventual`. Exact Graph text for `endsWith` (DOC,
    /// graph-api.md §2.3); for other operators the same template is assumed (UNCONFIRMED).
    #[error(
        "Operator '{operator}' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information"
    )]
    AdvancedQueryRequired { operator: String },
    /// For callers: `$orderby` on a property the endpoint cannot sort by. Exact Graph text
    /// (OBSERVED microsoft-graph-docs-contrib#1354, 2023).
    #[error("Unsupported sort property '{property}' for '{resource}'.")]
    UnsupportedSortProperty { property: String, resource: String },
    /// For callers: `$select` of an unknown property, `type_name` like `microsoft.graph.user`.
    /// The likely Graph text (graph-api.md §2.3); UNCONFIRMED.
    #[error(
        "Parsing OData Select and Expand failed: Could not find a property named '{property}' on type '{type_name}'."
    )]
    UnknownSelectProperty { property: String, type_name: String },
}

impl ODataError {
    /// The Graph error `code` to send with this message.
    pub fn code(&self) -> &'static str {
        match self {
            // Graph's directory sends the gateway-style code for a filter that does not parse
            // (OBSERVED, see the variant), unlike its other query errors.
            Self::InvalidFilter(_) => "BadRequest",
            Self::InvalidSelect(_)
            | Self::InvalidOrderBy(_)
            | Self::UnknownSelectProperty { .. } => "Request_BadRequest",
            Self::InvalidPageSize(_)
            | Self::UnsupportedFilter(_)
            | Self::FilterTooComplex(_)
            | Self::UnsupportedFilterProperty { .. }
            | Self::AdvancedQueryRequired { .. }
            | Self::UnsupportedSortProperty { .. } => "Request_UnsupportedQuery",
        }
    }
}

/// At most [`ECHO_CHARS`] characters of client text, for an error message.
fn echo(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(ECHO_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
fn is_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(is_ident_start) && bytes.all(is_ident_byte)
}

/// Words that cannot be property names, so `a eq 'x' and or b eq 'y'` is an error rather than
/// a comparison on a property called `or`.
fn is_reserved(word: &str) -> bool {
    const RESERVED: &[&str] = &[
        "and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "in", "true", "false", "null",
    ];
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}

/// End of the run of bytes from `from` that satisfy `keep`.
fn scan(bytes: &[u8], from: usize, keep: impl Fn(u8) -> bool) -> usize {
    let mut i = from;
    while bytes.get(i).is_some_and(|&b| keep(b)) {
        i += 1;
    }
    i
}

/// Character offset (0-based) of byte offset `byte`, for messages a client can act on.
fn char_pos(text: &str, byte: usize) -> usize {
    text.get(..byte).map_or(0, |s| s.chars().count())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind<'a> {
    LParen,
    RParen,
    Comma,
    Word(&'a str),
    Str(String),
    Int(i64),
}

#[derive(Debug)]
struct Token<'a> {
    kind: Kind<'a>,
    /// Byte offset in the filter text.
    at: usize,
}

fn describe(kind: Option<&Kind<'_>>) -> String {
    match kind {
        None => "the end of the expression".to_owned(),
        Some(Kind::LParen) => "'('".to_owned(),
        Some(Kind::RParen) => "')'".to_owned(),
        Some(Kind::Comma) => "','".to_owned(),
        Some(Kind::Word(w)) => format!("'{}'", echo(w)),
        Some(Kind::Str(s)) => format!("string '{}'", echo(s)),
        Some(Kind::Int(n)) => format!("integer {n}"),
    }
}

/// The clause starting at `start` that the subset does not handle: a path or cast
/// (`identities/any`, `microsoft.graph.user`) or function name, with its argument list when
/// one follows, so the error can name it.
fn unsupported_clause(text: &str, start: usize) -> ODataError {
    let bytes = text.as_bytes();
    let mut end = scan(bytes, start, |b| {
        is_ident_byte(b) || matches!(b, b'/' | b'.' | b'$')
    });
    if bytes.get(end) == Some(&b'(') {
        let mut depth = 0usize;
        let mut quoted = false;
        let mut i = end;
        while let Some(&b) = bytes.get(i) {
            i += 1;
            match b {
                // `''` inside a string toggles twice, which is what an escaped quote needs.
                b'\'' => quoted = !quoted,
                b'(' if !quoted => depth += 1,
                b')' if !quoted => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
        end = i;
    }
    ODataError::UnsupportedFilter(echo(text.get(start..end).unwrap_or_default()))
}

/// A quoted string starting at byte `open`; returns its value and the byte after it.
fn lex_string(text: &str, open: usize) -> Result<(String, usize), ODataError> {
    let mut value = String::new();
    let mut from = open + 1;
    loop {
        let rest = text.get(from..).unwrap_or_default();
        let Some(q) = rest.find('\'') else {
            return Err(ODataError::InvalidFilter(format!(
                "unterminated string starting at position {}",
                char_pos(text, open)
            )));
        };
        value.push_str(rest.get(..q).unwrap_or_default());
        let after = from + q + 1;
        if text.as_bytes().get(after) == Some(&b'\'') {
            value.push('\'');
            from = after + 1;
        } else {
            return Ok((value, after));
        }
    }
}

/// An integer starting at byte `start` (a `-` or a digit); returns it and the byte after it.
fn lex_integer(text: &str, start: usize) -> Result<(i64, usize), ODataError> {
    let bytes = text.as_bytes();
    let digits = if bytes.get(start) == Some(&b'-') {
        start + 1
    } else {
        start
    };
    let end = scan(bytes, digits, |b| b.is_ascii_digit());
    if end == digits {
        return Err(ODataError::InvalidFilter(format!(
            "'-' at position {} is not followed by digits",
            char_pos(text, start)
        )));
    }
    // A number running on into more literal text is a decimal, date or GUID: valid OData,
    // outside this subset.
    if bytes
        .get(end)
        .is_some_and(|&b| is_ident_byte(b) || matches!(b, b'.' | b':' | b'-' | b'+'))
    {
        let stop = scan(bytes, start, |b| {
            is_ident_byte(b) || matches!(b, b'.' | b':' | b'-' | b'+')
        });
        return Err(ODataError::UnsupportedFilter(echo(
            text.get(start..stop).unwrap_or_default(),
        )));
    }
    let number = text.get(start..end).unwrap_or_default();
    let n = number.parse::<i64>().map_err(|_| {
        ODataError::InvalidFilter(format!(
            "integer {} at position {} is out of range",
            echo(number),
            char_pos(text, start)
        ))
    })?;
    Ok((n, end))
}

fn lex(text: &str) -> Result<Vec<Token<'_>>, ODataError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let at = i;
        let kind = match b {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'(' => {
                i += 1;
                Kind::LParen
            }
            b')' => {
                i += 1;
                Kind::RParen
            }
            b',' => {
                i += 1;
                Kind::Comma
            }
            b'\'' => {
                let (s, end) = lex_string(text, i)?;
                i = end;
                Kind::Str(s)
            }
            b'-' | b'0'..=b'9' => {
                let (n, end) = lex_integer(text, i)?;
                i = end;
                Kind::Int(n)
            }
            b if is_ident_start(b) => {
                let end = scan(bytes, i, is_ident_byte);
                if matches!(bytes.get(end), Some(b'/' | b'.')) {
                    return Err(unsupported_clause(text, i));
                }
                i = end;
                Kind::Word(text.get(at..end).unwrap_or_default())
            }
            _ => {
                let c = text.get(i..).and_then(|s| s.chars().next()).unwrap_or('?');
                return Err(ODataError::InvalidFilter(format!(
                    "unexpected character '{c}' at position {}",
                    char_pos(text, i)
                )));
            }
        };
        tokens.push(Token { kind, at });
    }
    Ok(tokens)
}

/// Recursive descent over the tokens: `or` < `and` < `not` < condition or `( ... )`.
/// Recursion happens only through parentheses and `not`, both counted in `depth`, so the
/// stack stays small whatever the input.
struct Parser<'a> {
    text: &'a str,
    tokens: std::iter::Peekable<std::vec::IntoIter<Token<'a>>>,
    depth: usize,
    clauses: usize,
}

impl<'a> Parser<'a> {
    fn peek(&mut self) -> Option<&Kind<'a>> {
        self.tokens.peek().map(|t| &t.kind)
    }

    fn peek_keyword(&mut self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Kind::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    /// "expected X at position N, found Y" for `found` (None: the end of the text).
    fn expected(&self, what: &str, found: Option<&Token<'_>>) -> ODataError {
        let at = found.map_or(self.text.len(), |t| t.at);
        ODataError::InvalidFilter(format!(
            "expected {what} at position {}, found {}",
            char_pos(self.text, at),
            describe(found.map(|t| &t.kind))
        ))
    }

    fn enter(&mut self) -> Result<(), ODataError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(ODataError::FilterTooComplex(format!(
                "the expression is nested more than {MAX_NESTING} levels deep"
            )));
        }
        Ok(())
    }

    fn count_clause(&mut self) -> Result<(), ODataError> {
        self.clauses += 1;
        if self.clauses > MAX_CLAUSES {
            return Err(ODataError::FilterTooComplex(format!(
                "the expression has more than {MAX_CLAUSES} conditions"
            )));
        }
        Ok(())
    }

    fn expect(&mut self, want: &Kind<'_>, what: &str) -> Result<(), ODataError> {
        match self.tokens.next() {
            Some(t) if &t.kind == want => Ok(()),
            other => Err(self.expected(what, other.as_ref())),
        }
    }

    fn or(&mut self) -> Result<Filter, ODataError> {
        let mut left = self.and()?;
        while self.peek_keyword("or") {
            self.tokens.next();
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ODataError> {
        let mut left = self.unary()?;
        while self.peek_keyword("and") {
            self.tokens.next();
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// `not` takes a whole condition (`not mail eq null` is `not (mail eq null)`), which is
    /// what clients mean, although strict OData would bind it to `mail` alone.
    fn unary(&mut self) -> Result<Filter, ODataError> {
        if self.peek_keyword("not") {
            self.tokens.next();
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Filter, ODataError> {
        let token = self.tokens.next();
        match token.as_ref().map(|t| &t.kind) {
            Some(Kind::LParen) => {
                self.enter()?;
                let inner = self.or()?;
                self.expect(&Kind::RParen, "')'")?;
                self.depth -= 1;
                Ok(inner)
            }
            Some(Kind::Word(w)) if !is_reserved(w) => {
                let (word, at) = (*w, token.as_ref().map_or(0, |t| t.at));
                if self.peek() == Some(&Kind::LParen) {
                    self.function(word, at)
                } else {
                    self.comparison(word)
                }
            }
            _ => Err(self.expected("a condition", token.as_ref())),
        }
    }

    fn property(&mut self) -> Result<String, ODataError> {
        match self.tokens.next() {
            Some(Token {
                kind: Kind::Word(w),
                ..
            }) if !is_reserved(w) => Ok(w.to_owned()),
            other => Err(self.expected("a property name", other.as_ref())),
        }
    }

    fn string(&mut self) -> Result<String, ODataError> {
        match self.tokens.next() {
            Some(Token {
                kind: Kind::Str(s), ..
            }) => Ok(s),
            other => Err(self.expected("a quoted string", other.as_ref())),
        }
    }

    fn function(&mut self, name: &str, at: usize) -> Result<Filter, ODataError> {
        let starts = name.eq_ignore_ascii_case("startswith");
        if !starts && !name.eq_ignore_ascii_case("endswith") {
            return Err(unsupported_clause(self.text, at));
        }
        self.count_clause()?;
        self.expect(&Kind::LParen, "'('")?;
        let property = self.property()?;
        self.expect(&Kind::Comma, "','")?;
        let text = self.string()?;
        self.expect(&Kind::RParen, "')'")?;
        Ok(if starts {
            Filter::StartsWith {
                property,
                prefix: text,
            }
        } else {
            Filter::EndsWith {
                property,
                suffix: text,
            }
        })
    }

    fn literal(&mut self, after: &str) -> Result<Literal, ODataError> {
        let token = self.tokens.next();
        let literal = match token.as_ref().map(|t| &t.kind) {
            Some(Kind::Str(s)) => Literal::String(s.clone()),
            Some(Kind::Int(n)) => Literal::Integer(*n),
            Some(Kind::Word(w)) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Kind::Word(w)) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Some(Kind::Word(w)) if w.eq_ignore_ascii_case("null") => Literal::Null,
            _ => return Err(self.expected(&format!("a value after {after}"), token.as_ref())),
        };
        Ok(literal)
    }

    fn comparison(&mut self, property: &str) -> Result<Filter, ODataError> {
        self.count_clause()?;
        let token = self.tokens.next();
        let Some(Kind::Word(op)) = token.as_ref().map(|t| &t.kind) else {
            return Err(self.expected(
                &format!("an operator after '{}'", echo(property)),
                token.as_ref(),
            ));
        };
        if op.eq_ignore_ascii_case("in") {
            return self.in_list(property);
        }
        let Some(op) = CompareOp::from_word(op) else {
            return Err(self.expected("eq, ne, gt, ge, lt, le or in", token.as_ref()));
        };
        let value = self.literal(&format!("'{}'", op.as_str()))?;
        Ok(Filter::Compare {
            property: property.to_owned(),
            op,
            value,
        })
    }

    fn in_list(&mut self, property: &str) -> Result<Filter, ODataError> {
        self.expect(&Kind::LParen, "'(' after 'in'")?;
        let mut values = Vec::new();
        loop {
            if values.len() == MAX_IN_VALUES {
                return Err(ODataError::FilterTooComplex(format!(
                    "an 'in' list has more than {MAX_IN_VALUES} values"
                )));
            }
            values.push(self.literal("'in ('")?);
            match self.tokens.next() {
                Some(Token {
                    kind: Kind::Comma, ..
                }) => {}
                Some(Token {
                    kind: Kind::RParen, ..
                }) => break,
                other => return Err(self.expected("',' or ')'", other.as_ref())),
            }
        }
        Ok(Filter::In {
            property: property.to_owned(),
            values,
        })
    }
}

/// Parses a `$filter` value.
pub fn parse_filter(text: &str) -> Result<Filter, ODataError> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(ODataError::FilterTooComplex(format!(
            "the expression is longer than {MAX_QUERY_BYTES} bytes"
        )));
    }
    let tokens = lex(text)?;
    if tokens.is_empty() {
        return Err(ODataError::InvalidFilter(
            "the expression is empty".to_owned(),
        ));
    }
    let mut parser = Parser {
        text,
        tokens: tokens.into_iter().peekable(),
        depth: 0,
        clauses: 0,
    };
    let filter = parser.or()?;
    if let Some(extra) = parser.tokens.next() {
        return Err(parser.expected("'and', 'or' or the end", Some(&extra)));
    }
    Ok(filter)
}

/// Parses a `$select` value: property names, trimmed, each once (ASCII case-insensitively,
/// keeping the first spelling), in order. `*` and paths are refused.
pub fn parse_select(text: &str) -> Result<Vec<String>, ODataError> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(ODataError::InvalidSelect(format!(
            "$select is longer than {MAX_QUERY_BYTES} bytes."
        )));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for item in text.split(',') {
        let name = item.trim();
        if name.is_empty() {
            return Err(ODataError::InvalidSelect(
                "$select has an empty property name.".to_owned(),
            ));
        }
        if !is_identifier(name) {
            return Err(ODataError::InvalidSelect(format!(
                "'{}' in $select is not a supported property name.",
                echo(name)
            )));
        }
        if seen.insert(name.to_ascii_lowercase()) {
            out.push(name.to_owned());
        }
    }
    Ok(out)
}

/// Parses an `$orderby` value: `property [asc|desc]` items separated by commas.
pub fn parse_orderby(text: &str) -> Result<Vec<OrderBy>, ODataError> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(ODataError::InvalidOrderBy(format!(
            "$orderby is longer than {MAX_QUERY_BYTES} bytes."
        )));
    }
    let mut out = Vec::new();
    for item in text.split(',') {
        let mut words = item.split_ascii_whitespace();
        let Some(property) = words.next() else {
            return Err(ODataError::InvalidOrderBy(
                "$orderby has an empty sort item.".to_owned(),
            ));
        };
        if !is_identifier(property) {
            return Err(ODataError::InvalidOrderBy(format!(
                "'{}' is not a supported property name.",
                echo(property)
            )));
        }
        let descending = match words.next() {
            None => false,
            Some(d) if d.eq_ignore_ascii_case("asc") => false,
            Some(d) if d.eq_ignore_ascii_case("desc") => true,
            Some(other) => {
                return Err(ODataError::InvalidOrderBy(format!(
                    "expected 'asc' or 'desc' after '{property}', found '{}'.",
                    echo(other)
                )));
            }
        };
        if let Some(extra) = words.next() {
            return Err(ODataError::InvalidOrderBy(format!(
                "unexpected '{}' after '{}'.",
                echo(extra),
                echo(item.trim())
            )));
        }
        out.push(OrderBy {
            property: property.to_owned(),
            descending,
        });
    }
    Ok(out)
}

/// Parses a `$top` value: decimal digits only (no sign, no spaces), 1..=999.
pub fn parse_top(text: &str) -> Result<u32, ODataError> {
    let refuse = || ODataError::InvalidPageSize(echo(text));
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse());
    }
    match text.parse::<u32>() {
        Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        _ => Err(refuse()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_evaluate_on_json() {
        let item = serde_json::json!({"appId": "A-1", "displayName": "Nightly Export", "n": 3});
        let item = item.as_object().expect("object");
        let yes = |f: &str| parse_filter(f).expect(f).matches(item);
        assert!(yes("displayName eq 'nightly export'"));
        assert!(yes("appId eq 'x' or appId eq 'a-1'"));
        assert!(yes("startswith(displayName,'Night')"));
        assert!(yes("displayName in ('a', 'Nightly Export')"));
        assert!(!yes("not(displayName eq 'Nightly Export')"));
        assert!(!yes("displayName eq 'Nightly' and appId eq 'A-1'"));
        assert!(yes("missing eq null"));
    }
    use std::time::{Duration, Instant};

    fn cmp(property: &str, op: CompareOp, value: Literal) -> Filter {
        Filter::Compare {
            property: property.into(),
            op,
            value,
        }
    }

    fn s(v: &str) -> Literal {
        Literal::String(v.into())
    }

    fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b))
    }

    fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b))
    }

    /// Parses, and checks the canonical text parses back into the same tree.
    fn parse(text: &str) -> Filter {
        let f = parse_filter(text).expect(text);
        let printed = f.to_string();
        assert_eq!(
            parse_filter(&printed).as_ref(),
            Ok(&f),
            "reprinted as {printed}"
        );
        f
    }

    fn err(text: &str) -> ODataError {
        match parse_filter(text) {
            Ok(f) => panic!("{text} parsed as {f:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn documented_examples() {
        assert_eq!(
            parse("startswith(displayName,'a')"),
            Filter::StartsWith {
                property: "displayName".into(),
                prefix: "a".into()
            }
        );
        assert_eq!(
            parse("userPrincipalName eq 'a@b.c'"),
            cmp("userPrincipalName", CompareOp::Eq, s("a@b.c"))
        );
        assert_eq!(
            parse("displayName in ('x','y')"),
            Filter::In {
                property: "displayName".into(),
                values: vec![s("x"), s("y")]
            }
        );
        assert_eq!(
            parse("accountEnabled eq true and (startswith(givenName,'Al') or surname ne 'x')"),
            and(
                cmp("accountEnabled", CompareOp::Eq, Literal::Bool(true)),
                or(
                    Filter::StartsWith {
                        property: "givenName".into(),
                        prefix: "Al".into()
                    },
                    cmp("surname", CompareOp::Ne, s("x"))
                )
            )
        );
        assert_eq!(
            parse("not (mail eq null)"),
            Filter::Not(Box::new(cmp("mail", CompareOp::Eq, Literal::Null)))
        );
        assert_eq!(
            parse("endswith(mail,'@contoso.com')"),
            Filter::EndsWith {
                property: "mail".into(),
                suffix: "@contoso.com".into()
            }
        );
    }

    #[test]
    fn quotes_and_unicode_in_strings() {
        assert_eq!(
            parse("displayName eq 'O''Brien'"),
            cmp("displayName", CompareOp::Eq, s("O'Brien"))
        );
        assert_eq!(parse("a eq ''''"), cmp("a", CompareOp::Eq, s("'")));
        assert_eq!(parse("a eq ''"), cmp("a", CompareOp::Eq, s("")));
        assert_eq!(
            parse("displayName eq 'Zoë 日本 (and) or, \"x\" 🙂'"),
            cmp(
                "displayName",
                CompareOp::Eq,
                s("Zoë 日本 (and) or, \"x\" 🙂")
            )
        );
        assert_eq!(
            parse_filter("displayName eq 'O''Brien'")
                .expect("ok")
                .to_string(),
            "displayName eq 'O''Brien'"
        );
    }

    #[test]
    fn precedence_and_grouping() {
        let (a, b, c) = (
            cmp("a", CompareOp::Eq, Literal::Integer(1)),
            cmp("b", CompareOp::Eq, Literal::Integer(2)),
            cmp("c", CompareOp::Eq, Literal::Integer(3)),
        );
        assert_eq!(
            parse("a eq 1 or b eq 2 and c eq 3"),
            or(a.clone(), and(b.clone(), c.clone()))
        );
        assert_eq!(
            parse("a eq 1 and b eq 2 or c eq 3"),
            or(and(a.clone(), b.clone()), c.clone())
        );
        assert_eq!(
            parse("(a eq 1 or b eq 2) and c eq 3"),
            and(or(a.clone(), b.clone()), c.clone())
        );
        // Chains are left-associative; a grouped right side survives reprinting.
        assert_eq!(
            parse("a eq 1 or (b eq 2 or c eq 3)"),
            or(a.clone(), or(b.clone(), c.clone()))
        );
        assert_eq!(
            parse("not a eq 1 and b eq 2"),
            and(Filter::Not(Box::new(a.clone())), b.clone())
        );
        assert_eq!(
            parse("not not a eq 1"),
            Filter::Not(Box::new(Filter::Not(Box::new(a))))
        );
    }

    #[test]
    fn case_whitespace_and_literals() {
        assert_eq!(
            parse("  StartsWith(  displayName ,  'a' )  AND Surname EQ 'x'"),
            and(
                Filter::StartsWith {
                    property: "displayName".into(),
                    prefix: "a".into()
                },
                cmp("Surname", CompareOp::Eq, s("x"))
            )
        );
        assert_eq!(
            parse("a\teq\nFALSE"),
            cmp("a", CompareOp::Eq, Literal::Bool(false))
        );
        assert_eq!(
            parse("n ge -42 OR n lt 9223372036854775807 or n le -9223372036854775808 or n gt 0"),
            or(
                or(
                    or(
                        cmp("n", CompareOp::Ge, Literal::Integer(-42)),
                        cmp("n", CompareOp::Lt, Literal::Integer(i64::MAX))
                    ),
                    cmp("n", CompareOp::Le, Literal::Integer(i64::MIN))
                ),
                cmp("n", CompareOp::Gt, Literal::Integer(0))
            )
        );
        assert_eq!(
            parse("x IN ( 'a' , 1,true,  null )"),
            Filter::In {
                property: "x".into(),
                values: vec![
                    s("a"),
                    Literal::Integer(1),
                    Literal::Bool(true),
                    Literal::Null
                ]
            }
        );
        assert_eq!(
            parse("_a_1 eq 1"),
            cmp("_a_1", CompareOp::Eq, Literal::Integer(1))
        );
    }

    #[test]
    fn properties_and_operators_for_allow_lists() {
        let f = parse(
            "displayName eq 'x' and (startswith(mail,'a') or not (displayName in ('y')) or endswith(mail,'b'))",
        );
        assert_eq!(f.properties(), vec!["displayName", "mail"]);
        assert_eq!(
            f.operators(),
            vec!["and", "eq", "or", "startsWith", "not", "in", "endsWith"]
        );
        assert_eq!(parse("a ne 1").operators(), vec!["ne"]);
    }

    #[test]
    fn syntax_errors_are_bad_request() {
        for text in [
            "",
            "   ",
            "displayName",
            "displayName eq",
            "displayName eq 'x",
            "displayName eq \"x\"",
            "displayName like 'x'",
            "displayName eq name",
            "eq eq 'x'",
            "a eq 1 and",
            "a eq 1 and or b eq 2",
            "(a eq 1",
            "a eq 1)",
            "a eq 1 b eq 2",
            "()",
            "not",
            "startswith(displayName)",
            "startswith(displayName,1)",
            "startswith('a',displayName)",
            "startswith displayName",
            "a in ()",
            "a in ('x',)",
            "a in 'x'",
            "a in ('x' 'y')",
            "a eq - 1",
            "a eq 99999999999999999999",
            "é eq 'x'",
            "a eq 'x' ; drop",
            "a eq +1",
        ] {
            let e = err(text);
            assert!(matches!(e, ODataError::InvalidFilter(_)), "{text}: {e:?}");
            assert_eq!(e.code(), "BadRequest", "{text}");
            assert!(e.to_string().starts_with("Invalid filter clause: "), "{e}");
        }
        assert_eq!(
            err("a eq 1)").to_string(),
            "Invalid filter clause: expected 'and', 'or' or the end at position 6, found ')'"
        );
        assert_eq!(
            err("displayName eq 'x").to_string(),
            "Invalid filter clause: unterminated string starting at position 15"
        );
        assert_eq!(
            err("é eq 'x'").to_string(),
            "Invalid filter clause: unexpected character 'é' at position 0"
        );
    }

    #[test]
    fn unsupported_clauses_are_named() {
        let e = err("identities/any(c:c/issuerAssignedId eq 'j(x)' and c/issuer eq 'B2C')");
        assert_eq!(
            e,
            ODataError::UnsupportedFilter(
                "identities/any(c:c/issuerAssignedId eq 'j(x)' and c/issuer eq 'B2C')".into()
            )
        );
        assert_eq!(e.code(), "Request_UnsupportedQuery");
        assert_eq!(
            err("a eq 1 and groupTypes/any(c:c eq 'Unified')"),
            ODataError::UnsupportedFilter("groupTypes/any(c:c eq 'Unified')".into())
        );
        assert_eq!(
            err("manager/displayName eq 'x'"),
            ODataError::UnsupportedFilter("manager/displayName".into())
        );
        assert_eq!(
            err("contains(displayName,'x')").to_string(),
            "Invalid filter clause: 'contains(displayName,'x')' is not supported."
        );
        assert_eq!(
            err("createdDateTime ge 2021-01-01T00:00:00Z"),
            ODataError::UnsupportedFilter("2021-01-01T00:00:00Z".into())
        );
        assert_eq!(err("n eq 1.5"), ODataError::UnsupportedFilter("1.5".into()));
        assert_eq!(
            err("id eq 6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0"),
            ODataError::UnsupportedFilter("6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0".into())
        );
        assert_eq!(
            err("startswith(identities/x,'a')"),
            ODataError::UnsupportedFilter("identities/x".into())
        );
    }

    #[test]
    fn limits() {
        let nested = |n: usize| format!("{}a eq 1{}", "(".repeat(n), ")".repeat(n));
        parse(&nested(MAX_NESTING));
        assert!(matches!(
            err(&nested(MAX_NESTING + 1)),
            ODataError::FilterTooComplex(_)
        ));
        let nots = |n: usize| format!("{}a eq 1", "not ".repeat(n));
        parse(&nots(MAX_NESTING));
        assert!(matches!(
            err(&nots(MAX_NESTING + 1)),
            ODataError::FilterTooComplex(_)
        ));

        let clauses = |n: usize| vec!["a eq 1"; n].join(" or ");
        parse(&clauses(MAX_CLAUSES));
        let e = err(&clauses(MAX_CLAUSES + 1));
        assert!(matches!(e, ODataError::FilterTooComplex(_)), "{e:?}");
        assert_eq!(e.code(), "Request_UnsupportedQuery");

        let list = |n: usize| format!("a in ({})", vec!["'v'"; n].join(","));
        parse(&list(MAX_IN_VALUES));
        assert!(matches!(
            err(&list(MAX_IN_VALUES + 1)),
            ODataError::FilterTooComplex(_)
        ));

        let long = format!("a eq '{}'", "x".repeat(MAX_QUERY_BYTES - 7));
        assert_eq!(long.len(), MAX_QUERY_BYTES);
        parse_filter(&long).expect("exactly at the limit");
        let too_long = format!("a eq '{}'", "x".repeat(MAX_QUERY_BYTES - 6));
        assert_eq!(
            err(&too_long).to_string(),
            "Invalid filter clause: the expression is longer than 4096 bytes"
        );
    }

    #[test]
    fn hostile_input_fails_fast() {
        let start = Instant::now();
        for text in [
            "(".repeat(1000),
            "(".repeat(MAX_QUERY_BYTES),
            "not ".repeat(1000),
            format!("{}a eq 1", "not (".repeat(800)),
            "'".repeat(MAX_QUERY_BYTES - 1),
            format!("a eq '{}", "''".repeat(2000)),
            "a eq 1 and ".repeat(372),
            ")".repeat(MAX_QUERY_BYTES),
            "identities/any(".repeat(200),
            "a in (".repeat(600),
        ] {
            assert!(parse_filter(&text).is_err(), "{}", echo(&text));
        }
        assert!(parse_filter(&"(".repeat(1_000_000)).is_err());
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        // Escaped quotes are linear, and the value is right.
        let f = parse_filter(&format!("a eq '{}'", "''".repeat(2000))).expect("quotes");
        assert_eq!(f, cmp("a", CompareOp::Eq, s(&"'".repeat(2000))));
    }

    #[test]
    fn select() {
        assert_eq!(
            parse_select(" displayName, id ,mail,ID,displayName").expect("ok"),
            vec!["displayName", "id", "mail"]
        );
        assert_eq!(
            parse_select("signInActivity").expect("ok"),
            vec!["signInActivity"]
        );
        for bad in [
            "",
            "a,,b",
            "a,",
            "*",
            "manager/displayName",
            "a b",
            "1a",
            "dis-play",
        ] {
            let e = parse_select(bad).expect_err(bad);
            assert!(matches!(e, ODataError::InvalidSelect(_)), "{bad}");
            assert_eq!(e.code(), "Request_BadRequest");
        }
        assert_eq!(
            parse_select("id,manager/displayName")
                .expect_err("path")
                .to_string(),
            "Parsing OData Select and Expand failed: 'manager/displayName' in $select is not a supported property name."
        );
        assert!(parse_select(&"a,".repeat(MAX_QUERY_BYTES)).is_err());
    }

    #[test]
    fn orderby() {
        let ob = |p: &str, d: bool| OrderBy {
            property: p.into(),
            descending: d,
        };
        assert_eq!(
            parse_orderby("displayName").expect("ok"),
            vec![ob("displayName", false)]
        );
        assert_eq!(
            parse_orderby("displayName desc").expect("ok"),
            vec![ob("displayName", true)]
        );
        assert_eq!(
            parse_orderby(" a ASC , b  DESC").expect("ok"),
            vec![ob("a", false), ob("b", true)]
        );
        for bad in ["", "a,", "a desc desc", "a down", "a/b", "desc,", "a, ,b"] {
            let e = parse_orderby(bad).expect_err(bad);
            assert!(matches!(e, ODataError::InvalidOrderBy(_)), "{bad}");
            assert_eq!(e.code(), "Request_BadRequest");
        }
        assert_eq!(
            parse_orderby("displayName down")
                .expect_err("bad")
                .to_string(),
            "Invalid $orderby clause: expected 'asc' or 'desc' after 'displayName', found 'down'."
        );
    }

    #[test]
    fn top() {
        assert_eq!(parse_top("1"), Ok(1));
        assert_eq!(parse_top("999"), Ok(999));
        assert_eq!(parse_top("050"), Ok(50));
        for bad in [
            "0",
            "1000",
            "abc",
            "",
            "-1",
            "+5",
            " 5",
            "1.0",
            "99999999999999999999",
        ] {
            let e = parse_top(bad).expect_err(bad);
            assert_eq!(e.code(), "Request_UnsupportedQuery");
            assert_eq!(
                e.to_string(),
                format!(
                    "Invalid page size specified: '{bad}'. Must be between 1 and 999 inclusive."
                )
            );
        }
        assert_eq!(
            parse_top("1000").expect_err("big").to_string(),
            "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."
        );
        let long = "9".repeat(500);
        let shown = parse_top(&long).expect_err("long").to_string();
        assert!(shown.len() < 250, "{shown}");
    }

    #[test]
    fn caller_errors_have_graph_text() {
        let e = ODataError::UnsupportedFilterProperty {
            property: "createdDateTime".into(),
            resource: "Group".into(),
        };
        assert_eq!(e.code(), "Request_UnsupportedQuery");
        assert_eq!(
            e.to_string(),
            "Unsupported or invalid query filter clause specified for property 'createdDateTime' of resource 'Group'."
        );
        let e = ODataError::AdvancedQueryRequired {
            operator: "endsWith".into(),
        };
        assert_eq!(e.code(), "Request_UnsupportedQuery");
        assert_eq!(
            e.to_string(),
            "Operator 'endsWith' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information"
        );
        let e = ODataError::UnsupportedSortProperty {
            property: "createdDateTime".into(),
            resource: "User".into(),
        };
        assert_eq!(
            e.to_string(),
            "Unsupported sort property 'createdDateTime' for 'User'."
        );
        assert_eq!(e.code(), "Request_UnsupportedQuery");
        let e = ODataError::UnknownSelectProperty {
            property: "foo".into(),
            type_name: "microsoft.graph.user".into(),
        };
        assert_eq!(e.code(), "Request_BadRequest");
        assert_eq!(
            e.to_string(),
            "Parsing OData Select and Expand failed: Could not find a property named 'foo' on type 'microsoft.graph.user'."
        );
    }
}
