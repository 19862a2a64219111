//! The `$filter` parser: recursive descent over the tokens, `or` < `and` < `not` < a
//! condition or `( ... )`, with nesting and clause counts bounded.

use super::ast::{CompareOp, Filter, Literal};
use super::error::{ODataError, echo};
use super::lex::{Kind, Token, char_pos, describe, is_reserved, lex, unsupported_clause};
use super::{MAX_CLAUSES, MAX_IN_VALUES, MAX_NESTING, MAX_QUERY_BYTES};

/// Recursive descent over the tokens: `or` < `and` < `not` < condition or `( ... )`.
/// Recursion happens only through parentheses and `not`, both counted in `depth`, so the
/// stack stays small whatever the input.
pub(super) struct Parser<'a> {
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
