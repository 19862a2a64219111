//! Writes to `/groups` an admin script makes: create, update, delete, members and owners
//! added and removed by `$ref`, and `memberOf` on users and `/me`.
//!
//! Source: Microsoft Graph v1.0 reference, "Create group", "Update group", "Delete group",
//! "Add members", "Remove member", "List memberOf" (learn.microsoft.com/graph/api/
//! group-post-groups and siblings): Group.ReadWrite.All to create, update and delete;
//! GroupMember.ReadWrite.All (or Group.ReadWrite.All) for members; `$ref` bodies name the
//! object as `{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/{id}"}`;
//! success is 201 (create) or 204. Groups here hold users only, and owners are kept with
//! the group's other properties.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::{Map, Value, json};
use tessera_proto::clock::Clock as _;

use super::auth::{Caller, Rows};
use super::groups::{find, group_json};
use super::query::ListOptions;
use super::{
    GraphError, GraphResult, Shared, graph_base, json_object, json_response, no_content,
    property_required, required_str,
};
use crate::crypto;
use crate::state::AppState;
use crate::store::{Cursor, Group, ListOrder, ListQuery};

const WRITE: Rows = &[&["Group.ReadWrite.All"], &["Directory.ReadWrite.All"]];
const WRITE_DELEGATED: Rows = &[
    &["Group.ReadWrite.All"],
    &["Directory.ReadWrite.All"],
    &["Directory.AccessAsUser.All"],
];
const MEMBERS: Rows = &[
    &["GroupMember.ReadWrite.All"],
    &["Group.ReadWrite.All"],
    &["Directory.ReadWrite.All"],
];
const READ_MEMBERSHIP: Rows = &[
    &["GroupMember.Read.All"],
    &["Group.Read.All"],
    &["Directory.Read.All"],
    &["GroupMember.ReadWrite.All"],
    &["Group.ReadWrite.All"],
    &["Directory.ReadWrite.All"],
];
/// Properties kept as they were sent, beside the display name.
const KEPT: &[&str] = &[
    "description",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
    "groupTypes",
    "visibility",
    "classification",
];

fn apply(group: &mut Group, body: &Map<String, Value>) -> Result<(), GraphError> {
    for (k, v) in body {
        match k.as_str() {
            "displayName" => {
                group.display_name = v
                    .as_str()
                    .ok_or_else(|| {
                        GraphError::bad_request("Invalid value for property 'displayName'.")
                    })?
                    .to_owned();
            }
            k if KEPT.contains(&k) => {
                group.extra.insert(k.to_owned(), v.clone());
            }
            // Bindings are read by `create`; annotations are not properties.
            k if k.contains("@odata.") => {}
            other => {
                let shown: String = other.chars().take(100).collect();
                return Err(GraphError::bad_request(format!(
                    "Property '{shown}' does not exist as a declared property or extension property."
                )));
            }
        }
    }
    Ok(())
}

/// The object id a `$ref` or `@odata.bind` URL names (`.../directoryObjects/{id}` or
/// `.../users/{id}`).
fn referenced_id(url: &str) -> Option<&str> {
    let (collection, id) = url.trim_end_matches('/').rsplit_once('/')?;
    let collection = collection.rsplit('/').next()?;
    (["directoryObjects", "users"].contains(&collection) && !id.is_empty()).then_some(id)
}

/// Resolves user references to ids, each a user of the caller's tenant.
async fn users_named(
    state: &AppState,
    caller: &Caller,
    refs: &[&str],
) -> Result<Vec<String>, GraphError> {
    let mut ids = Vec::new();
    for r in refs {
        let Some(id) = referenced_id(r) else {
            return Err(GraphError::bad_request(format!(
                "Invalid object identifier '{}'.",
                r.chars().take(200).collect::<String>()
            )));
        };
        let user = super::users::find(state, caller, id).await?;
        ids.push(user.id);
    }
    Ok(ids)
}

