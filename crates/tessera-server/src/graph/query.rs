//! OData query options as Graph's directory endpoints take them: `$select`, `$top` (1-999,
//! default 100), `$filter`, `$orderby`, `$count` with `ConsistencyLevel: eventual`, and
//! paging by an opaque `$skiptoken` inside an absolute `@odata.nextLink` that keeps the
//! other options.

use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value};
use tessera_proto::b64;
use tessera_proto::odata::{self, CompareOp, Filter};

use super::{GraphError, json_response};
use crate::state::AppState;
use crate::store::{Cursor, ListOrder};

pub(crate) const DEFAULT_TOP: u32 = 100;

/// What an entity allows in each option.
pub(crate) struct Entity {
    /// Graph resource name in error messages (`User`, `Group`).
    pub(crate) name: &'static str,
    pub(crate) selectable: &'static [&'static str],
    pub(crate) filterable: &'static [&'static str],
    /// Whether `$orderby=displayName` is supported.
    pub(crate) orderable: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ListOptions {
    pub(crate) select: Option<Vec<String>>,
    pub(crate) top: u32,
    pub(crate) filter: Option<Filter>,
    pub(crate) order: Option<ListOrder>,
    /// `$count=true` with `ConsistencyLevel: eventual` (ignored without the header, as Graph does).
    pub(crate) count: bool,
    pub(crate) after: Option<Cursor>,
    /// The query's pairs other than `$skiptoken`, for the nextLink.
    pairs: Vec<(String, String)>,
}

/// `ConsistencyLevel: eventual` was sent.
pub(crate) fn eventual(headers: &HeaderMap) -> bool {
    headers
        .get("consistencylevel")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("eventual"))
}

/// The operator that makes a filter an advanced query, if any.
fn advanced_operator(f: &Filter) -> Option<&'static str> {
    match f {
        Filter::Compare {
            op: CompareOp::Ne, ..
        } => Some("ne"),
        Filter::Not(_) => Some("not"),
        Filter::EndsWith { .. } => Some("endsWith"),
        Filter::And(a, b) | Filter::Or(a, b) => {
            advanced_operator(a).or_else(|| advanced_operator(b))
        }
        _ => None,
    }
}

fn odata_error(e: &odata::ODataError) -> GraphError {
    GraphError::new(axum::http::StatusCode::BAD_REQUEST, e.code(), e.to_string())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SkipToken {
    /// The order the walk uses: "id", "dn" (displayName), "dnd" (displayName desc).
    o: String,
    #[serde(flatten)]
    cursor: Cursor,
}

fn order_tag(order: ListOrder) -> &'static str {
    match order {
        ListOrder::Id => "id",
        ListOrder::DisplayName { descending: false } => "dn",
        ListOrder::DisplayName { descending: true } => "dnd",
    }
}

/// Skip tokens are opaque and signed with the server's key: a changed token is refused,
/// never followed.
pub(crate) fn encode_skiptoken(state: &AppState, order: ListOrder, cursor: &Cursor) -> String {
    let t = SkipToken {
        o: order_tag(order).to_owned(),
        cursor: cursor.clone(),
    };
    let body = b64::url_encode(serde_json::to_vec(&t).unwrap_or_default());
    let tag = state.flow_key.tag("graph skiptoken", body.as_bytes());
    format!("{body}.{}", b64::url_encode(&tag[..16]))
}

fn decode_skiptoken(state: &AppState, text: &str, order: ListOrder) -> Result<Cursor, GraphError> {
    let invalid = || GraphError::bad_request("The $skiptoken is not valid for this request.");
    let (body, tag) = text.split_once('.').ok_or_else(invalid)?;
    let tag = b64::url_decode(tag).ok_or_else(invalid)?;
    let full = state.flow_key.tag("graph skiptoken", body.as_bytes());
    if tag.len() != 16 || !crate::crypto::digests_equal(&full[..16], &tag) {
        return Err(invalid());
    }
    let bytes = b64::url_decode(body).ok_or_else(invalid)?;
    let t: SkipToken = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if t.o != order_tag(order) {
        return Err(invalid());
    }
    Ok(t.cursor)
}

