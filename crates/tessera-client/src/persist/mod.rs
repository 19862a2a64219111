//! The persistent token cache, shared by every process of a user: one encrypted file per
//! entry, written as temp file + fsync + rename, so a write costs the same at any cache size,
//! a crash leaves the old entry or the new one, and readers never see a torn entry. A
//! per-entry lock file (`flock`, released by the kernel when a holder dies) makes one
//! process at a time refresh an entry. Entries are sealed with AES-256-GCM; the key comes
//! from the caller, a passphrase, or a 0600 key file kept apart from the cache, never from the
//! cache files; plaintext only when asked for. `cache.json` records which, so a wrong key or
//! passphrase is refused at open instead of making every entry look corrupt.

mod entries;
mod files;
mod format;
mod lock;
mod open;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use aws_lc_rs::aead::RandomizedNonceKey;

pub use format::{KeySource, ListedEntry, PersistedAccount, PersistedToken};
pub use lock::EntryLock;

/// An encrypted (or, by opt-in, plaintext), crash-safe, multi-process token cache directory.
pub struct PersistentCache {
    dir: PathBuf,
    /// `None` for a plaintext cache.
    key: Option<RandomizedNonceKey>,
    /// Keys the HMAC that turns a credential binding into entry key text.
    binding_key: aws_lc_rs::hmac::Key,
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
