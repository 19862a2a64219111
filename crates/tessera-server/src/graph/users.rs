//! `/users`, `/users/{id|userPrincipalName}`, `/me`, `/users/$count` and
//! `revokeSignInSessions`, with Graph's default property set, permissions and errors.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::{Map, Value, json};
use tessera_proto::clock::Clock as _;

use super::auth::{Caller, Principal, Rows};
use super::query::{Entity, ListOptions, page};
use super::{
    GraphError, GraphResult, Shared, graph_base, graph_time, json_object, json_response,
    no_content, project,
};
use crate::crypto;
use crate::state::AppState;
use crate::store::{Cursor, User};

const READ_APP: Rows = &[
    &["User.Read.All"],
    &["User.ReadWrite.All"],
    &["Directory.Read.All"],
    &["Directory.ReadWrite.All"],
];
const READ_DELEGATED: Rows = &[
    &["User.ReadBasic.All"],
    &["User.Read.All"],
    &["User.ReadWrite.All"],
    &["Directory.Read.All"],
    &["Directory.ReadWrite.All"],
];
const WRITE: Rows = &[&["User.ReadWrite.All"], &["Directory.ReadWrite.All"]];
const REVOKE_APP: Rows = &[
    &["User.RevokeSessions.All"],
    &["User.ReadWrite.All"],
    &["Directory.ReadWrite.All"],
];
const REVOKE_DELEGATED: Rows = &[
    &["User.RevokeSessions.All"],
    &["User.ReadWrite.All"],
    &["Directory.AccessAsUser.All"],
];
const ME: Rows = &[
    &["User.Read"],
    &["User.ReadWrite"],
    &["User.ReadBasic.All"],
    &["User.Read.All"],
    &["User.ReadWrite.All"],
    &["Directory.Read.All"],
];

/// Graph's default user properties, in its order.
const DEFAULT_PROPERTIES: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

/// Properties kept in `extra`, writable through POST and PATCH.
const EXTRA_PROPERTIES: &[&str] = &[
    "businessPhones",
    "jobTitle",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "mailNickname",
    "department",
    "companyName",
    "employeeId",
    "usageLocation",
    "city",
    "country",
    "state",
    "streetAddress",
    "postalCode",
    "otherMails",
    "userType",
];

pub(crate) const ENTITY: Entity = Entity {
    name: "User",
    selectable: &[
        "id",
        "userPrincipalName",
        "displayName",
        "givenName",
        "surname",
        "mail",
        "accountEnabled",
        "createdDateTime",
        "signInSessionsValidFromDateTime",
        "businessPhones",
        "jobTitle",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "mailNickname",
        "department",
        "companyName",
        "employeeId",
        "usageLocation",
        "city",
        "country",
        "state",
        "streetAddress",
        "postalCode",
        "otherMails",
        "userType",
    ],
    filterable: &[
        "id",
        "userPrincipalName",
        "displayName",
        "givenName",
        "surname",
        "mail",
        "accountEnabled",
    ],
    orderable: true,
};

fn opt(v: &Option<String>) -> Value {
    v.clone().map_or(Value::Null, Value::String)
}

/// A user in Graph's shape: the default set, or the selected properties.
pub(crate) fn user_json(u: &User, select: Option<&[String]>) -> Map<String, Value> {
    let get = |name: &str| -> Value {
        match name {
            "id" => Value::String(u.id.clone()),
            "userPrincipalName" => Value::String(u.user_principal_name.clone()),
            "displayName" => Value::String(u.display_name.clone()),
            "givenName" => opt(&u.given_name),
            "surname" => opt(&u.surname),
            "mail" => opt(&u.mail),
            "accountEnabled" => Value::Bool(u.account_enabled),
            "createdDateTime" => graph_time(u.created_at),
            "signInSessionsValidFromDateTime" => graph_time(u.tokens_valid_after.max(u.created_at)),
            "businessPhones" | "otherMails" => {
                u.extra.get(name).cloned().unwrap_or_else(|| json!([]))
            }
            "userType" => u
                .extra
                .get(name)
                .cloned()
                .unwrap_or_else(|| json!("Member")),
            other => u.extra.get(other).cloned().unwrap_or(Value::Null),
        }
    };
    let mut out = Map::new();
    match select {
        None => {
            for p in DEFAULT_PROPERTIES {
                out.insert((*p).to_owned(), get(p));
            }
        }
        Some(props) => {
            for p in props {
                if let Some(canonical) =
                    ENTITY.selectable.iter().find(|s| s.eq_ignore_ascii_case(p))
                {
                    out.insert((*canonical).to_owned(), get(canonical));
                }
            }
        }
    }
    out
}

