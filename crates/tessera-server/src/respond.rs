//! Response helpers every protocol surface shares: Entra's AADSTS error response and
//! timestamp, JSON bodies, cache headers, request correlation and the base URL a client
//! used. A leaf of the core: it knows the state, never a handler module.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tessera_proto::errors::AadstsError;

use crate::crypto;
use crate::state::AppState;

/// Form or query fields (`application/x-www-form-urlencoded`), the first value of each name
/// kept: what every sign-in page, SAML binding and WS-Federation request is read with.
pub(crate) fn form_fields(body: &[u8]) -> std::collections::HashMap<String, String> {
    let mut map = std::collections::HashMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    map
}

/// The request's correlation id: the client's `client-request-id` (header or query, as MSAL
/// and msal-node send it) when it is a sane token, else a new GUID.
pub(crate) fn correlation_id(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Option<&str>,
) -> String {
    let from_query = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "client-request-id")
            .map(|(_, v)| v.into_owned())
    });
    let candidate = headers
        .get("client-request-id")
        .or_else(|| headers.get("x-ms-client-request-id"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(from_query)
        .or_else(|| body.map(str::to_owned));
    match candidate {
        Some(c)
            if !c.is_empty()
                && c.len() <= 64
                && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            c
        }
        _ => crypto::random_guid(state.random.as_ref()),
    }
}

/// `https://host[:port]` as the client addressed this server, when it used a name the
/// server answers to; otherwise the public URL. Never echoes an arbitrary Host header.
pub(crate) fn base_url(state: &AppState, headers: &HeaderMap, uri: &axum::http::Uri) -> String {
    let authority = uri.authority().map(|a| a.as_str().to_owned()).or_else(|| {
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
    });
    if let Some(authority) = authority {
        let host = if let Some(rest) = authority.strip_prefix('[') {
            rest.split(']').next().unwrap_or_default()
        } else {
            authority
                .rsplit_once(':')
                .map_or(authority.as_str(), |(h, _)| h)
        };
        if state
            .settings
            .known_hosts
            .iter()
            .any(|k| k.eq_ignore_ascii_case(host))
            && authority.bytes().all(|b| b.is_ascii_graphic())
        {
            return https_origin(&authority);
        }
    }
    state.settings.public_base.clone()
}

/// `https://host[:port]` in its one canonical form: the default port 443 is never written, so
/// a client that addressed `host:443` and one that addressed `host` see the same authority,
/// issuer and URLs (msal-node compares the configured authority with discovery's issuer).
pub(crate) fn https_origin(authority: &str) -> String {
    let host = authority.strip_suffix(":443").unwrap_or(authority);
    format!("https://{host}")
}

/// Entra's timestamp format: `YYYY-MM-DD HH:MM:SSZ`.
pub(crate) fn entra_timestamp(state: &AppState) -> String {
    state
        .now()
        .format(&time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default()
}

/// An AADSTS error as Entra sends it: JSON body, status, `x-ms-request-id` = trace id.
pub(crate) fn aadsts_response(state: &AppState, err: &AadstsError, correlation: &str) -> Response {
    let trace = crypto::random_guid(state.random.as_ref());
    let body = err.to_response(&trace, correlation, &entra_timestamp(state));
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = (status, json_body(&body)).into_response();
    no_store(response.headers_mut());
    set(response.headers_mut(), "x-ms-request-id", &trace);
    set(response.headers_mut(), "client-request-id", correlation);
    response
}

pub(crate) fn json_body(
    value: &impl serde::Serialize,
) -> ([(HeaderName, HeaderValue); 1], Vec<u8>) {
    json_bytes(serde_json::to_vec(value).unwrap_or_default())
}

/// A JSON body already serialized (a shape with its own rules, such as the v1 token response).
pub(crate) fn json_bytes(body: Vec<u8>) -> ([(HeaderName, HeaderValue); 1], Vec<u8>) {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        )],
        body,
    )
}

pub(crate) fn no_store(h: &mut HeaderMap) {
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(header::EXPIRES, HeaderValue::from_static("-1"));
}

pub(crate) fn set(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(HeaderName::from_static(name), v);
    }
}

/// Text made safe for HTML content and quoted attribute values.
pub(crate) fn esc(text: &str) -> String {
    // Most values (base64 answers posted to apps, ids) need no escaping: copy them whole.
    if !text
        .bytes()
        .any(|b| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\''))
    {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::https_origin;

    #[test]
    fn the_default_port_is_never_written() {
        assert_eq!(https_origin("127.0.0.1:443"), "https://127.0.0.1");
        assert_eq!(https_origin("[::1]:443"), "https://[::1]");
        assert_eq!(https_origin("localhost:8443"), "https://localhost:8443");
        assert_eq!(https_origin("login.example"), "https://login.example");
    }
}
