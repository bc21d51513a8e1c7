//! The files moor writes for containers under its state dir: secret and config files (bind-mounted
//! read-only) and env bundles (the values of a container's sealed env vars, never mounted).
//!
//! Layout: `<state>/secrets/<service>/` holds secret files (`file-<hex>`) and env bundles
//! (`env-<hex>.json`); `<state>/configs/<service>/` holds config files (`file-<hex>`). Folders are
//! created 0700 (root's when moor runs as root: a container reads its file through the bind
//! mount, never through these folders).
//!
//! Invariants:
//! - Content-addressed: a file's name is a hash of what it is (the content's digest, owner and
//!   mode; an env bundle's, of its sealed names and digests), never of where it is mounted. A
//!   stop-first replacement therefore never changes what the old container sees, and a
//!   rollback finds the old files where they were.
//! - An existing file is never rewritten: a new one is written to a temp file in the same
//!   folder (owner, mode, fsync) and hard-linked into place, which fails when the name exists,
//!   so a concurrent writer of the same file changes nothing either.
//! - Only names of the shapes above (and temp files of a crashed write, after an hour) are
//!   moor's: [`FileStore::gc`] leaves anything else alone.
//! - Service names are DNS-1123 labels (checked again here: a name is a folder name); errors
//!   name paths, never content.
//! - One writer per service at a time (the reconciler's): `gc` of a service does not race its
//!   own `ensure`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::host_key::sync_dir;
use crate::manifest::model::check_dns1123;
use crate::manifest::refs::{FileKind, FileMount};
use crate::manifest::ContainerSpec;
use crate::sensitive::Sensitive;

const SECRETS: &str = "secrets";
const CONFIGS: &str = "configs";
const FILE_PREFIX: &str = "file-";
const ENV_PREFIX: &str = "env-";
const ENV_SUFFIX: &str = ".json";
const TEMP_PREFIX: &str = ".tmp-";
/// A temp file older than this is left over from a crashed write: no write takes this long.
const TEMP_GRACE: Duration = Duration::from_secs(3600);

/// Secret and config files for containers under the state dir: `<state>/secrets/<service>/` and
/// `<state>/configs/<service>/` (folders 0700, root's). Content-addressed: a file's name is
/// derived from (digest, uid, gid, mode), so a stop-first replacement never changes what the old
/// container sees, and an existing file is never rewritten.
#[derive(Debug, Clone)]
pub struct FileStore {
    state_dir: PathBuf,
}

/// Why a file of the store cannot be written, read or removed. Names paths and env names, never
/// content.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{service:?} is not a service name (a DNS-1123 label): moor keeps no files for it")]
    BadService { service: String },
    #[error("cannot create the folder {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot remove {}: {source}", path.display())]
    Remove { path: PathBuf, source: std::io::Error },
    #[error("{} is in the way: it is not a regular file", path.display())]
    NotAFile { path: PathBuf },
    /// `ensure_env` was not given the value of every sealed name.
    #[error("no value for the sealed env var(s) {} to write into {}", names.join(", "), path.display())]
    MissingValues { path: PathBuf, names: Vec<String> },
    /// The bundle a container's sealed env needs is gone (removed by hand, or never written).
    #[error("the env bundle {} is missing: the values of this container's secret env vars are gone", path.display())]
    EnvMissing { path: PathBuf },
    #[error("the env bundle {} does not hold the sealed env var(s) {}", path.display(), names.join(", "))]
    EnvIncomplete { path: PathBuf, names: Vec<String> },
    /// Where it broke, not what it holds: the parser's message could quote a value.
    #[error("the env bundle {} is not a JSON object of strings (line {line}, column {column})", path.display())]
    EnvMalformed { path: PathBuf, line: usize, column: usize },
}

