//! `/applications` and `/servicePrincipals` (list and get, by object id or by
//! `(appId='...')`), including Microsoft Graph's own service principal.

use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::{Map, Value, json};

use super::auth::{Caller, Rows};
use super::query::{Entity, ListOptions};
use super::{GraphError, GraphResult, Shared, graph_base, graph_time, json_response, project};
use crate::directory::graph_service_principal_id;
use crate::state::AppState;
use crate::store::Application;

pub(crate) const READ: Rows = &[
    &["Application.Read.All"],
    &["Application.ReadWrite.All"],
    &["Application.ReadWrite.OwnedBy"],
    &["Directory.Read.All"],
    &["Directory.ReadWrite.All"],
];

const APP_ENTITY: Entity = Entity {
    name: "Application",
    selectable: &[
        "id",
        "appId",
        "displayName",
        "createdDateTime",
        "identifierUris",
        "signInAudience",
        "publicClient",
        "web",
        "passwordCredentials",
        "keyCredentials",
        "isFallbackPublicClient",
        "deletedDateTime",
        "requiredResourceAccess",
        "notes",
        "tags",
        "info",
    ],
    filterable: FILTERABLE,
    orderable: false,
};

/// Graph filters both collections on these (eq, ne, in, startsWith, not; graph-api.md §2.3
/// lists the same operators for directory objects).
const FILTERABLE: &[&str] = &["id", "appId", "displayName"];

const SP_ENTITY: Entity = Entity {
    name: "ServicePrincipal",
    selectable: &[
        "id",
        "appId",
        "displayName",
        "servicePrincipalType",
        "accountEnabled",
        "appRoles",
        "oauth2PermissionScopes",
        "servicePrincipalNames",
        "deletedDateTime",
        "preferredSingleSignOnMode",
        "notes",
        "tags",
        "loginUrl",
        "samlSingleSignOnSettings",
        "appRoleAssignmentRequired",
    ],
    filterable: FILTERABLE,
    orderable: false,
};

/// `$filter` on an object before `$select` drops the properties it names.
fn kept(opts: &ListOptions, object: &Map<String, Value>) -> bool {
    opts.filter.as_ref().is_none_or(|f| f.matches(object))
}

/// A certificate's `customKeyIdentifier`: its SHA-1 thumbprint, as Graph's Binary type
/// serializes bytes (standard base64), which scripts compare with
/// `[Convert]::ToBase64String($cert.GetCertHash())` (Microsoft's certificate-credential
/// docs: "base64 encoding of the certificate hash").
pub(crate) fn custom_key_identifier(c: &crate::store::CertificateCredential) -> Value {
    tessera_proto::b64::url_decode(&c.x5t).map_or(Value::Null, |d| {
        Value::String(tessera_proto::b64::std_encode(d))
    })
}

pub(crate) fn application_json(a: &Application) -> Map<String, Value> {
    let secrets: Vec<Value> = a
        .secrets
        .iter()
        .map(|s| json!({"keyId": s.key_id, "displayName": s.display_name, "hint": s.hint, "endDateTime": s.expires_at.map_or(Value::Null, graph_time), "secretText": null}))
        .collect();
    let certs: Vec<Value> = a
        .certificates
        .iter()
        .map(|c| json!({"keyId": c.key_id, "displayName": c.display_name, "type": "AsymmetricX509Cert", "usage": "Verify", "startDateTime": graph_time(c.not_before), "endDateTime": graph_time(c.not_after), "customKeyIdentifier": custom_key_identifier(c)}))
        .collect();
    let (public_redirects, web_redirects): (Vec<&String>, Vec<&String>) =
        a.redirect_uris.iter().partition(|u| {
            a.public_client
                || u.starts_with("http://localhost")
                || u.starts_with("http://127.0.0.1")
        });
    let mut m = Map::new();
    m.insert("id".into(), json!(a.object_id));
    m.insert("deletedDateTime".into(), Value::Null);
    m.insert("appId".into(), json!(a.client_id));
    m.insert("displayName".into(), json!(a.display_name));
    m.insert("createdDateTime".into(), graph_time(a.created_at));
    m.insert("identifierUris".into(), json!(a.identifier_uris));
    m.insert("isFallbackPublicClient".into(), json!(a.public_client));
    m.insert("signInAudience".into(), json!("AzureADMyOrg"));
    m.insert(
        "publicClient".into(),
        json!({"redirectUris": public_redirects}),
    );
    m.insert(
        "web".into(),
        json!({"redirectUris": web_redirects, "logoutUrl": a.saml.logout_url}),
    );
    m.insert("passwordCredentials".into(), Value::Array(secrets));
    m.insert("keyCredentials".into(), Value::Array(certs));
    with_kept(&mut m, &a.application_extra, APPLICATION_DEFAULTS);
    m
}

