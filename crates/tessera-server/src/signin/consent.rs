//! The consent page's answer: grants the app the delegated scopes the user accepted, or
//! ends the flow with AADSTS65004 when the user declines.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use tessera_proto::errors::{self as aadsts};
use tessera_proto::scope;

use super::Shared;
use super::answer::redirect_error;
use super::device::decline_device;
use super::flow::{Flow, Purpose};
use super::session::current_session;
use super::steps::{continue_signin, flow_user, step};
use super::web::{expired_page, internal};

pub(crate) async fn login_consent(
    state: Shared,
    Path(segment): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = match step(state.0, &segment, &headers, &uri, &body).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(user) = flow_user(&s).await else {
        return expired_page(&s.state);
    };
    let Some((session, _)) = current_session(&s.state, &headers, &s.tenant.id)
        .await
        .filter(|(_, u)| u.id == user.id)
    else {
        return expired_page(&s.state);
    };
    if s.fields.get("decision").map(String::as_str) != Some("accept") {
        return match &s.flow.purpose {
            Purpose::Authorize(p) => redirect_error(&s.state, p, &aadsts::USER_DECLINED.err()),
            Purpose::Device { device_hash, .. } => {
                decline_device(&s.state, &s.tenant, device_hash).await
            }
            // SAML asks no consent, so it is never declined.
            Purpose::Saml(_) => expired_page(&s.state),
        };
    }
    let Ok(req) = scope::parse(s.flow.purpose.scope()) else {
        return expired_page(&s.state);
    };
    let resource_text = req
        .resource
        .clone()
        .unwrap_or_else(|| tessera_proto::GRAPH_RESOURCE.to_owned());
    let resource = match s
        .state
        .directory
        .resource(&s.tenant.id, &resource_text)
        .await
    {
        Ok(Some(r)) => r,
        _ => return expired_page(&s.state),
    };
    let mut granted = req.permissions.clone();
    for (asked, name) in [
        (req.oidc.openid, "openid"),
        (req.oidc.profile, "profile"),
        (req.oidc.email, "email"),
        (req.oidc.offline_access, "offline_access"),
    ] {
        if asked {
            granted.push(name.to_owned());
        }
    }
    if let Err(e) = s
        .state
        .store()
        .add_user_consent(
            &s.tenant.id,
            &user.id,
            s.flow.purpose.client_id(),
            &resource.key,
            granted,
        )
        .await
    {
        return internal(&s.state, &e.into());
    }
    let flow = Flow {
        consented: true,
        mfa_done: s.flow.mfa_done || session.mfa_at > 0,
        ..s.flow.clone()
    };
    continue_signin(
        &s.state,
        &s.base,
        &s.tenant,
        flow,
        user,
        Some(session.hash),
        &s.csrf,
    )
    .await
}
