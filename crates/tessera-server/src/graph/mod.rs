//! The Microsoft Graph v1.0 subset at `/v1.0`: users, groups, applications, service
//! principals, token lifetime policies and `$batch`, sharing the token service's directory
//! and store, so what Graph writes changes what the token service issues at once.

// GraphError is returned once per failed request; its size does not matter there.
#![allow(clippy::result_large_err)]

mod app_keys;
mod app_writes;
mod apps;
pub(crate) mod auth;
mod batch;
mod consent_grants;
mod directory_objects;
mod group_writes;
mod groups;
mod list;
mod policies;
pub(crate) mod query;
mod role_grants;
mod role_management;
mod sp_writes;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use crate::crypto;
use crate::state::AppState;

pub(crate) type Shared = State<Arc<AppState>>;
pub(crate) type GraphResult = Result<Response, GraphError>;

/// A Graph error: status, `error.code`, `error.message`. Rendered into Graph's envelope by
/// the `envelope` middleware, which knows the request ids.
#[derive(Debug, Clone)]
pub(crate) struct GraphError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) www_authenticate: Option<String>,
    pub retry_after: Option<String>,
    pub(crate) details: Option<Value>,
}

impl GraphError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            www_authenticate: None,
            retry_after: None,
            details: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    pub(crate) fn unsupported_query(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", message)
    }

    pub(crate) fn not_found(id: &str) -> Self {
        let shown: String = id.chars().take(200).collect();
        Self::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{shown}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    pub(crate) fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    pub(crate) fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "Graph request failed inside the server");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "serviceNotAvailable",
            "The service is temporarily unavailable. Please retry.",
        )
        .with_retry_after("1")
    }

    pub(crate) fn with_retry_after(mut self, value: &str) -> Self {
        self.retry_after = Some(value.to_owned());
        self
    }
}

/// A test-mode fault, in Graph's words.
impl From<crate::infra::faults::Injected> for GraphError {
    fn from(fault: crate::infra::faults::Injected) -> Self {
        let (code, message) = match fault.status {
            StatusCode::TOO_MANY_REQUESTS => ("TooManyRequests", "Please retry again later."),
            StatusCode::GATEWAY_TIMEOUT => (
                "gatewayTimeout",
                "The gateway did not receive a response in time.",
            ),
            _ => (
                "serviceNotAvailable",
                "The service is temporarily unavailable. Please retry.",
            ),
        };
        let mut e = Self::new(fault.status, code, message);
        e.retry_after = fault.retry_after;
        e
    }
}

impl From<crate::store::StoreError> for GraphError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Invalid(_) => {
                Self::bad_request("Invalid value specified for a property or in the request URL.")
            }
            e => Self::internal(e),
        }
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let mut r = self.status.into_response();
        r.extensions_mut().insert(self);
        r
    }
}

/// The ids of one Graph request, available to handlers as an extension.
#[derive(Debug, Clone)]
pub(crate) struct RequestIds {
    pub(crate) request_id: String,
    pub(crate) client_request_id: String,
}

/// `innerError.date`: UTC, seconds, no `Z`.
fn inner_date(state: &AppState) -> String {
    state
        .now()
        .format(&time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]"
        ))
        .unwrap_or_default()
}

/// Graph's JSON error body.
pub(crate) fn error_body(state: &AppState, ids: &RequestIds, e: &GraphError) -> Value {
    let mut inner = json!({"date": inner_date(state), "request-id": ids.request_id, "client-request-id": ids.client_request_id});
    if e.status == StatusCode::TOO_MANY_REQUESTS {
        inner["code"] = json!("429");
        inner["status"] = json!("429");
        inner["message"] = json!("Please retry after");
    }
    let mut err = json!({"code": e.code, "message": e.message, "innerError": inner});
    if let Some(d) = &e.details {
        err["details"] = d.clone();
    }
    json!({ "error": err })
}