impl FileStore {
    pub fn new(state_dir: PathBuf) -> FileStore {
        FileStore { state_dir }
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Where `file` of `service` lives on the host (pure; no I/O). `service` must be a DNS-1123
    /// label, as [`FileStore::ensure`] checks.
    pub fn path_of(&self, service: &str, file: &FileMount) -> PathBuf {
        let folder = match file.kind {
            FileKind::Secret => SECRETS,
            FileKind::Config => CONFIGS,
        };
        // The target is left out: two mounts of one content with one owner and mode share a file.
        let identity = format!("{}\n{:?}\n{:?}\n{:o}", file.digest, file.uid, file.gid, file.mode);
        self.folder(folder, service).join(format!("{FILE_PREFIX}{}", sha256_hex(identity.as_bytes())))
    }

    /// Writes `content` there unless the file exists: a temp file in the same folder, fchown(uid,
    /// gid) when given (otherwise the writer's: root's), fchmod(mode), fsync, then a hard link into
    /// place (a rename would replace a file a concurrent writer put there first). Returns the path.
    pub fn ensure(&self, service: &str, file: &FileMount, content: &[u8]) -> Result<PathBuf, StoreError> {
        check_service(service)?;
        let path = self.path_of(service, file);
        write_once(&path, content, file.uid, file.gid, file.mode)?;
        Ok(path)
    }

    /// The env bundle: the values of a container's sealed env vars, kept (never mounted) so that a
    /// container Docker deleted (`--rm`) can be built again with the same values at rollback.
    /// Named from the sealed digests (sha256 of the sorted `name=digest` lines), 0400, in
    /// `<state>/secrets/<service>/`.
    pub fn env_path(&self, service: &str, sealed_env: &BTreeMap<String, String>) -> PathBuf {
        let lines: String = sealed_env.iter().map(|(name, digest)| format!("{name}={digest}\n")).collect();
        self.folder(SECRETS, service).join(format!("{ENV_PREFIX}{}{ENV_SUFFIX}", sha256_hex(lines.as_bytes())))
    }

    /// Writes the env bundle of `sealed_env` (a JSON object of name to value, of exactly the names
    /// of `sealed_env`) unless it exists, as [`FileStore::ensure`] writes a file. Every name of
    /// `sealed_env` needs its value in `values`; other names of `values` are not written.
    pub fn ensure_env(
        &self,
        service: &str,
        sealed_env: &BTreeMap<String, String>,
        values: &BTreeMap<String, Sensitive<String>>,
    ) -> Result<PathBuf, StoreError> {
        check_service(service)?;
        let path = self.env_path(service, sealed_env);
        let missing: Vec<String> = sealed_env.keys().filter(|n| !values.contains_key(*n)).cloned().collect();
        if !missing.is_empty() {
            return Err(StoreError::MissingValues { path, names: missing });
        }
        let bundle: BTreeMap<&str, &str> =
            sealed_env.keys().map(|name| (name.as_str(), values[name].expose().as_str())).collect();
        let text = serde_json::to_vec(&bundle).expect("a map of strings serializes");
        write_once(&path, &text, None, None, 0o400)?;
        Ok(path)
    }

    /// Reads an env bundle back: the values of every name of `sealed_env`. An error when it is
    /// missing or does not hold every name of `sealed_env`.
    pub fn read_env(
        &self,
        service: &str,
        sealed_env: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, Sensitive<String>>, StoreError> {
        check_service(service)?;
        let path = self.env_path(service, sealed_env);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StoreError::EnvMissing { path }),
            Err(source) => return Err(StoreError::Read { path, source }),
        };
        let mut bundle: BTreeMap<String, String> = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::EnvMalformed { path: path.clone(), line: e.line(), column: e.column() })?;
        let missing: Vec<String> = sealed_env.keys().filter(|n| !bundle.contains_key(*n)).cloned().collect();
        if !missing.is_empty() {
            return Err(StoreError::EnvIncomplete { path, names: missing });
        }
        Ok(sealed_env
            .keys()
            .map(|name| (name.clone(), Sensitive::new(bundle.remove(name).expect("checked above"))))
            .collect())
    }

    /// Removes the files (and env bundles) of `service` that none of `keep` names, and temp files
    /// left by a crashed write; removes the service's folders when they end up empty. Returns how
    /// many files were removed. Files it does not recognise as its own are left alone.
    pub fn gc(&self, service: &str, keep: &[&ContainerSpec]) -> Result<usize, StoreError> {
        check_service(service)?;
        let mut kept = BTreeSet::new();
        for spec in keep {
            kept.extend(spec.files.iter().map(|f| self.path_of(service, f)));
            if !spec.sealed_env.is_empty() {
                kept.insert(self.env_path(service, &spec.sealed_env));
            }
        }
        let mut removed = 0;
        for folder in [SECRETS, CONFIGS] {
            let dir = self.folder(folder, service);
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(StoreError::Read { path: dir, source }),
            };
            for entry in entries {
                let entry = entry.map_err(|source| StoreError::Read { path: dir.clone(), source })?;
                let path = entry.path();
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                let own = match name_kind(name) {
                    Some(OwnName::Content) => !kept.contains(&path),
                    Some(OwnName::Temp) => is_stale(&entry),
                    None => false,
                };
                if own && entry.file_type().is_ok_and(|t| t.is_file()) {
                    match std::fs::remove_file(&path) {
                        Ok(()) => removed += 1,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(source) => return Err(StoreError::Remove { path, source }),
                    }
                }
            }
            remove_if_empty(&dir)?;
        }
        Ok(removed)
    }

    /// Removes the files of every service not in `services`, and their folders once empty (after
    /// prune and `moor down`). Folders whose names are not service names are left alone. Returns
    /// how many files were removed.
    pub fn gc_services(&self, services: &BTreeSet<String>) -> Result<usize, StoreError> {
        let mut gone = BTreeSet::new();
        for folder in [SECRETS, CONFIGS] {
            let dir = self.state_dir.join(folder);
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(StoreError::Read { path: dir, source }),
            };
            for entry in entries {
                let entry = entry.map_err(|source| StoreError::Read { path: dir.clone(), source })?;
                let Ok(name) = entry.file_name().into_string() else { continue };
                if entry.file_type().is_ok_and(|t| t.is_dir())
                    && check_dns1123(&name).is_ok()
                    && !services.contains(&name)
                {
                    gone.insert(name);
                }
            }
        }
        gone.iter().map(|service| self.gc(service, &[])).sum()
    }

    /// Does `service` have a folder of files here? (Cheap: two `stat`s. Services without secrets
    /// or configs are never listed for collection.)
    pub fn has_files(&self, service: &str) -> bool {
        [SECRETS, CONFIGS].iter().any(|f| self.folder(f, service).is_dir())
    }

    fn folder(&self, folder: &str, service: &str) -> PathBuf {
        self.state_dir.join(folder).join(service)
    }
}

