//! Where the controller's manifests come from: a [`Source`] loads them on demand and tells the
//! controller when they change. A folder ([`Folder`]) or a git revision (`git::source`); tests
//! use an in-memory one.
//!
//! Invariants:
//! - A source only says *that* the manifests changed (a [`Trigger::Manifests`]); the controller
//!   then loads them whole, so a missed or merged notification loses nothing.
//! - Its watch only accelerates: the controller also loads at every resync, so a source that
//!   cannot be watched, or a watch that missed a change, costs at most one interval.

use std::any::Any;
use std::path::PathBuf;

use tokio::sync::mpsc::UnboundedSender;
use tracing::warn;

use super::folder_watch::FolderWatch;
use super::triggers::Trigger;
use crate::manifest::{load_paths, Loaded};

pub trait Source: Send + 'static {
    /// Loads every manifest now. Called on start, on each [`Trigger::Manifests`] and at each
    /// resync, so it should cost no more than reading the manifests.
    fn load(&mut self) -> Loaded;
    /// Starts sending [`Trigger::Manifests`] to `tx` when the manifests change. The watch lives
    /// as long as the returned guard, or the source; `None` when the source cannot be watched
    /// (the resync still loads it every interval: say so in the log).
    fn watch(&mut self, tx: UnboundedSender<Trigger>) -> Option<Box<dyn Any + Send>>;
    /// What to show in logs and messages: the folder, the repository.
    fn describe(&self) -> String;
}

/// A folder of manifest files, watched by path (see `folder_watch`).
pub struct Folder {
    dir: PathBuf,
    watch: Option<FolderWatch>,
}

impl Folder {
    pub fn new(dir: PathBuf) -> Folder {
        Folder { dir, watch: None }
    }
}

impl Source for Folder {
    fn load(&mut self) -> Loaded {
        // Re-arm first: a file written after the read below then raises an event.
        if let Some(watch) = self.watch.as_mut() {
            watch.follow();
        }
        load_paths(std::slice::from_ref(&self.dir))
    }

    fn watch(&mut self, tx: UnboundedSender<Trigger>) -> Option<Box<dyn Any + Send>> {
        match FolderWatch::new(&self.dir, tx) {
            Ok(w) => {
                self.watch = Some(w);
                Some(Box::new(()))
            }
            Err(e) => {
                warn!(dir = %self.dir.display(), error = %e, "cannot watch the manifest folder; relying on the interval");
                None
            }
        }
    }

    fn describe(&self) -> String {
        self.dir.display().to_string()
    }
}
