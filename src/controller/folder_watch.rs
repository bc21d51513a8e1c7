//! The manifest folder's watch, by path: the folder itself (its files) and its parent (the
//! folder's own name), so that a folder renamed away and replaced, or removed and created again,
//! is followed rather than watched blind on its old inode.
//!
//! Invariants:
//! - The watch only accelerates: every resync loads the folder again whatever the watch saw
//!   (see `Controller::reload`), so a missed event, or a watch that cannot be set up, costs at
//!   most one interval.
//! - [`FolderWatch::follow`] runs before each load of the folder: a folder that now names
//!   another inode (or none) is watched afresh *before* its files are read, so a file written
//!   after the read raises an event on the new watch, and one written before is read.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{EventKind, ModifyKind};
use notify::RecursiveMode;
use notify_debouncer_full::{new_debouncer, DebounceEventResult, Debouncer, RecommendedCache};
use tokio::sync::mpsc::UnboundedSender;
use tracing::{debug, info, warn};

use super::triggers::Trigger;

/// How long file events are gathered into one change: an editor's atomic save or a `git pull`
/// that touches many files counts once.
const DEBOUNCE: Duration = Duration::from_millis(200);

type Watcher = Debouncer<notify::RecommendedWatcher, RecommendedCache>;

/// Which folder a path names now: device and inode, `None` when nothing (or no folder) is there.
fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().filter(|m| m.is_dir()).map(|m| (m.dev(), m.ino()))
}

/// A debounced watch of one manifest folder, by its path.
pub struct FolderWatch {
    debouncer: Watcher,
    /// The folder, absolute: notify reports absolute paths.
    dir: PathBuf,
    /// The folder the watch is on, when it is on one.
    armed: Option<(u64, u64)>,
    parent_armed: bool,
    /// Set by the event handler when the folder's own name was created, removed or renamed: the
    /// watch may be on a folder that is gone even when a new one got the same inode number.
    rearm: Arc<AtomicBool>,
}

impl FolderWatch {
    /// Watches `dir` (when it exists) and its parent, sending one [`Trigger::Manifests`] per
    /// debounced batch that touches a file under the folder (not a hidden one) or the folder's
    /// own name. Secret and config files outside the folder (`/etc/moor`) are read again at each
    /// resync.
    pub fn new(dir: &Path, tx: UnboundedSender<Trigger>) -> Result<FolderWatch, notify::Error> {
        let dir = std::path::absolute(dir).map_err(notify::Error::io)?;
        let rearm = Arc::new(AtomicBool::new(false));
        let (root, flag) = (dir.clone(), rearm.clone());
        let debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| match result {
            Ok(events) => {
                // Only changes count: moor's own reads of the files raise access events, and
                // reloading on those would loop.
                let paths = || events.iter().filter(|e| is_change(&e.kind)).flat_map(|e| e.paths.iter());
                if paths().any(|p| p == &root) {
                    flag.store(true, Ordering::Relaxed);
                }
                // The parent's other entries are not ours; the folder's name and everything in it
                // are: manifests, and the Secrets, env files and configs they name (in
                // subfolders too). Hidden names are not: a `.git` folder, an editor's swap file,
                // a log written there.
                let ours = |p: &PathBuf| p == &root || is_ours(&root, p);
                if paths().any(ours) {
                    debug!(events = events.len(), "manifest folder changed");
                    let _ = tx.send(Trigger::Manifests);
                }
            }
            Err(errors) => warn!(?errors, "watching the manifest folder"),
        })?;
        let mut watch = FolderWatch { debouncer, dir, armed: None, parent_armed: false, rearm };
        watch.arm_parent();
        watch.follow();
        if watch.armed.is_none() && !watch.parent_armed {
            return Err(notify::Error::generic("neither the folder nor its parent can be watched"));
        }
        Ok(watch)
    }

    /// Watches the folder at the path anew when it is not the one watched (renamed away and
    /// replaced, removed and created again, or there for the first time), and the parent when it
    /// could not be watched before. Cheap when nothing changed: one `stat`.
    pub fn follow(&mut self) {
        if !self.parent_armed {
            self.arm_parent();
        }
        let now = identity(&self.dir);
        let renamed = self.rearm.swap(false, Ordering::Relaxed);
        if now == self.armed && !renamed {
            return;
        }
        if self.armed.take().is_some() {
            // Gone with its inode already when the folder was deleted: nothing to undo then.
            let _ = self.debouncer.unwatch(&self.dir);
        }
        if now.is_none() {
            info!(dir = %self.dir.display(), "the manifest folder is gone; watching for it to come back");
            return;
        }
        // Recursive: a config in a subfolder (`conf/nginx.conf`) rolls its service too.
        match self.debouncer.watch(&self.dir, RecursiveMode::Recursive) {
            Ok(()) => {
                // Read again after the watch is on: the folder may have changed in between.
                self.armed = identity(&self.dir);
                debug!(dir = %self.dir.display(), "watching the manifest folder");
            }
            Err(e) => {
                warn!(dir = %self.dir.display(), error = %e, "cannot watch the manifest folder; relying on the interval")
            }
        }
    }

    /// Watches the parent folder, non-recursively, for the folder's own name.
    fn arm_parent(&mut self) {
        let Some(parent) = self.dir.parent().map(Path::to_path_buf) else {
            self.parent_armed = true; // the root folder has no name to follow
            return;
        };
        match self.debouncer.watch(&parent, RecursiveMode::NonRecursive) {
            Ok(()) => self.parent_armed = true,
            Err(e) => debug!(parent = %parent.display(), error = %e, "cannot watch the manifest folder's parent yet"),
        }
    }
}

