//! The state dir of a git source:
//!
//! ```text
//! <root>/repo                  the bare, shallow repository (see [`super::Fetcher`])
//! <root>/snapshots/<sha>/      one revision's tree at --path
//! <root>/snapshots/<sha>.json  its Revision (and the --path it was written from)
//! <root>/current               a relative symlink to snapshots/<sha>
//! ```
//!
//! Invariants:
//! - `snapshots/<sha>` exists only complete: it is written as `<sha>.tmp` and renamed, and its
//!   json is written (via its own `.tmp`) before that rename.
//! - `current` always names a complete snapshot: it is replaced by renaming a new symlink over
//!   it, never removed first. Manifests are read through `current`, so a reader sees one
//!   revision or the next, never a mix.
//! - [`StateDir::prune`] never removes the snapshot `current` points at.
//! - One writer: `write_snapshot`, `set_current` and `prune` of one state dir are called from one
//!   task at a time (prune removes the `.tmp` folders a concurrent write would be filling, and two
//!   writes of one `<sha>.tmp` would rename a mix of both into place). Across processes (`moor
//!   run --git` and `moor apply --git` on the host's state dir) [`StateDir::lock`] enforces it.
//! - Atomic against a crash of the process, not against power loss (nothing is fsynced).

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tracing::warn;

use super::{Fetcher, GitError};

/// How many snapshots `moor run` keeps (beside the current one).
pub const KEEP_SNAPSHOTS: usize = 5;

/// One fetched revision, as `<sha>.json` holds it and `/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    pub sha: String,
    /// [`super::Remote::display_ref`].
    pub reference: String,
    pub subject: String,
    /// RFC 3339, UTC.
    pub fetched_at: String,
    /// `principal SHA256:fingerprint` when the signature was verified.
    pub signer: Option<String>,
}

impl Revision {
    /// A revision fetched now.
    pub fn new(sha: String, reference: String, subject: String, signer: Option<String>) -> Revision {
        let fetched_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        Revision { sha, reference, subject, fetched_at, signer }
    }

    /// `<reference>@sha1:<sha>`, as Flux names revisions: `main@sha1:0123…`.
    pub fn id(&self) -> String {
        format!("{}@sha1:{}", self.reference, self.sha)
    }
}

/// What `<sha>.json` holds: the revision and the `--path` its folder was written from (so a
/// changed `--path` rewrites the snapshot instead of serving the old folder).
#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(flatten)]
    revision: Revision,
    #[serde(default)]
    path: String,
}

