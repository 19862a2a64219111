//! The soak's clients. Each is a thread with its own HTTPS client and its own objects: a
//! daemon's access token (client credentials), two refresh-token chains (one begun with the
//! password grant, one with the device code flow, approved through test mode), Graph users
//! it creates, renames and deletes, and Graph pages it walks; client 0 also changes token
//! lifetime policies. Requests go to the replicas in turn; one that cannot connect goes to
//! the next (fail-over), and so does any read or token request whose answer was lost. What
//! each write's answer was goes into the model.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};

use super::model::{Approved, Chain, Expect, Model, Policy};
use super::next;

/// Where the servers are and the demo tenant's credentials.
pub(crate) struct Targets {
    pub(crate) bases: Vec<String>,
    pub(crate) tenant: String,
    pub(crate) daemon: (String, String),
    pub(crate) public_client: String,
    /// One user (name, password) per client, so that no two clients send the same password
    /// grant: Entra takes 15 identical token requests in 5 minutes for a loop (AADSTS50196).
    pub(crate) users: Vec<(String, String)>,
    pub(crate) demo: Value,
}

impl Targets {
    pub(crate) fn authority(&self, replica: usize) -> String {
        format!("{}/{}", self.bases[replica], self.tenant)
    }

    pub(crate) fn token_url(&self, replica: usize) -> String {
        format!("{}/oauth2/v2.0/token", self.authority(replica))
    }

    pub(crate) fn graph(&self, replica: usize) -> String {
        format!("{}/v1.0", self.bases[replica])
    }
}

/// Requests per second for everyone together; 0 means as fast as answers come.
pub(crate) struct Pacer {
    start: Instant,
    interval_ns: AtomicU64,
    next_ns: AtomicU64,
}

impl Pacer {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            interval_ns: AtomicU64::new(0),
            next_ns: AtomicU64::new(0),
        }
    }

    pub(crate) fn set_rate(&self, per_second: f64) {
        let interval = if per_second > 0.0 {
            (1e9 / per_second) as u64
        } else {
            0
        };
        self.interval_ns.store(interval, Relaxed);
    }

    /// Waits for this request's slot. A slot missed by more than a quarter second (the
    /// servers were down, or traffic was paused for a check) is not made up in a burst.
    fn wait(&self) {
        let interval = self.interval_ns.load(Relaxed);
        if interval == 0 {
            return;
        }
        let slot = loop {
            let now = self.start.elapsed().as_nanos() as u64;
            let current = self.next_ns.load(Relaxed);
            let slot = current.max(now.saturating_sub(250_000_000));
            if self
                .next_ns
                .compare_exchange(current, slot + interval, Relaxed, Relaxed)
                .is_ok()
            {
                break slot;
            }
        };
        let now = self.start.elapsed().as_nanos() as u64;
        if slot > now {
            std::thread::sleep(Duration::from_nanos(slot - now));
        }
    }
}

#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) sent: AtomicU64,
    pub(crate) answered: AtomicU64,
    pub(crate) ok: AtomicU64,
    pub(crate) client_errors: AtomicU64,
    pub(crate) throttled: AtomicU64,
    pub(crate) server_errors: AtomicU64,
    pub(crate) connect_errors: AtomicU64,
    pub(crate) lost_answers: AtomicU64,
    pub(crate) tokens: AtomicU64,
    pub(crate) refreshes: AtomicU64,
    pub(crate) passwords: AtomicU64,
    pub(crate) device_codes: AtomicU64,
    pub(crate) pages: AtomicU64,
    pub(crate) users_created: AtomicU64,
    pub(crate) users_renamed: AtomicU64,
    pub(crate) users_deleted: AtomicU64,
    pub(crate) policy_writes: AtomicU64,
    pub(crate) unanswered_writes: AtomicU64,
    /// Writes answered 404 by a replica that had not yet heard of the object's last write
    /// on the other (and then sent to that one).
    pub(crate) lagging: AtomicU64,
}

