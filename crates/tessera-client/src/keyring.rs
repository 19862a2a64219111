//! The cache key in the OS secret store. On Linux that is the kernel's per-user persistent
//! keyring: it needs no desktop session (works over SSH and in CI), outlives the processes
//! that use it, and is cleared by a reboot or after days unused (the kernel's expiry).

use crate::error::ClientError;
use crate::secret::Secret;

/// The key's name in the keyring: one per cache directory.
pub(crate) fn description(dir: &std::path::Path) -> String {
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        canonical.as_os_str().as_encoded_bytes(),
    );
    let hex: String = d.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("tessera:cache:{hex}")
}

/// Why the keyring cannot be used (no kernel support, blocked by a seccomp profile as in
/// Docker's default one); the caller falls back to a key file.
#[derive(Debug)]
pub(crate) struct Unavailable(pub(crate) String);

#[cfg(target_os = "linux")]
mod imp {
    use linux_keyutils::{KeyError, KeyRing, KeyRingIdentifier};

    use super::{ClientError, Secret, Unavailable};

    fn ring() -> Result<KeyRing, Unavailable> {
        KeyRing::get_persistent(KeyRingIdentifier::Process)
            .map_err(|e| Unavailable(format!("the kernel's persistent keyring: {e:?}")))
    }

    /// The stored key, `Ok(None)` when there is none.
    pub(crate) fn get(description: &str) -> Result<Option<Secret>, Unavailable> {
        let ring = ring()?;
        match ring.search(description) {
            Ok(key) => key
                .read_to_vec()
                .map(|v| Some(Secret::new(String::from_utf8_lossy(&v).into_owned())))
                .map_err(|e| Unavailable(format!("reading the key: {e:?}"))),
            Err(KeyError::KeyDoesNotExist | KeyError::KeyExpired | KeyError::KeyRevoked) => {
                Ok(None)
            }
            Err(e) => Err(Unavailable(format!("searching the keyring: {e:?}"))),
        }
    }

    pub(crate) fn put(description: &str, value: &Secret) -> Result<(), ClientError> {
        let ring = ring().map_err(|u| ClientError::Config(u.0))?;
        ring.add_key(description, value.expose().as_bytes())
            .map(|_| ())
            .map_err(|e| {
                ClientError::Config(format!("storing the cache key in the keyring: {e:?}"))
            })
    }

    pub(crate) fn remove(description: &str) {
        if let Ok(ring) = ring()
            && let Ok(key) = ring.search(description)
        {
            let _ = key.invalidate();
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::{ClientError, Secret, Unavailable};

    // macOS Keychain and Windows DPAPI are not implemented yet; the key file is used there.
    pub(crate) fn get(_: &str) -> Result<Option<Secret>, Unavailable> {
        Err(Unavailable(
            "no OS secret store support on this platform yet".into(),
        ))
    }

    pub(crate) fn put(_: &str, _: &Secret) -> Result<(), ClientError> {
        Err(ClientError::Config(
            "no OS secret store support on this platform yet".into(),
        ))
    }

    pub(crate) fn remove(_: &str) {}
}

pub(crate) use imp::{get, put, remove};
