//! Entries: one sealed file per key, named by a digest of the key; reading moves a file
//! that does not open aside instead of failing, writing is atomic.

use std::fs::{self, File};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{Aad, Nonce};

use super::PersistentCache;
use super::files::{io, write_atomic};
use super::format::{
    ListedEntry, MAGIC, NONCE_LEN, OLD_MAGICS, PLAIN_MAGIC, PersistedAccount, PersistedToken,
    Sealed,
};
use crate::error::ClientError;

impl PersistentCache {
    pub fn dir(&self) -> &Path {
        &self.dir
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
    pub(super) fn name(key: &str) -> String {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
        d.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub(super) fn entry_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{}.tok", Self::name(key)))
    }

    /// Reads an entry's file. A file that does not decrypt (corrupt, foreign, another key)
    /// is moved aside as `*.bad` with a warning, and reads as absent.
    pub(super) fn read(&self, key: &str) -> Result<Option<Sealed>, ClientError> {
        let path = self.entry_path(key);
        let sealed = self.read_path(&path)?;
        // A file holding another key (a digest collision, a renamed file) is not this entry.
        Ok(sealed.filter(|s| s.key == key))
    }

    pub(super) fn read_path(&self, path: &Path) -> Result<Option<Sealed>, ClientError> {
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
    pub(super) fn open_entry(&self, name: &str, bytes: &mut [u8]) -> Option<Sealed> {
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

    pub(super) fn write(&self, sealed: &Sealed) -> Result<(), ClientError> {
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
}
