//! The shared token cache on a full disk (ENOSPC), on a real one: a 256 KiB tmpfs mounted
//! for the test and filled to the last byte. Writing fails with an error that says the disk
//! is full, every entry already there reads back whole, and once space is freed writes work
//! again; `tessera token` says the same and exits 1. Mounting needs root (CI runs as root):
//! without it the test fails and says so rather than passing untested.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use tessera_client::{ClientError, PersistedToken, PersistentCache};

use crate::support::{Running, as_daemon, delta, metrics};

/// A tmpfs of `size` mounted on a fresh directory; unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        let euid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            .expect("Uid line");
        assert_eq!(
            euid, "0",
            "this test mounts a small tmpfs to fill a real disk, which needs root (CI runs as root); run it as root"
        );
        std::fs::create_dir_all(dir).expect("mount point");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount -t tmpfs failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            dir: dir.to_owned(),
        }
    }

    /// Writes a filler file until the filesystem refuses more; returns its path.
    fn fill(&self) -> PathBuf {
        let path = self.dir.join("filler");
        let mut f = std::fs::File::create(&path).expect("filler");
        let chunk = [0u8; 4096];
        let err = loop {
            if let Err(e) = f.write_all(&chunk) {
                break e;
            }
        };
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::StorageFull,
            "the filesystem is full: {err}"
        );
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

fn token(n: usize, tag: &str) -> PersistedToken {
    PersistedToken {
        access_token: format!("{tag}{n:0>2000}"),
        expires_at: 2_000_000_000,
        refresh_at: 1_900_000_000,
        lifetime: 3600,
    }
}

/// The names in `dir` with `suffix` (leftover temp files, entries set aside as corrupt).
fn named(dir: &Path, suffix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("ls")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix))
        .collect()
}

#[test]
fn a_full_disk_fails_writes_clearly_and_corrupts_no_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = Tmpfs::mount(&dir.path().join("cache"), "256k");
    let key_file = dir.path().join("cache.key");
    let cache = PersistentCache::open_with_key_file(&disk.dir, &key_file).expect("open");
    for n in 0..20 {
        cache
            .put(&format!("key-{n}"), &token(n, "old"))
            .expect("put");
    }
    let filler = disk.fill();

    // Overwriting an entry and adding one both fail, as an I/O error that says why.
    for key in ["key-3", "key-new"] {
        let err = cache
            .put(key, &token(3, "new"))
            .expect_err("no space to write");
        let ClientError::Io { error, .. } = &err else {
            panic!("an I/O error: {err:?}");
        };
        assert_eq!(error.kind(), std::io::ErrorKind::StorageFull, "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with("no space left to write ")
                && text.contains(&disk.dir.display().to_string())
                && text.contains("previous content, if any, is unchanged")
                && text.ends_with("No space left on device (os error 28)"),
            "{text}"
        );
    }
    // Every entry reads back as it was; nothing was left half-written or set aside.
    for n in 0..20 {
        let got = cache
            .get(&format!("key-{n}"))
            .expect("read")
            .expect("there");
        assert_eq!(got, token(n, "old"), "entry {n} is whole and unchanged");
    }
    assert_eq!(cache.get("key-new").expect("read"), None);
    assert_eq!(
        named(&disk.dir, ".tmp"),
        Vec::<String>::new(),
        "no temp file left"
    );
    assert_eq!(
        named(&disk.dir, ".bad"),
        Vec::<String>::new(),
        "nothing set aside"
    );

    // Space freed: the same writes succeed.
    std::fs::remove_file(filler).expect("free space");
    cache
        .put("key-3", &token(3, "new"))
        .expect("put after freeing");
    cache
        .put("key-new", &token(9, "new"))
        .expect("put after freeing");
    assert_eq!(cache.get("key-3").expect("read"), Some(token(3, "new")));
    assert_eq!(cache.get("key-new").expect("read"), Some(token(9, "new")));
}

#[test]
#[allow(clippy::print_stderr)] // what the user sees, shown with --nocapture
fn tessera_token_on_a_full_cache_disk_says_so_and_keeps_its_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Running::start(&dir.path().join("data"), &[]);
    let home = dir.path().join("home");
    // The cache directory ($HOME/.cache/tessera/tokens) on its own small disk; the key file
    // ($HOME/.config) stays on the big one.
    let disk = Tmpfs::mount(&home.join(".cache"), "256k");
    let run = |scope: &str| {
        as_daemon(&s, &home, &["token", "--scope", scope])
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .output()
            .expect("run tessera token")
    };
    let graph = "https://graph.microsoft.com/.default";
    let first = run(graph);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let filler = disk.fill();

    // Another token (Graph by its app id: another cache entry) must be written, and cannot.
    let other = "00000003-0000-0000-c000-000000000000/.default";
    let refused = run(other);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    eprintln!(
        "tessera token on a full disk: exit {:?}\n{stderr}",
        refused.status.code()
    );
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: getting a token: no space left to write ")
            && stderr.trim_end().ends_with(
                "(the disk or quota is full; the file's previous content, if any, is unchanged): No space left on device (os error 28)"
            ),
        "{stderr}"
    );
    assert!(refused.stdout.is_empty(), "no token printed");

    // The token already cached is served from the cache, unchanged, with no request.
    let before = metrics(&s);
    let again = run(graph);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(again.stdout, first.stdout, "the cached token, whole");
    assert_eq!(
        delta(&before, &metrics(&s), |k| k
            .starts_with("tessera_token_requests_total")),
        0,
        "answered from the cache"
    );

    std::fs::remove_file(filler).expect("free space");
    let written = run(other);
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
}