/// Request ids, test-mode faults and rate limits, error rendering and the headers every
/// Graph response carries.
async fn envelope(State(state): Shared, mut request: Request, next: Next) -> Response {
    let request_id = crypto::random_guid(state.random.as_ref());
    let client_request_id = request
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map_or_else(|| request_id.clone(), str::to_owned);
    let ids = RequestIds {
        request_id,
        client_request_id,
    };
    request.extensions_mut().insert(ids.clone());
    let path = request.uri().path().to_owned();
    let units = resource_units(request.method(), &path);

    let mut response = match state
        .faults
        .before(crate::infra::faults::Target::Graph, &path)
        .await
    {
        Some(fault) => GraphError::from(fault).into_response(),
        None => next.run(request).await,
    };
    if let Some(err) = response.extensions_mut().remove::<GraphError>() {
        let body = serde_json::to_vec(&error_body(&state, &ids, &err)).unwrap_or_default();
        let mut r = (err.status, body).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(w) = &err.www_authenticate
            && let Ok(v) = HeaderValue::from_str(w)
        {
            h.insert(header::WWW_AUTHENTICATE, v);
        }
        if let Some(ra) = &err.retry_after
            && let Ok(v) = HeaderValue::from_str(ra)
        {
            h.insert(header::RETRY_AFTER, v);
        }
        if err.status == StatusCode::UNAUTHORIZED {
            state
                .metrics
                .graph_auth_failure(auth_failure_reason(&err.message));
        }
        response = r;
    }
    let h = response.headers_mut();
    set(h, "request-id", &ids.request_id);
    set(h, "client-request-id", &ids.client_request_id);
    h.insert(
        HeaderName::from_static("x-ms-ags-diagnostic"),
        HeaderValue::from_static(r#"{"ServerInfo":{"DataCenter":"tessera","Slice":"E","Ring":"1","ScaleUnit":"000","RoleInstance":"tessera"}}"#),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        HeaderName::from_static("x-ms-resource-unit"),
        HeaderValue::from(units),
    );
    response
}

/// The directory's throttling cost of a request, as Graph reports it in `x-ms-resource-unit`
/// (base costs from Microsoft's throttling limits; the query modifiers are not applied).
fn resource_units(method: &axum::http::Method, path: &str) -> u32 {
    if method != axum::http::Method::GET {
        return 1;
    }
    let p = path.trim_end_matches('/');
    if p == "/v1.0/users" || p == "/v1.0/applications" {
        2
    } else if p.starts_with("/v1.0/groups/") && p.ends_with("/members") {
        3
    } else {
        1
    }
}

/// A short label for why a bearer token was refused (metrics).
fn auth_failure_reason(message: &str) -> &'static str {
    if message.starts_with("IDX") {
        "malformed"
    } else if message.contains("expired") {
        "expired"
    } else if message.contains("not yet valid") {
        "not_yet_valid"
    } else if message.contains("Continuous access evaluation") {
        "cae_challenge"
    } else if message.contains("Signature") {
        "signature"
    } else if message.contains("audience") {
        "audience"
    } else if message.contains("issuer") {
        "issuer"
    } else if message.contains("empty") {
        "missing"
    } else {
        "malformed"
    }
}

fn set(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(HeaderName::from_static(name), v);
    }
}

/// A JSON success response with Graph's content type.
pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut r = (status, serde_json::to_vec(value).unwrap_or_default()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"),
    );
    r.headers_mut().insert(
        HeaderName::from_static("odata-version"),
        HeaderValue::from_static("4.0"),
    );
    r
}

pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// `https://host:port/v1.0`, as the client addressed this server.
pub(crate) fn graph_base(state: &AppState, headers: &HeaderMap, uri: &axum::http::Uri) -> String {
    format!("{}/v1.0", crate::respond::base_url(state, headers, uri))
}

/// A Graph timestamp: `2018-12-22T02:21:05Z`.
pub(crate) fn graph_time(unix: i64) -> Value {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .ok()
        })
        .map_or(Value::Null, Value::String)
}

/// Keeps only the selected properties (in `select` order), or all when nothing is selected.
pub(crate) fn project(all: Map<String, Value>, select: Option<&[String]>) -> Map<String, Value> {
    match select {
        None => all,
        Some(props) => {
            let mut out = Map::new();
            for p in props {
                if let Some((k, v)) = all.iter().find(|(k, _)| k.eq_ignore_ascii_case(p)) {
                    out.insert(k.clone(), v.clone());
                }
            }
            out
        }
    }
}

/// Parses a JSON request body into an object, with Graph's error when it is not one.
/// The key Microsoft Graph's permissions are kept under in an app's grants.
pub(crate) fn graph_resource_key() -> String {
    tessera_proto::scope::resource_key(tessera_proto::GRAPH_RESOURCE)
}

/// Graph's answer to a create or action body without a required property.
pub(crate) fn property_required(name: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Property '{name}' is required when creating the object."
    ))
    .with_details(json!([{"code": "PropertyRequired", "target": name}]))
}

