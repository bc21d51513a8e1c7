//! systemd's notify protocol for `moor run` (`Type=notify` units, see `contrib/systemd/`), through the
//! `sd-notify` crate.
//!
//! Invariants:
//! - Without `NOTIFY_SOCKET` every message is a no-op (sd-notify checks the variable on each send), so
//!   `moor run` behaves the same outside systemd; without `WATCHDOG_USEC` (or with a `WATCHDOG_PID` naming
//!   another process) no watchdog timer exists.
//! - `READY=1` is sent once, the first time [`Shared::is_ready`] holds (the first resync observed Docker)
//!   *and* every desired service has been reconciled once or needed nothing ([`first_pass_done`]), so
//!   that `systemctl start` returns on converged services, not merely queued ones. Later losses and
//!   recoveries of readiness ([`Shared::is_ready`] alone) only change the `STATUS=` line.
//! - `STOPPING=1` is sent once, when shutdown begins (the token is cancelled by SIGTERM or SIGINT), or
//!   when the supervised work ends on its own.
//! - `WATCHDOG=1` (every half of `WATCHDOG_USEC`) is sent from the task that polls the controller's
//!   future, so a controller that has returned, or that blocks the thread polling it, stops the pings
//!   and lets systemd's `WatchdogSec=` restart moor.
//! - A failed send is logged, never fatal: the service manager's bookkeeping must not stop the reconciler.

use std::future::Future;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::controller::status::{Shared, StatusDoc};

/// How often readiness is sampled: `Shared` has no change signal, and a tenth of a second is well
/// below systemd's start timeout while costing nothing measurable.
const READINESS_POLL: Duration = Duration::from_millis(100);

/// A change of readiness worth telling the service manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Ready for the first time: `READY=1`.
    FirstReady,
    /// Ready again after a loss.
    Ready,
    /// Not ready any more (Docker stopped answering).
    NotReady,
}

/// Turns samples of readiness into the changes to report (pure, so that it is tested without a socket).
#[derive(Debug, Default)]
pub struct Readiness {
    last: bool,
    announced: bool,
}

impl Readiness {
    /// Whether `READY=1` has been sent.
    pub fn announced(&self) -> bool {
        self.announced
    }

    pub fn sample(&mut self, ready: bool) -> Option<Change> {
        let was = std::mem::replace(&mut self.last, ready);
        match (was, ready) {
            (false, true) if !self.announced => {
                self.announced = true;
                Some(Change::FirstReady)
            }
            (false, true) => Some(Change::Ready),
            (true, false) => Some(Change::NotReady),
            _ => None,
        }
    }
}

/// Every desired service is in sync or has finished a reconcile (converged, failed or backing off):
/// the first pass over the manifests is over. Services to prune are not waited for.
pub fn first_pass_done(doc: &StatusDoc) -> bool {
    doc.services.values().all(|s| s.in_sync || s.last_reconcile.is_some())
}

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        warn!(error = %e, "cannot notify the service manager (NOTIFY_SOCKET)");
    }
}

/// Resolves on the next tick of `timer`, or never when there is no timer.
async fn tick(timer: &mut Option<tokio::time::Interval>) {
    match timer {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Runs `work` (connecting to Docker and the controller loop) to its end while telling the service
/// manager about readiness, shutdown and liveness. Returns what `work` returns.
pub async fn supervise<F: Future>(work: F, shared: &Shared, token: &CancellationToken) -> F::Output {
    let mut watchdog = sd_notify::watchdog_enabled().map(|timeout| {
        debug!(?timeout, "systemd watchdog");
        let mut t = tokio::time::interval(timeout / 2);
        // After a stall, one ping is enough; a burst would hide how late it was.
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut poll = tokio::time::interval(READINESS_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut readiness = Readiness::default();
    let mut stopping = false;
    send(&[NotifyState::Status("starting: connecting to Docker, first reconcile")]);
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => {
                if !stopping {
                    send(&[NotifyState::Stopping, NotifyState::Status("stopped")]);
                }
                return out;
            }
            _ = token.cancelled(), if !stopping => {
                stopping = true;
                send(&[NotifyState::Stopping, NotifyState::Status("stopping: finishing in-flight reconciles")]);
            }
            _ = tick(&mut watchdog) => send(&[NotifyState::Watchdog]),
            _ = poll.tick(), if !stopping => {
                // The status document is cloned only until READY=1: afterwards readiness is the flag.
                let ready = shared.is_ready() && (readiness.announced() || first_pass_done(&shared.status()));
                match readiness.sample(ready) {
                    Some(Change::FirstReady) => send(&[NotifyState::Ready, NotifyState::Status("ready")]),
                    Some(Change::Ready) => send(&[NotifyState::Status("ready")]),
                    Some(Change::NotReady) => {
                        let why = if shared.status().docker { "not ready" } else { "not ready: Docker does not answer" };
                        send(&[NotifyState::Status(why)]);
                    }
                    None => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_is_announced_once_then_only_changes_are() {
        let mut r = Readiness::default();
        assert_eq!(r.sample(false), None);
        assert_eq!(r.sample(true), Some(Change::FirstReady));
        assert_eq!(r.sample(true), None);
        assert_eq!(r.sample(false), Some(Change::NotReady));
        assert_eq!(r.sample(false), None);
        assert_eq!(r.sample(true), Some(Change::Ready));
    }

    #[test]
    fn the_first_pass_waits_for_each_pending_service() {
        use crate::controller::status::ServiceStatus;
        let mut doc = StatusDoc::default();
        assert!(first_pass_done(&doc), "no service: nothing to wait for");
        doc.services.insert("db".into(), ServiceStatus { in_sync: true, ..Default::default() });
        doc.services.insert("web".into(), ServiceStatus::default());
        assert!(!first_pass_done(&doc), "web is queued, not reconciled");
        doc.services.get_mut("web").unwrap().last_reconcile = Some("2026-01-01T00:00:00Z".into());
        assert!(first_pass_done(&doc), "web failed or converged: reconciled once");
    }
}
