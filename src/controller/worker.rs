//! One reconcile of one service key: observe, plan, apply that service's part.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

use crate::apply::{apply, ApplyOptions};
use crate::engine::Engine;
use crate::manifest::Desired;
use crate::plan::{plan, Plan, ResourceAction};
use crate::reconcile::observe;

/// The key of network and volume prune, which belongs to no service.
pub const RESOURCES: &str = "(networks and volumes)";

#[derive(Debug)]
pub struct Outcome {
    pub key: String,
    pub done: Vec<String>,
    pub error: Option<String>,
    pub duration: Duration,
    /// The service's observed state before this reconcile acted, for status.
    pub observed: Option<String>,
    /// Statuses of Docker errors met, for the metric.
    pub docker_errors: Vec<String>,
    /// The image ID the service's first container ran before this reconcile acted.
    pub image_before: Option<String>,
    /// A container name found held by another owner: `(name, holder)`.
    pub conflict: Option<(String, String)>,
    /// The image ID an `update.watch` pin made this reconcile run, part of what it converged to.
    pub pin: Option<String>,
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
        prune_held: Vec::new(),
    }
}

pub async fn reconcile<E: Engine>(
    engine: Arc<E>,
    desired: Arc<Desired>,
    instance: String,
    key: String,
    id: u64,
    pin: Option<String>,
    conflicts: BTreeMap<String, String>,
) -> Outcome {
    let span = tracing::info_span!("reconcile", service = %key, reconcile = id);
    let started = Instant::now();
    async move {
        let mut outcome = Outcome {
            key: key.clone(),
            done: Vec::new(),
            error: None,
            duration: Duration::ZERO,
            observed: None,
            docker_errors: Vec::new(),
            image_before: None,
            conflict: None,
            pin: pin.clone(),
        };
        let mut observed = match observe(engine.as_ref(), &instance, &desired).await {
            Ok(o) => o,
            Err(e) => {
                outcome.docker_errors.push(e.status_label());
                outcome.error = Some(format!("observing Docker: {e}"));
                outcome.duration = started.elapsed();
                return outcome;
            }
        };
        let containers = observed.by_service().get(key.as_str()).cloned().unwrap_or_default();
        outcome.observed = Some(crate::observe::summary(&containers));
        outcome.image_before = containers.first().map(|c| c.image_id.clone());
        if let Some(pin) = pin {
            observed.pinned.insert(key.clone(), pin);
        }
        observed.conflicts = conflicts;
        let part = part_of(&plan(&desired, &observed), &key);
        tracing::debug!(actions = part.action_count(), observed = ?outcome.observed, "planned");
        if part.action_count() > 0 || part.services.values().any(|s| s.conflict.is_some()) {
            let options = ApplyOptions { instance: instance.clone(), concurrency: 1 };
            let report = apply(engine.as_ref(), &desired, &observed, &part, &options).await;
            if let Some(result) = report.services.get(&key) {
                outcome.done = result.done.clone();
                outcome.error = result.error.clone();
                outcome.conflict = result.conflict.clone();
            }
            outcome.done.extend(report.resources.iter().map(|_| "resource".to_string()));
            if !report.resource_errors.is_empty() && outcome.error.is_none() {
                outcome.error = Some(report.resource_errors.join("; "));
            }
        }
        outcome.duration = started.elapsed();
        outcome
    }
    .instrument(span)
    .await
}