/// `POST /groups`, with `members@odata.bind` and `owners@odata.bind` as Graph takes them.
pub(crate) async fn create(
    state: Shared,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> GraphResult {
    caller.require(WRITE, WRITE_DELEGATED)?;
    let state = state.0;
    let body = json_object(&body)?;
    for required in [
        "displayName",
        "mailEnabled",
        "mailNickname",
        "securityEnabled",
    ] {
        if !body.contains_key(required) {
            return Err(property_required(required));
        }
    }
    required_str(&body, "displayName")?;
    let binds = |key: &str| -> Vec<String> {
        body.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (members, owners) = (binds("members@odata.bind"), binds("owners@odata.bind"));
    let mut group = Group {
        tenant_id: caller.tenant.id.clone(),
        id: crypto::random_guid(state.random.as_ref()),
        display_name: String::new(),
        members: Vec::new(),
        created_at: state.clock.unix(),
        extra: Default::default(),
    };
    apply(&mut group, &body)?;
    let member_refs: Vec<&str> = members.iter().map(String::as_str).collect();
    group.members = users_named(&state, &caller, &member_refs).await?;
    let owner_refs: Vec<&str> = owners.iter().map(String::as_str).collect();
    let owner_ids = users_named(&state, &caller, &owner_refs).await?;
    if !owner_ids.is_empty() {
        group.extra.insert("owners".into(), json!(owner_ids));
    }
    state.store().put_group(group.clone()).await?;
    let base = graph_base(&state, &headers, &uri);
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!("{base}/$metadata#groups/$entity")),
    );
    m.extend(group_json(&group, None));
    Ok(json_response(StatusCode::CREATED, &Value::Object(m)))
}

