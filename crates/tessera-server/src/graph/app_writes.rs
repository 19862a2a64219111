//! Writes to `/applications` an admin script makes: create, delete, and the secret
//! lifecycle (`addPassword`, whose secret is returned once and kept only as a hash, and
//! `removePassword`). A secret added here works for client credentials at once.
//!
//! Shapes and permissions: Microsoft Graph v1.0 reference, "Create application",
//! "Delete application", "application: addPassword" and "application: removePassword"
//! (learn.microsoft.com/graph/api/application-post-applications and siblings): create and
//! addPassword need Application.ReadWrite.OwnedBy (app) or Application.ReadWrite.All;
//! addPassword answers 200 with the passwordCredential and its `secretText`. What is marked
//! UNCONFIRMED below was not found in the documentation.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::{Map, Value, json};
use tessera_proto::clock::Clock as _;

use super::apps::{application_json, find_application};
use super::auth::{Caller, Rows};
use super::{
    GraphError, GraphResult, Shared, graph_base, graph_time, json_object, json_response,
    no_content, required_str,
};
use crate::crypto;
use crate::store::{Application, SecretCredential, StoreError};

pub(crate) const WRITE_APP: Rows = &[
    &["Application.ReadWrite.OwnedBy"],
    &["Application.ReadWrite.All"],
    &["Directory.ReadWrite.All"],
];
pub(crate) const WRITE_DELEGATED: Rows = &[
    &["Application.ReadWrite.All"],
    &["Directory.ReadWrite.All"],
    &["Directory.AccessAsUser.All"],
];
/// A secret without an `endDateTime` lives two years, as the portal's default and the
/// PowerShell reference's example (start 2019-10-28, end 2021-10-28) show.
const DEFAULT_SECRET_SECONDS: i64 = 2 * 365 * 86_400;

fn strings(body: &Map<String, Value>, key: &str) -> Result<Vec<String>, GraphError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    GraphError::bad_request(format!("Invalid value for property '{key}'."))
                })
            })
            .collect(),
        Some(_) => Err(GraphError::bad_request(format!(
            "Invalid value for property '{key}'."
        ))),
    }
}

fn redirect_uris(body: &Map<String, Value>, key: &str) -> Result<Vec<String>, GraphError> {
    match body.get(key) {
        Some(Value::Object(o)) => strings(o, "redirectUris"),
        _ => Ok(Vec::new()),
    }
}

/// Properties kept as sent and given back on reads, though this subset does not act on
/// them (permissions are granted by app role assignment, not by `requiredResourceAccess`).
pub(crate) const APPLICATION_KEPT: &[&str] = &["requiredResourceAccess", "notes", "tags", "info"];
pub(crate) const SERVICE_PRINCIPAL_KEPT: &[&str] = &[
    "preferredSingleSignOnMode",
    "notes",
    "tags",
    "loginUrl",
    "samlSingleSignOnSettings",
    "appRoleAssignmentRequired",
];

pub(crate) fn kept_properties(
    body: &Map<String, Value>,
    keys: &[&str],
) -> std::collections::BTreeMap<String, Value> {
    keys.iter()
        .filter_map(|k| body.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect()
}

/// `web.logoutUrl`: where a SAML app's LogoutResponse goes (`None` when not sent).
fn logout_url(body: &Map<String, Value>) -> Result<Option<Option<String>>, GraphError> {
    match body.get("web").and_then(|w| w.get("logoutUrl")) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(u)) if url::Url::parse(u).is_ok() => Ok(Some(Some(u.clone()))),
        Some(_) => Err(GraphError::bad_request(
            "Invalid value for property 'logoutUrl'.",
        )),
    }
}

fn conflict(e: StoreError) -> GraphError {
    match e {
        StoreError::Conflict(_) => GraphError::bad_request(
            "Another object with the same value for property identifierUris already exists.",
        )
        .with_details(json!([{"code": "ObjectConflict", "target": "identifierUris"}])),
        other => other.into(),
    }
}