/// What a name in a service's folder is, when it is moor's.
enum OwnName {
    /// `file-<hex>` or `env-<hex>.json`.
    Content,
    /// A temp file of a write in progress, or of one that crashed.
    Temp,
}

fn name_kind(name: &str) -> Option<OwnName> {
    let hash = |hex: &str| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if name.starts_with(TEMP_PREFIX) {
        return Some(OwnName::Temp);
    }
    let content = name.strip_prefix(FILE_PREFIX).is_some_and(hash)
        || name.strip_prefix(ENV_PREFIX).and_then(|n| n.strip_suffix(ENV_SUFFIX)).is_some_and(hash);
    content.then_some(OwnName::Content)
}

/// Is this temp file older than any write takes?
fn is_stale(entry: &std::fs::DirEntry) -> bool {
    let modified = entry.metadata().and_then(|m| m.modified());
    modified.is_ok_and(|t| SystemTime::now().duration_since(t).is_ok_and(|age| age > TEMP_GRACE))
}

fn remove_if_empty(dir: &Path) -> Result<(), StoreError> {
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::DirectoryNotEmpty) => Ok(()),
        Err(source) => Err(StoreError::Remove { path: dir.into(), source }),
    }
}

fn check_service(service: &str) -> Result<(), StoreError> {
    check_dns1123(service).map_err(|_| StoreError::BadService { service: service.into() })
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes `content` at `path` unless something is there (see the module's invariants).
fn write_once(path: &Path, content: &[u8], uid: Option<u32>, gid: Option<u32>, mode: u32) -> Result<(), StoreError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => return Ok(()),
        Ok(_) => return Err(StoreError::NotAFile { path: path.into() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(StoreError::Read { path: path.into(), source }),
    }
    let dir = path.parent().expect("a store path has a folder");
    // The state dir, `secrets`/`configs` and the service's folder: each created 0700 if missing.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StoreError::CreateDir { path: dir.into(), source })?;
    let write = |source| StoreError::Write { path: path.into(), source };
    // Removed when dropped, linked or not.
    let mut temp = tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(dir).map_err(write)?;
    temp.write_all(content).map_err(write)?;
    if uid.is_some() || gid.is_some() {
        std::os::unix::fs::fchown(temp.as_file(), uid, gid).map_err(write)?;
    }
    // After the chown, which may clear mode bits.
    temp.as_file().set_permissions(std::fs::Permissions::from_mode(mode)).map_err(write)?;
    temp.as_file().sync_all().map_err(write)?;
    match std::fs::hard_link(temp.path(), path) {
        Ok(()) => sync_dir(dir).map_err(write),
        // A concurrent writer of the same name was first: its content is this content.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(write(e)),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    fn mount(kind: FileKind, digest: &str, owner: Option<u32>, mode: u32) -> FileMount {
        FileMount { target: "/run/secrets/x".into(), kind, digest: digest.into(), uid: owner, gid: owner, mode }
    }

    fn secret(digest: &str) -> FileMount {
        mount(FileKind::Secret, digest, None, 0o400)
    }

    fn temp_store() -> (tempfile::TempDir, FileStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("state"));
        (dir, store)
    }

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().mode() & 0o7777
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    fn spec(files: Vec<FileMount>, sealed: &[(&str, &str)]) -> ContainerSpec {
        let mut spec = ContainerSpec::bare("app:1");
        spec.files = files;
        spec.sealed_env = sealed.iter().map(|(n, d)| (n.to_string(), d.to_string())).collect();
        spec
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, Sensitive<String>> {
        pairs.iter().map(|(n, v)| (n.to_string(), Sensitive::new(v.to_string()))).collect()
    }

    #[test]
    fn a_file_is_written_with_its_owner_and_mode_in_a_private_folder() {
        let (_dir, store) = temp_store();
        let owned = mount(FileKind::Secret, "hmac-sha256:aa", Some(1000), 0o440);
        let path = store.ensure("web", &owned, b"s3cret").unwrap();
        assert_eq!(path, store.path_of("web", &owned));
        assert_eq!(path.parent().unwrap(), store.state_dir().join("secrets/web"));
        assert_eq!(std::fs::read(&path).unwrap(), b"s3cret");
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid(), mode_of(&path)), (1000, 1000, 0o440));
        for folder in ["", "secrets", "secrets/web"] {
            assert_eq!(mode_of(&store.state_dir().join(folder)), 0o700, "{folder}");
        }

        // A config without an owner: the writer's (root's, as the tests run).
        let config = mount(FileKind::Config, "sha256:bb", None, 0o444);
        let path = store.ensure("web", &config, b"port: 80\n").unwrap();
        assert_eq!(path.parent().unwrap(), store.state_dir().join("configs/web"));
        let meta = std::fs::metadata(&path).unwrap();
        // SAFETY: geteuid and getegid only read the process's ids.
        let me = unsafe { (libc::geteuid(), libc::getegid()) };
        assert_eq!((meta.uid(), meta.gid(), mode_of(&path)), (me.0, me.1, 0o444));
        assert_eq!(std::fs::read(&path).unwrap(), b"port: 80\n");
        // No temp file is left behind.
        assert_eq!(names(path.parent().unwrap()).len(), 1);
    }

    #[test]
    fn an_existing_file_is_never_rewritten() {
        let (_dir, store) = temp_store();
        let file = secret("hmac-sha256:aa");
        let path = store.ensure("web", &file, b"first").unwrap();
        let before = std::fs::metadata(&path).unwrap();
        // Content-addressed: the same digest is the same content, so nothing is written again
        // (the different bytes here show that nothing was).
        assert_eq!(store.ensure("web", &file, b"second").unwrap(), path);
        let after = std::fs::metadata(&path).unwrap();
        assert_eq!(
            (after.ino(), after.mtime(), after.mtime_nsec()),
            (before.ino(), before.mtime(), before.mtime_nsec())
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
    }

    #[test]
    fn a_different_owner_mode_or_digest_is_a_different_file() {
        let (_dir, store) = temp_store();
        let base = mount(FileKind::Secret, "hmac-sha256:aa", Some(1000), 0o400);
        let variants = [
            base.clone(),
            FileMount { uid: Some(1001), ..base.clone() },
            FileMount { gid: Some(1001), ..base.clone() },
            FileMount { uid: None, gid: None, ..base.clone() },
            FileMount { mode: 0o440, ..base.clone() },
            FileMount { digest: "hmac-sha256:ab".into(), ..base.clone() },
        ];
        let paths: BTreeSet<PathBuf> =
            variants.iter().map(|f| store.ensure("web", f, f.digest.as_bytes()).unwrap()).collect();
        assert_eq!(paths.len(), variants.len());
        let first = std::fs::metadata(store.path_of("web", &variants[0])).unwrap();
        let second = std::fs::metadata(store.path_of("web", &variants[1])).unwrap();
        assert_eq!((first.uid(), second.uid()), (1000, 1001));
        // The target is not part of the name: the same file serves two mounts.
        let elsewhere = FileMount { target: "/etc/app/key".into(), ..base.clone() };
        assert_eq!(store.path_of("web", &elsewhere), store.path_of("web", &base));
        // Nor is the kind's folder the same.
        let as_config = FileMount { kind: FileKind::Config, ..base.clone() };
        assert_ne!(store.path_of("web", &as_config), store.path_of("web", &base));
    }

    #[test]
    fn concurrent_writers_of_one_file_both_succeed() {
        let (_dir, store) = temp_store();
        let file = mount(FileKind::Config, "sha256:cc", Some(1000), 0o444);
        for _ in 0..20 {
            let barrier = std::sync::Barrier::new(2);
            let paths: Vec<PathBuf> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..2)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            store.ensure("web", &file, b"same").unwrap()
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert_eq!(paths[0], paths[1]);
            assert_eq!(std::fs::read(&paths[0]).unwrap(), b"same");
            assert_eq!(names(paths[0].parent().unwrap()).len(), 1, "no temp file left");
            store.gc("web", &[]).unwrap();
        }
    }

    #[test]
    fn env_bundles_round_trip() {
        let (_dir, store) = temp_store();
        let sealed: BTreeMap<String, String> = [("DB_PASSWORD", "hmac-sha256:01"), ("API_TOKEN", "hmac-sha256:02")]
            .map(|(n, d)| (n.into(), d.into()))
            .into();
        let vals = values(&[("DB_PASSWORD", "hunter2"), ("API_TOKEN", "t\"ok\nen"), ("EXTRA", "not sealed")]);
        let path = store.ensure_env("web", &sealed, &vals).unwrap();
        assert_eq!(path, store.env_path("web", &sealed));
        assert_eq!(path.parent().unwrap(), store.state_dir().join("secrets/web"));
        assert_eq!(mode_of(&path), 0o400);
        let back = store.read_env("web", &sealed).unwrap();
        assert_eq!(back, values(&[("DB_PASSWORD", "hunter2"), ("API_TOKEN", "t\"ok\nen")]));

        // Another digest is another bundle.
        let mut changed = sealed.clone();
        changed.insert("API_TOKEN".into(), "hmac-sha256:03".into());
        assert_ne!(store.env_path("web", &changed), path);
        assert!(matches!(store.read_env("web", &changed), Err(StoreError::EnvMissing { .. })));

        // Every sealed name needs a value to be written.
        let err = store.ensure_env("web", &changed, &values(&[("API_TOKEN", "x")])).unwrap_err();
        assert!(matches!(&err, StoreError::MissingValues { names, .. } if names == &["DB_PASSWORD"]), "{err:?}");
    }

    #[test]
    fn a_broken_env_bundle_is_an_error_that_quotes_nothing() {
        let (_dir, store) = temp_store();
        let sealed: BTreeMap<String, String> = [("DB_PASSWORD".to_string(), "hmac-sha256:01".to_string())].into();
        let path = store.env_path("web", &sealed);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, r#"{"OTHER": "hunter2"}"#).unwrap();
        let err = store.read_env("web", &sealed).unwrap_err();
        assert!(matches!(&err, StoreError::EnvIncomplete { names, .. } if names == &["DB_PASSWORD"]), "{err:?}");
        for broken in [r#"{"DB_PASSWORD": 42, "X": "hunter2"}"#, r#"["hunter2"]"#, "hunter2"] {
            std::fs::write(&path, broken).unwrap();
            let err = store.read_env("web", &sealed).unwrap_err();
            assert!(matches!(err, StoreError::EnvMalformed { .. }), "{err:?}");
            assert!(!err.to_string().contains("hunter2") && !format!("{err:?}").contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn gc_keeps_what_specs_name_and_removes_the_rest() {
        let (_dir, store) = temp_store();
        let (old, new, config) =
            (secret("hmac-sha256:01"), secret("hmac-sha256:02"), mount(FileKind::Config, "sha256:03", None, 0o444));
        for f in [&old, &new, &config] {
            store.ensure("web", f, b"x").unwrap();
        }
        let sealed = [("PASSWORD", "hmac-sha256:04")];
        let sealed_map: BTreeMap<String, String> = [("PASSWORD".to_string(), "hmac-sha256:04".to_string())].into();
        store.ensure_env("web", &sealed_map, &values(&[("PASSWORD", "pw")])).unwrap();
        let other: BTreeMap<String, String> = [("PASSWORD".to_string(), "hmac-sha256:05".to_string())].into();
        store.ensure_env("web", &other, &values(&[("PASSWORD", "old")])).unwrap();
        // Not moor's: left alone whatever its age.
        let secrets = store.state_dir().join("secrets/web");
        std::fs::write(secrets.join("notes.txt"), "mine").unwrap();
        std::fs::write(secrets.join(format!("file-{}", "A".repeat(64))), "mine too").unwrap();
        // A crashed write's temp file goes once it is old; a fresh one may be a write in progress.
        let stale = secrets.join(".tmp-stale");
        let fresh = secrets.join(".tmp-fresh");
        std::fs::write(&stale, "x").unwrap();
        std::fs::write(&fresh, "x").unwrap();
        let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
        std::fs::File::options().write(true).open(&stale).unwrap().set_modified(two_hours_ago).unwrap();

        let running = spec(vec![new.clone(), config.clone()], &sealed);
        let removed = store.gc("web", &[&running]).unwrap();
        assert_eq!(removed, 3, "the old secret, the old env bundle and the stale temp file");
        assert!(!store.path_of("web", &old).exists());
        assert!(store.path_of("web", &new).exists() && store.path_of("web", &config).exists());
        assert!(store.env_path("web", &sealed_map).exists() && !store.env_path("web", &other).exists());
        assert!(!stale.exists() && fresh.exists());
        assert!(secrets.join("notes.txt").exists());

        // Nothing kept: moor's files go, the folder of configs with them; the secrets folder
        // keeps what is not moor's.
        std::fs::remove_file(&fresh).unwrap();
        assert_eq!(store.gc("web", &[]).unwrap(), 3);
        assert!(!store.state_dir().join("configs/web").exists());
        assert_eq!(names(&secrets), [format!("file-{}", "A".repeat(64)), "notes.txt".to_string()]);
        // A service with no folders: nothing to do.
        assert_eq!(store.gc("api", &[]).unwrap(), 0);
    }

    #[test]
    fn gc_services_removes_the_folders_of_services_no_longer_declared() {
        let (_dir, store) = temp_store();
        for service in ["web", "api", "db"] {
            store.ensure(service, &secret("hmac-sha256:01"), b"x").unwrap();
            store.ensure(service, &mount(FileKind::Config, "sha256:02", None, 0o444), b"y").unwrap();
        }
        std::fs::create_dir_all(store.state_dir().join("configs/Not_A_Service")).unwrap();
        let declared: BTreeSet<String> = ["web".to_string()].into();
        assert_eq!(store.gc_services(&declared).unwrap(), 4);
        assert_eq!(names(&store.state_dir().join("secrets")), ["web"]);
        assert_eq!(names(&store.state_dir().join("configs")), ["Not_A_Service", "web"]);
        assert_eq!(store.gc_services(&BTreeSet::new()).unwrap(), 2);
        assert!(!store.state_dir().join("secrets/web").exists());
        // A state dir without files at all.
        let (_other, empty) = temp_store();
        assert_eq!(empty.gc_services(&BTreeSet::new()).unwrap(), 0);
    }

    #[test]
    fn names_that_are_not_service_names_are_refused() {
        let (_dir, store) = temp_store();
        let sealed = BTreeMap::new();
        for bad in ["", "..", "../etc", "a/b", "Web", "-web", "web.1"] {
            let refused = |r: Result<_, StoreError>| matches!(r, Err(StoreError::BadService { .. }));
            assert!(refused(store.ensure(bad, &secret("hmac-sha256:01"), b"x").map(|_| ())), "{bad:?}");
            assert!(refused(store.ensure_env(bad, &sealed, &BTreeMap::new()).map(|_| ())), "{bad:?}");
            assert!(refused(store.read_env(bad, &sealed).map(|_| ())), "{bad:?}");
            assert!(refused(store.gc(bad, &[]).map(|_| ())), "{bad:?}");
        }
        assert!(!store.state_dir().exists(), "nothing was created");
    }

    #[test]
    fn something_else_in_the_way_is_an_error() {
        let (_dir, store) = temp_store();
        let file = secret("hmac-sha256:01");
        std::fs::create_dir_all(store.path_of("web", &file)).unwrap();
        assert!(matches!(store.ensure("web", &file, b"x"), Err(StoreError::NotAFile { .. })));
    }
}