/// A required string property of a request body.
pub(crate) fn required_str<'a>(
    body: &'a Map<String, Value>,
    name: &str,
) -> Result<&'a str, GraphError> {
    body.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| property_required(name))
}

pub(crate) fn json_object(body: &[u8]) -> Result<Map<String, Value>, GraphError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        // The exact Graph wording for a malformed body is UNCONFIRMED.
        _ => Err(GraphError::bad_request(
            "The request body must be a JSON object.",
        )),
    }
}

async fn wrong_method() -> GraphError {
    GraphError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Request_BadRequest",
        "Specified HTTP method is not allowed for the request target.",
    )
}

async fn unknown_segment(uri: axum::extract::OriginalUri) -> GraphError {
    let shown: String = unresolved_segment(uri.0.path()).chars().take(200).collect();
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        format!("Resource not found for the segment '{shown}'."),
    )
}

/// The segment Graph names when it cannot resolve a path: an unknown collection is itself the
/// culprit (`/v1.0/v1.0/users` names 'v1.0'); under a known one, the last segment is (a
/// navigation or action this subset does not have: `/users/{id}/deviceStatuses`). Graph's
/// full OData path resolution is richer; this matches what scripts see in the common cases.
fn unresolved_segment(path: &str) -> &str {
    const COLLECTIONS: &[&str] = &[
        "me",
        "users",
        "groups",
        "applications",
        "servicePrincipals",
        "policies",
        "directoryObjects",
        "$batch",
    ];
    let segments: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .skip(1) // "v1.0"
        .filter(|s| !s.is_empty())
        .collect();
    match segments.first() {
        Some(first) if !COLLECTIONS.contains(first) => first,
        _ => segments.last().copied().unwrap_or_default(),
    }
}

/// Graph addresses applications and service principals by alternate key as
/// `/applications(appId='...')`, with no slash; the router matches whole segments, so the key
/// becomes its own segment before routing.
pub(crate) fn normalize_key_segments(path: &str) -> Option<String> {
    let mut changed = None;
    for collection in ["/applications(", "/servicePrincipals("] {
        let current = changed.as_deref().unwrap_or(path);
        if let Some(i) = current.find(collection) {
            let split = i + collection.len() - 1;
            changed = Some(format!("{}/{}", &current[..split], &current[split..]));
        }
    }
    changed
}

