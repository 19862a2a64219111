//! Writes to `/servicePrincipals`: create one for an app registration (until then the app
//! gets no app-only token, AADSTS7000229, as in Entra), update the properties a SAML or
//! admin script sets, and delete it with what hangs on it (its app role assignments, its
//! delegated grants, its token lifetime policy assignments).
//!
//! Source: Microsoft Graph v1.0 reference, "Create servicePrincipal", "Update
//! servicePrincipal", "Delete servicePrincipal" (learn.microsoft.com/graph/api/
//! serviceprincipal-post-serviceprincipals and siblings): Application.ReadWrite.All (or
//! Directory.ReadWrite.All); create answers 201 with the object, update and delete 204.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::{Map, Value, json};

use super::app_writes::{SERVICE_PRINCIPAL_KEPT, WRITE_APP, WRITE_DELEGATED, kept_properties};
use super::apps::{find_service_principal, service_principal_json};
use super::auth::Caller;
use super::{GraphError, GraphResult, Shared, graph_base, json_object, json_response, no_content};
use crate::crypto;
use crate::store::Application;

/// `POST /servicePrincipals` with `{"appId": ...}`.
pub(crate) async fn create(
    state: Shared,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> GraphResult {
    caller.require(WRITE_APP, WRITE_DELEGATED)?;
    let state = state.0;
    let body = json_object(&body)?;
    let app_id = super::required_str(&body, "appId")?;
    let Some(mut app) = state.store().application(&caller.tenant.id, app_id).await? else {
        // Wording UNCONFIRMED.
        return Err(GraphError::bad_request(format!(
            "The appId '{}' of the service principal does not reference a valid application object.",
            app_id.chars().take(64).collect::<String>()
        )));
    };
    if app.has_service_principal {
        // Graph's answer to a second service principal for an app (as `az ad sp create`
        // reports it); the status and details are UNCONFIRMED.
        return Err(GraphError::bad_request(
            "Another object with the same value for property servicePrincipalNames already exists.",
        )
        .with_details(json!([{"code": "ObjectConflict", "target": "servicePrincipalNames"}])));
    }
    app.has_service_principal = true;
    // A service principal made again after a deletion is a new object.
    app.service_principal_id = crypto::random_guid(state.random.as_ref());
    app.service_principal_extra = kept_properties(&body, SERVICE_PRINCIPAL_KEPT);
    state.directory.put_application(app.clone()).await?;
    let base = graph_base(&state, &headers, &uri);
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!("{base}/$metadata#servicePrincipals/$entity")),
    );
    m.extend(service_principal_json(&app));
    Ok(json_response(StatusCode::CREATED, &Value::Object(m)))
}

/// An app's service principal by `{id}` or `(appId='...')`; Graph's own cannot be changed.
async fn own(
    state: &crate::state::AppState,
    caller: &Caller,
    id: &str,
) -> Result<Application, GraphError> {
    match find_service_principal(state, caller, id).await? {
        (_, Some(app)) => Ok(app),
        (_, None) => Err(GraphError::forbidden()),
    }
}

/// `PATCH /servicePrincipals/{id}`: `preferredSingleSignOnMode` (`"saml"` for a SAML app),
/// `notes`, `tags`, `loginUrl`, `samlSingleSignOnSettings`, `appRoleAssignmentRequired`.
pub(crate) async fn update(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> GraphResult {
    caller.require(WRITE_APP, WRITE_DELEGATED)?;
    let state = state.0;
    let body = json_object(&body)?;
    let mut app = own(&state, &caller, &id).await?;
    if let Some(mode) = body.get("preferredSingleSignOnMode")
        && !(mode.is_null()
            || mode
                .as_str()
                .is_some_and(|m| ["saml", "oidc", "password", "notSupported"].contains(&m)))
    {
        return Err(GraphError::bad_request(
            "Invalid value for property 'preferredSingleSignOnMode'.",
        ));
    }
    app.service_principal_extra
        .extend(kept_properties(&body, SERVICE_PRINCIPAL_KEPT));
    // The RelayState of IdP-initiated sign-in.
    if let Some(settings) = body.get("samlSingleSignOnSettings") {
        app.saml.relay_state = settings
            .get("relayState")
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    state.directory.put_application(app).await?;
    Ok(no_content())
}

/// `DELETE /servicePrincipals/{id}`: the app registration stays; its permissions, grants
/// and policy assignments go with the service principal.
pub(crate) async fn delete(state: Shared, caller: Caller, Path(id): Path<String>) -> GraphResult {
    caller.require(WRITE_APP, WRITE_DELEGATED)?;
    let state = state.0;
    let mut app = own(&state, &caller, &id).await?;
    let sp_id = app.service_principal_id.clone();
    app.has_service_principal = false;
    app.application_permissions.clear();
    app.delegated_permissions.clear();
    app.service_principal_extra.clear();
    state.directory.put_application(app).await?;
    let assignments = state.directory.policy_snapshot(&caller.tenant.id).await?;
    for a in assignments
        .assignments
        .iter()
        .filter(|a| a.object_id.eq_ignore_ascii_case(&sp_id))
    {
        state
            .directory
            .unassign_policy(&a.tenant_id, &a.object_id, &a.policy_id)
            .await?;
    }
    Ok(no_content())
}
