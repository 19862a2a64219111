//! Users: the tenant's users (searched and paged), a form that creates one, and each user's
//! page (sign-in on or off, password, sessions, groups, directory roles, deletion). Every
//! read and change goes through Graph, so its rules, permissions and messages apply.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::collections::{
    Browse, items, member_ref, next_token, odata_string, pager, text, unreadable,
};
use super::html::{self, Done, Notice, esc};
use super::session::Admin;
use super::upstream::{Refusal, enc};
use super::{Portal, Shared};

const PATH: &str = "/portal/users";

/// What the user page shows of a user.
const USER_PROPERTIES: &str = "id,displayName,userPrincipalName,accountEnabled,createdDateTime,signInSessionsValidFromDateTime";

/// Users whose display name or user principal name starts with `search`.
fn search_filter(search: &str) -> String {
    let s = odata_string(search);
    format!("startswith(displayName,{s}) or startswith(userPrincipalName,{s})")
}

/// The Graph request for one page of the list.
fn list_request(browse: &Browse) -> String {
    let mut path =
        "/users?$select=id,displayName,userPrincipalName,accountEnabled&$top=50".to_owned();
    if browse.search().is_empty() {
        path.push_str("&$orderby=displayName");
    } else {
        // Graph sorts a filtered list only as an advanced query (a ConsistencyLevel header the
        // portal's calls do not send): search results come in Graph's default order.
        path.push_str("&$filter=");
        path.push_str(&enc(&search_filter(browse.search())));
    }
    if let Some(t) = browse.token() {
        path.push_str("&$skiptoken=");
        path.push_str(&enc(t));
    }
    path
}

/// The mail nickname Graph requires for a new user: the UPN's local part.
fn mail_nickname(upn: &str) -> &str {
    upn.split_once('@').map_or(upn, |(local, _)| local)
}

fn user_page(id: &str) -> String {
    format!("{PATH}/{}", enc(id))
}

