//! The admin portal against a real server, through its pages as a browser without
//! JavaScript uses them: sign-in through the sign-in pages (authorization code + PKCE), the
//! admin-role door, CSRF and origin checks, changes made through Graph and seen by Graph at
//! once, a secret shown once that works, a policy that sets the next token's lifetime, the
//! activity view, and logout and revocation ending the session. Directory roles through
//! Graph (`roleManagement`) and the rule that a delegated write needs the user's role.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Browser, Page, TestServer, jwt_parts};

const PORTAL_APP_ID: &str = "c4817b83-f468-448d-82b9-e2a7fff8f673";

/// Signs `user` in to the portal from nothing; returns the last page (the overview for an
/// admin, the refusal for anyone else).
pub(crate) async fn portal_sign_in(
    s: &TestServer,
    b: &mut Browser,
    user: &str,
    password: &str,
) -> Page {
    let base = &s.base;
    let first = b.get(&format!("{base}/portal")).await;
    assert_eq!(first.status, 303, "{}", first.body);
    let login = first.location.expect("to the login");
    assert!(login.starts_with("/portal/login?next="), "{login}");
    let mut start = b.get(&format!("{base}{login}")).await;
    if start.status == 200 && start.body.contains(r#"name="tenant""#) {
        // Several tenants: the portal asks which; the user's domain names it.
        let domain = user.rsplit_once('@').expect("upn").1;
        start = b
            .get(&format!("{base}/portal/login?tenant={domain}&next=/portal"))
            .await;
    }
    assert_eq!(start.status, 303, "{}", start.body);
    let authorize = start.location.expect("to authorize");
    assert!(
        authorize.contains("code_challenge_method=S256"),
        "{authorize}"
    );
    assert!(
        authorize.contains(&format!("client_id={PORTAL_APP_ID}")),
        "{authorize}"
    );
    let page = b.get(&format!("{base}{authorize}")).await;
    let answer = b.sign_in(page, user, password).await;
    let callback = answer
        .location
        .unwrap_or_else(|| panic!("no redirect: {}", answer.body));
    assert!(
        callback.starts_with(&format!("{base}/portal/callback?")),
        "{callback}"
    );
    let back = b.get(&callback).await;
    if back.status != 303 {
        return back;
    }
    assert_eq!(back.location.as_deref(), Some("/portal"));
    b.get(&format!("{base}/portal")).await
}

/// The CSRF value of a portal page's forms.
pub(crate) fn csrf(page: &str) -> String {
    page.split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a csrf field")
        .to_owned()
}

