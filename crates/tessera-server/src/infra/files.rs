//! Crash-safe file writes: write a temporary file beside the target, fsync it, rename it
//! over the target, fsync the directory. Readers see the old file or the new, never half.

use std::io::Write as _;
use std::path::Path;

use crate::error::ServerError;

/// Atomically writes `bytes` to `path` with mode 0600, creating parent directories (0700).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ServerError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    create_private_dir(parent)?;
    let ctx = |what: &str| format!("{what} {}", path.display());
    let mut tmp = tempfile_in(parent)
        .map_err(|e| ServerError::io(ctx("creating a temporary file for"), e))?;
    tmp.1
        .write_all(bytes)
        .map_err(|e| ServerError::io(ctx("writing"), e))?;
    tmp.1
        .sync_all()
        .map_err(|e| ServerError::io(ctx("syncing"), e))?;
    std::fs::rename(&tmp.0, path).map_err(|e| ServerError::io(ctx("replacing"), e))?;
    if let Ok(dir) = std::fs::File::open(parent) {
        let _ = dir.sync_all();
    }
    Ok(())
}

pub(crate) fn create_private_dir(dir: &Path) -> Result<(), ServerError> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| ServerError::io(format!("creating {}", dir.display()), e))
}

/// What tessera keeps in its data directory; only these are narrowed, so a data directory
/// pointed at a folder that holds other things (`--data-dir .`) leaves those alone.
const OURS: &[&str] = &[
    "tessera.db",
    "tessera.db-wal",
    "tessera.db-shm",
    "demo.json",
    "demo",
    "tls",
];

/// Makes the data directory private to this user: created 0700 if absent; tessera's own
/// files in it that group or others may read, write or enter are narrowed to 0700/0600,
/// with a warning naming what changed. It holds the signing keys and every refresh token,
/// so this runs before anything is read from it. The directory itself is narrowed when it
/// is tessera's (empty, or holding tessera's files); otherwise only a warning says so.
pub(crate) fn secure_data_dir(dir: &Path) -> Result<(), ServerError> {
    create_private_dir(dir)?;
    let entries: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| ServerError::io(format!("listing {}", dir.display()), e))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let ours = entries
        .iter()
        .all(|n| OURS.contains(&n.as_str()) || n.starts_with(".tessera-tmp-"));
    let mut narrowed = Vec::new();
    if ours {
        narrow(dir, false, &mut narrowed)?;
    } else if open_to_others(dir)? {
        tracing::warn!(dir = %dir.display(), "the data directory can be read by other users and holds files that are not tessera's, so it was left as it is; make it private (chmod 700) or give tessera a directory of its own");
    }
    for name in OURS {
        let path = dir.join(name);
        if std::fs::symlink_metadata(&path).is_ok() {
            narrow(&path, true, &mut narrowed)?;
        }
    }
    if !narrowed.is_empty() {
        let shown: Vec<String> = narrowed
            .iter()
            .take(5)
            .map(|p| p.display().to_string())
            .collect();
        tracing::warn!(
            count = narrowed.len(),
            paths = %shown.join(", "),
            "the data directory was readable by other users; narrowed to 0700/0600 (it holds the signing keys and refresh tokens)"
        );
    }
    Ok(())
}

fn open_to_others(path: &Path) -> Result<bool, ServerError> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| ServerError::io(format!("reading {}", path.display()), e))?;
    Ok(meta.permissions().mode() & 0o077 != 0)
}

/// Narrows `path` (and, with `deep`, what is under it: tessera's own `demo/` and `tls/`).
fn narrow(
    path: &Path,
    deep: bool,
    narrowed: &mut Vec<std::path::PathBuf>,
) -> Result<(), ServerError> {
    use std::os::unix::fs::PermissionsExt as _;
    // Symbolic links are not followed: what they point to is not ours to change.
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| ServerError::io(format!("reading {}", path.display()), e))?;
    if !meta.is_dir() && !meta.is_file() {
        return Ok(());
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        // Only the group and other bits go: the owner keeps what it had.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7700)).map_err(
            |e| {
                ServerError::io(
                    format!("narrowing the permissions of {}", path.display()),
                    e,
                )
            },
        )?;
        narrowed.push(path.to_path_buf());
    }
    if deep && meta.is_dir() {
        let entries = std::fs::read_dir(path)
            .map_err(|e| ServerError::io(format!("listing {}", path.display()), e))?;
        for entry in entries.flatten() {
            narrow(&entry.path(), false, narrowed)?;
        }
    }
    Ok(())
}

/// Creates `path` empty with mode 0600 unless it exists, so a database SQLite creates there
/// (and its `-wal` and `-shm` files, which take the database file's mode) is private
/// whatever the umask.
pub(crate) fn precreate_private(path: &Path) -> Result<(), ServerError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(ServerError::io(format!("creating {}", path.display()), e)),
    }
}

fn tempfile_in(dir: &Path) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    use std::os::unix::fs::OpenOptionsExt as _;
    for attempt in 0..100u32 {
        let name = dir.join(format!(".tessera-tmp-{}-{attempt}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&name)
        {
            Ok(f) => return Ok((name, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("could not create a temporary file"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn writes_private_files_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a/b/secret.json");
        write_private(&path, b"one").expect("write");
        write_private(&path, b"two").expect("overwrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let leftovers = std::fs::read_dir(path.parent().expect("parent"))
            .expect("ls")
            .count();
        assert_eq!(leftovers, 1, "no temporary files left behind");
    }
}