/// A 5xx, or a request that could not be sent or whose answer was lost: when and where.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) at: Instant,
    pub(crate) replica: usize,
    pub(crate) what: String,
}

/// What the clients and the driver share.
pub(crate) struct Shared {
    pub(crate) targets: Targets,
    pub(crate) model: Mutex<Model>,
    /// Clients hold it to read for each operation; a check holds it to write, so it sees a
    /// still model.
    pub(crate) gate: RwLock<()>,
    pub(crate) stop: AtomicBool,
    pub(crate) pacer: Pacer,
    pub(crate) stats: Stats,
    pub(crate) server_errors: Mutex<Vec<Event>>,
    pub(crate) transport_errors: Mutex<Vec<Event>>,
    pub(crate) violations: Mutex<Vec<String>>,
}

impl Shared {
    pub(crate) fn new(targets: Targets) -> Self {
        Self {
            targets,
            model: Mutex::default(),
            gate: RwLock::new(()),
            stop: AtomicBool::new(false),
            pacer: Pacer::new(),
            stats: Stats::default(),
            server_errors: Mutex::default(),
            transport_errors: Mutex::default(),
            violations: Mutex::default(),
        }
    }

    pub(crate) fn violation(&self, what: String) {
        self.violations.lock().expect("violations").push(what);
    }

    pub(crate) fn model(&self) -> std::sync::MutexGuard<'_, Model> {
        self.model.lock().expect("model")
    }
}

/// How a request ended.
pub(crate) enum Sent {
    Answer {
        status: u16,
        body: Value,
        replica: usize,
    },
    /// No answer. `sent`: the request may have reached a server (and may have been done).
    Lost { sent: bool },
}

/// The AADSTS or Graph error code of an error body, for messages (never a token).
pub(crate) fn error_code(body: &Value) -> String {
    if let Some(n) = body["error_codes"][0].as_u64() {
        return format!("AADSTS{n}");
    }
    body["error"]["code"]
        .as_str()
        .or_else(|| body["error"].as_str())
        .unwrap_or("-")
        .to_owned()
}

/// Sends one request to `first`, or on to the next replica when it could not connect (or,
/// for `safe` requests, when its answer was lost). Counts it and notes 5xx and lost answers.
pub(crate) fn call(
    shared: &Shared,
    http: &Client,
    first: usize,
    what: &str,
    safe: bool,
    build: impl Fn(&Client, usize) -> RequestBuilder,
) -> Sent {
    let n = shared.targets.bases.len();
    let stats = &shared.stats;
    let mut sent = false;
    for attempt in 0..n.clamp(1, 2) {
        let replica = (first + attempt) % n;
        shared.pacer.wait();
        stats.sent.fetch_add(1, Relaxed);
        let failed = match build(http, replica).send() {
            Ok(r) => {
                let status = r.status().as_u16();
                match r.bytes() {
                    Ok(bytes) => {
                        stats.answered.fetch_add(1, Relaxed);
                        let counter = match status {
                            200..=299 => &stats.ok,
                            429 => &stats.throttled,
                            500.. => &stats.server_errors,
                            _ => &stats.client_errors,
                        };
                        counter.fetch_add(1, Relaxed);
                        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                        if status >= 500 {
                            shared.server_errors.lock().expect("events").push(Event {
                                at: Instant::now(),
                                replica,
                                what: format!("{what}: {status} {}", error_code(&body)),
                            });
                        }
                        return Sent::Answer {
                            status,
                            body,
                            replica,
                        };
                    }
                    Err(_) => "answer cut off",
                }
            }
            Err(e) if e.is_connect() => "could not connect",
            Err(e) if e.is_timeout() => "timed out",
            Err(_) => "answer lost",
        };
        let connect = failed == "could not connect";
        if connect {
            stats.connect_errors.fetch_add(1, Relaxed);
        } else {
            stats.lost_answers.fetch_add(1, Relaxed);
            sent = true;
        }
        shared.transport_errors.lock().expect("events").push(Event {
            at: Instant::now(),
            replica,
            what: format!("{what}: {failed}"),
        });
        if !connect && !safe {
            break;
        }
    }
    Sent::Lost { sent }
}

