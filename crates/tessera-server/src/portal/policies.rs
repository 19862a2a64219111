//! Token lifetime policies: the tenant's policies with what they apply to, a form that
//! creates one through Graph (so its validation and messages are Graph's), and deletion.

use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::html::{self, Done, Notice, esc};
use super::session::Admin;
use super::upstream::{Refusal, enc};
use super::{Portal, Shared};

const PATH: &str = "/portal/policies";

/// `AccessTokenLifetime` from a policy's definition (Graph keeps it as one JSON string).
pub(crate) fn access_lifetime(policy: &Value) -> String {
    policy
        .get("definition")
        .and_then(Value::as_array)
        .and_then(|d| d.first())
        .and_then(Value::as_str)
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
        .and_then(|d| {
            d.pointer("/TokenLifetimePolicy/AccessTokenLifetime")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "(not set)".to_owned())
}

/// The tenant's policies, as Graph lists them.
pub(crate) async fn all(portal: &Portal, admin: &Admin) -> Result<Vec<Value>, Refusal> {
    let list = portal
        .get(&admin.token, "/policies/tokenLifetimePolicies")
        .await?;
    Ok(list
        .get("value")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

async fn render(
    portal: &Portal,
    admin: &Admin,
    notice: Notice,
    status: Option<StatusCode>,
) -> Response {
    let policies = match all(portal, admin).await {
        Ok(p) => p,
        Err(r) => {
            return html::page(
                admin,
                r.status,
                "Token lifetime policies",
                &Notice::Error(r.message),
                "",
            );
        }
    };
    let mut rows = Vec::new();
    for p in &policies {
        let id = p.get("id").and_then(Value::as_str).unwrap_or_default();
        let name = p
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let applies = portal
            .get(
                &admin.token,
                &format!("/policies/tokenLifetimePolicies/{}/appliesTo", enc(id)),
            )
            .await
            .ok()
            .and_then(|v| v.get("value").and_then(Value::as_array).cloned())
            .unwrap_or_default();
        let targets: Vec<String> = applies
            .iter()
            .map(|o| {
                let name = o.get("displayName").and_then(Value::as_str).unwrap_or("?");
                let kind = o
                    .get("@odata.type")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .trim_start_matches("#microsoft.graph.");
                match o.get("appId").and_then(Value::as_str) {
                    Some(app) => format!(
                        r#"<a href="/portal/apps/{}">{}</a> ({})"#,
                        esc(app),
                        esc(name),
                        esc(kind)
                    ),
                    None => format!("{} ({})", esc(name), esc(kind)),
                }
            })
            .collect();
        let default = p
            .get("isOrganizationDefault")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        rows.push(vec![
            esc(name),
            esc(&access_lifetime(p)),
            if default { "Yes" } else { "No" }.to_owned(),
            if targets.is_empty() {
                "nothing".to_owned()
            } else {
                targets.join(", ")
            },
            format!(r#"<span class="mono">{}</span>"#, esc(id)),
            html::button_form(
                admin,
                PATH,
                "delete",
                &[("id", id)],
                "Delete",
                &format!("Delete policy {name}"),
            ),
        ]);
    }
    let list = html::section(
        "Policies",
        &html::table(
            "Token lifetime policies of this tenant",
            &[
                "Name",
                "Access token lifetime",
                "Organization default",
                "Assigned to",
                "ID",
                "",
            ],
            &rows,
        ),
    );
    let create = html::section(
        "Create a policy",
        &html::form(
            admin,
            PATH,
            "create",
            &format!(
                "{}{}{}",
                html::input("Name", "displayName", "text", "", "required"),
                html::input(
                    "Access and ID token lifetime (hh:mm:ss, or d.hh:mm:ss; 00:10:00 to 1.00:00:00)",
                    "lifetime",
                    "text",
                    "01:00:00",
                    r#"required pattern="[0-9.:]+""#,
                ),
                html::checkbox(
                    "Make it the organization's default",
                    "isOrganizationDefault",
                    false
                ),
            ),
            "Create policy",
        ),
    );
    let help = r#"<p class="hint">A policy assigned to an app sets the lifetime of access tokens for that app (as the resource), and of ID and SAML tokens it receives; the organization default applies where no app policy does. Assign policies on an app's page.</p>"#;
    html::page(
        admin,
        notice.status(status),
        "Token lifetime policies",
        &notice,
        &format!("{help}{list}{create}"),
    )
}

pub(crate) async fn list(portal: Shared, admin: Admin, Query(done): Query<Done>) -> Response {
    render(&portal, &admin, done.notice(), None).await
}

pub(crate) async fn change(
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
            let definition = json!({"TokenLifetimePolicy": {"Version": 1, "AccessTokenLifetime": field("lifetime")}});
            portal
                .graph(
                    &admin.token,
                    Method::POST,
                    "/policies/tokenLifetimePolicies",
                    Some(&json!({
                        "displayName": field("displayName"),
                        "isOrganizationDefault": field("isOrganizationDefault") == "true",
                        "definition": [definition.to_string()],
                    })),
                )
                .await
                .map(|_| "created")
        }
        "delete" => portal
            .graph(
                &admin.token,
                Method::DELETE,
                &format!("/policies/tokenLifetimePolicies/{}", enc(field("id"))),
                None,
            )
            .await
            .map(|_| "deleted"),
        _ => Err(Refusal::unknown_action()),
    };
    match result {
        Ok(code) => html::done(PATH, code),
        Err(r) => render(&portal, &admin, Notice::Error(r.message), Some(r.status)).await,
    }
}
