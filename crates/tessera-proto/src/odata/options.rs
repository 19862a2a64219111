//! The other query options: `$select`, `$orderby` and `$top`.

use std::collections::HashSet;

use super::ast::OrderBy;
use super::error::{ODataError, echo};
use super::lex::is_identifier;
use super::{MAX_PAGE_SIZE, MAX_QUERY_BYTES};

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
