//! `/groups`, `/groups/{id}`, `/groups/{id}/members` and `/groups/$count`.

use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::{Map, Value, json};

use super::auth::{Caller, Rows};
use super::query::{Entity, ListOptions};
use super::users::member_json;
use super::{GraphError, GraphResult, Shared, graph_base, graph_time, json_response};
use crate::store::{Cursor, Group};

const READ: Rows = &[
    &["GroupMember.Read.All"],
    &["Group.Read.All"],
    &["Directory.Read.All"],
    &["Group.ReadWrite.All"],
    &["Directory.ReadWrite.All"],
];

pub(crate) const ENTITY: Entity = Entity {
    name: "Group",
    selectable: &[
        "id",
        "deletedDateTime",
        "classification",
        "createdDateTime",
        "description",
        "displayName",
        "groupTypes",
        "mail",
        "mailEnabled",
        "mailNickname",
        "securityEnabled",
        "visibility",
    ],
    filterable: &["id", "displayName"],
    orderable: true,
};

pub(crate) fn group_json(g: &Group, select: Option<&[String]>) -> Map<String, Value> {
    let extra = |k: &str, default: Value| g.extra.get(k).cloned().unwrap_or(default);
    let mut all = Map::new();
    all.insert("id".into(), json!(g.id));
    all.insert("deletedDateTime".into(), Value::Null);
    all.insert(
        "classification".into(),
        extra("classification", Value::Null),
    );
    all.insert("createdDateTime".into(), graph_time(g.created_at));
    all.insert("description".into(), extra("description", Value::Null));
    all.insert("displayName".into(), json!(g.display_name));
    all.insert("groupTypes".into(), extra("groupTypes", json!([])));
    all.insert("mail".into(), extra("mail", Value::Null));
    all.insert("mailEnabled".into(), extra("mailEnabled", json!(false)));
    all.insert("mailNickname".into(), extra("mailNickname", Value::Null));
    all.insert(
        "securityEnabled".into(),
        extra("securityEnabled", json!(true)),
    );
    all.insert("visibility".into(), extra("visibility", Value::Null));
    super::project(all, select)
}

pub(crate) async fn list(
    state: Shared,
    caller: Caller,
    RawQuery(q): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    caller.require(READ, READ)?;
    let state = state.0;
    let opts = ListOptions::parse(&state, q.as_deref(), &headers, &ENTITY)?;
    let base = graph_base(&state, &headers, &uri);
    let groups = state
        .store()
        .list_groups(&caller.tenant.id, &opts.store_query())
        .await?;
    let count = state
        .store()
        .count_groups(&caller.tenant.id, opts.filter.as_ref());
    super::list::from_store(
        &state,
        &opts,
        &format!("{base}/groups"),
        opts.context(&base, "groups"),
        groups,
        count,
        |x| Cursor {
            display_name: Some(x.display_name.clone()),
            id: x.id.clone(),
        },
        |g| Value::Object(group_json(g, opts.select.as_deref())),
    )
    .await
}

pub(crate) async fn count(
    state: Shared,
    caller: Caller,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> GraphResult {
    caller.require(READ, READ)?;
    let opts = super::query::count_options(&state.0, q.as_deref(), &headers, &ENTITY)?;
    let n = state
        .0
        .store()
        .count_groups(&caller.tenant.id, opts.filter.as_ref())
        .await?;
    Ok(super::query::count_response(n))
}

pub(crate) async fn find(
    state: &crate::state::AppState,
    caller: &Caller,
    id: &str,
) -> Result<Group, GraphError> {
    state
        .store()
        .group(&caller.tenant.id, id)
        .await?
        .ok_or_else(|| GraphError::not_found(id))
}

pub(crate) async fn get(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    caller.require(READ, READ)?;
    let state = state.0;
    let group = find(&state, &caller, &id).await?;
    let opts = ListOptions::parse(&state, q.as_deref(), &headers, &ENTITY)?;
    let base = graph_base(&state, &headers, &uri);
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!("{base}/$metadata#groups/$entity")),
    );
    body.extend(group_json(&group, opts.select.as_deref()));
    Ok(json_response(StatusCode::OK, &Value::Object(body)))
}

pub(crate) async fn members(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    caller.require(READ, READ)?;
    let state = state.0;
    let group = find(&state, &caller, &id).await?;
    let opts = ListOptions::parse(&state, q.as_deref(), &headers, &super::users::ENTITY)?;
    let base = graph_base(&state, &headers, &uri);
    let mut items = Vec::new();
    for member in &group.members {
        if let Some(u) = state.directory.user(&caller.tenant.id, member).await? {
            items.push((u.id.clone(), member_json(&u, opts.select.as_deref())));
        }
    }
    Ok(super::list::from_memory(
        &state,
        &opts,
        &format!("{base}/groups/{}/members", group.id),
        format!("{base}/$metadata#directoryObjects"),
        items,
    ))
}