/// A path inside `root` with no hidden component.
fn is_ours(root: &Path, path: &Path) -> bool {
    path.strip_prefix(root)
        .is_ok_and(|rest| rest.components().all(|c| !c.as_os_str().to_str().is_some_and(|name| name.starts_with('.'))))
}

fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(m) => !matches!(m, ModifyKind::Metadata(_)),
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

    use super::*;

    /// Waits up to 5 s for a trigger; drains the ones that follow in the same moment.
    async fn triggered(rx: &mut UnboundedReceiver<Trigger>) -> bool {
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.is_ok();
        tokio::time::sleep(DEBOUNCE * 2).await;
        while rx.try_recv().is_ok() {}
        got
    }

    /// True when nothing triggers within twice the debounce.
    async fn quiet(rx: &mut UnboundedReceiver<Trigger>) -> bool {
        tokio::time::timeout(DEBOUNCE * 3, rx.recv()).await.is_err()
    }

    const DOC: &str = "apiVersion: moor/v1\n";

    #[tokio::test]
    async fn a_folder_renamed_away_and_replaced_is_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("m");
        std::fs::create_dir(&dir).unwrap();
        let (tx, mut rx) = unbounded_channel();
        let mut watch = FolderWatch::new(&dir, tx).unwrap();

        std::fs::write(dir.join("a.yaml"), DOC).unwrap();
        assert!(triggered(&mut rx).await, "a file in the folder");

        std::fs::rename(&dir, tmp.path().join("m.old")).unwrap();
        assert!(triggered(&mut rx).await, "the folder renamed away");
        watch.follow();
        std::fs::write(tmp.path().join("m.old/b.yaml"), DOC).unwrap();
        assert!(quiet(&mut rx).await, "the old folder is no longer watched");

        std::fs::create_dir(&dir).unwrap();
        assert!(triggered(&mut rx).await, "a new folder under the name");
        watch.follow(); // what the load that the trigger causes does first
        std::fs::write(dir.join("c.yaml"), DOC).unwrap();
        assert!(triggered(&mut rx).await, "a file in the new folder");
    }

    #[tokio::test]
    async fn a_folder_removed_and_created_again_is_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("m");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("a.yaml"), DOC).unwrap();
        let (tx, mut rx) = unbounded_channel();
        let mut watch = FolderWatch::new(&dir, tx).unwrap();

        std::fs::remove_dir_all(&dir).unwrap();
        assert!(triggered(&mut rx).await, "the folder removed");
        watch.follow();
        // The new folder may well get the old inode number: the event, not the inode, re-arms.
        std::fs::create_dir(&dir).unwrap();
        assert!(triggered(&mut rx).await, "the folder created again");
        watch.follow();
        std::fs::write(dir.join("b.yaml"), DOC).unwrap();
        assert!(triggered(&mut rx).await, "a file in the new folder");
    }

    #[tokio::test]
    async fn a_folder_missing_at_start_is_watched_once_it_appears() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("m");
        let (tx, mut rx) = unbounded_channel();
        let mut watch = FolderWatch::new(&dir, tx).unwrap();
        std::fs::create_dir(&dir).unwrap();
        assert!(triggered(&mut rx).await, "the folder created");
        watch.follow();
        std::fs::write(dir.join("a.yaml"), DOC).unwrap();
        assert!(triggered(&mut rx).await, "a file in it");
        // The parent's other entries are not manifests of this folder.
        std::fs::write(tmp.path().join("other.yaml"), DOC).unwrap();
        assert!(quiet(&mut rx).await, "a sibling file triggered");
    }

    #[tokio::test]
    async fn secret_and_config_files_trigger_hidden_ones_do_not() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("conf")).unwrap();
        let (tx, mut rx) = unbounded_channel();
        let _watch = FolderWatch::new(tmp.path(), tx).unwrap();
        std::fs::write(tmp.path().join("db.sops.yaml"), "password: x").unwrap();
        assert!(triggered(&mut rx).await, "a SOPS file");
        std::fs::write(tmp.path().join("app.env"), "A=1").unwrap();
        assert!(triggered(&mut rx).await, "an env file");
        std::fs::write(tmp.path().join("conf/nginx.conf"), "events {}").unwrap();
        assert!(triggered(&mut rx).await, "a config in a subfolder");
        std::fs::write(tmp.path().join(".moor-run.log"), "log line").unwrap();
        assert!(quiet(&mut rx).await, "a hidden file triggered");
        std::fs::create_dir(tmp.path().join(".git")).unwrap();
        assert!(quiet(&mut rx).await, "a hidden folder triggered");
        std::fs::write(tmp.path().join(".git/index"), "x").unwrap();
        assert!(quiet(&mut rx).await, "a file in a hidden folder triggered");
    }

    #[tokio::test]
    async fn follow_without_a_change_keeps_the_watch() {
        let tmp = tempfile::tempdir().unwrap();
        let (tx, mut rx) = unbounded_channel();
        let mut watch = FolderWatch::new(tmp.path(), tx).unwrap();
        let armed = watch.armed;
        assert!(armed.is_some());
        watch.follow();
        assert_eq!(watch.armed, armed);
        std::fs::write(tmp.path().join("a.yaml"), DOC).unwrap();
        assert!(triggered(&mut rx).await, "a file in the folder");
    }
}
