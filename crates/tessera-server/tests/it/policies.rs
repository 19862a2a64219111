//! Token lifetime policies, precedence, revocation, CAE challenges, test-mode faults and rate limits.

use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::support::{TestServer, aadsts_code, jwt_parts, write_config};

const CONTOSO: &str = "c0000000-0000-4000-8000-000000000001";
const ADMIN_A: &str = "c0000000-0000-4000-8000-0000000000a1";
const ADMIN_A_SECRET: &str = "admin-a-secret";
const REPORTS_A: &str = "c0000000-0000-4000-8000-0000000000a2";
const READER: &str = "c0000000-0000-4000-8000-0000000000a3";
const READER_SECRET: &str = "reader-secret";
const MANAGED: &str = "c0000000-0000-4000-8000-0000000000a4";
const CLI: &str = "c0000000-0000-4000-8000-0000000000a5";

const FABRIKAM: &str = "f0000000-0000-4000-8000-000000000001";
const ADMIN_B: &str = "f0000000-0000-4000-8000-0000000000b1";
const ADMIN_B_SECRET: &str = "admin-b-secret";
const REPORTS_B: &str = "f0000000-0000-4000-8000-0000000000b2";

const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
const REPORTS_SCOPE: &str = "api://reports/.default";
const CAE_CLAIMS: &str = r#"{"access_token":{"xms_cc":{"values":["CP1"]}}}"#;
const INVALID_DEFINITION: &str = "Property definition has an invalid value.";
const USER_SCOPE: &str = "User.Read offline_access openid profile";

const CONFIG: &str = r#"
[[tenants]]
id = "c0000000-0000-4000-8000-000000000001"
domain = "contoso.example"
display_name = "Contoso"

[[tenants.applications]]
client_id = "c0000000-0000-4000-8000-0000000000a1"
display_name = "policy admin"
secrets = [{ value = "admin-a-secret" }]
application_permissions = { "https://graph.microsoft.com" = ["Policy.ReadWrite.ApplicationConfiguration", "Application.ReadWrite.All", "User.ReadWrite.All"], "api://reports" = ["Reports.Read"] }

[[tenants.applications]]
client_id = "c0000000-0000-4000-8000-0000000000a2"
display_name = "Reports API"
access_token_version = 1
identifier_uris = ["api://reports"]
app_roles = ["Reports.Read"]

[[tenants.applications]]
client_id = "c0000000-0000-4000-8000-0000000000a3"
display_name = "policy reader"
secrets = [{ value = "reader-secret" }]
application_permissions = { "https://graph.microsoft.com" = ["Policy.Read.All"] }

[[tenants.applications]]
client_id = "c0000000-0000-4000-8000-0000000000a4"
display_name = "build agent identity"
managed_identity = true

[[tenants.applications]]
client_id = "c0000000-0000-4000-8000-0000000000a5"
display_name = "cli"
public_client = true
delegated_permissions = { "https://graph.microsoft.com" = ["User.Read", "offline_access", "openid", "profile"] }

[[tenants.users]]
user_principal_name = "megan@contoso.example"
display_name = "Megan Bowen"
password = "Megan-Pass-1"

[[tenants.users]]
user_principal_name = "alex@contoso.example"
display_name = "Alex Wilber"
password = "Alex-Pass-1"

[[tenants.users]]
user_principal_name = "pat@contoso.example"
display_name = "Pat Patel"
password = "Pat-Pass-1"

[[tenants]]
id = "f0000000-0000-4000-8000-000000000001"
domain = "fabrikam.example"
display_name = "Fabrikam"
lifetime_precedence = "application-first"

[[tenants.applications]]
client_id = "f0000000-0000-4000-8000-0000000000b1"
display_name = "policy admin"
secrets = [{ value = "admin-b-secret" }]
application_permissions = { "https://graph.microsoft.com" = ["Policy.ReadWrite.ApplicationConfiguration", "Application.ReadWrite.All"], "api://reports" = ["Reports.Read"] }

[[tenants.applications]]
client_id = "f0000000-0000-4000-8000-0000000000b2"
display_name = "Reports API"
access_token_version = 1
identifier_uris = ["api://reports"]
app_roles = ["Reports.Read"]
"#;

/// A test-mode server with the demo tenant plus Contoso (organization-first) and Fabrikam
/// (application-first).
async fn server() -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), CONFIG);
    TestServer::start_in(dir, |o| {
        o.config_file = Some(config);
        o.test_mode = true;
    })
    .await
}

fn graph(s: &TestServer) -> String {
    format!("{}/v1.0", s.base)
}

fn token_url(s: &TestServer, tenant: &str) -> String {
    format!("{}/{tenant}/oauth2/v2.0/token", s.base)
}

/// A Graph (or `/_tessera`) request with a bearer token and an optional JSON body.
async fn call(
    s: &TestServer,
    method: Method,
    url: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, HeaderMap, Value) {
    let mut req = s.client.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, value)
}

async fn get(s: &TestServer, url: &str, token: &str) -> (u16, Value) {
    let (status, _, body) = call(s, Method::GET, url, token, None).await;
    (status, body)
}

/// A client-credentials token response (status and body).
async fn app_token(
    s: &TestServer,
    tenant: &str,
    client_id: &str,
    secret: &str,
    scope: &str,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
        ("scope", scope),
    ];
    form.extend_from_slice(extra);
    s.post_form(&token_url(s, tenant), &form).await
}

/// A client-credentials token that must succeed: (access token, expires_in).
async fn app_token_ok(
    s: &TestServer,
    tenant: &str,
    client_id: &str,
    secret: &str,
    scope: &str,
) -> (String, i64) {
    let (status, body) = app_token(s, tenant, client_id, secret, scope, &[]).await;
    assert_eq!(status, 200, "token for {client_id} / {scope}: {body}");
    (
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
        body["expires_in"].as_i64().expect("expires_in"),
    )
}

async fn admin_a(s: &TestServer) -> String {
    app_token_ok(s, CONTOSO, ADMIN_A, ADMIN_A_SECRET, GRAPH_SCOPE)
        .await
        .0
}

async fn admin_b(s: &TestServer) -> String {
    app_token_ok(s, FABRIKAM, ADMIN_B, ADMIN_B_SECRET, GRAPH_SCOPE)
        .await
        .0
}

async fn demo_token(s: &TestServer) -> (String, i64) {
    let (status, body) = s.daemon_token(&[]).await;
    assert_eq!(status, 200, "{body}");
    (
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
        body["expires_in"].as_i64().expect("expires_in"),
    )
}

fn definition_for(lifetime: &str) -> Value {
    json!([format!(
        r#"{{"TokenLifetimePolicy":{{"Version":1,"AccessTokenLifetime":"{lifetime}"}}}}"#
    )])
}

async fn create_policy_raw(s: &TestServer, token: &str, body: &Value) -> (u16, Value) {
    let (status, _, v) = call(
        s,
        Method::POST,
        &format!("{}/policies/tokenLifetimePolicies", graph(s)),
        token,
        Some(body),
    )
    .await;
    (status, v)
}