/// Finds a user by object id or user principal name.
pub(crate) async fn find(state: &AppState, caller: &Caller, key: &str) -> Result<User, GraphError> {
    let key = key.trim_start_matches("('").trim_end_matches("')");
    let user = if key.contains('@') {
        state.directory.user_by_upn(&caller.tenant.id, key).await?
    } else {
        state.directory.user(&caller.tenant.id, key).await?
    };
    user.ok_or_else(|| GraphError::not_found(key))
}

pub(crate) async fn list(
    state: Shared,
    caller: Caller,
    RawQuery(q): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    caller.require(READ_APP, READ_DELEGATED)?;
    let state = state.0;
    let opts = ListOptions::parse(&state, q.as_deref(), &headers, &ENTITY)?;
    let base = graph_base(&state, &headers, &uri);
    let path = format!("{base}/users");
    if state
        .faults
        .take_empty_page(&format!("/v1.0{}", uri.path()))
    {
        // An empty page that still has a nextLink, continuing exactly where this one was.
        let cursor = opts.after.clone().unwrap_or(Cursor {
            display_name: Some(String::new()),
            id: String::new(),
        });
        return Ok(page(
            opts.context(&base, "users"),
            None,
            Some(opts.next_link(&state, &path, &cursor)),
            Vec::new(),
        ));
    }
    let users = state
        .store()
        .list_users(&caller.tenant.id, &opts.store_query())
        .await?;
    let count = state
        .store()
        .count_users(&caller.tenant.id, opts.filter.as_ref());
    super::list::from_store(
        &state,
        &opts,
        &path,
        opts.context(&base, "users"),
        users,
        count,
        |x| Cursor {
            display_name: Some(x.display_name.clone()),
            id: x.id.clone(),
        },
        |u| Value::Object(user_json(u, opts.select.as_deref())),
    )
    .await
}

pub(crate) async fn count(
    state: Shared,
    caller: Caller,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> GraphResult {
    caller.require(READ_APP, READ_DELEGATED)?;
    let opts = super::query::count_options(&state.0, q.as_deref(), &headers, &ENTITY)?;
    let n = state
        .0
        .store()
        .count_users(&caller.tenant.id, opts.filter.as_ref())
        .await?;
    Ok(super::query::count_response(n))
}

fn entity_response(
    base: &str,
    u: &User,
    select: Option<&[String]>,
    status: StatusCode,
) -> axum::response::Response {
    let mut body = Map::new();
    let context = match select {
        Some(s) => format!("{base}/$metadata#users({})/$entity", s.join(",")),
        None => format!("{base}/$metadata#users/$entity"),
    };
    body.insert("@odata.context".into(), Value::String(context));
    body.extend(user_json(u, select));
    json_response(status, &Value::Object(body))
}

pub(crate) async fn get(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    let state = state.0;
    let user = find(&state, &caller, &id).await;
    // A delegated caller with only User.Read may read itself.
    let own = matches!((&user, caller.user_id()), (Ok(u), Some(me)) if u.id == me);
    if !(own && (caller.holds("User.Read") || caller.holds("User.ReadWrite"))) {
        caller.require(
            READ_APP,
            &[
                &["User.ReadBasic.All"],
                &["User.Read.All"],
                &["User.ReadWrite.All"],
                &["Directory.Read.All"],
            ],
        )?;
    }
    let user = user?;
    let opts = ListOptions::parse(&state, q.as_deref(), &headers, &ENTITY)?;
    Ok(entity_response(
        &graph_base(&state, &headers, &uri),
        &user,
        opts.select.as_deref(),
        StatusCode::OK,
    ))
}

pub(crate) async fn me(
    state: Shared,
    caller: Caller,
    RawQuery(q): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    let Principal::User { user_id, .. } = &caller.principal else {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "/me request is only valid with delegated authentication flow.",
        ));
    };
    caller.require(&[], ME)?;
    let state = state.0;
    let user = state
        .directory
        .user(&caller.tenant.id, user_id)
        .await?
        .ok_or_else(|| GraphError::not_found(user_id))?;
    let opts = ListOptions::parse(&state, q.as_deref(), &headers, &ENTITY)?;
    Ok(entity_response(
        &graph_base(&state, &headers, &uri),
        &user,
        opts.select.as_deref(),
        StatusCode::OK,
    ))
}

