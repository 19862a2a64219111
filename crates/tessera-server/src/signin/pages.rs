//! The sign-in pages: plain server-rendered HTML and CSS that work without JavaScript, read
//! well on a phone, label every field and show focus, and name the tenant. Every value is
//! HTML-escaped; every form carries the CSRF value and the signed flow token.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub(crate) use crate::respond::esc;

const STYLE: &str = "
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:#f2f2f2;color:#1b1b1b}
main{max-width:440px;margin:8vh auto;background:#fff;padding:32px 28px;box-shadow:0 2px 6px rgba(0,0,0,.2);overflow-wrap:anywhere}
@media (max-width:480px){main{margin:0;min-height:100vh;box-shadow:none;padding:24px 18px}}
.tenant{font-size:.95rem;color:#505050;margin:0 0 12px}
h1{font-size:1.5rem;margin:0 0 16px;font-weight:600}
label{display:block;font-weight:600;margin:12px 0 4px}
input[type=text],input[type=email],input[type=password]{width:100%;padding:10px;font-size:1rem;border:1px solid #666;border-radius:2px}
button{font-size:1rem;padding:10px 20px;border:2px solid #0067b8;background:#0067b8;color:#fff;border-radius:2px;cursor:pointer;margin:16px 8px 0 0;min-width:108px}
button.secondary{background:#fff;color:#0067b8}
a{color:#0067b8}
:focus-visible{outline:3px solid #1a1a1a;outline-offset:2px}
.error{border-left:4px solid #c50f1f;background:#fdf3f4;padding:8px 12px;margin:12px 0}
.who{font-weight:600;word-break:break-all}
ul.scopes{padding-left:20px}
.meta{font-size:.85rem;color:#505050;margin-top:24px;word-break:break-all}
.code{font-family:ui-monospace,monospace;font-size:1.2rem;letter-spacing:.1em}
";

/// A full page. `tenant` is the organization's display name shown above the title.
pub(crate) fn page(status: StatusCode, title: &str, tenant: Option<&str>, body: &str) -> Response {
    let tenant_line = tenant.map_or_else(String::new, |t| {
        format!("<p class=\"tenant\">{}</p>", esc(t))
    });
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t} - tessera</title><style>{STYLE}</style></head><body><main>{tenant_line}<h1>{t}</h1>{body}</main></body></html>",
        t = esc(title)
    );
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action *; frame-ancestors 'none'; base-uri 'none'"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        esc(name),
        esc(value)
    )
}

fn form(action: &str, csrf: &str, flow: &str, inner: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\">{}{}{inner}</form>",
        esc(action),
        hidden("csrf", csrf),
        hidden("flow", flow)
    )
}

fn error_line(error: Option<&str>) -> String {
    error.map_or_else(String::new, |e| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e))
    })
}

pub(crate) fn username(
    tenant: &str,
    action: &str,
    csrf: &str,
    flow: &str,
    hint: Option<&str>,
    error: Option<&str>,
) -> Response {
    let body = form(
        action,
        csrf,
        flow,
        &format!(
            "{}<label for=\"username\">Email or user name</label>\
<input id=\"username\" name=\"username\" type=\"email\" autocomplete=\"username\" required autofocus value=\"{}\">\
<button type=\"submit\">Next</button>",
            error_line(error),
            esc(hint.unwrap_or_default())
        ),
    );
    page(
        if error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        "Sign in",
        Some(tenant),
        &body,
    )
}

pub(crate) fn password(
    tenant: &str,
    action: &str,
    csrf: &str,
    flow: &str,
    user: &str,
    error: Option<&str>,
) -> Response {
    let body = form(
        action,
        csrf,
        flow,
        &format!(
            "<p class=\"who\">{}</p>{}\
<input type=\"text\" name=\"username\" value=\"{}\" autocomplete=\"username\" readonly hidden>\
<label for=\"password\">Password</label>\
<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required autofocus>\
<button type=\"submit\">Sign in</button>",
            esc(user),
            error_line(error),
            esc(user)
        ),
    );
    page(
        if error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        "Enter password",
        Some(tenant),
        &body,
    )
}

pub(crate) fn mfa(
    tenant: &str,
    action: &str,
    csrf: &str,
    flow: &str,
    user: &str,
    error: Option<&str>,
) -> Response {
    let body = form(
        action,
        csrf,
        flow,
        &format!(
            "<p class=\"who\">{}</p><p>Your organization requires a second step. Enter the 6-digit code from your authenticator app.</p>{}\
<label for=\"otc\">Code</label><input id=\"otc\" name=\"otc\" type=\"text\" inputmode=\"numeric\" autocomplete=\"one-time-code\" pattern=\"[0-9]{{6}}\" maxlength=\"6\" required autofocus>\
<button type=\"submit\">Verify</button>",
            esc(user),
            error_line(error)
        ),
    );
    page(
        if error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        "Enter code",
        Some(tenant),
        &body,
    )
}

pub(crate) fn consent(
    tenant: &str,
    action: &str,
    csrf: &str,
    flow: &str,
    user: &str,
    app: &str,
    scopes: &[String],
) -> Response {
    let list: String = scopes
        .iter()
        .map(|s| format!("<li>{}</li>", esc(s)))
        .collect();
    let body = form(
        action,
        csrf,
        flow,
        &format!(
            "<p class=\"who\">{}</p><p><strong>{}</strong> is asking for permission to:</p><ul class=\"scopes\">{list}</ul>\
<p>Accepting lets this app use your data as described. You can change this later.</p>\
<button type=\"submit\" name=\"decision\" value=\"accept\">Accept</button>\
<button type=\"submit\" name=\"decision\" value=\"cancel\" class=\"secondary\">Cancel</button>",
            esc(user),
            esc(app)
        ),
    );
    page(StatusCode::OK, "Permissions requested", Some(tenant), &body)
}

pub(crate) fn pick_account(
    tenant: &str,
    action: &str,
    csrf: &str,
    flow: &str,
    user: &str,
) -> Response {
    let body = form(
        action,
        csrf,
        flow,
        &format!(
            "<p>You are signed in as:</p><button type=\"submit\" name=\"account\" value=\"current\">{}</button>\
<button type=\"submit\" name=\"account\" value=\"other\" class=\"secondary\">Use another account</button>",
            esc(user)
        ),
    );
    page(StatusCode::OK, "Pick an account", Some(tenant), &body)
}

pub(crate) fn device_entry(action: &str, csrf: &str, error: Option<&str>) -> Response {
    let body = format!(
        "<form method=\"post\" action=\"{}\">{}<p>Enter the code displayed on your app or device.</p>{}\
<label for=\"otc\">Code</label><input id=\"otc\" name=\"otc\" type=\"text\" class=\"code\" autocomplete=\"off\" autocapitalize=\"characters\" spellcheck=\"false\" required autofocus>\
<button type=\"submit\">Next</button></form>",
        esc(action),
        hidden("csrf", csrf),
        error_line(error)
    );
    page(
        if error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        "Enter code",
        None,
        &body,
    )
}

pub(crate) fn device_confirm(
    tenant: &str,
    action: &str,
    csrf: &str,
    flow: &str,
    user: &str,
    app: &str,
) -> Response {
    let body = form(
        action,
        csrf,
        flow,
        &format!(
            "<p class=\"who\">{}</p><p>Are you trying to sign in to <strong>{}</strong>? Only continue if you started this sign-in on a device or app you trust.</p>\
<button type=\"submit\" name=\"decision\" value=\"accept\">Continue</button>\
<button type=\"submit\" name=\"decision\" value=\"cancel\" class=\"secondary\">Cancel</button>",
            esc(user),
            esc(app)
        ),
    );
    page(
        StatusCode::OK,
        "Are you trying to sign in?",
        Some(tenant),
        &body,
    )
}

pub(crate) fn message(
    status: StatusCode,
    title: &str,
    tenant: Option<&str>,
    text: &str,
) -> Response {
    page(status, title, tenant, &format!("<p>{}</p>", esc(text)))
}

/// An error page: what is wrong in plain words, then the AADSTS code and trace ids.
pub(crate) fn error(
    status: StatusCode,
    tenant: Option<&str>,
    plain: &str,
    aadsts: &str,
    trace_id: &str,
    correlation_id: &str,
    timestamp: &str,
) -> Response {
    let body = format!(
        "<p class=\"error\" role=\"alert\">{}</p><p>{}</p><div class=\"meta\"><p>Request Id: {}<br>Correlation Id: {}<br>Timestamp: {}</p></div>",
        esc(plain),
        esc(aadsts),
        esc(trace_id),
        esc(correlation_id),
        esc(timestamp)
    );
    page(
        status,
        "Sorry, but we're having trouble signing you in.",
        tenant,
        &body,
    )
}

/// `response_mode=form_post`: posts the response to the app; the button works without
/// JavaScript, the script only saves a click.
pub(crate) fn form_post(redirect_uri: &str, fields: &[(String, String)]) -> Response {
    let inputs: String = fields.iter().map(|(k, v)| hidden(k, v)).collect();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Continue</title><style>{STYLE}</style></head>\
<body onload=\"document.forms[0].submit()\"><main><h1>Signing you in</h1><form method=\"post\" action=\"{}\">{inputs}<noscript><p>Select Continue to finish signing in.</p></noscript><button type=\"submit\">Continue</button></form></main></body></html>",
        esc(redirect_uri)
    );
    let mut r = (StatusCode::OK, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; form-action *"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_it_prints() {
        assert_eq!(
            esc("<a href=\"x\">O'Brien & co</a>"),
            "&lt;a href=&quot;x&quot;&gt;O&#39;Brien &amp; co&lt;/a&gt;"
        );
    }
}
