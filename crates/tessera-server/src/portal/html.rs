//! The portal's page frame and form pieces: every value escaped, every control labelled,
//! every form carrying the CSRF value, and the headers every portal response gets (a strict
//! Content-Security-Policy: scripts and styles only from `/portal/assets`, no frames).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub(crate) use crate::respond::esc;

/// What the page frame and forms need of the signed-in admin (`session::Admin`).
pub(crate) trait Frame {
    /// The hidden CSRF input every form carries.
    fn csrf_field(&self) -> String;
    fn tenant_name(&self) -> &str;
    fn user_name(&self) -> &str;
    /// The navigation entry of the page asked for.
    fn section(&self) -> &str;
}

/// Sent with every portal response.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(crate) async fn secure_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The portal's sections, in the navigation's order: (path, label).
const NAV: &[(&str, &str)] = &[
    ("/portal", "Overview"),
    ("/portal/apps", "App registrations"),
    ("/portal/users", "Users"),
    ("/portal/groups", "Groups"),
    ("/portal/policies", "Token lifetime policies"),
    ("/portal/activity", "Token activity"),
];

/// A message shown at the top of a page.
#[derive(Debug, Clone)]
pub(crate) enum Notice {
    None,
    Done(String),
    Error(String),
}

/// What a change did, by the code its redirect carries (`?done=created`): fixed texts, so a
/// crafted link cannot put words on a portal page.
const DONE: &[(&str, &str)] = &[
    ("created", "Created."),
    ("saved", "Saved."),
    ("deleted", "Deleted."),
    ("added", "Added."),
    ("removed", "Removed."),
    ("assigned", "Assigned."),
    ("granted", "Granted."),
    (
        "revoked",
        "Sessions revoked: the user's refresh tokens and portal sessions no longer work.",
    ),
];

/// The query of a page a change redirected to.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Done {
    pub(crate) done: Option<String>,
}

impl Done {
    pub(crate) fn notice(&self) -> Notice {
        self.done
            .as_deref()
            .and_then(|d| DONE.iter().find(|(code, _)| *code == d))
            .map_or(Notice::None, |(_, text)| Notice::Done((*text).to_owned()))
    }
}

/// After a change: back to `path` saying `code` (one of `DONE`'s).
pub(crate) fn done(path: &str, code: &str) -> Response {
    let sep = if path.contains('?') { '&' } else { '?' };
    see_other(&format!("{path}{sep}done={code}"))
}

