//! One reconcile pass: observe, plan, apply. Shared by `moor apply` and the controller.
//!
//! Invariants: level-based (each pass observes afresh); a failed observe means no plan and no
//! action at all.

use crate::apply::{apply, ApplyOptions, ApplyReport};
use crate::engine::{Engine, EngineResult};
use crate::manifest::Desired;
use crate::observe::Observed;
use crate::plan::{plan, Plan};

/// Observes what this instance owns: one container list call, plus one network list and one
/// volume list only when manifests declare networks or volumes.
pub async fn observe<E: Engine>(engine: &E, instance: &str, desired: &Desired) -> EngineResult<Observed> {
    let containers = engine.list_containers(instance).await?;
    let networks = match desired.networks.is_empty() {
        true => None,
        false => Some(engine.list_networks(instance).await?),
    };
    let volumes = match desired.volumes.is_empty() {
        true => None,
        false => Some(engine.list_volumes(instance).await?),
    };
    Ok(Observed { containers, networks, volumes, ..Observed::default() })
}

/// The outcome of one pass.
#[derive(Debug, Clone)]
pub struct Pass {
    pub observed: Observed,
    pub plan: Plan,
    pub report: ApplyReport,
}

/// Observes, plans and applies once.
pub async fn reconcile_once<E: Engine>(engine: &E, desired: &Desired, options: &ApplyOptions) -> EngineResult<Pass> {
    let observed = observe(engine, &options.instance, desired).await?;
    let plan = plan(desired, &observed);
    let report = apply(engine, desired, &observed, &plan, options).await;
    Ok(Pass { observed, plan, report })
}
