//! Delegated permissions granted for the whole organization, as admin scripts grant them:
//! `oauth2PermissionGrants` with `consentType` `AllPrincipals` for Microsoft Graph. A user
//! token issued afterwards for the client carries the granted scopes without a consent page.
//!
//! Source: Microsoft Graph v1.0 reference, "Create oAuth2PermissionGrant", "Update",
//! "Delete", "List" (learn.microsoft.com/graph/api/oauth2permissiongrant-post and
//! siblings): DelegatedPermissionGrant.ReadWrite.All (or Directory.ReadWrite.All) to write;
//! 201 with the grant; `scope` is space-separated; `principalId` is null for AllPrincipals.
//! Per-user grants (`Principal`) and resources other than Graph are not served here.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::{Map, Value, json};

use super::apps::find_service_principal;
use super::auth::{Caller, Rows};
use super::query::{Entity, ListOptions};
use super::{
    GraphError, GraphResult, Shared, graph_base, json_object, json_response, no_content,
    required_str,
};
use crate::crypto;
use crate::directory::graph_service_principal_id;
use crate::state::AppState;
use crate::store::Application;

const WRITE: Rows = &[
    &["DelegatedPermissionGrant.ReadWrite.All"],
    &["Directory.ReadWrite.All"],
];
const READ: Rows = &[
    &["DelegatedPermissionGrant.Read.All"],
    &["DelegatedPermissionGrant.ReadWrite.All"],
    &["Directory.Read.All"],
    &["Directory.ReadWrite.All"],
];
const ENTITY: Entity = Entity {
    name: "OAuth2PermissionGrant",
    selectable: &[
        "id",
        "clientId",
        "consentType",
        "principalId",
        "resourceId",
        "scope",
    ],
    filterable: &["clientId", "consentType", "resourceId", "principalId"],
    orderable: false,
};

/// A grant's id: stable for (client, resource), so it is found again without storing one.
fn grant_id(client_sp: &str) -> String {
    let d = crypto::sha256(
        format!(
            "oauth2PermissionGrant|{}|graph",
            client_sp.to_ascii_lowercase()
        )
        .as_bytes(),
    );
    tessera_proto::b64::url_encode(d)[..43].to_owned()
}

fn grant_json(tenant_id: &str, app: &Application, scopes: &[String]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("clientId".into(), json!(app.service_principal_id));
    m.insert("consentType".into(), json!("AllPrincipals"));
    m.insert("id".into(), json!(grant_id(&app.service_principal_id)));
    m.insert("principalId".into(), Value::Null);
    m.insert(
        "resourceId".into(),
        json!(graph_service_principal_id(tenant_id)),
    );
    m.insert("scope".into(), json!(scopes.join(" ")));
    m
}

fn scopes_of(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// The app whose tenant-wide Graph grant `id` is.
async fn by_id(state: &AppState, caller: &Caller, id: &str) -> Result<Application, GraphError> {
    state
        .store()
        .list_applications(&caller.tenant.id)
        .await?
        .into_iter()
        .find(|a| {
            a.delegated_permissions
                .contains_key(&super::graph_resource_key())
                && grant_id(&a.service_principal_id) == id
        })
        .ok_or_else(|| GraphError::not_found(id))
}

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
    let client_id = required_str(&body, "clientId")?;
    let resource_id = required_str(&body, "resourceId")?;
    let consent_type = required_str(&body, "consentType")?;
    let scope = body
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if consent_type != "AllPrincipals" {
        return Err(GraphError::bad_request(
            "Only consentType 'AllPrincipals' is served by this Graph subset.",
        ));
    }
    let (_, resource) = find_service_principal(&state, &caller, resource_id).await?;
    if resource.is_some() {
        return Err(GraphError::bad_request(
            "Only Microsoft Graph's delegated permissions can be granted on this server.",
        ));
    }
    let (_, client) = find_service_principal(&state, &caller, client_id).await?;
    let Some(mut app) = client else {
        return Err(GraphError::bad_request(
            "Microsoft Graph cannot be granted its own permissions.",
        ));
    };
    if app
        .delegated_permissions
        .contains_key(&super::graph_resource_key())
    {
        // Wording UNCONFIRMED; Graph answers a second tenant-wide grant with a conflict.
        return Err(GraphError::new(
            StatusCode::CONFLICT,
            "Request_BadRequest",
            "Permission entry already exists.",
        ));
    }
    let scopes = scopes_of(scope);
    app.delegated_permissions
        .insert(super::graph_resource_key(), scopes.clone());
    state.directory.put_application(app.clone()).await?;
    let base = graph_base(&state, &headers, &uri);
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!("{base}/$metadata#oauth2PermissionGrants/$entity")),
    );
    m.extend(grant_json(&caller.tenant.id, &app, &scopes));
    Ok(json_response(StatusCode::CREATED, &Value::Object(m)))
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
    let tenant = &caller.tenant.id;
    let items = state
        .store()
        .list_applications(tenant)
        .await?
        .iter()
        .filter_map(|a| {
            let scopes = a.delegated_permissions.get(&super::graph_resource_key())?;
            let m = grant_json(tenant, a, scopes);
            opts.filter.as_ref().is_none_or(|f| f.matches(&m)).then(|| {
                (
                    grant_id(&a.service_principal_id),
                    Value::Object(super::project(m, opts.select.as_deref())),
                )
            })
        })
        .collect();
    let base = graph_base(&state, &headers, &uri);
    Ok(super::list::from_memory(
        &state,
        &opts,
        &format!("{base}/oauth2PermissionGrants"),
        format!("{base}/$metadata#oauth2PermissionGrants"),
        items,
    ))
}

pub(crate) async fn get(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    caller.require(READ, READ)?;
    let state = state.0;
    let app = by_id(&state, &caller, &id).await?;
    let scopes = app
        .delegated_permissions
        .get(&super::graph_resource_key())
        .cloned()
        .unwrap_or_default();
    let base = graph_base(&state, &headers, &uri);
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!("{base}/$metadata#oauth2PermissionGrants/$entity")),
    );
    m.extend(grant_json(&caller.tenant.id, &app, &scopes));
    Ok(json_response(StatusCode::OK, &Value::Object(m)))
}

/// `PATCH /oauth2PermissionGrants/{id}`: `scope` replaced.
pub(crate) async fn update(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> GraphResult {
    caller.require(WRITE, WRITE)?;
    let state = state.0;
    let body = json_object(&body)?;
    let scope = required_str(&body, "scope")?;
    let mut app = by_id(&state, &caller, &id).await?;
    app.delegated_permissions
        .insert(super::graph_resource_key(), scopes_of(scope));
    state.directory.put_application(app).await?;
    Ok(no_content())
}

pub(crate) async fn delete(state: Shared, caller: Caller, Path(id): Path<String>) -> GraphResult {
    caller.require(WRITE, WRITE)?;
    let state = state.0;
    let mut app = by_id(&state, &caller, &id).await?;
    app.delegated_permissions
        .remove(&super::graph_resource_key());
    state.directory.put_application(app).await?;
    Ok(no_content())
}
