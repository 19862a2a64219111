//! A short soak with faults: mixed traffic (client credentials, refresh-token rotation,
//! Graph user creation) against `tessera serve` while the server is SIGKILLed at a random
//! moment and restarted on the same data, five times. After every restart: every user whose
//! creation was acknowledged with 201 is there, the refresh token the client last received
//! redeems, the signing key is unchanged; and no request ever got a 5xx. The long version
//! and its counts belong in RELIABILITY.md.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::Running;

#[derive(Default)]
struct Seen {
    requests: u64,
    server_errors: Vec<String>,
    created: Vec<String>,
    refresh_token: String,
}

/// xorshift64*: the kill times are random but reproducible from the printed seed.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed >> 12;
    *seed ^= *seed << 25;
    *seed ^= *seed >> 27;
    seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn field(demo: &Value, pointer: &str) -> String {
    demo.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("demo.json has no {pointer}"))
        .to_owned()
}

fn client(demo: &Value) -> reqwest::blocking::Client {
    let ca = std::fs::read(field(demo, "/ca_cert")).expect("CA");
    reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("pem")])
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// One round of traffic until `stop`: what was acknowledged goes into `seen`.
fn traffic(demo: &Value, seen: Arc<Mutex<Seen>>, stop: Arc<AtomicBool>, round: usize) {
    let http = client(demo);
    let authority = field(demo, "/authority");
    let graph = field(demo, "/graph_url");
    let (daemon, secret) = (
        field(demo, "/daemon/client_id"),
        field(demo, "/daemon/client_secret"),
    );
    let public = field(demo, "/public_client/client_id");
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", daemon.as_str()),
            ("client_secret", secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ];
        let Ok(r) = http
            .post(format!("{authority}/oauth2/v2.0/token"))
            .form(&form)
            .send()
        else {
            continue; // killed: no answer is not a wrong answer
        };
        let status = r.status().as_u16();
        let body: Value = r.json().unwrap_or(Value::Null);
        let note = |what: &str, status: u16| {
            let mut g = seen.lock().expect("seen");
            g.requests += 1;
            if status >= 500 {
                g.server_errors.push(format!("{what}: {status}"));
            }
        };
        note("token", status);
        let Some(token) = body["access_token"].as_str() else {
            continue;
        };
        let upn = format!("soak.{round}.{n}@demo.tessera.test");
        let user = serde_json::json!({
            "accountEnabled": true, "displayName": "Soak", "mailNickname": format!("soak{round}x{n}"),
            "userPrincipalName": upn,
            "passwordProfile": {"forceChangePasswordNextSignIn": false, "password": "Soak-Pass-12345"}
        });
        if let Ok(r) = http
            .post(format!("{graph}/users"))
            .bearer_auth(token)
            .json(&user)
            .send()
        {
            let status = r.status().as_u16();
            note("create user", status);
            if status == 201
                && let Some(id) = r
                    .json::<Value>()
                    .ok()
                    .and_then(|v| v["id"].as_str().map(str::to_owned))
            {
                seen.lock().expect("seen").created.push(id);
            }
        }
        let rt = seen.lock().expect("seen").refresh_token.clone();
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", public.as_str()),
            ("refresh_token", rt.as_str()),
        ];
        if let Ok(r) = http
            .post(format!("{authority}/oauth2/v2.0/token"))
            .form(&form)
            .send()
        {
            let status = r.status().as_u16();
            note("refresh", status);
            if let Some(new_rt) = r
                .json::<Value>()
                .ok()
                .and_then(|v| v["refresh_token"].as_str().map(str::to_owned))
            {
                seen.lock().expect("seen").refresh_token = new_rt;
            }
        }
    }
}

#[test]
#[allow(clippy::print_stderr)] // the counts, shown with --nocapture
fn sigkill_under_traffic_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_nanos() as u64
        | 1;
    eprintln!("soak seed {seed}");
    let mut s = Running::start(&data, &[]);
    let (status, body) = s.token(&[
        ("grant_type", "password"),
        ("client_id", &s.str("/public_client/client_id")),
        ("username", &s.str("/user/username")),
        ("password", &s.str("/user/password")),
        ("scope", "User.Read offline_access"),
    ]);
    assert_eq!(status, 200, "{body}");
    let seen = Arc::new(Mutex::new(Seen {
        refresh_token: body["refresh_token"].as_str().expect("rt").to_owned(),
        ..Seen::default()
    }));
    let kid = |s: &Running| -> String {
        let jwks: Value = client(&s.demo)
            .get(format!("{}/discovery/v2.0/keys", s.str("/authority")))
            .send()
            .expect("jwks")
            .json()
            .expect("json");
        jwks["keys"][0]["kid"].as_str().expect("kid").to_owned()
    };
    let first_kid = kid(&s);
    let started = Instant::now();
    let (mut kills, mut checks) = (0, 0);
    for round in 0..5 {
        let stop = Arc::new(AtomicBool::new(false));
        let worker = {
            let (seen, stop) = (seen.clone(), stop.clone());
            let demo = s.demo.clone();
            std::thread::spawn(move || traffic(&demo, seen, stop, round))
        };
        std::thread::sleep(Duration::from_millis(1500 + next(&mut seed) % 2500));
        let _ = s.kill9();
        kills += 1;
        stop.store(true, Ordering::SeqCst);
        worker.join().expect("traffic");
        s = Running::start(&data, &[]);
        // Invariants, each checked against the restarted server.
        assert_eq!(kid(&s), first_kid, "the signing key survives");
        let http = client(&s.demo);
        let (status, cc) = s.token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &s.str("/daemon/client_id")),
            ("client_secret", &s.str("/daemon/client_secret")),
            ("scope", "https://graph.microsoft.com/.default"),
        ]);
        assert_eq!(status, 200, "{cc}");
        let token = cc["access_token"].as_str().expect("at").to_owned();
        let (created, rt) = {
            let g = seen.lock().expect("seen");
            (g.created.clone(), g.refresh_token.clone())
        };
        for id in &created {
            let r = http
                .get(format!("{}/users/{id}", s.str("/graph_url")))
                .bearer_auth(&token)
                .send()
                .expect("get user");
            assert_eq!(
                r.status().as_u16(),
                200,
                "acknowledged user {id} survives kill {kills}"
            );
            checks += 1;
        }
        let (status, body) = s.token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &s.str("/public_client/client_id")),
            ("refresh_token", &rt),
        ]);
        assert_eq!(
            status, 200,
            "the last refresh token received redeems after kill {kills}: {body}"
        );
        checks += 2;
        seen.lock().expect("seen").refresh_token =
            body["refresh_token"].as_str().expect("rt").to_owned();
    }
    let g = seen.lock().expect("seen");
    eprintln!(
        "soak: {} requests, {kills} kills, {checks} invariant checks, {} users acknowledged, {} 5xx, {:.0} s",
        g.requests,
        g.created.len(),
        g.server_errors.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        g.server_errors.is_empty(),
        "5xx answers: {:?}",
        g.server_errors
    );
    assert!(g.requests > 50 && !g.created.is_empty(), "traffic ran");
    drop(g);
    s.stop();
}