/// `POST /applications`.
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
    // Required as for users; the exact wording for applications is UNCONFIRMED.
    let display_name = required_str(&body, "displayName")?;
    let mut redirects = redirect_uris(&body, "web")?;
    redirects.extend(redirect_uris(&body, "publicClient")?);
    redirects.extend(redirect_uris(&body, "spa")?);
    let random = state.random.as_ref();
    let app = Application {
        tenant_id: caller.tenant.id.clone(),
        client_id: crypto::random_guid(random),
        object_id: crypto::random_guid(random),
        service_principal_id: crypto::random_guid(random),
        display_name: display_name.to_owned(),
        public_client: body
            .get("isFallbackPublicClient")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        // `api.requestedAccessTokenVersion` null means v1 tokens for this app as a resource.
        access_token_version: match body
            .get("api")
            .and_then(|a| a.get("requestedAccessTokenVersion"))
            .and_then(Value::as_u64)
        {
            Some(2) => 2,
            _ => 1,
        },
        identifier_uris: strings(&body, "identifierUris")?,
        redirect_uris: redirects,
        secrets: Vec::new(),
        certificates: Vec::new(),
        app_roles: Vec::new(),
        oauth2_scopes: Vec::new(),
        application_permissions: Default::default(),
        delegated_permissions: Default::default(),
        managed_identity: false,
        created_at: state.clock.unix(),
        has_service_principal: false,
        application_extra: kept_properties(&body, APPLICATION_KEPT),
        service_principal_extra: Default::default(),
        saml: crate::store::SamlSettings {
            logout_url: logout_url(&body)?.flatten(),
            ..Default::default()
        },
    };
    state
        .directory
        .put_application(app.clone())
        .await
        .map_err(conflict)?;
    let base = graph_base(&state, &headers, &uri);
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!("{base}/$metadata#applications/$entity")),
    );
    m.extend(application_json(&app));
    Ok(json_response(StatusCode::CREATED, &Value::Object(m)))
}

