//! `POST /directoryObjects/getByIds`: users, groups, applications and service principals by
//! object id in one call, each with its `@odata.type`, as scripts resolve the ids a
//! membership or assignment list gives them.
//!
//! Source: Microsoft Graph v1.0 reference, "directoryObject: getByIds"
//! (learn.microsoft.com/graph/api/directoryobject-getbyids): Directory.Read.All (app and
//! delegated); `ids` up to 1000, `types` optional (user, group, application,
//! servicePrincipal...); ids that name nothing are left out.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::{Map, Value, json};

use super::apps::{application_json, graph_service_principal, service_principal_json};
use super::auth::{Caller, Rows};
use super::{
    GraphError, GraphResult, Shared, graph_base, json_object, json_response, property_required,
};
use crate::directory::graph_service_principal_id;

const READ: Rows = &[&["Directory.Read.All"], &["Directory.ReadWrite.All"]];
const MAX_IDS: usize = 1000;

fn typed(kind: &str, body: Map<String, Value>) -> Value {
    let mut m = Map::new();
    m.insert(
        "@odata.type".into(),
        json!(format!("#microsoft.graph.{kind}")),
    );
    m.extend(body);
    Value::Object(m)
}

pub(crate) async fn get_by_ids(
    state: Shared,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> GraphResult {
    caller.require(READ, READ)?;
    let state = state.0;
    let body = json_object(&body)?;
    let ids: Vec<String> = match body.get("ids") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => return Err(property_required("ids")),
    };
    if ids.len() > MAX_IDS {
        // Wording UNCONFIRMED; the limit is documented.
        return Err(GraphError::bad_request(format!(
            "Too many ids: at most {MAX_IDS} can be requested at once."
        )));
    }
    let types: Vec<String> = body
        .get("types")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_ascii_lowercase))
                .collect()
        })
        .unwrap_or_default();
    let wants = |t: &str| types.is_empty() || types.iter().any(|x| x == &t.to_ascii_lowercase());
    let tenant = &caller.tenant.id;
    let apps = state.store().list_applications(tenant).await?;
    let graph_sp = graph_service_principal_id(tenant);
    let mut value = Vec::new();
    for id in &ids {
        if wants("user")
            && let Some(u) = state.directory.user(tenant, id).await?
        {
            value.push(typed("user", super::users::user_json(&u, None)));
            continue;
        }
        if wants("group")
            && let Some(g) = state.store().group(tenant, id).await?
        {
            value.push(typed("group", super::groups::group_json(&g, None)));
            continue;
        }
        if wants("servicePrincipal") {
            if id.eq_ignore_ascii_case(&graph_sp) {
                value.push(typed("servicePrincipal", graph_service_principal(tenant)));
                continue;
            }
            if let Some(a) = apps
                .iter()
                .find(|a| a.service_principal_id.eq_ignore_ascii_case(id))
            {
                value.push(typed("servicePrincipal", service_principal_json(a)));
                continue;
            }
        }
        if wants("application")
            && let Some(a) = apps.iter().find(|a| a.object_id.eq_ignore_ascii_case(id))
        {
            value.push(typed("application", application_json(a)));
        }
    }
    let base = graph_base(&state, &headers, &uri);
    Ok(json_response(
        StatusCode::OK,
        &json!({"@odata.context": format!("{base}/$metadata#directoryObjects"), "value": value}),
    ))
}
