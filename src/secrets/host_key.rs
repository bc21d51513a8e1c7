//! The per-host key that seals secret values into digests, and the unkeyed digest of config
//! files.
//!
//! A secret's digest goes where anyone with Docker access reads it (the spec hash, the
//! `moor.last-applied` label, `moor plan`). An unkeyed hash of a short password can be guessed
//! from there; an HMAC keyed with a random per-host key cannot without the key file.
//!
//! Invariants:
//! - The key is 32 bytes from the OS CSPRNG (`getrandom`), kept as 64 hex digits in
//!   `<state-dir>/digest.key`, 0600, in a 0700 state dir when moor creates it.
//! - The key file is never overwritten: two processes creating it at once agree on one (each
//!   writes a temp file and hard-links it into place, which fails when the file exists; both
//!   then read what is there). A key file of the wrong shape is an error and left as it is:
//!   replacing it would make every secret read as changed.
//! - No key byte ever reaches Debug, an error or a log line.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The key file's name in the state dir.
pub const KEY_FILE: &str = "digest.key";

/// The prefix of a keyed digest of a secret value.
pub const SEALED_PREFIX: &str = "hmac-sha256:";

/// The prefix of the unkeyed digest of a config file.
pub const CONTENT_PREFIX: &str = "sha256:";

/// The per-host key that seals secret values into digests (HMAC-SHA256). An unkeyed hash of a
/// short password can be guessed from a label; a keyed one cannot without this file. Debug shows
/// nothing.
#[derive(Clone)]
pub struct HostKey {
    key: [u8; 32],
}

impl fmt::Debug for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HostKey(***)")
    }
}

/// Why the host key cannot be used. Holds the path, never a key byte.
#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    #[error("cannot create the state folder {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot read the digest key {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write the digest key {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("the operating system gave no random bytes for a new digest key {}: {source}", path.display())]
    Random { path: PathBuf, source: getrandom::Error },
    /// Never replaced: a new key would make every secret read as changed.
    #[error(
        "the digest key {} is not 64 hex digits (a 32-byte key), and moor never replaces it: restore it from a \
         backup, or remove it to make a new one (every service with secrets is then recreated once)",
        path.display()
    )]
    Malformed { path: PathBuf },
}

impl HostKey {
    /// `<state_dir>/digest.key`: created on first use (32 random bytes from the OS, stored as
    /// hex, 0600, the state dir created 0700 if missing); never overwritten: two processes
    /// creating it at once agree on one. A file of the wrong size or shape is an error, never
    /// replaced.
    pub fn load_or_create(state_dir: &Path) -> Result<HostKey, HostKeyError> {
        if let Some(key) = HostKey::load(state_dir)? {
            return Ok(key);
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir)
            .map_err(|source| HostKeyError::CreateDir { path: state_dir.into(), source })?;
        let path = state_dir.join(KEY_FILE);
        let write = |source| HostKeyError::Write { path: path.clone(), source };
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|source| HostKeyError::Random { path: path.clone(), source })?;
        // tempfile creates the file 0600; it is removed when dropped, linked or not.
        let mut temp = tempfile::Builder::new().prefix(".digest.key.").tempfile_in(state_dir).map_err(write)?;
        temp.write_all(format!("{}\n", hex::encode(key)).as_bytes()).map_err(write)?;
        temp.as_file().sync_all().map_err(write)?;
        // A hard link, unlike a rename, fails when the file exists: whoever links first wins, and
        // everyone reads the winner's key back.
        match std::fs::hard_link(temp.path(), &path) {
            Ok(()) => sync_dir(state_dir).map_err(write)?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(write(e)),
        }
        drop(temp);
        HostKey::load(state_dir)?.ok_or_else(|| write(std::io::ErrorKind::NotFound.into()))
    }

    /// The key if it exists (for `moor plan`, which should not create state): `Ok(None)` when
    /// absent.
    pub fn load(state_dir: &Path) -> Result<Option<HostKey>, HostKeyError> {
        let path = state_dir.join(KEY_FILE);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(HostKeyError::Read { path, source }),
        };
        let digits = text.strip_suffix(b"\n").unwrap_or(&text);
        let mut key = [0u8; 32];
        match hex::decode_to_slice(digits, &mut key) {
            Ok(()) => Ok(Some(HostKey { key })),
            Err(_) => Err(HostKeyError::Malformed { path }),
        }
    }

    /// A key from its bytes (tests).
    pub fn from_bytes(bytes: [u8; 32]) -> HostKey {
        HostKey { key: bytes }
    }

    /// `hmac-sha256:<64 hex>` of `value`.
    pub fn seal(&self, value: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any size");
        mac.update(value);
        format!("{SEALED_PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
    }
}

