//! `/policies/tokenLifetimePolicies` (list, create, get, update, delete, appliesTo), their
//! assignment to applications and service principals (`.../tokenLifetimePolicies/$ref`),
//! and `GET /_tessera/lifetime`, which explains the lifetime a token would get.

use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery};
use axum::http::{HeaderMap, StatusCode, Uri};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tessera_proto::lifetime::{self, LifetimeSource, format_timespan, parse_policy_lifetime};

use super::apps::{find_application, find_service_principal};
use super::auth::{Caller, Rows};
use super::query::{Entity, ListOptions, page};
use super::{
    GraphError, GraphResult, Shared, graph_base, json_object, json_response, no_content, project,
};
use crate::crypto;
use crate::directory::graph_service_principal_id;
use crate::state::AppState;
use crate::store::{AssignOutcome, ObjectKind, PolicyAssignment, StoreError, TokenLifetimePolicy};

const READ: Rows = &[
    &["Policy.Read.All"],
    &["Policy.Read.ApplicationConfiguration"],
    &["Policy.ReadWrite.ApplicationConfiguration"],
];
const WRITE: Rows = &[&["Policy.ReadWrite.ApplicationConfiguration"]];
/// Higher privileges (ReadWrite over Read) are accepted as Graph accepts them.
const APPLIES_TO: Rows = &[
    &["Policy.Read.All", "Application.Read.All"],
    &["Policy.Read.All", "Application.ReadWrite.All"],
    &[
        "Policy.ReadWrite.ApplicationConfiguration",
        "Application.Read.All",
    ],
    &[
        "Policy.ReadWrite.ApplicationConfiguration",
        "Application.ReadWrite.All",
    ],
    &["Directory.Read.All"],
];
const ASSIGN_APP_ONLY: Rows = &[
    &["Application.ReadWrite.OwnedBy", "Policy.Read.All"],
    &["Policy.Read.All", "Application.ReadWrite.All"],
    &[
        "Policy.ReadWrite.ApplicationConfiguration",
        "Application.ReadWrite.All",
    ],
    &[
        "Application.ReadWrite.OwnedBy",
        "Policy.ReadWrite.ApplicationConfiguration",
    ],
];
const ASSIGN_DELEGATED: Rows = &[
    &["Application.ReadWrite.All", "Policy.Read.All"],
    &[
        "Application.ReadWrite.All",
        "Policy.ReadWrite.ApplicationConfiguration",
    ],
];

const ENTITY: Entity = Entity {
    name: "TokenLifetimePolicy",
    selectable: &[
        "id",
        "deletedDateTime",
        "definition",
        "description",
        "displayName",
        "isOrganizationDefault",
    ],
    filterable: &[],
    orderable: false,
};

fn invalid_definition() -> GraphError {
    GraphError::bad_request("Property definition has an invalid value.")
}

/// Validates a `definition`: an array whose first string is
/// `{"TokenLifetimePolicy":{"Version":1,"AccessTokenLifetime":"hh:mm:ss"}}`. The retired
/// refresh and session properties are accepted and ignored. Returns the access token
/// lifetime in seconds (0 when the definition sets none).
pub(crate) fn parse_definition(value: &Value) -> Result<(Vec<String>, i64), GraphError> {
    let Some(items) = value.as_array() else {
        return Err(invalid_definition());
    };
    let strings: Vec<String> = items
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<_>>()
        .ok_or_else(invalid_definition)?;
    let first = strings.first().ok_or_else(invalid_definition)?;
    let doc: Value = serde_json::from_str(first).map_err(|_| invalid_definition())?;
    let get = |o: &Value, key: &str| -> Option<Value> {
        o.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    };
    let policy = get(&doc, "TokenLifetimePolicy")
        .filter(Value::is_object)
        .ok_or_else(invalid_definition)?;
    if get(&policy, "Version").and_then(|v| v.as_i64()) != Some(1) {
        return Err(invalid_definition());
    }
    let seconds = match get(&policy, "AccessTokenLifetime") {
        None => 0,
        Some(Value::String(s)) => parse_policy_lifetime(&s).map_err(|_| invalid_definition())?,
        Some(_) => return Err(invalid_definition()),
    };
    Ok((strings, seconds))
}

