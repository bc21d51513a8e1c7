//! The decision after a reconcile, in the role of kube-runtime's `error_policy`: a pure function
//! of the service's state, the typed outcome and the time. It returns [`Effects`] as data (when
//! to look again, what status to show, what to count, log and notify), which the controller
//! carries out in `effects`.
//!
//! Invariants:
//! - No I/O, no clock: `now` is a parameter, so every case is a unit test.
//! - A success resets the failure backoff; a failure waits the next backoff delay, except a
//!   replacement kept by `update.rollback: false`, which is not retried until the manifest or
//!   the image changes.
//! - Actions needed under the signature the service last converged to are drift repairs, and
//!   count towards a crash loop; actions under a new signature (a manifest change, an image
//!   update) start the count afresh.

use std::time::Duration;

use tokio::time::Instant;

use super::outcome::{ReconcileOutcome, Reconciled};
use super::state::{target_signature, ServiceState, Target};
use super::updates::{self, Booked, UpdateEnded, UpdateStatus};
use crate::engine::EngineError;
use crate::manifest::Service;
use crate::plan::ActionKind;

/// After a die/kill/stop/oom event, Docker's container list went on showing the container
/// running for about 100 ms (measured on Docker 20.10 with fuse-overlayfs). A reconcile that
/// finds nothing to do so soon after such an event looks again after these delays. They are
/// settle delays, not backoffs: the `destroy` that follows an `rm -f` cuts them short.
pub const EXIT_CONFIRM: [Duration; 5] = [
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
    Duration::from_millis(1600),
];

/// When to look at the service again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    /// A failure: not before this backoff delay.
    Backoff(Duration),
    /// An exit event that the list did not show yet: look again after this settle delay.
    Settle(Duration),
}

/// The service's line in `/status` after this reconcile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusChange {
    pub in_sync: bool,
    pub last_error: Option<String>,
    /// Not retried before now + this.
    pub backoff: Option<Duration>,
    pub crash_loop: Option<String>,
    pub seen: Option<crate::observe::Seen>,
    pub update: Option<UpdateStatus>,
    /// What this reconcile learned of the daemon: it answered (any observe that worked), or it
    /// is away (an observe that could not reach it). Readiness follows the latest evidence.
    pub docker_answers: Option<bool>,
}

/// Why a reconcile acted, for the one log line per action that `moor run` writes by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// No converged state was known: a new service, or the first look since moor started.
    Converge,
    /// The manifest (spec, state or replicas) changed since the service last converged.
    ManifestChange,
    /// The pinned image changed: an image update.
    ImageUpdate,
    /// The service had converged and something outside moor changed it.
    Drift,
    /// Drift again soon after the last repair: the next repair is slowed down.
    CrashLoop,
    /// No manifest declares it (a pruned orphan, or the networks and volumes no one uses).
    Prune,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::Converge => "converge",
            Why::ManifestChange => "manifest change",
            Why::ImageUpdate => "image update",
            Why::Drift => "drift",
            Why::CrashLoop => "crash loop",
            Why::Prune => "prune",
        }
    }
}

/// Facts the controller counts, logs and (for updates and kept replacements) notifies.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Reconciled {
        success: bool,
        seconds: f64,
    },
    /// The actions a reconcile completed, and why it took them.
    Acted {
        actions: Vec<ActionKind>,
        why: Why,
    },
    Action(ActionKind),
    /// A network or volume created or pruned.
    Resource,
    /// Networks and volumes no manifest uses any more were removed (`network shop`).
    Pruned(Vec<String>),
    DockerError(String),
    DriftRepaired {
        actions: Vec<ActionKind>,
    },
    CrashLoop {
        restarts: u32,
        delay: Duration,
    },
    Failed {
        error: String,
        retry_in: Duration,
    },
    /// A replacement failed with `update.rollback: false`: the new container stays, and the
    /// service is not retried until its manifest or image changes.
    Held {
        error: String,
        image: String,
    },
    /// A health-gated replacement failed; `rollback` is `done`, `failed` or `disabled`.
    ReplacementFailed {
        rollback: &'static str,
    },
    UpdateEnded(UpdateEnded),
    /// An update's reconcile failed before its outcome was known; it is retried.
    UpdateRetrying,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    pub requeue: Option<Requeue>,
    pub status: StatusChange,
    pub events: Vec<Event>,
    /// The key's service is gone (a pruned orphan): forget its state and status.
    pub forget: bool,
}