impl Notice {
    fn html(&self) -> String {
        match self {
            Self::None => String::new(),
            Self::Done(m) => format!(r#"<p class="notice done" role="status">{}</p>"#, esc(m)),
            Self::Error(m) => format!(r#"<p class="notice error" role="alert">{}</p>"#, esc(m)),
        }
    }

    /// The status a page showing this notice answers with.
    pub(crate) fn status(&self, refusal_status: Option<StatusCode>) -> StatusCode {
        match self {
            Self::Error(_) => refusal_status.unwrap_or(StatusCode::BAD_REQUEST),
            _ => StatusCode::OK,
        }
    }
}

fn document(title: &str, header: &str, body: &str) -> String {
    format!(
        r##"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="color-scheme" content="light dark"><title>{t} - tessera portal</title><link rel="stylesheet" href="/portal/assets/portal.css"><script src="/portal/assets/portal.js" defer></script></head><body><a class="skip" href="#main">Skip to content</a>{header}<main id="main" tabindex="-1">{body}</main></body></html>"##,
        t = esc(title)
    )
}

fn html_response(status: StatusCode, html: String) -> Response {
    let mut r = (status, html).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// A page of the signed-in portal: navigation, who is signed in, the sign-out button.
pub(crate) fn page(
    admin: &impl Frame,
    status: StatusCode,
    title: &str,
    notice: &Notice,
    body: &str,
) -> Response {
    let nav: String = NAV
        .iter()
        .map(|(href, label)| {
            let current = if admin.section() == *href {
                r#" aria-current="page""#
            } else {
                ""
            };
            format!(r#"<li><a href="{href}"{current}>{label}</a></li>"#)
        })
        .collect();
    let header = format!(
        r#"<header class="top"><div class="bar"><span class="brand">tessera</span><span class="tenant">{tenant}</span><form class="signout" method="post" action="/portal/logout">{csrf}<span class="who">{upn}</span> <button type="submit" class="link">Sign out</button></form></div><nav aria-label="Portal sections"><ul>{nav}</ul></nav></header>"#,
        tenant = esc(admin.tenant_name()),
        csrf = admin.csrf_field(),
        upn = esc(admin.user_name()),
    );
    let body = format!("<h1>{}</h1>{}{body}", esc(title), notice.html());
    html_response(status, document(title, &header, &body))
}

/// A page outside the signed-in portal (sign-in problems, signed out, refused).
pub(crate) fn bare(status: StatusCode, title: &str, body: &str) -> Response {
    let header =
        r#"<header class="top"><div class="bar"><span class="brand">tessera</span></div></header>"#;
    html_response(
        status,
        document(title, header, &format!("<h1>{}</h1>{body}", esc(title))),
    )
}

pub(crate) async fn not_found() -> Response {
    bare(
        StatusCode::NOT_FOUND,
        "Page not found",
        r#"<p>There is no such page in the portal. <a href="/portal">Go to the overview</a>.</p>"#,
    )
}

/// A `See Other` redirect (after a form post, and to sign in).
pub(crate) fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// A labelled text input. `kind` is the input type (`text`, `password`, `url`...).
pub(crate) fn input(label: &str, name: &str, kind: &str, value: &str, extra: &str) -> String {
    format!(
        r#"<div class="field"><label for="f-{name}">{label}</label><input id="f-{name}" name="{name}" type="{kind}" value="{value}" {extra}></div>"#,
        label = esc(label),
        value = esc(value),
    )
}

/// A labelled select; `options` are (value, text), `selected` the chosen value.
pub(crate) fn select(
    label: &str,
    name: &str,
    options: &[(String, String)],
    selected: &str,
) -> String {
    let opts: String = options
        .iter()
        .map(|(v, t)| {
            let sel = if v == selected { " selected" } else { "" };
            format!(r#"<option value="{}"{sel}>{}</option>"#, esc(v), esc(t))
        })
        .collect();
    format!(
        r#"<div class="field"><label for="f-{name}">{label}</label><select id="f-{name}" name="{name}">{opts}</select></div>"#,
        label = esc(label)
    )
}

/// A labelled checkbox.
pub(crate) fn checkbox(label: &str, name: &str, checked: bool) -> String {
    format!(
        r#"<div class="field check"><input id="f-{name}" name="{name}" type="checkbox" value="true"{}><label for="f-{name}">{}</label></div>"#,
        if checked { " checked" } else { "" },
        esc(label)
    )
}

/// A labelled multi-line text area.
pub(crate) fn textarea(label: &str, name: &str, value: &str, hint: &str) -> String {
    let hint_html = if hint.is_empty() {
        String::new()
    } else {
        format!(r#"<p class="hint" id="h-{name}">{}</p>"#, esc(hint))
    };
    let described = if hint.is_empty() {
        String::new()
    } else {
        format!(r#" aria-describedby="h-{name}""#)
    };
    format!(
        r#"<div class="field"><label for="f-{name}">{}</label>{hint_html}<textarea id="f-{name}" name="{name}" rows="4"{described}>{}</textarea></div>"#,
        esc(label),
        esc(value)
    )
}

/// A POST form to `action` doing `op`, with the CSRF value and `fields` before its button.
pub(crate) fn form(
    admin: &impl Frame,
    action: &str,
    op: &str,
    fields: &str,
    button: &str,
) -> String {
    format!(
        r#"<form method="post" action="{action}">{csrf}<input type="hidden" name="op" value="{op}">{fields}<button type="submit">{button}</button></form>"#,
        action = esc(action),
        csrf = admin.csrf_field(),
        button = esc(button),
    )
}

/// A one-button form (remove, revoke...) whose button says what it does to what.
pub(crate) fn button_form(
    admin: &impl Frame,
    action: &str,
    op: &str,
    hidden: &[(&str, &str)],
    button: &str,
    label: &str,
) -> String {
    let fields: String = hidden
        .iter()
        .map(|(n, v)| format!(r#"<input type="hidden" name="{n}" value="{}">"#, esc(v)))
        .collect();
    format!(
        r#"<form class="inline" method="post" action="{action}">{csrf}<input type="hidden" name="op" value="{op}">{fields}<button type="submit" class="secondary" aria-label="{label}">{button}</button></form>"#,
        action = esc(action),
        csrf = admin.csrf_field(),
        button = esc(button),
        label = esc(label),
    )
}

/// A table with a caption; cells are already HTML.
pub(crate) fn table(caption: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return format!(r#"<p class="empty">{}: none.</p>"#, esc(caption));
    }
    // A column without a heading holds the row's buttons: it is named for screen readers
    // (an empty header is announced as nothing), without showing a word on the page.
    let head: String = headers
        .iter()
        .map(|h| {
            if h.is_empty() {
                r#"<th scope="col"><span class="vh">Actions</span></th>"#.to_owned()
            } else {
                format!(r#"<th scope="col">{}</th>"#, esc(h))
            }
        })
        .collect();
    let body: String = rows
        .iter()
        .map(|r| {
            let cells: String = r.iter().map(|c| format!("<td>{c}</td>")).collect();
            format!("<tr>{cells}</tr>")
        })
        .collect();
    // The wrapper scrolls a table wider than the screen (360 px): a named region in the tab
    // order, so the keyboard can scroll it too.
    format!(
        r#"<div class="table-wrap" role="region" aria-label="{c}" tabindex="0"><table><caption>{c}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"#,
        c = esc(caption)
    )
}

/// A section with a heading.
pub(crate) fn section(title: &str, inner: &str) -> String {
    let id: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!(
        r#"<section aria-labelledby="s-{id}"><h2 id="s-{id}">{}</h2>{inner}</section>"#,
        esc(title)
    )
}

/// A UTC time as people read it: `2026-12-04 10:15 UTC`.
pub(crate) fn when(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// A Graph `DateTimeOffset` string as `when` writes it (the text itself if unreadable).
pub(crate) fn graph_when(text: &str) -> String {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| when(t.unix_timestamp()))
        .unwrap_or_else(|_| text.to_owned())
}

/// A length of time as people read it: `1 h 30 min`, `2 days`.
pub(crate) fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    if s >= 2 * 86_400 {
        return format!("{} days", s / 86_400);
    }
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{sec} s"),
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(5400), "1 h 30 min");
        assert_eq!(duration(7200), "2 h");
        assert_eq!(duration(600), "10 min");
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(3 * 86_400), "3 days");
        assert_eq!(when(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            graph_when("2026-12-04T10:00:00Z"),
            "2026-12-04 10:00:00 UTC"
        );
    }

    #[test]
    fn tables_escape_captions_and_say_when_empty() {
        assert_eq!(
            table("<x>", &["a"], &[]),
            r#"<p class="empty">&lt;x&gt;: none.</p>"#
        );
        let t = table("Apps", &["Name"], &[vec!["a".into()]]);
        assert!(t.contains(r#"<th scope="col">Name</th>"#));
        // The buttons' column gets a name for screen readers only.
        let t = table("Secrets", &["Name", ""], &[vec!["a".into(), "b".into()]]);
        assert!(
            t.contains(r#"<th scope="col"><span class="vh">Actions</span></th>"#),
            "{t}"
        );
    }
}