fn policy_json(p: &TokenLifetimePolicy) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), json!(p.id));
    m.insert("deletedDateTime".into(), Value::Null);
    m.insert("definition".into(), json!(p.definition));
    m.insert(
        "description".into(),
        p.description.clone().map_or(Value::Null, Value::String),
    );
    m.insert("displayName".into(), json!(p.display_name));
    m.insert(
        "isOrganizationDefault".into(),
        json!(p.is_organization_default),
    );
    m
}

fn entity_body(base: &str, p: &TokenLifetimePolicy, select: Option<&[String]>) -> Value {
    let mut m = Map::new();
    m.insert(
        "@odata.context".into(),
        json!(format!(
            "{base}/$metadata#policies/tokenLifetimePolicies/$entity"
        )),
    );
    m.extend(project(policy_json(p), select));
    Value::Object(m)
}

fn org_default_conflict(existing: Option<&TokenLifetimePolicy>) -> GraphError {
    // Graph's answer to a second organization default is UNCONFIRMED; this one says what to do.
    let id = existing.map(|p| p.id.as_str()).unwrap_or("unknown");
    GraphError::bad_request(format!(
        "Only one token lifetime policy can be the organization default; policy '{id}' already is. Set its isOrganizationDefault to false first."
    ))
}

async fn find(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<TokenLifetimePolicy, GraphError> {
    let snapshot = state.directory.policy_snapshot(&caller.tenant.id).await?;
    if let Some(p) = snapshot.policy(id) {
        return Ok(p.clone());
    }
    // Not in the cached snapshot: another server on the same database may have just made it
    // and the announcement that clears our cache not arrived yet (the PostgreSQL soak saw
    // such 404s). Only a miss pays for a read of the store itself.
    state
        .store()
        .policies(&caller.tenant.id)
        .await?
        .into_iter()
        .find(|p| p.id.eq_ignore_ascii_case(id))
        .ok_or_else(|| GraphError::not_found(id))
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
    let base = graph_base(&state, &headers, &uri);
    let snapshot = state.directory.policy_snapshot(&caller.tenant.id).await?;
    let items = snapshot
        .policies
        .iter()
        .map(|p| {
            (
                p.id.clone(),
                Value::Object(project(policy_json(p), opts.select.as_deref())),
            )
        })
        .collect();
    Ok(super::list::from_memory(
        &state,
        &opts,
        &format!("{base}/policies/tokenLifetimePolicies"),
        opts.context(&base, "policies/tokenLifetimePolicies"),
        items,
    ))
}

pub(crate) async fn get(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    caller.require(READ, READ)?;
    let state = state.0;
    let p = find(&state, &caller, &id).await?;
    let opts = ListOptions::parse(&state, q.as_deref(), &headers, &ENTITY)?;
    Ok(json_response(
        StatusCode::OK,
        &entity_body(
            &graph_base(&state, &headers, &uri),
            &p,
            opts.select.as_deref(),
        ),
    ))
}

fn read_fields(body: &Map<String, Value>, p: &mut TokenLifetimePolicy) -> Result<(), GraphError> {
    for (k, v) in body {
        match k.as_str() {
            "definition" => {
                let (definition, seconds) = parse_definition(v)?;
                p.definition = definition;
                p.access_token_seconds = seconds;
            }
            "displayName" => {
                p.display_name = v
                    .as_str()
                    .filter(|s| !s.trim().is_empty())
                    .ok_or_else(|| {
                        GraphError::bad_request("Property displayName has an invalid value.")
                    })?
                    .to_owned();
            }
            "description" => p.description = v.as_str().map(str::to_owned),
            "isOrganizationDefault" => {
                p.is_organization_default = v.as_bool().ok_or_else(|| {
                    GraphError::bad_request("Property isOrganizationDefault has an invalid value.")
                })?;
            }
            "@odata.type" | "id" | "deletedDateTime" => {}
            other => {
                return Err(GraphError::bad_request(format!(
                    "Property '{other}' does not exist on type 'microsoft.graph.tokenLifetimePolicy'."
                )));
            }
        }
    }
    Ok(())
}

async fn save(state: &AppState, caller: &Caller, p: TokenLifetimePolicy) -> Result<(), GraphError> {
    let org_default = p.is_organization_default;
    match state.directory.put_policy(p).await {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict(_)) if org_default => {
            let snapshot = state.directory.policy_snapshot(&caller.tenant.id).await?;
            Err(org_default_conflict(snapshot.organization_default()))
        }
        Err(e) => Err(e.into()),
    }
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
    for required in ["definition", "displayName"] {
        if !body.contains_key(required) {
            return Err(GraphError::bad_request(format!(
                "Property '{required}' is required when creating the object."
            )));
        }
    }
    let mut p = TokenLifetimePolicy {
        tenant_id: caller.tenant.id.clone(),
        id: crypto::random_guid(state.random.as_ref()),
        display_name: String::new(),
        description: None,
        definition: Vec::new(),
        is_organization_default: false,
        access_token_seconds: 0,
    };
    read_fields(&body, &mut p)?;
    save(&state, &caller, p.clone()).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &entity_body(&graph_base(&state, &headers, &uri), &p, None),
    ))
}

