//! SAML 2.0 and WS-Federation, as Entra serves them: federation metadata, the SAML 2.0
//! endpoint (`AuthnRequest` by HTTP-Redirect or HTTP-POST, `LogoutRequest`), IdP-initiated
//! sign-in, and WS-Federation passive sign-in and sign-out. Users sign in through the same
//! pages as OAuth; the token is made by `crate::assertion`.

mod apps;
mod launch;
mod logout;
mod message;
mod metadata;
mod sso;
mod wsfed;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

type Shared = axum::extract::State<Arc<AppState>>;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/{tenant}/saml2", get(sso::saml2).post(sso::saml2))
        .route(
            "/{tenant}/federationmetadata/2007-06/federationmetadata.xml",
            get(metadata::document),
        )
        .route("/{tenant}/wsfed", get(wsfed::wsfed).post(wsfed::wsfed))
        .route("/api/signin/{app_id}", get(launch::launch))
}
