//! Directory roles as Graph's RBAC API serves them: `roleManagement/directory/roleDefinitions`
//! (the built-in roles tessera knows) and `roleAssignments` of those roles to users, at the
//! directory scope `/`. An assignment is the role kept on the user, so the user's next token
//! carries it in `wids` and its next Graph call acts with it.
//!
//! Source: Microsoft Graph v1.0 reference, "Create unifiedRoleAssignment", "List
//! unifiedRoleAssignments", "Delete unifiedRoleAssignment", "List roleDefinitions"
//! (learn.microsoft.com/graph/api/rbacapplication-post-roleassignments and siblings):
//! RoleManagement.ReadWrite.Directory to write, RoleManagement.Read.Directory (or
//! Directory.Read.All) to read; 201 with `id`, `principalId`, `roleDefinitionId`,
//! `directoryScopeId`. The id's form (two base64url GUIDs, .NET byte order, then `-1`) is
//! what real assignments look like in the reference's examples; the conflict wording is
//! UNCONFIRMED. Only users can be assigned here; `appScopeId` and administrative units are not.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::{Map, Value, json};
use tessera_proto::b64;
use tessera_proto::directory_roles::{self, DirectoryRole};
use tessera_proto::odata::{CompareOp, Filter, Literal};

use super::auth::{Caller, Rows};
use super::query::{Entity, ListOptions};
use super::{
    GraphError, GraphResult, Shared, graph_base, json_object, json_response, no_content,
    required_str,
};
use crate::state::AppState;
use crate::store::{Cursor, ListOrder, ListQuery, User};

const READ: Rows = &[
    &["RoleManagement.Read.Directory"],
    &["RoleManagement.ReadWrite.Directory"],
    &["Directory.Read.All"],
    &["Directory.ReadWrite.All"],
];
const WRITE: Rows = &[&["RoleManagement.ReadWrite.Directory"]];
const ENTITY: Entity = Entity {
    name: "UnifiedRoleAssignment",
    selectable: &["id", "principalId", "roleDefinitionId", "directoryScopeId"],
    filterable: &["principalId", "roleDefinitionId", "directoryScopeId"],
    orderable: false,
};

fn guid_b64(guid: &str) -> Option<String> {
    let u = uuid::Uuid::parse_str(guid).ok()?;
    Some(b64::url_encode(u.to_bytes_le()))
}

fn guid_from_b64(text: &str) -> Option<String> {
    let bytes: [u8; 16] = b64::url_decode(text)?.try_into().ok()?;
    Some(uuid::Uuid::from_bytes_le(bytes).to_string())
}

/// The assignment of `role` to `user`: its id is derived, so nothing else is stored.
fn assignment_id(role: &DirectoryRole, user_id: &str) -> String {
    format!(
        "{}{}-1",
        guid_b64(role.template_id).unwrap_or_default(),
        guid_b64(user_id).unwrap_or_default()
    )
}

/// (role, user id) from an assignment id.
fn parse_assignment_id(id: &str) -> Option<(&'static DirectoryRole, String)> {
    let body = id.strip_suffix("-1")?;
    if body.len() != 44 {
        return None;
    }
    let role = directory_roles::find(&guid_from_b64(body.get(..22)?)?)?;
    Some((role, guid_from_b64(body.get(22..)?)?))
}

fn assignment_json(role: &DirectoryRole, user_id: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), json!(assignment_id(role, user_id)));
    m.insert("principalId".into(), json!(user_id));
    m.insert("roleDefinitionId".into(), json!(role.template_id));
    m.insert("directoryScopeId".into(), json!("/"));
    m
}

fn assignments_of(user: &User) -> impl Iterator<Item = Map<String, Value>> + '_ {
    user.directory_roles
        .iter()
        .filter_map(|r| directory_roles::find(r))
        .map(|r| assignment_json(r, &user.id))
}

fn definition_json(role: &DirectoryRole) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), json!(role.template_id));
    m.insert("description".into(), json!(role.description));
    m.insert("displayName".into(), json!(role.display_name));
    m.insert("isBuiltIn".into(), json!(true));
    m.insert("isEnabled".into(), json!(true));
    m.insert("templateId".into(), json!(role.template_id));
    m.insert("rolePermissions".into(), json!([]));
    m
}

/// `principalId eq '...'`, alone or and-ed: the one user a listing needs to read.
fn principal_in(filter: &Filter) -> Option<&str> {
    match filter {
        Filter::Compare {
            property,
            op: CompareOp::Eq,
            value: Literal::String(v),
        } if property.eq_ignore_ascii_case("principalId") => Some(v),
        Filter::And(l, r) => principal_in(l).or_else(|| principal_in(r)),
        _ => None,
    }
}

/// Every user of the tenant holding a role (a walk of the tenant: directory roles are few and
/// lists of them rare, so they are not indexed).
async fn role_holders(state: &AppState, tenant_id: &str) -> Result<Vec<User>, GraphError> {
    let mut holders = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let page = state
            .store()
            .list_users(
                tenant_id,
                &ListQuery {
                    filter: None,
                    order: ListOrder::Id,
                    after: after.clone(),
                    limit: 1000,
                },
            )
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(Cursor {
            display_name: None,
            id: last.id.clone(),
        });
        let full = page.len() == 1000;
        holders.extend(page.into_iter().filter(|u| !u.directory_roles.is_empty()));
        if !full {
            break;
        }
    }
    Ok(holders)
}