pub(crate) async fn update(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> GraphResult {
    caller.require(WRITE, WRITE)?;
    let state = state.0;
    let body = json_object(&body)?;
    let mut p = find(&state, &caller, &id).await?;
    read_fields(&body, &mut p)?;
    save(&state, &caller, p).await?;
    Ok(no_content())
}

pub(crate) async fn delete(state: Shared, caller: Caller, Path(id): Path<String>) -> GraphResult {
    caller.require(WRITE, WRITE)?;
    let state = state.0;
    let p = find(&state, &caller, &id).await?;
    state
        .directory
        .delete_policy(&caller.tenant.id, &p.id)
        .await?;
    Ok(no_content())
}

pub(crate) async fn applies_to(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    caller.require(APPLIES_TO, APPLIES_TO)?;
    let state = state.0;
    let p = find(&state, &caller, &id).await?;
    let opts = ListOptions::parse(
        &state,
        q.as_deref(),
        &headers,
        &Entity {
            name: "DirectoryObject",
            selectable: &["id", "appId", "displayName", "deletedDateTime"],
            filterable: &[],
            orderable: false,
        },
    )?;
    let base = graph_base(&state, &headers, &uri);
    let snapshot = state.directory.policy_snapshot(&caller.tenant.id).await?;
    let apps = state.store().list_applications(&caller.tenant.id).await?;
    let graph_sp = graph_service_principal_id(&caller.tenant.id);
    let mut items = Vec::new();
    for a in snapshot.assignments.iter().filter(|a| a.policy_id == p.id) {
        let (app_id, name) = if a.object_id == graph_sp {
            (
                tessera_proto::GRAPH_APP_ID.to_owned(),
                "Microsoft Graph".to_owned(),
            )
        } else {
            apps.iter()
                .find(|x| x.object_id == a.object_id || x.service_principal_id == a.object_id)
                .map_or((String::new(), String::new()), |x| {
                    (x.client_id.clone(), x.display_name.clone())
                })
        };
        let mut m = Map::new();
        m.insert(
            "@odata.type".into(),
            json!(format!("#microsoft.graph.{}", a.kind.as_str())),
        );
        m.extend(project(
            serde_json::from_value(json!({"id": a.object_id, "deletedDateTime": null, "appId": app_id, "displayName": name})).unwrap_or_default(),
            opts.select.as_deref(),
        ));
        items.push((a.object_id.clone(), Value::Object(m)));
    }
    Ok(super::list::from_memory(
        &state,
        &opts,
        &format!("{base}/policies/tokenLifetimePolicies/{}/appliesTo", p.id),
        format!("{base}/$metadata#directoryObjects"),
        items,
    ))
}

/// The object a `/applications/{id}` or `/servicePrincipals/{id}` path names.
async fn target(
    state: &AppState,
    caller: &Caller,
    kind: ObjectKind,
    key: &str,
) -> Result<(String, bool), GraphError> {
    match kind {
        ObjectKind::Application => {
            Ok((find_application(state, caller, key).await?.object_id, false))
        }
        ObjectKind::ServicePrincipal => {
            let (id, app) = find_service_principal(state, caller, key).await?;
            Ok((id, app.is_some_and(|a| a.managed_identity)))
        }
    }
}

async fn assign(
    state: &AppState,
    caller: &Caller,
    kind: ObjectKind,
    key: &str,
    body: &[u8],
) -> GraphResult {
    caller.require(ASSIGN_APP_ONLY, ASSIGN_DELEGATED)?;
    let body = json_object(body)?;
    let reference = body
        .get("@odata.id")
        .and_then(Value::as_str)
        .ok_or_else(|| GraphError::bad_request("The request body must contain '@odata.id'."))?;
    let policy_id = reference
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let policy = find(state, caller, policy_id).await?;
    let (object_id, managed_identity) = target(state, caller, kind, key).await?;
    if managed_identity {
        // Wording UNCONFIRMED; Entra documents that policies cannot apply to managed identities.
        return Err(GraphError::bad_request(
            "Token lifetime policies cannot be assigned to managed identity service principals.",
        ));
    }
    let outcome = state
        .directory
        .assign_policy(PolicyAssignment {
            tenant_id: caller.tenant.id.clone(),
            object_id,
            kind,
            policy_id: policy.id.clone(),
        })
        .await?;
    match outcome {
        AssignOutcome::Assigned => Ok(no_content()),
        AssignOutcome::AlreadyAssigned => Err(GraphError::bad_request(
            "One or more added object references already exist for the following modified properties: 'tokenLifetimePolicies'.",
        )),
        AssignOutcome::OtherPolicyAssigned => Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "Request_MultipleObjectsWithSameKeyValue",
            "Request contains property changes that would result in property-uniqueness violation(s). Please retry your request with corrected values.",
        )),
    }
}

