//! Argon2id password hashing off the async workers, on a few threads of its own. Each hash
//! takes 19 MiB and tens of milliseconds of CPU: run on tokio's blocking pool (up to 512
//! threads), 64 concurrent user creations held 7.4 GiB that the allocator kept afterwards.
//! Here at most one hash per core runs at once and the rest wait in line holding only their
//! inputs, so memory stays bounded whatever arrives.

use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use tessera_proto::clock::Random;

type Job = Box<dyn FnOnce() + Send>;

/// The queue of the Argon2 threads, started on first use (one per core, at most 4).
fn workers() -> &'static Mutex<Sender<Job>> {
    static QUEUE: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let n = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        for i in 0..n {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        let job = {
                            let guard =
                                rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                            guard.recv()
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        Mutex::new(tx)
    })
}

/// Runs `f` on an Argon2 thread; `None` if it could not run (no thread, or it panicked).
async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    workers()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .send(job)
        .ok()?;
    rx.await.ok()
}

/// Hashes a user password with Argon2id and a random salt, as a PHC string.
pub(crate) fn hash_password(password: &str, random: &dyn Random) -> Result<String, String> {
    let mut salt = [0u8; 16];
    random.fill(&mut salt);
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn verify_password(phc: &str, password: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// `hash_password` on the Argon2 threads.
pub(crate) async fn hash_queued(
    password: String,
    random: Arc<dyn Random>,
) -> Result<String, String> {
    run(move || hash_password(&password, random.as_ref()))
        .await
        .unwrap_or_else(|| Err("the password hashing threads are unavailable".into()))
}

/// `verify_password` on the Argon2 threads; an empty hash (no password, no user) is false
/// without work.
pub(crate) async fn verify_queued(phc: String, password: String) -> bool {
    if phc.is_empty() {
        return false;
    }
    run(move || verify_password(&phc, &password))
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter(std::sync::atomic::AtomicU8);
    impl Random for Counter {
        fn fill(&self, dest: &mut [u8]) {
            for b in dest {
                *b = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    #[test]
    fn password_round_trip() {
        let h = hash_password("correct horse", &Counter(0.into())).expect("hashes");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "wrong"));
        assert!(!verify_password("not a phc string", "x"));
    }

    #[tokio::test]
    async fn queued_hashes_verify_and_many_at_once_all_finish() {
        let random: Arc<dyn Random> = Arc::new(Counter(0.into()));
        let phc = hash_queued("correct horse".into(), random.clone())
            .await
            .expect("hash");
        assert!(verify_queued(phc.clone(), "correct horse".into()).await);
        assert!(!verify_queued(phc.clone(), "wrong".into()).await);
        assert!(!verify_queued(String::new(), "anything".into()).await);
        let all: Vec<_> = (0..8)
            .map(|_| tokio::spawn(verify_queued(phc.clone(), "correct horse".into())))
            .collect();
        for h in all {
            assert!(h.await.expect("joined"));
        }
    }
}