/// Decides what follows a reconcile of `r.key`. `service` is its manifest (`None` for an
/// orphan or the resources key).
pub fn on_outcome(state: &mut ServiceState, r: &Reconciled, service: Option<&Service>, now: Instant) -> Effects {
    let mut fx = Effects::default();
    let success = r.outcome.is_success();
    fx.events.push(Event::Reconciled { success, seconds: r.duration.as_secs_f64() });
    fx.events.extend(r.done.iter().map(|k| Event::Action(*k)));
    fx.events.extend((0..r.resources_done).map(|_| Event::Resource));
    if !r.pruned.is_empty() {
        fx.events.push(Event::Pruned(r.pruned.clone()));
    }
    if let Some(e) = r.outcome.engine_error() {
        fx.events.push(Event::DockerError(e.status_label()));
    }
    let signature_now = service.map(|s| target_signature(s, r.pin.as_deref()));
    if !r.done.is_empty() {
        let why = why(state, r, signature_now.as_ref(), now);
        fx.events.push(Event::Acted { actions: r.done.clone(), why });
    }
    if success && !r.done.is_empty() {
        count_repair(state, &mut fx, r, signature_now.as_ref(), now);
    }
    fx.status.crash_loop = state.crash.note(now);
    fx.status.seen = r.seen.clone();
    // Only fresh evidence moves readiness: an observe that could not reach Docker, or a reconcile
    // whose every call answered. A failed action may be Docker freezing after the observe (a
    // timeout 30 s later): the observe's answer is stale by then, and the liveness ping decides.
    fx.status.docker_answers = match &r.outcome {
        ReconcileOutcome::ObserveFailed(EngineError::Unavailable(_) | EngineError::Timeout(_)) => Some(false),
        outcome if outcome.is_success() => Some(true),
        _ => None,
    };
    match &r.outcome {
        o if o.is_success() => {
            state.failures.reset();
            state.held = None;
            state.converged = signature_now.clone();
            fx.status.in_sync = true;
        }
        ReconcileOutcome::ReplacementKept { .. } => {
            state.held = signature_now.clone();
            let error = r.outcome.to_string();
            fx.status.last_error = Some(held_text(&r.outcome));
            let image = service.map(|s| s.container.image.clone()).unwrap_or_default();
            fx.events.push(Event::Held { error, image });
        }
        outcome => {
            let delay = state.failures.next_delay();
            fx.requeue = Some(Requeue::Backoff(delay));
            fx.status.last_error = Some(outcome.to_string());
            fx.status.backoff = Some(delay);
            fx.events.push(Event::Failed { error: outcome.to_string(), retry_in: delay });
        }
    }
    let rollback = match &r.outcome {
        ReconcileOutcome::RolledBack { .. } => Some("done"),
        ReconcileOutcome::RollbackFailed { .. } => Some("failed"),
        ReconcileOutcome::ReplacementKept { .. } => Some("disabled"),
        _ => None,
    };
    fx.events.extend(rollback.map(|rollback| Event::ReplacementFailed { rollback }));
    if let ReconcileOutcome::NameConflict(list) = &r.outcome {
        state.conflicts.extend(list.iter().map(|c| (c.name.clone(), c.holder.clone())));
    }
    match updates::book(state, r) {
        Some(Booked::Ended(ended)) => fx.events.push(Event::UpdateEnded(ended)),
        Some(Booked::Retrying) => fx.events.push(Event::UpdateRetrying),
        None => {}
    }
    fx.status.update = state.watch.as_ref().map(|w| w.status.clone());
    if let Some(delay) = exit_confirmation(state, r) {
        fx.requeue = Some(Requeue::Settle(delay));
    }
    if service.is_none() && success {
        fx.forget = true;
    }
    state.last_outcome = Some(r.outcome.clone());
    fx
}

/// The status line of a service held after `outcome` (a replacement kept by `rollback: false`).
pub fn held_text(outcome: &ReconcileOutcome) -> String {
    format!("{outcome}; not retried until the manifest or the image changes")
}

/// Why a reconcile that acted took its actions; read before this outcome is booked.
fn why(state: &ServiceState, r: &Reconciled, now_target: Option<&Target>, now: Instant) -> Why {
    let Some(now_target) = now_target else { return Why::Prune };
    match &state.converged {
        _ if r.outcome == ReconcileOutcome::UpdateApplied => Why::ImageUpdate,
        None => Why::Converge,
        Some(before) if before.spec != now_target.spec => Why::ManifestChange,
        Some(before) if before.pin != now_target.pin => Why::ImageUpdate,
        Some(_) if state.crash.in_window(now) => Why::CrashLoop,
        Some(_) => Why::Drift,
    }
}

/// A successful reconcile that acted: under the signature the service converged to before, it
/// repaired drift (and counts towards a crash loop); under a new one it is a new start.
fn count_repair(
    state: &mut ServiceState,
    fx: &mut Effects,
    r: &Reconciled,
    signature_now: Option<&Target>,
    now: Instant,
) {
    let was_converged = signature_now.is_some() && state.converged.as_ref() == signature_now;
    if !was_converged {
        // A new spec is a new start, as a new pod is in Kubernetes: its crashes count afresh.
        state.crash = super::crash_loop::CrashLoop::with_policy(state.failures.policy());
        return;
    }
    fx.events.push(Event::DriftRepaired { actions: r.done.clone() });
    if let Some(delay) = state.crash.repaired(now) {
        fx.events.push(Event::CrashLoop { restarts: state.crash.restarts(), delay });
    }
}

/// Right after an exit-like event, a reconcile that found nothing to do looks again: Docker's
/// list may not show the exit yet. Up to [`EXIT_CONFIRM`]`.len()` times, then the event is done.
fn exit_confirmation(state: &mut ServiceState, r: &Reconciled) -> Option<Duration> {
    let n = state.exits?;
    let idle = r.done.is_empty() && r.outcome.is_success();
    if idle && n < EXIT_CONFIRM.len() {
        state.exits = Some(n + 1);
        Some(EXIT_CONFIRM[n])
    } else {
        state.exits = None;
        None
    }
}

#[cfg(test)]
mod tests;
