//! Finding the app a SAML or WS-Federation message is for, and where its answer may go,
//! with the error pages Entra shows when either fails (never posted: no trusted reply URL).

use std::sync::Arc;

use axum::response::Response;
use tessera_proto::errors::{self as aadsts, AadstsError};

use crate::state::AppState;
use crate::store::{Application, Tenant};

/// An error the browser sees on tessera's page.
pub(super) fn page(state: &AppState, err: &AadstsError) -> Response {
    let plain = match err.code() {
        700016 => "The application asking you to sign in is not registered in this organization.",
        50011 | 900971 => "The application's reply address is not one registered for it.",
        76021 | 76023 => {
            "The application's sign-in request is not signed as its registration requires."
        }
        90002 => "This organization does not exist.",
        _ => "The application sent a sign-in request that cannot be read.",
    };
    crate::signin::error_page(state, plain, err)
}

fn shown(text: &str) -> String {
    text.chars().take(200).collect()
}

/// The tenant of a `/{tenant}/...` path.
pub(super) async fn tenant(state: &AppState, segment: &str) -> Result<Arc<Tenant>, AadstsError> {
    match state.directory.tenant(segment).await {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(aadsts::TENANT_NOT_FOUND.with(&[&shown(segment)])),
        Err(_) => Err(aadsts::TRANSIENT.err()),
    }
}

/// The app whose identifier URI (entity ID) is `issuer` exactly, or whose appId it is (an
/// app's service principal names include its appId). Entra's 700016 otherwise.
pub(super) async fn by_identifier(
    state: &AppState,
    tenant: &Tenant,
    issuer: &str,
) -> Result<Arc<Application>, AadstsError> {
    // The identifier index finds the candidate (its keys are normalized); Entra then wants
    // the entity ID exactly as registered.
    let found = state
        .directory
        .application_by_identifier(&tenant.id, issuer)
        .await
        .map_err(|_| aadsts::TRANSIENT.err())?;
    found
        .filter(|a| a.has_service_principal)
        .filter(|a| {
            a.identifier_uris.iter().any(|u| u == issuer)
                || a.client_id.eq_ignore_ascii_case(issuer)
        })
        .ok_or_else(|| aadsts::APPLICATION_NOT_FOUND.with(&[&shown(issuer), &tenant.display_name]))
}

/// Where the answer goes: the URL the request names, if registered for the app, else the
/// app's first reply URL (https first, as the portal's default).
pub(super) fn reply_url(app: &Application, asked: Option<&str>) -> Result<String, AadstsError> {
    match asked {
        Some(url) if app.redirect_uris.iter().any(|r| r == url) => Ok(url.to_owned()),
        Some(_) => Err(aadsts::SAML_REPLY_MISMATCH.with(&[&app.client_id])),
        None => app
            .redirect_uris
            .iter()
            .find(|r| r.starts_with("https://"))
            .or_else(|| app.redirect_uris.first())
            .cloned()
            .ok_or_else(|| aadsts::NO_REPLY_ADDRESS.err()),
    }
}

/// The audience of a token for `issuer`: the entity ID itself when it is a URI, else
/// `spn:` and the value, as Entra writes a non-URI issuer (and an appId realm).
pub(super) fn audience(issuer: &str) -> String {
    if issuer.contains(':') {
        issuer.to_owned()
    } else {
        format!("spn:{issuer}")
    }
}
