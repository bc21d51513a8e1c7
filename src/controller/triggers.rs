//! The controller's triggers, besides the interval: the manifest folder and Docker's events.
//!
//! Invariant: triggers carry no payload beyond which key to look at; every reconcile observes
//! afresh.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use notify::event::{EventKind, ModifyKind};
use notify::RecursiveMode;
use notify_debouncer_full::{new_debouncer, DebounceEventResult, Debouncer, RecommendedCache};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::backoff::{self, Backoff};
use super::status::Shared;
use crate::engine::Engine;
use crate::manifest::load::is_manifest_file;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Something happened to a container of this service.
    Service(String),
    /// A container of this service stopped or is stopping (die, kill, stop, oom). Docker emits
    /// these a moment before its container list shows the change.
    Exited(String),
    /// A container of this service was destroyed: the list already shows it gone.
    Destroyed(String),
    /// Everything must be looked at again (Docker came back: events were missed).
    Resync,
    /// The manifest folder changed: load it again, then look at everything.
    Manifests,
}

/// How long file events are gathered into one change: an editor's atomic save or a `git pull`
/// that touches many files counts once.
const DEBOUNCE: Duration = Duration::from_millis(200);

pub type Watcher = Debouncer<notify::RecommendedWatcher, RecommendedCache>;

/// Watches the folder (not the files: an atomic rename replaces a file, and a watch on the file
/// would be lost). Any batch that touches a manifest file, or the folder itself, is one trigger.
pub fn watch_manifests(dir: &Path, tx: UnboundedSender<Trigger>) -> Result<Watcher, notify::Error> {
    let root = dir.to_path_buf();
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| match result {
        Ok(events) => {
            // Only changes count: moor's own reads of the files raise access events, and
            // reloading on those would loop.
            let relevant = events
                .iter()
                .filter(|e| is_change(&e.kind))
                .flat_map(|e| e.paths.iter())
                .any(|p| p == &root || is_manifest_file(p));
            if relevant {
                debug!(events = events.len(), "manifest folder changed");
                let _ = tx.send(Trigger::Manifests);
            }
        }
        Err(errors) => warn!(?errors, "watching the manifest folder"),
    })?;
    debouncer.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(debouncer)
}

fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(m) => !matches!(m, ModifyKind::Metadata(_)),
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
    }
}

/// Follows Docker's event stream. When it breaks (the daemon went away), waits with backoff
/// until Docker answers, then asks for a full resync: events missed meanwhile are gone.
pub async fn follow_events<E: Engine>(
    engine: Arc<E>,
    instance: String,
    tx: UnboundedSender<Trigger>,
    shared: Arc<Shared>,
    token: CancellationToken,
) {
    let mut retry = Backoff::new(backoff::DAEMON);
    loop {
        let mut stream = engine.events(&instance);
        loop {
            let item = tokio::select! {
                _ = token.cancelled() => return,
                item = stream.next() => item,
            };
            match item {
                Some(Ok(event)) => {
                    if let Some(service) = event.service {
                        debug!(%service, action = %event.action, container = %event.container, "docker event");
                        let _ = tx.send(match event.action.as_str() {
                            "die" | "kill" | "stop" | "oom" => Trigger::Exited(service),
                            "destroy" => Trigger::Destroyed(service),
                            _ => Trigger::Service(service),
                        });
                    }
                }
                Some(Err(e)) => {
                    warn!(error = %e, "docker event stream failed");
                    shared.metrics.docker_error(&e.status_label());
                    break;
                }
                None => {
                    warn!("docker event stream ended");
                    break;
                }
            }
        }
        shared.set_docker_ok(false);
        loop {
            let delay = retry.next_delay();
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            if engine.ping().await.is_ok() {
                info!("docker answers again; resyncing");
                shared.set_docker_ok(true);
                retry.reset();
                let _ = tx.send(Trigger::Resync);
                break;
            }
            // Said again after each failed ping: a reconcile that observed just before the
            // outage may have reported Docker answering since.
            shared.set_docker_ok(false);
        }
    }
}
