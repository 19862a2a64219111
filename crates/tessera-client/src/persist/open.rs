//! Opening a cache: where its key comes from (caller, key file, OS keyring, passphrase, or
//! none for plaintext), the header that records which, and the key that names bindings.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, Nonce, RandomizedNonceKey};

use super::PersistentCache;
use super::files::{io, private_dir, write_atomic};
use super::format::{HEADER, Header, KEY_CHECK, KeySource, NONCE_LEN, PASSPHRASE_ROUNDS};
use crate::error::ClientError;
use crate::secret::Secret;

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

    pub(super) fn start_over(dir: &Path) -> Result<usize, ClientError> {
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

    pub(super) fn open_raw_b64(
        dir: PathBuf,
        key: &Secret,
        source: KeySource,
    ) -> Result<Self, ClientError> {
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

    pub(super) fn open_raw(
        dir: PathBuf,
        raw: &[u8],
        key_source: KeySource,
    ) -> Result<Self, ClientError> {
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
    pub(super) fn header_or(
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

    /// A plaintext cache has no key to derive the binding key from: it keeps a random one in
    /// `binding.key` (0600), as readable as the tokens themselves and no more.
    pub(super) fn plaintext_binding_key(dir: &Path) -> Result<aws_lc_rs::hmac::Key, ClientError> {
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
}
