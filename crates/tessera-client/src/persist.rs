//! The persistent token cache, shared by every process of a user: one encrypted file per
//! entry, written as temp file + fsync + rename, so a write costs the same at any cache size,
//! a crash leaves the old entry or the new one, and readers never see a torn entry. A
//! per-entry lock file (`flock`, released by the kernel when a holder dies) makes one
//! process at a time refresh an entry. Entries are sealed with AES-256-GCM; the key comes
//! from the caller or a 0600 key file beside the cache, never from the cache files.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{AES_256_GCM, Aad, Nonce, RandomizedNonceKey};
use serde::{Deserialize, Serialize};

use crate::error::ClientError;
use crate::secret::Secret;

const MAGIC: &[u8; 4] = b"TSC1";
const NONCE_LEN: usize = 12;

/// What a cache entry holds.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistedToken {
    pub access_token: String,
    pub expires_at: i64,
    pub refresh_at: i64,
    pub lifetime: i64,
}

impl std::fmt::Debug for PersistedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistedToken")
            .field("expires_at", &self.expires_at)
            .field("refresh_at", &self.refresh_at)
            .finish_non_exhaustive()
    }
}

/// Where the cache key comes from, for the CLI's status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// Given by the caller (a key or a passphrase-derived key).
    Provided,
    /// A 0600 key file in the user's config directory, separate from the cache, so a copied
    /// cache directory alone is useless.
    KeyFile,
}

/// An encrypted, crash-safe, multi-process token cache directory.
pub struct PersistentCache {
    dir: PathBuf,
    key: RandomizedNonceKey,
    pub key_source: KeySource,
}

impl std::fmt::Debug for PersistentCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistentCache")
            .field("dir", &self.dir)
            .field("key_source", &self.key_source)
            .finish_non_exhaustive()
    }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClientError {
    let c = context.into();
    move |e| ClientError::io(c, e)
}

fn private_dir(dir: &Path) -> Result<(), ClientError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(format!("creating {}", dir.display())))
}

/// Writes `bytes` to `path` atomically with mode 0600.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        uuid::Uuid::new_v4().simple()
    ));
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(format!("creating {}", tmp.display())))?;
    let result = f
        .write_all(bytes)
        .and_then(|()| f.sync_all())
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(ClientError::io(format!("writing {}", path.display()), e));
    }
    Ok(())
}

impl PersistentCache {
    /// Opens (creating) a cache directory with a caller-provided 256-bit key.
    pub fn open_with_key(dir: impl Into<PathBuf>, key: &Secret) -> Result<Self, ClientError> {
        let raw = tessera_proto::b64::decode_lenient(key.expose())
            .filter(|k| k.len() == 32)
            .ok_or_else(|| {
                ClientError::Config("the cache key must be 32 bytes, base64 encoded".into())
            })?;
        Self::open_raw(dir.into(), &raw, KeySource::Provided)
    }