/// A kept property and Graph's value for it when the object was never given one.
type KeptDefault = (&'static str, fn() -> Value);

const APPLICATION_DEFAULTS: &[KeptDefault] = &[
    ("requiredResourceAccess", || json!([])),
    ("notes", || Value::Null),
    ("tags", || json!([])),
    (
        "info",
        || json!({"logoUrl": null, "marketingUrl": null, "privacyStatementUrl": null, "supportUrl": null, "termsOfServiceUrl": null}),
    ),
];
const SERVICE_PRINCIPAL_DEFAULTS: &[KeptDefault] = &[
    ("preferredSingleSignOnMode", || Value::Null),
    ("notes", || Value::Null),
    ("tags", || json!([])),
    ("loginUrl", || Value::Null),
    ("samlSingleSignOnSettings", || Value::Null),
    ("appRoleAssignmentRequired", || json!(false)),
];

fn with_kept(
    m: &mut Map<String, Value>,
    stored: &std::collections::BTreeMap<String, Value>,
    defaults: &[KeptDefault],
) {
    for (key, default) in defaults {
        m.insert(
            (*key).to_owned(),
            stored.get(*key).cloned().unwrap_or_else(default),
        );
    }
}

pub(crate) fn service_principal_json(a: &Application) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), json!(a.service_principal_id));
    m.insert("deletedDateTime".into(), Value::Null);
    m.insert("accountEnabled".into(), json!(true));
    m.insert("appId".into(), json!(a.client_id));
    m.insert("displayName".into(), json!(a.display_name));
    m.insert(
        "servicePrincipalType".into(),
        json!(if a.managed_identity {
            "ManagedIdentity"
        } else {
            "Application"
        }),
    );
    m.insert(
        "servicePrincipalNames".into(),
        json!(
            std::iter::once(a.client_id.clone())
                .chain(a.identifier_uris.iter().cloned())
                .collect::<Vec<_>>()
        ),
    );
    m.insert("appRoles".into(), json!(a.app_roles.iter().map(|r| json!({"value": r, "allowedMemberTypes": ["Application"], "isEnabled": true})).collect::<Vec<_>>()));
    m.insert(
        "oauth2PermissionScopes".into(),
        json!(
            a.oauth2_scopes
                .iter()
                .map(|s| json!({"value": s, "type": "User", "isEnabled": true}))
                .collect::<Vec<_>>()
        ),
    );
    with_kept(
        &mut m,
        &a.service_principal_extra,
        SERVICE_PRINCIPAL_DEFAULTS,
    );
    m
}

/// Microsoft Graph's service principal, present in every tenant.
pub(crate) fn graph_service_principal(tenant_id: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), json!(graph_service_principal_id(tenant_id)));
    m.insert("deletedDateTime".into(), Value::Null);
    m.insert("accountEnabled".into(), json!(true));
    m.insert("appId".into(), json!(tessera_proto::GRAPH_APP_ID));
    m.insert("displayName".into(), json!("Microsoft Graph"));
    m.insert("servicePrincipalType".into(), json!("Application"));
    m.insert(
        "servicePrincipalNames".into(),
        json!([tessera_proto::GRAPH_APP_ID, "https://graph.microsoft.com"]),
    );
    let roles: Vec<Value> = tessera_proto::graph_roles::GRAPH_APP_ROLES
        .iter()
        .map(|r| {
            json!({
                "allowedMemberTypes": ["Application"],
                "description": r.display_name,
                "displayName": r.display_name,
                "id": r.id,
                "isEnabled": true,
                "origin": "Application",
                "value": r.value,
            })
        })
        .collect();
    m.insert("appRoles".into(), Value::Array(roles));
    m.insert("oauth2PermissionScopes".into(), json!([]));
    m
}

/// `{id}` or `(appId='...')` as the path segment after the collection.
fn app_id_key(segment: &str) -> Option<&str> {
    segment
        .strip_prefix("(appId='")
        .and_then(|s| s.strip_suffix("')"))
}

