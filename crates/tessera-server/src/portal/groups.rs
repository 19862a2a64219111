//! Groups: the tenant's groups (searched and paged), a form that creates a security group,
//! and each group's page (its members, added by user principal name and removed, and deletion).
//! Every read and change goes through Graph, so its rules, permissions and messages apply.

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

const PATH: &str = "/portal/groups";

/// The Graph request for one page of the list.
fn list_request(browse: &Browse) -> String {
    let mut path = "/groups?$select=id,displayName,description,mailNickname&$top=50".to_owned();
    if browse.search().is_empty() {
        path.push_str("&$orderby=displayName");
    } else {
        // Graph sorts a filtered list only as an advanced query (a ConsistencyLevel header the
        // portal's calls do not send): search results come in Graph's default order.
        path.push_str("&$filter=");
        path.push_str(&enc(&format!(
            "startswith(displayName,{})",
            odata_string(browse.search())
        )));
    }
    if let Some(t) = browse.token() {
        path.push_str("&$skiptoken=");
        path.push_str(&enc(t));
    }
    path
}

fn group_page(id: &str) -> String {
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
        Err(r) => return html::page(admin, r.status, "Groups", &Notice::Error(r.message), ""),
    };
    let rows: Vec<Vec<String>> = items(&list)
        .iter()
        .map(|g| {
            let id = text(g, "id");
            vec![
                format!(
                    r#"<a href="{}">{}</a>"#,
                    esc(&group_page(id)),
                    esc(text(g, "displayName"))
                ),
                esc(text(g, "description")),
                esc(text(g, "mailNickname")),
                format!(r#"<span class="mono">{}</span>"#, esc(id)),
            ]
        })
        .collect();
    let search = format!(
        r#"<form class="filters" method="get" action="{PATH}" role="search">{}<button type="submit">Search</button></form>"#,
        html::input(
            "Display name starts with",
            "q",
            "text",
            browse.search(),
            r#"autocomplete="off""#
        ),
    );
    let caption = if browse.search().is_empty() {
        "Groups of this tenant, by name".to_owned()
    } else {
        format!("Groups whose name starts with '{}'", browse.search())
    };
    let list = html::section(
        "Groups",
        &format!(
            "{search}{}{}",
            html::table(
                &caption,
                &["Name", "Description", "Mail nickname", "ID"],
                &rows
            ),
            pager(
                PATH,
                "Pages of the group list",
                browse,
                next_token(&list).as_deref()
            ),
        ),
    );
    let kept = |k: &str| draft.get(k).map_or("", |v| v.trim());
    let create = html::section(
        "Create a security group",
        &html::form(
            admin,
            PATH,
            "create",
            &format!(
                "{}{}{}",
                html::input(
                    "Display name",
                    "displayName",
                    "text",
                    kept("displayName"),
                    "required"
                ),
                html::input(
                    "Mail nickname (for example sales-team)",
                    "mailNickname",
                    "text",
                    kept("mailNickname"),
                    r#"required autocomplete="off""#,
                ),
                html::textarea("Description", "description", kept("description"), ""),
            ),
            "Create group",
        ),
    );
    html::page(
        admin,
        notice.status(status),
        "Groups",
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

/// The body of `POST /groups` for a security group (no description when none was given).
fn new_group(display_name: &str, mail_nickname: &str, description: &str) -> Value {
    let mut body = json!({
        "displayName": display_name,
        "mailNickname": mail_nickname,
        "mailEnabled": false,
        "securityEnabled": true,
    });
    if !description.is_empty() {
        body["description"] = json!(description);
    }
    body
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
            let group = new_group(
                field("displayName"),
                field("mailNickname"),
                field("description"),
            );
            portal
                .graph(&admin.token, Method::POST, "/groups", Some(&group))
                .await
        }
        _ => Err(Refusal::unknown_action()),
    };
    match result {
        Ok(group) => html::done(&group_page(text(&group, "id")), "created"),
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

async fn render_group(
    portal: &Portal,
    admin: &Admin,
    key: &str,
    notice: Notice,
    status: Option<StatusCode>,
) -> Response {
    let back = format!(r#"<p><a href="{PATH}">All groups</a></p>"#);
    let token = &admin.token;
    let group = match portal
        .get(
            token,
            &format!(
                "/groups/{}?$select=id,displayName,description,mailNickname,securityEnabled,createdDateTime",
                enc(key)
            ),
        )
        .await
    {
        Ok(g) => g,
        Err(r) => return html::page(admin, r.status, "Group", &Notice::Error(r.message), &back),
    };
    let id = text(&group, "id");
    let page = group_page(id);
    let name = text(&group, "displayName");
    let security = group
        .get("securityEnabled")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let details = html::section(
        "Details",
        &format!(
            r#"<dl class="facts"><dt>Display name</dt><dd>{}</dd><dt>Description</dt><dd>{}</dd><dt>Mail nickname</dt><dd>{}</dd><dt>Object ID</dt><dd class="mono">{}</dd><dt>Security group</dt><dd>{}</dd><dt>Created</dt><dd>{}</dd></dl>"#,
            esc(name),
            match text(&group, "description") {
                "" => "(none)".to_owned(),
                d => esc(d),
            },
            esc(text(&group, "mailNickname")),
            esc(id),
            if security { "Yes" } else { "No" },
            esc(&html::graph_when(text(&group, "createdDateTime"))),
        ),
    );

    let members = match portal
        .get(
            token,
            &format!(
                "/groups/{}/members?$select=id,displayName,userPrincipalName&$top=999",
                enc(id)
            ),
        )
        .await
    {
        Ok(list) => {
            let rows: Vec<Vec<String>> = items(&list)
                .iter()
                .map(|m| {
                    let (uid, uname) = (text(m, "id"), text(m, "displayName"));
                    vec![
                        format!(
                            r#"<a href="/portal/users/{}">{}</a>"#,
                            esc(&enc(uid)),
                            esc(uname)
                        ),
                        esc(text(m, "userPrincipalName")),
                        html::button_form(
                            admin,
                            &page,
                            "removeMember",
                            &[("memberId", uid)],
                            "Remove",
                            &format!("Remove {uname} from {name}"),
                        ),
                    ]
                })
                .collect();
            let more = if next_token(&list).is_some() {
                r#"<p class="hint">The group has more members than are shown here.</p>"#
            } else {
                ""
            };
            format!(
                "{}{more}",
                html::table(
                    &format!("Members of {name}"),
                    &["Name", "User principal name", ""],
                    &rows
                )
            )
        }
        Err(r) => unreadable("The group's members", &r),
    };
    let add = html::form(
        admin,
        &page,
        "addMember",
        &html::input(
            &format!(
                "User principal name of a user to add (for example adele@{})",
                admin.tenant.domain
            ),
            "userPrincipalName",
            "text",
            "",
            r#"required autocomplete="off""#,
        ),
        "Add member",
    );
    let members = html::section("Members", &format!("{members}{add}"));

    let delete = html::section(
        "Delete group",
        &format!(
            r#"<p class="hint">The group is removed from the directory; its members' accounts stay. This cannot be undone here.</p>{}"#,
            html::button_form(
                admin,
                &page,
                "delete",
                &[],
                "Delete group",
                &format!("Delete group {name}")
            ),
        ),
    );
    html::page(
        admin,
        notice.status(status),
        name,
        &notice,
        &format!("{back}{details}{members}{delete}"),
    )
}

pub(crate) async fn page(
    portal: Shared,
    admin: Admin,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    render_group(&portal, &admin, &id, done.notice(), None).await
}

/// Adds the user named by `upn` (or object id) to the group: Graph's `$ref` takes an object
/// id, so the name is resolved through Graph first.
async fn add_member(
    portal: &Portal,
    admin: &Admin,
    group_id: &str,
    upn: &str,
) -> Result<Value, Refusal> {
    let user = portal
        .get(&admin.token, &format!("/users/{}?$select=id", enc(upn)))
        .await?;
    portal
        .graph(
            &admin.token,
            Method::POST,
            &format!("/groups/{}/members/$ref", enc(group_id)),
            Some(&member_ref(text(&user, "id"))),
        )
        .await
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
    let group = format!("/groups/{}", enc(&id));
    let result = match field("op") {
        "addMember" => add_member(&portal, &admin, &id, field("userPrincipalName"))
            .await
            .map(|_| "added"),
        "removeMember" => portal
            .graph(
                &admin.token,
                Method::DELETE,
                &format!("{group}/members/{}/$ref", enc(field("memberId"))),
                None,
            )
            .await
            .map(|_| "removed"),
        "delete" => portal
            .graph(&admin.token, Method::DELETE, &group, None)
            .await
            .map(|_| "deleted"),
        _ => Err(Refusal::unknown_action()),
    };
    match result {
        // The group is gone: back to the list.
        Ok("deleted") => html::done(PATH, "deleted"),
        Ok(code) => html::done(&group_page(&id), code),
        Err(r) => {
            render_group(
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
    fn list_requests_quote_the_search() {
        let first = list_request(&Browse::default());
        assert!(first.ends_with("&$top=50&$orderby=displayName"), "{first}");
        let searched = list_request(&Browse {
            q: "Sales'".into(),
            skiptoken: Some("tok".into()),
        });
        assert!(
            searched.contains(&format!(
                "&$filter={}",
                enc("startswith(displayName,'Sales''')")
            )),
            "{searched}"
        );
        assert!(searched.ends_with("&$skiptoken=tok"), "{searched}");
    }

    #[test]
    fn a_new_group_is_a_security_group() {
        let g = new_group("Sales", "sales", "");
        assert_eq!(g["securityEnabled"], json!(true));
        assert_eq!(g["mailEnabled"], json!(false));
        assert!(g.get("description").is_none());
        assert_eq!(
            new_group("S", "s", "Our team")["description"],
            json!("Our team")
        );
    }
}
