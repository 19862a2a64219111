//! The portal's stylesheet and script, compiled into the binary and served from the same
//! origin (the Content-Security-Policy allows nothing else).

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("assets/portal.css");
const JS: &str = include_str!("assets/portal.js");

pub(crate) async fn serve(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "portal.css" => (CSS, "text/css; charset=utf-8"),
        "portal.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return super::html::not_found().await,
    };
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // Cached briefly: a new build's assets arrive within minutes.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}
