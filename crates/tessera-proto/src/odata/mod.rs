//! OData query options of the Graph subset (`$filter`, `$select`, `$orderby`, `$top`), parsed
//! from already URL-decoded text into small typed forms. Hostile input gets a Graph-shaped error,
//! never a panic; which properties and operators an endpoint allows is the caller's decision.

mod ast;
mod error;
mod filter;
mod lex;
mod options;
#[cfg(test)]
mod tests;

pub use ast::{CompareOp, Filter, Literal, OrderBy};
pub use error::ODataError;
pub use filter::parse_filter;
pub use options::{parse_orderby, parse_select, parse_top};

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
