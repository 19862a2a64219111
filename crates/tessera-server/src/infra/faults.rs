//! Test-mode fault injection and per-app rate limits: 429 (with an integer, fractional or
//! absent `Retry-After`), 503, 504, added latency and empty pages that still have a nextLink,
//! on the token endpoint or on Graph routes, so clients' retry and paging logic can be tested.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::StatusCode;
use serde::Deserialize;

/// Where a fault applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Token,
    Graph,
}

/// One fault rule, as posted to `/_tessera/test/faults`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultSpec {
    /// `token` or `graph`.
    pub target: String,
    /// Graph path prefix the fault applies to (`/v1.0/users`); all Graph routes if absent.
    #[serde(default)]
    pub path: Option<String>,
    /// 429, 503 or 504.
    #[serde(default)]
    pub status: Option<u16>,
    /// `Retry-After` value as sent (`"2"`, `"1.5"`); none if absent.
    #[serde(default)]
    pub retry_after: Option<String>,
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// Graph list routes answer one empty page that still has a nextLink.
    #[serde(default)]
    pub empty_page: bool,
    /// How many matching requests it hits (default 1).
    #[serde(default = "one")]
    pub count: u32,
    /// After answering `status` with a `Retry-After`, keep answering it on the same target
    /// and path until that time has passed since the answer, as Graph throttles a client
    /// that retries early; those answers do not use up `count`. A client that honours
    /// `Retry-After` never sees them.
    #[serde(default)]
    pub hold: bool,
}

fn one() -> u32 {
    1
}

impl FaultSpec {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.target != "token" && self.target != "graph" {
            return Err("target must be 'token' or 'graph'".into());
        }
        if let Some(s) = self.status
            && ![429, 500, 502, 503, 504].contains(&s)
        {
            return Err("status must be 429, 500, 502, 503 or 504".into());
        }
        if self.status.is_none() && self.latency_ms.is_none() && !self.empty_page {
            return Err("a fault needs status, latency_ms or empty_page".into());
        }
        if self.empty_page && self.target != "graph" {
            return Err("empty_page applies to graph only".into());
        }
        if self.latency_ms.is_some_and(|l| l > 60_000) {
            return Err("latency_ms is limited to 60000".into());
        }
        if self.hold && self.retry_seconds().is_none() {
            return Err("hold needs a status and a retry_after in seconds".into());
        }
        Ok(())
    }

    /// `retry_after` as a duration, when it is a number of seconds (at most an hour).
    fn retry_seconds(&self) -> Option<Duration> {
        self.status?;
        let secs: f64 = self.retry_after.as_deref()?.trim().parse().ok()?;
        (secs.is_finite() && (0.0..=3600.0).contains(&secs)).then(|| Duration::from_secs_f64(secs))
    }

    fn matches(&self, target: Target, path: &str) -> bool {
        let t = match target {
            Target::Token => "token",
            Target::Graph => "graph",
        };
        self.target == t && self.path.as_deref().is_none_or(|p| path.starts_with(p))
    }
}

/// A status to answer with instead of serving the request.
#[derive(Debug, Clone)]
pub(crate) struct Injected {
    pub status: StatusCode,
    pub retry_after: Option<String>,
}

#[derive(Debug)]
struct Bucket {
    per_second: f64,
    tokens: f64,
    last: tokio::time::Instant,
}

/// A throttled path that answers again until its `Retry-After` has passed (`hold`).
#[derive(Debug)]
struct Held {
    target: Target,
    path: Option<String>,
    until: tokio::time::Instant,
    injected: Injected,
}

#[derive(Debug, Default)]
pub(crate) struct Faults {
    rules: Mutex<Vec<FaultSpec>>,
    held: Mutex<Vec<Held>>,
    limits: Mutex<HashMap<String, Bucket>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Faults {
    pub(crate) fn add(&self, rules: Vec<FaultSpec>) {
        lock(&self.rules).extend(rules);
    }

    pub(crate) fn clear(&self) {
        lock(&self.rules).clear();
        lock(&self.held).clear();
        lock(&self.limits).clear();
    }

    /// The answer for a request that came before a held `Retry-After` had passed.
    fn held(&self, target: Target, path: &str) -> Option<Injected> {
        let mut held = lock(&self.held);
        if held.is_empty() {
            return None;
        }
        let now = tokio::time::Instant::now();
        held.retain(|h| h.until > now);
        held.iter()
            .find(|h| h.target == target && h.path.as_deref().is_none_or(|p| path.starts_with(p)))
            .map(|h| h.injected.clone())
    }

    /// Applies latency and returns a status fault for this request, consuming the rules hit.
    pub(crate) async fn before(&self, target: Target, path: &str) -> Option<Injected> {
        if let Some(early) = self.held(target, path) {
            return Some(early);
        }
        let (latency, injected) = {
            let mut rules = lock(&self.rules);
            if rules.is_empty() {
                return None;
            }
            let mut latency = 0u64;
            let mut injected = None;
            for rule in rules
                .iter_mut()
                .filter(|r| r.count > 0 && !r.empty_page && r.matches(target, path))
            {
                if let Some(l) = rule.latency_ms {
                    latency += l;
                    if rule.status.is_none() {
                        rule.count -= 1;
                    }
                }
                if injected.is_none()
                    && let Some(s) = rule.status
                {
                    let answer = Injected {
                        status: StatusCode::from_u16(s).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                        retry_after: rule.retry_after.clone(),
                    };
                    if rule.hold
                        && let Some(wait) = rule.retry_seconds()
                    {
                        lock(&self.held).push(Held {
                            target,
                            path: rule.path.clone(),
                            until: tokio::time::Instant::now() + wait,
                            injected: answer.clone(),
                        });
                    }
                    injected = Some(answer);
                    rule.count -= 1;
                }
            }
            rules.retain(|r| r.count > 0);
            (latency, injected)
        };
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        injected
    }

    /// True (once per rule hit) when a Graph list on `path` should answer an empty page.
    pub(crate) fn take_empty_page(&self, path: &str) -> bool {
        let mut rules = lock(&self.rules);
        let hit = rules
            .iter_mut()
            .find(|r| r.count > 0 && r.empty_page && r.matches(Target::Graph, path))
            .map(|r| r.count -= 1)
            .is_some();
        rules.retain(|r| r.count > 0);
        hit
    }

    /// Sets (or with 0, removes) a per-app limit of Graph requests per second.
    pub(crate) fn set_rate_limit(&self, app_id: &str, per_second: f64) {
        let mut limits = lock(&self.limits);
        if per_second <= 0.0 {
            limits.remove(&app_id.to_ascii_lowercase());
        } else {
            limits.insert(
                app_id.to_ascii_lowercase(),
                Bucket {
                    per_second,
                    tokens: per_second,
                    last: tokio::time::Instant::now(),
                },
            );
        }
    }

    /// `Some(retry_after)` when the app is over its limit (a token bucket refilled per second).
    pub(crate) fn rate_limited(&self, app_id: &str) -> Option<String> {
        let mut limits = lock(&self.limits);
        let bucket = limits.get_mut(&app_id.to_ascii_lowercase())?;
        let now = tokio::time::Instant::now();
        let elapsed = now.duration_since(bucket.last).as_secs_f64();
        bucket.last = now;
        bucket.tokens = (bucket.tokens + elapsed * bucket.per_second).min(bucket.per_second);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            None
        } else {
            let wait = ((1.0 - bucket.tokens) / bucket.per_second).ceil().max(1.0);
            Some(format!("{wait:.0}"))
        }
    }
}
