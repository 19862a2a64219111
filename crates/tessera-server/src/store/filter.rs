//! Translates a parsed OData `$filter` into a SQL condition over an entity's searchable
//! columns, with every value bound as a parameter. String comparisons are
//! case-insensitive, as Graph's are for directory properties.

use tessera_proto::odata::{CompareOp, Filter, Literal};

/// A bound parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnKind {
    /// Free text compared case-insensitively through `lower()`.
    Text,
    /// A column stored lower-cased (ids, user principal names): compared directly, so the
    /// index serves `eq`.
    Lower,
    Bool,
}

/// Graph property name, SQL column, kind.
pub(crate) type Columns = &'static [(&'static str, &'static str, ColumnKind)];

pub(crate) const USER_COLUMNS: Columns = &[
    ("id", "id", ColumnKind::Lower),
    ("userPrincipalName", "upn", ColumnKind::Lower),
    ("displayName", "display_name", ColumnKind::Text),
    ("givenName", "given_name", ColumnKind::Text),
    ("surname", "surname", ColumnKind::Text),
    ("mail", "mail", ColumnKind::Text),
    ("accountEnabled", "account_enabled", ColumnKind::Bool),
];

pub(crate) const GROUP_COLUMNS: Columns = &[
    ("id", "id", ColumnKind::Lower),
    ("displayName", "display_name", ColumnKind::Text),
];

pub(crate) struct Translated {
    pub(crate) sql: String,
    pub(crate) params: Vec<Param>,
}

fn column(columns: Columns, property: &str) -> Result<(&'static str, ColumnKind), String> {
    columns
        .iter()
        .find(|(p, _, _)| p.eq_ignore_ascii_case(property))
        .map(|(_, c, k)| (*c, *k))
        .ok_or_else(|| format!("property '{property}' cannot be filtered"))
}

fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

struct Builder<'a> {
    columns: Columns,
    params: Vec<Param>,
    /// Placeholder number of the first parameter (`$N`).
    first: usize,
    sql: &'a mut String,
}

