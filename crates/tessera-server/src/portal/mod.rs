//! The admin portal at `/portal`: server-rendered pages for a tenant's apps, users, groups,
//! token lifetime policies and live token activity. It is an OpenID Connect client of this
//! server (authorization code + PKCE) and makes every change through Graph with its own
//! token, in-process, so a change here obeys Graph's rules and is seen by Graph at once.

mod activity;
mod apps;
mod assets;
mod collections;
mod groups;
mod html;
mod overview;
mod policies;
mod session;
mod upstream;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// What every portal handler shares: the server's state and the rest of the server as a
/// `tower::Service` the portal calls as a client (token endpoint, Graph).
#[derive(Clone)]
pub(crate) struct Portal {
    pub(crate) state: Arc<AppState>,
    pub(crate) upstream: Router,
}

type Shared = axum::extract::State<Portal>;

/// The portal's routes over `upstream`, the server without them.
pub(crate) fn routes(state: Arc<AppState>, upstream: Router) -> Router {
    Router::new()
        .route("/portal", get(overview::page))
        .route("/portal/", get(overview::page))
        .route("/portal/login", get(session::login))
        .route("/portal/callback", get(session::callback))
        .route("/portal/logout", post(session::logout))
        .route("/portal/signed-out", get(session::signed_out))
        .route("/portal/assets/{name}", get(assets::serve))
        .route("/portal/apps", get(apps::list).post(apps::create))
        .route("/portal/apps/{app_id}", get(apps::page).post(apps::change))
        .route("/portal/users", get(users::list).post(users::create))
        .route("/portal/users/{id}", get(users::page).post(users::change))
        .route("/portal/groups", get(groups::list).post(groups::create))
        .route(
            "/portal/groups/{id}",
            get(groups::page).post(groups::change),
        )
        .route(
            "/portal/policies",
            get(policies::list).post(policies::change),
        )
        .route("/portal/activity", get(activity::page))
        .route("/portal/activity/live", get(activity::fragment))
        .route("/portal/activity/stream", get(activity::stream))
        .route("/portal/{*rest}", get(html::not_found))
        .layer(axum::middleware::map_response(html::secure_headers))
        .with_state(Portal { state, upstream })
}
