//! Graph directory endpoints: users, groups, applications, service principals, OData, paging, $batch.
//!
//! Every Graph response read through `send` is checked for `request-id` and
//! `client-request-id`; every error through `assert_error` for Graph's envelope.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestServer, aadsts_code, write_config};

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const DOMAIN: &str = "contoso.example";
const PUBLIC_APP: &str = "33333333-4444-5555-6666-777777777777";
const API_APP: &str = "55555555-6666-7777-8888-999999999999";
const WRITER_APP: &str = "66666666-7777-8888-9999-aaaaaaaaaaaa";
const NO_ROLES_APP: &str = "77777777-8888-9999-aaaa-bbbbbbbbbbbb";
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// A second tenant: a writer app (User.ReadWrite.All), an app with no Graph roles, a v1 API
/// (another resource), a public client with delegated User.Read, and users with passwords.
const CONFIG: &str = r#"
[[tenants]]
id = "11111111-2222-3333-4444-555555555555"
domain = "contoso.example"
display_name = "Contoso"

[[tenants.applications]]
client_id = "33333333-4444-5555-6666-777777777777"
display_name = "script"
public_client = true
delegated_permissions = { "https://graph.microsoft.com" = ["User.Read", "openid", "profile", "offline_access"] }

[[tenants.applications]]
client_id = "55555555-6666-7777-8888-999999999999"
display_name = "Tasks API"
identifier_uris = ["api://tasks"]
app_roles = ["Tasks.Read.All"]

[[tenants.applications]]
client_id = "66666666-7777-8888-9999-aaaaaaaaaaaa"
display_name = "directory writer"
secrets = [{ value = "writer-secret-value" }]
application_permissions = { "https://graph.microsoft.com" = ["User.ReadWrite.All", "Group.Read.All", "Application.Read.All"], "api://tasks" = ["Tasks.Read.All"] }

[[tenants.applications]]
client_id = "77777777-8888-9999-aaaa-bbbbbbbbbbbb"
display_name = "no graph roles"
secrets = [{ value = "no-roles-secret-value" }]

[[tenants.users]]
user_principal_name = "megan@contoso.example"
display_name = "Megan Bowen"
given_name = "Megan"
surname = "Bowen"
mail = "megan@contoso.example"
password = "Megan-Pass-1"

[[tenants.users]]
user_principal_name = "alex@contoso.example"
display_name = "Alex Wilber"
given_name = "Alex"
surname = "Wilber"
mail = "alex@contoso.example"
password = "Alex-Pass-1"
"#;

/// Graph's default user properties, in Graph's order.
const DEFAULT_USER_PROPERTIES: [&str; 11] = [
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

async fn server_with_config(tweak: impl FnOnce(&mut tessera_server::ServeOptions)) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), CONFIG);
    TestServer::start_in(dir, |o| {
        o.config_file = Some(config);
        o.test_mode = true;
        tweak(o);
    })
    .await
}

fn graph(s: &TestServer) -> String {
    format!("{}/v1.0", s.base)
}

/// One Graph response, read whole.
struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    /// The body, cut to 1500 characters for assertion messages.
    text: String,
    full: String,
    body: Value,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn values(&self) -> &Vec<Value> {
        self.body["value"]
            .as_array()
            .unwrap_or_else(|| panic!("a collection page: {}", self.text))
    }

    fn ids(&self) -> Vec<String> {
        self.values()
            .iter()
            .map(|v| v["id"].as_str().expect("id").to_owned())
            .collect()
    }

    fn next_link(&self) -> Option<String> {
        self.body["@odata.nextLink"].as_str().map(str::to_owned)
    }
}

fn is_guid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Sends a Graph request (`target` is a path under `/v1.0` or an absolute URL) and checks
/// the ids every Graph response carries.
async fn send(
    s: &TestServer,
    method: Method,
    target: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Resp {
    let url = if target.starts_with("https://") {
        target.to_owned()
    } else {
        format!("{}{target}", graph(s))
    };
    let mut rb = s.client.request(method, &url);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    if let Some(b) = body {
        rb = rb.json(b);
    }
    let r = rb.send().await.expect("graph request");
    let status = r.status().as_u16();
    let headers_out = r.headers().clone();
    let text = r.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    let resp = Resp {
        status,
        headers: headers_out,
        text: text.chars().take(1500).collect(),
        full: text,
        body,
    };
    let request_id = resp
        .header("request-id")
        .unwrap_or_else(|| panic!("request-id on {url} ({status})"));
    assert!(is_guid(request_id), "request-id is a GUID: {request_id}");
    assert!(
        resp.header("x-ms-ags-diagnostic")
            .is_some_and(|d| d.starts_with(r#"{"ServerInfo":"#)),
        "x-ms-ags-diagnostic on {url} ({status})"
    );
    let client_request_id = resp
        .header("client-request-id")
        .unwrap_or_else(|| panic!("client-request-id on {url} ({status})"));
    let sent = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("client-request-id"))
        .map(|(_, v)| *v);
    assert_eq!(
        client_request_id,
        sent.unwrap_or(request_id),
        "client-request-id is echoed, or equals request-id when none was sent"
    );
    resp
}

async fn get(s: &TestServer, token: &str, target: &str) -> Resp {
    send(s, Method::GET, target, Some(token), &[], None).await
}

async fn get_eventual(s: &TestServer, token: &str, target: &str) -> Resp {
    send(
        s,
        Method::GET,
        target,
        Some(token),
        &[("ConsistencyLevel", "eventual")],
        None,
    )
    .await
}

async fn post(s: &TestServer, token: &str, target: &str, body: &Value) -> Resp {
    send(s, Method::POST, target, Some(token), &[], Some(body)).await
}

/// `innerError.date`: `YYYY-MM-DDTHH:MM:SS`, no zone.
fn is_inner_date(d: &str) -> bool {
    d.len() == 19
        && d.bytes().enumerate().all(|(i, c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            _ => c.is_ascii_digit(),
        })
}

/// Graph's error envelope with this status and code (and message, when given).
fn assert_error(r: &Resp, status: u16, code: &str, message: Option<&str>) {
    assert_eq!(r.status, status, "status; body: {}", r.text);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "error content type: {:?}",
        r.header("content-type")
    );
    let e = &r.body["error"];
    assert_eq!(e["code"], code, "error code; body: {}", r.text);
    if let Some(m) = message {
        assert_eq!(e["message"], m, "error message; body: {}", r.text);
    }
    assert_error_envelope(r);
}

/// `error.code`, `error.message`, `innerError.date` and `innerError.request-id`.
fn assert_error_envelope(r: &Resp) {
    let e = &r.body["error"];
    assert!(
        e["code"].as_str().is_some_and(|c| !c.is_empty()),
        "{}",
        r.text
    );
    assert!(e["message"].is_string(), "{}", r.text);
    let date = e["innerError"]["date"]
        .as_str()
        .unwrap_or_else(|| panic!("innerError.date: {}", r.text));
    assert!(is_inner_date(date), "innerError.date format: {date}");
    assert_eq!(
        e["innerError"]["request-id"].as_str(),
        r.header("request-id"),
        "innerError.request-id is the request-id header"
    );
}

fn assert_ok_json(r: &Resp, status: u16) {
    assert_eq!(r.status, status, "{}", r.text);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json;odata.metadata=minimal")),
        "{:?}",
        r.header("content-type")
    );
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}

async fn demo_app_token(s: &TestServer) -> String {
    let (status, body) = s.daemon_token(&[]).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("at").to_owned()
}

fn config_token_url(s: &TestServer) -> String {
    format!("{}/{TENANT}/oauth2/v2.0/token", s.base)
}

async fn config_app_token(s: &TestServer, client: &str, secret: &str, scope: &str) -> String {
    let (status, body) = s
        .post_form(
            &config_token_url(s),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client),
                ("client_secret", secret),
                ("scope", scope),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("at").to_owned()
}

/// A server on the config tenant plus one more app, `client_id`, holding the Graph
/// application permissions `roles`; returns it with that app's Graph token.
async fn server_with_admin(client_id: &str, roles: &[&str]) -> (TestServer, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let roles: Vec<String> = roles.iter().map(|r| format!("\"{r}\"")).collect();
    let config = write_config(
        dir.path(),
        &format!(
            r#"{CONFIG}
[[tenants.applications]]
client_id = "{client_id}"
display_name = "admin script"
secrets = [{{ value = "admin-script-secret" }}]
application_permissions = {{ "https://graph.microsoft.com" = [{}] }}
"#,
            roles.join(", ")
        ),
    );
    let s = TestServer::start_in(dir, |o| o.config_file = Some(config)).await;
    let token = config_app_token(
        &s,
        client_id,
        "admin-script-secret",
        "https://graph.microsoft.com/.default",
    )
    .await;
    (s, token)
}

async fn writer_token(s: &TestServer) -> String {
    config_app_token(
        s,
        WRITER_APP,
        "writer-secret-value",
        "https://graph.microsoft.com/.default",
    )
    .await
}

/// ROPC in the config tenant with the public client.
async fn config_ropc(s: &TestServer, user: &str, password: &str, scope: &str) -> (u16, Value) {
    s.post_form(
        &config_token_url(s),
        &[
            ("grant_type", "password"),
            ("client_id", PUBLIC_APP),
            ("username", user),
            ("password", password),
            ("scope", scope),
        ],
    )
    .await
}

/// A delegated Graph token (User.Read) for the demo user with the demo public client.
async fn demo_user_token(s: &TestServer) -> String {
    let (status, body) = s
        .token(&[
            ("grant_type", "password"),
            ("client_id", s.demo.public_client.client_id.as_str()),
            ("username", s.demo.user.username.as_str()),
            ("password", s.demo.user.password.as_str()),
            ("scope", "User.Read"),
        ])
        .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("at").to_owned()
}

fn flip_signature(token: &str) -> String {
    let (input, sig) = token.rsplit_once('.').expect("three parts");
    let mut bytes = tessera_proto::b64::url_decode(sig).expect("sig b64");
    bytes[17] ^= 0x5a;
    format!("{input}.{}", tessera_proto::b64::url_encode(&bytes))
}

async fn add_fault(s: &TestServer, fault: &Value) {
    let r = s
        .client
        .post(format!("{}/_tessera/test/faults", s.base))
        .json(fault)
        .send()
        .await
        .expect("fault request");
    assert_eq!(r.status().as_u16(), 204, "fault accepted");
}

/// Follows `@odata.nextLink` verbatim from `first` until it is absent; returns the pages.
async fn walk(s: &TestServer, token: &str, first: &str, eventual: bool) -> Vec<Resp> {
    let mut pages = Vec::new();
    let mut target = first.to_owned();
    loop {
        let r = if eventual {
            get_eventual(s, token, &target).await
        } else {
            get(s, token, &target).await
        };
        assert_ok_json(&r, 200);
        let next = r.next_link();
        pages.push(r);
        match next {
            Some(n) => {
                assert!(
                    n.starts_with(&format!("{}/", graph(s))),
                    "an absolute nextLink on this server: {n}"
                );
                target = n;
            }
            None => return pages,
        }
        assert!(pages.len() < 10_000, "the walk ends");
    }
}

fn all_ids(pages: &[Resp]) -> Vec<String> {
    pages.iter().flat_map(Resp::ids).collect()
}