pub(crate) fn fields(csrf: &str, pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut f = vec![("csrf".to_owned(), csrf.to_owned())];
    f.extend(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    f
}

async fn graph(
    s: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut rb = s
        .client
        .request(method, format!("{}/v1.0{path}", s.base))
        .bearer_auth(token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.expect("graph");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn daemon(s: &TestServer) -> String {
    let (status, body) = s.daemon_token(&[]).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn the_portal_signs_admins_in_and_changes_go_through_graph() {
    let s = TestServer::start().await;
    let base = s.base.clone();
    let mut b = Browser::new(&s);
    let overview = portal_sign_in(&s, &mut b, &s.demo.user.username, &s.demo.user.password).await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert!(
        overview.body.contains("Global Administrator"),
        "{}",
        overview.body
    );
    assert!(overview.body.contains(&s.demo.tenant_id));
    let token = csrf(&overview.body);

    // A form without its CSRF value, or from another origin, is refused and changes nothing.
    let refused = b
        .post(
            &format!("{base}/portal/policies"),
            &[
                ("op".into(), "create".into()),
                ("displayName".into(), "Sneaky".into()),
                ("lifetime".into(), "02:00:00".into()),
            ],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let cross = s
        .client
        .post(format!("{base}/portal/policies"))
        .header("origin", "https://evil.example")
        .header("cookie", b.cookie_header())
        .form(&fields(
            &token,
            &[
                ("op", "create"),
                ("displayName", "Sneaky"),
                ("lifetime", "02:00:00"),
            ],
        ))
        .send()
        .await
        .expect("post");
    assert_eq!(cross.status().as_u16(), 403);

    // A policy made in the portal is Graph's at once; Graph's validation speaks through it.
    let bad = b
        .post(
            &format!("{base}/portal/policies"),
            &fields(
                &token,
                &[
                    ("op", "create"),
                    ("displayName", "Too long"),
                    ("lifetime", "3.00:00:00"),
                ],
            ),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains(r#"class="notice error""#), "{}", bad.body);
    let made = b
        .post(
            &format!("{base}/portal/policies"),
            &fields(
                &token,
                &[
                    ("op", "create"),
                    ("displayName", "Two hours"),
                    ("lifetime", "02:00:00"),
                ],
            ),
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let admin_token = daemon(&s).await;
    let (_, policies) = graph(
        &s,
        &admin_token,
        Method::GET,
        "/policies/tokenLifetimePolicies",
        None,
    )
    .await;
    let policy = policies["value"]
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["displayName"] == "Two hours")
        .expect("the portal's policy is in Graph")
        .clone();
    let policy_id = policy["id"].as_str().expect("id").to_owned();
    assert!(
        !policies.to_string().contains("Sneaky"),
        "refused forms changed nothing"
    );

    // An app registered in the portal has its service principal, and a secret shown once.
    let created = b
        .post(
            &format!("{base}/portal/apps"),
            &fields(&token, &[("displayName", "Portal made"), ("op", "create")]),
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let location = created.location.expect("to the app");
    let app_id = location
        .trim_start_matches("/portal/apps/")
        .split('?')
        .next()
        .expect("app id")
        .to_owned();
    let (status, sp) = graph(
        &s,
        &admin_token,
        Method::GET,
        &format!("/servicePrincipals(appId='{app_id}')"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{sp}");
    let app_page = b.get(&format!("{base}{location}")).await;
    assert_eq!(app_page.status, 200, "{}", app_page.body);
    assert!(
        app_page.body.contains("Entra&#39;s default") || app_page.body.contains("Entra's default"),
        "{}",
        app_page.body
    );
    let with_secret = b
        .post(
            &format!("{base}/portal/apps/{app_id}"),
            &fields(
                &token,
                &[("op", "add-secret"), ("secretName", "ci"), ("months", "1")],
            ),
        )
        .await;
    assert_eq!(with_secret.status, 200, "{}", with_secret.body);
    let secret = with_secret
        .body
        .split(r#"id="new-secret">"#)
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("the secret is shown")
        .to_owned();
    let again = b.get(&format!("{base}/portal/apps/{app_id}")).await;
    assert!(!again.body.contains(&secret), "a secret is shown once");
    let own_api = format!("{app_id}/.default");
    let (status, first) = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &app_id),
            ("client_secret", &secret),
            ("scope", &own_api),
        ])
        .await;
    assert_eq!(status, 200, "the portal's secret works: {first}");
    let default_life = first["expires_in"].as_i64().expect("expires_in");
    assert!((3600..=5400).contains(&default_life), "{default_life}");

    // The policy assigned in the portal: the panel says so, and the next token lives 2 hours.
    let assigned = b
        .post(
            &format!("{base}/portal/apps/{app_id}"),
            &fields(&token, &[("op", "assign-policy"), ("policyId", &policy_id)]),
        )
        .await;
    assert_eq!(assigned.status, 303, "{}", assigned.body);
    let panel = b.get(&format!("{base}/portal/apps/{app_id}")).await;
    assert!(
        panel
            .body
            .contains("Policy <strong>Two hours</strong> is assigned to this app"),
        "{}",
        panel.body
    );
    let (_, second) = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &app_id),
            ("client_secret", &secret),
            ("scope", &own_api),
        ])
        .await;
    assert_eq!(second["expires_in"], 7200, "{second}");
    // The same policy on the app's service principal instead of its application object.
    for (op, target) in [
        ("unassign-policy", "application"),
        ("assign-policy", "servicePrincipal"),
    ] {
        let moved = b
            .post(
                &format!("{base}/portal/apps/{app_id}"),
                &fields(
                    &token,
                    &[("op", op), ("policyId", &policy_id), ("target", target)],
                ),
            )
            .await;
        assert_eq!(moved.status, 303, "{op} {target}: {}", moved.body);
    }
    let (_, on_sp) = graph(
        &s,
        &admin_token,
        Method::GET,
        &format!("/servicePrincipals(appId='{app_id}')/tokenLifetimePolicies"),
        None,
    )
    .await;
    assert_eq!(on_sp["value"][0]["id"], policy_id.as_str(), "{on_sp}");
    let (_, third) = s
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &app_id),
            ("client_secret", &secret),
            ("scope", &own_api),
        ])
        .await;
    assert_eq!(third["expires_in"], 7200, "{third}");

    // The activity view lists both tokens with where their lifetimes came from, and no token.
    let activity = b
        .get(&format!("{base}/portal/activity?app=Portal+made"))
        .await;
    assert_eq!(activity.status, 200);
    assert!(
        activity
            .body
            .contains("policy &#39;Two hours&#39;, assigned to the app"),
        "{}",
        activity.body
    );
    assert!(
        activity
            .body
            .contains("Entra&#39;s default (a random 60-90 minutes)"),
        "{}",
        activity.body
    );
    let at = second["access_token"].as_str().expect("token");
    assert!(!activity.body.contains(at) && !activity.body.contains(&secret));
    let live = b
        .get(&format!("{base}/portal/activity/live?app=Portal+made"))
        .await;
    assert!(
        live.body.contains("<svg class=\"timeline\""),
        "{}",
        live.body
    );

    // Failures are there with their codes: a wrong password at the token endpoint, and one
    // on the sign-in page.
    let (status, _) = s
        .token(&[
            ("grant_type", "password"),
            ("client_id", &s.demo.public_client.client_id),
            ("username", &s.demo.user.username),
            ("password", "wrong"),
            ("scope", "https://graph.microsoft.com/User.Read"),
        ])
        .await;
    assert_eq!(status, 400);
    let mut stranger = Browser::new(&s);
    let login = stranger.get(&format!("{base}/portal/login")).await;
    let page = stranger
        .get(&format!("{base}{}", login.location.expect("authorize")))
        .await;
    let again = stranger
        .sign_in(page, &s.demo.user.username, "also wrong")
        .await;
    assert!(
        again.body.contains("Your account or password is incorrect"),
        "{}",
        again.body
    );
    let failures = b.get(&format!("{base}/portal/activity")).await;
    assert!(
        failures.body.contains("password failed: AADSTS50126"),
        "{}",
        failures.body
    );
    assert!(
        failures.body.contains("sign-in page failed: AADSTS50126"),
        "{}",
        failures.body
    );

    // Every portal response carries the CSP and refuses framing.
    let r = s
        .client
        .get(format!("{base}/portal/apps"))
        .header("cookie", b.cookie_header())
        .send()
        .await
        .expect("get");
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(r.headers()["x-frame-options"], "DENY");

    // Logout ends the session in the store: the old cookie no longer opens the portal.
    let cookie = b.cookie_header();
    let out = b
        .post(&format!("{base}/portal/logout"), &fields(&token, &[]))
        .await;
    assert_eq!(out.status, 303);
    let logout = out.location.expect("logout");
    assert!(logout.contains("/oauth2/v2.0/logout"), "{logout}");
    // The sign-in session ends too, and the browser lands on the portal's signed-out page.
    let ended = b.get(&format!("{base}{logout}")).await;
    let signed_out = format!("{base}/portal/signed-out");
    assert_eq!(
        ended.location.as_deref(),
        Some(signed_out.as_str()),
        "{}",
        ended.body
    );
    let mut thief = Browser::new(&s);
    thief.copy_cookies(&cookie);
    let replay = thief.get(&format!("{base}/portal/apps")).await;
    assert_eq!(replay.status, 303, "a logged-out session is dead");
    assert!(
        replay
            .location
            .expect("to sign in")
            .starts_with("/portal/login")
    );
}

#[tokio::test]
async fn only_administrators_get_in_and_delegated_writes_need_a_role() {
    let s = TestServer::start().await;
    let admin = daemon(&s).await;
    let upn = format!("megan@{}", s.demo.tenant_domain);
    let (status, user) = graph(
        &s,
        &admin,
        Method::POST,
        "/users",
        Some(json!({"accountEnabled": true, "displayName": "Megan", "mailNickname": "megan", "userPrincipalName": upn, "passwordProfile": {"password": "Megan-Pass-1234", "forceChangePasswordNextSignIn": false}})),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    let megan = user["id"].as_str().expect("id").to_owned();

    let mut b = Browser::new(&s);
    let refused = portal_sign_in(&s, &mut b, &upn, "Megan-Pass-1234").await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("administrator role"));

    // Megan's token for the portal's app holds User.ReadWrite.All, yet she cannot create users:
    // a delegated call acts with the user's privileges.
    let megan_token = || async {
        let (status, t) = s
            .token(&[
                ("grant_type", "password"),
                ("client_id", PORTAL_APP_ID),
                ("username", &upn),
                ("password", "Megan-Pass-1234"),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .await;
        assert_eq!(status, 200, "{t}");
        t["access_token"].as_str().expect("token").to_owned()
    };
    let token = megan_token().await;
    let (_, claims) = jwt_parts(&token);
    assert!(
        claims["scp"]
            .as_str()
            .expect("scp")
            .contains("User.ReadWrite.All")
    );
    assert!(claims.get("wids").is_none(), "no roles, no wids: {claims}");
    let new_user = json!({"accountEnabled": true, "displayName": "X", "mailNickname": "x", "userPrincipalName": format!("x@{}", s.demo.tenant_domain), "passwordProfile": {"password": "X-Pass-12345678"}});
    let (status, body) = graph(&s, &token, Method::POST, "/users", Some(new_user.clone())).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");

    // Graph's role assignment makes her a User Administrator: the next token says so in
    // `wids`, the write succeeds, and the portal lets her in.
    let (_, definitions) = graph(
        &s,
        &admin,
        Method::GET,
        "/roleManagement/directory/roleDefinitions",
        None,
    )
    .await;
    let user_admin = definitions["value"]
        .as_array()
        .expect("roles")
        .iter()
        .find(|r| r["displayName"] == "User Administrator")
        .expect("User Administrator")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let body =
        json!({"principalId": megan, "roleDefinitionId": user_admin, "directoryScopeId": "/"});
    let (status, assignment) = graph(
        &s,
        &admin,
        Method::POST,
        "/roleManagement/directory/roleAssignments",
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 201, "{assignment}");
    assert_eq!(assignment["principalId"], megan.as_str());
    let (status, twice) = graph(
        &s,
        &admin,
        Method::POST,
        "/roleManagement/directory/roleAssignments",
        Some(body),
    )
    .await;
    assert_eq!(status, 400, "{twice}");
    let (_, listed) = graph(
        &s,
        &admin,
        Method::GET,
        &format!("/roleManagement/directory/roleAssignments?$filter=principalId%20eq%20'{megan}'"),
        None,
    )
    .await;
    assert_eq!(
        listed["value"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    let token = megan_token().await;
    let (_, claims) = jwt_parts(&token);
    assert_eq!(claims["wids"], json!([user_admin]));
    let (status, body) = graph(&s, &token, Method::POST, "/users", Some(new_user)).await;
    assert_eq!(status, 201, "{body}");
    // A User Administrator still may not write applications.
    let (status, _) = graph(
        &s,
        &token,
        Method::POST,
        "/applications",
        Some(json!({"displayName": "no"})),
    )
    .await;
    assert_eq!(status, 403);
    let mut b = Browser::new(&s);
    let inside = portal_sign_in(&s, &mut b, &upn, "Megan-Pass-1234").await;
    assert_eq!(inside.status, 200, "{}", inside.body);

    // Removing the role closes the door again, for the session already open too.
    let id = assignment["id"].as_str().expect("id");
    let (status, _) = graph(
        &s,
        &admin,
        Method::DELETE,
        &format!("/roleManagement/directory/roleAssignments/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = graph(
        &s,
        &admin,
        Method::GET,
        &format!("/roleManagement/directory/roleAssignments/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let after = b.get(&format!("{}/portal", s.base)).await;
    assert_eq!(after.status, 403, "{}", after.body);
}

#[tokio::test]
async fn revoking_sessions_in_the_portal_ends_refresh_tokens_and_portal_sessions() {
    let s = TestServer::start().await;
    let (user, password) = (&s.demo.user.username, &s.demo.user.password);
    let (status, tokens) = s
        .token(&[
            ("grant_type", "password"),
            ("client_id", &s.demo.public_client.client_id),
            ("username", user),
            ("password", password),
            (
                "scope",
                "openid offline_access https://graph.microsoft.com/User.Read",
            ),
        ])
        .await;
    assert_eq!(status, 200, "{tokens}");
    let refresh_token = tokens["refresh_token"].as_str().expect("rt").to_owned();
    let (_, claims) = jwt_parts(tokens["access_token"].as_str().expect("at"));
    let user_id = claims["oid"].as_str().expect("oid").to_owned();

    let mut b = Browser::new(&s);
    let overview = portal_sign_in(&s, &mut b, user, password).await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    let page = b.get(&format!("{}/portal/users/{user_id}", s.base)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Revoke"), "{}", page.body);
    let revoked = b
        .post(
            &format!("{}/portal/users/{user_id}", s.base),
            &fields(&csrf(&page.body), &[("op", "revoke")]),
        )
        .await;
    assert_eq!(revoked.status, 303, "{}", revoked.body);

    let (status, body) = s
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &s.demo.public_client.client_id),
            ("refresh_token", &refresh_token),
        ])
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(crate::support::aadsts_code(&body), 50173, "{body}");
    // The admin revoked their own sessions: the portal session went with them.
    let after = b.get(&format!("{}/portal", s.base)).await;
    assert_eq!(after.status, 303, "{}", after.body);
    // The activity log saw the revocation (a new session reads it).
    let mut again = Browser::new(&s);
    assert_eq!(
        portal_sign_in(&s, &mut again, user, password).await.status,
        200
    );
    let activity = again.get(&format!("{}/portal/activity", s.base)).await;
    assert!(
        activity.body.contains("sign-in sessions revoked"),
        "{}",
        activity.body
    );
}