impl Builder<'_> {
    fn placeholder(&mut self, p: Param) -> String {
        self.params.push(p);
        format!("${}", self.first + self.params.len() - 1)
    }

    fn value(&mut self, kind: ColumnKind, lit: &Literal) -> Result<String, String> {
        match (kind, lit) {
            (ColumnKind::Bool, Literal::Bool(b)) => Ok(self.placeholder(Param::Int(i64::from(*b)))),
            (ColumnKind::Text | ColumnKind::Lower, Literal::String(s)) => {
                Ok(self.placeholder(Param::Text(s.to_lowercase())))
            }
            _ => Err("a value's type does not match its property".into()),
        }
    }

    fn lhs(column: &str, kind: ColumnKind) -> String {
        match kind {
            ColumnKind::Text => format!("lower({column})"),
            ColumnKind::Lower | ColumnKind::Bool => column.to_owned(),
        }
    }

    fn emit(&mut self, f: &Filter) -> Result<(), String> {
        match f {
            Filter::Compare {
                property,
                op,
                value,
            } => {
                let (col, kind) = column(self.columns, property)?;
                let negate = match op {
                    CompareOp::Eq => false,
                    CompareOp::Ne => true,
                    _ => return Err("only eq and ne comparisons are supported".into()),
                };
                if matches!(value, Literal::Null) {
                    self.sql.push_str(&format!(
                        "{col} IS {}NULL",
                        if negate { "NOT " } else { "" }
                    ));
                    return Ok(());
                }
                let v = self.value(kind, value)?;
                let lhs = Self::lhs(col, kind);
                if negate {
                    self.sql
                        .push_str(&format!("({col} IS NULL OR {lhs} <> {v})"));
                } else {
                    self.sql.push_str(&format!("{lhs} = {v}"));
                }
            }
            Filter::In { property, values } => {
                let (col, kind) = column(self.columns, property)?;
                if values.is_empty() {
                    self.sql.push_str("1 = 0");
                    return Ok(());
                }
                let mut list = Vec::with_capacity(values.len());
                for v in values {
                    list.push(self.value(kind, v)?);
                }
                self.sql.push_str(&format!(
                    "{} IN ({})",
                    Self::lhs(col, kind),
                    list.join(", ")
                ));
            }
            Filter::StartsWith { property, prefix } => {
                let (col, kind) = column(self.columns, property)?;
                if kind == ColumnKind::Bool {
                    return Err("startswith needs a text property".into());
                }
                let p = self.placeholder(Param::Text(format!("{}%", like_escape(prefix))));
                self.sql
                    .push_str(&format!("{} LIKE {p} ESCAPE '\\'", Self::lhs(col, kind)));
            }
            Filter::EndsWith { property, suffix } => {
                let (col, kind) = column(self.columns, property)?;
                if kind == ColumnKind::Bool {
                    return Err("endswith needs a text property".into());
                }
                let p = self.placeholder(Param::Text(format!("%{}", like_escape(suffix))));
                self.sql
                    .push_str(&format!("{} LIKE {p} ESCAPE '\\'", Self::lhs(col, kind)));
            }
            Filter::WordPrefix { property, prefix } => {
                let (col, kind) = column(self.columns, property)?;
                if kind == ColumnKind::Bool {
                    return Err("$search needs a text property".into());
                }
                // The first word, or one after a space (Graph's tokens; punctuation inside a
                // word is rare in names and not split here).
                let first = self.placeholder(Param::Text(format!("{}%", like_escape(prefix))));
                let later = self.placeholder(Param::Text(format!("% {}%", like_escape(prefix))));
                let lhs = Self::lhs(col, kind);
                self.sql.push_str(&format!(
                    "({lhs} LIKE {first} ESCAPE '\\' OR {lhs} LIKE {later} ESCAPE '\\')"
                ));
            }
            Filter::And(a, b) | Filter::Or(a, b) => {
                let joiner = if matches!(f, Filter::And(..)) {
                    " AND "
                } else {
                    " OR "
                };
                self.sql.push('(');
                self.emit(a)?;
                self.sql.push_str(joiner);
                self.emit(b)?;
                self.sql.push(')');
            }
            Filter::Not(inner) => {
                self.sql.push_str("NOT (");
                self.emit(inner)?;
                self.sql.push(')');
            }
        }
        Ok(())
    }
}

/// Translates `filter` into a condition whose placeholders start at `$first`.
pub(crate) fn translate(
    filter: &Filter,
    columns: Columns,
    first: usize,
) -> Result<Translated, String> {
    let mut sql = String::new();
    let mut b = Builder {
        columns,
        params: Vec::new(),
        first,
        sql: &mut sql,
    };
    b.emit(filter)?;
    let params = b.params;
    Ok(Translated { sql, params })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_proto::odata::parse_filter;

    fn t(text: &str) -> Result<Translated, String> {
        translate(
            &parse_filter(text).map_err(|e| e.to_string())?,
            USER_COLUMNS,
            3,
        )
    }

    #[test]
    fn translates_with_bound_parameters() {
        let r = t("startswith(displayName,'Al_') and accountEnabled eq true").expect("ok");
        assert_eq!(
            r.sql,
            "(lower(display_name) LIKE $3 ESCAPE '\\' AND account_enabled = $4)"
        );
        assert_eq!(r.params, vec![Param::Text("al\\_%".into()), Param::Int(1)]);
        let r = t("userPrincipalName in ('A@x','b@x') or mail eq null").expect("ok");
        assert_eq!(r.sql, "(upn IN ($3, $4) OR mail IS NULL)");
        assert_eq!(
            r.params,
            vec![Param::Text("a@x".into()), Param::Text("b@x".into())]
        );
        let r = t("not (surname ne 'O''Brien')").expect("ok");
        assert_eq!(r.sql, "NOT ((surname IS NULL OR lower(surname) <> $3))");
        assert_eq!(r.params, vec![Param::Text("o'brien".into())]);
    }

    #[test]
    fn refuses_unknown_properties_and_type_mismatches() {
        assert!(t("jobTitle eq 'x'").is_err());
        assert!(t("accountEnabled eq 'yes'").is_err());
        assert!(t("displayName eq true").is_err());
        assert!(t("displayName gt 'a'").is_err());
    }
}
