//! The persistent token cache, shared by every process of a user: one encrypted file per
//! entry, written as temp file + fsync + rename, so a write costs the same at any cache size,
//! a crash leaves the old entry or the new one, and readers never see a torn entry. A
//! per-entry lock file (`flock`, released by the kernel when a holder dies) makes one
//! process at a time refresh an entry. Entries are sealed with AES-256-GCM; the key comes
//! from the caller, a passphrase, or a 0600 key file kept apart from the cache, never from the
//! cache files; plaintext only when asked for. `cache.json` records which, so a wrong key or
//! passphrase is refused at open instead of making every entry look corrupt.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{AES_256_GCM, Aad, Nonce, RandomizedNonceKey};
use serde::{Deserialize, Serialize};

use crate::error::ClientError;
use crate::secret::Secret;

/// Entry formats. Version 2 entries carry their own key, so a listing can say what each is.
const MAGIC: &[u8; 4] = b"TSC2";
const PLAIN_MAGIC: &[u8; 4] = b"TSP2";
/// Version 1 entries (sealed with their key as associated data, key not stored): dropped on
/// read; a cache only loses a token it can fetch again.
const OLD_MAGICS: [&[u8; 4]; 2] = [b"TSC1", b"TSP1"];
const NONCE_LEN: usize = 12;
const HEADER: &str = "cache.json";
/// Sealed into the header with the cache key: opening it proves the key is the cache's.
const KEY_CHECK: &[u8] = b"tessera token cache key check v1";
/// PBKDF2-HMAC-SHA256 rounds for passphrases (OWASP's 2023 figure for this PRF).
const PASSPHRASE_ROUNDS: u32 = 600_000;

/// `cache.json`: how the directory's entries are stored.
#[derive(Serialize, Deserialize)]
struct Header {
    version: u32,
    encrypted: bool,
    /// Base64 salt, for a passphrase-derived key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    salt: Option<String>,
    /// Base64 nonce + sealed `KEY_CHECK`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    check: Option<String>,
    /// Where the key was when the cache was created (`KeySource` in kebab case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_source: Option<String>,
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
struct Sealed {
    key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<PersistedToken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account: Option<PersistedAccount>,
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

    /// Opens a cache directory the usual way: its key in the OS secret store where one is
    /// reachable, else in `key_file` (0600, created on first use), which is also kept using
    /// for a cache that was created with it. A cache whose keyring key is gone (after a
    /// reboot) cannot be read by anyone: its entries are removed with a warning and it starts
    /// over.
    pub fn open_default(dir: impl Into<PathBuf>, key_file: &Path) -> Result<Self, ClientError> {
        let dir = dir.into();
        private_dir(&dir)?;
        let name = crate::keyring::description(&dir);
        match crate::keyring::get(&name) {
            Ok(Some(key)) => return Self::open_raw_b64(dir, &key, KeySource::OsKeyring),
            Ok(None) => {}
            Err(crate::keyring::Unavailable(why)) => {
                tracing::debug!(%why, "no OS secret store; the cache key is kept in a file");
                return Self::open_with_key_file(dir, key_file);
            }
        }
        if key_file.exists() {
            return Self::open_with_key_file(dir, key_file);
        }
        // One process creates the key; the others wait and read it.
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(dir.join(".key.lock"))
            .map_err(io("opening the cache's key lock"))?;
        lock.lock().map_err(io("locking the cache's key lock"))?;
        if let Ok(Some(key)) = crate::keyring::get(&name) {
            return Self::open_raw_b64(dir, &key, KeySource::OsKeyring);
        }
        if dir.join(HEADER).exists() {
            // Only a keyring cache may be given up for lost; any other was made with a key
            // the user still has somewhere.
            let header = Self::header_or(&dir, || {
                Err(ClientError::Config("the cache header vanished".into()))
            })?;
            if header.key_source.as_deref() != Some("os-keyring") {
                return Err(ClientError::Config(format!(
                    "the cache at {} was created with its key from {}; open it the same way",
                    dir.display(),
                    header
                        .key_source
                        .as_deref()
                        .unwrap_or("an unrecorded source")
                )));
            }
            let removed = Self::start_over(&dir)?;
            tracing::warn!(dir = %dir.display(), removed, "the token cache's key is no longer in the kernel keyring (a reboot or days unused clear it); its entries could not be read by anyone and were removed, and tokens will be fetched again");
        }
        let mut k = [0u8; 32];
        aws_lc_rs::rand::fill(&mut k)
            .map_err(|_| ClientError::Config("no system randomness for the cache key".into()))?;
        let key = Secret::new(tessera_proto::b64::std_encode(k));
        crate::keyring::put(&name, &key)?;
        Self::open_raw_b64(dir, &key, KeySource::OsKeyring)
    }