/// `$search`: quoted `"property:term"` clauses joined by `AND` or `OR` (left to right),
/// each matching a word of the property that starts with the term, as Graph's tokenized
/// search does on directory objects (graph-api research notes §2.3: `$search` needs
/// `ConsistencyLevel: eventual`, `$count` is not required with it).
fn parse_search(text: &str, entity: &Entity) -> Result<Filter, GraphError> {
    // Graph's wording for a malformed $search is UNCONFIRMED; this one says what is valid.
    let invalid = || {
        GraphError::bad_request(format!(
            "Invalid $search '{}': use quoted \"property:term\" clauses joined by AND or OR.",
            text.chars().take(100).collect::<String>()
        ))
    };
    let mut result: Option<Filter> = None;
    let mut joiner: Option<bool> = None; // Some(true): AND, Some(false): OR
    let mut rest = text.trim();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('"') {
            let (clause, tail) = after.split_once('"').ok_or_else(invalid)?;
            rest = tail.trim_start();
            let (property, term) = clause.split_once(':').ok_or_else(invalid)?;
            let (property, term) = (property.trim(), term.trim());
            if term.is_empty() {
                return Err(invalid());
            }
            if !entity
                .filterable
                .iter()
                .any(|p| p.eq_ignore_ascii_case(property))
            {
                return Err(GraphError::bad_request(format!(
                    "Unsupported or invalid query search clause specified for property '{}' of resource '{}'.",
                    property.chars().take(100).collect::<String>(),
                    entity.name
                )));
            }
            let clause = Filter::WordPrefix {
                property: property.to_owned(),
                prefix: term.to_owned(),
            };
            result = Some(match (result.take(), joiner.take()) {
                (None, None) => clause,
                (Some(l), Some(true)) => Filter::And(Box::new(l), Box::new(clause)),
                (Some(l), Some(false)) => Filter::Or(Box::new(l), Box::new(clause)),
                _ => return Err(invalid()),
            });
        } else {
            let (word, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            joiner = match (word, &result, joiner) {
                ("AND", Some(_), None) => Some(true),
                ("OR", Some(_), None) => Some(false),
                _ => return Err(invalid()),
            };
            rest = tail.trim_start();
        }
    }
    match (result, joiner) {
        (Some(f), None) => Ok(f),
        _ => Err(invalid()),
    }
}

impl ListOptions {
    /// Parses and validates the raw query string against `entity`.
    pub(crate) fn parse(
        state: &AppState,
        query: Option<&str>,
        headers: &HeaderMap,
        entity: &Entity,
    ) -> Result<Self, GraphError> {
        let mut o = ListOptions {
            top: DEFAULT_TOP,
            ..Default::default()
        };
        let advanced_header = eventual(headers);
        let mut seen: Vec<String> = Vec::new();
        let mut skiptoken = None;
        let mut count_requested = false;
        let mut orderby = None;
        let mut search = None;
        let mut searched = None;
        for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let key = k.to_ascii_lowercase();
            if key.starts_with('$') {
                if seen.contains(&key) {
                    return Err(GraphError::bad_request(format!(
                        "Query option '{k}' was specified more than once, but it must be specified at most once."
                    )));
                }
                seen.push(key.clone());
            }
            match key.as_str() {
                "$select" => {
                    let props = odata::parse_select(&v).map_err(|e| odata_error(&e))?;
                    for p in &props {
                        if !entity.selectable.iter().any(|s| s.eq_ignore_ascii_case(p)) {
                            return Err(GraphError::bad_request(format!(
                                "Parsing OData Select and Expand failed: Could not find a property named '{p}' on type 'microsoft.graph.{}'.",
                                entity.name.to_ascii_lowercase()
                            )));
                        }
                    }
                    o.select = Some(props);
                }
                "$top" => o.top = odata::parse_top(&v).map_err(|e| odata_error(&e))?,
                "$filter" => {
                    let f = odata::parse_filter(&v).map_err(|e| odata_error(&e))?;
                    for p in f.properties() {
                        if !entity.filterable.iter().any(|s| s.eq_ignore_ascii_case(p)) {
                            return Err(GraphError::unsupported_query(format!(
                                "Unsupported or invalid query filter clause specified for property '{p}' of resource '{}'.",
                                entity.name
                            )));
                        }
                    }
                    o.filter = Some(f);
                }
                "$orderby" => orderby = Some(v.to_string()),
                "$count" => count_requested = v.eq_ignore_ascii_case("true"),
                "$skiptoken" => skiptoken = Some(v.to_string()),
                "$skip" => {
                    return Err(GraphError::bad_request(
                        "'$skip' is not supported by the service.",
                    ));
                }
                "$search" => search = Some(v.to_string()),
                "$expand" | "$apply" | "$compute" => {
                    return Err(GraphError::unsupported_query(format!(
                        "The query option '{k}' is not supported by tessera's Graph subset."
                    )));
                }
                _ => {}
            }
            if key != "$skiptoken" {
                o.pairs.push((k.into_owned(), v.into_owned()));
            }
        }
        if let Some(text) = search {
            if !advanced_header {
                // Graph's answer, as the research notes record it (graph-api.md §2.3).
                return Err(GraphError::unsupported_query(
                    "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
                ));
            }
            searched = Some(parse_search(&text, entity)?);
        }
        let advanced = advanced_header && count_requested;
        if let Some(op) = o.filter.as_ref().and_then(advanced_operator)
            && !advanced
        {
            return Err(GraphError::unsupported_query(format!(
                "Operator '{op}' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information"
            )));
        }
        if let Some(text) = orderby {
            let parsed = odata::parse_orderby(&text).map_err(|e| odata_error(&e))?;
            let [only] = parsed.as_slice() else {
                return Err(GraphError::unsupported_query(
                    "Sorting by more than one property is not supported.",
                ));
            };
            if !entity.orderable || !only.property.eq_ignore_ascii_case("displayName") {
                return Err(GraphError::unsupported_query(format!(
                    "Order by '{}' is not supported.",
                    only.property
                )));
            }
            if o.filter.is_some() && !advanced {
                // Graph needs an advanced query to combine $filter and $orderby (wording UNCONFIRMED).
                return Err(GraphError::unsupported_query(
                    "Sorting not supported for current query.",
                ));
            }
            o.order = Some(ListOrder::DisplayName {
                descending: only.descending,
            });
        }
        // After the $orderby checks: $search makes an advanced query by its header alone.
        if let Some(s) = searched {
            o.filter = Some(match o.filter.take() {
                Some(f) => Filter::And(Box::new(f), Box::new(s)),
                None => s,
            });
        }
        o.count = advanced_header && count_requested;
        if let Some(t) = skiptoken {
            o.after = Some(decode_skiptoken(state, &t, o.list_order())?);
        }
        Ok(o)
    }

    pub(crate) fn list_order(&self) -> ListOrder {
        self.order.unwrap_or(ListOrder::Id)
    }

    /// True on the walk's first page (no `$skiptoken`).
    pub(crate) fn first_page(&self) -> bool {
        self.after.is_none()
    }

    /// The absolute nextLink continuing after `cursor`.
    pub(crate) fn next_link(
        &self,
        state: &AppState,
        base_and_path: &str,
        cursor: &Cursor,
    ) -> String {
        let mut link = String::from(base_and_path);
        link.push('?');
        for (k, v) in &self.pairs {
            link.push_str(&encode(k));
            link.push('=');
            link.push_str(&encode(v));
            link.push('&');
        }
        link.push_str("$skiptoken=");
        link.push_str(&encode_skiptoken(state, self.list_order(), cursor));
        link
    }

    /// `@odata.context` for a collection, with the selection when there is one.
    pub(crate) fn context(&self, graph_base: &str, set: &str) -> String {
        match &self.select {
            Some(s) => format!("{graph_base}/$metadata#{set}({})", s.join(",")),
            None => format!("{graph_base}/$metadata#{set}"),
        }
    }
}

