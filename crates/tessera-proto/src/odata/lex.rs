//! The `$filter` lexer: identifiers, quoted strings, integers and punctuation into tokens,
//! with character positions for messages; what the subset does not handle is named.

use super::error::{ODataError, echo};

pub(super) fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

pub(super) fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
pub(super) fn is_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(is_ident_start) && bytes.all(is_ident_byte)
}

/// Words that cannot be property names, so `a eq 'x' and or b eq 'y'` is an error rather than
/// a comparison on a property called `or`.
pub(super) fn is_reserved(word: &str) -> bool {
    const RESERVED: &[&str] = &[
        "and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "in", "true", "false", "null",
    ];
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}

/// End of the run of bytes from `from` that satisfy `keep`.
pub(super) fn scan(bytes: &[u8], from: usize, keep: impl Fn(u8) -> bool) -> usize {
    let mut i = from;
    while bytes.get(i).is_some_and(|&b| keep(b)) {
        i += 1;
    }
    i
}

/// Character offset (0-based) of byte offset `byte`, for messages a client can act on.
pub(super) fn char_pos(text: &str, byte: usize) -> usize {
    text.get(..byte).map_or(0, |s| s.chars().count())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind<'a> {
    LParen,
    RParen,
    Comma,
    Word(&'a str),
    Str(String),
    Int(i64),
}

#[derive(Debug)]
pub(super) struct Token<'a> {
    pub(super) kind: Kind<'a>,
    /// Byte offset in the filter text.
    pub(super) at: usize,
}

pub(super) fn describe(kind: Option<&Kind<'_>>) -> String {
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
pub(super) fn unsupported_clause(text: &str, start: usize) -> ODataError {
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
pub(super) fn lex_string(text: &str, open: usize) -> Result<(String, usize), ODataError> {
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
pub(super) fn lex_integer(text: &str, start: usize) -> Result<(i64, usize), ODataError> {
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

pub(super) fn lex(text: &str) -> Result<Vec<Token<'_>>, ODataError> {
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