pub(crate) struct Worker {
    id: usize,
    shared: Arc<Shared>,
    http: Client,
    rng: u64,
    turn: usize,
    seq: u64,
    daemon_token: Option<String>,
    last_password: Option<Instant>,
    users: Vec<String>,
    /// The replica that last acknowledged a write of each object, and when.
    written: HashMap<String, (usize, Instant)>,
}

const USERS_PER_CLIENT: usize = 12;
const POLICIES: usize = 3;

impl Worker {
    pub(crate) fn new(id: usize, shared: Arc<Shared>, seed: u64) -> Self {
        let http = super::cluster::client(&shared.targets.demo, Duration::from_secs(10));
        Self {
            id,
            shared,
            http,
            rng: (seed ^ (id as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1,
            turn: id,
            seq: 0,
            daemon_token: None,
            last_password: None,
            written: HashMap::new(),
            users: Vec::new(),
        }
    }

    fn roll(&mut self, n: u64) -> u64 {
        next(&mut self.rng) % n
    }

    fn replica(&mut self) -> usize {
        self.turn = self.turn.wrapping_add(1);
        self.turn % self.shared.targets.bases.len()
    }

    /// Operations until told to stop.
    pub(crate) fn run(mut self) {
        let shared = self.shared.clone();
        while !shared.stop.load(Relaxed) {
            let _gate = shared.gate.read().expect("gate");
            if shared.stop.load(Relaxed) {
                break;
            }
            self.step();
        }
    }

    fn step(&mut self) {
        if self.chain(0).is_none() && self.may_sign_in() {
            return self.password();
        }
        if self.chain(1).is_none() {
            return self.device_code();
        }
        if self.daemon_token.is_none() {
            return self.client_credentials();
        }
        // Weights out of 100; client 0 spends some of its Graph writes on policies.
        match self.roll(100) {
            0..=24 => self.client_credentials(),
            25..=49 => {
                let chain = usize::from(self.roll(4) == 0);
                self.refresh(chain);
            }
            50..=51 => self.password(),
            52..=55 => self.device_code(),
            56..=71 => self.page(),
            72..=79 if self.id == 0 => self.policy(),
            _ => self.user_write(),
        }
    }

    fn token(&mut self, what: &str, safe: bool, form: Vec<(&str, String)>) -> Sent {
        let first = self.replica();
        let shared = self.shared.clone();
        call(&shared, &self.http, first, what, safe, |http, r| {
            http.post(shared.targets.token_url(r)).form(&form)
        })
    }

    fn client_credentials(&mut self) {
        let (id, secret) = self.shared.targets.daemon.clone();
        let sent = self.token(
            "client credentials",
            true,
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", id),
                ("client_secret", secret),
                ("scope", "https://graph.microsoft.com/.default".into()),
            ],
        );
        match sent {
            Sent::Answer {
                status: 200, body, ..
            } => {
                self.shared.stats.tokens.fetch_add(1, Relaxed);
                self.daemon_token = body["access_token"].as_str().map(str::to_owned);
            }
            Sent::Answer { status, body, .. } => self.refused("client credentials", status, &body),
            Sent::Lost { .. } => {}
        }
    }

    /// An answer no correct server gives this client: a violation (429 only counted).
    fn refused(&self, what: &str, status: u16, body: &Value) {
        if status != 429 && status < 500 {
            self.shared.violation(format!(
                "client {}: {what} answered {status} {}",
                self.id,
                error_code(body)
            ));
        }
    }

    fn may_sign_in(&self) -> bool {
        self.last_password
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(30))
    }

