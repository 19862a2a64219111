//! Cache benchmarks for BENCHMARKS.md (run with --release; see bench/cache/run.sh):
//! `hit N` times exact in-memory hits with N other entries cached; `store N DIR` times one
//! write into a persistent cache holding N entries; `cold DIR` is a new process reading one
//! entry, and all of them, from a persistent cache. Prints one `RESULT` line per measure.

use std::sync::Arc;
use std::time::Instant;

use tessera_client::{
    AccessToken, ClientSecretCredential, Credential, HttpOptions, PersistedToken, PersistentCache,
    Secret, TokenHttp, TokenProvider, TokenRequest,
};

fn token(n: usize) -> String {
    // About the size of a real Graph access token.
    format!("eyJ0eXAiOiJKV1Qi{n:0>1500}")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[allow(clippy::print_stdout)]
fn report(name: &str, value: f64, unit: &str) {
    println!("RESULT {name} {value:.3} {unit}");
}

fn key_file(dir: &str) -> std::path::PathBuf {
    std::path::Path::new(dir).join("cache.key")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("hit") => {
            let n: usize = args[2].parse().expect("entries");
            let credential: Arc<dyn Credential> = Arc::new(ClientSecretCredential {
                authority: tessera_client::Authority::public("contoso.onmicrosoft.com"),
                client_id: "00000000-0000-0000-0000-000000000001".into(),
                secret: Secret::new("unused: every token is inserted, none is fetched"),
            });
            let p = TokenProvider::new(
                credential,
                TokenHttp::new(HttpOptions::default()).expect("http"),
            );
            let far = i64::MAX / 4;
            for i in 0..n {
                p.insert(
                    &TokenRequest::new(&[&format!("api://resource-{i}/.default")]),
                    AccessToken {
                        token: Secret::new(token(i)),
                        expires_at: far,
                        refresh_at: far - 1,
                    },
                );
            }
            let request = TokenRequest::new(&["https://graph.microsoft.com/.default"]);
            p.insert(
                &request,
                AccessToken {
                    token: Secret::new(token(n)),
                    expires_at: far,
                    refresh_at: far - 1,
                },
            );
            let rounds = 200_000;
            let mut runs = Vec::new();
            for _ in 0..7 {
                let t = Instant::now();
                for _ in 0..rounds {
                    let got = p.token(&request).await.expect("hit");
                    std::hint::black_box(got);
                }
                runs.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(rounds));
            }
            assert_eq!(
                p.stats().fetches.load(std::sync::atomic::Ordering::Relaxed),
                0,
                "only hits were measured"
            );
            report(&format!("tessera_hit_{n}"), median(runs), "ns");
        }
        Some("store") => {
            let n: usize = args[2].parse().expect("entries");
            let dir = &args[3];
            let cache = PersistentCache::open_with_key_file(dir, &key_file(dir)).expect("cache");
            let entry = |i: usize| PersistedToken {
                access_token: token(i),
                expires_at: 4_000_000_000,
                refresh_at: 3_999_000_000,
                lifetime: 3600,
            };
            for i in 0..n {
                cache.put(&format!("entry-{i}"), &entry(i)).expect("put");
            }
            let mut runs = Vec::new();
            for i in 0..101 {
                let t = Instant::now();
                cache.put("the-new-token", &entry(n + i)).expect("put");
                runs.push(t.elapsed().as_secs_f64() * 1e3);
            }
            report(&format!("tessera_store_into_{n}"), median(runs), "ms");
        }
        Some("cold") => {
            let started = Instant::now();
            let dir = &args[2];
            let cache = PersistentCache::open_with_key_file(dir, &key_file(dir)).expect("cache");
            let one = cache.get("entry-7").expect("get").expect("present");
            let first = started.elapsed().as_secs_f64() * 1e3;
            std::hint::black_box(one);
            let n: usize = args[3].parse().expect("entries");
            let t = Instant::now();
            for i in 0..n {
                std::hint::black_box(
                    cache
                        .get(&format!("entry-{i}"))
                        .expect("get")
                        .expect("present"),
                );
            }
            report("tessera_cold_open_and_first_entry", first, "ms");
            report(
                &format!("tessera_cold_read_all_{n}"),
                t.elapsed().as_secs_f64() * 1e3,
                "ms",
            );
        }
        _ => panic!("usage: cache_bench hit N | store N DIR | cold DIR N"),
    }
}
