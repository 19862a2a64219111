//! App registrations: the list and its create form here; each app's page (what it shows,
//! `view`, and the changes it makes, `changes`) beside. Every read and change is a Graph call.

mod changes;
mod view;

use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::collections::{Browse, items, next_token, pager, text as s};
use super::html::{self, Done, Notice, esc};
use super::session::Admin;
use super::upstream::enc;
use super::{Portal, Shared};

pub(crate) use changes::change;
pub(crate) use view::page;

const LIST: &str = "/portal/apps";

/// The strings of an array property (`/web/redirectUris`...).
fn strings(v: &Value, pointer: &str) -> Vec<String> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) async fn list(
    portal: Shared,
    admin: Admin,
    Query(done): Query<Done>,
    Query(browse): Query<Browse>,
) -> Response {
    render_list(&portal, &admin, done.notice(), None, &browse).await
}

async fn render_list(
    portal: &Portal,
    admin: &Admin,
    notice: Notice,
    status: Option<StatusCode>,
    browse: &Browse,
) -> Response {
    let mut path = "/applications?$top=50&$select=id,appId,displayName,createdDateTime".to_owned();
    if let Some(t) = browse.token() {
        path.push_str(&format!("&$skiptoken={}", enc(t)));
    }
    let page = match portal.get(&admin.token, &path).await {
        Ok(p) => p,
        Err(r) => {
            return html::page(
                admin,
                r.status,
                "App registrations",
                &Notice::Error(r.message),
                "",
            );
        }
    };
    let rows: Vec<Vec<String>> = items(&page)
        .iter()
        .map(|a| {
            vec![
                format!(
                    r#"<a href="/portal/apps/{}">{}</a>"#,
                    esc(s(a, "appId")),
                    esc(s(a, "displayName"))
                ),
                format!(r#"<span class="mono">{}</span>"#, esc(s(a, "appId"))),
                esc(&html::graph_when(s(a, "createdDateTime"))),
            ]
        })
        .collect();
    let next = pager(LIST, "App pages", browse, next_token(&page).as_deref());
    let list = html::section(
        "Apps",
        &format!(
            "{}{next}",
            html::table(
                "App registrations of this tenant",
                &["Name", "Application (client) ID", "Created"],
                &rows
            )
        ),
    );
    let create = html::section(
        "Register an app",
        &html::form(
            admin,
            LIST,
            "create",
            &format!(
                "{}{}{}",
                html::input("Name", "displayName", "text", "", "required"),
                html::input("Redirect URI (optional)", "redirectUri", "url", "", ""),
                html::checkbox(
                    "Allow public client flows (device code, password, desktop apps)",
                    "publicClient",
                    false
                ),
            ),
            "Register",
        ),
    );
    html::page(
        admin,
        notice.status(status),
        "App registrations",
        &notice,
        &format!("{list}{create}"),
    )
}

/// `POST /portal/apps`: the app, then its service principal (as the Entra admin center
/// makes both), so it can get tokens at once.
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
    let redirects: Vec<&str> = Some(field("redirectUri"))
        .filter(|r| !r.is_empty())
        .into_iter()
        .collect();
    let created = portal
        .graph(
            &admin.token,
            Method::POST,
            "/applications",
            Some(&json!({
                "displayName": field("displayName"),
                "isFallbackPublicClient": field("publicClient") == "true",
                "web": {"redirectUris": redirects},
            })),
        )
        .await;
    let app = match created {
        Ok(a) => a,
        Err(r) => {
            return render_list(
                &portal,
                &admin,
                Notice::Error(r.message),
                Some(r.status),
                &Browse::default(),
            )
            .await;
        }
    };
    let app_id = s(&app, "appId").to_owned();
    if let Err(r) = portal
        .graph(
            &admin.token,
            Method::POST,
            "/servicePrincipals",
            Some(&json!({"appId": app_id})),
        )
        .await
    {
        return render_list(
            &portal,
            &admin,
            Notice::Error(r.message),
            Some(r.status),
            &Browse::default(),
        )
        .await;
    }
    html::done(&format!("/portal/apps/{}", enc(&app_id)), "created")
}
