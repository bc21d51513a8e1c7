//! One reconcile of one service key: observe, plan, apply that service's part, and report a
//! typed [`Reconciled`].

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::time::Instant;
use tracing::Instrument;

use super::outcome::{ReconcileOutcome, Reconciled};
use crate::apply::{apply, ApplyOptions};
use crate::engine::Engine;
use crate::manifest::Desired;
use crate::plan::{plan, ActionKind, Plan, ResourceAction};
use crate::reconcile::observe;

/// The key of network and volume prune, which belongs to no service.
pub const RESOURCES: &str = "(networks and volumes)";

/// What one reconcile is given, besides the engine and the manifests.
#[derive(Debug, Clone)]
pub struct Job {
    pub key: String,
    pub id: u64,
    pub instance: String,
    pub pin: Option<String>,
    /// Container names known to be held by other owners.
    pub conflicts: BTreeMap<String, String>,
    /// Where secret and config files are written.
    pub store: Option<Arc<crate::secrets::store::FileStore>>,
    /// Told when the reconcile is about to act, so that a live page shows the service out of
    /// sync (as found) while it is repaired, not only after.
    pub status: Arc<super::status::Shared>,
}

/// The part of `full` that belongs to `key`: its service actions, plus the creation of missing
/// networks and volumes (idempotent). Network and volume prune belongs to [`RESOURCES`] alone.
fn part_of(full: &Plan, key: &str) -> Plan {
    let resources = |list: &[ResourceAction]| -> Vec<ResourceAction> {
        list.iter().filter(|a| key == RESOURCES || matches!(a, ResourceAction::Create { .. })).cloned().collect()
    };
    Plan {
        services: full.services.get(key).map(|sp| [(key.to_string(), sp.clone())].into()).unwrap_or_default(),
        networks: resources(&full.networks),
        volumes: resources(&full.volumes),
        prune_suspended: full.prune_suspended,
        prune_guard: full.prune_guard.clone(),
        prune_held: Vec::new(),
        refused: BTreeMap::new(),
        refused_by_api: Default::default(),
    }
}

pub async fn reconcile<E: Engine>(engine: Arc<E>, desired: Arc<Desired>, job: Job) -> Reconciled {
    let span = tracing::info_span!("reconcile", service = %job.key, reconcile = job.id);
    let started = Instant::now();
    async move {
        let mut out = Reconciled::bare(&job.key, ReconcileOutcome::Converged);
        out.pin = job.pin.clone();
        let mut observed = match observe(engine.as_ref(), &job.instance, &desired).await {
            Ok(o) => o,
            Err(e) => {
                out.outcome = ReconcileOutcome::ObserveFailed(e);
                out.duration = started.elapsed();
                return out;
            }
        };
        if let Some(store) = &job.store {
            observed.jobs = crate::jobs::load(store.state_dir(), &job.instance, &desired);
        }
        let containers = observed.by_service().get(job.key.as_str()).cloned().unwrap_or_default();
        out.seen = Some(seen_of(&desired, &job.key, &observed));
        out.image_before = containers.first().map(|c| c.image_id.clone());
        if let Some(pin) = &job.pin {
            observed.pinned.insert(job.key.clone(), pin.clone());
        }
        // Learned ones (a 409 on create) beside those observe saw (another node's containers).
        observed.conflicts.extend(job.conflicts);
        let part = part_of(&plan(&desired, &observed), &job.key);
        tracing::debug!(actions = part.action_count(), observed = ?out.seen.as_ref().map(|s| &s.observed), "planned");
        if part.action_count() > 0 && part.services.contains_key(&job.key) {
            if let Some(seen) = out.seen.clone() {
                job.status.acting(&job.key, seen);
            }
        }
        if part.action_count() > 0 || part.services.values().any(|s| !s.conflicts.is_empty()) {
            let mut options = ApplyOptions::new(job.instance.clone(), 1);
            options.store = job.store.clone();
            let report = apply(engine.as_ref(), &desired, &observed, &part, &options).await;
            if let Some(result) = report.services.get(&job.key) {
                out.done = result.done.clone();
                if let Some(failure) = result.failure.clone() {
                    out.outcome = failure.into();
                }
            }
            out.resources_done = report.resources.len();
            out.pruned = report
                .resources
                .iter()
                .filter(|r| r.done == crate::apply::ResourceDone::Removed)
                .map(crate::apply::ResourceResult::subject)
                .collect();
            if !report.resource_errors.is_empty() && out.outcome.is_success() {
                out.outcome = ReconcileOutcome::ResourcesFailed(report.resource_errors);
            }
        }
        if out.outcome.is_success() && !out.done.is_empty() {
            // What it acted on is gone or changed: status shows how it looks now, not before.
            // One more list call, only for a reconcile that acted; a failed look keeps the old.
            if let Ok(mut after) = observe(engine.as_ref(), &job.instance, &desired).await {
                if let Some(store) = &job.store {
                    after.jobs = crate::jobs::load(store.state_dir(), &job.instance, &desired);
                }
                out.seen = Some(seen_of(&desired, &job.key, &after));
            }
        }
        if out.outcome.is_success() && is_update(&out) {
            out.outcome = ReconcileOutcome::UpdateApplied;
        }
        out.duration = started.elapsed();
        out
    }
    .instrument(span)
    .await
}

/// How `key`'s containers look in `observed`, for status.
fn seen_of(desired: &Desired, key: &str, observed: &crate::observe::Observed) -> crate::observe::Seen {
    let by_service = observed.by_service();
    let containers = by_service.get(key).map(Vec::as_slice).unwrap_or(&[]);
    let summary = match desired.services.get(key).filter(|s| s.is_job()) {
        Some(_) => crate::observe::job_summary(containers, observed.jobs.get(key)),
        None => crate::observe::summary(containers),
    };
    crate::observe::Seen::of(containers, summary)
}

/// A replacement that moved the service from the image it ran to the pinned one.
fn is_update(r: &Reconciled) -> bool {
    let moved = matches!((&r.image_before, &r.pin), (Some(before), Some(pin)) if before != pin);
    moved && r.done.contains(&ActionKind::Replace)
}