/// Creates a policy that must succeed; returns its id.
async fn create_policy(
    s: &TestServer,
    token: &str,
    name: &str,
    lifetime: &str,
    organization_default: bool,
) -> String {
    let (status, body) = create_policy_raw(
        s,
        token,
        &json!({
            "definition": definition_for(lifetime),
            "displayName": name,
            "isOrganizationDefault": organization_default,
        }),
    )
    .await;
    assert_eq!(status, 201, "create {name} ({lifetime}): {body}");
    body["id"].as_str().expect("policy id").to_owned()
}

fn policy_ref(s: &TestServer, policy_id: &str) -> Value {
    json!({"@odata.id": format!("{}/policies/tokenLifetimePolicies/{policy_id}", graph(s))})
}

/// `POST /{collection}/{id}/tokenLifetimePolicies/$ref`; returns status and body.
async fn assign(
    s: &TestServer,
    token: &str,
    collection: &str,
    object_id: &str,
    policy_id: &str,
) -> (u16, Value) {
    let (status, _, body) = call(
        s,
        Method::POST,
        &format!(
            "{}/{collection}/{object_id}/tokenLifetimePolicies/$ref",
            graph(s)
        ),
        token,
        Some(&policy_ref(s, policy_id)),
    )
    .await;
    (status, body)
}

async fn unassign(
    s: &TestServer,
    token: &str,
    collection: &str,
    object_id: &str,
    policy_id: &str,
) -> (u16, Value) {
    let (status, _, body) = call(
        s,
        Method::DELETE,
        &format!(
            "{}/{collection}/{object_id}/tokenLifetimePolicies/{policy_id}/$ref",
            graph(s)
        ),
        token,
        None,
    )
    .await;
    (status, body)
}

/// Finds an object in a Graph collection (following nextLinks) by `appId`.
async fn find_by_app_id(s: &TestServer, token: &str, collection: &str, app_id: &str) -> Value {
    let mut url = Some(format!("{}/{collection}", graph(s)));
    while let Some(u) = url {
        let (status, body) = get(s, &u, token).await;
        assert_eq!(status, 200, "list {collection}: {body}");
        if let Some(found) = body["value"].as_array().expect("value").iter().find(|o| {
            o["appId"]
                .as_str()
                .is_some_and(|a| a.eq_ignore_ascii_case(app_id))
        }) {
            return found.clone();
        }
        url = body["@odata.nextLink"].as_str().map(str::to_owned);
    }
    panic!("no object with appId {app_id} in /{collection}");
}

/// (application object id, service principal id) of an app.
async fn object_ids(s: &TestServer, token: &str, app_id: &str) -> (String, String) {
    let app = find_by_app_id(s, token, "applications", app_id).await;
    let sp = find_by_app_id(s, token, "servicePrincipals", app_id).await;
    (
        app["id"].as_str().expect("app id").to_owned(),
        sp["id"].as_str().expect("sp id").to_owned(),
    )
}

fn assert_graph_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], want_code, "{body}");
}

fn assert_default_range(seconds: i64, what: &str) {
    assert!(
        (3600..=5400).contains(&seconds),
        "{what}: Entra's default 60-90 minutes, got {seconds}"
    );
}

fn claim_i64(claims: &Value, name: &str) -> i64 {
    claims[name]
        .as_i64()
        .unwrap_or_else(|| panic!("{name} in {claims}"))
}

/// `GET /_tessera/lifetime` for a client and resource.
async fn explain(s: &TestServer, token: &str, client_id: &str, resource: &str, cae: bool) -> Value {
    let mut query = vec![("client_id", client_id), ("resource", resource)];
    if cae {
        query.push(("cae", "true"));
    }
    let r = s
        .client
        .get(format!("{}/_tessera/lifetime", s.base))
        .query(&query)
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "lifetime explanation: {body}");
    body
}