async fn render_list(
    portal: &Portal,
    admin: &Admin,
    browse: &Browse,
    notice: Notice,
    status: Option<StatusCode>,
    draft: &HashMap<String, String>,
) -> Response {
    let list = match portal.get(&admin.token, &list_request(browse)).await {
        Ok(l) => l,
        Err(r) => return html::page(admin, r.status, "Users", &Notice::Error(r.message), ""),
    };
    let rows: Vec<Vec<String>> = items(&list)
        .iter()
        .map(|u| {
            let id = text(u, "id");
            let enabled = u
                .get("accountEnabled")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            vec![
                format!(
                    r#"<a href="{}">{}</a>"#,
                    esc(&user_page(id)),
                    esc(text(u, "displayName"))
                ),
                esc(text(u, "userPrincipalName")),
                if enabled { "Enabled" } else { "Disabled" }.to_owned(),
                format!(r#"<span class="mono">{}</span>"#, esc(id)),
            ]
        })
        .collect();
    let search = format!(
        r#"<form class="filters" method="get" action="{PATH}" role="search">{}<button type="submit">Search</button></form>"#,
        html::input(
            "Display name or user principal name starts with",
            "q",
            "text",
            browse.search(),
            r#"autocomplete="off""#,
        ),
    );
    let caption = if browse.search().is_empty() {
        "Users of this tenant, by name".to_owned()
    } else {
        format!(
            "Users whose name or user principal name starts with '{}'",
            browse.search()
        )
    };
    let list = html::section(
        "Users",
        &format!(
            "{search}{}{}",
            html::table(
                &caption,
                &["Name", "User principal name", "Sign-in", "ID"],
                &rows
            ),
            pager(
                PATH,
                "Pages of the user list",
                browse,
                next_token(&list).as_deref()
            ),
        ),
    );
    let kept = |k: &str| draft.get(k).map_or("", |v| v.trim());
    let create = html::section(
        "Create a user",
        &html::form(
            admin,
            PATH,
            "create",
            &format!(
                "{}{}{}{}",
                html::input(
                    "Display name",
                    "displayName",
                    "text",
                    kept("displayName"),
                    "required"
                ),
                html::input(
                    &format!(
                        "User principal name (for example adele@{})",
                        admin.tenant.domain
                    ),
                    "userPrincipalName",
                    "text",
                    kept("userPrincipalName"),
                    r#"required autocomplete="off""#,
                ),
                html::input(
                    "Password",
                    "password",
                    "password",
                    "",
                    r#"required autocomplete="new-password""#
                ),
                html::checkbox(
                    "Account enabled (the user can sign in)",
                    "accountEnabled",
                    draft.is_empty() || kept("accountEnabled") == "true",
                ),
            ),
            "Create user",
        ),
    );
    html::page(
        admin,
        notice.status(status),
        "Users",
        &notice,
        &format!("{list}{create}"),
    )
}

pub(crate) async fn list(
    portal: Shared,
    admin: Admin,
    Query(browse): Query<Browse>,
    Query(done): Query<Done>,
) -> Response {
    render_list(
        &portal,
        &admin,
        &browse,
        done.notice(),
        None,
        &HashMap::new(),
    )
    .await
}

pub(crate) async fn create(
    portal: Shared,
    admin: Admin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = crate::respond::form_fields(&body);
    if let Some(r) = admin.check_form(&portal, &headers, &f) {
        return r;
    }
    let field = |k: &str| f.get(k).map_or("", |v| v.trim());
    let result = match field("op") {
        "create" => {
            let upn = field("userPrincipalName");
            portal
                .graph(
                    &admin.token,
                    Method::POST,
                    "/users",
                    Some(&json!({
                        "accountEnabled": field("accountEnabled") == "true",
                        "displayName": field("displayName"),
                        "mailNickname": mail_nickname(upn),
                        "userPrincipalName": upn,
                        // A password is taken as typed: spaces at its ends are part of it.
                        "passwordProfile": {
                            "password": f.get("password").map_or("", String::as_str),
                            "forceChangePasswordNextSignIn": false,
                        },
                    })),
                )
                .await
        }
        _ => Err(Refusal::unknown_action()),
    };
    match result {
        Ok(user) => html::done(&user_page(text(&user, "id")), "created"),
        Err(r) => {
            let browse = Browse::default();
            render_list(
                &portal,
                &admin,
                &browse,
                Notice::Error(r.message),
                Some(r.status),
                &f,
            )
            .await
        }
    }
}

/// A directory role's definition: (id, name).
type RoleName = (String, String);

async fn render_user(
    portal: &Portal,
    admin: &Admin,
    key: &str,
    notice: Notice,
    status: Option<StatusCode>,
) -> Response {
    let back = format!(r#"<p><a href="{PATH}">All users</a></p>"#);
    let token = &admin.token;
    let user = match portal
        .get(
            token,
            &format!("/users/{}?$select={USER_PROPERTIES}", enc(key)),
        )
        .await
    {
        Ok(u) => u,
        Err(r) => return html::page(admin, r.status, "User", &Notice::Error(r.message), &back),
    };
    // Actions address the user by object id, whatever key (id or UPN) opened the page.
    let id = text(&user, "id");
    let page = user_page(id);
    let upn = text(&user, "userPrincipalName");
    let name = match text(&user, "displayName") {
        "" => upn,
        n => n,
    };
    let enabled = user
        .get("accountEnabled")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let member_of = format!(
        "/users/{}/memberOf?$select=id,displayName&$top=999",
        enc(id)
    );
    let assigned = format!(
        "/roleManagement/directory/roleAssignments?$filter={}",
        enc(&format!("principalId eq {}", odata_string(id)))
    );
    let (member_of, groups, assignments, definitions) = tokio::join!(
        portal.get(token, &member_of),
        portal.get(
            token,
            "/groups?$select=id,displayName&$orderby=displayName&$top=100"
        ),
        portal.get(token, &assigned),
        portal.get(token, "/roleManagement/directory/roleDefinitions"),
    );

    let details = html::section(
        "Details",
        &format!(
            r#"<dl class="facts"><dt>Display name</dt><dd>{}</dd><dt>User principal name</dt><dd>{}</dd><dt>Object ID</dt><dd class="mono">{}</dd><dt>Sign-in</dt><dd>{}</dd><dt>Created</dt><dd>{}</dd><dt>Sessions valid from</dt><dd>{}</dd></dl>"#,
            esc(text(&user, "displayName")),
            esc(upn),
            esc(id),
            if enabled { "Enabled" } else { "Disabled" },
            esc(&html::graph_when(text(&user, "createdDateTime"))),
            esc(&html::graph_when(text(
                &user,
                "signInSessionsValidFromDateTime"
            ))),
        ),
    );

    let (switch, switch_label) = if enabled {
        ("Disable sign-in", format!("Disable sign-in for {name}"))
    } else {
        ("Enable sign-in", format!("Enable sign-in for {name}"))
    };
    let access = html::section(
        "Sign-in and sessions",
        &format!(
            r#"<div>{} {}</div><p class="hint">Revoking ends the user's refresh tokens and portal sessions; access tokens already issued work until they expire. A new password revokes them too.</p>{}"#,
            html::button_form(
                admin,
                &page,
                "enable",
                &[("accountEnabled", if enabled { "false" } else { "true" })],
                switch,
                &switch_label,
            ),
            html::button_form(
                admin,
                &page,
                "revoke",
                &[],
                "Revoke sessions",
                &format!("Revoke sessions of {name}")
            ),
            html::form(
                admin,
                &page,
                "password",
                // The account the new password is for, as password managers (and Chromium's
                // form checks) expect beside a new-password field; not shown, not read.
                &format!(
                    r#"<input type="text" name="username" value="{}" autocomplete="username" hidden>{}"#,
                    esc(upn),
                    html::input(
                        "New password",
                        "password",
                        "password",
                        "",
                        r#"required autocomplete="new-password""#
                    )
                ),
                "Reset password",
            ),
        ),
    );

    let membership = match &member_of {
        Ok(list) => {
            let mine: Vec<&Value> = items(list)
                .iter()
                .filter(|o| text(o, "@odata.type") == "#microsoft.graph.group")
                .collect();
            let rows: Vec<Vec<String>> = mine
                .iter()
                .map(|g| {
                    let (gid, gname) = (text(g, "id"), text(g, "displayName"));
                    vec![
                        format!(
                            r#"<a href="/portal/groups/{}">{}</a>"#,
                            esc(&enc(gid)),
                            esc(gname)
                        ),
                        html::button_form(
                            admin,
                            &page,
                            "removeGroup",
                            &[("groupId", gid)],
                            "Remove",
                            &format!("Remove {name} from {gname}"),
                        ),
                    ]
                })
                .collect();
            let add = match &groups {
                Ok(all) => {
                    let options: Vec<(String, String)> = items(all)
                        .iter()
                        .filter(|g| !mine.iter().any(|m| text(m, "id") == text(g, "id")))
                        .map(|g| (text(g, "id").to_owned(), text(g, "displayName").to_owned()))
                        .collect();
                    let more = if next_token(all).is_some() {
                        r#"<p class="hint">Only the first 100 groups by name are offered here; add the user to others from the group's page.</p>"#
                    } else {
                        ""
                    };
                    if options.is_empty() {
                        format!(
                            r#"<p class="hint">There is no other group to add {} to.</p>{more}"#,
                            esc(name)
                        )
                    } else {
                        format!(
                            "{}{more}",
                            html::form(
                                admin,
                                &page,
                                "addGroup",
                                &html::select("Group", "groupId", &options, ""),
                                "Add to group"
                            )
                        )
                    }
                }
                Err(r) => unreadable("The tenant's groups", r),
            };
            format!(
                "{}{add}",
                html::table(
                    &format!("Groups {name} is a member of"),
                    &["Group", ""],
                    &rows
                )
            )
        }
        Err(r) => unreadable("The user's groups", r),
    };
    let membership = html::section("Groups", &membership);

    let role_names: Vec<RoleName> = definitions
        .as_ref()
        .map(|d| {
            items(d)
                .iter()
                .map(|r| (text(r, "id").to_owned(), text(r, "displayName").to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let role_name = |rid: &str| {
        role_names
            .iter()
            .find(|(i, _)| i.eq_ignore_ascii_case(rid))
            .map_or_else(|| rid.to_owned(), |(_, n)| n.clone())
    };
    let roles = match &assignments {
        Ok(list) => {
            let held: Vec<&str> = items(list)
                .iter()
                .map(|a| text(a, "roleDefinitionId"))
                .collect();
            let rows: Vec<Vec<String>> = items(list)
                .iter()
                .map(|a| {
                    let role = role_name(text(a, "roleDefinitionId"));
                    vec![
                        esc(&role),
                        esc(text(a, "directoryScopeId")),
                        html::button_form(
                            admin,
                            &page,
                            "removeRole",
                            &[("assignmentId", text(a, "id"))],
                            "Remove",
                            &format!("Remove role {role} from {name}"),
                        ),
                    ]
                })
                .collect();
            let assign = match &definitions {
                Ok(_) => {
                    let options: Vec<(String, String)> = role_names
                        .iter()
                        .filter(|(rid, _)| !held.iter().any(|h| h.eq_ignore_ascii_case(rid)))
                        .cloned()
                        .collect();
                    if options.is_empty() {
                        String::new()
                    } else {
                        html::form(
                            admin,
                            &page,
                            "assignRole",
                            &html::select("Role", "roleDefinitionId", &options, ""),
                            "Assign role",
                        )
                    }
                }
                Err(r) => unreadable("The directory's roles", r),
            };
            format!(
                "{}{assign}",
                html::table(
                    &format!("Directory roles of {name}"),
                    &["Role", "Scope", ""],
                    &rows
                )
            )
        }
        Err(r) => unreadable("The user's role assignments", r),
    };
    let roles = html::section(
        "Directory roles",
        &format!(
            r#"<p class="hint">A role applies from the user's next token. An administrator role lets the user into this portal.</p>{roles}"#
        ),
    );

    let delete = html::section(
        "Delete user",
        &format!(
            r#"<p class="hint">The user is removed from the directory and its refresh tokens stop working; this cannot be undone here.</p>{}"#,
            html::button_form(
                admin,
                &page,
                "delete",
                &[],
                "Delete user",
                &format!("Delete user {name}")
            ),
        ),
    );
    html::page(
        admin,
        notice.status(status),
        name,
        &notice,
        &format!("{back}{details}{access}{membership}{roles}{delete}"),
    )
}

pub(crate) async fn page(
    portal: Shared,
    admin: Admin,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    render_user(&portal, &admin, &id, done.notice(), None).await
}

pub(crate) async fn change(
    portal: Shared,
    admin: Admin,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = crate::respond::form_fields(&body);
    if let Some(r) = admin.check_form(&portal, &headers, &f) {
        return r;
    }
    let field = |k: &str| f.get(k).map_or("", |v| v.trim());
    let token = &admin.token;
    let user = format!("/users/{}", enc(&id));
    let result = match field("op") {
        "enable" => portal
            .graph(
                token,
                Method::PATCH,
                &user,
                Some(&json!({"accountEnabled": field("accountEnabled") == "true"})),
            )
            .await
            .map(|_| "saved"),
        "password" => portal
            .graph(
                token,
                Method::PATCH,
                &user,
                Some(&json!({"passwordProfile": {
                    // Taken as typed: spaces at its ends are part of the password.
                    "password": f.get("password").map_or("", String::as_str),
                    "forceChangePasswordNextSignIn": false,
                }})),
            )
            .await
            .map(|_| "saved"),
        "revoke" => portal
            .graph(
                token,
                Method::POST,
                &format!("{user}/revokeSignInSessions"),
                None,
            )
            .await
            .map(|_| "revoked"),
        "addGroup" => portal
            .graph(
                token,
                Method::POST,
                &format!("/groups/{}/members/$ref", enc(field("groupId"))),
                Some(&member_ref(&id)),
            )
            .await
            .map(|_| "added"),
        "removeGroup" => portal
            .graph(
                token,
                Method::DELETE,
                &format!(
                    "/groups/{}/members/{}/$ref",
                    enc(field("groupId")),
                    enc(&id)
                ),
                None,
            )
            .await
            .map(|_| "removed"),
        "assignRole" => portal
            .graph(
                token,
                Method::POST,
                "/roleManagement/directory/roleAssignments",
                Some(&json!({
                    "principalId": id,
                    "roleDefinitionId": field("roleDefinitionId"),
                    "directoryScopeId": "/",
                })),
            )
            .await
            .map(|_| "assigned"),
        "removeRole" => portal
            .graph(
                token,
                Method::DELETE,
                &format!(
                    "/roleManagement/directory/roleAssignments/{}",
                    enc(field("assignmentId"))
                ),
                None,
            )
            .await
            .map(|_| "removed"),
        "delete" => portal
            .graph(token, Method::DELETE, &user, None)
            .await
            .map(|_| "deleted"),
        _ => Err(Refusal::unknown_action()),
    };
    match result {
        // The user is gone: back to the list.
        Ok("deleted") => html::done(PATH, "deleted"),
        Ok(code) => html::done(&user_page(&id), code),
        Err(r) => {
            render_user(
                &portal,
                &admin,
                &id,
                Notice::Error(r.message),
                Some(r.status),
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_quote_what_was_typed() {
        assert_eq!(odata_string("O'Brien"), "'O''Brien'");
        assert_eq!(
            search_filter("a'b"),
            "startswith(displayName,'a''b') or startswith(userPrincipalName,'a''b')"
        );
        // The filter Graph receives parses back to the text that was typed.
        let f = tessera_proto::odata::parse_filter(&search_filter("it's ) or x")).expect("parses");
        assert!(f.to_string().contains("'it''s ) or x'"), "{f}");
    }

    #[test]
    fn list_requests_keep_search_and_page() {
        let first = list_request(&Browse::default());
        assert!(first.ends_with("&$top=50&$orderby=displayName"), "{first}");
        let later = list_request(&Browse {
            q: " ad ".into(),
            skiptoken: Some("abc.def".into()),
        });
        assert!(
            later.contains("&$filter=startswith%28displayName%2C%27ad%27%29"),
            "{later}"
        );
        assert!(!later.contains("$orderby"), "{later}");
        assert!(later.ends_with("&$skiptoken=abc.def"), "{later}");
    }

    #[test]
    fn next_pages_follow_the_skiptoken_only() {
        let list = json!({"@odata.nextLink": "https://id.example/v1.0/users?$top=50&$skiptoken=eyJv.x-Y_", "value": []});
        assert_eq!(next_token(&list).as_deref(), Some("eyJv.x-Y_"));
        assert_eq!(next_token(&json!({"value": []})), None);
        let browse = Browse {
            q: "a&b".into(),
            skiptoken: Some("t1".into()),
        };
        let links = pager(PATH, "Pages", &browse, Some("t2"));
        assert!(
            links.contains(r#"href="/portal/users?q=a%26b">First page"#),
            "{links}"
        );
        assert!(
            links.contains(r#"href="/portal/users?q=a%26b&amp;skiptoken=t2""#),
            "{links}"
        );
        assert_eq!(pager(PATH, "Pages", &Browse::default(), None), "");
    }

    #[test]
    fn a_new_users_nickname_is_its_upns_local_part() {
        assert_eq!(mail_nickname("adele@contoso.com"), "adele");
        assert_eq!(mail_nickname("adele"), "adele");
    }
}
