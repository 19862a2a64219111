//! What the cache writes: the header (`cache.json`), entry formats and their magic, the
//! token and account records. Types only: reading and writing files is elsewhere.

use serde::{Deserialize, Serialize};

/// Entry formats. Version 2 entries carry their own key, so a listing can say what each is.
pub(super) const MAGIC: &[u8; 4] = b"TSC2";
pub(super) const PLAIN_MAGIC: &[u8; 4] = b"TSP2";
/// Version 1 entries (sealed with their key as associated data, key not stored): dropped on
/// read; a cache only loses a token it can fetch again.
pub(super) const OLD_MAGICS: [&[u8; 4]; 2] = [b"TSC1", b"TSP1"];
pub(super) const NONCE_LEN: usize = 12;
pub(super) const HEADER: &str = "cache.json";
/// Sealed into the header with the cache key: opening it proves the key is the cache's.
pub(super) const KEY_CHECK: &[u8] = b"tessera token cache key check v1";
/// PBKDF2-HMAC-SHA256 rounds for passphrases (OWASP's 2023 figure for this PRF).
pub(super) const PASSPHRASE_ROUNDS: u32 = 600_000;

/// `cache.json`: how the directory's entries are stored.
#[derive(Serialize, Deserialize)]
pub(super) struct Header {
    pub(super) version: u32,
    pub(super) encrypted: bool,
    /// Base64 salt, for a passphrase-derived key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) salt: Option<String>,
    /// Base64 nonce + sealed `KEY_CHECK`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) check: Option<String>,
    /// Where the key was when the cache was created (`KeySource` in kebab case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) key_source: Option<String>,
}

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

/// A signed-in user: the newest refresh token and who it belongs to. Written by
/// `AccountCredential::sign_in` and rotated on every redemption.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistedAccount {
    pub username: String,
    pub authority: String,
    pub client_id: String,
    pub refresh_token: String,
    /// `uid.utid` from `client_info`, when the server sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_account_id: Option<String>,
    pub signed_in_at: i64,
}

impl std::fmt::Debug for PersistedAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistedAccount")
            .field("username", &self.username)
            .field("authority", &self.authority)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// What an entry file holds, sealed: its key (checked against the one asked for, so a
/// digest collision or a renamed file is caught) and a token or an account.
#[derive(Serialize, Deserialize)]
pub(super) struct Sealed {
    pub(super) key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) token: Option<PersistedToken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) account: Option<PersistedAccount>,
}

/// One entry of a listing ([`PersistentCache::entries`]).
#[derive(Debug, Clone)]
pub struct ListedEntry {
    pub key: String,
    pub token: Option<PersistedToken>,
    pub account: Option<PersistedAccount>,
}

/// Where the cache key comes from, for the CLI's status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeySource {
    /// A key given by the caller.
    Provided,
    /// A random key in the OS secret store (Linux: the kernel's persistent keyring).
    OsKeyring,
    /// Derived from the user's passphrase (PBKDF2-HMAC-SHA256, salt in `cache.json`).
    Passphrase,
    /// A 0600 key file in the user's config directory, separate from the cache, so a copied
    /// cache directory alone is useless.
    KeyFile,
    /// No encryption, by explicit opt-in: anyone who can read the files can use the tokens.
    Plaintext,
}

impl KeySource {
    /// One line for a status display.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Provided => "encrypted with a key the application provides",
            Self::OsKeyring => {
                "encrypted with a key in the kernel keyring (cleared by a reboot or after days unused; the cache then starts over)"
            }
            Self::Passphrase => "encrypted with a key derived from your passphrase",
            Self::KeyFile => {
                "encrypted with a key in a separate 0600 file (no OS secret store in use); a copy of the cache alone is useless, but anyone who can read both files can use the tokens"
            }
            Self::Plaintext => {
                "NOT encrypted (plaintext was asked for): anyone who can read the files can use the tokens"
            }
        }
    }
}
