//! IdP-initiated sign-in: `GET /api/signin/{appId}?tenantId={tid}`, the form of Entra's My
//! Apps launcher (`launcher.myapps.microsoft.com/api/signin/{appId}?tenantId=`): the user
//! signs in (or is signed in by the SSO session) and the app's default reply URL gets a
//! Response without `InResponseTo`, with the app's configured RelayState.

use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use tessera_proto::errors as aadsts;

use super::Shared;
use super::apps::{self, page};
use crate::respond::{base_url, form_fields};
use crate::signin::{Ask, Purpose, SamlParams};

pub(crate) async fn launch(
    state: Shared,
    Path(app_id): Path<String>,
    RawQuery(query): RawQuery,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let state = state.0;
    let tenant_id = form_fields(query.unwrap_or_default().as_bytes()).remove("tenantId");
    let Some(tenant_id) = tenant_id else {
        return page(&state, &aadsts::MISSING_PARAMETER.with(&["tenantId"]));
    };
    let tenant = match apps::tenant(&state, &tenant_id).await {
        Ok(t) => t,
        Err(e) => return page(&state, &e),
    };
    let app = match apps::by_identifier(&state, &tenant, &app_id).await {
        Ok(a) => a,
        Err(e) => return page(&state, &e),
    };
    // The entity ID is the app's first identifier URI; without one it is not a SAML app.
    let Some(entity_id) = app.identifier_uris.first().cloned() else {
        return page(
            &state,
            &aadsts::APPLICATION_NOT_FOUND.with(&[&app_id, &tenant.display_name]),
        );
    };
    let reply = match apps::reply_url(&app, None) {
        Ok(u) => u,
        Err(e) => return page(&state, &e),
    };
    let purpose = Purpose::Saml(Box::new(SamlParams {
        client_id: app.client_id.clone(),
        audience: apps::audience(&entity_id),
        reply_to: reply,
        in_response_to: None,
        relay_state: app.saml.relay_state.clone(),
        name_id_format: None,
        wsfed: false,
    }));
    let base = base_url(&state, &headers, &uri);
    crate::signin::begin(&state, &headers, &base, &tenant, purpose, Ask::default())
        .await
        .unwrap_or_else(|| page(&state, &aadsts::LOGIN_REQUIRED.err()))
}
