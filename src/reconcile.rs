//! One reconcile pass for `moor apply`: observe (with the registry checks of `pull: always`),
//! plan, apply. The controller shares [`observe`]; its worker plans and applies one service's
//! part itself (`controller::worker`).
//!
//! Invariants: level-based (each pass observes afresh); a failed observe means no plan and no
//! action at all.

use futures_util::future::join_all;

use crate::apply::{apply, ApplyOptions, ApplyReport, ServiceFailure};
use crate::engine::{Engine, EngineResult};
use crate::images::check_and_pull;
use crate::manifest::model::{PullPolicy, State};
use crate::manifest::Desired;
use crate::observe::Observed;
use crate::plan::{plan, Plan};

/// Observes what this instance owns: one container list call, plus one network list and one
/// volume list only when manifests declare networks or volumes. Networks are listed too when no
/// service joins the default network (which may exist, unused, to be pruned); when one does,
/// the container list tells whether it exists (a container is on it).
pub async fn observe<E: Engine>(engine: &E, instance: &str, desired: &Desired) -> EngineResult<Observed> {
    let containers = engine.list_containers(instance).await?;
    let networks = match desired.networks.is_empty() && crate::names::default_network_used(desired) {
        true => None,
        false => Some(engine.list_networks(instance).await?),
    };
    let volumes = match desired.volumes.is_empty() {
        true => None,
        false => Some(engine.list_volumes(instance).await?),
    };
    Ok(Observed { instance: instance.to_string(), containers, networks, volumes, ..Observed::default() })
}

/// The outcome of one pass.
#[derive(Debug, Clone)]
pub struct Pass {
    pub observed: Observed,
    pub plan: Plan,
    pub report: ApplyReport,
}

/// Removes the secret and config files of services no manifest declares any more (a service
/// pruned after Docker had already removed its containers has no action to collect them after).
/// Only in this one-pass apply, with prune allowed: the controller's reconciles run concurrently
/// over snapshots of the manifests, so one could remove the folder of a service another is
/// creating; there `apply` collects per service after its actions, and `moor down` the rest.
fn collect_undeclared_files(desired: &Desired, plan: &Plan, options: &ApplyOptions) {
    let Some(store) = options.store.as_deref().filter(|_| !plan.prune_suspended) else { return };
    let declared: std::collections::BTreeSet<String> =
        desired.services.keys().chain(desired.refused.keys()).chain(desired.unresolved.iter()).cloned().collect();
    match store.gc_services(&declared) {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "files of services no manifest declares were removed"),
        Err(error) => tracing::warn!(%error, "files of undeclared services could not be collected"),
    }
}

/// Observes, plans and applies once. Services with `pull: always` first go through the
/// registry digest check (pulling only a new digest), and are pinned to the image it found, so
/// a new image behind the same tag replaces their containers.
pub async fn reconcile_once<E: Engine>(engine: &E, desired: &Desired, options: &ApplyOptions) -> EngineResult<Pass> {
    let mut observed = observe(engine, &options.instance, desired).await?;
    let always = desired.services.values().filter(|s| s.pull == PullPolicy::Always && s.state != State::Absent);
    let checks =
        join_all(always.map(|s| async move { (s.name.clone(), check_and_pull(engine, &s.container.image).await) }));
    let mut check_errors = Vec::new();
    for (name, result) in checks.await {
        match result {
            Ok(check) => {
                observed.pinned.insert(name, check.image_id);
            }
            Err(e) => check_errors.push((name, ServiceFailure::ImageCheck(e))),
        }
    }
    let plan = plan(desired, &observed);
    let mut report = apply(engine, desired, &observed, &plan, options).await;
    collect_undeclared_files(desired, &plan, options);
    for (name, failure) in check_errors {
        report.services.entry(name).or_default().failure.get_or_insert(failure);
    }
    Ok(Pass { observed, plan, report })
}