/// `GET /roleManagement/directory/roleDefinitions`.
pub(crate) async fn list_definitions(
    state: Shared,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    caller.require(READ, READ)?;
    let base = graph_base(&state.0, &headers, &uri);
    let value: Vec<Value> = directory_roles::ROLES
        .iter()
        .map(|r| Value::Object(definition_json(r)))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "@odata.context": format!("{base}/$metadata#roleManagement/directory/roleDefinitions"),
            "value": value,
        }),
    ))
}

/// `GET /roleManagement/directory/roleAssignments`.
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
    let tenant = &caller.tenant.id;
    let users = match opts.filter.as_ref().and_then(principal_in) {
        Some(id) => state
            .directory
            .user(tenant, id)
            .await?
            .into_iter()
            .collect(),
        None => role_holders(&state, tenant).await?,
    };
    let items = users
        .iter()
        .flat_map(assignments_of)
        .filter(|m| opts.filter.as_ref().is_none_or(|f| f.matches(m)))
        .map(|m| {
            let id = m["id"].as_str().unwrap_or_default().to_owned();
            (id, Value::Object(super::project(m, opts.select.as_deref())))
        })
        .collect();
    let base = graph_base(&state, &headers, &uri);
    Ok(super::list::from_memory(
        &state,
        &opts,
        &format!("{base}/roleManagement/directory/roleAssignments"),
        format!("{base}/$metadata#roleManagement/directory/roleAssignments"),
        items,
    ))
}

fn entity_response(base: &str, m: Map<String, Value>, status: StatusCode) -> GraphResult {
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        json!(format!(
            "{base}/$metadata#roleManagement/directory/roleAssignments/$entity"
        )),
    );
    out.extend(m);
    Ok(json_response(status, &Value::Object(out)))
}

/// `POST /roleManagement/directory/roleAssignments`.
pub(crate) async fn create(
    state: Shared,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> GraphResult {
    caller.require(WRITE, WRITE)?;
    let state = state.0;
    let body = json_object(&body)?;
    let principal = required_str(&body, "principalId")?;
    let definition = required_str(&body, "roleDefinitionId")?;
    let scope = body
        .get("directoryScopeId")
        .and_then(Value::as_str)
        .unwrap_or("/");
    if scope != "/" {
        return Err(GraphError::bad_request(
            "Only the directory scope '/' is served by this Graph subset.",
        ));
    }
    let role = directory_roles::find(definition)
        .filter(|r| r.template_id.eq_ignore_ascii_case(definition))
        .ok_or_else(|| GraphError::not_found(definition))?;
    let mut user = state
        .directory
        .user(&caller.tenant.id, principal)
        .await?
        .ok_or_else(|| GraphError::not_found(principal))?;
    if user
        .directory_roles
        .iter()
        .any(|r| r.eq_ignore_ascii_case(role.template_id))
    {
        return Err(GraphError::bad_request(
            "A conflicting object with one or more of the specified property values is present in the directory.",
        ));
    }
    user.directory_roles.push(role.template_id.to_owned());
    let user_id = user.id.clone();
    state.store().put_user(user).await?;
    let base = graph_base(&state, &headers, &uri);
    entity_response(&base, assignment_json(role, &user_id), StatusCode::CREATED)
}

async fn held(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(&'static DirectoryRole, User), GraphError> {
    let (role, user_id) = parse_assignment_id(id).ok_or_else(|| GraphError::not_found(id))?;
    let user = state
        .directory
        .user(&caller.tenant.id, &user_id)
        .await?
        .filter(|u| {
            u.directory_roles
                .iter()
                .any(|r| r.eq_ignore_ascii_case(role.template_id))
        })
        .ok_or_else(|| GraphError::not_found(id))?;
    Ok((role, user))
}

/// `GET /roleManagement/directory/roleAssignments/{id}`.
pub(crate) async fn get(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    caller.require(READ, READ)?;
    let (role, user) = held(&state.0, &caller, &id).await?;
    let base = graph_base(&state.0, &headers, &uri);
    entity_response(&base, assignment_json(role, &user.id), StatusCode::OK)
}

/// `DELETE /roleManagement/directory/roleAssignments/{id}`.
pub(crate) async fn delete(state: Shared, caller: Caller, Path(id): Path<String>) -> GraphResult {
    caller.require(WRITE, WRITE)?;
    let state = state.0;
    let (role, mut user) = held(&state, &caller, &id).await?;
    user.directory_roles
        .retain(|r| !r.eq_ignore_ascii_case(role.template_id));
    state.store().put_user(user).await?;
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_ids_read_back() {
        let role = directory_roles::find(directory_roles::GLOBAL_ADMINISTRATOR).expect("role");
        let user = "4a1f2b3c-0d9e-4f10-8a2b-3c4d5e6f7a8b";
        let id = assignment_id(role, user);
        assert_eq!(id.len(), 46);
        assert!(id.ends_with("-1"));
        // The role's half is Entra's: 62e90394-... in .NET byte order, base64url.
        assert!(id.starts_with("lAPpYvVpN0KRkAEhdxReEA"), "{id}");
        let (back, who) = parse_assignment_id(&id).expect("parses");
        assert_eq!(back.template_id, role.template_id);
        assert_eq!(who, user);
        assert!(parse_assignment_id("nonsense-1").is_none());
    }
}