    /// Forgets the keyring key of `dir` (tests; a user resetting the cache).
    pub fn forget_keyring_key(dir: &Path) {
        crate::keyring::remove(&crate::keyring::description(dir));
    }

    fn start_over(dir: &Path) -> Result<usize, ClientError> {
        let mut removed = 0;
        for entry in fs::read_dir(dir).map_err(io(format!("listing {}", dir.display())))? {
            let path = entry.map_err(io("listing the cache"))?.path();
            if path.extension().is_some_and(|x| x == "tok") {
                removed += 1;
                let _ = fs::remove_file(&path);
            }
        }
        fs::remove_file(dir.join(HEADER)).map_err(io("removing the cache header"))?;
        Ok(removed)
    }

    fn open_raw_b64(dir: PathBuf, key: &Secret, source: KeySource) -> Result<Self, ClientError> {
        let raw = tessera_proto::b64::decode_lenient(key.expose())
            .filter(|k| k.len() == 32)
            .ok_or_else(|| ClientError::Config("the stored cache key is not 32 bytes".into()))?;
        Self::open_raw(dir, &raw, source)
    }

    /// Opens a cache directory whose key is derived from `passphrase`. Deriving takes a
    /// noticeable fraction of a second on purpose (600,000 PBKDF2 rounds).
    pub fn open_with_passphrase(
        dir: impl Into<PathBuf>,
        passphrase: &Secret,
    ) -> Result<Self, ClientError> {
        let dir = dir.into();
        if passphrase.expose().is_empty() {
            return Err(ClientError::Config("the cache passphrase is empty".into()));
        }
        private_dir(&dir)?;
        let header = Self::header_or(&dir, || {
            let mut fresh = [0u8; 16];
            aws_lc_rs::rand::fill(&mut fresh)
                .map_err(|_| ClientError::Config("no system randomness for the salt".into()))?;
            Ok(Header {
                version: 1,
                encrypted: true,
                salt: Some(tessera_proto::b64::std_encode(fresh)),
                check: None,
                key_source: Some("passphrase".into()),
            })
        })?;
        let salt = header
            .salt
            .as_deref()
            .and_then(tessera_proto::b64::decode_lenient)
            .ok_or_else(|| {
                ClientError::Config(format!(
                    "the cache at {} was not created with a passphrase; open it with its key",
                    dir.display()
                ))
            })?;
        let mut raw = [0u8; 32];
        aws_lc_rs::pbkdf2::derive(
            aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
            std::num::NonZeroU32::new(PASSPHRASE_ROUNDS).unwrap_or(std::num::NonZeroU32::MIN),
            &salt,
            passphrase.expose().as_bytes(),
            &mut raw,
        );
        Self::open_raw(dir, &raw, KeySource::Passphrase)
    }

    /// Opens a cache directory that stores tokens unencrypted. Only for a user who asked for
    /// it: a warning is logged every time.
    pub fn open_plaintext(dir: impl Into<PathBuf>) -> Result<Self, ClientError> {
        let dir = dir.into();
        private_dir(&dir)?;
        let header = Self::header_or(&dir, || {
            Ok(Header {
                version: 1,
                encrypted: false,
                salt: None,
                check: None,
                key_source: Some("plaintext".into()),
            })
        })?;
        if header.encrypted {
            return Err(ClientError::Config(format!(
                "the cache at {} is encrypted; it cannot be opened as plaintext",
                dir.display()
            )));
        }
        tracing::warn!(dir = %dir.display(), "the token cache is stored in plaintext, as configured: anyone who can read these files can use the tokens");
        let binding_key = Self::plaintext_binding_key(&dir)?;
        Ok(Self {
            dir,
            key: None,
            binding_key,
            key_source: KeySource::Plaintext,
        })
    }

