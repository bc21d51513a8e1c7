//! What the controller knows of one service: one [`ServiceState`] per key, owned by the
//! controller task alone (no locks: nobody else touches it).
//!
//! Invariants:
//! - Everything a decision after a reconcile needs is here or in the outcome: the decision
//!   ([`super::decide::on_outcome`]) is a function of the two and the time.
//! - `converged` and `held` are [`target_signature`]s: the spec, replicas, state and image pin a
//!   reconcile ran with. A change of any of them is a new start (a new pod, in Kubernetes terms).

use std::collections::BTreeMap;

use super::backoff::{self, Backoff, Policy};
use super::crash_loop::CrashLoop;
use super::outcome::ReconcileOutcome;
use super::updates::Watch;
use crate::manifest::Service;

/// An image pin set by an update check (or a rollback): the service's containers must run
/// `image_id` while its manifest names `reference`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub reference: String,
    pub image_id: String,
}

#[derive(Debug)]
pub struct ServiceState {
    /// Delays between failed reconciles; reset on success and on a manifest change.
    pub failures: Backoff,
    pub crash: CrashLoop,
    /// The target signature of the last converged reconcile: actions needed under the same
    /// signature are drift repairs.
    pub converged: Option<Target>,
    /// Set by an exit-like Docker event: how many reconciles since found nothing to do. Docker's
    /// list may still show the container running (see `EXIT_CONFIRM` in `decide`).
    pub exits: Option<usize>,
    /// For `update.watch: digest`.
    pub watch: Option<Watch>,
    pub pin: Option<Pin>,
    /// Container names found held by another owner (a 409 on create), so that plans report the
    /// conflict instead of trying to create again; forgotten at each resync, which tries once
    /// more.
    pub conflicts: BTreeMap<String, String>,
    /// A failed replacement with `update.rollback: false` left its new container in place: no
    /// reconcile runs while the target signature is this one (until the manifest or the image
    /// changes).
    pub held: Option<Target>,
    /// How the last reconcile ended: a resync shows a held service's failure from it.
    pub last_outcome: Option<ReconcileOutcome>,
    /// The manifest [`signature`] the last reconcile was started with (`None` for an orphan): one
    /// that ends after a reload changed the manifest converged to the previous one.
    pub dispatched: Option<String>,
}

impl Default for ServiceState {
    fn default() -> Self {
        ServiceState::with_policy(backoff::SERVICE)
    }
}

impl ServiceState {
    /// A fresh state whose backoffs follow `policy` (tests fix its jitter seed).
    pub fn with_policy(policy: Policy) -> Self {
        ServiceState {
            failures: Backoff::new(policy),
            crash: CrashLoop::with_policy(policy),
            converged: None,
            exits: None,
            watch: None,
            pin: None,
            conflicts: BTreeMap::new(),
            held: None,
            last_outcome: None,
            dispatched: None,
        }
    }

    /// The image ID the service is pinned to, while the pin names the manifest's reference.
    pub fn pin_for(&self, service: &Service) -> Option<&str> {
        self.pin.as_ref().filter(|p| p.reference == service.container.image).map(|p| p.image_id.as_str())
    }

    /// True while a failed replacement with `rollback: false` holds the service back.
    pub fn is_held(&self, service: Option<&Service>) -> bool {
        match (&self.held, service) {
            (Some(held), Some(service)) => *held == target_signature(service, self.pin_for(service)),
            _ => false,
        }
    }
}

/// The part of a manifest that shapes its containers: state, replicas and the canonical spec.
pub fn signature(service: &Service) -> String {
    format!("{:?}/{}/{}", service.state, service.replicas, service.canonical)
}

/// What a reconcile converges to: the manifest's [`signature`] plus the image pin it ran with.
/// The pin is part of it, so replacing a container for a new image is an update, not a drift
/// repair, and does not count towards a crash loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub spec: String,
    pub pin: Option<String>,
}

pub fn target_signature(service: &Service, pin: Option<&str>) -> Target {
    Target { spec: signature(service), pin: pin.map(str::to_string) }
}