/// `PATCH /groups/{id}`.
pub(crate) async fn update(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> GraphResult {
    caller.require(WRITE, WRITE_DELEGATED)?;
    let state = state.0;
    let body = json_object(&body)?;
    let mut group = find(&state, &caller, &id).await?;
    apply(&mut group, &body)?;
    state.store().put_group(group).await?;
    Ok(no_content())
}

/// `DELETE /groups/{id}`.
pub(crate) async fn delete(state: Shared, caller: Caller, Path(id): Path<String>) -> GraphResult {
    caller.require(WRITE, WRITE_DELEGATED)?;
    let state = state.0;
    let group = find(&state, &caller, &id).await?;
    state
        .store()
        .delete_group(&group.tenant_id, &group.id)
        .await?;
    Ok(no_content())
}

/// Which list of a group a `$ref` changes.
#[derive(Clone, Copy)]
enum Link {
    Members,
    Owners,
}

impl Link {
    fn ids(self, group: &Group) -> Vec<String> {
        match self {
            Self::Members => group.members.clone(),
            Self::Owners => group
                .extra
                .get("owners")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default(),
        }
    }

    fn set(self, group: &mut Group, ids: Vec<String>) {
        match self {
            Self::Members => group.members = ids,
            Self::Owners => {
                group.extra.insert("owners".into(), json!(ids));
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Members => "members",
            Self::Owners => "owners",
        }
    }
}

async fn add_ref(
    state: &AppState,
    caller: &Caller,
    id: &str,
    link: Link,
    body: &[u8],
) -> GraphResult {
    caller.require(MEMBERS, MEMBERS)?;
    let body = json_object(body)?;
    let reference = required_str(&body, "@odata.id")?;
    let mut group = find(state, caller, id).await?;
    let user = users_named(state, caller, &[reference]).await?.remove(0);
    let mut ids = link.ids(&group);
    if ids.iter().any(|m| m.eq_ignore_ascii_case(&user)) {
        // Graph's words for a member added twice (graph-api research notes: the phrasing
        // seen for group `members`).
        return Err(GraphError::bad_request(format!(
            "One or more added object references already exist for the following modified properties: '{}'.",
            link.name()
        )));
    }
    ids.push(user);
    link.set(&mut group, ids);
    state.store().put_group(group).await?;
    Ok(no_content())
}

async fn remove_ref(
    state: &AppState,
    caller: &Caller,
    id: &str,
    link: Link,
    member: &str,
) -> GraphResult {
    caller.require(MEMBERS, MEMBERS)?;
    let mut group = find(state, caller, id).await?;
    let mut ids = link.ids(&group);
    let before = ids.len();
    ids.retain(|m| !m.eq_ignore_ascii_case(member));
    if ids.len() == before {
        return Err(GraphError::not_found(member));
    }
    link.set(&mut group, ids);
    state.store().put_group(group).await?;
    Ok(no_content())
}

pub(crate) async fn add_member(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> GraphResult {
    add_ref(&state.0, &caller, &id, Link::Members, &body).await
}

pub(crate) async fn add_owner(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> GraphResult {
    add_ref(&state.0, &caller, &id, Link::Owners, &body).await
}

pub(crate) async fn remove_member(
    state: Shared,
    caller: Caller,
    Path((id, member)): Path<(String, String)>,
) -> GraphResult {
    remove_ref(&state.0, &caller, &id, Link::Members, &member).await
}

pub(crate) async fn remove_owner(
    state: Shared,
    caller: Caller,
    Path((id, member)): Path<(String, String)>,
) -> GraphResult {
    remove_ref(&state.0, &caller, &id, Link::Owners, &member).await
}

/// Groups of the tenant that list `user_id` as a member, by id. Groups are read page by
/// page through the store, so a tenant of any size is walked in bounded memory.
async fn groups_of(
    state: &AppState,
    tenant_id: &str,
    user_id: &str,
) -> Result<Vec<Group>, GraphError> {
    let mut found = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let page = state
            .store()
            .list_groups(
                tenant_id,
                &ListQuery {
                    filter: None,
                    order: ListOrder::Id,
                    after: after.clone(),
                    limit: 500,
                },
            )
            .await?;
        let done = page.len() < 500;
        after = page.last().map(|g| Cursor {
            display_name: None,
            id: g.id.clone(),
        });
        found.extend(
            page.into_iter()
                .filter(|g| g.members.iter().any(|m| m.eq_ignore_ascii_case(user_id))),
        );
        if done {
            return Ok(found);
        }
    }
}

async fn member_of(
    state: &AppState,
    caller: &Caller,
    user_id: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    uri: &Uri,
) -> GraphResult {
    let opts = ListOptions::parse(state, query, headers, &super::groups::ENTITY)?;
    let items = groups_of(state, &caller.tenant.id, user_id)
        .await?
        .iter()
        .map(|g| {
            let mut m = Map::new();
            m.insert("@odata.type".into(), json!("#microsoft.graph.group"));
            m.extend(group_json(g, opts.select.as_deref()));
            (g.id.clone(), Value::Object(m))
        })
        .collect();
    let base = graph_base(state, headers, uri);
    Ok(super::list::from_memory(
        state,
        &opts,
        &format!("{base}{}", uri.path().trim_start_matches("/v1.0")),
        format!("{base}/$metadata#directoryObjects"),
        items,
    ))
}

/// `GET /users/{id}/memberOf` (and `transitiveMemberOf`: groups do not nest here).
pub(crate) async fn user_member_of(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    caller.require(READ_MEMBERSHIP, READ_MEMBERSHIP)?;
    let user = super::users::find(&state.0, &caller, &id).await?;
    member_of(&state.0, &caller, &user.id, q.as_deref(), &headers, &uri).await
}

/// `GET /me/memberOf`: the signed-in user's groups, with `User.Read` as Graph allows.
pub(crate) async fn my_member_of(
    state: Shared,
    caller: Caller,
    RawQuery(q): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    let Some(user_id) = caller.user_id().map(str::to_owned) else {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "/me request is only valid with delegated authentication flow.",
        ));
    };
    caller.require(
        &[],
        &[
            &["User.Read"],
            &["Directory.Read.All"],
            &["GroupMember.Read.All"],
        ],
    )?;
    member_of(&state.0, &caller, &user_id, q.as_deref(), &headers, &uri).await
}