fn string_prop(body: &Map<String, Value>, name: &str) -> Result<Option<String>, GraphError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(GraphError::bad_request(format!(
            "Invalid value specified for property '{name}' of resource 'User'."
        ))),
    }
}

/// Applies writable properties of a POST or PATCH body to `user`; returns a new password.
fn apply_body(
    user: &mut User,
    tenant_domain: &str,
    body: &Map<String, Value>,
) -> Result<Option<String>, GraphError> {
    let mut password = None;
    for (k, v) in body {
        match k.as_str() {
            "displayName" => {
                user.display_name = string_prop(body, k)?.ok_or_else(|| {
                    GraphError::bad_request(
                        "Invalid value specified for property 'displayName' of resource 'User'.",
                    )
                })?
            }
            "givenName" => user.given_name = string_prop(body, k)?,
            "surname" => user.surname = string_prop(body, k)?,
            "mail" => user.mail = string_prop(body, k)?,
            "userPrincipalName" => {
                let upn = string_prop(body, k)?.unwrap_or_default();
                let domain = upn.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
                if upn.is_empty()
                    || upn.starts_with('@')
                    || !domain.eq_ignore_ascii_case(tenant_domain)
                {
                    return Err(GraphError::bad_request(
                        "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.",
                    )
                    .with_details(json!([{"code": "InvalidValue", "target": "userPrincipalName"}])));
                }
                user.user_principal_name = upn;
            }
            "accountEnabled" => {
                user.account_enabled = v.as_bool().ok_or_else(|| {
                    GraphError::bad_request(
                        "Invalid value specified for property 'accountEnabled' of resource 'User'.",
                    )
                })?;
            }
            "passwordProfile" => {
                let p = v
                    .get("password")
                    .and_then(Value::as_str)
                    .filter(|p| !p.is_empty());
                password = Some(p.ok_or_else(|| GraphError::bad_request("Invalid value specified for property 'passwordProfile' of resource 'User'."))?.to_owned());
            }
            "@odata.type" | "id" => {}
            other if EXTRA_PROPERTIES.contains(&other) => {
                user.extra.insert(other.to_owned(), v.clone());
            }
            other => {
                // Graph refuses properties the type does not have (wording UNCONFIRMED).
                return Err(GraphError::bad_request(format!(
                    "Property '{other}' does not exist on type 'microsoft.graph.user'."
                )));
            }
        }
    }
    Ok(password)
}

impl GraphError {
    pub(crate) fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
}

async fn hash(password: String, state: &AppState) -> Result<String, GraphError> {
    let random = state.random.clone();
    crypto::hash_queued(password, random)
        .await
        .map_err(GraphError::internal)
}

