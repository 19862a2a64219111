//! The router (a `tower::Service`, testable without sockets) with per-route metrics, and the
//! OAuth endpoints that are neither sign-in pages nor Graph: discovery, the token endpoint,
//! managed identity (test mode) and operations. Response helpers live in `crate::respond`.

mod body;
mod discovery;
mod msi;
mod ops;
mod token;

use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

use crate::state::AppState;

pub(crate) type Shared = State<Arc<AppState>>;

/// Builds the router over shared state.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let mut app = Router::new()
        .route("/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .route("/common/discovery/instance", get(discovery::instance))
        .route("/common/userrealm/{user}", get(discovery::user_realm))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(discovery::jwks))
        .route("/{tenant}/discovery/keys", get(discovery::jwks))
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(token::token).get(token::wrong_method),
        )
        .route(
            "/{tenant}/oauth2/token",
            post(token::token).get(token::wrong_method),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(discovery::openid_configuration_v1),
        )
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(crate::signin::authorize).post(crate::signin::authorize),
        )
        .route(
            "/{tenant}/oauth2/v2.0/devicecode",
            post(crate::signin::device_authorization),
        )
        .route(
            "/{tenant}/oauth2/v2.0/logout",
            get(crate::signin::logout).post(crate::signin::logout),
        )
        .route("/{tenant}/login", post(crate::signin::login_username))
        .route(
            "/{tenant}/login/password",
            post(crate::signin::login_password),
        )
        .route("/{tenant}/login/mfa", post(crate::signin::login_mfa))
        .route(
            "/{tenant}/login/consent",
            post(crate::signin::login_consent),
        )
        .route(
            "/{tenant}/login/account",
            post(crate::signin::login_account),
        )
        .route("/{tenant}/login/device", post(crate::signin::login_device))
        .route(
            "/{tenant}/oauth2/authorize",
            get(crate::signin::authorize).post(crate::signin::authorize),
        )
        .route(
            "/{tenant}/oauth2/devicecode",
            post(crate::signin::device_authorization),
        )
        .route(
            "/{tenant}/oauth2/logout",
            get(crate::signin::logout).post(crate::signin::logout),
        )
        .route(
            "/devicelogin",
            get(crate::signin::devicelogin_page).post(crate::signin::devicelogin_submit),
        );
    if state.settings.test_mode {
        app = app
            .route("/_tessera/test/clock", post(ops::advance_clock))
            .route("/_tessera/test/revoke-sessions", post(ops::revoke_sessions))
            .route(
                "/_tessera/test/faults",
                post(ops::add_faults).delete(ops::clear_faults),
            )
            .route("/_tessera/test/rate-limit", post(ops::rate_limit))
            .route("/_tessera/test/device-approve", post(ops::approve_device))
            .route("/metadata/identity/oauth2/token", get(msi::imds))
            .route("/msi/token", get(msi::app_service));
    }
    let app: Router = app
        .merge(crate::saml::routes())
        .merge(crate::graph::router(state.clone()))
        .fallback(ops::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state.clone());
    // Graph's `(appId='...')` keys are normalized before routing (see graph::normalize_key_segments).
    let server = Router::new().fallback_service(tower::ServiceExt::map_request(
        app,
        crate::graph::normalize_request::<axum::body::Body>,
    ));
    // The portal is a client of the rest of the server, which it reaches in-process.
    crate::portal::routes(state.clone(), server.clone())
        .route_layer(middleware::from_fn_with_state(state, track))
        .fallback_service(server)
}

/// Counts every request by route and status, and adds the headers every response carries.
async fn track(
    State(state): Shared,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let route = matched.map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let mut response = next.run(request).await;
    state
        .metrics
        .http_request(&route, response.status().as_u16());
    let h = response.headers_mut();
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000; includeSubDomains"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