// ---------------------------------------------------------------------------------------
// 1. Policies decide lifetimes
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn organization_default_policy_decides_client_credentials_lifetime() {
    let s = TestServer::start_with(|o| o.test_mode = true).await;
    let (admin, first) = demo_token(&s).await;
    assert_default_range(first, "before any policy");
    let policies = format!("{}/policies/tokenLifetimePolicies", graph(&s));

    // The issue's example, verbatim.
    let def = definition_for("8:00:00");
    let (status, created) = create_policy_raw(
        &s,
        &admin,
        &json!({
            "definition": def,
            "displayName": "Contoso token lifetime policy",
            "isOrganizationDefault": true,
        }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert!(
        created["@odata.context"]
            .as_str()
            .expect("context")
            .ends_with("/$metadata#policies/tokenLifetimePolicies/$entity"),
        "{created}"
    );
    let org_id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(org_id.len(), 36, "a GUID: {org_id}");
    assert!(created["deletedDateTime"].is_null(), "{created}");
    assert_eq!(created["definition"], def);
    assert_eq!(created["displayName"], "Contoso token lifetime policy");
    assert_eq!(created["isOrganizationDefault"], true);

    let (status, got) = get(&s, &format!("{policies}/{org_id}"), &admin).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["id"], org_id.as_str());
    assert_eq!(got["definition"], def);
    let (status, list) = get(&s, &policies, &admin).await;
    assert_eq!(status, 200, "{list}");
    assert!(
        list["@odata.context"]
            .as_str()
            .expect("context")
            .ends_with("/$metadata#policies/tokenLifetimePolicies"),
        "{list}"
    );
    assert_eq!(list["value"].as_array().expect("value").len(), 1, "{list}");

    // A new client-credentials token lasts 8 hours.
    let (status, body) = s.daemon_token(&[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 28_800, "{body}");
    assert_eq!(body["ext_expires_in"], 28_800, "{body}");
    let eight_hours = body["access_token"].as_str().expect("token").to_owned();
    let (_, claims) = jwt_parts(&eight_hours);
    let eight_exp = claim_i64(&claims, "exp");
    assert_eq!(
        eight_exp - claim_i64(&claims, "iat"),
        28_800 + 300,
        "iat back-dated 5 minutes: {claims}"
    );

    // Invalid definitions, all with Graph's one error.
    let invalid: Vec<(&str, Value)> = vec![
        (
            "28:00:00 (28 days, as .NET reads it)",
            definition_for("28:00:00"),
        ),
        ("00:09:59 (under 10 minutes)", definition_for("00:09:59")),
        ("1.00:00:01 (over 1 day)", definition_for("1.00:00:01")),
        ("abc", definition_for("abc")),
        (
            "Version 2",
            json!([r#"{"TokenLifetimePolicy":{"Version":2,"AccessTokenLifetime":"8:00:00"}}"#]),
        ),
        (
            "not an array",
            json!(r#"{"TokenLifetimePolicy":{"Version":1,"AccessTokenLifetime":"8:00:00"}}"#),
        ),
        ("not JSON", json!(["this is not json"])),
    ];
    for (what, definition) in invalid {
        let (status, body) = create_policy_raw(
            &s,
            &admin,
            &json!({"definition": definition, "displayName": format!("bad {what}")}),
        )
        .await;
        assert_graph_error(status, &body, 400, "Request_BadRequest");
        assert_eq!(
            body["error"]["message"], INVALID_DEFINITION,
            "{what}: {body}"
        );
    }

    // Valid ones, including a retired property alongside.
    for lifetime in ["00:10:00", "1.00:00:00", "8:00:00"] {
        create_policy(&s, &admin, &format!("ok {lifetime}"), lifetime, false).await;
    }
    let (status, body) = create_policy_raw(
        &s,
        &admin,
        &json!({
            "definition": [r#"{"TokenLifetimePolicy":{"Version":1,"AccessTokenLifetime":"02:00:00","MaxInactiveTime":"30.00:00:00"}}"#],
            "displayName": "with a retired property",
        }),
    )
    .await;
    assert_eq!(status, 201, "retired MaxInactiveTime is accepted: {body}");
    assert_eq!(body["isOrganizationDefault"], false, "{body}");

    // Only one organization default.
    let (status, body) = create_policy_raw(
        &s,
        &admin,
        &json!({"definition": definition_for("4:00:00"), "displayName": "second default", "isOrganizationDefault": true}),
    )
    .await;
    assert_graph_error(status, &body, 400, "Request_BadRequest");
    let (_, list) = get(&s, &policies, &admin).await;
    let defaults = list["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter(|p| p["isOrganizationDefault"] == true)
        .count();
    assert_eq!(defaults, 1, "{list}");
    assert_eq!(
        list["value"].as_array().expect("value").len(),
        5,
        "the default and four valid policies: {list}"
    );

    // PATCH: an invalid definition is refused; a valid one applies to the next token.
    let (status, _, body) = call(
        &s,
        Method::PATCH,
        &format!("{policies}/{org_id}"),
        &admin,
        Some(&json!({"definition": definition_for("24:00:00")})),
    )
    .await;
    assert_graph_error(status, &body, 400, "Request_BadRequest");
    assert_eq!(body["error"]["message"], INVALID_DEFINITION, "{body}");
    let (status, _, body) = call(
        &s,
        Method::PATCH,
        &format!("{policies}/{org_id}"),
        &admin,
        Some(&json!({"definition": definition_for("4:00:00")})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (_, got) = get(&s, &format!("{policies}/{org_id}"), &admin).await;
    assert_eq!(got["definition"], definition_for("4:00:00"), "{got}");
    assert_eq!(
        got["isOrganizationDefault"], true,
        "PATCH keeps the rest: {got}"
    );
    let (_, four) = demo_token(&s).await;
    assert_eq!(four, 14_400, "PATCHed lifetime applies to the next token");

    // DELETE brings back the default; tokens already issued keep their lifetime.
    let (status, _, body) = call(
        &s,
        Method::DELETE,
        &format!("{policies}/{org_id}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = get(&s, &format!("{policies}/{org_id}"), &admin).await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound");
    let (_, after) = demo_token(&s).await;
    assert_default_range(after, "after deleting the organization default");
    let (_, claims) = jwt_parts(&eight_hours);
    assert_eq!(
        claim_i64(&claims, "exp"),
        eight_exp,
        "tokens are not re-issued"
    );
    s.advance_clock(3 * 3600).await;
    let (status, body) = get(&s, &policies, &eight_hours).await;
    assert_eq!(
        status, 200,
        "the 8-hour token issued before the delete still works 3 hours later: {body}"
    );
}

#[tokio::test]
async fn policy_assigned_to_the_resource_decides_its_tokens() {
    let s = server().await;
    let admin = admin_a(&s).await;
    let (reports_app, reports_sp) = object_ids(&s, &admin, REPORTS_A).await;
    let graph_sp = find_by_app_id(&s, &admin, "servicePrincipals", GRAPH_APP_ID).await;
    let graph_sp = graph_sp["id"].as_str().expect("graph sp id").to_owned();
    let two_hours = create_policy(&s, &admin, "two hours", "2:00:00", false).await;

    let reports = || app_token_ok(&s, CONTOSO, ADMIN_A, ADMIN_A_SECRET, REPORTS_SCOPE);
    let graph_tok = || app_token_ok(&s, CONTOSO, ADMIN_A, ADMIN_A_SECRET, GRAPH_SCOPE);

    let (token, secs) = reports().await;
    assert_default_range(secs, "reports, no policy");
    let (_, claims) = jwt_parts(&token);
    assert_eq!(
        claims["aud"], "api://reports",
        "v1 token for the API: {claims}"
    );
    assert_eq!(claims["roles"], json!(["Reports.Read"]), "{claims}");

    // On the API's application object.
    let (status, body) = assign(&s, &admin, "applications", &reports_app, &two_hours).await;
    assert_eq!(status, 204, "{body}");
    let (token, secs) = reports().await;
    assert_eq!(secs, 7200, "the policy on the API application decides");
    let (_, claims) = jwt_parts(&token);
    assert_eq!(
        claim_i64(&claims, "exp") - claim_i64(&claims, "iat"),
        7200 + 300
    );
    assert_default_range(graph_tok().await.1, "Graph tokens are not the API's");
    let (status, body) = unassign(&s, &admin, "applications", &reports_app, &two_hours).await;
    assert_eq!(status, 204, "{body}");
    assert_default_range(reports().await.1, "after unassigning from the application");

    // On the API's service principal.
    let (status, body) = assign(&s, &admin, "servicePrincipals", &reports_sp, &two_hours).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        reports().await.1,
        7200,
        "the policy on the API's SP decides"
    );
    assert_default_range(graph_tok().await.1, "Graph tokens, policy on the API's SP");
    let (status, body) = unassign(&s, &admin, "servicePrincipals", &reports_sp, &two_hours).await;
    assert_eq!(status, 204, "{body}");
    assert_default_range(reports().await.1, "after unassigning from the SP");

    // On Microsoft Graph's service principal: Graph tokens follow it.
    let (status, body) = assign(&s, &admin, "servicePrincipals", &graph_sp, &two_hours).await;
    assert_eq!(status, 204, "{body}");
    let (before_delete, secs) = graph_tok().await;
    assert_eq!(secs, 7200, "the policy on Graph's SP decides Graph tokens");
    let (_, claims) = jwt_parts(&before_delete);
    let exp_before = claim_i64(&claims, "exp");
    assert_default_range(reports().await.1, "the API is not Graph");
    let (status, list) = get(
        &s,
        &format!(
            "{}/servicePrincipals/{graph_sp}/tokenLifetimePolicies",
            graph(&s)
        ),
        &admin,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["value"][0]["id"], two_hours.as_str(), "{list}");

    // PATCH changes the lifetime of the next token.
    let (status, _, body) = call(
        &s,
        Method::PATCH,
        &format!("{}/policies/tokenLifetimePolicies/{two_hours}", graph(&s)),
        &admin,
        Some(&json!({"definition": definition_for("03:00:00")})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        graph_tok().await.1,
        10_800,
        "PATCH applies to the next token"
    );

    // Deleting the policy: the next token has the default again, issued ones keep theirs.
    let (status, _, body) = call(
        &s,
        Method::DELETE,
        &format!("{}/policies/tokenLifetimePolicies/{two_hours}", graph(&s)),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (fresh, secs) = graph_tok().await;
    assert_default_range(secs, "after deleting the policy");
    let (_, claims) = jwt_parts(&before_delete);
    assert_eq!(claim_i64(&claims, "exp"), exp_before, "not re-issued");
    let (status, list) = get(
        &s,
        &format!(
            "{}/servicePrincipals/{graph_sp}/tokenLifetimePolicies",
            graph(&s)
        ),
        &fresh,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        list["value"],
        json!([]),
        "a deleted policy is no longer assigned: {list}"
    );
    // The token issued under the 2-hour policy is still good after 100 minutes, when a
    // default-lifetime token (at most 90 minutes) would be past its exp.
    s.advance_clock(100 * 60).await;
    let (status, body) = get(
        &s,
        &format!("{}/policies/tokenLifetimePolicies", graph(&s)),
        &before_delete,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// A policy on the *client* does not change its access tokens (they belong to the resource);
/// it does decide the ID tokens the client receives.
#[tokio::test]
async fn policy_on_the_client_app_decides_id_tokens_not_access_tokens() {
    let s = server().await;
    let admin = admin_a(&s).await;
    let (admin_app, _) = object_ids(&s, &admin, ADMIN_A).await;
    let (_, cli_sp) = object_ids(&s, &admin, CLI).await;
    let three = create_policy(&s, &admin, "three hours", "3:00:00", false).await;

    let (status, body) = assign(&s, &admin, "applications", &admin_app, &three).await;
    assert_eq!(status, 204, "{body}");
    let (_, secs) = app_token_ok(&s, CONTOSO, ADMIN_A, ADMIN_A_SECRET, GRAPH_SCOPE).await;
    assert_default_range(secs, "Graph token of a client that has a policy");
    let (_, secs) = app_token_ok(&s, CONTOSO, ADMIN_A, ADMIN_A_SECRET, REPORTS_SCOPE).await;
    assert_default_range(secs, "API token of a client that has a policy");

    let (status, body) = assign(&s, &admin, "servicePrincipals", &cli_sp, &three).await;
    assert_eq!(status, 204, "{body}");
    let body = ropc_ok(&s, "megan@contoso.example", "Megan-Pass-1", None).await;
    assert_default_range(
        body["expires_in"].as_i64().expect("expires_in"),
        "Graph access token for a client with a policy",
    );
    let (_, id) = jwt_parts(body["id_token"].as_str().expect("id_token"));
    assert_eq!(
        claim_i64(&id, "exp") - claim_i64(&id, "iat"),
        10_800 + 300,
        "the ID token follows the client's policy: {id}"
    );
    let e = explain(&s, &admin, CLI, "https://graph.microsoft.com", false).await;
    assert_eq!(e["accessToken"]["source"], "default", "{e}");
    assert_eq!(e["idToken"]["source"], "application-policy", "{e}");
    assert_eq!(e["idToken"]["policyId"], three.as_str(), "{e}");
    assert_eq!(e["idToken"]["seconds"], 10_800, "{e}");

    // With an organization default, ID tokens follow it (organization-first).
    let org = create_policy(&s, &admin, "org", "5:00:00", true).await;
    let body = ropc_ok(&s, "megan@contoso.example", "Megan-Pass-1", None).await;
    assert_eq!(body["expires_in"], 18_000, "{body}");
    let (_, id) = jwt_parts(body["id_token"].as_str().expect("id_token"));
    assert_eq!(claim_i64(&id, "exp") - claim_i64(&id, "iat"), 18_000 + 300);
    let e = explain(&s, &admin, CLI, "https://graph.microsoft.com", false).await;
    assert_eq!(e["idToken"]["policyId"], org.as_str(), "{e}");
    // Making a second policy the default by PATCH is refused too.
    let (status, _, body) = call(
        &s,
        Method::PATCH,
        &format!("{}/policies/tokenLifetimePolicies/{three}", graph(&s)),
        &admin,
        Some(&json!({"isOrganizationDefault": true})),
    )
    .await;
    assert_graph_error(status, &body, 400, "Request_BadRequest");
}

// ---------------------------------------------------------------------------------------
// 2. Precedence, the explanation route and CAE
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn precedence_between_organization_default_and_application_policy() {
    let s = server().await;

    // Contoso: organization-first (the default order).
    let admin = admin_a(&s).await;
    let e = explain(&s, &admin, ADMIN_A, "api://reports", false).await;
    assert_eq!(e["precedence"], "organization-first", "{e}");
    assert_eq!(e["accessToken"]["source"], "default", "{e}");
    assert_eq!(e["accessToken"]["minSeconds"], 3600, "{e}");
    assert_eq!(e["accessToken"]["maxSeconds"], 5400, "{e}");

    let (reports_app, _) = object_ids(&s, &admin, REPORTS_A).await;
    let org = create_policy(&s, &admin, "org 8h", "8:00:00", true).await;
    let app = create_policy(&s, &admin, "app 2h", "2:00:00", false).await;
    let (status, body) = assign(&s, &admin, "applications", &reports_app, &app).await;
    assert_eq!(status, 204, "{body}");
    let (_, secs) = app_token_ok(&s, CONTOSO, ADMIN_A, ADMIN_A_SECRET, REPORTS_SCOPE).await;
    assert_eq!(secs, 28_800, "organization-first: the default wins");
    let e = explain(&s, &admin, ADMIN_A, "api://reports", false).await;
    assert_eq!(e["accessToken"]["source"], "organization-policy", "{e}");
    assert_eq!(e["accessToken"]["policyId"], org.as_str(), "{e}");
    assert_eq!(e["accessToken"]["seconds"], 28_800, "{e}");
    assert_eq!(e["organizationDefault"]["id"], org.as_str(), "{e}");
    assert_eq!(e["resourcePolicy"]["id"], app.as_str(), "{e}");

    // CAE-capable clients get the long-lived default; a policy cannot override it.
    let (status, body) = app_token(
        &s,
        CONTOSO,
        ADMIN_A,
        ADMIN_A_SECRET,
        GRAPH_SCOPE,
        &[("claims", CAE_CLAIMS)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let secs = body["expires_in"].as_i64().expect("expires_in");
    assert!(
        (72_000..=100_800).contains(&secs),
        "CAE 20-28 hours despite the 8-hour default, got {secs}"
    );
    let (_, claims) = jwt_parts(body["access_token"].as_str().expect("token"));
    assert_eq!(claims["xms_cc"], json!(["cp1"]), "{claims}");
    let e = explain(
        &s,
        &admin,
        ADMIN_A,
        GRAPH_SCOPE.trim_end_matches("/.default"),
        true,
    )
    .await;
    assert_eq!(e["accessToken"]["source"], "cae-default", "{e}");
    assert_eq!(e["accessToken"]["minSeconds"], 72_000, "{e}");
    assert_eq!(e["accessToken"]["maxSeconds"], 100_800, "{e}");

    // Fabrikam: application-first.
    let admin = admin_b(&s).await;
    let (reports_app, _) = object_ids(&s, &admin, REPORTS_B).await;
    let org = create_policy(&s, &admin, "org 8h", "8:00:00", true).await;
    let app = create_policy(&s, &admin, "app 2h", "2:00:00", false).await;
    let (status, body) = assign(&s, &admin, "applications", &reports_app, &app).await;
    assert_eq!(status, 204, "{body}");
    let (_, secs) = app_token_ok(&s, FABRIKAM, ADMIN_B, ADMIN_B_SECRET, REPORTS_SCOPE).await;
    assert_eq!(secs, 7200, "application-first: the app's policy wins");
    let e = explain(&s, &admin, ADMIN_B, "api://reports", false).await;
    assert_eq!(e["precedence"], "application-first", "{e}");
    assert_eq!(e["accessToken"]["source"], "application-policy", "{e}");
    assert_eq!(e["accessToken"]["policyId"], app.as_str(), "{e}");
    assert_eq!(e["accessToken"]["seconds"], 7200, "{e}");
    // Graph has no policy of its own here: the organization default applies to it.
    let (_, secs) = app_token_ok(&s, FABRIKAM, ADMIN_B, ADMIN_B_SECRET, GRAPH_SCOPE).await;
    assert_eq!(secs, 28_800, "no app policy on Graph: the default applies");
    let e = explain(&s, &admin, ADMIN_B, "https://graph.microsoft.com", false).await;
    assert_eq!(e["accessToken"]["source"], "organization-policy", "{e}");
    assert_eq!(e["accessToken"]["policyId"], org.as_str(), "{e}");

    // The explanation needs a policy-read permission.
    let (reader, _) = app_token_ok(&s, CONTOSO, READER, READER_SECRET, GRAPH_SCOPE).await;
    explain(&s, &reader, READER, "https://graph.microsoft.com", false).await;
    let (status, body) = app_token(&s, CONTOSO, ADMIN_A, ADMIN_A_SECRET, REPORTS_SCOPE, &[]).await;
    assert_eq!(status, 200, "{body}");
    let not_graph = body["access_token"].as_str().expect("token");
    let r = s
        .client
        .get(format!("{}/_tessera/lifetime", s.base))
        .query(&[("client_id", ADMIN_A)])
        .bearer_auth(not_graph)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 401, "a token for another audience");
}

// ---------------------------------------------------------------------------------------
// 3. Assignment rules
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn assignment_rules() {
    let s = server().await;
    let admin = admin_a(&s).await;
    let (reports_app, reports_sp) = object_ids(&s, &admin, REPORTS_A).await;
    let managed = find_by_app_id(&s, &admin, "servicePrincipals", MANAGED).await;
    assert_eq!(
        managed["servicePrincipalType"], "ManagedIdentity",
        "{managed}"
    );
    let managed_sp = managed["id"].as_str().expect("id").to_owned();
    let one = create_policy(&s, &admin, "one", "1:00:00", false).await;
    let two = create_policy(&s, &admin, "two", "2:00:00", false).await;

    let (status, body) = assign(&s, &admin, "applications", &reports_app, &one).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = assign(&s, &admin, "applications", &reports_app, &two).await;
    assert_graph_error(
        status,
        &body,
        400,
        "Request_MultipleObjectsWithSameKeyValue",
    );
    let (status, body) = assign(&s, &admin, "applications", &reports_app, &one).await;
    assert_eq!(status, 400, "the same policy twice: {body}");
    assert!(body["error"]["code"].is_string(), "{body}");

    let (status, list) = get(
        &s,
        &format!(
            "{}/applications/{reports_app}/tokenLifetimePolicies",
            graph(&s)
        ),
        &admin,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert!(
        list["@odata.context"]
            .as_str()
            .expect("context")
            .ends_with("#Collection(microsoft.graph.tokenLifetimePolicy)"),
        "{list}"
    );
    let value = list["value"].as_array().expect("value");
    assert_eq!(value.len(), 1, "{list}");
    assert_eq!(value[0]["id"], one.as_str());
    assert_eq!(value[0]["definition"], definition_for("1:00:00"));

    // appliesTo: the application, then also a service principal.
    let (status, body) = assign(&s, &admin, "servicePrincipals", &reports_sp, &one).await;
    assert_eq!(status, 204, "{body}");
    let (status, applies) = get(
        &s,
        &format!(
            "{}/policies/tokenLifetimePolicies/{one}/appliesTo",
            graph(&s)
        ),
        &admin,
    )
    .await;
    assert_eq!(status, 200, "{applies}");
    let objects = applies["value"].as_array().expect("value");
    assert_eq!(objects.len(), 2, "{applies}");
    let app_entry = objects
        .iter()
        .find(|o| o["id"] == reports_app.as_str())
        .unwrap_or_else(|| panic!("application in {applies}"));
    assert_eq!(app_entry["@odata.type"], "#microsoft.graph.application");
    let sp_entry = objects
        .iter()
        .find(|o| o["id"] == reports_sp.as_str())
        .unwrap_or_else(|| panic!("service principal in {applies}"));
    assert_eq!(sp_entry["@odata.type"], "#microsoft.graph.servicePrincipal");
    let (status, applies) = get(
        &s,
        &format!(
            "{}/policies/tokenLifetimePolicies/{two}/appliesTo",
            graph(&s)
        ),
        &admin,
    )
    .await;
    assert_eq!(status, 200, "{applies}");
    assert_eq!(applies["value"], json!([]), "{applies}");

    // Removing: 204, then 404.
    let (status, body) = unassign(&s, &admin, "applications", &reports_app, &one).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = unassign(&s, &admin, "applications", &reports_app, &one).await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound");
    let (_, list) = get(
        &s,
        &format!(
            "{}/applications/{reports_app}/tokenLifetimePolicies",
            graph(&s)
        ),
        &admin,
    )
    .await;
    assert_eq!(list["value"], json!([]), "{list}");
    let (status, body) = assign(&s, &admin, "applications", &reports_app, &two).await;
    assert_eq!(
        status, 204,
        "a different policy once the first is gone: {body}"
    );

    // Managed identities cannot have one.
    let (status, body) = assign(&s, &admin, "servicePrincipals", &managed_sp, &one).await;
    assert_graph_error(status, &body, 400, "Request_BadRequest");
    let (_, list) = get(
        &s,
        &format!(
            "{}/servicePrincipals/{managed_sp}/tokenLifetimePolicies",
            graph(&s)
        ),
        &admin,
    )
    .await;
    assert_eq!(list["value"], json!([]), "{list}");

    // An unknown policy.
    let (status, body) = assign(
        &s,
        &admin,
        "servicePrincipals",
        &reports_sp,
        "00000000-1111-2222-3333-444444444444",
    )
    .await;
    assert_graph_error(status, &body, 404, "Request_ResourceNotFound");

    // A reader may list but not create, assign or delete.
    let (reader, _) = app_token_ok(&s, CONTOSO, READER, READER_SECRET, GRAPH_SCOPE).await;
    let (status, list) = get(
        &s,
        &format!("{}/policies/tokenLifetimePolicies", graph(&s)),
        &reader,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["value"].as_array().expect("value").len(), 2, "{list}");
    let (status, body) = create_policy_raw(
        &s,
        &reader,
        &json!({"definition": definition_for("1:00:00"), "displayName": "nope"}),
    )
    .await;
    assert_graph_error(status, &body, 403, "Authorization_RequestDenied");
    assert_eq!(
        body["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
    let (status, body) = assign(&s, &reader, "servicePrincipals", &reports_sp, &two).await;
    assert_graph_error(status, &body, 403, "Authorization_RequestDenied");
    let (status, _, body) = call(
        &s,
        Method::DELETE,
        &format!("{}/policies/tokenLifetimePolicies/{two}", graph(&s)),
        &reader,
        None,
    )
    .await;
    assert_graph_error(status, &body, 403, "Authorization_RequestDenied");
}

/// Graph addresses an application by appId as `/applications(appId='...')` (no slash).
#[tokio::test]
async fn assignment_by_app_id_key() {
    let s = server().await;
    let admin = admin_a(&s).await;
    let policy = create_policy(&s, &admin, "by appId", "2:00:00", false).await;
    let (status, _, body) = call(
        &s,
        Method::POST,
        &format!(
            "{}/applications(appId='{REPORTS_A}')/tokenLifetimePolicies/$ref",
            graph(&s)
        ),
        &admin,
        Some(&policy_ref(&s, &policy)),
    )
    .await;
    assert_eq!(
        status, 204,
        "POST /applications(appId='{REPORTS_A}')/tokenLifetimePolicies/$ref: {body}"
    );
    let (_, secs) = app_token_ok(&s, CONTOSO, ADMIN_A, ADMIN_A_SECRET, REPORTS_SCOPE).await;
    assert_eq!(secs, 7200);
}

// ---------------------------------------------------------------------------------------
// 4. Revocation and CAE
// ---------------------------------------------------------------------------------------

async fn ropc(s: &TestServer, user: &str, password: &str, claims: Option<&str>) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "password"),
        ("client_id", CLI),
        ("username", user),
        ("password", password),
        ("scope", USER_SCOPE),
    ];
    if let Some(c) = claims {
        form.push(("claims", c));
    }
    s.post_form(&token_url(s, CONTOSO), &form).await
}

async fn ropc_ok(s: &TestServer, user: &str, password: &str, claims: Option<&str>) -> Value {
    let (status, body) = ropc(s, user, password, claims).await;
    assert_eq!(status, 200, "ROPC for {user}: {body}");
    body
}

async fn refresh(s: &TestServer, rt: &str) -> (u16, Value) {
    s.post_form(
        &token_url(s, CONTOSO),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLI),
            ("refresh_token", rt),
        ],
    )
    .await
}

async fn me(s: &TestServer, token: &str) -> (u16, HeaderMap, Value) {
    call(s, Method::GET, &format!("{}/me", graph(s)), token, None).await
}

/// Checks a 401 CAE claims challenge and returns the decoded claims JSON.
fn assert_claims_challenge(status: u16, headers: &HeaderMap, body: &Value) -> Value {
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        body["error"]["code"], "InvalidAuthenticationToken",
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Continuous access evaluation resulted in challenge")),
        "{body}"
    );
    let www = headers
        .get("www-authenticate")
        .expect("WWW-Authenticate on a CAE 401")
        .to_str()
        .expect("ascii");
    assert!(www.starts_with("Bearer "), "{www}");
    assert!(www.contains(r#"error="insufficient_claims""#), "{www}");
    assert!(
        www.contains(&format!(r#"client_id="{GRAPH_APP_ID}""#)),
        "{www}"
    );
    let encoded = www
        .split(r#"claims=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("claims=\"...\" in {www}"));
    let decoded = tessera_proto::b64::decode_lenient(encoded).expect("base64");
    assert_eq!(
        tessera_proto::b64::std_encode(&decoded),
        encoded,
        "standard base64 with padding"
    );
    let claims: Value = serde_json::from_slice(&decoded).expect("claims JSON");
    let nbf = &claims["access_token"]["nbf"];
    assert_eq!(nbf["essential"], true, "{claims}");
    let value = nbf["value"].as_str().expect("nbf value is a string");
    value.parse::<i64>().expect("unix time");
    assert_eq!(
        claims.as_object().expect("object").len(),
        1,
        "only access_token: {claims}"
    );
    claims
}

fn refresh_token_of(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned()
}

fn access_token_of(body: &Value) -> String {
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

#[tokio::test]
async fn revoke_sign_in_sessions_challenges_cae_tokens_and_ends_refresh_tokens() {
    let s = server().await;
    let admin = admin_a(&s).await;

    let cae = ropc_ok(
        &s,
        "megan@contoso.example",
        "Megan-Pass-1",
        Some(CAE_CLAIMS),
    )
    .await;
    let cae_at = access_token_of(&cae);
    let cae_rt = refresh_token_of(&cae);
    let (_, claims) = jwt_parts(&cae_at);
    assert_eq!(claims["xms_cc"], json!(["cp1"]), "{claims}");
    let user_id = claims["oid"].as_str().expect("oid").to_owned();
    let secs = cae["expires_in"].as_i64().expect("expires_in");
    assert!(
        (72_000..=100_800).contains(&secs),
        "CAE-capable user token: 20-28 hours, got {secs}"
    );
    let plain = ropc_ok(&s, "megan@contoso.example", "Megan-Pass-1", None).await;
    let plain_at = access_token_of(&plain);
    let (_, claims) = jwt_parts(&plain_at);
    assert!(claims.get("xms_cc").is_none(), "{claims}");
    let plain_exp = claim_i64(&claims, "exp");

    let (status, _, body) = me(&s, &cae_at).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], user_id.as_str());
    let (status, _, body) = me(&s, &plain_at).await;
    assert_eq!(status, 200, "{body}");

    let (status, _, body) = call(
        &s,
        Method::POST,
        &format!("{}/users/{user_id}/revokeSignInSessions", graph(&s)),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"], true, "{body}");

    // Refresh tokens die.
    let (status, body) = refresh(&s, &cae_rt).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert_eq!(aadsts_code(&body), 50173, "{body}");
    let (status, body) = refresh(&s, &refresh_token_of(&plain)).await;
    assert_eq!(aadsts_code(&body), 50173, "status {status}: {body}");

    // The CAE token is challenged.
    let (status, headers, body) = me(&s, &cae_at).await;
    let challenge = assert_claims_challenge(status, &headers, &body);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("TokenIssuedBeforeRevocationTimestamp")),
        "{body}"
    );
    let not_before: i64 = challenge["access_token"]["nbf"]["value"]
        .as_str()
        .expect("value")
        .parse()
        .expect("unix");

    // The non-CAE token keeps working (access tokens are not revocable)...
    let (status, _, body) = me(&s, &plain_at).await;
    assert_eq!(status, 200, "a non-CAE token outlives revocation: {body}");

    // ...and answering the challenge gives a token that is accepted.
    let mut answer = challenge.clone();
    answer["access_token"]["xms_cc"] = json!({"values": ["CP1"]});
    let answered = ropc_ok(
        &s,
        "megan@contoso.example",
        "Megan-Pass-1",
        Some(&answer.to_string()),
    )
    .await;
    let answered_at = access_token_of(&answered);
    let (_, claims) = jwt_parts(&answered_at);
    assert!(
        claim_i64(&claims, "nbf") >= not_before,
        "nbf {} >= {not_before}",
        claims["nbf"]
    );
    assert_eq!(claims["xms_cc"], json!(["cp1"]), "{claims}");
    let (status, _, body) = me(&s, &answered_at).await;
    assert_eq!(status, 200, "the answered challenge's token: {body}");
    let (status, body) = refresh(&s, &refresh_token_of(&answered)).await;
    assert_eq!(
        status, 200,
        "a refresh token issued after revocation: {body}"
    );

    // The non-CAE token works until it expires, then it does not.
    let now_ish = claim_i64(&jwt_parts(&plain_at).1, "iat") + 300;
    s.advance_clock(plain_exp - now_ish - 60).await;
    let (status, _, body) = me(&s, &plain_at).await;
    assert_eq!(status, 200, "a minute before exp: {body}");
    s.advance_clock(60 + 301 + 5).await;
    let (status, headers, body) = me(&s, &plain_at).await;
    assert_eq!(status, 401, "past exp and the 5-minute skew: {body}");
    assert_eq!(
        body["error"]["code"], "InvalidAuthenticationToken",
        "{body}"
    );
    let www = headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        !www.contains("insufficient_claims"),
        "expiry is no CAE challenge: {www}"
    );
}

#[tokio::test]
async fn disabling_a_user_challenges_cae_tokens_and_refresh_fails_50057() {
    let s = server().await;
    let admin = admin_a(&s).await;
    let body = ropc_ok(&s, "alex@contoso.example", "Alex-Pass-1", Some(CAE_CLAIMS)).await;
    let at = access_token_of(&body);
    let rt = refresh_token_of(&body);
    let (_, claims) = jwt_parts(&at);
    let user_id = claims["oid"].as_str().expect("oid").to_owned();
    let (status, _, body) = me(&s, &at).await;
    assert_eq!(status, 200, "{body}");

    let (status, _, body) = call(
        &s,
        Method::PATCH,
        &format!("{}/users/{user_id}", graph(&s)),
        &admin,
        Some(&json!({"accountEnabled": false})),
    )
    .await;
    assert_eq!(status, 204, "{body}");

    let (status, headers, body) = me(&s, &at).await;
    assert_claims_challenge(status, &headers, &body);
    let (status, body) = refresh(&s, &rt).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(aadsts_code(&body), 50057, "{body}");
    let (status, body) = ropc(&s, "alex@contoso.example", "Alex-Pass-1", None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(aadsts_code(&body), 50057, "{body}");

    // Enabled again, the refresh token works (disabling is not a revocation).
    let (status, _, body) = call(
        &s,
        Method::PATCH,
        &format!("{}/users/{user_id}", graph(&s)),
        &admin,
        Some(&json!({"accountEnabled": true})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = refresh(&s, &rt).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn password_change_ends_refresh_tokens_50173() {
    let s = server().await;
    let admin = admin_a(&s).await;
    let body = ropc_ok(&s, "pat@contoso.example", "Pat-Pass-1", Some(CAE_CLAIMS)).await;
    let at = access_token_of(&body);
    let rt = refresh_token_of(&body);
    let (_, claims) = jwt_parts(&at);
    let user_id = claims["oid"].as_str().expect("oid").to_owned();
    let (status, body) = refresh(&s, &rt).await;
    assert_eq!(status, 200, "refresh works before: {body}");

    let (status, _, body) = call(
        &s,
        Method::PATCH,
        &format!("{}/users/{user_id}", graph(&s)),
        &admin,
        Some(&json!({"passwordProfile": {"password": "Pat-Pass-2", "forceChangePasswordNextSignIn": false}})),
    )
    .await;
    assert_eq!(status, 204, "{body}");

    let (status, body) = refresh(&s, &rt).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert_eq!(aadsts_code(&body), 50173, "{body}");
    let (status, headers, body) = me(&s, &at).await;
    assert_claims_challenge(status, &headers, &body);
    let (status, body) = ropc(&s, "pat@contoso.example", "Pat-Pass-1", None).await;
    assert_eq!(status, 400, "old password: {body}");
    assert_eq!(aadsts_code(&body), 50126, "{body}");
    let fresh = ropc_ok(&s, "pat@contoso.example", "Pat-Pass-2", None).await;
    assert!(fresh["refresh_token"].is_string(), "{fresh}");

    // A deleted user's CAE token is challenged as well.
    let (status, _, body) = call(
        &s,
        Method::DELETE,
        &format!("{}/users/{user_id}", graph(&s)),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (status, headers, body) = me(&s, &at).await;
    assert_claims_challenge(status, &headers, &body);
    let (status, body) = refresh(&s, &refresh_token_of(&fresh)).await;
    assert_eq!(status, 400, "a deleted user's refresh token: {body}");
}

// ---------------------------------------------------------------------------------------
// 5. Faults and rate limits
// ---------------------------------------------------------------------------------------

async fn add_fault(s: &TestServer, rule: &Value) -> u16 {
    s.client
        .post(format!("{}/_tessera/test/faults", s.base))
        .json(rule)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

async fn clear_faults(s: &TestServer) -> u16 {
    s.client
        .delete(format!("{}/_tessera/test/faults", s.base))
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

/// A raw token request: status, Retry-After, body.
async fn raw_daemon_token(s: &TestServer) -> (u16, Option<String>, Value) {
    let r = s
        .client
        .post(s.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", s.demo.daemon.client_id.as_str()),
            ("client_secret", s.demo.daemon.client_secret.as_str()),
            ("scope", GRAPH_SCOPE),
        ])
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("ascii").to_owned());
    (status, retry_after, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn token_endpoint_faults() {
    let s = TestServer::start_with(|o| o.test_mode = true).await;

    assert_eq!(
        add_fault(
            &s,
            &json!({"target": "token", "status": 503, "retry_after": "2", "count": 1})
        )
        .await,
        204
    );
    let (status, retry_after, body) = raw_daemon_token(&s).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry_after.as_deref(), Some("2"));
    assert!(body["error"].is_string(), "an OAuth error body: {body}");
    let (status, retry_after, body) = raw_daemon_token(&s).await;
    assert_eq!(status, 200, "count 1: the next request succeeds: {body}");
    assert_eq!(retry_after, None);

    assert_eq!(
        add_fault(
            &s,
            &json!({"target": "token", "status": 429, "retry_after": "1.5"})
        )
        .await,
        204
    );
    let (status, retry_after, body) = raw_daemon_token(&s).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1.5"), "sent verbatim");
    assert!(body["error"].is_string(), "{body}");
    let (status, _, body) = raw_daemon_token(&s).await;
    assert_eq!(status, 200, "{body}");

    // Two rules at once, as an array.
    assert_eq!(
        add_fault(
            &s,
            &json!([
                {"target": "token", "status": 503, "count": 2},
                {"target": "graph", "status": 504}
            ])
        )
        .await,
        204
    );
    assert_eq!(raw_daemon_token(&s).await.0, 503);
    let (status, retry_after, _) = raw_daemon_token(&s).await;
    assert_eq!(status, 503, "count 2");
    assert_eq!(retry_after, None, "no Retry-After unless asked");
    assert_eq!(raw_daemon_token(&s).await.0, 200);

    // Latency: a lower bound only.
    assert_eq!(
        add_fault(&s, &json!({"target": "token", "latency_ms": 300})).await,
        204
    );
    let started = Instant::now();
    let (status, _, body) = raw_daemon_token(&s).await;
    assert_eq!(status, 200, "latency alone still answers: {body}");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );

    // Invalid rules are refused.
    for bad in [
        json!({"target": "tokens", "status": 503}),
        json!({"target": "token", "status": 418}),
        json!({"target": "token"}),
        json!({"target": "token", "status": 503, "surprise": true}),
    ] {
        assert_eq!(add_fault(&s, &bad).await, 400, "{bad}");
    }

    // DELETE clears pending rules.
    assert_eq!(
        add_fault(&s, &json!({"target": "token", "status": 503, "count": 5})).await,
        204
    );
    assert_eq!(clear_faults(&s).await, 204);
    assert_eq!(raw_daemon_token(&s).await.0, 200, "cleared");
}

#[tokio::test]
async fn graph_faults() {
    let s = TestServer::start_with(|o| o.test_mode = true).await;
    let (token, _) = demo_token(&s).await;
    let users = format!("{}/users", graph(&s));
    let groups = format!("{}/groups", graph(&s));

    assert_eq!(
        add_fault(
            &s,
            &json!({"target": "graph", "path": "/v1.0/users", "status": 504, "count": 1})
        )
        .await,
        204
    );
    let (status, body) = get(&s, &groups, &token).await;
    assert_eq!(status, 200, "another path is not hit: {body}");
    let (status, headers, body) = call(&s, Method::GET, &users, &token, None).await;
    assert_eq!(status, 504, "{body}");
    assert!(
        body["error"]["code"].is_string(),
        "Graph's error envelope: {body}"
    );
    assert!(headers.get("request-id").is_some(), "{headers:?}");
    let (status, body) = get(&s, &users, &token).await;
    assert_eq!(status, 200, "count 1: {body}");

    assert_eq!(
        add_fault(&s, &json!({"target": "graph", "path": "/v1.0/users", "status": 429, "retry_after": "2.128"})).await,
        204
    );
    let (status, headers, body) = call(&s, Method::GET, &users, &token, None).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "TooManyRequests", "{body}");
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("2.128")
    );

    // Latency on Graph.
    assert_eq!(
        add_fault(
            &s,
            &json!({"target": "graph", "path": "/v1.0/users", "latency_ms": 300})
        )
        .await,
        204
    );
    let started = Instant::now();
    let (status, body) = get(&s, &users, &token).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );

    // DELETE clears.
    assert_eq!(
        add_fault(&s, &json!({"target": "graph", "status": 503, "count": 10})).await,
        204
    );
    let (status, _) = get(&s, &users, &token).await;
    assert_eq!(status, 503);
    assert_eq!(clear_faults(&s).await, 204);
    let (status, body) = get(&s, &users, &token).await;
    assert_eq!(status, 200, "cleared: {body}");
}

/// `empty_page` with a Graph path, as the README documents rules (`"path": "/v1.0/users"`).
#[tokio::test]
async fn graph_empty_page_fault() {
    let s = TestServer::start_with(|o| o.test_mode = true).await;
    let (token, _) = demo_token(&s).await;
    let users = format!("{}/users", graph(&s));
    // An empty page that still has a nextLink; following it gives the users.
    assert_eq!(
        add_fault(
            &s,
            &json!({"target": "graph", "path": "/v1.0/users", "empty_page": true})
        )
        .await,
        204
    );
    let (status, body) = get(&s, &users, &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"], json!([]), "an empty page: {body}");
    let next = body["@odata.nextLink"]
        .as_str()
        .unwrap_or_else(|| panic!("the empty page has a nextLink: {body}"))
        .to_owned();
    let (status, body) = get(&s, &next, &token).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !body["value"].as_array().expect("value").is_empty(),
        "the next page has the users: {body}"
    );
}

#[tokio::test]
async fn per_app_rate_limit() {
    let s = TestServer::start_with(|o| o.test_mode = true).await;
    let (token, _) = demo_token(&s).await;
    let users = format!("{}/users", graph(&s));
    let r = s
        .client
        .post(format!("{}/_tessera/test/rate-limit", s.base))
        .json(&json!({"client_id": s.demo.daemon.client_id, "per_second": 2}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 204);

    // A burst of 10 concurrent requests by that app.
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let client = s.client.clone();
        let (url, token) = (users.clone(), token.clone());
        burst.spawn(async move {
            let r = client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("request");
            let status = r.status().as_u16();
            let retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body: Value = r.json().await.unwrap_or(Value::Null);
            (status, retry_after, body)
        });
    }
    let mut ok = 0;
    let mut throttled = 0;
    while let Some(done) = burst.join_next().await {
        let (status, retry_after, body) = done.expect("task");
        match status {
            200 => ok += 1,
            429 => {
                throttled += 1;
                assert_eq!(body["error"]["code"], "TooManyRequests", "{body}");
                assert_eq!(body["error"]["innerError"]["status"], "429", "{body}");
                let ra = retry_after.expect("Retry-After on a 429");
                let secs: u64 = ra
                    .parse()
                    .unwrap_or_else(|_| panic!("integer Retry-After: {ra}"));
                assert!(secs >= 1, "{ra}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(
        ok >= 1,
        "some requests pass ({ok} ok, {throttled} throttled)"
    );
    assert!(
        throttled >= 1,
        "a burst of 10 at 2/s is throttled ({ok} ok)"
    );

    // The token endpoint is not rate limited by it.
    assert_eq!(raw_daemon_token(&s).await.0, 200);

    // DELETE /_tessera/test/faults removes rate limits too.
    assert_eq!(clear_faults(&s).await, 204);
    for _ in 0..10 {
        let (status, body) = get(&s, &users, &token).await;
        assert_eq!(status, 200, "no limit after DELETE: {body}");
    }

    let r = s
        .client
        .post(format!("{}/_tessera/test/rate-limit", s.base))
        .json(&json!({"client_id": s.demo.daemon.client_id}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 400, "per_second is required");
}

#[tokio::test]
async fn fault_routes_are_absent_without_test_mode() {
    let s = TestServer::start().await;
    let faults = format!("{}/_tessera/test/faults", s.base);
    let r = s
        .client
        .post(&faults)
        .json(&json!({"target": "token", "status": 503}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 404);
    let r = s.client.delete(&faults).send().await.expect("request");
    assert_eq!(r.status().as_u16(), 404);
    let r = s
        .client
        .post(format!("{}/_tessera/test/rate-limit", s.base))
        .json(&json!({"client_id": s.demo.daemon.client_id, "per_second": 1}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 404);
    let r = s
        .client
        .post(format!("{}/_tessera/test/revoke-sessions", s.base))
        .json(&json!({"tenant": s.demo.tenant_id, "user": s.demo.user.username}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 404);
    // The token endpoint works as usual.
    let (status, body) = s.daemon_token(&[]).await;
    assert_eq!(status, 200, "{body}");
}
