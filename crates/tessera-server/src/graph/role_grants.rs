//! Application permissions granted and revoked as scripts do it: app role assignments of
//! Microsoft Graph's roles to an app's service principal, from either side
//! (`/servicePrincipals/{client}/appRoleAssignments`, `/servicePrincipals/{graph}/
//! appRoleAssignedTo`). A token issued afterwards carries exactly the granted roles.
//!
//! Source: Microsoft Graph v1.0 reference, "Grant an appRoleAssignment to a service
//! principal" and "Grant an appRoleAssignment for a service principal"
//! (learn.microsoft.com/graph/api/serviceprincipal-post-approleassignments, -assignedto):
//! AppRoleAssignment.ReadWrite.All with Application.Read.All (or Directory.Read.All), for
//! apps and users alike; 201 with the assignment. Only Graph's roles can be assigned here:
//! other resources' roles have no ids in this subset. An assignment's `createdDateTime` is
//! not stored: the client app's creation time stands in for it.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::{Map, Value, json};
use tessera_proto::graph_roles::{self, GraphAppRole};

use super::apps::find_service_principal;
use super::auth::{Caller, Rows};
use super::{
    GraphError, GraphResult, Shared, graph_base, graph_time, json_object, json_response,
    no_content, required_str,
};
use crate::crypto;
use crate::directory::graph_service_principal_id;
use crate::state::AppState;
use crate::store::Application;

const GRANT: Rows = &[
    &["AppRoleAssignment.ReadWrite.All", "Application.Read.All"],
    &[
        "AppRoleAssignment.ReadWrite.All",
        "Application.ReadWrite.All",
    ],
    &["AppRoleAssignment.ReadWrite.All", "Directory.Read.All"],
    &["AppRoleAssignment.ReadWrite.All", "Directory.ReadWrite.All"],
];
const READ: Rows = &[
    &["Application.Read.All"],
    &["Application.ReadWrite.All"],
    &["Application.ReadWrite.OwnedBy"],
    &["AppRoleAssignment.ReadWrite.All"],
    &["Directory.Read.All"],
    &["Directory.ReadWrite.All"],
];

/// Which side of the assignment the path's service principal is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// `/servicePrincipals/{client}/appRoleAssignments`.
    Principal,
    /// `/servicePrincipals/{resource}/appRoleAssignedTo`.
    Resource,
}

impl Side {
    fn segment(self) -> &'static str {
        match self {
            Self::Principal => "appRoleAssignments",
            Self::Resource => "appRoleAssignedTo",
        }
    }
}

/// An assignment's id: stable for (client service principal, role), so it can be found
/// again for DELETE without storing one. Graph's ids are 43 base64url characters too.
fn assignment_id(principal_sp: &str, role: &GraphAppRole) -> String {
    let d = crypto::sha256(format!("{}|{}", principal_sp.to_ascii_lowercase(), role.id).as_bytes());
    tessera_proto::b64::url_encode(d)[..43].to_owned()
}

fn assignment_json(tenant_id: &str, app: &Application, role: &GraphAppRole) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "id".into(),
        json!(assignment_id(&app.service_principal_id, role)),
    );
    m.insert("deletedDateTime".into(), Value::Null);
    m.insert("appRoleId".into(), json!(role.id));
    m.insert("createdDateTime".into(), graph_time(app.created_at));
    m.insert("principalDisplayName".into(), json!(app.display_name));
    m.insert("principalId".into(), json!(app.service_principal_id));
    m.insert("principalType".into(), json!("ServicePrincipal"));
    m.insert("resourceDisplayName".into(), json!("Microsoft Graph"));
    m.insert(
        "resourceId".into(),
        json!(graph_service_principal_id(tenant_id)),
    );
    m
}

/// The Graph roles `app` holds, in Graph's table order.
fn granted(app: &Application) -> Vec<&'static GraphAppRole> {
    let held = app
        .application_permissions
        .get(&super::graph_resource_key());
    graph_roles::GRAPH_APP_ROLES
        .iter()
        .filter(|r| held.is_some_and(|h| h.iter().any(|v| v.eq_ignore_ascii_case(r.value))))
        .collect()
}

/// The client app an assignment is for, checking that the resource is Graph.
async fn parties(
    state: &AppState,
    caller: &Caller,
    principal_id: &str,
    resource_id: &str,
) -> Result<Application, GraphError> {
    let (_, resource) = find_service_principal(state, caller, resource_id).await?;
    if resource.is_some() {
        // Wording UNCONFIRMED: only Graph's roles have ids in this subset.
        return Err(GraphError::bad_request(
            "Permission being assigned was not found on application: only Microsoft Graph's app roles can be assigned on this server.",
        ));
    }
    match find_service_principal(state, caller, principal_id).await? {
        (_, Some(app)) => Ok(app),
        (id, None) => Err(GraphError::bad_request(format!(
            "Microsoft Graph ('{id}') cannot be assigned its own app roles."
        ))),
    }
}

