//! The periodic full look: load the manifests again, observe once, refresh every service's
//! status, queue the services whose plan is not empty.
//!
//! Invariants:
//! - Level-based on both sides: the manifests are loaded afresh as Docker is observed afresh, so
//!   a change the source's watch missed (a folder replaced under it) is applied within one
//!   interval. Loading costs no Docker call: an idle controller still makes one per interval.
//! - A failed observe changes nothing but Docker's readiness and is retried with the daemon
//!   backoff; it never queues, plans or prunes.

use std::time::Duration;

use tokio::time::Instant;
use tracing::warn;

use super::backoff::Backoff;
use super::source::Source;
use super::worker::RESOURCES;
use super::Controller;
use crate::engine::{Engine, EngineError};
use crate::plan::plan;
use crate::reconcile::observe;

impl<E: Engine, S: Source> Controller<E, S> {
    /// Resyncs and returns when the next resync is due: an interval on success, the next daemon
    /// backoff delay on failure.
    pub(super) async fn resync_and_schedule(&mut self, retry: &mut Backoff) -> Instant {
        match self.resync().await {
            Ok(()) => {
                retry.reset();
                Instant::now() + self.config.interval
            }
            Err(e) => {
                let delay = retry.next_delay();
                warn!(error = %e, retry_in = ?delay, "observe failed; nothing done");
                Instant::now() + delay
            }
        }
    }

    /// Observes once and queues every service whose plan is not empty (at once, cutting backoffs
    /// short, right after an outage). Learned name conflicts are forgotten first, so that each
    /// resync tries once more.
    async fn resync(&mut self) -> Result<(), EngineError> {
        if self.reload() {
            self.manifests_changed();
        }
        for state in self.services.values_mut() {
            state.conflicts.clear();
        }
        let desired = self.desired.clone();
        let mut observed = match observe(self.engine.as_ref(), &self.config.instance, &desired).await {
            Ok(o) => o,
            Err(e) => {
                self.shared.set_docker_ok(false);
                self.shared.metrics.docker_error(&e.status_label());
                return Err(e);
            }
        };
        self.shared.set_docker_ok(true);
        if let Some(store) = &self.config.store {
            observed.jobs = crate::jobs::load(store.state_dir(), &self.config.instance, &desired);
        }
        let plan = plan(&desired, &observed);
        // Nothing placed on this node holds prune back only while the node runs containers.
        if matches!(desired.prune_guard, Some(crate::manifest::PruneGuard::NothingPlaced { .. })) {
            self.shared.show_prune_guard(plan.prune_guard.as_ref().map(ToString::to_string));
        }
        let by_service = observed.by_service();
        let now = Instant::now();
        for (name, service) in &desired.services {
            let state = self.state(name);
            let held = state.is_held(Some(service));
            let pending = plan.services.contains_key(name) && !held;
            let crash_loop = state.crash.note(now);
            // A held service shows the failure that holds it until its manifest or image changes.
            let held_error = state.last_outcome.as_ref().filter(|_| held).map(super::decide::held_text);
            let containers = by_service.get(name.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            self.shared.service(name, |s| {
                s.desired = service.desired_summary();
                s.crash_loop = crash_loop;
                s.image = Some(service.container.image.clone());
                s.labels = service.container.labels.clone();
                s.see(crate::observe::Seen::of(
                    containers,
                    match service.is_job() {
                        true => crate::observe::job_summary(containers, observed.jobs.get(name)),
                        false => crate::observe::summary(containers),
                    },
                ));
                s.in_sync = !pending && !held;
                if !pending {
                    s.last_error = held_error;
                }
            });
            if pending && self.after_outage {
                self.queue.add_now(name);
            } else if pending {
                self.enqueue(name, Duration::ZERO);
            }
        }
        self.shared.show_refused(&desired.refused, Some(&by_service));
        for (name, sp) in &plan.services {
            if sp.orphan {
                // Not in sync until it is gone: without this its status keeps the `in_sync` of
                // when it was desired (or has none), and a revision that drops it would count as
                // applied (`lastAppliedRevision`) while it still runs.
                self.shared.service(name, |s| s.in_sync = false);
                self.enqueue(name, Duration::ZERO);
            }
        }
        if !plan.networks.is_empty() || !plan.volumes.is_empty() {
            self.enqueue(RESOURCES, Duration::ZERO);
        }
        self.shared.retain_services(|name| desired.declares(name) || plan.services.contains_key(name));
        self.shared.resynced();
        self.after_outage = false;
        Ok(())
    }
}
