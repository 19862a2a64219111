//! Token activity, live: each token a bar from issue to expiry on a timeline whose "now" line
//! moves, revocations and failures as marks, and the same events as a table. The page works
//! without JavaScript; with it, a server-sent event stream says when to redraw.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::time::Duration;

use axum::extract::Query;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tessera_proto::clock::Clock as _;

use super::html::{self, Notice, esc};
use super::session::Admin;
use super::upstream::enc;
use super::{Portal, Shared};
use crate::infra::activity::{ActivityEvent, ActivityKind};

/// Events drawn at most (the newest).
const SHOWN: usize = 60;
/// The timeline's drawing area, in SVG units.
const WIDTH: f64 = 1000.0;
const LABEL: f64 = 230.0;
const ROW: f64 = 18.0;
const AXIS: f64 = 24.0;

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Filter {
    #[serde(default)]
    app: String,
    #[serde(default)]
    user: String,
}

impl Filter {
    fn keeps(&self, e: &ActivityEvent) -> bool {
        let matches = |wanted: &str, values: &[&str]| {
            let wanted = wanted.trim();
            wanted.is_empty()
                || values.iter().any(|v| {
                    v.to_ascii_lowercase()
                        .contains(&wanted.to_ascii_lowercase())
                })
        };
        matches(&self.app, &[&e.app_id, &e.app_name])
            && matches(&self.user, &[e.user.as_deref().unwrap_or_default()])
    }

    fn query(&self) -> String {
        format!(
            "app={}&user={}",
            enc(self.app.trim()),
            enc(self.user.trim())
        )
    }
}

fn x_of(t: i64, start: i64, end: i64) -> f64 {
    let span = (end - start).max(1) as f64;
    LABEL + (t.clamp(start, end) - start) as f64 / span * (WIDTH - LABEL - 10.0)
}

fn label(e: &ActivityEvent) -> String {
    let app = if e.app_name.is_empty() {
        &e.app_id
    } else {
        &e.app_name
    };
    let mut text = match &e.user {
        Some(u) => format!("{app} · {u}"),
        None => app.clone(),
    };
    if text.chars().count() > 38 {
        text = text.chars().take(37).collect::<String>() + "…";
    }
    text
}

/// What one event is, in words (bar titles and the table).
fn what(e: &ActivityEvent) -> String {
    match e.kind {
        ActivityKind::Issued => format!("{} issued ({})", e.token_kind, e.flow),
        ActivityKind::Revoked => "sign-in sessions revoked".to_owned(),
        ActivityKind::Failed => format!("{} failed: AADSTS{}", e.flow, e.code.unwrap_or_default()),
    }
}

