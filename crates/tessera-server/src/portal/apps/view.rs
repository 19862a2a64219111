//! What an app's page shows, read through Graph: overview, the effective lifetime panel,
//! authentication, secrets and certificates, API permissions, lifetime policy and SAML.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use tessera_proto::{GRAPH_APP_ID, GRAPH_RESOURCE};

use super::strings;
use crate::portal::collections::{items, text as s};
use crate::portal::html::{self, Done, Notice, esc};
use crate::portal::session::Admin;
use crate::portal::upstream::{Refusal, enc};
use crate::portal::{Portal, Shared};

/// Everything an app's page shows, read through Graph.
struct AppView {
    app: Value,
    sp: Option<Value>,
    graph_sp: Value,
    role_assignments: Vec<Value>,
    delegated: Option<Value>,
    assigned_policies: Vec<(&'static str, Value)>,
    all_policies: Vec<Value>,
    own_api: Option<Value>,
    graph_api: Option<Value>,
}

async fn read(portal: &Portal, admin: &Admin, app_id: &str) -> Result<AppView, Refusal> {
    let t = &admin.token;
    let app = portal
        .get(t, &format!("/applications(appId='{}')", enc(app_id)))
        .await?;
    let object_id = s(&app, "id").to_owned();
    let sp = portal
        .get(t, &format!("/servicePrincipals(appId='{}')", enc(app_id)))
        .await
        .ok();
    let graph_sp = portal
        .get(t, &format!("/servicePrincipals(appId='{GRAPH_APP_ID}')"))
        .await?;
    let (role_assignments, delegated) = match &sp {
        Some(sp) => {
            let id = s(sp, "id");
            let roles = portal
                .get(
                    t,
                    &format!("/servicePrincipals/{}/appRoleAssignments", enc(id)),
                )
                .await
                .map(|v| items(&v).to_vec())
                .unwrap_or_default();
            let grants = portal
                .get(
                    t,
                    &format!(
                        "/oauth2PermissionGrants?$filter={}",
                        enc(&format!("clientId eq '{id}'"))
                    ),
                )
                .await
                .map(|v| items(&v).to_vec())
                .unwrap_or_default();
            (roles, grants.into_iter().next())
        }
        None => (Vec::new(), None),
    };
    // Policies on the application object, then on its service principal: (target, policy).
    let mut assigned_policies: Vec<(&'static str, Value)> = portal
        .get(
            t,
            &format!("/applications/{}/tokenLifetimePolicies", enc(&object_id)),
        )
        .await
        .map(|v| {
            items(&v)
                .iter()
                .map(|p| ("application", p.clone()))
                .collect()
        })
        .unwrap_or_default();
    if let Some(sp) = &sp {
        let on_sp = portal
            .get(
                t,
                &format!(
                    "/servicePrincipals/{}/tokenLifetimePolicies",
                    enc(s(sp, "id"))
                ),
            )
            .await
            .map(|v| items(&v).to_vec())
            .unwrap_or_default();
        assigned_policies.extend(on_sp.into_iter().map(|p| ("servicePrincipal", p)));
    }
    let all_policies = crate::portal::policies::all(portal, admin)
        .await
        .unwrap_or_default();
    let explain = |resource: String| async move {
        portal
            .get(
                t,
                &format!(
                    "/_tessera/lifetime?client_id={}&resource={}",
                    enc(app_id),
                    enc(&resource)
                ),
            )
            .await
            .ok()
    };
    let own_api = explain(app_id.to_owned()).await;
    let graph_api = explain(GRAPH_RESOURCE.to_owned()).await;
    Ok(AppView {
        app,
        sp,
        graph_sp,
        role_assignments,
        delegated,
        assigned_policies,
        all_policies,
        own_api,
        graph_api,
    })
}

/// One lifetime of the effective lifetime panel: how long, and why, in words.
fn lifetime_card(title: &str, d: &Value, subject: &str) -> String {
    let source = s(d, "source");
    let length = match (
        d.get("minSeconds").and_then(Value::as_i64),
        d.get("maxSeconds").and_then(Value::as_i64),
    ) {
        (Some(lo), Some(hi)) => format!(
            "{} to {} (random per token)",
            html::duration(lo),
            html::duration(hi)
        ),
        _ => html::duration(d.get("seconds").and_then(Value::as_i64).unwrap_or(0)),
    };
    let policy = esc(s(d, "policyDisplayName"));
    let why = match source {
        "default" => format!(
            "Entra's default: no policy is assigned to {subject} and the organization has no default policy."
        ),
        "cae-default" => {
            "The long-lived default of CAE-capable clients; a policy cannot shorten it.".to_owned()
        }
        "application-policy" => {
            format!("Policy <strong>{policy}</strong> is assigned to {subject}.")
        }
        "organization-policy" => format!(
            "The organization's default policy <strong>{policy}</strong> applies: it takes precedence, or nothing is assigned to {subject}."
        ),
        "test-override" => {
            "The server runs with a test-mode token lifetime, which overrides every policy."
                .to_owned()
        }
        other => esc(other),
    };
    format!(
        r#"<div class="lifetime"><h3>{}</h3><p class="len">{}</p><p>{why}</p></div>"#,
        esc(title),
        esc(&length)
    )
}

fn lifetime_panel(view: &AppView) -> String {
    let mut cards = String::new();
    if let Some(own) = &view.own_api {
        cards.push_str(&lifetime_card(
            "Access tokens for this app's API",
            &own["accessToken"],
            "this app",
        ));
        cards.push_str(&lifetime_card(
            "ID tokens this app receives",
            &own["idToken"],
            "this app",
        ));
        cards.push_str(&lifetime_card(
            "SAML tokens this app receives",
            &own["samlToken"],
            "this app",
        ));
    }
    if let Some(graph) = &view.graph_api {
        cards.push_str(&lifetime_card(
            "Access tokens this app gets for Microsoft Graph",
            &graph["accessToken"],
            "Microsoft Graph's service principal",
        ));
    }
    if cards.is_empty() {
        cards.push_str(r#"<p class="empty">The lifetimes could not be read.</p>"#);
    }
    html::section(
        "Effective token lifetimes",
        &format!(
            r#"<p class="hint">What the next token will get, decided by the same rules as the token endpoint and <code>tessera policy explain</code>. An access token's lifetime follows the policy of the resource it is for; ID and SAML tokens follow the policy of the app that receives them.</p><div class="lifetimes">{cards}</div>"#
        ),
    )
}

fn overview(view: &AppView) -> String {
    let a = &view.app;
    let sp = view.sp.as_ref().map_or_else(
        || "none yet (it cannot get app-only tokens)".to_owned(),
        |sp| format!(r#"<span class="mono">{}</span>"#, esc(s(sp, "id"))),
    );
    html::section(
        "Overview",
        &format!(
            r#"<dl class="facts"><dt>Application (client) ID</dt><dd class="mono">{}</dd><dt>Object ID</dt><dd class="mono">{}</dd><dt>Service principal</dt><dd>{sp}</dd><dt>Public client flows</dt><dd>{}</dd><dt>Created</dt><dd>{}</dd></dl>"#,
            esc(s(a, "appId")),
            esc(s(a, "id")),
            if a.get("isFallbackPublicClient")
                .and_then(Value::as_bool)
                .unwrap_or(false)
            {
                "allowed"
            } else {
                "not allowed"
            },
            esc(&html::graph_when(s(a, "createdDateTime"))),
        ),
    )
}

fn authentication(admin: &Admin, action: &str, view: &AppView) -> String {
    let a = &view.app;
    let mut redirects = strings(a, "/web/redirectUris");
    redirects.extend(strings(a, "/publicClient/redirectUris"));
    let identifier = strings(a, "/identifierUris")
        .into_iter()
        .next()
        .unwrap_or_default();
    let public = a
        .get("isFallbackPublicClient")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    html::section(
        "Authentication",
        &format!(
            "{}{}",
            html::form(
                admin,
                action,
                "redirects",
                &format!(
                    "{}{}",
                    html::textarea(
                        "Redirect URIs",
                        "redirectUris",
                        &redirects.join("\n"),
                        "One per line."
                    ),
                    html::checkbox("Allow public client flows", "publicClient", public),
                ),
                "Save authentication",
            ),
            html::form(
                admin,
                action,
                "identifier",
                &html::input(
                    "Application ID URI (its API's identifier, e.g. api://name)",
                    "identifierUri",
                    "text",
                    &identifier,
                    ""
                ),
                "Save identifier",
            ),
        ),
    )
}

fn secrets(admin: &Admin, action: &str, view: &AppView, new_secret: Option<&str>) -> String {
    let a = &view.app;
    let secret_rows: Vec<Vec<String>> = a
        .get("passwordCredentials")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let name = s(c, "displayName");
            vec![
                esc(name),
                format!(r#"<span class="mono">{}…</span>"#, esc(s(c, "hint"))),
                esc(&html::graph_when(s(c, "endDateTime"))),
                format!(r#"<span class="mono">{}</span>"#, esc(s(c, "keyId"))),
                html::button_form(
                    admin,
                    action,
                    "remove-secret",
                    &[("keyId", s(c, "keyId"))],
                    "Remove",
                    &format!("Remove secret {name}"),
                ),
            ]
        })
        .collect();
    let cert_rows: Vec<Vec<String>> = a
        .get("keyCredentials")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let name = s(c, "displayName");
            vec![
                esc(name),
                format!(
                    r#"<span class="mono">{}</span>"#,
                    esc(s(c, "customKeyIdentifier"))
                ),
                esc(&html::graph_when(s(c, "endDateTime"))),
                html::button_form(
                    admin,
                    action,
                    "remove-cert",
                    &[("keyId", s(c, "keyId"))],
                    "Remove",
                    &format!("Remove certificate {name}"),
                ),
            ]
        })
        .collect();
    let shown = new_secret.map_or_else(String::new, |secret| {
        format!(
            r#"<div class="notice done" role="status"><p><strong>Copy the new secret now: it is shown this once and never again.</strong></p><p class="secret" id="new-secret">{}</p></div>"#,
            esc(secret)
        )
    });
    let expiry = [
        ("1", "1 month"),
        ("6", "6 months"),
        ("12", "12 months"),
        ("24", "24 months (the default)"),
    ]
    .iter()
    .map(|(v, t)| ((*v).to_owned(), (*t).to_owned()))
    .collect::<Vec<_>>();
    html::section(
        "Certificates and secrets",
        &format!(
            "{shown}{}{}{}{}",
            html::table(
                "Client secrets",
                &["Description", "Value starts", "Expires", "Secret ID", ""],
                &secret_rows
            ),
            html::form(
                admin,
                action,
                "add-secret",
                &format!(
                    "{}{}",
                    html::input("Secret description", "secretName", "text", "", ""),
                    html::select("Expires after", "months", &expiry, "24"),
                ),
                "Add a client secret",
            ),
            html::table(
                "Certificates",
                &["Description", "Thumbprint", "Expires", ""],
                &cert_rows
            ),
            html::form(
                admin,
                action,
                "add-cert",
                &format!(
                    "{}{}",
                    html::input("Certificate description", "certName", "text", "", ""),
                    html::textarea(
                        "Certificate (PEM)",
                        "pem",
                        "",
                        "The public certificate only: -----BEGIN CERTIFICATE----- ..."
                    ),
                ),
                "Upload certificate",
            ),
        ),
    )
}

fn permissions(admin: &Admin, action: &str, view: &AppView) -> String {
    let Some(sp) = &view.sp else {
        return html::section(
            "API permissions",
            &html::form(
                admin,
                action,
                "create-sp",
                "<p>The app has no service principal in this tenant yet: it cannot be granted permissions or get app-only tokens.</p>",
                "Create its service principal",
            ),
        );
    };
    let graph_roles: Vec<(String, String)> = view
        .graph_sp
        .get("appRoles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| (s(r, "id").to_owned(), s(r, "value").to_owned()))
        .collect();
    let name_of = |role_id: &str| {
        graph_roles
            .iter()
            .find(|(id, _)| id.eq_ignore_ascii_case(role_id))
            .map_or(role_id, |(_, v)| v.as_str())
            .to_owned()
    };
    let rows: Vec<Vec<String>> = view
        .role_assignments
        .iter()
        .map(|r| {
            let role = name_of(s(r, "appRoleId"));
            vec![
                esc(s(r, "resourceDisplayName")),
                esc(&role),
                "Application".to_owned(),
                html::button_form(
                    admin,
                    action,
                    "revoke-role",
                    &[("assignmentId", s(r, "id"))],
                    "Revoke",
                    &format!("Revoke {role}"),
                ),
            ]
        })
        .collect();
    let mut options: Vec<(String, String)> = graph_roles
        .iter()
        .map(|(id, v)| (id.clone(), v.clone()))
        .collect();
    options.sort_by(|a, b| a.1.cmp(&b.1));
    let scope = view.delegated.as_ref().map_or("", |g| s(g, "scope"));
    let _ = sp;
    html::section(
        "API permissions",
        &format!(
            "{}{}{}",
            html::table(
                "Application permissions granted (admin consent given)",
                &["API", "Permission", "Type", ""],
                &rows
            ),
            html::form(
                admin,
                action,
                "grant-role",
                &html::select(
                    "Microsoft Graph application permission",
                    "appRoleId",
                    &options,
                    ""
                ),
                "Grant admin consent",
            ),
            html::form(
                admin,
                action,
                "grant-delegated",
                &html::input(
                    "Microsoft Graph delegated permissions consented for all users (space-separated; empty removes the grant)",
                    "scope",
                    "text",
                    scope,
                    ""
                ),
                "Save delegated grant",
            ),
        ),
    )
}

fn saml(admin: &Admin, action: &str, view: &AppView, base: &str) -> String {
    let a = &view.app;
    let entity = strings(a, "/identifierUris")
        .into_iter()
        .next()
        .unwrap_or_default();
    let logout = a
        .pointer("/web/logoutUrl")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mode = view
        .sp
        .as_ref()
        .map_or("", |sp| s(sp, "preferredSingleSignOnMode"));
    let tenant = &admin.tenant.id;
    html::section(
        "SAML single sign-on",
        &format!(
            r#"<dl class="facts"><dt>Single sign-on mode</dt><dd>{}</dd><dt>Login URL (SAML 2.0)</dt><dd class="mono">{base}/{tenant}/saml2</dd><dt>Federation metadata</dt><dd class="mono">{base}/{tenant}/federationmetadata/2007-06/federationmetadata.xml?appid={}</dd></dl>{}"#,
            if mode.is_empty() { "not set" } else { mode },
            esc(s(a, "appId")),
            html::form(
                admin,
                action,
                "saml",
                &format!(
                    "{}{}{}",
                    html::input(
                        "Identifier (Entity ID)",
                        "entityId",
                        "text",
                        &entity,
                        "required"
                    ),
                    html::input(
                        "Reply URL (Assertion Consumer Service URL)",
                        "acs",
                        "url",
                        "",
                        "required"
                    ),
                    html::input("Logout URL (optional)", "logoutUrl", "url", logout, ""),
                ),
                "Save SAML settings",
            ),
        ),
    )
}

fn policies(admin: &Admin, action: &str, view: &AppView) -> String {
    let rows: Vec<Vec<String>> = view
        .assigned_policies
        .iter()
        .map(|(target, p)| {
            let name = s(p, "displayName");
            let on = if *target == "application" {
                "the application"
            } else {
                "its service principal"
            };
            vec![
                esc(name),
                esc(&crate::portal::policies::access_lifetime(p)),
                on.to_owned(),
                html::button_form(
                    admin,
                    action,
                    "unassign-policy",
                    &[("policyId", s(p, "id")), ("target", target)],
                    "Remove",
                    &format!("Remove policy {name} from {on}"),
                ),
            ]
        })
        .collect();
    let options: Vec<(String, String)> = view
        .all_policies
        .iter()
        .filter(|p| {
            !p.get("isOrganizationDefault")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        })
        .map(|p| {
            (
                s(p, "id").to_owned(),
                format!(
                    "{} ({})",
                    s(p, "displayName"),
                    crate::portal::policies::access_lifetime(p)
                ),
            )
        })
        .collect();
    let assign = if options.is_empty() {
        r#"<p class="hint">No policy to assign: <a href="/portal/policies">create one</a> first.</p>"#.to_owned()
    } else {
        html::form(
            admin,
            action,
            "assign-policy",
            &format!(
                "{}{}",
                html::select("Policy", "policyId", &options, ""),
                html::select(
                    "Assign it to",
                    "target",
                    &[
                        (
                            "application".to_owned(),
                            "the application object".to_owned()
                        ),
                        (
                            "servicePrincipal".to_owned(),
                            "its service principal".to_owned()
                        ),
                    ],
                    "application",
                ),
            ),
            "Assign policy",
        )
    };
    html::section(
        "Token lifetime policy",
        &format!(
            "{}{assign}",
            html::table(
                "Policies assigned to this app",
                &["Name", "Access token lifetime", "Assigned to", ""],
                &rows
            )
        ),
    )
}

/// The page of `app_id` with `notice` (and a new secret to show once).
pub(super) async fn render(
    portal: &Portal,
    admin: &Admin,
    app_id: &str,
    notice: Notice,
    status: Option<StatusCode>,
    new_secret: Option<&str>,
) -> Response {
    let view = match read(portal, admin, app_id).await {
        Ok(v) => v,
        Err(r) => {
            return html::page(
                admin,
                r.status,
                "App registration",
                &Notice::Error(r.message),
                r#"<p><a href="/portal/apps">Back to the apps</a></p>"#,
            );
        }
    };
    let action = format!("/portal/apps/{}", enc(app_id));
    let title = s(&view.app, "displayName").to_owned();
    let delete = html::section(
        "Delete",
        &html::form(
            admin,
            &action,
            "delete",
            "<p>Deleting the app removes its secrets, certificates, grants and service principal. Tokens already issued stay valid until they expire.</p>",
            "Delete this app",
        ),
    );
    let body = format!(
        "{}{}{}{}{}{}{}{}",
        overview(&view),
        lifetime_panel(&view),
        authentication(admin, &action, &view),
        secrets(admin, &action, &view, new_secret),
        permissions(admin, &action, &view),
        policies(admin, &action, &view),
        saml(admin, &action, &view, &portal.state.settings.public_base),
        delete,
    );
    html::page(admin, notice.status(status), &title, &notice, &body)
}

pub(crate) async fn page(
    portal: Shared,
    admin: Admin,
    Path(app_id): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    render(&portal, &admin, &app_id, done.notice(), None, None).await
}
