//! The tail every collection handler shares: one page of rows after the `$skiptoken`
//! cursor, the absolute `@odata.nextLink` when more remain, `@odata.count` on the first
//! page when asked, in Graph's collection shape. Handlers decide what rows and JSON are.

use axum::response::Response;
use serde_json::Value;

use super::GraphResult;
use super::query::{ListOptions, page, page_in_memory};
use crate::state::AppState;
use crate::store::{BoxFuture, Cursor};

/// A page of a collection the store pages itself (keyset on the list order): `rows` were
/// fetched with `opts.store_query()`, one more than `$top`; `count` is awaited only when
/// the first page asks for `$count`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn from_store<T>(
    state: &AppState,
    opts: &ListOptions,
    path: &str,
    context: String,
    mut rows: Vec<T>,
    count: BoxFuture<'_, u64>,
    cursor: impl Fn(&T) -> Cursor,
    json: impl Fn(&T) -> Value,
) -> GraphResult {
    let next = opts.finish_page(state, path, &mut rows, cursor);
    let count = if opts.count && opts.first_page() {
        Some(count.await?)
    } else {
        None
    };
    Ok(page(context, count, next, rows.iter().map(json).collect()))
}

/// A page of a collection held in memory (applications, service principals, policies,
/// members), `items` as (id, JSON), paged by id.
pub(crate) fn from_memory(
    state: &AppState,
    opts: &ListOptions,
    path: &str,
    context: String,
    items: Vec<(String, Value)>,
) -> Response {
    let (value, next) = page_in_memory(opts, items);
    let next = next.map(|c| opts.next_link(state, path, &c));
    page(context, None, next, value)
}
