//! Per-server counters rendered in Prometheus text format. Kept per server instance (not a
//! global recorder) so several servers in one test process count separately.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    token_requests: Mutex<BTreeMap<(&'static str, String), u64>>,
    http_requests: Mutex<BTreeMap<(String, u16), u64>>,
    graph_auth_failures: Mutex<BTreeMap<&'static str, u64>>,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    let mut guard = map
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *guard.entry(key).or_insert(0) += 1;
}

impl Metrics {
    /// Counts a token request by grant and outcome (`success` or the OAuth `error`).
    pub(crate) fn token_request(&self, grant: &'static str, outcome: &str) {
        bump(&self.token_requests, (grant, outcome.to_owned()));
    }

    pub(crate) fn http_request(&self, route: &str, status: u16) {
        bump(&self.http_requests, (route.to_owned(), status));
    }

    /// Counts a Graph request refused for its bearer token, by reason (expired, signature...).
    pub(crate) fn graph_auth_failure(&self, reason: &'static str) {
        bump(&self.graph_auth_failures, reason);
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP tessera_token_requests_total Token endpoint requests by grant type and outcome.\n");
        out.push_str("# TYPE tessera_token_requests_total counter\n");
        for ((grant, outcome), n) in self
            .token_requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "tessera_token_requests_total{{grant=\"{grant}\",outcome=\"{}\"}} {n}",
                escape(outcome)
            );
        }
        out.push_str("# HELP tessera_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE tessera_http_requests_total counter\n");
        for ((route, status), n) in self
            .http_requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "tessera_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str("# HELP tessera_graph_auth_failures_total Graph requests refused for their bearer token, by reason.\n");
        out.push_str("# TYPE tessera_graph_auth_failures_total counter\n");
        for (reason, n) in self
            .graph_auth_failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "tessera_graph_auth_failures_total{{reason=\"{reason}\"}} {n}"
            );
        }
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters() {
        let m = Metrics::default();
        m.token_request("client_credentials", "success");
        m.token_request("client_credentials", "success");
        m.http_request("/{tenant}/oauth2/v2.0/token", 200);
        let text = m.render();
        assert!(text.contains(
            "tessera_token_requests_total{grant=\"client_credentials\",outcome=\"success\"} 2\n"
        ));
        assert!(text.contains(
            "tessera_http_requests_total{route=\"/{tenant}/oauth2/v2.0/token\",status=\"200\"} 1\n"
        ));
    }
}
