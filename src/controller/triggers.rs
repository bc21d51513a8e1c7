//! The controller's triggers, besides the interval: Docker's events here; the manifest
//! folder's watch is `folder_watch`, a git source's poll is `git::source`.
//!
//! Invariant: triggers carry no payload beyond which key to look at; every reconcile observes
//! afresh.

use std::sync::Arc;

use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::backoff::{self, Backoff};
use super::status::Shared;
use crate::engine::Engine;

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
    /// The manifests changed (the folder's watch, a new git revision): load them again, then
    /// look at everything.
    Manifests,
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