    /// Opens a cache directory whose key lives in `key_file` (created 0600 on first use).
    pub fn open_with_key_file(
        dir: impl Into<PathBuf>,
        key_file: &Path,
    ) -> Result<Self, ClientError> {
        let raw = match fs::read(key_file) {
            Ok(bytes) => tessera_proto::b64::decode_lenient(String::from_utf8_lossy(&bytes).trim())
                .filter(|k| k.len() == 32)
                .ok_or_else(|| {
                    ClientError::Config(format!(
                        "{} is not a tessera cache key",
                        key_file.display()
                    ))
                })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = key_file.parent() {
                    private_dir(parent)?;
                }
                let mut k = vec![0u8; 32];
                aws_lc_rs::rand::fill(&mut k).map_err(|_| {
                    ClientError::Config("no system randomness for the cache key".into())
                })?;
                write_atomic(key_file, tessera_proto::b64::std_encode(&k).as_bytes())?;
                k
            }
            Err(e) => {
                return Err(ClientError::io(
                    format!("reading {}", key_file.display()),
                    e,
                ));
            }
        };
        Self::open_raw(dir.into(), &raw, KeySource::KeyFile)
    }

    fn open_raw(dir: PathBuf, raw: &[u8], key_source: KeySource) -> Result<Self, ClientError> {
        private_dir(&dir)?;
        let key = RandomizedNonceKey::new(&AES_256_GCM, raw)
            .map_err(|_| ClientError::Config("the cache key is not a valid AES-256 key".into()))?;
        Ok(Self {
            dir,
            key,
            key_source,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file name of an entry: a digest of its key, so names reveal nothing.
    fn name(key: &str) -> String {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
        d.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn entry_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{}.tok", Self::name(key)))
    }

    /// Reads an entry. A file that does not decrypt (corrupt, foreign, another key) is moved
    /// aside as `*.bad` with a warning, and reads as absent.
    pub fn get(&self, key: &str) -> Result<Option<PersistedToken>, ClientError> {
        let path = self.entry_path(key);
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut f) => f
                .read_to_end(&mut bytes)
                .map_err(io(format!("reading {}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ClientError::io(format!("reading {}", path.display()), e)),
        };
        match self.open_entry(key, &mut bytes) {
            Some(t) => Ok(Some(t)),
            None => {
                let aside = path.with_extension("bad");
                tracing::warn!(path = %path.display(), moved_to = %aside.display(), "a token cache entry could not be read (corrupt, or written with another key); it was set aside");
                let _ = fs::rename(&path, &aside);
                Ok(None)
            }
        }
    }

    fn open_entry(&self, key: &str, bytes: &mut [u8]) -> Option<PersistedToken> {
        if bytes.len() < MAGIC.len() + NONCE_LEN + 16 || &bytes[..4] != MAGIC {
            return None;
        }
        let (head, sealed) = bytes.split_at_mut(MAGIC.len() + NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&head[MAGIC.len()..]).ok()?;
        // The entry's key is authenticated, so files cannot be swapped between entries.
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(key.as_bytes()), sealed)
            .ok()?;
        serde_json::from_slice(plain).ok()
    }

    /// Writes an entry atomically.
    pub fn put(&self, key: &str, token: &PersistedToken) -> Result<(), ClientError> {
        let mut data = serde_json::to_vec(token).map_err(|e| ClientError::Config(e.to_string()))?;
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(key.as_bytes()), &mut data)
            .map_err(|_| ClientError::Config("sealing a cache entry failed".into()))?;
        let mut out = Vec::with_capacity(4 + NONCE_LEN + data.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&data);
        write_atomic(&self.entry_path(key), &out)
    }

    pub fn remove(&self, key: &str) -> Result<(), ClientError> {
        match fs::remove_file(self.entry_path(key)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(ClientError::io("removing a cache entry", e))
            }
            _ => Ok(()),
        }
    }

    /// Number of entries (status output).
    pub fn len(&self) -> usize {
        fs::read_dir(&self.dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "tok"))
                    .count()
            })
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the entry's refresh lock without waiting: `None` when another process holds it.
    pub fn try_lock(&self, key: &str) -> Result<Option<EntryLock>, ClientError> {
        let f = self.lock_file(key)?;
        match f.try_lock() {
            Ok(()) => Ok(Some(EntryLock { _file: f })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(ClientError::io("locking a cache entry", e))
            }
        }
    }

    /// Takes the entry's refresh lock, waiting up to `timeout` for another process.
    pub async fn lock(&self, key: &str, timeout: Duration) -> Result<EntryLock, ClientError> {
        let started = Instant::now();
        loop {
            if let Some(l) = self.try_lock(key)? {
                return Ok(l);
            }
            if started.elapsed() > timeout {
                return Err(ClientError::Config(format!(
                    "waited {timeout:?} for another process refreshing the same token ({})",
                    self.dir.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn lock_file(&self, key: &str) -> Result<File, ClientError> {
        let path = self.dir.join(format!("{}.lock", Self::name(key)));
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(io(format!("opening {}", path.display())))
    }
}

/// An exclusive per-entry lock; released on drop, or by the kernel if the process dies.
#[derive(Debug)]
pub struct EntryLock {
    _file: File,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(n: i64) -> PersistedToken {
        PersistedToken {
            access_token: format!("token-{n}"),
            expires_at: 100 + n,
            refresh_at: 50 + n,
            lifetime: 100,
        }
    }

    #[test]
    fn round_trip_tamper_and_foreign_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = PersistentCache::open_with_key_file(
            dir.path().join("cache"),
            &dir.path().join("config/key"),
        )
        .expect("open");
        assert_eq!(c.key_source, KeySource::KeyFile);
        assert_eq!(c.get("k").expect("get"), None);
        c.put("k", &token(1)).expect("put");
        assert_eq!(c.get("k").expect("get"), Some(token(1)));
        c.put("k", &token(2)).expect("overwrite");
        assert_eq!(c.get("k").expect("get"), Some(token(2)));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &fs::metadata(c.entry_path("k")).expect("meta").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        assert!(
            !fs::read(c.entry_path("k"))
                .expect("raw")
                .windows(7)
                .any(|w| w == b"token-2"),
            "encrypted at rest"
        );

        // An entry copied under another key's name does not open (the key is authenticated).
        fs::copy(c.entry_path("k"), c.entry_path("other")).expect("copy");
        assert_eq!(c.get("other").expect("get"), None);
        assert!(
            c.entry_path("other").with_extension("bad").exists(),
            "set aside"
        );

        // The same directory with another key reads nothing and does not crash.
        let other_key = Secret::new(tessera_proto::b64::std_encode([7u8; 32]));
        let wrong =
            PersistentCache::open_with_key(dir.path().join("cache"), &other_key).expect("open");
        assert_eq!(wrong.get("k").expect("get"), None);

        fs::write(dir.path().join("cache/garbage.tok"), b"not a cache entry").expect("write");
        assert!(
            PersistentCache::open_with_key(dir.path().join("cache"), &Secret::new("short"))
                .is_err()
        );
    }

    #[test]
    fn entry_locks_exclude_each_other() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = PersistentCache::open_with_key(
            dir.path(),
            &Secret::new(tessera_proto::b64::std_encode([1u8; 32])),
        )
        .expect("open");
        let held = c.try_lock("k").expect("lock").expect("free");
        assert!(
            c.try_lock("k").expect("lock").is_none(),
            "a second holder is refused (flock is per open file)"
        );
        assert!(
            c.try_lock("other").expect("lock").is_some(),
            "locks are per entry"
        );
        drop(held);
        assert!(c.try_lock("k").expect("lock").is_some(), "released on drop");
    }
}