pub(crate) async fn create(
    state: Shared,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> GraphResult {
    caller.require(
        WRITE,
        &[
            &["User.ReadWrite.All"],
            &["Directory.ReadWrite.All"],
            &["Directory.AccessAsUser.All"],
        ],
    )?;
    let state = state.0;
    let body = json_object(&body)?;
    for required in [
        "accountEnabled",
        "displayName",
        "mailNickname",
        "passwordProfile",
        "userPrincipalName",
    ] {
        if !body.contains_key(required) {
            return Err(super::property_required(required));
        }
    }
    let now = state.clock.unix();
    let mut user = User {
        tenant_id: caller.tenant.id.clone(),
        id: crypto::random_guid(state.random.as_ref()),
        user_principal_name: String::new(),
        display_name: String::new(),
        given_name: None,
        surname: None,
        mail: None,
        password_hash: None,
        account_enabled: true,
        mfa_required: false,
        mfa_totp_secret: None,
        tokens_valid_after: 0,
        session_generation: 0,
        revoked_at_ms: 0,
        created_at: now,
        extra: Default::default(),
        directory_roles: Vec::new(),
    };
    let password = apply_body(&mut user, &caller.tenant.domain, &body)?;
    if let Some(p) = password {
        user.password_hash = Some(hash(p, &state).await?);
    }
    if state
        .directory
        .user_by_upn(&user.tenant_id, &user.user_principal_name)
        .await?
        .is_some()
    {
        return Err(GraphError::bad_request(
            "Another object with the same value for property userPrincipalName already exists.",
        )
        .with_details(json!([{"code": "ObjectConflict", "target": "userPrincipalName"}])));
    }
    match state.store().put_user(user.clone()).await {
        Ok(()) => {}
        Err(crate::store::StoreError::Conflict(_)) => {
            return Err(GraphError::bad_request(
                "Another object with the same value for property userPrincipalName already exists.",
            )
            .with_details(json!([{"code": "ObjectConflict", "target": "userPrincipalName"}])));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(entity_response(
        &graph_base(&state, &headers, &uri),
        &user,
        None,
        StatusCode::CREATED,
    ))
}

pub(crate) async fn update(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> GraphResult {
    caller.require(
        WRITE,
        &[&["User.ReadWrite.All"], &["Directory.ReadWrite.All"]],
    )?;
    let state = state.0;
    let body = json_object(&body)?;
    let mut user = find(&state, &caller, &id).await?;
    let password = apply_body(&mut user, &caller.tenant.domain, &body)?;
    if let Some(p) = password {
        user.password_hash = Some(hash(p, &state).await?);
        // A password change revokes the user's refresh tokens, as in Entra.
        user = crate::directory::revoked(user, state.clock.now());
    }
    if let Some(other) = state
        .directory
        .user_by_upn(&user.tenant_id, &user.user_principal_name)
        .await?
        && other.id != user.id
    {
        return Err(GraphError::bad_request(
            "Another object with the same value for property userPrincipalName already exists.",
        )
        .with_details(json!([{"code": "ObjectConflict", "target": "userPrincipalName"}])));
    }
    state.store().put_user(user).await?;
    Ok(no_content())
}

pub(crate) async fn delete(state: Shared, caller: Caller, Path(id): Path<String>) -> GraphResult {
    caller.require(
        WRITE,
        &[&["User.ReadWrite.All"], &["Directory.ReadWrite.All"]],
    )?;
    let state = state.0;
    let user = find(&state, &caller, &id).await?;
    state
        .store()
        .delete_user(&caller.tenant.id, &user.id)
        .await?;
    Ok(no_content())
}

pub(crate) async fn revoke_sessions(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    caller.require(REVOKE_APP, REVOKE_DELEGATED)?;
    let state = state.0;
    let user = find(&state, &caller, &id).await?;
    state.revoke_sessions(user).await?;
    let base = graph_base(&state, &headers, &uri);
    Ok(json_response(
        StatusCode::OK,
        &json!({"@odata.context": format!("{base}/$metadata#Edm.Boolean"), "value": true}),
    ))
}

/// A user as a member of a directoryObject collection.
pub(crate) fn member_json(u: &User, select: Option<&[String]>) -> Value {
    let mut m = Map::new();
    m.insert(
        "@odata.type".into(),
        Value::String("#microsoft.graph.user".into()),
    );
    m.extend(project(user_json(u, None), select));
    Value::Object(m)
}