/// Rewrites a request's URI with [`normalize_key_segments`].
pub(crate) fn normalize_request<B>(mut req: axum::http::Request<B>) -> axum::http::Request<B> {
    if let Some(path) = normalize_key_segments(req.uri().path()) {
        let pq = match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(p) = pq.parse() {
            parts.path_and_query = Some(p);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

/// The Graph routes, relative to `/v1.0`.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/me", get(users::me))
        .route("/users", get(users::list).post(users::create))
        .route("/users/$count", get(users::count))
        .route(
            "/users/{id}",
            get(users::get).patch(users::update).delete(users::delete),
        )
        .route(
            "/users/{id}/revokeSignInSessions",
            post(users::revoke_sessions),
        )
        .route("/groups", get(groups::list).post(group_writes::create))
        .route("/groups/$count", get(groups::count))
        .route(
            "/groups/{id}",
            get(groups::get)
                .patch(group_writes::update)
                .delete(group_writes::delete),
        )
        .route("/groups/{id}/members", get(groups::members))
        .route("/groups/{id}/members/$ref", post(group_writes::add_member))
        .route(
            "/groups/{id}/members/{member}/$ref",
            axum::routing::delete(group_writes::remove_member),
        )
        .route("/groups/{id}/owners/$ref", post(group_writes::add_owner))
        .route(
            "/groups/{id}/owners/{member}/$ref",
            axum::routing::delete(group_writes::remove_owner),
        )
        .route("/users/{id}/memberOf", get(group_writes::user_member_of))
        .route(
            "/users/{id}/transitiveMemberOf",
            get(group_writes::user_member_of),
        )
        .route("/me/memberOf", get(group_writes::my_member_of))
        .route("/me/transitiveMemberOf", get(group_writes::my_member_of))
        .route(
            "/applications",
            get(apps::list_applications).post(app_writes::create),
        )
        .route(
            "/applications/{id}",
            get(apps::get_application)
                .patch(app_writes::update)
                .delete(app_writes::delete),
        )
        .route(
            "/applications/{id}/addPassword",
            post(app_writes::add_password),
        )
        .route(
            "/applications/{id}/removePassword",
            post(app_writes::remove_password),
        )
        .route("/applications/{id}/addKey", post(app_keys::add_key))
        .route("/applications/{id}/removeKey", post(app_keys::remove_key))
        .route(
            "/applications/{id}/tokenLifetimePolicies",
            get(policies::list_assigned_app),
        )
        .route(
            "/applications/{id}/tokenLifetimePolicies/$ref",
            post(policies::assign_app),
        )
        .route(
            "/applications/{id}/tokenLifetimePolicies/{policy}/$ref",
            axum::routing::delete(policies::unassign_app),
        )
        .route(
            "/servicePrincipals",
            get(apps::list_service_principals).post(sp_writes::create),
        )
        .route(
            "/servicePrincipals/{id}",
            get(apps::get_service_principal)
                .patch(sp_writes::update)
                .delete(sp_writes::delete),
        )
        .route(
            "/servicePrincipals/{id}/appRoleAssignments",
            get(role_grants::list_assignments).post(role_grants::create_assignment),
        )
        .route(
            "/servicePrincipals/{id}/appRoleAssignments/{assignment}",
            axum::routing::delete(role_grants::delete_assignment),
        )
        .route(
            "/servicePrincipals/{id}/appRoleAssignedTo",
            get(role_grants::list_assigned_to).post(role_grants::create_assigned_to),
        )
        .route(
            "/servicePrincipals/{id}/appRoleAssignedTo/{assignment}",
            axum::routing::delete(role_grants::delete_assigned_to),
        )
        .route(
            "/servicePrincipals/{id}/tokenLifetimePolicies",
            get(policies::list_assigned_sp),
        )
        .route(
            "/servicePrincipals/{id}/tokenLifetimePolicies/$ref",
            post(policies::assign_sp),
        )
        .route(
            "/servicePrincipals/{id}/tokenLifetimePolicies/{policy}/$ref",
            axum::routing::delete(policies::unassign_sp),
        )
        .route(
            "/policies/tokenLifetimePolicies",
            get(policies::list).post(policies::create),
        )
        .route(
            "/policies/tokenLifetimePolicies/{id}",
            get(policies::get)
                .patch(policies::update)
                .delete(policies::delete),
        )
        .route(
            "/policies/tokenLifetimePolicies/{id}/appliesTo",
            get(policies::applies_to),
        )
        .route(
            "/directoryObjects/getByIds",
            post(directory_objects::get_by_ids),
        )
        .route(
            "/oauth2PermissionGrants",
            get(consent_grants::list).post(consent_grants::create),
        )
        .route(
            "/oauth2PermissionGrants/{id}",
            get(consent_grants::get)
                .patch(consent_grants::update)
                .delete(consent_grants::delete),
        )
        .route(
            "/roleManagement/directory/roleDefinitions",
            get(role_management::list_definitions),
        )
        .route(
            "/roleManagement/directory/roleAssignments",
            get(role_management::list).post(role_management::create),
        )
        .route(
            "/roleManagement/directory/roleAssignments/{id}",
            get(role_management::get).delete(role_management::delete),
        )
        .route("/$batch", post(batch::batch))
        .method_not_allowed_fallback(wrong_method)
        .fallback(unknown_segment)
}

/// The Graph router mounted at `/v1.0` (and the lifetime explanation, which takes a Graph
/// token), with its envelope.
pub(crate) fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .nest("/v1.0", routes())
        .route("/_tessera/lifetime", get(policies::explain))
        .layer(middleware::from_fn_with_state(state, envelope))
}

#[cfg(test)]
mod tests {
    use super::{normalize_key_segments, unresolved_segment};

    #[test]
    fn the_unresolved_segment_is_named() {
        assert_eq!(unresolved_segment("/v1.0/v1.0/users"), "v1.0");
        assert_eq!(
            unresolved_segment("/v1.0/users/abc/deviceStatuses"),
            "deviceStatuses"
        );
        assert_eq!(unresolved_segment("/v1.0/nothing"), "nothing");
    }

    #[test]
    fn alternate_keys_become_segments() {
        assert_eq!(
            normalize_key_segments("/v1.0/applications(appId='a-b')/tokenLifetimePolicies/$ref")
                .as_deref(),
            Some("/v1.0/applications/(appId='a-b')/tokenLifetimePolicies/$ref")
        );
        assert_eq!(
            normalize_key_segments("/v1.0/servicePrincipals(appId='x')").as_deref(),
            Some("/v1.0/servicePrincipals/(appId='x')")
        );
        assert_eq!(normalize_key_segments("/v1.0/applications/abc"), None);
    }
}
