//! The Azure Arc challenge: an unauthenticated IMDS request gets a 401 whose
//! `WWW-Authenticate: Basic realm=` names a new `.key` file in the Arc tokens directory
//! (`/var/opt/azcmagent/tokens` on Linux, as the SDKs require), readable only by the
//! directory's group of permitted users; the caller proves it may read that file by sending
//! its content back. A challenge answers once and lives 30 seconds. Protocol:
//! learn.microsoft.com "Authenticate against Azure resources with Azure Arc-enabled servers"
//! and the SDKs' own checks (azure-identity `azure_arc.py`, MSAL Python `_obtain_token_on_arc`:
//! the file must be in that directory, end in `.key` and be at most 4096 bytes).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::protocol::same;
use crate::error::ClientError;

/// Where Arc-aware SDKs look for challenge files on Linux.
pub const LINUX_TOKENS_DIR: &str = "/var/opt/azcmagent/tokens";
const CHALLENGE_SECONDS: i64 = 30;
/// Challenges outstanding at once: a caller that never answers cannot fill the directory.
const MAX_PENDING: usize = 1024;

#[derive(Debug)]
pub struct ArcChallenges {
    dir: PathBuf,
    /// File name -> (content, when made).
    pending: Mutex<HashMap<String, (String, i64)>>,
}

fn random_text(bytes: usize) -> Result<String, ClientError> {
    let mut b = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut b)
        .map_err(|_| ClientError::Config("the system's random source failed".into()))?;
    Ok(tessera_proto::b64::url_encode(b))
}

impl ArcChallenges {
    /// Challenges in `dir`, which must exist and be writable (the install step makes it,
    /// owned by the group of users allowed tokens, setgid, mode 2770).
    pub fn new(dir: &Path) -> Result<Self, ClientError> {
        let probe = dir.join(format!(".tessera-probe-{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(|e| {
            ClientError::Config(format!(
                "the Azure Arc tokens directory {} is not writable ({e}); make it once: \
                 sudo groupadd -f tessera-mi && sudo usermod -aG tessera-mi \"$USER\" && \
                 sudo install -d -m 2770 -g tessera-mi {}",
                dir.display(),
                dir.display()
            ))
        })?;
        let _ = std::fs::remove_file(&probe);
        Ok(Self {
            dir: dir.to_owned(),
            pending: Mutex::default(),
        })
    }

    fn forget_old(&self, map: &mut HashMap<String, (String, i64)>, now: i64) {
        map.retain(|name, (_, made)| {
            let keep = now - *made < CHALLENGE_SECONDS;
            if !keep {
                let _ = std::fs::remove_file(self.dir.join(name));
            }
            keep
        });
    }

    /// A new challenge: the path to name in `WWW-Authenticate`.
    pub fn issue(&self, now: i64) -> Result<String, ClientError> {
        {
            let mut map = self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.forget_old(&mut map, now);
            if map.len() >= MAX_PENDING {
                return Err(ClientError::Config(format!(
                    "{MAX_PENDING} Azure Arc challenges are waiting for an answer"
                )));
            }
        }
        let name = format!("{}.key", random_text(16)?);
        let content = random_text(32)?;
        let path = self.dir.join(&name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o640);
        let mut f = options
            .open(&path)
            .map_err(|e| ClientError::Config(format!("writing {}: {e}", path.display())))?;
        std::io::Write::write_all(&mut f, content.as_bytes())
            .map_err(|e| ClientError::Config(format!("writing {}: {e}", path.display())))?;
        let mut map = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.forget_old(&mut map, now);
        map.insert(name, (content, now));
        Ok(path.display().to_string())
    }

    /// Whether `answer` is the content of a live challenge; a challenge answers once.
    pub fn redeem(&self, answer: &str, now: i64) -> bool {
        let mut map = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.forget_old(&mut map, now);
        let found = map
            .iter()
            .find(|(_, (content, _))| same(content, answer))
            .map(|(name, _)| name.clone());
        match found {
            Some(name) => {
                map.remove(&name);
                let _ = std::fs::remove_file(self.dir.join(&name));
                true
            }
            None => false,
        }
    }
}

impl Drop for ArcChallenges {
    fn drop(&mut self) {
        let map = self
            .pending
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for name in map.keys() {
            let _ = std::fs::remove_file(self.dir.join(name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_answers_once_with_its_content_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let arc = ArcChallenges::new(dir.path()).expect("writable");
        let path = arc.issue(100).expect("issued");
        assert!(path.ends_with(".key") && path.starts_with(&dir.path().display().to_string()));
        let content = std::fs::read_to_string(&path).expect("file");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o640);
        }
        assert!(!arc.redeem("not the content", 101));
        assert!(arc.redeem(&content, 101));
        assert!(!arc.redeem(&content, 102), "once");
        assert!(
            !std::path::Path::new(&path).exists(),
            "the file goes with it"
        );
        let late = arc.issue(200).expect("issued");
        let late_content = std::fs::read_to_string(&late).expect("file");
        assert!(
            !arc.redeem(&late_content, 200 + CHALLENGE_SECONDS),
            "expired"
        );
        assert!(ArcChallenges::new(Path::new("/nonexistent/dir")).is_err());
    }
}
