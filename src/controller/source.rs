//! Where the controller's manifests come from: a [`Source`] loads them on demand and tells the
//! controller when they change. Today's source is a folder ([`Folder`]); tests use an in-memory
//! one, and a git source fits the same shape.
//!
//! Invariant: a source only says *that* the manifests changed (a [`Trigger::Manifests`]); the
//! controller then loads them whole, so a missed or merged notification loses nothing.

use std::any::Any;
use std::path::PathBuf;

use tokio::sync::mpsc::UnboundedSender;
use tracing::warn;

use super::triggers::{self, Trigger};
use crate::manifest::{load_paths, Loaded};

pub trait Source: Send + 'static {
    /// Loads every manifest now.
    fn load(&mut self) -> Loaded;
    /// Starts sending [`Trigger::Manifests`] to `tx` when the manifests change. The returned
    /// guard keeps the watch alive; `None` when the source cannot be watched (the periodic
    /// resync still notices nothing then: say so in the log).
    fn watch(&mut self, tx: UnboundedSender<Trigger>) -> Option<Box<dyn Any + Send>>;
    /// What to show in logs: the folder, the repository.
    fn describe(&self) -> String;
}

/// A folder of manifest files, watched with a debounced file watch.
#[derive(Debug, Clone)]
pub struct Folder {
    pub dir: PathBuf,
}

impl Source for Folder {
    fn load(&mut self) -> Loaded {
        load_paths(std::slice::from_ref(&self.dir))
    }

    fn watch(&mut self, tx: UnboundedSender<Trigger>) -> Option<Box<dyn Any + Send>> {
        match triggers::watch_manifests(&self.dir, tx) {
            Ok(w) => Some(Box::new(w)),
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