/// The `keyCredentials` a PATCH sends: the whole new collection. An entry with a `key` (the
/// certificate, standard base64 DER) adds that certificate; one with only the `keyId` of a
/// certificate the app has keeps it; any the list leaves out are removed.
fn key_credentials(
    app: &Application,
    value: &Value,
    random: &dyn tessera_proto::clock::Random,
) -> Result<Vec<crate::store::CertificateCredential>, GraphError> {
    let invalid = |why: &str| {
        GraphError::bad_request(format!(
            "Invalid value for property 'keyCredentials': {why}"
        ))
    };
    let Value::Array(entries) = value else {
        return Err(invalid("an array is expected"));
    };
    let mut out = Vec::new();
    for e in entries {
        let key_id = e.get("keyId").and_then(Value::as_str);
        match e.get("key").and_then(Value::as_str) {
            Some(key) => {
                if e.get("type").and_then(Value::as_str) != Some("AsymmetricX509Cert")
                    || e.get("usage").and_then(Value::as_str) != Some("Verify")
                {
                    return Err(invalid("type must be AsymmetricX509Cert and usage Verify"));
                }
                let der = tessera_proto::b64::decode_lenient(key)
                    .ok_or_else(|| invalid("key is not base64"))?;
                let display_name = e
                    .get("displayName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let key_id = key_id.map_or_else(|| crypto::random_guid(random), str::to_owned);
                out.push(
                    crypto::certificate_credential(&der, key_id, display_name)
                        .map_err(|why| invalid(&why))?,
                );
            }
            None => {
                let kept = key_id
                    .and_then(|k| {
                        app.certificates
                            .iter()
                            .find(|c| c.key_id.eq_ignore_ascii_case(k))
                    })
                    .ok_or_else(|| {
                        invalid("a new credential needs its key; an existing one, its keyId")
                    })?;
                out.push(kept.clone());
            }
        }
    }
    Ok(out)
}

/// `PATCH /applications/{id}`: the properties a script sets after creating an app.
/// `requiredResourceAccess` and the other [`APPLICATION_KEPT`] properties are kept and
/// read back; other properties this subset does not model are accepted and not kept.
pub(crate) async fn update(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> GraphResult {
    caller.require(WRITE_APP, WRITE_DELEGATED)?;
    let state = state.0;
    let body = json_object(&body)?;
    let mut app = find_application(&state, &caller, &id).await?;
    if let Some(name) = body.get("displayName") {
        app.display_name = name
            .as_str()
            .ok_or_else(|| GraphError::bad_request("Invalid value for property 'displayName'."))?
            .to_owned();
    }
    if body.contains_key("identifierUris") {
        app.identifier_uris = strings(&body, "identifierUris")?;
    }
    if ["web", "publicClient", "spa"]
        .iter()
        .any(|k| body.contains_key(*k))
    {
        let mut redirects = Vec::new();
        for k in ["web", "publicClient", "spa"] {
            if body.contains_key(k) {
                redirects.extend(redirect_uris(&body, k)?);
            } else {
                // A section not sent keeps its URIs.
                let current = super::apps::application_json(&app);
                if let Some(Value::Object(section)) = current.get(k) {
                    redirects.extend(strings(section, "redirectUris")?);
                }
            }
        }
        app.redirect_uris = redirects;
    }
    if let Some(v) = body.get("isFallbackPublicClient") {
        app.public_client = v.as_bool().unwrap_or(false);
    }
    if let Some(v) = body.get("keyCredentials") {
        app.certificates = key_credentials(&app, v, state.random.as_ref())?;
    }
    app.application_extra
        .extend(kept_properties(&body, APPLICATION_KEPT));
    if let Some(url) = logout_url(&body)? {
        app.saml.logout_url = url;
    }
    state
        .directory
        .put_application(app)
        .await
        .map_err(conflict)?;
    Ok(no_content())
}

/// `DELETE /applications/{id}`: the app, its service principal and its secrets go.
pub(crate) async fn delete(state: Shared, caller: Caller, Path(id): Path<String>) -> GraphResult {
    caller.require(WRITE_APP, WRITE_DELEGATED)?;
    let state = state.0;
    let app = find_application(&state, &caller, &id).await?;
    state
        .directory
        .delete_application(&app.tenant_id, &app.client_id)
        .await?;
    Ok(no_content())
}

/// `POST /applications/{id}/addPassword`.
pub(crate) async fn add_password(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> GraphResult {
    caller.require(WRITE_APP, WRITE_DELEGATED)?;
    let state = state.0;
    let body = if body.is_empty() {
        Map::new()
    } else {
        json_object(&body)?
    };
    let requested = body
        .get("passwordCredential")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let now = state.clock.unix();
    let end = match requested.get("endDateTime") {
        None | Some(Value::Null) => now + DEFAULT_SECRET_SECONDS,
        Some(Value::String(text)) => {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map(time::OffsetDateTime::unix_timestamp)
                .map_err(|_| GraphError::bad_request("Invalid value for property 'endDateTime'."))?
        }
        Some(_) => {
            return Err(GraphError::bad_request(
                "Invalid value for property 'endDateTime'.",
            ));
        }
    };
    let display_name = requested
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut app = find_application(&state, &caller, &id).await?;
    // Entra's secrets are 40 characters with `8Q~` after the first three (what the portal
    // and addPassword hand out today); the exact alphabet is not documented.
    let random = crypto::random_b64url(state.random.as_ref(), 30);
    let secret = format!("{}8Q~{}", &random[..3], &random[3..37]);
    let key_id = crypto::random_guid(state.random.as_ref());
    let hint: String = secret.chars().take(3).collect();
    app.secrets.push(SecretCredential {
        key_id: key_id.clone(),
        display_name: display_name.clone(),
        sha256: crypto::sha256_hex(secret.as_bytes()),
        hint: hint.clone(),
        expires_at: Some(end),
    });
    state
        .directory
        .put_application(app)
        .await
        .map_err(conflict)?;
    let base = graph_base(&state, &headers, &uri);
    let body = json!({
        "@odata.context": format!("{base}/$metadata#microsoft.graph.passwordCredential"),
        "customKeyIdentifier": null,
        "displayName": if display_name.is_empty() { Value::Null } else { json!(display_name) },
        "endDateTime": graph_time(end),
        "hint": hint,
        "keyId": key_id,
        "secretText": secret,
        "startDateTime": graph_time(now),
    });
    Ok(json_response(StatusCode::OK, &body))
}

/// `POST /applications/{id}/removePassword`.
pub(crate) async fn remove_password(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> GraphResult {
    caller.require(WRITE_APP, WRITE_DELEGATED)?;
    let state = state.0;
    let body = json_object(&body)?;
    let key_id = required_str(&body, "keyId")?;
    let mut app = find_application(&state, &caller, &id).await?;
    let before = app.secrets.len();
    app.secrets
        .retain(|s| !s.key_id.eq_ignore_ascii_case(key_id));
    if app.secrets.len() == before {
        // Graph's wording for an unknown keyId is UNCONFIRMED.
        return Err(GraphError::bad_request(format!(
            "No password credential with keyId '{}' exists on this application.",
            key_id.chars().take(64).collect::<String>()
        )));
    }
    state
        .directory
        .put_application(app)
        .await
        .map_err(conflict)?;
    Ok(no_content())
}