/// Percent-encodes a query component, keeping the characters OData links show literally.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~$(),'/:@!*".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl ListOptions {
    /// The store query for one keyset page: one row more than `$top`, to know whether
    /// another page follows.
    pub(crate) fn store_query(&self) -> crate::store::ListQuery {
        crate::store::ListQuery {
            filter: self.filter.clone(),
            order: self.list_order(),
            after: self.after.clone(),
            limit: self.top + 1,
        }
    }

    /// Trims a page fetched with [`store_query`](Self::store_query) to `$top` and returns the
    /// nextLink when rows remain, continuing after the last row's `cursor`.
    pub(crate) fn finish_page<T>(
        &self,
        state: &AppState,
        path: &str,
        rows: &mut Vec<T>,
        cursor: impl Fn(&T) -> Cursor,
    ) -> Option<String> {
        let more = rows.len() > self.top as usize;
        rows.truncate(self.top as usize);
        if more {
            rows.last().map(|r| self.next_link(state, path, &cursor(r)))
        } else {
            None
        }
    }
}

/// The options of a `/$count` request: Graph answers it only as an advanced query
/// (`ConsistencyLevel: eventual`).
pub(crate) fn count_options(
    state: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
    entity: &Entity,
) -> Result<ListOptions, GraphError> {
    if !eventual(headers) {
        return Err(GraphError::bad_request(
            "$count is not currently supported.",
        ));
    }
    ListOptions::parse(state, query, headers, entity)
}

/// `/$count`: the number as `text/plain`, as Graph answers it.
pub(crate) fn count_response(n: u64) -> Response {
    use axum::response::IntoResponse as _;
    let mut r = n.to_string().into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain"),
    );
    r
}

/// A collection page in Graph's shape.
pub(crate) fn page(
    context: String,
    count: Option<u64>,
    next: Option<String>,
    value: Vec<Value>,
) -> Response {
    let mut body = Map::new();
    body.insert("@odata.context".into(), Value::String(context));
    if let Some(c) = count {
        body.insert("@odata.count".into(), Value::from(c));
    }
    if let Some(n) = next {
        body.insert("@odata.nextLink".into(), Value::String(n));
    }
    body.insert("value".into(), Value::Array(value));
    json_response(axum::http::StatusCode::OK, &Value::Object(body))
}

/// Pages an in-memory collection sorted by id (applications, service principals, members).
pub(crate) fn page_in_memory(
    opts: &ListOptions,
    mut items: Vec<(String, Value)>,
) -> (Vec<Value>, Option<Cursor>) {
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let start = opts.after.as_ref().map_or(0, |c| {
        items.partition_point(|(id, _)| id.as_str() <= c.id.as_str())
    });
    let rest: Vec<(String, Value)> = items.into_iter().skip(start).collect();
    let top = opts.top as usize;
    let next = (rest.len() > top).then(|| Cursor {
        display_name: None,
        id: rest[top - 1].0.clone(),
    });
    (rest.into_iter().take(top).map(|(_, v)| v).collect(), next)
}
