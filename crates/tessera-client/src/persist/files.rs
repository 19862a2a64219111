//! File primitives of the cache: private directories and atomic 0600 writes (temp file,
//! fsync, rename), so a crash leaves the old file or the new one, never a torn one.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;

use crate::error::ClientError;

pub(super) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClientError {
    let c = context.into();
    move |e| ClientError::io(c, e)
}

pub(super) fn private_dir(dir: &Path) -> Result<(), ClientError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(format!("creating {}", dir.display())))
}

/// Writes `bytes` to `path` atomically with mode 0600.
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
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
        .map_err(|e| write_error(path, e))?;
    let result = f
        .write_all(bytes)
        .and_then(|()| f.sync_all())
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(write_error(path, e));
    }
    Ok(())
}

/// A failed write, said plainly when the disk (or the user's quota) is full: nothing was
/// replaced, so what the file held before is still there.
fn write_error(path: &Path, e: std::io::Error) -> ClientError {
    let context = if matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ) {
        format!(
            "no space left to write {} (the disk or quota is full; the file's previous content, if any, is unchanged)",
            path.display()
        )
    } else {
        format!("writing {}", path.display())
    };
    ClientError::io(context, e)
}
