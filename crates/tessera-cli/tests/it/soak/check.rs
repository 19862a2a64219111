//! The invariants, checked on every replica while the clients wait (after every restart and
//! at the end): the signing keys are the ones of the start; every user and policy write
//! acknowledged is there (a write never answered may or may not be); the organization
//! default lifetime acknowledged is the one in force; the refresh token each client last
//! received redeems; a device code whose approval was acknowledged redeems. On several
//! replicas a read may trail a write made on another for a moment (their caches learn of it
//! from the database): such a read is retried for up to 10 seconds, and counted.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::Value;

use super::model::{Chain, Policy};
use super::traffic::{Shared, Targets, error_code, list_all, list_policies};

/// The signing keys a replica publishes: (kid, modulus).
pub(crate) fn jwks(
    shared: &Shared,
    http: &Client,
    replica: usize,
) -> Result<Vec<(String, String)>, String> {
    let url = format!("{}/discovery/v2.0/keys", shared.targets.authority(replica));
    let body: Value = http
        .get(&url)
        .send()
        .and_then(reqwest::blocking::Response::json)
        .map_err(|e| format!("JWKS of replica {replica}: {}", e.without_url()))?;
    let mut keys: Vec<(String, String)> = body["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .map(|k| {
                    (
                        k["kid"].as_str().unwrap_or_default().to_owned(),
                        k["n"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    keys.sort();
    Ok(keys)
}

/// POSTs a form to a replica's token endpoint: the status and the JSON answer.
fn post_token(
    http: &Client,
    t: &Targets,
    replica: usize,
    form: &[(&str, &str)],
) -> Result<(u16, Value), String> {
    let r = http
        .post(t.token_url(replica))
        .form(form)
        .send()
        .map_err(|e| format!("replica {replica}: {}", e.without_url()))?;
    let status = r.status().as_u16();
    Ok((status, r.json().unwrap_or(Value::Null)))
}

/// A Graph token for the demo daemon from the first replica that gives one.
pub(crate) fn daemon_token(http: &Client, t: &Targets) -> Result<String, String> {
    let mut last = String::new();
    for r in 0..t.bases.len() {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", t.daemon.0.as_str()),
            ("client_secret", t.daemon.1.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ];
        match post_token(http, t, r, &form) {
            Ok((200, body)) => {
                return body["access_token"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "no access_token".into());
            }
            Ok((status, body)) => {
                last = format!("client credentials answered {status} {}", error_code(&body));
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tally {
    pub(crate) checks: u64,
    /// Reads on one replica that showed another's acknowledged write only after a retry.
    pub(crate) lagging: u64,
}

pub(crate) struct Checker {
    pub(crate) http: Client,
    pub(crate) keys: Vec<(String, String)>,
}

impl Checker {
    fn token(&self, shared: &Shared) -> Result<String, String> {
        daemon_token(&self.http, &shared.targets)
    }

    /// One round on every replica. The caller holds the gate, so the model stands still.
    pub(crate) fn round(&self, shared: &Shared) -> Tally {
        let mut tally = Tally::default();
        let token = match self.token(shared) {
            Ok(t) => t,
            Err(e) => {
                shared.violation(format!("check: no Graph token: {e}"));
                return tally;
            }
        };
        let replicas = shared.targets.bases.len();
        for r in 0..replicas {
            tally.checks += 1;
            match jwks(shared, &self.http, r) {
                Ok(keys) if keys == self.keys => {}
                Ok(keys) => shared.violation(format!(
                    "replica {r}: the signing keys changed: {:?} -> {:?}",
                    kids(&self.keys),
                    kids(&keys)
                )),
                Err(e) => shared.violation(e),
            }
        }
        for r in 0..replicas {
            self.users(shared, r, &token, replicas > 1, &mut tally);
        }
        self.policies(shared, &token, &mut tally);
        self.refresh_tokens(shared, &mut tally);
        self.device_codes(shared, &mut tally);
        tally
    }

    fn users(&self, shared: &Shared, r: usize, token: &str, may_lag: bool, tally: &mut Tally) {
        let listed = match list_all(
            shared,
            &self.http,
            r,
            "/users?$top=999&$select=id,displayName",
            token,
        ) {
            Ok(items) => items,
            Err(e) => return shared.violation(e),
        };
        let found: HashMap<String, String> = listed
            .iter()
            .filter_map(|u| {
                Some((
                    u["id"].as_str()?.to_owned(),
                    u["displayName"].as_str()?.to_owned(),
                ))
            })
            .collect();
        let mut model = shared.model();
        let settle = r + 1 == shared.targets.bases.len();
        for (id, expect) in &mut model.users {
            tally.checks += 1;
            let mut actual = found.get(id).cloned();
            if !expect.allows(&actual) && may_lag {
                tally.lagging += 1;
                let deadline = Instant::now() + Duration::from_secs(10);
                while !expect.allows(&actual) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(200));
                    actual = match self.user(shared, r, id, token) {
                        Ok(a) => a,
                        Err(e) => return shared.violation(e),
                    };
                }
            }
            if !expect.allows(&actual) {
                shared.violation(format!(
                    "replica {r}: user {id} is {actual:?}; acknowledged {:?} (unanswered writes would give {:?})",
                    expect.known, expect.maybe
                ));
            } else if settle {
                expect.settle(actual);
            }
        }
        // A few by id too (the cached path), certain ones only.
        let certain: Vec<(String, Option<String>)> = model
            .users
            .iter()
            .filter(|(_, e)| e.is_certain())
            .take(20)
            .map(|(id, e)| (id.clone(), e.known.clone()))
            .collect();
        drop(model);
        for (id, known) in certain {
            tally.checks += 1;
            let mut actual = self.user(shared, r, &id, token);
            let deadline = Instant::now() + Duration::from_secs(10);
            while may_lag && actual.as_ref().is_ok_and(|a| *a != known) && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(200));
                actual = self.user(shared, r, &id, token);
            }
            match actual {
                Ok(a) if a == known => {}
                Ok(a) => shared.violation(format!(
                    "replica {r}: GET /users/{id} shows {a:?}; acknowledged {known:?}"
                )),
                Err(e) => shared.violation(e),
            }
        }
    }

    /// A user's display name by id, `None` when Graph says 404.
    fn user(
        &self,
        shared: &Shared,
        r: usize,
        id: &str,
        token: &str,
    ) -> Result<Option<String>, String> {
        let url = format!(
            "{}/users/{id}?$select=id,displayName",
            shared.targets.graph(r)
        );
        let resp = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .map_err(|e| format!("GET user on replica {r}: {}", e.without_url()))?;
        match resp.status().as_u16() {
            200 => {
                let body: Value = resp.json().map_err(|e| e.to_string())?;
                Ok(body["displayName"].as_str().map(str::to_owned))
            }
            404 => Ok(None),
            s => Err(format!("GET user on replica {r}: {s}")),
        }
    }

    fn policies(&self, shared: &Shared, token: &str, tally: &mut Tally) {
        let replicas = shared.targets.bases.len();
        for r in 0..replicas {
            let listed = match list_policies(shared, &self.http, r, token) {
                Ok(l) => l,
                Err(e) => return shared.violation(e),
            };
            let (checks, violations) =
                shared
                    .model()
                    .reconcile_policies(&listed, r + 1 == replicas, r);
            tally.checks += checks;
            for v in violations {
                shared.violation(v);
            }
        }
        // The organization default acknowledged is the lifetime each replica applies.
        let Ok(org) = shared.model().org_default() else {
            return;
        };
        for r in 0..replicas {
            tally.checks += 1;
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut first = true;
            loop {
                let seen = self.lifetime(shared, r, token);
                let right = match (&seen, &org) {
                    (Ok((source, seconds, id)), Some((org_id, p))) => {
                        source == "organization-policy"
                            && *seconds == Some(p.access_token_seconds)
                            && id.as_deref() == Some(org_id.as_str())
                    }
                    (Ok((source, _, _)), None) => source == "default",
                    (Err(_), _) => false,
                };
                if right {
                    break;
                }
                if replicas == 1 || Instant::now() >= deadline {
                    shared.violation(format!(
                        "replica {r}: access token lifetime {seen:?}, acknowledged organization default {:?}",
                        org.as_ref().map(|(id, p): &(String, Policy)| (id, p.access_token_seconds))
                    ));
                    break;
                }
                if first {
                    tally.lagging += 1;
                    first = false;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }

    /// What `/_tessera/lifetime` says of the daemon's Graph tokens: source, seconds, policy.
    #[allow(clippy::type_complexity)]
    fn lifetime(
        &self,
        shared: &Shared,
        r: usize,
        token: &str,
    ) -> Result<(String, Option<i64>, Option<String>), String> {
        let t = &shared.targets;
        let resp = self
            .http
            .get(format!("{}/_tessera/lifetime", t.bases[r]))
            .query(&[
                ("client_id", t.daemon.0.as_str()),
                ("resource", "https://graph.microsoft.com"),
            ])
            .bearer_auth(token)
            .send()
            .map_err(|e| e.without_url().to_string())?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().unwrap_or(Value::Null);
        if status != 200 {
            return Err(format!("{status} {}", error_code(&body)));
        }
        let at = &body["accessToken"];
        Ok((
            at["source"].as_str().unwrap_or_default().to_owned(),
            at["seconds"].as_i64(),
            at["policyId"].as_str().map(str::to_owned),
        ))
    }

    /// The refresh token each client last received redeems, then the one that gave on the
    /// next replica, and so on: a token received from one replica redeems on the other. The
    /// client goes on with the last one (never the same token twice, so never a loop).
    fn refresh_tokens(&self, shared: &Shared, tally: &mut Tally) {
        let t = &shared.targets;
        let chains: Vec<_> = shared
            .model()
            .chains
            .iter()
            .map(|(k, c)| (*k, c.clone()))
            .collect();
        for ((client, chain), mut c) in chains {
            let start = c.from;
            for step in 1..=t.bases.len() {
                let r = (start + step) % t.bases.len();
                tally.checks += 1;
                let form = [
                    ("grant_type", "refresh_token"),
                    ("client_id", t.public_client.as_str()),
                    ("refresh_token", c.refresh_token.as_str()),
                ];
                let refused = match post_token(&self.http, t, r, &form) {
                    Ok((200, body)) if body["refresh_token"].is_string() => {
                        c = Chain {
                            refresh_token: body["refresh_token"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                            from: r,
                        };
                        shared.model().chains.insert((client, chain), c.clone());
                        continue;
                    }
                    Ok((status, body)) => format!("{status} {}", error_code(&body)),
                    Err(e) => e,
                };
                shared.violation(format!(
                    "replica {r}: client {client}'s last refresh token (chain {chain}, from replica {}): {refused}",
                    c.from
                ));
                break;
            }
        }
    }

    /// Device codes whose approval was acknowledged but whose tokens never arrived redeem
    /// now (or, if a redemption was sent, were redeemed then).
    fn device_codes(&self, shared: &Shared, tally: &mut Tally) {
        let t = &shared.targets;
        let approved = std::mem::take(&mut shared.model().approved);
        for (i, a) in approved.iter().enumerate() {
            tally.checks += 1;
            let r = i % t.bases.len();
            let form = [
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", t.public_client.as_str()),
                ("device_code", a.device_code.as_str()),
            ];
            match post_token(&self.http, t, r, &form) {
                Ok((200, _)) => {}
                // AADSTS54005: already redeemed, by the redemption whose answer was lost.
                Ok((_, body)) if a.poll_sent && error_code(&body) == "AADSTS54005" => {}
                Ok((status, body)) => shared.violation(format!(
                    "replica {r}: an approved device code answered {status} {}",
                    error_code(&body)
                )),
                Err(e) => shared.violation(format!("device code: {e}")),
            }
        }
    }
}

fn kids(keys: &[(String, String)]) -> Vec<&str> {
    keys.iter().map(|(k, _)| k.as_str()).collect()
}
