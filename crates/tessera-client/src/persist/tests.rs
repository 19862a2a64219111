//! The cache's own unit tests: formats, tamper and foreign files, key sources, locks.

use std::fs;

use super::*;
use crate::secret::Secret;

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
        PersistentCache::open_with_key(dir.path().join("cache"), &Secret::new("short")).is_err()
    );
}

#[test]
fn passphrase_and_plaintext_caches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pass = Secret::new("correct horse battery staple");
    let c = PersistentCache::open_with_passphrase(dir.path().join("p"), &pass).expect("open");
    assert_eq!(c.key_source, KeySource::Passphrase);
    c.put("k", &token(3)).expect("put");
    let again = PersistentCache::open_with_passphrase(dir.path().join("p"), &pass).expect("reopen");
    assert_eq!(again.get("k").expect("get"), Some(token(3)));
    let wrong =
        PersistentCache::open_with_passphrase(dir.path().join("p"), &Secret::new("Tr0ub4dor&3"))
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