/// `sha256:<64 hex>` of a config file's content (not secret: unkeyed, so the same file reads the
/// same on every host).
pub fn content_digest(bytes: &[u8]) -> String {
    format!("{CONTENT_PREFIX}{}", hex::encode(Sha256::digest(bytes)))
}

/// Makes a new name in `dir` durable (the file's own data was synced before it was linked).
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    #[test]
    fn created_once_then_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state/moor");
        assert!(HostKey::load(&state).unwrap().is_none(), "absent: no key, and nothing created");
        assert!(!state.exists());
        let key = HostKey::load_or_create(&state).unwrap();
        assert_eq!(std::fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o700);
        let file = state.join(KEY_FILE);
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.len(), 65, "64 hex digits and a newline");
        assert!(text.trim_end().bytes().all(|b| b.is_ascii_hexdigit()));
        let again = HostKey::load_or_create(&state).unwrap();
        assert_eq!(again.seal(b"pw"), key.seal(b"pw"));
        assert_eq!(HostKey::load(&state).unwrap().unwrap().seal(b"pw"), key.seal(b"pw"));
        assert_eq!(std::fs::metadata(&file).unwrap().ino(), meta.ino(), "never rewritten");
        // Only the key is left: the temp file went.
        let names: Vec<_> = std::fs::read_dir(&state).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [KEY_FILE]);
    }

    #[test]
    fn two_hosts_make_different_keys() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b) = (HostKey::load_or_create(a.path()).unwrap(), HostKey::load_or_create(b.path()).unwrap());
        assert_ne!(a.seal(b"pw"), b.seal(b"pw"));
    }

    #[test]
    fn concurrent_creation_agrees_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let barrier = std::sync::Barrier::new(8);
        let seals: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        HostKey::load_or_create(&state).unwrap().seal(b"pw")
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(seals.iter().all(|s| s == &seals[0]), "{seals:?}");
        assert_eq!(HostKey::load(&state).unwrap().unwrap().seal(b"pw"), seals[0]);
        assert_eq!(std::fs::read_dir(&state).unwrap().count(), 1, "no temp file left");
    }

    #[test]
    fn a_malformed_key_file_is_an_error_and_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(KEY_FILE);
        for text in ["abcd\n", &"zz".repeat(32), &"ab".repeat(33), ""] {
            std::fs::write(&file, text).unwrap();
            let err = HostKey::load_or_create(dir.path()).unwrap_err();
            assert!(matches!(&err, HostKeyError::Malformed { path } if path == &file), "{err:?}");
            assert!(matches!(HostKey::load(dir.path()), Err(HostKeyError::Malformed { .. })));
            assert_eq!(std::fs::read_to_string(&file).unwrap(), text, "never replaced");
            assert!(err.to_string().contains(&file.display().to_string()));
        }
    }

    #[test]
    fn debug_and_errors_show_no_key() {
        let key = HostKey::from_bytes([0xab; 32]);
        assert_eq!(format!("{key:?}"), "HostKey(***)");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(KEY_FILE);
        // One hex digit short: the error names the file, never the digits.
        std::fs::write(&file, &"ab".repeat(32)[1..]).unwrap();
        let err = HostKey::load(dir.path()).unwrap_err();
        assert!(!err.to_string().contains("ababab") && !format!("{err:?}").contains("ababab"), "{err:?}");
    }

    #[test]
    fn digests() {
        let key = HostKey::from_bytes([7; 32]);
        let sealed = key.seal(b"hunter2");
        assert!(sealed.starts_with("hmac-sha256:") && sealed.len() == 12 + 64, "{sealed}");
        assert_eq!(key.seal(b"hunter2"), sealed, "deterministic");
        assert_ne!(key.seal(b"hunter3"), sealed);
        assert_ne!(HostKey::from_bytes([8; 32]).seal(b"hunter2"), sealed, "keyed");
        // RFC 4231's test case 2 ("Jefe"), with the key padded with zeros to 32 bytes (HMAC pads
        // short keys the same way).
        let mut jefe = [0u8; 32];
        jefe[..4].copy_from_slice(b"Jefe");
        assert_eq!(
            HostKey::from_bytes(jefe).seal(b"what do ya want for nothing?"),
            "hmac-sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(content_digest(b"abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