/// Finds an application by object id or `(appId='...')`.
pub(crate) async fn find_application(
    state: &AppState,
    caller: &Caller,
    key: &str,
) -> Result<Application, GraphError> {
    let apps = state.store().list_applications(&caller.tenant.id).await?;
    let found = match app_id_key(key) {
        Some(app_id) => apps
            .into_iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(app_id)),
        None => apps
            .into_iter()
            .find(|a| a.object_id.eq_ignore_ascii_case(key)),
    };
    found.ok_or_else(|| GraphError::not_found(key))
}

/// A service principal: an app's, or Graph's own (`None`).
pub(crate) async fn find_service_principal(
    state: &AppState,
    caller: &Caller,
    key: &str,
) -> Result<(String, Option<Application>), GraphError> {
    let graph_id = graph_service_principal_id(&caller.tenant.id);
    if key.eq_ignore_ascii_case(&graph_id)
        || app_id_key(key).is_some_and(|a| a.eq_ignore_ascii_case(tessera_proto::GRAPH_APP_ID))
    {
        return Ok((graph_id, None));
    }
    let apps = state.store().list_applications(&caller.tenant.id).await?;
    let mut with_sp = apps.into_iter().filter(|a| a.has_service_principal);
    let found = match app_id_key(key) {
        Some(app_id) => with_sp.find(|a| a.client_id.eq_ignore_ascii_case(app_id)),
        None => with_sp.find(|a| a.service_principal_id.eq_ignore_ascii_case(key)),
    };
    found
        .map(|a| (a.service_principal_id.clone(), Some(a)))
        .ok_or_else(|| GraphError::not_found(key))
}

fn entity(base: &str, set: &str, body: Map<String, Value>) -> axum::response::Response {
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!("{base}/$metadata#{set}/$entity")),
    );
    m.extend(body);
    json_response(StatusCode::OK, &Value::Object(m))
}

pub(crate) async fn list_applications(
    state: Shared,
    caller: Caller,
    RawQuery(q): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    caller.require(READ, READ)?;
    let state = state.0;
    let opts = ListOptions::parse(&state, q.as_deref(), &headers, &APP_ENTITY)?;
    let base = graph_base(&state, &headers, &uri);
    let items = state
        .store()
        .list_applications(&caller.tenant.id)
        .await?
        .iter()
        .map(|a| (a.object_id.clone(), application_json(a)))
        .filter(|(_, m)| kept(&opts, m))
        .map(|(id, m)| (id, Value::Object(project(m, opts.select.as_deref()))))
        .collect();
    Ok(super::list::from_memory(
        &state,
        &opts,
        &format!("{base}/applications"),
        opts.context(&base, "applications"),
        items,
    ))
}

pub(crate) async fn get_application(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    caller.require(READ, READ)?;
    let state = state.0;
    let app = find_application(&state, &caller, &id).await?;
    let opts = ListOptions::parse(&state, q.as_deref(), &headers, &APP_ENTITY)?;
    Ok(entity(
        &graph_base(&state, &headers, &uri),
        "applications",
        project(application_json(&app), opts.select.as_deref()),
    ))
}

pub(crate) async fn list_service_principals(
    state: Shared,
    caller: Caller,
    RawQuery(q): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    caller.require(READ, READ)?;
    let state = state.0;
    let opts = ListOptions::parse(&state, q.as_deref(), &headers, &SP_ENTITY)?;
    let base = graph_base(&state, &headers, &uri);
    let items: Vec<(String, Value)> = state
        .store()
        .list_applications(&caller.tenant.id)
        .await?
        .iter()
        .filter(|a| a.has_service_principal)
        .map(|a| (a.service_principal_id.clone(), service_principal_json(a)))
        .chain(std::iter::once((
            graph_service_principal_id(&caller.tenant.id),
            graph_service_principal(&caller.tenant.id),
        )))
        .filter(|(_, m)| kept(&opts, m))
        .map(|(id, m)| (id, Value::Object(project(m, opts.select.as_deref()))))
        .collect();
    Ok(super::list::from_memory(
        &state,
        &opts,
        &format!("{base}/servicePrincipals"),
        opts.context(&base, "servicePrincipals"),
        items,
    ))
}

pub(crate) async fn get_service_principal(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    caller.require(READ, READ)?;
    let state = state.0;
    let (_, app) = find_service_principal(&state, &caller, &id).await?;
    let body = app.as_ref().map_or_else(
        || graph_service_principal(&caller.tenant.id),
        service_principal_json,
    );
    let opts = ListOptions::parse(&state, q.as_deref(), &headers, &SP_ENTITY)?;
    Ok(entity(
        &graph_base(&state, &headers, &uri),
        "servicePrincipals",
        project(body, opts.select.as_deref()),
    ))
}