    /// The refresh token this client last received on a chain. It lives in the model: a
    /// check redeems it too, and the client goes on with what the check received.
    fn chain(&self, chain: u8) -> Option<String> {
        let m = self.shared.model();
        m.chains
            .get(&(self.id, chain))
            .map(|c| c.refresh_token.clone())
    }

    fn keep_chain(&mut self, chain: usize, body: &Value, replica: usize) {
        if let Some(rt) = body["refresh_token"].as_str() {
            self.shared.model().chains.insert(
                (self.id, chain as u8),
                Chain {
                    refresh_token: rt.to_owned(),
                    from: replica,
                },
            );
        }
    }

    /// A new chain with the password grant, at most twice a minute (a person signing in
    /// again, not a loop); more often, the chain is refreshed instead.
    fn password(&mut self) {
        if !self.may_sign_in() {
            return self.refresh(0);
        }
        self.last_password = Some(Instant::now());
        let t = &self.shared.targets;
        let (user, password) = t.users[self.id].clone();
        let form = vec![
            ("grant_type", "password".into()),
            ("client_id", t.public_client.clone()),
            ("username", user),
            ("password", password),
            ("scope", "User.Read offline_access".into()),
        ];
        match self.token("password", true, form) {
            Sent::Answer {
                status: 200,
                body,
                replica,
            } => {
                self.shared.stats.passwords.fetch_add(1, Relaxed);
                self.keep_chain(0, &body, replica);
            }
            Sent::Answer { status, body, .. } => self.refused("password grant", status, &body),
            Sent::Lost { .. } => {}
        }
    }

    fn refresh(&mut self, chain: usize) {
        let Some(rt) = self.chain(chain as u8) else {
            return self.client_credentials();
        };
        let form = vec![
            ("grant_type", "refresh_token".into()),
            ("client_id", self.shared.targets.public_client.clone()),
            ("refresh_token", rt),
        ];
        match self.token("refresh", true, form) {
            Sent::Answer {
                status: 200,
                body,
                replica,
            } => {
                self.shared.stats.refreshes.fetch_add(1, Relaxed);
                self.keep_chain(chain, &body, replica);
            }
            Sent::Answer { status, body, .. } => {
                self.refused("the refresh token it last received", status, &body)
            }
            Sent::Lost { .. } => {}
        }
    }