async fn create(
    state: &AppState,
    caller: &Caller,
    side: Side,
    path_id: &str,
    base: &str,
    body: &[u8],
) -> GraphResult {
    caller.require(GRANT, GRANT)?;
    let body = json_object(body)?;
    let principal_id = required_str(&body, "principalId")?;
    let resource_id = required_str(&body, "resourceId")?;
    let app_role_id = required_str(&body, "appRoleId")?;
    // The path names one side; the body must agree with it.
    let (path_side, body_side) = match side {
        Side::Principal => ("principalId", principal_id),
        Side::Resource => ("resourceId", resource_id),
    };
    let (path_sp, _) = find_service_principal(state, caller, path_id).await?;
    if !path_sp.eq_ignore_ascii_case(body_side) {
        return Err(GraphError::bad_request(format!(
            "The {path_side} in the request body does not match the service principal in the request URL."
        )));
    }
    let mut app = parties(state, caller, principal_id, resource_id).await?;
    let Some(role) = graph_roles::by_id(app_role_id) else {
        // Wording as Graph reports an unknown appRoleId (UNCONFIRMED).
        return Err(GraphError::bad_request(
            "Permission being assigned was not found on application",
        ));
    };
    if granted(&app).contains(&role) {
        // Wording UNCONFIRMED; Graph answers a repeated assignment with a conflict.
        return Err(GraphError::new(
            StatusCode::CONFLICT,
            "Request_BadRequest",
            "Permission being assigned already exists on the object",
        ));
    }
    app.application_permissions
        .entry(super::graph_resource_key())
        .or_default()
        .push(role.value.to_owned());
    state.directory.put_application(app.clone()).await?;
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!(
            "{base}/$metadata#servicePrincipals('{path_sp}')/{}/$entity",
            side.segment()
        )),
    );
    m.extend(assignment_json(&caller.tenant.id, &app, role));
    Ok(json_response(StatusCode::CREATED, &Value::Object(m)))
}

async fn list(
    state: &AppState,
    caller: &Caller,
    side: Side,
    path_id: &str,
    base: &str,
) -> GraphResult {
    caller.require(READ, READ)?;
    let (path_sp, app) = find_service_principal(state, caller, path_id).await?;
    let value: Vec<Value> = match (side, app) {
        (Side::Principal, Some(app)) => granted(&app)
            .into_iter()
            .map(|r| Value::Object(assignment_json(&caller.tenant.id, &app, r)))
            .collect(),
        // Graph's own roles are never assigned to Graph, and apps expose none here.
        (Side::Principal, None) | (Side::Resource, Some(_)) => Vec::new(),
        (Side::Resource, None) => state
            .store()
            .list_applications(&caller.tenant.id)
            .await?
            .iter()
            .flat_map(|app| {
                granted(app)
                    .into_iter()
                    .map(|r| Value::Object(assignment_json(&caller.tenant.id, app, r)))
                    .collect::<Vec<_>>()
            })
            .collect(),
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "@odata.context": format!("{base}/$metadata#servicePrincipals('{path_sp}')/{}", side.segment()),
            "value": value,
        }),
    ))
}

async fn delete(
    state: &AppState,
    caller: &Caller,
    side: Side,
    path_id: &str,
    assignment: &str,
) -> GraphResult {
    caller.require(GRANT, GRANT)?;
    let (_, path_app) = find_service_principal(state, caller, path_id).await?;
    let candidates = match (side, path_app) {
        (Side::Principal, Some(app)) => vec![app],
        (Side::Resource, None) => state.store().list_applications(&caller.tenant.id).await?,
        _ => Vec::new(),
    };
    for mut app in candidates {
        let Some(role) = granted(&app)
            .into_iter()
            .find(|r| assignment_id(&app.service_principal_id, r) == assignment)
        else {
            continue;
        };
        if let Some(held) = app
            .application_permissions
            .get_mut(&super::graph_resource_key())
        {
            held.retain(|v| !v.eq_ignore_ascii_case(role.value));
        }
        state.directory.put_application(app).await?;
        return Ok(no_content());
    }
    Err(GraphError::not_found(assignment))
}

pub(crate) async fn create_assignment(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> GraphResult {
    let base = graph_base(&state.0, &headers, &uri);
    create(&state.0, &caller, Side::Principal, &id, &base, &body).await
}

pub(crate) async fn create_assigned_to(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> GraphResult {
    let base = graph_base(&state.0, &headers, &uri);
    create(&state.0, &caller, Side::Resource, &id, &base, &body).await
}

pub(crate) async fn list_assignments(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    let base = graph_base(&state.0, &headers, &uri);
    list(&state.0, &caller, Side::Principal, &id, &base).await
}

pub(crate) async fn list_assigned_to(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    let base = graph_base(&state.0, &headers, &uri);
    list(&state.0, &caller, Side::Resource, &id, &base).await
}

pub(crate) async fn delete_assignment(
    state: Shared,
    caller: Caller,
    Path((id, assignment)): Path<(String, String)>,
) -> GraphResult {
    delete(&state.0, &caller, Side::Principal, &id, &assignment).await
}

pub(crate) async fn delete_assigned_to(
    state: Shared,
    caller: Caller,
    Path((id, assignment)): Path<(String, String)>,
) -> GraphResult {
    delete(&state.0, &caller, Side::Resource, &id, &assignment).await
}
