//! The portal's first page: the tenant, who is signed in with which roles, and where to go.

use axum::http::StatusCode;
use axum::response::Response;
use tessera_proto::directory_roles;

use super::html::{self, Notice, esc};
use super::session::Admin;

pub(crate) async fn page(admin: Admin) -> Response {
    let t = &admin.tenant;
    let roles: Vec<&str> = admin
        .user
        .directory_roles
        .iter()
        .filter_map(|r| directory_roles::find(r))
        .map(|r| r.display_name)
        .collect();
    let precedence = match t.lifetime_precedence {
        tessera_proto::lifetime::Precedence::OrganizationFirst => {
            "organization default first (as documented)"
        }
        tessera_proto::lifetime::Precedence::ApplicationFirst => "application policy first",
    };
    let tenant = html::section(
        "Tenant",
        &format!(
            r#"<dl class="facts"><dt>Name</dt><dd>{}</dd><dt>Tenant ID</dt><dd class="mono">{}</dd><dt>Domain</dt><dd>{}</dd><dt>Lifetime policy precedence</dt><dd>{precedence}</dd></dl><form method="get" action="/portal/login"><div class="field"><label for="f-other">Another organization served here (domain or tenant ID)</label><input id="f-other" name="tenant" type="text" required></div><button type="submit">Sign in to it</button></form>"#,
            esc(&t.display_name),
            esc(&t.id),
            esc(&t.domain),
        ),
    );
    let you = html::section(
        "You",
        &format!(
            r#"<dl class="facts"><dt>Signed in as</dt><dd>{}</dd><dt>Directory roles</dt><dd>{}</dd></dl>"#,
            esc(&admin.user.user_principal_name),
            esc(&roles.join(", ")),
        ),
    );
    let places = html::section(
        "What you can do here",
        r#"<ul><li><a href="/portal/apps">App registrations</a>: create apps, redirect URIs, secrets and certificates, API permissions, SAML settings, and see each app's effective token lifetimes.</li><li><a href="/portal/users">Users</a> and <a href="/portal/groups">groups</a>: create, disable, reset passwords, revoke sessions, manage membership and roles.</li><li><a href="/portal/policies">Token lifetime policies</a>: create them with Graph's rules and set the organization default.</li><li><a href="/portal/activity">Token activity</a>: tokens as they are issued and expire, revocations and failures, live.</li></ul><p class="hint">Every change here is made through Microsoft Graph's API of this server, with the same rules and messages a script gets.</p>"#,
    );
    html::page(
        &admin,
        StatusCode::OK,
        "Overview",
        &Notice::None,
        &format!("{tenant}{you}{places}"),
    )
}