async fn list_assigned(
    state: &AppState,
    caller: &Caller,
    kind: ObjectKind,
    key: &str,
    uri: &Uri,
    headers: &HeaderMap,
) -> GraphResult {
    caller
        .require(ASSIGN_APP_ONLY, ASSIGN_DELEGATED)
        .or_else(|_| caller.require(APPLIES_TO, APPLIES_TO))?;
    let (object_id, _) = target(state, caller, kind, key).await?;
    let snapshot = state.directory.policy_snapshot(&caller.tenant.id).await?;
    let value: Vec<Value> = snapshot
        .assigned_to(&object_id)
        .map(|p| Value::Object(policy_json(p)))
        .into_iter()
        .collect();
    let base = graph_base(state, headers, uri);
    Ok(page(
        format!("{base}/$metadata#Collection(microsoft.graph.tokenLifetimePolicy)"),
        None,
        None,
        value,
    ))
}

async fn unassign(
    state: &AppState,
    caller: &Caller,
    kind: ObjectKind,
    key: &str,
    policy_id: &str,
) -> GraphResult {
    caller.require(ASSIGN_APP_ONLY, ASSIGN_DELEGATED)?;
    let (object_id, _) = target(state, caller, kind, key).await?;
    if state
        .directory
        .unassign_policy(&caller.tenant.id, &object_id, policy_id)
        .await?
    {
        Ok(no_content())
    } else {
        Err(GraphError::not_found(policy_id))
    }
}