/// A state dir (see the module docs).
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn new(root: PathBuf) -> StateDir {
        StateDir { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/current`: the stable path manifests are presented under (relative bind paths
    /// resolve through it, never through `snapshots/<sha>`).
    pub fn current_path(&self) -> PathBuf {
        self.root.join("current")
    }

    /// Locks `<root>/lock` exclusively (creating the state dir), waiting for another process
    /// that holds it: a sync holds it from its first write to its last, so that two processes on
    /// one state dir never write, swap or prune at once. Released when the file is dropped, or
    /// when the process dies.
    pub fn lock(&self) -> Result<fs::File, GitError> {
        fs::create_dir_all(&self.root).map_err(GitError::io(&self.root))?;
        let path = self.root.join("lock");
        let file =
            fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(GitError::io(&path))?;
        file.lock().map_err(GitError::io(&path))?;
        Ok(file)
    }

    /// The revision `current` points at; `None` when there is none yet, or when the link or its
    /// json is broken (logged).
    pub fn current(&self) -> Option<Revision> {
        let link = self.current_path();
        let target = match fs::read_link(&link) {
            Ok(target) => target,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                warn!(path = %link.display(), error = %e, "the current link cannot be read");
                return None;
            }
        };
        let sha = match target.strip_prefix("snapshots").ok().and_then(Path::to_str) {
            Some(sha) if is_sha(sha) => sha.to_string(),
            _ => {
                warn!(path = %link.display(), target = %target.display(), "the current link points elsewhere than a snapshot");
                return None;
            }
        };
        if !self.has_snapshot(&sha) {
            warn!(path = %link.display(), %sha, "the current link is dangling");
            return None;
        }
        match self.read_stored(&sha) {
            Ok(stored) if stored.revision.sha == sha => Some(stored.revision),
            Ok(_) => {
                warn!(%sha, "the snapshot's json is of another revision");
                None
            }
            Err(message) => {
                warn!(%sha, error = %message, "the snapshot's json cannot be read");
                None
            }
        }
    }

    /// The real folder of a revision: `<root>/snapshots/<sha>`.
    pub fn snapshot_path(&self, sha: &str) -> PathBuf {
        self.snapshots().join(sha)
    }

    /// True when `snapshots/<sha>` exists (it is complete whenever it exists).
    pub fn has_snapshot(&self, sha: &str) -> bool {
        self.snapshot_path(sha).is_dir()
    }

    /// Writes `snapshots/<sha>` from the commit's tree at `subdir`: into `<sha>.tmp` (a stale one
    /// removed first), then `<sha>.json`, then the rename. Does nothing when the snapshot exists
    /// from the same `subdir`; one from another `subdir` is replaced (moved aside to `<sha>.old`
    /// first, so for that moment a `current` pointing at it dangles).
    pub fn write_snapshot(&self, fetcher: &Fetcher, revision: &Revision, subdir: &Path) -> Result<PathBuf, GitError> {
        let sha = revision.sha.as_str();
        if !is_sha(sha) {
            // Also keeps a crafted "sha" from naming paths outside snapshots/.
            return Err(GitError::NoSuchCommit { sha: sha.to_string() });
        }
        let path = normalize(subdir);
        let done = self.snapshot_path(sha);
        let exists = done.is_dir();
        if exists && self.read_stored(sha).is_ok_and(|stored| stored.path == path) {
            return Ok(done);
        }
        let snapshots = self.snapshots();
        fs::create_dir_all(&snapshots).map_err(GitError::io(&snapshots))?;
        let tmp = snapshots.join(format!("{sha}.tmp"));
        remove_any(&tmp)?;
        if let Err(e) = fetcher.write_tree(sha, subdir, &tmp) {
            let _ = remove_any(&tmp);
            return Err(e);
        }
        let old = snapshots.join(format!("{sha}.old"));
        if exists {
            remove_any(&old)?;
            fs::rename(&done, &old).map_err(GitError::io(&done))?;
        }
        let stored = Stored { revision: revision.clone(), path };
        let json = serde_json::to_vec_pretty(&stored).expect("a Revision serializes");
        let json_path = self.json_path(sha);
        let json_tmp = snapshots.join(format!("{sha}.json.tmp"));
        fs::write(&json_tmp, json).map_err(GitError::io(&json_tmp))?;
        fs::rename(&json_tmp, &json_path).map_err(GitError::io(&json_path))?;
        fs::rename(&tmp, &done).map_err(GitError::io(&done))?;
        remove_any(&old)?;
        Ok(done)
    }

    /// Points `current` at `snapshots/<sha>` atomically: a `current.tmp` symlink renamed over it.
    pub fn set_current(&self, sha: &str) -> Result<(), GitError> {
        if !is_sha(sha) || !self.has_snapshot(sha) {
            return Err(GitError::NoSnapshot { sha: sha.to_string() });
        }
        let tmp = self.root.join("current.tmp");
        remove_any(&tmp)?;
        std::os::unix::fs::symlink(Path::new("snapshots").join(sha), &tmp).map_err(GitError::io(&tmp))?;
        let current = self.current_path();
        fs::rename(&tmp, &current).map_err(GitError::io(&current))
    }

    /// Deletes all but the newest `keep` snapshots (by their json's `fetchedAt`, else the
    /// folder's mtime), never the one `current` points at, and every leftover of an interrupted
    /// write (`.tmp`, `.old`, a json without its folder). Returns how many snapshots it deleted.
    pub fn prune(&self, keep: usize) -> Result<usize, GitError> {
        let snapshots = self.snapshots();
        let entries = match fs::read_dir(&snapshots) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(GitError::Io { path: snapshots, source: e }),
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(GitError::io(&snapshots))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_sha(&name) && entry.path().is_dir() {
                found.push((self.fetched_at(&name), name));
            } else {
                let interrupted = name.ends_with(".tmp") || name.ends_with(".old");
                let orphan_json = name.strip_suffix(".json").is_some_and(|sha| is_sha(sha) && !self.has_snapshot(sha));
                if interrupted || orphan_json {
                    remove_any(&entry.path())?;
                }
            }
        }
        // Newest first; the sha breaks ties so that the choice does not depend on listing order.
        found.sort_by(|a, b| b.cmp(a));
        let current = self.current().map(|revision| revision.sha);
        let mut removed = 0;
        for (_, sha) in found.into_iter().skip(keep) {
            if current.as_deref() != Some(sha.as_str()) {
                remove_any(&self.snapshot_path(&sha))?;
                remove_any(&self.json_path(&sha))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn snapshots(&self) -> PathBuf {
        self.root.join("snapshots")
    }

    /// True when `snapshots/<sha>` exists and was written from `subdir` (a snapshot of another
    /// `--path` is not what this source runs).
    pub fn written_from(&self, sha: &str, subdir: &Path) -> bool {
        self.has_snapshot(sha) && self.read_stored(sha).is_ok_and(|stored| stored.path == normalize(subdir))
    }

    fn json_path(&self, sha: &str) -> PathBuf {
        self.snapshots().join(format!("{sha}.json"))
    }

    fn read_stored(&self, sha: &str) -> Result<Stored, String> {
        let text = fs::read(self.json_path(sha)).map_err(|e| e.to_string())?;
        serde_json::from_slice(&text).map_err(|e| e.to_string())
    }

    fn fetched_at(&self, sha: &str) -> SystemTime {
        let from_json =
            self.read_stored(sha).ok().and_then(|s| humantime::parse_rfc3339_weak(&s.revision.fetched_at).ok());
        from_json
            .or_else(|| fs::metadata(self.snapshot_path(sha)).and_then(|m| m.modified()).ok())
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

fn is_sha(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `subdir` as stored: its plain components joined by `/`, `""` for the root.
fn normalize(subdir: &Path) -> String {
    let parts: Vec<_> = subdir
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_string_lossy()),
            _ => None,
        })
        .collect();
    parts.join("/")
}

/// Removes a file, a symlink or a folder; nothing there is fine.
fn remove_any(path: &Path) -> Result<(), GitError> {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    result.map_err(GitError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_id_is_flux_style_and_json_is_camel_case() {
        let revision = Revision::new("ab".repeat(20), "main".into(), "Fix".into(), None);
        assert_eq!(revision.id(), format!("main@sha1:{}", "ab".repeat(20)));
        let json = serde_json::to_value(&revision).unwrap();
        assert_eq!(json["fetchedAt"], revision.fetched_at.as_str());
        assert!(humantime::parse_rfc3339(&revision.fetched_at).is_ok(), "{}", revision.fetched_at);
    }

    #[test]
    fn subdirs_are_normalized() {
        assert_eq!(normalize(Path::new("")), "");
        assert_eq!(normalize(Path::new("./")), "");
        assert_eq!(normalize(Path::new("./deploy//prod/")), "deploy/prod");
    }
}