    /// Device code: ask for a code, approve it through test mode, redeem it. An approval
    /// acknowledged (204) is a write: if the redemption gets no answer, the check redeems it.
    fn device_code(&mut self) {
        let shared = self.shared.clone();
        let t = &shared.targets;
        let first = self.replica();
        let form = [
            ("client_id", t.public_client.as_str()),
            ("scope", "User.Read offline_access"),
        ];
        let Sent::Answer {
            status: 200, body, ..
        } = call(&shared, &self.http, first, "devicecode", true, |h, r| {
            h.post(format!("{}/oauth2/v2.0/devicecode", t.authority(r)))
                .form(&form)
        })
        else {
            return;
        };
        let (Some(device_code), Some(user_code)) =
            (body["device_code"].as_str(), body["user_code"].as_str())
        else {
            return shared.violation("devicecode answered 200 without codes".into());
        };
        let approval = json!({"user_code": user_code, "user": t.users[self.id].0});
        let first = self.replica();
        match call(
            &shared,
            &self.http,
            first,
            "device approve",
            false,
            |h, r| {
                h.post(format!("{}/_tessera/test/device-approve", t.bases[r]))
                    .json(&approval)
            },
        ) {
            Sent::Answer { status: 204, .. } => {}
            Sent::Answer { status, body, .. } => {
                return self.refused("approving the code it was given", status, &body);
            }
            Sent::Lost { .. } => return,
        }
        let form = vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:device_code".into(),
            ),
            ("client_id", t.public_client.clone()),
            ("device_code", device_code.to_owned()),
        ];
        match self.token("device code redemption", false, form) {
            Sent::Answer {
                status: 200,
                body,
                replica,
            } => {
                shared.stats.device_codes.fetch_add(1, Relaxed);
                self.keep_chain(1, &body, replica);
            }
            Sent::Answer { status, body, .. } => {
                self.refused("redeeming an approved device code", status, &body);
            }
            Sent::Lost { sent } => shared.model().approved.push(Approved {
                device_code: device_code.to_owned(),
                poll_sent: sent,
            }),
        }
    }

    fn graph_token(&mut self) -> Option<String> {
        if self.daemon_token.is_none() {
            self.client_credentials();
        }
        self.daemon_token.clone()
    }

    /// Walks up to four pages of 25 users.
    fn page(&mut self) {
        let Some(token) = self.graph_token() else {
            return;
        };
        let shared = self.shared.clone();
        let first = self.replica();
        let mut url = format!(
            "{}/users?$top=25&$select=id,displayName",
            shared.targets.graph(first)
        );
        for _ in 0..4 {
            // A next link names the replica that made it; follow it there.
            let here = (0..shared.targets.bases.len())
                .find(|r| url.starts_with(&format!("{}/", shared.targets.bases[*r])))
                .unwrap_or(first);
            let sent = call(&shared, &self.http, here, "users page", true, |h, r| {
                let u = url.replacen(&shared.targets.bases[here], &shared.targets.bases[r], 1);
                h.get(u).bearer_auth(&token)
            });
            match sent {
                Sent::Answer {
                    status: 200, body, ..
                } => {
                    shared.stats.pages.fetch_add(1, Relaxed);
                    match body["@odata.nextLink"].as_str() {
                        Some(next) => url = next.to_owned(),
                        None => return,
                    }
                }
                Sent::Answer { status, body, .. } => {
                    return self.refused("a users page", status, &body);
                }
                Sent::Lost { .. } => return,
            }
        }
    }

    fn graph_write(
        &mut self,
        what: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Sent {
        let Some(token) = self.graph_token() else {
            return Sent::Lost { sent: false };
        };
        let shared = self.shared.clone();
        let http = self.http.clone();
        let send = |first: usize| {
            call(&shared, &http, first, what, false, |h, r| {
                let req = h
                    .request(method.clone(), format!("{}{path}", shared.targets.graph(r)))
                    .bearer_auth(&token);
                match body {
                    Some(b) => req.json(b),
                    None => req,
                }
            })
        };
        let object = path.rsplit('/').next().unwrap_or_default().to_owned();
        let mut sent = send(self.replica());
        // A replica learns of another's writes from the database a moment later (its caches
        // are dropped when the write is announced): an object written on the other replica
        // within the last 10 s may still be unknown here. Counted, and sent where it was
        // written; a 404 there is a violation as anywhere.
        if let Sent::Answer {
            status: 404,
            replica,
            ..
        } = sent
            && let Some((writer, at)) = self.written.get(&object)
            && *writer != replica
            && at.elapsed() < Duration::from_secs(10)
        {
            shared.stats.lagging.fetch_add(1, Relaxed);
            sent = send(*writer);
        }
        if let Sent::Answer {
            status: 200..=299,
            ref body,
            replica,
        } = sent
        {
            let id = body["id"].as_str().map_or(object, str::to_owned);
            self.written.insert(id, (replica, Instant::now()));
        }
        sent
    }

    /// Creates, renames or deletes one of its own users.
    fn user_write(&mut self) {
        self.seq += 1;
        let (id, seq) = (self.id, self.seq);
        let shared = self.shared.clone();
        let stats = &shared.stats;
        if self.users.is_empty() || (self.users.len() < USERS_PER_CLIENT && self.roll(3) == 0) {
            let name = format!("Soak {id}.{seq}");
            let upn = format!("soak.{id}.{seq}@{}", self.domain());
            let body = json!({
                "accountEnabled": true, "displayName": name, "mailNickname": format!("soak{id}x{seq}"),
                "userPrincipalName": upn,
                "passwordProfile": {"forceChangePasswordNextSignIn": false, "password": "Soak-Pass-12345"}
            });
            match self.graph_write("create user", reqwest::Method::POST, "/users", Some(&body)) {
                Sent::Answer {
                    status: 201, body, ..
                } => {
                    let Some(user) = body["id"].as_str() else {
                        return self.shared.violation("a user created without an id".into());
                    };
                    stats.users_created.fetch_add(1, Relaxed);
                    self.shared
                        .model()
                        .users
                        .insert(user.to_owned(), Expect::acked(Some(name)));
                    self.users.push(user.to_owned());
                }
                Sent::Answer { status, body, .. } => self.refused("creating a user", status, &body),
                Sent::Lost { sent } => {
                    if sent {
                        stats.unanswered_writes.fetch_add(1, Relaxed);
                    }
                }
            }
            return;
        }
        let at = self.roll(self.users.len() as u64) as usize;
        let user = self.users[at].clone();
        let (what, method, body, after) = if self.roll(10) < 7 {
            let name = format!("Soak {id}.{seq} renamed");
            let body = json!({"displayName": name});
            (
                "rename user",
                reqwest::Method::PATCH,
                Some(body),
                Some(name),
            )
        } else {
            ("delete user", reqwest::Method::DELETE, None, None)
        };
        let sent = self.graph_write(what, method, &format!("/users/{user}"), body.as_ref());
        match sent {
            Sent::Answer { status: 204, .. } => {
                let counter = if after.is_some() {
                    &stats.users_renamed
                } else {
                    self.users.swap_remove(at);
                    &stats.users_deleted
                };
                counter.fetch_add(1, Relaxed);
                if let Some(e) = self.shared.model().users.get_mut(&user) {
                    e.ack(after);
                }
            }
            Sent::Answer { status, body, .. } => self.refused(what, status, &body),
            Sent::Lost { sent: false } => {}
            Sent::Lost { sent: true } => {
                // Done or not: the check finds out; this client leaves the user alone.
                stats.unanswered_writes.fetch_add(1, Relaxed);
                self.users.swap_remove(at);
                if let Some(e) = self.shared.model().users.get_mut(&user) {
                    e.unanswered(after);
                }
            }
        }
    }

    fn domain(&self) -> String {
        let upn = &self.shared.targets.users[self.id].0;
        upn.rsplit('@').next().unwrap_or("").to_owned()
    }

    /// Client 0's policy changes: the organization default (whose lifetime the servers must
    /// then apply) and a few others, each created, changed and deleted through Graph.
    fn policy(&mut self) {
        self.seq += 1;
        let shared = self.shared.clone();
        let uncertain = {
            let m = shared.model();
            m.org_default().is_err()
        };
        if uncertain && !self.resync_policies() {
            return;
        }
        let (org, others): (Option<String>, Vec<String>) = {
            let m = shared.model();
            let org = m.org_default().ok().flatten().map(|(id, _)| id);
            let others = m
                .policies
                .iter()
                .filter(|(_, p)| p.known.as_ref().is_some_and(|p| !p.org_default))
                .map(|(id, _)| id.clone())
                .collect();
            (org, others)
        };
        let org_default = self.roll(2) == 0;
        let target = if org_default {
            org
        } else if others.len() < POLICIES && (others.is_empty() || self.roll(2) == 0) {
            None
        } else {
            Some(others[self.roll(others.len() as u64) as usize].clone())
        };
        let policy = Policy {
            display_name: format!("soak policy {}", self.seq),
            access_token_seconds: (30 + 5 * self.roll(43) as i64) * 60,
            org_default,
        };
        let stats = &shared.stats;
        let Some(id) = target else {
            let sent = self.graph_write(
                "create policy",
                reqwest::Method::POST,
                "/policies/tokenLifetimePolicies",
                Some(&policy.body()),
            );
            match sent {
                Sent::Answer {
                    status: 201, body, ..
                } => match body["id"].as_str() {
                    Some(id) => {
                        stats.policy_writes.fetch_add(1, Relaxed);
                        shared
                            .model()
                            .policies
                            .insert(id.to_owned(), Expect::acked(Some(policy)));
                    }
                    None => shared.violation("a policy created without an id".into()),
                },
                Sent::Answer { status, body, .. } => {
                    self.refused("creating a policy", status, &body)
                }
                Sent::Lost { sent: false } => {}
                Sent::Lost { sent: true } => {
                    stats.unanswered_writes.fetch_add(1, Relaxed);
                    shared
                        .model()
                        .unanswered_policy_creates
                        .push(policy.display_name);
                }
            }
            return;
        };
        let path = format!("/policies/tokenLifetimePolicies/{id}");
        let (what, sent, after) = if self.roll(10) < 7 {
            let after = Policy {
                display_name: shared.model().policies[&id]
                    .known
                    .as_ref()
                    .map(|p| p.display_name.clone())
                    .unwrap_or_default(),
                ..policy
            };
            let body = after.body();
            let sent =
                self.graph_write("change policy", reqwest::Method::PATCH, &path, Some(&body));
            ("change policy", sent, Some(after))
        } else {
            let sent = self.graph_write("delete policy", reqwest::Method::DELETE, &path, None);
            ("delete policy", sent, None)
        };
        let mut m = shared.model();
        let Some(e) = m.policies.get_mut(&id) else {
            return;
        };
        match sent {
            Sent::Answer { status: 204, .. } => {
                stats.policy_writes.fetch_add(1, Relaxed);
                e.ack(after);
            }
            Sent::Answer { status, body, .. } => {
                drop(m);
                self.refused(what, status, &body);
            }
            Sent::Lost { sent: false } => {}
            Sent::Lost { sent: true } => {
                stats.unanswered_writes.fetch_add(1, Relaxed);
                e.unanswered(after);
            }
        }
    }

    /// After a policy write whose answer was lost: read what the server has (which must be
    /// one of the possible outcomes) and go on from there.
    fn resync_policies(&mut self) -> bool {
        let Some(token) = self.graph_token() else {
            return false;
        };
        let shared = self.shared.clone();
        let first = self.replica();
        let Ok(listed) = list_policies(&shared, &self.http, first, &token) else {
            return false;
        };
        let (_, violations) = shared.model().reconcile_policies(&listed, true, first);
        for v in violations {
            shared.violation(v);
        }
        true
    }
}

/// Every item of a Graph collection, following next links (on the same replica).
pub(crate) fn list_all(
    shared: &Shared,
    http: &Client,
    replica: usize,
    path: &str,
    token: &str,
) -> Result<Vec<Value>, String> {
    let mut url = format!("{}{path}", shared.targets.graph(replica));
    let mut items = Vec::new();
    loop {
        let r = http
            .get(&url)
            .bearer_auth(token)
            .send()
            .map_err(|e| format!("GET {path} on replica {replica}: {}", e.without_url()))?;
        let status = r.status().as_u16();
        let body: Value = r.json().unwrap_or(Value::Null);
        if status != 200 {
            return Err(format!(
                "GET {path} on replica {replica}: {status} {}",
                error_code(&body)
            ));
        }
        items.extend(body["value"].as_array().cloned().unwrap_or_default());
        match body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => return Ok(items),
        }
    }
}

pub(crate) fn list_policies(
    shared: &Shared,
    http: &Client,
    replica: usize,
    token: &str,
) -> Result<HashMap<String, Policy>, String> {
    let items = list_all(
        shared,
        http,
        replica,
        "/policies/tokenLifetimePolicies",
        token,
    )?;
    Ok(items.iter().filter_map(Policy::from_graph).collect())
}
