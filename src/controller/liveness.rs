//! The liveness ping: whether Docker answers, proven every few seconds.
//!
//! A frozen daemon (stopped, swapping, a stuck storage driver) keeps its sockets open: the event
//! stream stays open and quiet, and an idle controller would make no other call until its next
//! resync. So this task pings Docker every [`EVERY`], with the engine's ping deadline (5 s by
//! default, `engine::deadlines`).
//!
//! Invariants:
//! - Readiness follows each ping: one that fails or passes its deadline marks Docker as not
//!   answering (`/readyz` 503), one that answers marks it answering. Docker that stops answering
//!   is therefore seen within [`EVERY`] plus the ping deadline (8 s by default).
//! - The first ping that answers after one that did not ends an outage: it sends
//!   [`Trigger::Resync`], which resets every per-service backoff (they grew during the outage)
//!   and queues at once what the resync finds pending. The event follower sends the same
//!   trigger when its stream comes back; two resyncs after one outage cost one more list call.
//! - It calls nothing but ping, and it ends with the token.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::status::Shared;
use super::triggers::Trigger;
use crate::engine::Engine;

/// How often Docker is pinged. With the 5 s ping deadline, `/readyz` fails within 8 s of Docker
/// no longer answering; `GET /_ping` is the cheapest call Docker has.
pub const EVERY: Duration = Duration::from_secs(3);

/// Pings Docker every [`EVERY`] until `token` is cancelled (see the module's invariants).
pub async fn watch<E: Engine>(
    engine: Arc<E>,
    tx: UnboundedSender<Trigger>,
    shared: Arc<Shared>,
    token: CancellationToken,
) {
    // The controller starts once Docker answered its first contact.
    let mut answering = true;
    loop {
        let answer = tokio::select! {
            _ = token.cancelled() => return,
            answer = async {
                tokio::time::sleep(EVERY).await;
                engine.ping().await
            } => answer,
        };
        match answer {
            Ok(()) => {
                shared.set_docker_ok(true);
                if !answering {
                    info!("Docker answers its ping again; resyncing");
                    let _ = tx.send(Trigger::Resync);
                }
                answering = true;
            }
            Err(e) => {
                shared.set_docker_ok(false);
                shared.metrics.docker_error(&e.status_label());
                if answering {
                    warn!(error = %e, "Docker does not answer its ping; not ready until it does");
                }
                answering = false;
            }
        }
    }
}