    fn open_raw(dir: PathBuf, raw: &[u8], key_source: KeySource) -> Result<Self, ClientError> {
        private_dir(&dir)?;
        let key = RandomizedNonceKey::new(&AES_256_GCM, raw)
            .map_err(|_| ClientError::Config("the cache key is not a valid AES-256 key".into()))?;
        // Sealing draws randomness, whose first use in a process costs milliseconds: only a
        // new header needs it, not the common open of an existing cache.
        let seal_check = || -> Result<String, ClientError> {
            let mut check = KEY_CHECK.to_vec();
            let nonce = key
                .seal_in_place_append_tag(Aad::from(HEADER.as_bytes()), &mut check)
                .map_err(|_| ClientError::Config("sealing the key check failed".into()))?;
            Ok(tessera_proto::b64::std_encode(
                [nonce.as_ref(), check.as_slice()].concat(),
            ))
        };
        let header = Self::header_or(&dir, || {
            Ok(Header {
                version: 1,
                encrypted: true,
                salt: None,
                check: Some(seal_check()?),
                key_source: serde_json::to_value(key_source)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned)),
            })
        })?;
        if !header.encrypted {
            return Err(ClientError::Config(format!(
                "the cache at {} stores plaintext (it was opened that way first); open it as plaintext or use another directory",
                dir.display()
            )));
        }
        match header.check.as_deref() {
            Some(c) => {
                let mut bytes = tessera_proto::b64::decode_lenient(c).unwrap_or_default();
                let opened = (bytes.len() > NONCE_LEN)
                    .then(|| {
                        let (n, sealed) = bytes.split_at_mut(NONCE_LEN);
                        let nonce = Nonce::try_assume_unique_for_key(n).ok()?;
                        key.open_in_place(nonce, Aad::from(HEADER.as_bytes()), sealed)
                            .ok()
                            .map(|p| p == KEY_CHECK)
                    })
                    .flatten();
                if opened != Some(true) {
                    return Err(ClientError::Config(format!(
                        "this key does not open the cache at {} (it was created with another key or passphrase); use that one, or remove the directory to start over",
                        dir.display()
                    )));
                }
            }
            // A passphrase header gets its check on first open.
            None => {
                let updated = Header {
                    check: Some(seal_check()?),
                    ..header
                };
                let text = serde_json::to_vec_pretty(&updated)
                    .map_err(|e| ClientError::Config(e.to_string()))?;
                write_atomic(&dir.join(HEADER), &text)?;
            }
        }
        // Derived, not stored: whoever can open the entries can name them, no one else.
        let binding_key = aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            aws_lc_rs::hmac::sign(
                &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, raw),
                b"tessera cache credential binding v1",
            )
            .as_ref(),
        );
        Ok(Self {
            dir,
            key: Some(key),
            binding_key,
            key_source,
        })
    }

    /// Reads `cache.json`, creating it from `fresh` when absent. Creation links a complete
    /// temp file into place, so of two processes creating it at once exactly one wins and
    /// both then read the winner's.
    fn header_or(
        dir: &Path,
        fresh: impl FnOnce() -> Result<Header, ClientError>,
    ) -> Result<Header, ClientError> {
        let path = dir.join(HEADER);
        let parse = |bytes: &[u8]| {
            serde_json::from_slice::<Header>(bytes).map_err(|e| {
                ClientError::Config(format!(
                    "{} is not a tessera cache header ({e}); move it away to start over",
                    path.display()
                ))
            })
        };
        match fs::read(&path) {
            Ok(bytes) => return parse(&bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ClientError::io(format!("reading {}", path.display()), e)),
        }
        let text =
            serde_json::to_vec_pretty(&fresh()?).map_err(|e| ClientError::Config(e.to_string()))?;
        let tmp = dir.join(format!(".{HEADER}.{}.tmp", uuid::Uuid::new_v4().simple()));
        write_atomic(&tmp, &text)?;
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                parse(&fs::read(&path).map_err(io(format!("reading {}", path.display())))?)
            }
            Err(e) => Err(ClientError::io(format!("creating {}", path.display()), e)),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A plaintext cache has no key to derive the binding key from: it keeps a random one in
    /// `binding.key` (0600), as readable as the tokens themselves and no more.
    fn plaintext_binding_key(dir: &Path) -> Result<aws_lc_rs::hmac::Key, ClientError> {
        let path = dir.join("binding.key");
        let raw = match fs::read(&path) {
            Ok(bytes) if bytes.len() == 32 => bytes,
            Ok(_) => {
                return Err(ClientError::Config(format!(
                    "{} is not a tessera binding key; remove it to start over",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut k = vec![0u8; 32];
                aws_lc_rs::rand::fill(&mut k).map_err(|_| {
                    ClientError::Config("no system randomness for the binding key".into())
                })?;
                let tmp = dir.join(format!(
                    ".binding.key.{}.tmp",
                    uuid::Uuid::new_v4().simple()
                ));
                write_atomic(&tmp, &k)?;
                // Of two processes creating it at once, the first link wins for both.
                let linked = fs::hard_link(&tmp, &path);
                let _ = fs::remove_file(&tmp);
                match linked {
                    Ok(()) => k,
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        fs::read(&path).map_err(io(format!("reading {}", path.display())))?
                    }
                    Err(e) => {
                        return Err(ClientError::io(format!("creating {}", path.display()), e));
                    }
                }
            }
            Err(e) => return Err(ClientError::io(format!("reading {}", path.display()), e)),
        };
        Ok(aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            &raw,
        ))
    }

    /// The text that stands for a credential binding in this cache's entry keys: an HMAC
    /// under a key of this cache, so keys (readable in a plaintext cache, and listed by
    /// `tessera status`) never let anyone test guesses of a secret. Empty when not bound.
    pub fn binding_tag(&self, binding: &crate::credential::Binding) -> String {
        if binding.is_none() {
            return String::new();
        }
        let tag = aws_lc_rs::hmac::sign(&self.binding_key, binding.as_bytes());
        tessera_proto::b64::url_encode(&tag.as_ref()[..18])
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

    /// Reads an entry's file. A file that does not decrypt (corrupt, foreign, another key)
    /// is moved aside as `*.bad` with a warning, and reads as absent.
    fn read(&self, key: &str) -> Result<Option<Sealed>, ClientError> {
        let path = self.entry_path(key);
        let sealed = self.read_path(&path)?;
        // A file holding another key (a digest collision, a renamed file) is not this entry.
        Ok(sealed.filter(|s| s.key == key))
    }

    fn read_path(&self, path: &Path) -> Result<Option<Sealed>, ClientError> {
        let mut bytes = Vec::new();
        match File::open(path) {
            Ok(mut f) => f
                .read_to_end(&mut bytes)
                .map_err(io(format!("reading {}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ClientError::io(format!("reading {}", path.display()), e)),
        };
        if OLD_MAGICS.iter().any(|m| bytes.starts_with(m.as_slice())) {
            tracing::debug!(path = %path.display(), "dropping a token cache entry of an older format");
            let _ = fs::remove_file(path);
            return Ok(None);
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        match self.open_entry(name, &mut bytes) {
            Some(t) => Ok(Some(t)),
            None => {
                let aside = path.with_extension("bad");
                tracing::warn!(path = %path.display(), moved_to = %aside.display(), "a token cache entry could not be read (corrupt, or written with another key); it was set aside");
                let _ = fs::rename(path, &aside);
                Ok(None)
            }
        }
    }

    /// Reads a token entry.
    pub fn get(&self, key: &str) -> Result<Option<PersistedToken>, ClientError> {
        Ok(self.read(key)?.and_then(|s| s.token))
    }

    /// Reads an account entry.
    pub fn get_account(&self, key: &str) -> Result<Option<PersistedAccount>, ClientError> {
        Ok(self.read(key)?.and_then(|s| s.account))
    }

    /// `name` (the file's digest name) is the associated data: an entry moved to another
    /// entry's file name does not open.
    fn open_entry(&self, name: &str, bytes: &mut [u8]) -> Option<Sealed> {
        let Some(cipher) = &self.key else {
            let body = bytes.strip_prefix(PLAIN_MAGIC.as_slice())?;
            let sealed: Sealed = serde_json::from_slice(body).ok()?;
            return (Self::name(&sealed.key) == name).then_some(sealed);
        };
        if bytes.len() < MAGIC.len() + NONCE_LEN + 16 || &bytes[..4] != MAGIC {
            return None;
        }
        let (head, sealed) = bytes.split_at_mut(MAGIC.len() + NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&head[MAGIC.len()..]).ok()?;
        let plain = cipher
            .open_in_place(nonce, Aad::from(name.as_bytes()), sealed)
            .ok()?;
        serde_json::from_slice(plain).ok()
    }

    fn write(&self, sealed: &Sealed) -> Result<(), ClientError> {
        let name = Self::name(&sealed.key);
        let path = self.dir.join(format!("{name}.tok"));
        let Some(cipher) = &self.key else {
            let mut out = PLAIN_MAGIC.to_vec();
            serde_json::to_writer(&mut out, sealed)
                .map_err(|e| ClientError::Config(e.to_string()))?;
            return write_atomic(&path, &out);
        };
        let mut data =
            serde_json::to_vec(sealed).map_err(|e| ClientError::Config(e.to_string()))?;
        let nonce = cipher
            .seal_in_place_append_tag(Aad::from(name.as_bytes()), &mut data)
            .map_err(|_| ClientError::Config("sealing a cache entry failed".into()))?;
        let mut out = Vec::with_capacity(4 + NONCE_LEN + data.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&data);
        write_atomic(&path, &out)
    }

    /// Writes a token entry atomically.
    pub fn put(&self, key: &str, token: &PersistedToken) -> Result<(), ClientError> {
        self.write(&Sealed {
            key: key.to_owned(),
            token: Some(token.clone()),
            account: None,
        })
    }

    /// Writes an account entry atomically.
    pub fn put_account(&self, key: &str, account: &PersistedAccount) -> Result<(), ClientError> {
        self.write(&Sealed {
            key: key.to_owned(),
            token: None,
            account: Some(account.clone()),
        })
    }

    /// Every readable entry, for status displays and sign-out. Reads every file: meant for
    /// people, not for a hot path.
    pub fn entries(&self) -> Result<Vec<ListedEntry>, ClientError> {
        let dir = fs::read_dir(&self.dir).map_err(io(format!("listing {}", self.dir.display())))?;
        let mut out = Vec::new();
        for e in dir.filter_map(Result::ok) {
            let path = e.path();
            if path.extension().is_none_or(|x| x != "tok") {
                continue;
            }
            if let Some(s) = self.read_path(&path)? {
                out.push(ListedEntry {
                    key: s.key,
                    token: s.token,
                    account: s.account,
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
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
    fn listing_accounts_and_old_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        for plaintext in [false, true] {
            let path = dir.path().join(format!("cache-{plaintext}"));
            let c = if plaintext {
                PersistentCache::open_plaintext(&path)
            } else {
                PersistentCache::open_with_key(
                    &path,
                    &Secret::new(tessera_proto::b64::std_encode([7u8; 32])),
                )
            }
            .expect("open");
            let account = PersistedAccount {
                username: "megan@contoso.com".into(),
                authority: "https://login.microsoftonline.com/contoso".into(),
                client_id: "c1".into(),
                refresh_token: "rt-secret".into(),
                home_account_id: None,
                signed_in_at: 5,
            };
            c.put("t1", &token(1)).expect("put");
            c.put_account("a1", &account).expect("put account");
            assert_eq!(c.get_account("a1").expect("get"), Some(account.clone()));
            // A token key does not read as an account, nor the other way round.
            assert_eq!(c.get_account("t1").expect("get"), None);
            assert_eq!(c.get("a1").expect("get"), None);
            let listed = c.entries().expect("entries");
            let keys: Vec<&str> = listed.iter().map(|e| e.key.as_str()).collect();
            assert_eq!(keys, ["a1", "t1"]);
            assert_eq!(listed[1].token, Some(token(1)));
            assert!(!format!("{account:?}").contains("rt-secret"));
            // A version 1 entry reads as absent and is dropped, not set aside as corrupt.
            fs::write(c.entry_path("old"), b"TSC1 whatever").expect("write");
            assert_eq!(c.get("old").expect("get"), None);
            assert!(!c.entry_path("old").exists());
            assert!(!c.entry_path("old").with_extension("bad").exists());
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

        // Another key is refused at open, before it could set entries aside as unreadable.
        let other_key = Secret::new(tessera_proto::b64::std_encode([7u8; 32]));
        let wrong = PersistentCache::open_with_key(dir.path().join("cache"), &other_key)
            .expect_err("wrong key");
        assert!(
            wrong.to_string().contains("does not open the cache"),
            "{wrong}"
        );
        assert!(
            PersistentCache::open_plaintext(dir.path().join("cache")).is_err(),
            "an encrypted cache is not opened as plaintext"
        );
        assert_eq!(c.get("k").expect("get"), Some(token(2)), "still there");

        fs::write(dir.path().join("cache/garbage.tok"), b"not a cache entry").expect("write");
        assert!(
            PersistentCache::open_with_key(dir.path().join("cache"), &Secret::new("short"))
                .is_err()
        );
    }

    #[test]
    fn passphrase_and_plaintext_caches() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pass = Secret::new("correct horse battery staple");
        let c = PersistentCache::open_with_passphrase(dir.path().join("p"), &pass).expect("open");
        assert_eq!(c.key_source, KeySource::Passphrase);
        c.put("k", &token(3)).expect("put");
        let again =
            PersistentCache::open_with_passphrase(dir.path().join("p"), &pass).expect("reopen");
        assert_eq!(again.get("k").expect("get"), Some(token(3)));
        let wrong = PersistentCache::open_with_passphrase(
            dir.path().join("p"),
            &Secret::new("Tr0ub4dor&3"),
        )
        .expect_err("wrong passphrase");
        assert!(wrong.to_string().contains("does not open"), "{wrong}");
        assert!(
            PersistentCache::open_with_key(
                dir.path().join("p"),
                &Secret::new(tessera_proto::b64::std_encode([9u8; 32]))
            )
            .is_err()
        );
        assert!(
            !again.entry_path("k").with_extension("bad").exists(),
            "nothing was set aside by the failed opens"
        );

        let plain = PersistentCache::open_plaintext(dir.path().join("plain")).expect("open");
        assert_eq!(plain.key_source, KeySource::Plaintext);
        plain.put("k", &token(4)).expect("put");
        assert_eq!(plain.get("k").expect("get"), Some(token(4)));
        assert!(
            fs::read(plain.entry_path("k"))
                .expect("raw")
                .windows(7)
                .any(|w| w == b"token-4"),
            "plaintext as asked"
        );
        fs::copy(plain.entry_path("k"), plain.entry_path("other")).expect("copy");
        assert_eq!(
            plain.get("other").expect("get"),
            None,
            "swapped files caught"
        );
        let refused =
            PersistentCache::open_with_key_file(dir.path().join("plain"), &dir.path().join("key"))
                .expect_err("a plaintext cache does not silently become encrypted");
        assert!(refused.to_string().contains("plaintext"), "{refused}");
    }

    #[test]
    fn default_key_lives_in_the_kernel_keyring_and_survives_processes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache_dir = dir.path().join("cache");
        let key_file = dir.path().join("config/cache.key");
        let c = PersistentCache::open_default(&cache_dir, &key_file).expect("open");
        if c.key_source == KeySource::KeyFile {
            // No keyring here (seccomp, kernel config): the fallback must have made the file.
            assert!(key_file.exists(), "the fallback key file was created");
            return;
        }
        assert_eq!(c.key_source, KeySource::OsKeyring);
        assert!(
            !key_file.exists(),
            "no key file when the keyring holds the key"
        );
        c.put("k", &token(5)).expect("put");
        drop(c);
        let again = PersistentCache::open_default(&cache_dir, &key_file).expect("reopen");
        assert_eq!(again.key_source, KeySource::OsKeyring);
        assert_eq!(again.get("k").expect("get"), Some(token(5)));

        // The key is gone (as after a reboot): the unreadable entries go, the cache starts over.
        PersistentCache::forget_keyring_key(&cache_dir);
        let fresh = PersistentCache::open_default(&cache_dir, &key_file).expect("start over");
        assert_eq!(fresh.get("k").expect("get"), None);
        assert!(fresh.is_empty());
        fresh.put("k", &token(6)).expect("put");
        assert_eq!(fresh.get("k").expect("get"), Some(token(6)));
        PersistentCache::forget_keyring_key(&cache_dir);
    }

    #[test]
    fn default_open_never_discards_a_cache_made_another_way() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pass = Secret::new("a passphrase of the user's");
        let cache_dir = dir.path().join("c");
        let c = PersistentCache::open_with_passphrase(&cache_dir, &pass).expect("open");
        c.put("k", &token(7)).expect("put");
        let r = PersistentCache::open_default(&cache_dir, &dir.path().join("key"));
        PersistentCache::forget_keyring_key(&cache_dir);
        assert!(r.is_err(), "refused, not started over");
        let again = PersistentCache::open_with_passphrase(&cache_dir, &pass).expect("reopen");
        assert_eq!(again.get("k").expect("get"), Some(token(7)));
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
