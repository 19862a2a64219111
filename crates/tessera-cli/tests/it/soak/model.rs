//! What the soak's clients were told: every write acknowledged with a 2xx, the refresh token
//! each client last received, the device codes approved but not yet redeemed. The checks
//! compare the servers with this.

use std::collections::HashMap;

use serde_json::Value;

/// One object as the clients know it. `known` is what the last acknowledged write left
/// (`None`: absent); `maybe` what each write sent since, but never answered, would have left.
/// A server may show `known` or any of `maybe`, nothing else.
#[derive(Debug, Clone)]
pub(crate) struct Expect<T> {
    pub(crate) known: Option<T>,
    pub(crate) maybe: Vec<Option<T>>,
}

impl<T: PartialEq + Clone> Expect<T> {
    pub(crate) fn acked(value: Option<T>) -> Self {
        Self {
            known: value,
            maybe: Vec::new(),
        }
    }

    pub(crate) fn ack(&mut self, value: Option<T>) {
        self.known = value;
        self.maybe.clear();
    }

    /// A write was sent and no answer came: it may or may not have happened.
    pub(crate) fn unanswered(&mut self, value: Option<T>) {
        self.maybe.push(value);
    }

    pub(crate) fn allows(&self, actual: &Option<T>) -> bool {
        &self.known == actual || self.maybe.contains(actual)
    }

    pub(crate) fn is_certain(&self) -> bool {
        self.maybe.is_empty()
    }

    /// After a check found `actual` (allowed): that is now what the clients know.
    pub(crate) fn settle(&mut self, actual: Option<T>) {
        self.known = actual;
        self.maybe.clear();
    }
}

/// A token lifetime policy as the soak writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Policy {
    pub(crate) display_name: String,
    pub(crate) access_token_seconds: i64,
    pub(crate) org_default: bool,
}

impl Policy {
    /// The Graph body that creates or sets this policy.
    pub(crate) fn body(&self) -> Value {
        let s = self.access_token_seconds;
        let definition = format!(
            r#"{{"TokenLifetimePolicy":{{"Version":1,"AccessTokenLifetime":"{}:{:02}:{:02}"}}}}"#,
            s / 3600,
            s % 3600 / 60,
            s % 60
        );
        serde_json::json!({
            "definition": [definition],
            "displayName": self.display_name,
            "isOrganizationDefault": self.org_default,
        })
    }

    /// A policy as Graph lists it.
    pub(crate) fn from_graph(v: &Value) -> Option<(String, Self)> {
        let id = v["id"].as_str()?.to_owned();
        let definition: Value = serde_json::from_str(v["definition"][0].as_str()?).ok()?;
        let lifetime = definition["TokenLifetimePolicy"]["AccessTokenLifetime"].as_str()?;
        Some((
            id,
            Self {
                display_name: v["displayName"].as_str()?.to_owned(),
                access_token_seconds: timespan_seconds(lifetime)?,
                org_default: v["isOrganizationDefault"].as_bool()?,
            },
        ))
    }
}

/// `[d.]hh:mm:ss` in seconds.
fn timespan_seconds(text: &str) -> Option<i64> {
    let (days, rest) = match text.split_once('.') {
        Some((d, rest)) if !d.contains(':') => (d.parse::<i64>().ok()?, rest),
        _ => (0, text),
    };
    let mut parts = rest.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

/// The refresh token a client last received, and from which replica.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    pub(crate) refresh_token: String,
    pub(crate) from: usize,
}

/// A device code whose approval was acknowledged (204) and whose tokens the client has not
/// received. `poll_sent`: a redemption was sent and not answered, so it may have been used.
#[derive(Debug, Clone)]
pub(crate) struct Approved {
    pub(crate) device_code: String,
    pub(crate) poll_sent: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Model {
    /// Users by id: their display name, or absent once a deletion was acknowledged.
    pub(crate) users: HashMap<String, Expect<String>>,
    pub(crate) policies: HashMap<String, Expect<Policy>>,
    /// Display names of policies whose creation was sent and never answered.
    pub(crate) unanswered_policy_creates: Vec<String>,
    /// By (client, chain): the password chain is 0, the device code chain 1.
    pub(crate) chains: HashMap<(usize, u8), Chain>,
    pub(crate) approved: Vec<Approved>,
}

impl Model {
    /// The organization default policy the clients know of, unless that is uncertain.
    pub(crate) fn org_default(&self) -> Result<Option<(String, Policy)>, ()> {
        if !self.unanswered_policy_creates.is_empty()
            || self.policies.values().any(|p| !p.is_certain())
        {
            return Err(());
        }
        Ok(self.policies.iter().find_map(|(id, p)| {
            p.known
                .as_ref()
                .filter(|p| p.org_default)
                .map(|p| (id.clone(), p.clone()))
        }))
    }

    /// Compares the policies a server lists with what was acknowledged. Returns the number
    /// of checks and the violations; with `settle`, what was uncertain becomes what was found
    /// (a creation never answered is adopted by its display name).
    pub(crate) fn reconcile_policies(
        &mut self,
        listed: &HashMap<String, Policy>,
        settle: bool,
        replica: usize,
    ) -> (u64, Vec<String>) {
        let mut checks = 0;
        let mut violations = Vec::new();
        for (id, expect) in &mut self.policies {
            let actual = listed.get(id).cloned();
            checks += 1;
            if !expect.allows(&actual) {
                violations.push(format!(
                    "replica {replica}: policy {id} is {actual:?}, acknowledged {:?} (or unanswered {:?})",
                    expect.known, expect.maybe
                ));
            } else if settle {
                expect.settle(actual);
            }
        }
        if settle {
            for name in std::mem::take(&mut self.unanswered_policy_creates) {
                if let Some((id, p)) = listed.iter().find(|(id, p)| {
                    p.display_name == name && !self.policies.contains_key(id.as_str())
                }) {
                    self.policies
                        .insert(id.clone(), Expect::acked(Some(p.clone())));
                }
            }
        }
        (checks, violations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unanswered_write_widens_what_is_allowed_until_settled() {
        let mut e = Expect::acked(Some("a".to_owned()));
        assert!(e.allows(&Some("a".into())) && !e.allows(&None));
        e.unanswered(None);
        assert!(e.allows(&None) && e.allows(&Some("a".into())));
        assert!(!e.allows(&Some("b".into())));
        e.settle(None);
        assert!(e.is_certain() && !e.allows(&Some("a".into())));
    }

    #[test]
    fn policies_read_back_from_their_graph_form() {
        let p = Policy {
            display_name: "soak 1".into(),
            access_token_seconds: 2 * 3600 + 35 * 60,
            org_default: true,
        };
        let mut listed = p.body();
        listed["id"] = "x".into();
        assert_eq!(Policy::from_graph(&listed), Some(("x".into(), p)));
        assert_eq!(timespan_seconds("1.02:00:00"), Some(93_600));
        assert_eq!(timespan_seconds("0:30:00"), Some(1800));
    }
}
