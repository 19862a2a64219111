//! A refused query option: the Graph error `code` and `message` for each way a query can be
//! wrong, with client text echoed only in part.

use super::ECHO_CHARS;

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
pub(super) fn echo(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(ECHO_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}
