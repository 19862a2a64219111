//! Per-entry locks (`flock` on a lock file beside the entry), so one process at a time
//! refreshes an entry; the kernel releases a dead holder's lock.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt as _;
use std::time::{Duration, Instant};

use super::PersistentCache;
use super::files::io;
use crate::error::ClientError;

impl PersistentCache {
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

    pub(super) fn lock_file(&self, key: &str) -> Result<File, ClientError> {
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