pub(crate) async fn assign_app(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> GraphResult {
    assign(&state.0, &caller, ObjectKind::Application, &id, &body).await
}

pub(crate) async fn assign_sp(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> GraphResult {
    assign(&state.0, &caller, ObjectKind::ServicePrincipal, &id, &body).await
}

pub(crate) async fn list_assigned_app(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    list_assigned(
        &state.0,
        &caller,
        ObjectKind::Application,
        &id,
        &uri,
        &headers,
    )
    .await
}

pub(crate) async fn list_assigned_sp(
    state: Shared,
    caller: Caller,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> GraphResult {
    list_assigned(
        &state.0,
        &caller,
        ObjectKind::ServicePrincipal,
        &id,
        &uri,
        &headers,
    )
    .await
}

pub(crate) async fn unassign_app(
    state: Shared,
    caller: Caller,
    Path((id, policy)): Path<(String, String)>,
) -> GraphResult {
    unassign(&state.0, &caller, ObjectKind::Application, &id, &policy).await
}

pub(crate) async fn unassign_sp(
    state: Shared,
    caller: Caller,
    Path((id, policy)): Path<(String, String)>,
) -> GraphResult {
    unassign(
        &state.0,
        &caller,
        ObjectKind::ServicePrincipal,
        &id,
        &policy,
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct ExplainQuery {
    client_id: String,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    cae: bool,
}

fn describe(source: &LifetimeSource, seconds: i64, range: Option<(i64, i64)>) -> Value {
    let mut v = json!({"source": source.label()});
    match source {
        LifetimeSource::OrganizationPolicy {
            policy_id,
            display_name,
        }
        | LifetimeSource::ApplicationPolicy {
            policy_id,
            display_name,
        } => {
            v["policyId"] = json!(policy_id);
            v["policyDisplayName"] = json!(display_name);
        }
        _ => {}
    }
    match range {
        Some((lo, hi)) => {
            v["minSeconds"] = json!(lo);
            v["maxSeconds"] = json!(hi);
        }
        None => {
            v["seconds"] = json!(seconds);
            v["timeSpan"] = json!(format_timespan(seconds));
        }
    }
    v
}

/// `GET /_tessera/lifetime?client_id=...&resource=...[&cae=true]`: why tokens for this
/// client and resource get the lifetime they get. Needs a Graph token that may read policies.
pub(crate) async fn explain(
    state: Shared,
    caller: Caller,
    Query(q): Query<ExplainQuery>,
) -> GraphResult {
    caller.require(READ, READ)?;
    let state = state.0;
    let tenant = caller.tenant.clone();
    let client = state
        .directory
        .application(&tenant.id, &q.client_id)
        .await?
        .ok_or_else(|| GraphError::not_found(&q.client_id))?;
    let resource_text = q
        .resource
        .clone()
        .unwrap_or_else(|| tessera_proto::GRAPH_RESOURCE.to_owned());
    let resource = state
        .directory
        .resource(&tenant.id, &resource_text)
        .await?
        .ok_or_else(|| GraphError::not_found(&resource_text))?;
    let snapshot = state.directory.policy_snapshot(&tenant.id).await?;
    let objects: Vec<&str> = resource.object_ids.iter().map(String::as_str).collect();
    let inputs = crate::token::mint::lifetime_inputs(&state, &tenant, &snapshot, &objects, q.cae);
    let at = lifetime::access_token_lifetime(&inputs, state.random.as_ref());
    let at_range = match at.source {
        LifetimeSource::Default => {
            Some((lifetime::DEFAULT_MIN_SECONDS, lifetime::DEFAULT_MAX_SECONDS))
        }
        LifetimeSource::CaeDefault => Some((lifetime::CAE_MIN_SECONDS, lifetime::CAE_MAX_SECONDS)),
        _ => None,
    };
    let client_objects = [
        client.service_principal_id.as_str(),
        client.object_id.as_str(),
    ];
    let id = lifetime::id_token_lifetime(&crate::token::mint::lifetime_inputs(
        &state,
        &tenant,
        &snapshot,
        &client_objects,
        false,
    ));
    let saml = crate::assertion::lifetime(&state, &tenant, &client, &snapshot);
    let policy_view = |p: &TokenLifetimePolicy| json!({"id": p.id, "displayName": p.display_name, "accessTokenLifetime": format_timespan(p.access_token_seconds)});
    let app_policy = objects
        .iter()
        .find_map(|o| snapshot.assigned_to(o).map(|p| (o, p)));
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "tenantId": tenant.id,
            "clientId": client.client_id,
            "resource": resource_text,
            "resourceAppId": resource.app_id,
            "precedence": serde_json::to_value(tenant.lifetime_precedence).unwrap_or(Value::Null),
            "organizationDefault": snapshot.organization_default().map(policy_view),
            "resourcePolicy": app_policy.map(|(o, p)| { let mut v = policy_view(p); v["assignedTo"] = json!(o); v }),
            "cae": q.cae,
            "testOverrideSeconds": state.settings.test_token_lifetime,
            "accessToken": describe(&at.source, at.seconds, at_range),
            "idToken": describe(&id.source, id.seconds, None),
            // The client signing users in by SAML or WS-Federation: its own policy, plus
            // the five-minute skew Entra adds to a policy's lifetime.
            "samlToken": describe(&saml.source, saml.seconds, None),
        }),
    ))
}