fn assert_unique(ids: &[String]) -> HashSet<String> {
    let mut seen = HashSet::with_capacity(ids.len());
    for id in ids {
        assert!(seen.insert(id.clone()), "user {id} returned twice");
    }
    seen
}

/// The `$skiptoken` of a nextLink.
fn skiptoken(link: &str) -> &str {
    let (_, t) = link.split_once("$skiptoken=").expect("a $skiptoken");
    t.split('&').next().unwrap_or(t)
}

async fn seed(s: &TestServer, tenant: Option<&str>, count: u64) -> tessera_server::SeedReport {
    tessera_server::seed_users(tessera_server::SeedUsers {
        data_dir: s.dir.path().join("data"),
        database: s.database_url(),
        tenant: tenant.map(str::to_owned),
        count,
    })
    .await
    .expect("seed users")
}

/// The sequence number `n` of a seeded user principal name of run `run`.
fn seed_n(upn: &str, run: &str) -> Option<u64> {
    let local = upn.split('@').next()?;
    let mut parts = local.rsplit('.');
    let n = parts.next()?.parse().ok()?;
    (parts.next()? == run).then_some(n)
}

fn unix_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_secs(),
    )
    .expect("i64")
}

// ---------------------------------------------------------------------------------------
// 1. Access control
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn graph_access_control() {
    let s = server_with_config(|o| {
        o.test_access_token_lifetime = Some(Duration::from_secs(20));
    })
    .await;

    // No Authorization header, and an empty bearer token.
    let r = send(&s, Method::GET, "/users", None, &[], None).await;
    assert_error(
        &r,
        401,
        "InvalidAuthenticationToken",
        Some("Access token is empty."),
    );
    let www = r.header("www-authenticate").expect("WWW-Authenticate");
    assert!(www.starts_with(r#"Bearer realm="""#), "{www}");
    assert!(
        www.contains(&format!(r#"client_id="{GRAPH_APP_ID}""#)),
        "{www}"
    );
    assert!(www.contains("authorization_uri=\""), "{www}");
    let sent_id = "5c0b6a6e-8f1d-4b55-9a0e-3d2f1c0b9a87";
    let r = send(
        &s,
        Method::GET,
        "/users",
        None,
        &[("Authorization", "Bearer "), ("client-request-id", sent_id)],
        None,
    )
    .await;
    assert_error(
        &r,
        401,
        "InvalidAuthenticationToken",
        Some("Access token is empty."),
    );
    assert_eq!(r.body["error"]["innerError"]["client-request-id"], sent_id);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|w| w.starts_with(r#"Bearer realm="""#))
    );

    // A valid app token works, and echoes a client-request-id.
    let app = demo_app_token(&s).await;
    let r = send(
        &s,
        Method::GET,
        "/users",
        Some(&app),
        &[("client-request-id", sent_id)],
        None,
    )
    .await;
    assert_ok_json(&r, 200);
    assert_eq!(r.header("odata-version"), Some("4.0"));
    assert!(r.header("www-authenticate").is_none());

    // A flipped signature, and garbage without dots.
    let r = get(&s, &flip_signature(&app), "/users").await;
    assert_error(
        &r,
        401,
        "InvalidAuthenticationToken",
        Some("Signature is invalid."),
    );
    assert!(r.header("www-authenticate").is_some());
    let r = get(&s, "garbage-without-any-dots", "/users").await;
    assert_error(&r, 401, "InvalidAuthenticationToken", None);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .expect("message")
            .starts_with("IDX14100"),
        "{}",
        r.text
    );

    // A token for another resource.
    let api = config_app_token(
        &s,
        WRITER_APP,
        "writer-secret-value",
        "api://tasks/.default",
    )
    .await;
    let (_, claims) = crate::support::jwt_parts(&api);
    assert_eq!(claims["ver"], "1.0", "a v1 API: {claims}");
    assert!(
        claims["aud"] == "api://tasks" || claims["aud"] == API_APP,
        "a token for the API: {claims}"
    );
    let r = get(&s, &api, "/users").await;
    assert_error(&r, 401, "InvalidAuthenticationToken", None);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("Invalid audience"),
        "{}",
        r.text
    );

    // A Graph token without any Graph role.
    let no_roles = config_app_token(
        &s,
        NO_ROLES_APP,
        "no-roles-secret-value",
        "https://graph.microsoft.com/.default",
    )
    .await;
    for path in ["/users", "/groups", "/applications"] {
        let r = get(&s, &no_roles, path).await;
        assert_error(
            &r,
            403,
            "Authorization_RequestDenied",
            Some("Insufficient privileges to complete the operation."),
        );
        assert!(
            r.header("www-authenticate").is_none(),
            "WWW-Authenticate on 401 only"
        );
    }

    // /me: app-only refused, delegated gives the signed-in user.
    let r = get(&s, &app, "/me").await;
    assert_error(
        &r,
        400,
        "BadRequest",
        Some("/me request is only valid with delegated authentication flow."),
    );
    let user = demo_user_token(&s).await;
    let r = get(&s, &user, "/me").await;
    assert_ok_json(&r, 200);
    assert_eq!(r.body["userPrincipalName"], s.demo.user.username.as_str());
    assert_eq!(r.body["displayName"], "Adele Vance");
    assert_eq!(
        r.body["@odata.context"],
        format!("{}/$metadata#users/$entity", graph(&s))
    );
    let me_id = r.body["id"].as_str().expect("id").to_owned();
    let r = get(&s, &user, &format!("/users/{me_id}")).await;
    assert_ok_json(&r, 200);
    assert_eq!(r.body["id"], me_id.as_str(), "User.Read reads its own user");
    let r = get(&s, &user, "/users").await;
    assert_error(
        &r,
        403,
        "Authorization_RequestDenied",
        Some("Insufficient privileges to complete the operation."),
    );

    // Expiry: 20 s tokens, five minutes of skew.
    let fresh = demo_app_token(&s).await;
    let (_, claims) = crate::support::jwt_parts(&fresh);
    let exp = claims["exp"].as_i64().expect("exp");
    s.advance_clock(exp + 200 - unix_now()).await;
    let r = get(&s, &fresh, "/users").await;
    assert_ok_json(&r, 200);
    s.advance_clock(150).await;
    let r = get(&s, &fresh, "/users").await;
    assert_error(
        &r,
        401,
        "InvalidAuthenticationToken",
        Some("Lifetime validation failed, the token is expired."),
    );
    let www = r.header("www-authenticate").expect("WWW-Authenticate");
    assert!(
        www.starts_with(r#"Bearer realm="""#) && www.contains(GRAPH_APP_ID),
        "{www}"
    );

    let metrics = s.metrics().await;
    let expected_lines: Vec<String> = [
        ("expired", 1),
        ("missing", 2),
        ("signature", 1),
        ("malformed", 1),
        ("audience", 1),
    ]
    .iter()
    .map(|(reason, n)| format!("tessera_graph_auth_failures_total{{reason=\"{reason}\"}} {n}"))
    .collect();
    let absent: Vec<&String> = expected_lines
        .iter()
        .filter(|line| !metrics.lines().any(|l| l == line.as_str()))
        .collect();
    assert!(
        absent.is_empty(),
        "missing from metrics: {absent:?}\n{metrics}"
    );
}

// ---------------------------------------------------------------------------------------
// 2. Users
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn graph_users_read_create_update_delete() {
    let s = server_with_config(|_| {}).await;
    let t = writer_token(&s).await;
    let g = graph(&s);

    // Default property set and context.
    let r = get(&s, &t, "/users").await;
    assert_ok_json(&r, 200);
    assert_eq!(r.body["@odata.context"], format!("{g}/$metadata#users"));
    assert!(r.body.get("@odata.nextLink").is_none());
    assert!(r.body.get("@odata.count").is_none());
    assert_eq!(r.values().len(), 2, "the config tenant's users: {}", r.text);
    for u in r.values() {
        assert_eq!(keys(u), DEFAULT_USER_PROPERTIES, "{u}");
        assert!(u["businessPhones"].is_array());
        assert!(is_guid(u["id"].as_str().expect("id")));
    }
    let megan = r
        .values()
        .iter()
        .find(|u| u["userPrincipalName"] == "megan@contoso.example")
        .expect("megan listed")
        .clone();
    assert_eq!(megan["displayName"], "Megan Bowen");
    assert_eq!(megan["givenName"], "Megan");
    assert_eq!(megan["surname"], "Bowen");
    assert_eq!(megan["mail"], "megan@contoso.example");
    assert_eq!(megan["jobTitle"], Value::Null);
    let megan_id = megan["id"].as_str().expect("id").to_owned();

    // $select.
    let r = get(&s, &t, "/users?$select=id,displayName").await;
    assert_ok_json(&r, 200);
    assert_eq!(
        r.body["@odata.context"],
        format!("{g}/$metadata#users(id,displayName)")
    );
    for u in r.values() {
        assert_eq!(keys(u), ["id", "displayName"]);
    }
    let r = get(&s, &t, "/users?$select=id,accountEnabled,createdDateTime").await;
    assert_ok_json(&r, 200);
    assert_eq!(r.values()[0]["accountEnabled"], true);
    let r = get(&s, &t, "/users?$select=id,shoeSize").await;
    assert_error(&r, 400, "Request_BadRequest", None);

    // Get by id, by principal name (any case), 404.
    let r = get(&s, &t, &format!("/users/{megan_id}")).await;
    assert_ok_json(&r, 200);
    assert_eq!(
        r.body["@odata.context"],
        format!("{g}/$metadata#users/$entity")
    );
    assert_eq!(
        keys(&r.body)[1..],
        DEFAULT_USER_PROPERTIES,
        "context, then the default set"
    );
    assert_eq!(r.body["userPrincipalName"], "megan@contoso.example");
    let r = get(&s, &t, "/users/megan@contoso.example").await;
    assert_ok_json(&r, 200);
    assert_eq!(r.body["id"], megan_id.as_str());
    let r = get(&s, &t, "/users/MEGAN@Contoso.Example").await;
    assert_eq!(
        (r.status, r.body["id"].as_str()),
        (200, Some(megan_id.as_str())),
        "principal names are case-insensitive: {}",
        r.text
    );
    let r = get(&s, &t, &format!("/users/{megan_id}?$select=id,mail")).await;
    assert_ok_json(&r, 200);
    assert_eq!(
        r.body["@odata.context"],
        format!("{g}/$metadata#users(id,mail)/$entity")
    );
    assert_eq!(keys(&r.body), ["@odata.context", "id", "mail"]);
    let unknown = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
    let r = get(&s, &t, &format!("/users/{unknown}")).await;
    assert_error(
        &r,
        404,
        "Request_ResourceNotFound",
        Some(&format!(
            "Resource '{unknown}' does not exist or one of its queried reference-property objects are not present."
        )),
    );
    let r = get(&s, &t, "/users/nobody@contoso.example").await;
    assert_error(&r, 404, "Request_ResourceNotFound", None);

    // Create.
    let new_user = json!({
        "accountEnabled": true,
        "displayName": "Nestor Wilke",
        "mailNickname": "nestor",
        "userPrincipalName": "nestor@contoso.example",
        "passwordProfile": {"forceChangePasswordNextSignIn": false, "password": "Nestor-Pass-1!"}
    });
    let r = post(&s, &t, "/users", &new_user).await;
    assert_ok_json(&r, 201);
    assert_eq!(
        r.body["@odata.context"],
        format!("{g}/$metadata#users/$entity")
    );
    assert_eq!(r.body["displayName"], "Nestor Wilke");
    assert_eq!(r.body["userPrincipalName"], "nestor@contoso.example");
    assert!(r.body.get("passwordProfile").is_none(), "{}", r.text);
    assert!(!r.full.contains("Nestor-Pass-1!"), "no password echoed");
    let nestor_id = r.body["id"].as_str().expect("id").to_owned();
    assert!(is_guid(&nestor_id));
    let r = get(&s, &t, &format!("/users/{nestor_id}")).await;
    assert_ok_json(&r, 200);
    assert_eq!(r.body["userPrincipalName"], "nestor@contoso.example");
    let r = get(&s, &t, "/users").await;
    assert!(r.ids().contains(&nestor_id), "{}", r.text);
    let (status, body) =
        config_ropc(&s, "nestor@contoso.example", "Nestor-Pass-1!", "User.Read").await;
    assert_eq!(
        status, 200,
        "the created user signs in with its password: {body}"
    );
    let (_, claims) = crate::support::jwt_parts(body["access_token"].as_str().expect("at"));
    assert_eq!(claims["oid"], nestor_id.as_str());

    // Duplicates, a foreign domain, a missing property.
    let r = post(&s, &t, "/users", &new_user).await;
    assert_error(&r, 400, "Request_BadRequest", None);
    assert_eq!(
        r.body["error"]["details"][0]["code"], "ObjectConflict",
        "{}",
        r.text
    );
    let mut dup = new_user.clone();
    dup["userPrincipalName"] = json!("NESTOR@contoso.example");
    let r = post(&s, &t, "/users", &dup).await;
    assert_error(&r, 400, "Request_BadRequest", None);
    assert_eq!(
        r.body["error"]["details"][0]["code"], "ObjectConflict",
        "a principal name differing in case only conflicts: {}",
        r.text
    );
    let mut foreign = new_user.clone();
    foreign["userPrincipalName"] = json!("nestor@fabrikam.example");
    let r = post(&s, &t, "/users", &foreign).await;
    assert_error(&r, 400, "Request_BadRequest", None);
    let r = get(&s, &t, "/users/nestor@fabrikam.example").await;
    assert_eq!(r.status, 404);
    for missing in [
        "displayName",
        "mailNickname",
        "userPrincipalName",
        "passwordProfile",
    ] {
        let mut partial = new_user.clone();
        partial["userPrincipalName"] = json!("partial@contoso.example");
        partial.as_object_mut().expect("obj").remove(missing);
        let r = post(&s, &t, "/users", &partial).await;
        assert_error(&r, 400, "Request_BadRequest", None);
    }
    let r = get(&s, &t, "/users/partial@contoso.example").await;
    assert_error(&r, 404, "Request_ResourceNotFound", None);

    // Create needs a write permission.
    let reader = config_app_token(
        &s,
        "77777777-8888-9999-aaaa-bbbbbbbbbbbb",
        "no-roles-secret-value",
        "https://graph.microsoft.com/.default",
    )
    .await;
    let r = post(&s, &reader, "/users", &new_user).await;
    assert_error(&r, 403, "Authorization_RequestDenied", None);

    // Update.
    let r = send(
        &s,
        Method::PATCH,
        &format!("/users/{nestor_id}"),
        Some(&t),
        &[],
        Some(&json!({"displayName": "Nestor W.", "jobTitle": "Engineer", "officeLocation": "B/2"})),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.full.is_empty());
    let r = get(&s, &t, &format!("/users/{nestor_id}")).await;
    assert_eq!(r.body["displayName"], "Nestor W.");
    assert_eq!(r.body["jobTitle"], "Engineer");
    assert_eq!(r.body["officeLocation"], "B/2");
    assert_eq!(r.body["userPrincipalName"], "nestor@contoso.example");
    let r = send(
        &s,
        Method::PATCH,
        &format!("/users/{nestor_id}"),
        Some(&t),
        &[],
        Some(&json!({"userPrincipalName": "megan@contoso.example"})),
    )
    .await;
    assert_error(&r, 400, "Request_BadRequest", None);
    let r = send(
        &s,
        Method::PATCH,
        &format!("/users/{unknown}"),
        Some(&t),
        &[],
        Some(&json!({"jobTitle": "x"})),
    )
    .await;
    assert_error(&r, 404, "Request_ResourceNotFound", None);

    // Delete.
    let r = send(
        &s,
        Method::DELETE,
        &format!("/users/{nestor_id}"),
        Some(&t),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = get(&s, &t, &format!("/users/{nestor_id}")).await;
    assert_error(&r, 404, "Request_ResourceNotFound", None);
    let r = send(
        &s,
        Method::DELETE,
        &format!("/users/{nestor_id}"),
        Some(&t),
        &[],
        None,
    )
    .await;
    assert_error(&r, 404, "Request_ResourceNotFound", None);
    let r = get(&s, &t, "/users").await;
    assert!(!r.ids().contains(&nestor_id));

    // revokeSignInSessions stops the user's refresh tokens.
    let (status, body) = config_ropc(
        &s,
        "megan@contoso.example",
        "Megan-Pass-1",
        "User.Read offline_access",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let rt = body["refresh_token"].as_str().expect("rt").to_owned();
    let r = post(
        &s,
        &t,
        &format!("/users/{megan_id}/revokeSignInSessions"),
        &json!({}),
    )
    .await;
    assert_ok_json(&r, 200);
    assert_eq!(r.body["value"], true, "{}", r.text);
    assert_eq!(
        r.body["@odata.context"],
        format!("{g}/$metadata#Edm.Boolean")
    );
    let (status, body) = s
        .post_form(
            &config_token_url(&s),
            &[
                ("grant_type", "refresh_token"),
                ("client_id", PUBLIC_APP),
                ("refresh_token", &rt),
            ],
        )
        .await;
    assert_eq!((status, aadsts_code(&body)), (400, 50173), "{body}");
    let r = post(
        &s,
        &t,
        &format!("/users/{unknown}/revokeSignInSessions"),
        &json!({}),
    )
    .await;
    assert_error(&r, 404, "Request_ResourceNotFound", None);
    let r = post(
        &s,
        &reader,
        &format!("/users/{megan_id}/revokeSignInSessions"),
        &json!({}),
    )
    .await;
    assert_error(&r, 403, "Authorization_RequestDenied", None);
}

// ---------------------------------------------------------------------------------------
// 3. OData query options
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn graph_odata_query_options() {
    const SEEDED: u64 = 1200;
    let s = TestServer::start_with(|o| o.test_mode = true).await;
    let report = seed(&s, None, SEEDED).await;
    let run = report.run.clone();
    let total = SEEDED + 1; // the demo user
    let t = demo_app_token(&s).await;
    let domain = s.demo.tenant_domain.clone();

    // $top: default 100, maximum 999, out of range refused.
    let r = get(&s, &t, "/users").await;
    assert_eq!(r.values().len(), 100);
    assert!(r.next_link().is_some());
    let r = get(&s, &t, "/users?$top=999").await;
    assert_eq!(r.values().len(), 999);
    let next = r.next_link().expect("nextLink");
    assert!(next.contains("$top=999"), "{next}");
    let r2 = get(&s, &t, &next).await;
    assert_eq!(r2.values().len() as u64, total - 999);
    assert!(r2.next_link().is_none());
    for top in ["0", "1000"] {
        let r = get(&s, &t, &format!("/users?$top={top}")).await;
        assert_error(
            &r,
            400,
            "Request_UnsupportedQuery",
            Some(&format!(
                "Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive."
            )),
        );
    }

    // Filters that work without advanced queries.
    let n_of = |r: &Resp| -> BTreeSet<u64> {
        r.values()
            .iter()
            .filter_map(|u| seed_n(u["userPrincipalName"].as_str().expect("upn"), &run))
            .collect()
    };
    let upn = |n: u64| -> String {
        let given = [
            "adele",
            "alex",
            "diego",
            "grady",
            "henrietta",
            "isaiah",
            "johanna",
            "joni",
            "lee",
            "lidia",
            "lynne",
            "megan",
            "miriam",
            "nestor",
            "patti",
            "pradeep",
        ];
        let surname = [
            "vance",
            "wilber",
            "siciliani",
            "archie",
            "mueller",
            "langer",
            "lauer",
            "sherman",
            "gu",
            "holloway",
            "robbins",
            "bowen",
            "graham",
            "wilke",
            "fernandez",
            "gupta",
        ];
        format!(
            "{}.{}.{run}.{n}@{domain}",
            given[(n % 16) as usize],
            surname[((n / 16) % 16) as usize]
        )
    };
    let expect = |pred: &dyn Fn(u64) -> bool| -> BTreeSet<u64> {
        (0..SEEDED).filter(|n| pred(*n)).collect()
    };

    let target = upn(123);
    let r = get(
        &s,
        &t,
        &format!(
            "/users?$filter=userPrincipalName eq '{}'",
            target.to_ascii_uppercase()
        ),
    )
    .await;
    assert_ok_json(&r, 200);
    assert_eq!(r.values().len(), 1, "{}", r.text);
    assert_eq!(r.values()[0]["userPrincipalName"], target.as_str());

    let r = get(
        &s,
        &t,
        "/users?$filter=startswith(displayName,'Megan')&$top=999",
    )
    .await;
    assert_ok_json(&r, 200);
    assert!(
        r.values()
            .iter()
            .all(|u| u["displayName"].as_str().expect("dn").starts_with("Megan"))
    );
    assert_eq!(n_of(&r), expect(&|n| n % 16 == 11));
    assert_eq!(r.values().len(), 75);
    let r = get(
        &s,
        &t,
        "/users?$filter=startswith(displayName,'megan')&$top=999",
    )
    .await;
    assert_eq!(r.values().len(), 75, "startswith ignores case");

    let r = get(
        &s,
        &t,
        &format!(
            "/users?$filter=userPrincipalName in ('{}', '{}', 'nobody@{domain}')",
            upn(5),
            upn(700)
        ),
    )
    .await;
    assert_ok_json(&r, 200);
    assert_eq!(n_of(&r), BTreeSet::from([5, 700]));

    let r = get(&s, &t, "/users?$filter=accountEnabled eq false&$top=999").await;
    assert_eq!(n_of(&r), expect(&|n| n % 10 == 9));
    assert_eq!(r.values().len(), 120);
    let r = get(
        &s,
        &t,
        "/users?$filter=startswith(displayName,'Megan') and accountEnabled eq false&$top=999",
    )
    .await;
    assert_eq!(n_of(&r), expect(&|n| n % 16 == 11 && n % 10 == 9));
    let r = get(
        &s,
        &t,
        "/users?$filter=givenName eq 'Alex' or givenName eq 'Diego'&$top=999",
    )
    .await;
    assert_eq!(n_of(&r), expect(&|n| n % 16 == 1 || n % 16 == 2));
    let r = get(
        &s,
        &t,
        "/users?$filter=(givenName eq 'Alex' or surname eq 'Gupta') and accountEnabled eq true&$top=999",
    )
    .await;
    assert_eq!(
        n_of(&r),
        expect(&|n| (n % 16 == 1 || (n / 16) % 16 == 15) && n % 10 != 9)
    );

    // Advanced operators need ConsistencyLevel: eventual and $count=true.
    let ends_with = format!("endswith(userPrincipalName,'.7@{domain}')");
    let advanced = [
        ("accountEnabled ne true", expect(&|n| n % 10 == 9)),
        ("not(accountEnabled eq true)", expect(&|n| n % 10 == 9)),
        (ends_with.as_str(), BTreeSet::from([7])),
    ];
    for (filter, expected) in &advanced {
        let r = get(&s, &t, &format!("/users?$filter={filter}&$top=999")).await;
        assert_error(&r, 400, "Request_UnsupportedQuery", None);
        let r = get_eventual(&s, &t, &format!("/users?$filter={filter}&$top=999")).await;
        assert_error(&r, 400, "Request_UnsupportedQuery", None);
        let r = get(
            &s,
            &t,
            &format!("/users?$filter={filter}&$top=999&$count=true"),
        )
        .await;
        assert_error(&r, 400, "Request_UnsupportedQuery", None);
        let r = get_eventual(
            &s,
            &t,
            &format!("/users?$filter={filter}&$top=999&$count=true"),
        )
        .await;
        assert_ok_json(&r, 200);
        assert_eq!(&n_of(&r), expected, "{filter}");
        assert_eq!(r.body["@odata.count"], expected.len() as u64, "{filter}");
    }
    let r = get(&s, &t, "/users?$filter=endswith(userPrincipalName,'x')").await;
    assert_error(
        &r,
        400,
        "Request_UnsupportedQuery",
        Some(
            "Operator 'endsWith' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information",
        ),
    );

    // Filters on properties that are not filterable, and malformed filters.
    for bad in ["jobTitle eq 'x'", "createdDateTime eq 2020-01-01T00:00:00Z"] {
        let r = get(&s, &t, &format!("/users?$filter={bad}")).await;
        assert_error(&r, 400, "Request_UnsupportedQuery", None);
    }
    let r = get(&s, &t, "/users?$filter=jobTitle eq 'x'").await;
    assert_eq!(
        r.body["error"]["message"],
        "Unsupported or invalid query filter clause specified for property 'jobTitle' of resource 'User'."
    );
    let r = get(&s, &t, "/users?$filter=displayName eq").await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_error_envelope(&r);

    // $count.
    let r = get_eventual(&s, &t, "/users?$count=true&$top=500").await;
    assert_ok_json(&r, 200);
    assert_eq!(r.body["@odata.count"], total);
    let next = r.next_link().expect("nextLink");
    assert!(next.contains("$count=true"), "{next}");
    let r2 = get_eventual(&s, &t, &next).await;
    assert_ok_json(&r2, 200);
    assert!(
        r2.body.get("@odata.count").is_none(),
        "first page only: {}",
        r2.text
    );
    let r = get(&s, &t, "/users?$count=true&$top=5").await;
    assert_ok_json(&r, 200);
    assert!(
        r.body.get("@odata.count").is_none(),
        "ignored without the header"
    );
    assert_eq!(r.values().len(), 5);
    let r = get_eventual(&s, &t, "/users/$count").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain")),
        "{:?}",
        r.header("content-type")
    );
    assert_eq!(r.full, total.to_string());
    let r = get_eventual(&s, &t, "/users/$count?$filter=accountEnabled eq false").await;
    assert_eq!(r.full, "120");
    let r = get(&s, &t, "/users/$count").await;
    assert_error(
        &r,
        400,
        "Request_BadRequest",
        Some("$count is not currently supported."),
    );

    // $orderby.
    let names = |pages: &[Resp]| -> Vec<String> {
        pages
            .iter()
            .flat_map(|p| {
                p.values()
                    .iter()
                    .map(|u| u["displayName"].as_str().expect("dn").to_owned())
            })
            .collect()
    };
    let pages = walk(&s, &t, "/users?$orderby=displayName&$top=500", false).await;
    assert_eq!(pages.len(), 3);
    let asc = names(&pages);
    assert_eq!(asc.len() as u64, total);
    assert!(
        asc.windows(2).all(|w| w[0] < w[1]),
        "ascending across pages"
    );
    let mut expected_names = names(&walk(&s, &t, "/users?$top=999", false).await);
    expected_names.sort();
    assert_eq!(asc, expected_names, "every user, sorted by displayName");
    let pages = walk(&s, &t, "/users?$orderby=displayName desc&$top=500", false).await;
    let desc = names(&pages);
    assert_eq!(desc.len() as u64, total);
    assert!(
        desc.windows(2).all(|w| w[0] > w[1]),
        "descending across pages"
    );
    let r = get(
        &s,
        &t,
        "/users?$orderby=displayName&$filter=accountEnabled eq false",
    )
    .await;
    assert_error(&r, 400, "Request_UnsupportedQuery", None);
    let pages = walk(
        &s,
        &t,
        "/users?$orderby=displayName&$filter=accountEnabled eq false&$count=true&$top=50",
        true,
    )
    .await;
    assert_eq!(pages[0].body["@odata.count"], 120);
    let filtered = names(&pages);
    assert_eq!(filtered.len(), 120);
    assert!(filtered.windows(2).all(|w| w[0] < w[1]));
    let r = get(&s, &t, "/users?$orderby=jobTitle").await;
    assert_error(&r, 400, "Request_UnsupportedQuery", None);

    // An empty page that still carries a nextLink.
    add_fault(
        &s,
        &json!({"target": "graph", "path": "/v1.0/users", "empty_page": true, "count": 1}),
    )
    .await;
    let pages = walk(&s, &t, "/users?$top=500", false).await;
    assert!(
        pages[0].values().is_empty() && pages[0].next_link().is_some(),
        "the fault's empty page: {}",
        pages[0].text
    );
    assert_eq!(
        pages.iter().filter(|p| p.values().is_empty()).count(),
        1,
        "one empty page"
    );
    let ids = all_ids(&pages);
    assert_eq!(assert_unique(&ids).len() as u64, total, "every user once");
}

// ---------------------------------------------------------------------------------------
// 4. Paging over a large directory, with concurrent changes
// ---------------------------------------------------------------------------------------

/// Seeded users for the large walk.
const LARGE: u64 = 100_000;

/// Deletes users and creates others; returns (deleted ids, created ids).
async fn mutate(
    s: &TestServer,
    t: &str,
    delete: Vec<String>,
    create_names: Vec<String>,
    seed_count: u64,
) -> (Vec<String>, Vec<String>) {
    let mut created = Vec::new();
    for id in &delete {
        let r = send(
            s,
            Method::DELETE,
            &format!("/users/{id}"),
            Some(t),
            &[],
            None,
        )
        .await;
        assert_eq!(r.status, 204, "delete {id}: {}", r.text);
    }
    for name in create_names {
        let nick: String = name
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        let r = post(
            s,
            t,
            "/users",
            &json!({
                "accountEnabled": true,
                "displayName": name,
                "mailNickname": nick,
                "userPrincipalName": format!("{nick}@{DOMAIN}"),
                "passwordProfile": {"password": "Walk-Pass-1!"}
            }),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        created.push(r.body["id"].as_str().expect("id").to_owned());
    }
    if seed_count > 0 {
        seed(s, Some(DOMAIN), seed_count).await;
    }
    (delete, created)
}

/// Picks `n` entries spread over `slice`.
fn spread<T: Clone>(slice: &[T], n: usize) -> Vec<T> {
    if slice.is_empty() {
        return Vec::new();
    }
    let step = (slice.len() / n).max(1);
    slice.iter().step_by(step).take(n).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_paging_large_directory_with_concurrent_changes() {
    let started = std::time::Instant::now();
    let s = server_with_config(|_| {}).await;
    seed(&s, Some(DOMAIN), LARGE).await;
    let total = LARGE + 2; // megan and alex
    let t = writer_token(&s).await;
    let seeded_at = started.elapsed();

    // A full walk: every user exactly once, in id order, and as many as /users/$count says.
    let pages = walk(&s, &t, "/users?$top=999", false).await;
    let walked_at = started.elapsed();
    for p in &pages[..pages.len() - 1] {
        assert_eq!(p.values().len(), 999);
        let next = p.next_link().expect("next");
        assert!(next.starts_with(&format!("{}/users?", graph(&s))), "{next}");
        assert!(next.contains("$top=999"), "{next}");
    }
    let first: Vec<String> = all_ids(&pages);
    assert_unique(&first);
    assert_eq!(first.len() as u64, total);
    assert!(first.windows(2).all(|w| w[0] < w[1]), "id order");
    let r = get_eventual(&s, &t, "/users/$count").await;
    assert_eq!(r.full, first.len().to_string());
    let names: HashMap<String, String> = pages
        .iter()
        .flat_map(|p| {
            p.values().iter().map(|u| {
                (
                    u["id"].as_str().expect("id").to_owned(),
                    u["displayName"].as_str().expect("dn").to_owned(),
                )
            })
        })
        .collect();
    drop(pages);

    // Tampered and mismatched skiptokens.
    let r = get(&s, &t, "/users?$top=999").await;
    let link = r.next_link().expect("next");
    let token = skiptoken(&link).to_owned();
    let r = get(&s, &t, &link.replace(&token, "not-a-real-token")).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_error_envelope(&r);
    let r = get(&s, &t, &link.replace(&token, &token[..token.len() / 2])).await;
    assert_eq!(r.status, 400, "truncated: {}", r.text);
    assert_error_envelope(&r);
    let r = get(
        &s,
        &t,
        &format!("/users?$orderby=displayName&$top=999&$skiptoken={token}"),
    )
    .await;
    assert_eq!(r.status, 400, "an id-order token with $orderby: {}", r.text);
    assert_error_envelope(&r);

    // A second walk while users are deleted (ahead and behind) and created.
    let mut returned: Vec<String> = Vec::new();
    let mut deleted: HashSet<String> = HashSet::new();
    let mut deleted_far_ahead: HashSet<String> = HashSet::new();
    let mut created: Vec<String> = Vec::new();
    let mut target = "/users?$top=999".to_owned();
    let mut page_no = 0usize;
    loop {
        page_no += 1;
        let r = get(&s, &t, &target).await;
        assert_ok_json(&r, 200);
        returned.extend(r.ids());
        let Some(next) = r.next_link() else { break };
        target = next;
        if [2, 15, 40, 70].contains(&page_no) {
            let last = returned.last().expect("last").clone();
            let pos = first.partition_point(|id| *id <= last);
            let behind = spread(&first[..pos], 10);
            let far: Vec<String> = if pos + 3000 < first.len() {
                spread(&first[pos + 3000..], 10)
            } else {
                Vec::new()
            };
            deleted_far_ahead.extend(far.iter().filter(|id| !deleted.contains(*id)).cloned());
            let near: Vec<String> = first[pos..first.len().min(pos + 1500)]
                .iter()
                .skip(7)
                .step_by(150)
                .cloned()
                .collect();
            let mut delete: Vec<String> = Vec::new();
            for id in behind.into_iter().chain(far).chain(near) {
                if !deleted.contains(&id) && !delete.contains(&id) {
                    delete.push(id);
                }
            }
            let creates = (0..3).map(|i| format!("Walker {page_no} {i}")).collect();
            // The next page is fetched while the changes are made.
            let (page, (gone, new)) =
                tokio::join!(get(&s, &t, &target), mutate(&s, &t, delete, creates, 250));
            assert_ok_json(&page, 200);
            returned.extend(page.ids());
            deleted.extend(gone);
            created.extend(new);
            match page.next_link() {
                Some(n) => target = n,
                None => break,
            }
        }
    }
    assert!(
        deleted.len() >= 100,
        "the changes were made during the walk"
    );
    let seen = assert_unique(&returned);
    assert!(returned.windows(2).all(|w| w[0] < w[1]), "id order kept");
    let missing: Vec<&String> = first
        .iter()
        .filter(|id| !deleted.contains(*id) && !seen.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} users present for the whole walk were not returned, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let resurrected: Vec<&String> = deleted_far_ahead
        .iter()
        .filter(|id| seen.contains(*id))
        .collect();
    assert!(
        resurrected.is_empty(),
        "deleted before the walk reached them: {resurrected:?}"
    );
    let first_set: HashSet<&String> = first.iter().collect();
    let new_seen = returned.iter().filter(|id| !first_set.contains(id)).count();
    assert!(
        new_seen <= created.len() + 4 * 250,
        "only users that exist were returned"
    );

    // The same in displayName order.
    let mut by_name: Vec<(String, String)> = first
        .iter()
        .filter(|id| !deleted.contains(*id))
        .map(|id| (names[id].clone(), id.clone()))
        .collect();
    by_name.sort();
    let present: HashSet<String> = {
        let pages = walk(&s, &t, "/users?$top=999&$select=id", false).await;
        all_ids(&pages).into_iter().collect()
    };
    let before: Vec<(String, String)> = by_name
        .into_iter()
        .filter(|(_, id)| present.contains(id))
        .collect();
    let mut returned: Vec<(String, String)> = Vec::new();
    let mut deleted_by_name: HashSet<String> = HashSet::new();
    let mut target = "/users?$orderby=displayName&$top=999&$select=id,displayName".to_owned();
    let mut page_no = 0usize;
    loop {
        page_no += 1;
        let r = get(&s, &t, &target).await;
        assert_ok_json(&r, 200);
        assert_eq!(
            r.body["@odata.context"],
            format!("{}/$metadata#users(id,displayName)", graph(&s))
        );
        returned.extend(r.values().iter().map(|u| {
            (
                u["displayName"].as_str().expect("dn").to_owned(),
                u["id"].as_str().expect("id").to_owned(),
            )
        }));
        let Some(next) = r.next_link() else { break };
        assert!(next.contains("$orderby=displayName"), "{next}");
        target = next;
        if [3, 30, 60].contains(&page_no) {
            let last = returned.last().expect("last").clone();
            let pos = before.partition_point(|e| *e <= last);
            let mut candidates: Vec<String> = spread(&before[..pos], 10)
                .into_iter()
                .map(|e| e.1)
                .collect();
            if pos + 3000 < before.len() {
                candidates.extend(spread(&before[pos + 3000..], 10).into_iter().map(|e| e.1));
            }
            let mut delete: Vec<String> = Vec::new();
            for id in candidates {
                if !deleted_by_name.contains(&id) && !delete.contains(&id) {
                    delete.push(id);
                }
            }
            let creates = vec![
                format!("Aaron Early {page_no}"),
                format!("Zed Late {page_no}"),
                format!("{} x", last.0),
            ];
            let (page, (gone, _)) =
                tokio::join!(get(&s, &t, &target), mutate(&s, &t, delete, creates, 100));
            assert_ok_json(&page, 200);
            returned.extend(page.values().iter().map(|u| {
                (
                    u["displayName"].as_str().expect("dn").to_owned(),
                    u["id"].as_str().expect("id").to_owned(),
                )
            }));
            deleted_by_name.extend(gone);
            match page.next_link() {
                Some(n) => target = n,
                None => break,
            }
        }
    }
    assert!(
        deleted_by_name.len() >= 40,
        "the changes were made during the walk"
    );
    let ids: Vec<String> = returned.iter().map(|e| e.1.clone()).collect();
    let seen = assert_unique(&ids);
    assert!(
        returned.windows(2).all(|w| w[0] < w[1]),
        "displayName order kept across pages"
    );
    let missing: Vec<&(String, String)> = before
        .iter()
        .filter(|e| !deleted_by_name.contains(&e.1) && !seen.contains(&e.1))
        .collect();
    assert!(
        missing.is_empty(),
        "{} users present for the whole walk were not returned, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );

    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(600),
        "seed {seeded_at:?}, first walk {walked_at:?}, all {elapsed:?}"
    );

    // A $skiptoken altered in one bit (three quarters in) is refused, not followed.
    let tampered = match tessera_proto::b64::url_decode(&token) {
        Some(mut bytes) => {
            let at = bytes.len() * 3 / 4;
            bytes[at] ^= 0x01;
            tessera_proto::b64::url_encode(&bytes)
        }
        None => {
            let mut chars: Vec<char> = token.chars().collect();
            let at = chars.len() * 3 / 4;
            chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
            chars.into_iter().collect()
        }
    };
    assert_ne!(tampered, token);
    let r = get(&s, &t, &link.replace(&token, &tampered)).await;
    assert_eq!(
        r.status, 400,
        "a tampered $skiptoken ({token} -> {tampered}): {}",
        r.text
    );
    assert_error_envelope(&r);
}

// ---------------------------------------------------------------------------------------
// 5. Groups
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn graph_groups_and_members() {
    let s = TestServer::start().await;
    let t = demo_app_token(&s).await;
    let g = graph(&s);

    let r = get(&s, &t, "/groups").await;
    assert_ok_json(&r, 200);
    assert_eq!(r.body["@odata.context"], format!("{g}/$metadata#groups"));
    let group = r
        .values()
        .iter()
        .find(|v| v["displayName"] == "Tessera Demo Team")
        .unwrap_or_else(|| panic!("demo group listed: {}", r.text))
        .clone();
    for (k, check) in [
        ("id", Value::is_string as fn(&Value) -> bool),
        ("deletedDateTime", Value::is_null),
        ("classification", |v: &Value| v.is_null() || v.is_string()),
        ("createdDateTime", Value::is_string),
        ("description", |v: &Value| v.is_null() || v.is_string()),
        ("displayName", Value::is_string),
        ("groupTypes", Value::is_array),
        ("mail", |v: &Value| v.is_null() || v.is_string()),
        ("mailEnabled", Value::is_boolean),
        ("mailNickname", |v: &Value| v.is_null() || v.is_string()),
        ("securityEnabled", Value::is_boolean),
        ("visibility", |v: &Value| v.is_null() || v.is_string()),
    ] {
        let v = group
            .get(k)
            .unwrap_or_else(|| panic!("group property {k}: {group}"));
        assert!(check(v), "group property {k} has Graph's type: {v}");
    }
    assert!(group.get("members").is_none());
    assert!(group.get("@odata.type").is_none());
    let created = group["createdDateTime"].as_str().expect("created");
    assert!(
        created.len() == 20 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "{created}"
    );
    assert_eq!(group["description"], "Everyone in the demo tenant");
    assert_eq!(group["mailNickname"], "demo-team");
    let id = group["id"].as_str().expect("id").to_owned();
    assert!(is_guid(&id));

    let r = get(&s, &t, &format!("/groups/{id}")).await;
    assert_ok_json(&r, 200);
    assert_eq!(
        r.body["@odata.context"],
        format!("{g}/$metadata#groups/$entity")
    );
    assert_eq!(r.body["displayName"], "Tessera Demo Team");
    let r = get(&s, &t, "/groups?$select=id,displayName").await;
    assert_eq!(
        r.body["@odata.context"],
        format!("{g}/$metadata#groups(id,displayName)")
    );
    assert!(r.values().iter().all(|v| keys(v) == ["id", "displayName"]));
    let r = get(&s, &t, "/groups?$filter=displayName eq 'Tessera Demo Team'").await;
    assert_eq!(r.ids(), std::slice::from_ref(&id));
    let r = get_eventual(&s, &t, "/groups/$count").await;
    assert_eq!((r.status, r.full.as_str()), (200, "1"));

    let r = get(&s, &t, &format!("/groups/{id}/members")).await;
    assert_ok_json(&r, 200);
    let context = r.body["@odata.context"].as_str().expect("context");
    assert!(context.ends_with("#directoryObjects"), "{context}");
    assert_eq!(context, format!("{g}/$metadata#directoryObjects"));
    assert_eq!(r.values().len(), 1, "{}", r.text);
    let member = &r.values()[0];
    assert_eq!(member["@odata.type"], "#microsoft.graph.user");
    assert_eq!(member["userPrincipalName"], s.demo.user.username.as_str());
    assert_eq!(member["displayName"], "Adele Vance");
    let user = get(&s, &t, &format!("/users/{}", s.demo.user.username)).await;
    assert_eq!(member["id"], user.body["id"]);

    let unknown = "9a8b7c6d-5e4f-3a2b-1c0d-ffeeddccbbaa";
    for path in [
        format!("/groups/{unknown}"),
        format!("/groups/{unknown}/members"),
    ] {
        let r = get(&s, &t, &path).await;
        assert_error(
            &r,
            404,
            "Request_ResourceNotFound",
            Some(&format!(
                "Resource '{unknown}' does not exist or one of its queried reference-property objects are not present."
            )),
        );
    }
}

// ---------------------------------------------------------------------------------------
// 6. Applications and service principals
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn graph_applications_and_service_principals() {
    let s = TestServer::start().await;
    let t = demo_app_token(&s).await;
    let g = graph(&s);
    let daemon = s.demo.daemon.client_id.clone();
    let public = s.demo.public_client.client_id.clone();
    let secret = s.demo.daemon.client_secret.clone();

    let r = get(&s, &t, "/applications").await;
    assert_ok_json(&r, 200);
    assert_eq!(
        r.body["@odata.context"],
        format!("{g}/$metadata#applications")
    );
    assert!(!r.full.contains(&secret), "the secret is never returned");
    let app_ids: Vec<&str> = r
        .values()
        .iter()
        .filter_map(|a| a["appId"].as_str())
        .collect();
    assert!(
        app_ids.contains(&daemon.as_str()) && app_ids.contains(&public.as_str()),
        "{app_ids:?}"
    );
    let listed = r
        .values()
        .iter()
        .find(|a| a["appId"] == daemon.as_str())
        .expect("daemon")
        .clone();
    let object_id = listed["id"].as_str().expect("id").to_owned();
    assert!(is_guid(&object_id));
    assert_ne!(object_id, daemon, "object id differs from appId");
    assert_eq!(listed["displayName"], "tessera demo daemon");

    let by_id = get(&s, &t, &format!("/applications/{object_id}")).await;
    assert_ok_json(&by_id, 200);
    assert_eq!(
        by_id.body["@odata.context"],
        format!("{g}/$metadata#applications/$entity")
    );
    assert_eq!(by_id.body["id"], object_id.as_str());
    assert_eq!(by_id.body["appId"], daemon.as_str());
    assert_credentials_hidden(&by_id, &listed, &secret);
    let public_object = r
        .values()
        .iter()
        .find(|a| a["appId"] == public.as_str())
        .expect("public client")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = get(&s, &t, &format!("/applications/{public_object}")).await;
    assert_ok_json(&r, 200);
    assert_eq!(r.body["isFallbackPublicClient"], true);
    assert_eq!(
        r.body["publicClient"]["redirectUris"][0],
        "http://localhost"
    );
    let r = get(&s, &t, "/applications/12345678-1234-1234-1234-123456789012").await;
    assert_error(&r, 404, "Request_ResourceNotFound", None);

    let r = get(&s, &t, "/servicePrincipals").await;
    assert_ok_json(&r, 200);
    assert_eq!(
        r.body["@odata.context"],
        format!("{g}/$metadata#servicePrincipals")
    );
    assert!(!r.full.contains(&secret));
    let graph_sp = r
        .values()
        .iter()
        .find(|sp| sp["appId"] == GRAPH_APP_ID)
        .unwrap_or_else(|| panic!("Microsoft Graph's service principal: {}", r.text))
        .clone();
    assert_eq!(graph_sp["displayName"], "Microsoft Graph");
    assert!(graph_sp["id"].as_str().is_some_and(is_guid));
    let sp_app_ids: Vec<&str> = r
        .values()
        .iter()
        .filter_map(|a| a["appId"].as_str())
        .collect();
    assert!(sp_app_ids.contains(&daemon.as_str()) && sp_app_ids.contains(&public.as_str()));
    let daemon_sp = r
        .values()
        .iter()
        .find(|sp| sp["appId"] == daemon.as_str())
        .expect("daemon sp")
        .clone();
    let daemon_sp_id = daemon_sp["id"].as_str().expect("id").to_owned();
    assert_ne!(daemon_sp_id, object_id, "service principal id is its own");
    let r = get(&s, &t, &format!("/servicePrincipals/{daemon_sp_id}")).await;
    assert_ok_json(&r, 200);
    assert_eq!(
        r.body["@odata.context"],
        format!("{g}/$metadata#servicePrincipals/$entity")
    );
    assert_eq!(r.body["appId"], daemon.as_str());
    let r = get(
        &s,
        &t,
        &format!(
            "/servicePrincipals/{}",
            graph_sp["id"].as_str().expect("id")
        ),
    )
    .await;
    assert_ok_json(&r, 200);
    assert_eq!(r.body["appId"], GRAPH_APP_ID);
    let r = get(
        &s,
        &t,
        "/servicePrincipals/12345678-1234-1234-1234-123456789012",
    )
    .await;
    assert_error(&r, 404, "Request_ResourceNotFound", None);

    // The alternate key: /applications(appId='...') and /servicePrincipals(appId='...').
    let r = get(&s, &t, &format!("/applications(appId='{daemon}')")).await;
    assert_ok_json(&r, 200);
    assert_eq!(
        r.body["@odata.context"],
        format!("{g}/$metadata#applications/$entity")
    );
    assert_eq!(r.body["id"], object_id.as_str());
    assert_eq!(r.body["appId"], daemon.as_str());
    assert_credentials_hidden(&r, &listed, &secret);
    let r = get(
        &s,
        &t,
        "/applications(appId='12345678-1234-1234-1234-123456789012')",
    )
    .await;
    assert_error(&r, 404, "Request_ResourceNotFound", None);
    let r = get(
        &s,
        &t,
        &format!("/servicePrincipals(appId='{GRAPH_APP_ID}')"),
    )
    .await;
    assert_ok_json(&r, 200);
    assert_eq!(r.body["id"], graph_sp["id"]);
    let r = get(&s, &t, &format!("/servicePrincipals(appId='{daemon}')")).await;
    assert_ok_json(&r, 200);
    assert_eq!(r.body["id"], daemon_sp_id.as_str());
}

/// Secrets show their hint and key id, never their text.
fn assert_credentials_hidden(r: &Resp, listed: &Value, secret: &str) {
    assert!(!r.full.contains(secret), "the secret is never returned");
    for app in [&r.body, listed] {
        let creds = app["passwordCredentials"]
            .as_array()
            .expect("passwordCredentials");
        assert_eq!(creds.len(), 1, "{app}");
        assert!(
            creds[0].get("secretText").is_some_and(Value::is_null),
            "{app}"
        );
        let hint = creds[0]["hint"].as_str().expect("hint");
        assert!(
            !hint.is_empty() && hint.len() <= 3 && secret.starts_with(hint),
            "the hint is the secret's first characters: {hint}"
        );
        assert!(creds[0]["keyId"].as_str().is_some_and(is_guid));
        let certs = app["keyCredentials"].as_array().expect("keyCredentials");
        assert_eq!(certs.len(), 1, "the demo certificate");
        assert!(certs[0].get("key").is_none_or(Value::is_null));
    }
}

// ---------------------------------------------------------------------------------------
// 7. $batch
// ---------------------------------------------------------------------------------------

fn item<'a>(r: &'a Resp, id: &str) -> &'a Value {
    r.body["responses"]
        .as_array()
        .unwrap_or_else(|| panic!("responses: {}", r.text))
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("item {id}: {}", r.text))
}

fn item_header<'a>(item: &'a Value, name: &str) -> Option<&'a str> {
    item["headers"]
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

#[tokio::test]
async fn graph_batch() {
    let s = TestServer::start_with(|o| o.test_mode = true).await;
    let t = demo_app_token(&s).await;
    let unknown = "9a8b7c6d-5e4f-3a2b-1c0d-ffeeddccbbaa";

    // Dependencies: a failed one gives 424 to its dependant.
    let r = post(
        &s,
        &t,
        "/$batch",
        &json!({"requests": [
            {"id": "1", "method": "GET", "url": "/users?$top=1&$select=id"},
            {"id": "2", "method": "GET", "url": format!("/groups/{unknown}"), "dependsOn": ["1"]},
            {"id": "3", "method": "GET", "url": "/applications", "dependsOn": ["2"]}
        ]}),
    )
    .await;
    assert_ok_json(&r, 200);
    assert_eq!(r.body["responses"].as_array().expect("responses").len(), 3);
    let one = item(&r, "1");
    assert_eq!(one["status"], 200, "{one}");
    assert_eq!(one["body"]["value"].as_array().expect("value").len(), 1);
    let two = item(&r, "2");
    assert_eq!(two["status"], 404, "{two}");
    assert_eq!(two["body"]["error"]["code"], "Request_ResourceNotFound");
    let three = item(&r, "3");
    assert_eq!(three["status"], 424, "{three}");
    assert!(three["body"]["error"]["code"].is_string(), "{three}");

    // Successful dependencies let the dependant run; relative urls with or without '/'.
    let r = post(
        &s,
        &t,
        "/$batch",
        &json!({"requests": [
            {"id": "a", "method": "GET", "url": "groups"},
            {"id": "b", "method": "GET", "url": "/servicePrincipals", "dependsOn": ["a"]},
            {"id": "c", "method": "GET", "url": "/me"}
        ]}),
    )
    .await;
    assert_ok_json(&r, 200);
    assert_eq!(item(&r, "a")["status"], 200);
    assert_eq!(
        item(&r, "a")["body"]["value"][0]["displayName"],
        "Tessera Demo Team"
    );
    assert_eq!(item(&r, "b")["status"], 200);
    assert_eq!(item(&r, "c")["status"], 400, "/me with an app token");
    assert_eq!(item(&r, "c")["body"]["error"]["code"], "BadRequest");

    // Too many requests, duplicate ids.
    let many: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users?$top=1"}))
        .collect();
    let r = post(&s, &t, "/$batch", &json!({ "requests": many })).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_error_envelope(&r);
    let twenty: Vec<Value> = (0..20)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users?$top=1"}))
        .collect();
    let r = post(&s, &t, "/$batch", &json!({ "requests": twenty })).await;
    assert_ok_json(&r, 200);
    assert_eq!(r.body["responses"].as_array().expect("responses").len(), 20);
    for dup in [["1", "1"], ["x", "X"]] {
        let r = post(
            &s,
            &t,
            "/$batch",
            &json!({"requests": [
                {"id": dup[0], "method": "GET", "url": "/users"},
                {"id": dup[1], "method": "GET", "url": "/groups"}
            ]}),
        )
        .await;
        assert_eq!(r.status, 400, "duplicate ids {dup:?}: {}", r.text);
        assert_error_envelope(&r);
    }

    // One item throttled: its own 429 and Retry-After, the others succeed.
    add_fault(
        &s,
        &json!({"target": "graph", "path": "/v1.0/groups", "status": 429, "retry_after": "2", "count": 1}),
    )
    .await;
    let r = post(
        &s,
        &t,
        "/$batch",
        &json!({"requests": [
            {"id": "1", "method": "GET", "url": "/users?$top=1"},
            {"id": "2", "method": "GET", "url": "/groups"},
            {"id": "3", "method": "GET", "url": "/applications"}
        ]}),
    )
    .await;
    assert_ok_json(&r, 200);
    assert_eq!(item(&r, "1")["status"], 200);
    assert_eq!(
        item(&r, "1")["body"]["value"].as_array().expect("v").len(),
        1
    );
    let throttled = item(&r, "2");
    assert_eq!(throttled["status"], 429, "{throttled}");
    assert_eq!(
        item_header(throttled, "Retry-After"),
        Some("2"),
        "{throttled}"
    );
    assert_eq!(
        throttled["body"]["error"]["code"], "TooManyRequests",
        "{throttled}"
    );
    assert_eq!(item(&r, "3")["status"], 200);
    let r = get(&s, &t, "/groups").await;
    assert_ok_json(&r, 200);
}

/// A path this subset cannot resolve names the segment, as Graph does.
#[tokio::test]
async fn unknown_segments_are_named() {
    let s = TestServer::start().await;
    let t = demo_app_token(&s).await;
    let r = get(&s, &t, "/users/x/deviceStatuses").await;
    assert_error(
        &r,
        400,
        "BadRequest",
        Some("Resource not found for the segment 'deviceStatuses'."),
    );
    let r = get(&s, &t, "/nothingHere").await;
    assert_error(
        &r,
        400,
        "BadRequest",
        Some("Resource not found for the segment 'nothingHere'."),
    );
}

/// RFC 7235: the auth scheme is case-insensitive, and so is Graph about `Bearer`.
#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let s = TestServer::start().await;
    let t = demo_app_token(&s).await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = s
            .client
            .get(format!("{}/users?$top=1", graph(&s)))
            .header("authorization", format!("{scheme}  {t}"))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200, "{scheme}");
    }
    let r = s
        .client
        .get(format!("{}/users?$top=1", graph(&s)))
        .header("authorization", format!("Token {t}"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    let challenge = r
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(challenge.starts_with("Bearer realm="), "{challenge}");
}

/// The admin script's first half: create an app registration, give it a secret, use the
/// secret at once for client credentials, take it away again, delete the app.
#[tokio::test]
async fn an_admin_script_creates_an_app_and_a_secret() {
    let s = TestServer::start().await;
    let admin = demo_app_token(&s).await;
    let r = post(
        &s,
        &admin,
        "/applications",
        &json!({"displayName": "Nightly export"}),
    )
    .await;
    assert_ok_json(&r, 201);
    assert_eq!(
        r.body["@odata.context"],
        format!("{}/$metadata#applications/$entity", graph(&s))
    );
    assert_eq!(r.body["displayName"], "Nightly export");
    assert!(is_guid(r.body["appId"].as_str().expect("appId")));
    assert_eq!(r.body["passwordCredentials"], json!([]));
    let object_id = r.body["id"].as_str().expect("id").to_owned();
    let app_id = r.body["appId"].as_str().expect("appId").to_owned();

    let r = post(
        &s,
        &admin,
        &format!("/applications/{object_id}/addPassword"),
        &json!({"passwordCredential": {"displayName": "ci"}}),
    )
    .await;
    assert_ok_json(&r, 200);
    assert_eq!(
        r.body["@odata.context"],
        format!("{}/$metadata#microsoft.graph.passwordCredential", graph(&s))
    );
    let secret = r.body["secretText"]
        .as_str()
        .expect("secretText")
        .to_owned();
    assert_eq!(secret.len(), 40);
    assert_eq!(r.body["hint"], &secret[..3]);
    assert_eq!(r.body["displayName"], "ci");
    let key_id = r.body["keyId"].as_str().expect("keyId").to_owned();

    // Shown once: a read gives the hint, never the secret.
    let r = get(&s, &admin, &format!("/applications/{object_id}")).await;
    assert_ok_json(&r, 200);
    assert_eq!(r.body["passwordCredentials"][0]["keyId"], key_id.as_str());
    assert_eq!(r.body["passwordCredentials"][0]["secretText"], Value::Null);
    assert!(!r.full.contains(&secret));

    let token = |secret: String| {
        let s = &s;
        let app_id = app_id.clone();
        async move {
            s.token(&[
                ("grant_type", "client_credentials"),
                ("client_id", &app_id),
                ("client_secret", &secret),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .await
        }
    };
    // No app-only token before the app has a service principal in the tenant.
    let (status, body) = token(secret.clone()).await;
    assert_eq!((status, aadsts_code(&body)), (400, 7000229), "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("is missing service principal in the tenant")),
        "{body}"
    );
    let r = get(&s, &admin, &format!("/servicePrincipals(appId='{app_id}')")).await;
    assert_error(&r, 404, "Request_ResourceNotFound", None);
    let unknown = "00000000-0000-0000-0000-00000000abcd";
    let r = post(&s, &admin, "/servicePrincipals", &json!({"appId": unknown})).await;
    assert_error(
        &r,
        400,
        "Request_BadRequest",
        Some(&format!(
            "The appId '{unknown}' of the service principal does not reference a valid application object."
        )),
    );
    let r = post(
        &s,
        &admin,
        "/servicePrincipals",
        &json!({"appId": app_id, "tags": ["WindowsAzureActiveDirectoryIntegratedApp"]}),
    )
    .await;
    assert_ok_json(&r, 201);
    let sp_id = r.body["id"].as_str().expect("sp id").to_owned();
    assert_eq!(
        r.body["tags"],
        json!(["WindowsAzureActiveDirectoryIntegratedApp"])
    );
    assert_eq!(r.body["preferredSingleSignOnMode"], Value::Null);
    let r = post(&s, &admin, "/servicePrincipals", &json!({"appId": app_id})).await;
    assert_error(
        &r,
        400,
        "Request_BadRequest",
        Some(
            "Another object with the same value for property servicePrincipalNames already exists.",
        ),
    );
    let (status, body) = token(secret.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = crate::support::jwt_parts(body["access_token"].as_str().expect("at"));
    assert_eq!(claims["appid"], app_id.as_str());

    // The service principal's SAML mode, and the app's requiredResourceAccess, read back.
    let r = send(
        &s,
        Method::PATCH,
        &format!("/servicePrincipals/{sp_id}"),
        Some(&admin),
        &[],
        Some(&json!({"preferredSingleSignOnMode": "saml"})),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = send(
        &s,
        Method::PATCH,
        &format!("/servicePrincipals/{sp_id}"),
        Some(&admin),
        &[],
        Some(&json!({"preferredSingleSignOnMode": "kerberos"})),
    )
    .await;
    assert_error(&r, 400, "Request_BadRequest", None);
    let r = get(&s, &admin, &format!("/servicePrincipals/{sp_id}")).await;
    assert_eq!(r.body["preferredSingleSignOnMode"], "saml", "{}", r.text);
    let access = json!([{"resourceAppId": "00000003-0000-0000-c000-000000000000",
        "resourceAccess": [{"id": "df021288-bdef-4463-88db-98f22de89214", "type": "Role"}]}]);
    let r = send(
        &s,
        Method::PATCH,
        &format!("/applications/{object_id}"),
        Some(&admin),
        &[],
        Some(&json!({"requiredResourceAccess": access})),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = get(
        &s,
        &admin,
        &format!("/applications/{object_id}?$select=requiredResourceAccess"),
    )
    .await;
    assert_eq!(r.body["requiredResourceAccess"], access, "{}", r.text);

    // Deleted, the service principal takes the app's tokens with it; made again, it is a
    // new object.
    let r = send(
        &s,
        Method::DELETE,
        &format!("/servicePrincipals/{sp_id}"),
        Some(&admin),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = get(&s, &admin, &format!("/servicePrincipals/{sp_id}")).await;
    assert_error(&r, 404, "Request_ResourceNotFound", None);
    let (status, body) = token(secret.clone()).await;
    assert_eq!((status, aadsts_code(&body)), (400, 7000229), "{body}");
    let r = post(&s, &admin, "/servicePrincipals", &json!({"appId": app_id})).await;
    assert_ok_json(&r, 201);
    assert_ne!(r.body["id"], sp_id.as_str());
    assert_eq!(r.body["preferredSingleSignOnMode"], Value::Null);
    let (status, body) = token(secret.clone()).await;
    assert_eq!(status, 200, "{body}");

    let r = post(
        &s,
        &admin,
        &format!("/applications/{object_id}/removePassword"),
        &json!({"keyId": key_id}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let (status, body) = token(secret).await;
    assert_eq!((status, aadsts_code(&body)), (401, 7000215), "{body}");

    let r = send(
        &s,
        Method::DELETE,
        &format!("/applications/{object_id}"),
        Some(&admin),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = get(&s, &admin, &format!("/applications/{object_id}")).await;
    assert_error(&r, 404, "Request_ResourceNotFound", None);

    // A caller without an application write permission is refused as Graph refuses it.
    let user = demo_user_token(&s).await;
    let r = post(&s, &user, "/applications", &json!({"displayName": "x"})).await;
    assert_error(&r, 403, "Authorization_RequestDenied", None);
}

/// The admin script's second half: grant Graph's User.Read.All to a new app by app role
/// assignment, see it in the next token and in Graph's answers, revoke it again.
#[tokio::test]
async fn app_role_assignments_grant_and_revoke_graph_permissions() {
    const PROVISIONER: &str = "88888888-9999-aaaa-bbbb-cccccccccccc";
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[[tenants]]
id = "{TENANT}"
domain = "{DOMAIN}"
display_name = "Contoso"

[[tenants.applications]]
client_id = "{PROVISIONER}"
display_name = "provisioner"
secrets = [{{ value = "provisioner-secret" }}]
application_permissions = {{ "https://graph.microsoft.com" = ["Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All"] }}
"#
        ),
    );
    let s = TestServer::start_in(dir, |o| o.config_file = Some(config)).await;
    let admin = config_app_token(
        &s,
        PROVISIONER,
        "provisioner-secret",
        "https://graph.microsoft.com/.default",
    )
    .await;

    let graph_sp = get(
        &s,
        &admin,
        &format!("/servicePrincipals(appId='{GRAPH_APP_ID}')"),
    )
    .await;
    assert_ok_json(&graph_sp, 200);
    let graph_sp_id = graph_sp.body["id"].as_str().expect("id").to_owned();
    let user_read_all = graph_sp.body["appRoles"]
        .as_array()
        .expect("appRoles")
        .iter()
        .find(|r| r["value"] == "User.Read.All")
        .expect("User.Read.All is one of Graph's app roles")["id"]
        .as_str()
        .expect("role id")
        .to_owned();
    assert_eq!(user_read_all, "df021288-bdef-4463-88db-98f22de89214");

    let r = post(
        &s,
        &admin,
        "/applications",
        &json!({"displayName": "report job"}),
    )
    .await;
    assert_ok_json(&r, 201);
    let app_id = r.body["appId"].as_str().expect("appId").to_owned();
    let object_id = r.body["id"].as_str().expect("id").to_owned();
    let r = post(
        &s,
        &admin,
        &format!("/applications/{object_id}/addPassword"),
        &json!({}),
    )
    .await;
    let secret = r.body["secretText"]
        .as_str()
        .expect("secretText")
        .to_owned();
    let sp = post(&s, &admin, "/servicePrincipals", &json!({"appId": app_id})).await;
    assert_ok_json(&sp, 201);
    let sp_id = sp.body["id"].as_str().expect("sp id").to_owned();

    let job_token =
        || config_app_token(&s, &app_id, &secret, "https://graph.microsoft.com/.default");
    let roles = |token: &str| crate::support::jwt_parts(token).1["roles"].clone();
    assert_eq!(
        roles(&job_token().await),
        Value::Null,
        "no roles before the grant"
    );

    let grant =
        json!({"principalId": sp_id, "resourceId": graph_sp_id, "appRoleId": user_read_all});
    let r = post(
        &s,
        &admin,
        &format!("/servicePrincipals/{graph_sp_id}/appRoleAssignedTo"),
        &grant,
    )
    .await;
    assert_ok_json(&r, 201);
    assert_eq!(r.body["principalId"], sp_id.as_str());
    assert_eq!(r.body["resourceId"], graph_sp_id.as_str());
    assert_eq!(r.body["appRoleId"], user_read_all.as_str());
    assert_eq!(r.body["principalType"], "ServicePrincipal");
    assert_eq!(r.body["resourceDisplayName"], "Microsoft Graph");
    let assignment = r.body["id"].as_str().expect("assignment id").to_owned();

    let token = job_token().await;
    assert_eq!(
        roles(&token),
        json!(["User.Read.All"]),
        "exactly the granted role"
    );
    assert_ok_json(&get(&s, &token, "/users").await, 200);

    // Granted once; from the client's side the same assignment shows.
    let r = post(
        &s,
        &admin,
        &format!("/servicePrincipals/{sp_id}/appRoleAssignments"),
        &grant,
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text);
    let r = get(
        &s,
        &admin,
        &format!("/servicePrincipals/{sp_id}/appRoleAssignments"),
    )
    .await;
    assert_ok_json(&r, 200);
    assert_eq!(r.ids(), vec![assignment.clone()]);
    // An unknown role and a grant without the permission are refused.
    let bogus = json!({"principalId": sp_id, "resourceId": graph_sp_id, "appRoleId": "00000000-0000-0000-0000-000000000001"});
    let r = post(
        &s,
        &admin,
        &format!("/servicePrincipals/{sp_id}/appRoleAssignments"),
        &bogus,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = post(
        &s,
        &token,
        &format!("/servicePrincipals/{sp_id}/appRoleAssignments"),
        &grant,
    )
    .await;
    assert_error(&r, 403, "Authorization_RequestDenied", None);

    let r = send(
        &s,
        Method::DELETE,
        &format!("/servicePrincipals/{sp_id}/appRoleAssignments/{assignment}"),
        Some(&admin),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let token = job_token().await;
    assert_eq!(roles(&token), Value::Null, "revoked");
    assert_error(
        &get(&s, &token, "/users").await,
        403,
        "Authorization_RequestDenied",
        None,
    );
}

/// Groups as an admin script builds them: create with members bound, add and remove
/// members by `$ref`, rename, read `memberOf` from the user's side and `/me`, delete.
#[tokio::test]
async fn group_writes_and_memberships() {
    let (s, admin) = server_with_admin(
        "99999999-aaaa-bbbb-cccc-dddddddddddd",
        &["Group.ReadWrite.All", "User.Read.All"],
    )
    .await;
    let user_id = |upn: &'static str| {
        let (s, admin) = (&s, admin.clone());
        async move {
            let r = get(s, &admin, &format!("/users/{upn}")).await;
            r.body["id"].as_str().expect("user id").to_owned()
        }
    };
    let (megan, alex) = (
        user_id("megan@contoso.example").await,
        user_id("alex@contoso.example").await,
    );

    let r = post(&s, &admin, "/groups", &json!({"displayName": "Ops"})).await;
    assert_error(&r, 400, "Request_BadRequest", None);
    assert_eq!(r.body["error"]["details"][0]["code"], "PropertyRequired");

    let r = post(
        &s,
        &admin,
        "/groups",
        &json!({
            "displayName": "Ops",
            "mailEnabled": false,
            "mailNickname": "ops",
            "securityEnabled": true,
            "description": "night shift",
            "members@odata.bind": [format!("https://graph.microsoft.com/v1.0/directoryObjects/{megan}")],
        }),
    )
    .await;
    assert_ok_json(&r, 201);
    assert_eq!(
        r.body["@odata.context"],
        format!("{}/$metadata#groups/$entity", graph(&s))
    );
    assert_eq!(r.body["mailNickname"], "ops");
    assert_eq!(r.body["description"], "night shift");
    let group = r.body["id"].as_str().expect("id").to_owned();

    let add =
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{alex}")});
    let r = post(&s, &admin, &format!("/groups/{group}/members/$ref"), &add).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = post(&s, &admin, &format!("/groups/{group}/members/$ref"), &add).await;
    assert_error(
        &r,
        400,
        "Request_BadRequest",
        Some(
            "One or more added object references already exist for the following modified properties: 'members'.",
        ),
    );
    let r = get(&s, &admin, &format!("/groups/{group}/members")).await;
    let mut members = r.ids();
    members.sort();
    let mut want = vec![megan.clone(), alex.clone()];
    want.sort();
    assert_eq!(members, want);

    let r = get(&s, &admin, &format!("/users/{alex}/memberOf")).await;
    assert_ok_json(&r, 200);
    assert_eq!(r.ids(), vec![group.clone()]);
    assert_eq!(r.values()[0]["@odata.type"], "#microsoft.graph.group");
    let (status, body) = config_ropc(
        &s,
        "alex@contoso.example",
        "Alex-Pass-1",
        "https://graph.microsoft.com/User.Read",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let alex_token = body["access_token"].as_str().expect("at").to_owned();
    let r = get(&s, &alex_token, "/me/memberOf").await;
    assert_ok_json(&r, 200);
    assert_eq!(r.ids(), vec![group.clone()]);

    let path = format!("/groups/{group}/members/{alex}/$ref");
    let r = send(&s, Method::DELETE, &path, Some(&admin), &[], None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = send(&s, Method::DELETE, &path, Some(&admin), &[], None).await;
    assert_error(&r, 404, "Request_ResourceNotFound", None);
    assert_eq!(
        get(&s, &alex_token, "/me/memberOf").await.ids(),
        Vec::<String>::new()
    );

    let rename = json!({"displayName": "Operations"});
    let r = send(
        &s,
        Method::PATCH,
        &format!("/groups/{group}"),
        Some(&admin),
        &[],
        Some(&rename),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        get(&s, &admin, &format!("/groups/{group}")).await.body["displayName"],
        "Operations"
    );

    // Reading groups is not writing them.
    let reader = writer_token(&s).await;
    let r = post(&s, &reader, "/groups", &json!({"displayName": "x", "mailEnabled": false, "mailNickname": "x", "securityEnabled": true})).await;
    assert_error(&r, 403, "Authorization_RequestDenied", None);

    let r = send(
        &s,
        Method::DELETE,
        &format!("/groups/{group}"),
        Some(&admin),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_error(
        &get(&s, &admin, &format!("/groups/{group}")).await,
        404,
        "Request_ResourceNotFound",
        None,
    );
}

/// `directoryObjects/getByIds` resolves mixed ids to typed objects, skips unknown ones,
/// narrows by `types`, and needs Directory.Read.All.
#[tokio::test]
async fn directory_objects_get_by_ids() {
    let (s, reader) = server_with_admin(
        "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        &["Directory.Read.All"],
    )
    .await;
    let megan = get(&s, &reader, "/users/megan@contoso.example").await.body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let writer_app = get(&s, &reader, &format!("/applications(appId='{WRITER_APP}')")).await;
    let writer_object = writer_app.body["id"].as_str().expect("app id").to_owned();
    let graph_sp = get(
        &s,
        &reader,
        &format!("/servicePrincipals(appId='{GRAPH_APP_ID}')"),
    )
    .await
    .body["id"]
        .as_str()
        .expect("graph sp")
        .to_owned();

    let ids =
        json!({"ids": [megan, "00000000-0000-0000-0000-00000000dead", graph_sp, writer_object]});
    let r = post(&s, &reader, "/directoryObjects/getByIds", &ids).await;
    assert_ok_json(&r, 200);
    assert_eq!(
        r.body["@odata.context"],
        format!("{}/$metadata#directoryObjects", graph(&s))
    );
    let types: Vec<&str> = r
        .values()
        .iter()
        .map(|v| v["@odata.type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        types,
        [
            "#microsoft.graph.user",
            "#microsoft.graph.servicePrincipal",
            "#microsoft.graph.application"
        ]
    );
    assert_eq!(r.values()[0]["userPrincipalName"], "megan@contoso.example");

    let mut only_users = ids.clone();
    only_users["types"] = json!(["user"]);
    let r = post(&s, &reader, "/directoryObjects/getByIds", &only_users).await;
    assert_eq!(r.ids(), vec![megan]);

    let r = post(
        &s,
        &writer_token(&s).await,
        "/directoryObjects/getByIds",
        &ids,
    )
    .await;
    assert_error(&r, 403, "Authorization_RequestDenied", None);
}

/// Tenant-wide delegated consent granted by script: a new public client is refused until
/// an `oauth2PermissionGrant` gives it User.Read for everyone, then signs users in, and is
/// refused again once the grant is deleted. `POST /servicePrincipals` answers as a first
/// creation, so the usual script order runs.
#[tokio::test]
async fn oauth2_permission_grants_give_tenant_wide_consent() {
    let (s, admin) = server_with_admin(
        "bbbbbbbb-cccc-dddd-eeee-ffffffffffff",
        &[
            "Application.ReadWrite.All",
            "DelegatedPermissionGrant.ReadWrite.All",
        ],
    )
    .await;
    let r = post(
        &s,
        &admin,
        "/applications",
        &json!({"displayName": "cli tool", "isFallbackPublicClient": true}),
    )
    .await;
    assert_ok_json(&r, 201);
    let app_id = r.body["appId"].as_str().expect("appId").to_owned();
    let r = post(&s, &admin, "/servicePrincipals", &json!({"appId": app_id})).await;
    assert_ok_json(&r, 201);
    let sp_id = r.body["id"].as_str().expect("sp id").to_owned();
    let graph_sp = get(
        &s,
        &admin,
        &format!("/servicePrincipals(appId='{GRAPH_APP_ID}')"),
    )
    .await
    .body["id"]
        .as_str()
        .expect("graph sp")
        .to_owned();

    let sign_in = || {
        let (s, app_id) = (&s, app_id.clone());
        async move {
            s.post_form(
                &config_token_url(s),
                &[
                    ("grant_type", "password"),
                    ("client_id", app_id.as_str()),
                    ("username", "megan@contoso.example"),
                    ("password", "Megan-Pass-1"),
                    ("scope", "https://graph.microsoft.com/User.Read"),
                ],
            )
            .await
        }
    };
    let (status, body) = sign_in().await;
    assert_eq!((status, aadsts_code(&body)), (400, 65001), "{body}");

    let grant = json!({"clientId": sp_id, "consentType": "AllPrincipals", "resourceId": graph_sp, "scope": "User.Read"});
    let r = post(&s, &admin, "/oauth2PermissionGrants", &grant).await;
    assert_ok_json(&r, 201);
    assert_eq!(r.body["principalId"], Value::Null);
    assert_eq!(r.body["scope"], "User.Read");
    let grant_id = r.body["id"].as_str().expect("grant id").to_owned();
    let r = post(&s, &admin, "/oauth2PermissionGrants", &grant).await;
    assert_eq!(r.status, 409, "{}", r.text);

    let (status, body) = sign_in().await;
    assert_eq!(status, 200, "{body}");
    let (_, claims) = crate::support::jwt_parts(body["access_token"].as_str().expect("at"));
    assert!(
        claims["scp"]
            .as_str()
            .expect("scp")
            .split(' ')
            .any(|s| s == "User.Read")
    );

    let r = get(
        &s,
        &admin,
        &format!("/oauth2PermissionGrants?$filter=clientId eq '{sp_id}'"),
    )
    .await;
    assert_ok_json(&r, 200);
    assert_eq!(r.ids(), vec![grant_id.clone()]);

    let r = send(
        &s,
        Method::DELETE,
        &format!("/oauth2PermissionGrants/{grant_id}"),
        Some(&admin),
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let (status, body) = sign_in().await;
    assert_eq!((status, aadsts_code(&body)), (400, 65001), "{body}");
}

/// `$search` as `Get-MgUser -Search "displayName:wil" -ConsistencyLevel eventual` sends it:
/// word prefixes, clauses joined by OR and AND, and Graph's error without the header.
#[tokio::test]
async fn users_search_by_word_prefix() {
    let s = server_with_config(|_| {}).await;
    let t = writer_token(&s).await;
    let search = |q: &str| format!("/users?$search={}", urlencoding_lite(q));
    let r = get(&s, &t, &search("\"displayName:wil\"")).await;
    assert_error(
        &r,
        400,
        "Request_UnsupportedQuery",
        Some(
            "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
        ),
    );
    let names = |r: &Resp| -> Vec<String> {
        r.values()
            .iter()
            .map(|v| v["displayName"].as_str().expect("name").to_owned())
            .collect()
    };
    // A later word matches as well as the first; case does not matter.
    let r = get_eventual(&s, &t, &search("\"displayName:WIL\"")).await;
    assert_ok_json(&r, 200);
    assert_eq!(names(&r), ["Alex Wilber"]);
    let r = get_eventual(
        &s,
        &t,
        &search("\"displayName:meg\" OR \"displayName:wil\""),
    )
    .await;
    let mut both = names(&r);
    both.sort();
    assert_eq!(both, ["Alex Wilber", "Megan Bowen"]);
    let r = get_eventual(
        &s,
        &t,
        &format!(
            "{}&$orderby=displayName desc",
            search("\"displayName:meg\" OR \"displayName:wil\"")
        ),
    )
    .await;
    assert_eq!(names(&r), ["Megan Bowen", "Alex Wilber"], "with $orderby");
    let r = get_eventual(
        &s,
        &t,
        &search("\"displayName:bow\" AND \"displayName:alex\""),
    )
    .await;
    assert_eq!(names(&r), Vec::<String>::new());
    let r = get_eventual(&s, &t, &search("displayName:wil")).await;
    assert_error(&r, 400, "Request_BadRequest", None);
}

/// Percent-encodes a query value (quotes, spaces, colons) for the URL.
fn urlencoding_lite(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