/// The SVG timeline: a row per event, bars for tokens, marks for the rest, and "now".
fn timeline(events: &[std::sync::Arc<ActivityEvent>], now: i64) -> String {
    let start = events
        .iter()
        .map(|e| e.at)
        .min()
        .unwrap_or(now)
        .min(now - 600);
    let end = events
        .iter()
        .map(|e| e.expires)
        .max()
        .unwrap_or(now)
        .max(now + 600);
    let height = AXIS + ROW * events.len().max(1) as f64 + 6.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="timeline" viewBox="0 0 {WIDTH} {height}" role="img" aria-labelledby="tl-title" data-start="{start}" data-end="{end}" data-now="{now}" data-x0="{LABEL}" data-x1="{}"><title id="tl-title">Timeline of {} events from {} to {}; the table below lists them</title>"#,
        WIDTH - 10.0,
        events.len(),
        esc(&html::when(start)),
        esc(&html::when(end)),
    );
    // Axis ticks: five times across the window.
    for i in 0..=4 {
        let t = start + (end - start) * i / 4;
        let x = x_of(t, start, end);
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            svg,
            r#"<line class="axis" x1="{x:.1}" y1="{AXIS}" x2="{x:.1}" y2="{height}"/><text x="{x:.1}" y="14" text-anchor="{anchor}">{}</text>"#,
            esc(&html::when(t)[11..16]),
        );
    }
    for (i, e) in events.iter().enumerate() {
        let y = AXIS + ROW * i as f64 + 3.0;
        let _ = write!(
            svg,
            r#"<text x="4" y="{:.1}">{}</text>"#,
            y + 11.0,
            esc(&label(e))
        );
        let title = format!(
            "{}: {} at {}{}",
            label(e),
            what(e),
            html::when(e.at),
            if e.kind == ActivityKind::Issued {
                format!(", expires {}", html::when(e.expires))
            } else {
                String::new()
            }
        );
        match e.kind {
            ActivityKind::Issued => {
                let x0 = x_of(e.at, start, end);
                let x1 = x_of(e.expires, start, end).max(x0 + 2.0);
                let mut class = String::from("bar");
                if e.token_kind == "SAML token" {
                    class.push_str(" saml");
                }
                if e.expires <= now {
                    class.push_str(" expired");
                }
                let _ = write!(
                    svg,
                    r#"<rect class="{class}" data-expires="{}" x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" rx="2"><title>{}</title></rect>"#,
                    e.expires,
                    x1 - x0,
                    ROW - 6.0,
                    esc(&title)
                );
            }
            ActivityKind::Revoked | ActivityKind::Failed => {
                let class = if e.kind == ActivityKind::Revoked {
                    "mark revoked"
                } else {
                    "mark"
                };
                let x = x_of(e.at, start, end);
                let _ = write!(
                    svg,
                    r#"<rect class="{class}" x="{:.1}" y="{y:.1}" width="6" height="{:.1}"><title>{}</title></rect>"#,
                    x - 3.0,
                    ROW - 6.0,
                    esc(&title)
                );
            }
        }
    }
    let x = x_of(now, start, end);
    let _ = write!(
        svg,
        r#"<line class="now" x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{height}"/></svg>"#,
        AXIS - 6.0
    );
    svg
}

fn table(events: &[std::sync::Arc<ActivityEvent>]) -> String {
    let rows: Vec<Vec<String>> = events
        .iter()
        .rev()
        .map(|e| {
            let lifetime = if e.kind == ActivityKind::Issued {
                format!(
                    "{}: {}",
                    html::duration(e.expires - e.at),
                    e.lifetime_source
                )
            } else {
                String::new()
            };
            vec![
                esc(&html::when(e.at)),
                esc(&what(e)),
                esc(if e.app_name.is_empty() {
                    &e.app_id
                } else {
                    &e.app_name
                }),
                esc(e.user.as_deref().unwrap_or("(app only)")),
                if e.kind == ActivityKind::Issued {
                    esc(&html::when(e.expires))
                } else {
                    String::new()
                },
                esc(&lifetime),
                format!(r#"<span class="mono">{}</span>"#, esc(&e.fingerprint)),
            ]
        })
        .collect();
    html::table(
        "Events, newest first",
        &[
            "Time",
            "What",
            "App",
            "User",
            "Expires",
            "Lifetime and why",
            "Token digest",
        ],
        &rows,
    )
}

/// The timeline in a region that scrolls sideways on a narrow screen, where the drawing
/// keeps a readable size instead of shrinking its labels.
fn scrolled(svg: &str) -> String {
    format!(
        r#"<div class="timeline-wrap" role="region" aria-label="Token timeline" tabindex="0">{svg}</div>"#
    )
}

/// The live part of the page: what the script swaps in when activity changes.
fn live(portal: &Portal, admin: &Admin, filter: &Filter) -> String {
    let now = portal.state.clock.unix();
    let events = portal
        .state
        .activity
        .events(&admin.tenant.id, SHOWN, |e| filter.keeps(e));
    let legend = r#"<p class="legend"><span><span class="sw access"></span>access token</span><span><span class="sw saml"></span>SAML token</span><span><span class="sw expired"></span>expired</span><span><span class="sw failed"></span>failure or revocation</span><span><span class="sw now"></span>now</span></p>"#;
    if events.is_empty() {
        return format!(
            r#"{legend}{}<p class="empty">No activity yet{}. Tokens appear here as this server issues them.</p>"#,
            scrolled(&timeline(&[], now)),
            if filter.app.is_empty() && filter.user.is_empty() {
                ""
            } else {
                " for this filter"
            }
        );
    }
    format!(
        "{legend}{}{}",
        scrolled(&timeline(&events, now)),
        table(&events)
    )
}

pub(crate) async fn page(portal: Shared, admin: Admin, Query(filter): Query<Filter>) -> Response {
    let filters = format!(
        r#"<form class="filters" method="get" action="/portal/activity">{}{}<button type="submit">Filter</button></form>"#,
        html::input("App (name or ID)", "app", "text", &filter.app, ""),
        html::input("User", "user", "text", &filter.user, ""),
    );
    let body = format!(
        r#"{}<p class="hint">Tokens this server issued to this tenant's apps, with their lifetime and where it came from; nothing secret is shown (a 12-digit digest tells tokens apart). Each server keeps its own recent activity in memory.</p>{}"#,
        html::section("Filter", &filters),
        html::section(
            "Timeline",
            &format!(
                r#"<div id="activity-live" data-source="/portal/activity/live?{q}" data-stream="/portal/activity/stream" aria-live="off">{}</div>"#,
                live(&portal, &admin, &filter),
                q = esc(&filter.query()),
            ),
        ),
    );
    html::page(
        &admin,
        StatusCode::OK,
        "Token activity",
        &Notice::None,
        &body,
    )
}

/// `GET /portal/activity/live`: the live part alone, for the script.
pub(crate) async fn fragment(
    portal: Shared,
    admin: Admin,
    Query(filter): Query<Filter>,
) -> Response {
    let mut r = (StatusCode::OK, live(&portal, &admin, &filter)).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// `GET /portal/activity/stream`: an `activity` event whenever this server records some
/// (at most one a second), so the page redraws without polling.
pub(crate) async fn stream(portal: Shared, _admin: Admin) -> Response {
    let rx = portal.state.activity.watch();
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        let seq = *rx.borrow_and_update();
        // Bursts (a load test) become one redraw a second.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let event = Event::default().event("activity").data(seq.to_string());
        Some((Ok::<_, Infallible>(event), rx))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(at: i64, expires: i64, user: Option<&str>) -> std::sync::Arc<ActivityEvent> {
        std::sync::Arc::new(ActivityEvent {
            app_name: "Payroll <script>".into(),
            user: user.map(str::to_owned),
            token_kind: "access token",
            flow: "client_credentials".into(),
            expires,
            ..ActivityEvent::new(ActivityKind::Issued, at, "t")
        })
    }

    #[test]
    fn bars_run_from_issue_to_expiry_and_now_is_drawn() {
        let now = 10_000;
        let svg = timeline(&[issued(now - 3600, now + 3600, None)], now);
        assert!(svg.contains(r#"class="bar""#), "{svg}");
        assert!(svg.contains(r#"class="now""#));
        assert!(!svg.contains("<script>"), "labels are escaped");
        let expired = timeline(&[issued(now - 7200, now - 60, Some("a@b"))], now);
        assert!(expired.contains(r#"class="bar expired""#));
        // The window covers the bar: starts at its issue, ends at least 10 minutes ahead.
        assert!(svg.contains(&format!(r#"data-start="{}""#, now - 3600)));
        assert!(svg.contains(&format!(r#"data-end="{}""#, now + 3600)));
    }

    #[test]
    fn filters_match_app_names_ids_and_users_loosely() {
        let e = issued(0, 1, Some("Adele.Vance@contoso.example"));
        let f = |app: &str, user: &str| Filter {
            app: app.into(),
            user: user.into(),
        };
        assert!(f("", "").keeps(&e));
        assert!(f("payroll", "adele").keeps(&e));
        assert!(!f("other", "").keeps(&e));
        assert!(!f("", "megan").keeps(&e));
    }
}
