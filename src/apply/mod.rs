//! Apply: runs a [`Plan`] through an [`Engine`].
//!
//! Invariants:
//! - Networks and volumes are created before any service is touched, and pruned after.
//! - One service's actions run in order; different services run concurrently, at most
//!   `concurrency` at a time, and a service starts only after the services it `dependsOn` are
//!   started (or healthy, or, for a job, completed: exited 0, as asked).
//! - A job (`mode: job`) is run to its end inside its action; its exit code decides its result,
//!   and a failed job fails its dependants with `DependencyFailure::JobFailed` naming the code.
//! - A failed service never stops the others; each service's result is reported.
//! - Apply trusts Docker's answers only as the engine maps them: an `--rm` container that Docker
//!   removed first is a success, never a failure.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use serde::Serialize;
use tokio::sync::{watch, Semaphore};
use tracing::{debug, warn, Instrument};

use crate::engine::{Engine, EngineError};
use crate::manifest::model::DependCondition;
use crate::manifest::Desired;
use crate::observe::{Observed, RunState};
use crate::plan::{Plan, ResourceAction, ServicePlan};
use crate::secrets::store::FileStore;

mod actions;
pub mod outcome;
pub mod progress;
mod replace;
pub(crate) mod steps;
mod wait;

pub use outcome::{
    ActionError, DependencyFailure, NotReady, ReplaceFailure, ResourceDone, ResourceError, ResourceKind,
    ResourceResult, Rollback, ServiceFailure, ServiceResult,
};
pub use progress::{Progress, Step};
pub use replace::temporary_name;

/// Defaults for one apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub instance: String,
    /// Services applied at once.
    pub concurrency: usize,
    /// Where each service's steps are sent as they happen; `None` sends nothing.
    pub progress: Option<tokio::sync::mpsc::UnboundedSender<Progress>>,
    /// Where secret and config files for containers are written (`<state-dir>`); `None`: a
    /// service that needs files or sealed env values fails to be created, and nothing is
    /// collected.
    pub store: Option<Arc<FileStore>>,
}

impl ApplyOptions {
    /// Options without a progress watcher.
    pub fn new(instance: impl Into<String>, concurrency: usize) -> Self {
        ApplyOptions { instance: instance.into(), concurrency, progress: None, store: None }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ApplyReport {
    pub services: BTreeMap<String, ServiceResult>,
    /// Network and volume results, such as `network shop: created`.
    pub resources: Vec<ResourceResult>,
    pub resource_errors: Vec<ResourceError>,
}

impl ApplyReport {
    pub fn failed(&self) -> impl Iterator<Item = (&String, &ServiceResult)> {
        self.services.iter().filter(|(_, r)| r.failure.is_some())
    }

    pub fn is_success(&self) -> bool {
        self.failed().next().is_none() && self.resource_errors.is_empty()
    }
}

/// Runs `plan`. `observed` is the snapshot the plan was made from; replacement reads the old
/// container's labels from it for rollback.
pub async fn apply<E: Engine>(
    engine: &E,
    desired: &Desired,
    observed: &Observed,
    plan: &Plan,
    options: &ApplyOptions,
) -> ApplyReport {
    let mut report = ApplyReport::default();
    resources(engine, desired, plan, options, true, &mut report).await;
    // A network or volume another instance owns is not joined or mounted: the service fails
    // with that error instead of sharing it.
    let owned_elsewhere: Vec<(&str, &EngineError)> = report
        .resource_errors
        .iter()
        .filter(|e| matches!(e.error, EngineError::Owned { .. }))
        .map(|e| (e.name.as_str(), &e.error))
        .collect();
    let blocked = |service: Option<&crate::manifest::Service>| -> Option<EngineError> {
        let spec = &service?.container;
        owned_elsewhere
            .iter()
            .find(|(name, _)| {
                spec.networks.iter().any(|n| n == name)
                    || spec
                        .mounts
                        .iter()
                        .any(|m| matches!(m, crate::manifest::model::Mount::Volume { source, .. } if source == name))
            })
            .map(|(_, e)| (*e).clone())
    };

    // Each service publishes its result; dependants wait on it.
    let mut senders = BTreeMap::new();
    let mut receivers = BTreeMap::new();
    for name in plan.services.keys() {
        let (tx, rx) = watch::channel(None::<Finished>);
        senders.insert(name.clone(), tx);
        receivers.insert(name.clone(), rx);
    }
    let limit = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let tasks = plan.services.iter().map(|(name, sp)| {
        let progress = progress::Reporter::new(options.progress.as_ref(), name);
        let store = options.store.as_deref();
        let ctx = steps::Context { engine, desired, observed, instance: &options.instance, progress, store };
        let limit = limit.clone();
        let receivers = &receivers;
        let done = senders.remove(name).expect("one sender per service");
        let span = tracing::info_span!("service", service = %name);
        let blocked = blocked(desired.services.get(name)).filter(|_| sp.actions.iter().any(|a| !a.kind().takes_away()));
        async move {
            let result = match blocked {
                Some(error) => ServiceResult {
                    failure: Some(ServiceFailure::Action {
                        kind: crate::plan::ActionKind::Create,
                        error: ActionError::Engine(error),
                    }),
                    ..ServiceResult::default()
                },
                None => run_service(&ctx, name, sp, receivers, &limit).await,
            };
            if !sp.actions.is_empty() {
                steps::collect_files(&ctx, name).await;
            }
            ctx.progress.step(if result.failure.is_none() { Step::Done } else { Step::Failed });
            let _ = done.send(Some(Finished::of(&result)));
            (name.clone(), result)
        }
        .instrument(span)
    });
    report.services = join_all(tasks).await.into_iter().collect();

    resources(engine, desired, plan, options, false, &mut report).await;
    report
}

async fn run_service<E: Engine>(
    ctx: &steps::Context<'_, E>,
    name: &str,
    sp: &ServicePlan,
    receivers: &BTreeMap<String, watch::Receiver<Option<Finished>>>,
    limit: &Semaphore,
) -> ServiceResult {
    let mut result = ServiceResult::default();
    if !sp.conflicts.is_empty() {
        result.failure = Some(ServiceFailure::Conflicts(sp.conflicts.clone()));
        return result;
    }
    let service = ctx.desired.services.get(name);
    if let Some(service) = service.filter(|_| sp.actions.iter().any(|a| !a.kind().takes_away())) {
        for (dep, condition) in &service.depends_on {
            if let Err(reason) = wait_for_dependency(ctx, dep, *condition, receivers).await {
                result.failure = Some(ServiceFailure::Dependency { dep: dep.clone(), reason });
                return result;
            }
        }
    }
    let _permit = limit.acquire().await.expect("the semaphore is never closed");
    for action in &sp.actions {
        let kind = action.kind();
        let span = tracing::info_span!("action", kind = kind.as_str());
        match actions::run(ctx, service, action).instrument(span).await {
            Ok(()) => result.done.push(kind),
            Err(error) => {
                warn!(service = name, action = kind.as_str(), %error, "action failed");
                result.failure = Some(ServiceFailure::Action { kind, error });
                return result;
            }
        }
    }
    if !sp.actions.is_empty() {
        debug!(service = name, actions = sp.actions.len(), "converged");
    }
    result
}

/// Waits until `dep` has finished its own actions, then until its containers are started or
/// healthy.
async fn wait_for_dependency<E: Engine>(
    ctx: &steps::Context<'_, E>,
    dep: &str,
    condition: DependCondition,
    receivers: &BTreeMap<String, watch::Receiver<Option<Finished>>>,
) -> Result<(), DependencyFailure> {
    let mut converged_now = false;
    if let Some(rx) = receivers.get(dep) {
        let mut rx = rx.clone();
        let finished =
            rx.wait_for(|v| v.is_some()).await.map(|v| v.unwrap_or(Finished::Failed)).unwrap_or(Finished::Failed);
        match finished {
            Finished::Converged => converged_now = true,
            Finished::JobFailed(code) => return Err(DependencyFailure::JobFailed { code }),
            Finished::Failed => return Err(DependencyFailure::DidNotConverge),
        }
    }
    let Some(dep_service) = ctx.desired.services.get(dep) else {
        return Err(if let Some(refused) = ctx.desired.refused.get(dep) {
            match refused.cause {
                crate::manifest::RefusalCause::Policy => DependencyFailure::Refused,
                crate::manifest::RefusalCause::DockerApi => DependencyFailure::RefusedByApi,
                // Never on this backend: only `--backend swarm` refuses for Swarm.
                crate::manifest::RefusalCause::Swarm => DependencyFailure::Refused,
            }
        } else if ctx.desired.unresolved.contains(dep) {
            DependencyFailure::Unresolved
        } else {
            DependencyFailure::NoManifest
        });
    };
    if condition == DependCondition::Completed || dep_service.is_job() {
        // A job that ran in this apply converged only by exiting 0. A job waited for as
        // `started` (compose's list form) is waited for to its completion too: once it has
        // exited it will never run again, so "running" could never be seen.
        return match converged_now {
            true => Ok(()),
            false => job_completed(ctx, dep_service).await,
        };
    }
    let timeout = dep_service.update.health_timeout.max(Duration::from_secs(30));
    for name in crate::names::container_names(ctx.instance, dep_service) {
        wait::until_ready(ctx.engine, &name, condition == DependCondition::Healthy, timeout)
            .await
            .map_err(|reason| DependencyFailure::NotReady { condition, reason })?;
    }
    Ok(())
}

/// How a service's part of an apply ended, as its dependants need to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finished {
    Converged,
    /// A job that ran and exited with this code (not 0).
    JobFailed(i64),
    Failed,
}

impl Finished {
    fn of(result: &ServiceResult) -> Finished {
        match &result.failure {
            None => Finished::Converged,
            Some(ServiceFailure::Action { error: ActionError::JobFailed { code }, .. }) => Finished::JobFailed(*code),
            Some(_) => Finished::Failed,
        }
    }
}

/// Has the job `dep`, which this apply did not run, completed? Its container tells (a running
/// one is waited for to its end); an auto-removed one's record does ([`Observed::jobs`]).
async fn job_completed<E: Engine>(
    ctx: &steps::Context<'_, E>,
    dep: &crate::manifest::Service,
) -> Result<(), DependencyFailure> {
    let name = crate::names::container_names(ctx.instance, dep).into_iter().next().unwrap_or_default();
    let engine_failure = |e: EngineError| DependencyFailure::JobNotCompleted(Some(NotReady::Engine(e)));
    let info = ctx.engine.inspect_container(&name).await.map_err(engine_failure)?;
    let code = match info {
        Some(info) if info.state.is_up() => ctx.engine.run_to_exit(&info.id, false).await.map_err(engine_failure)?,
        Some(info) if info.state == RunState::Created => None,
        Some(info) => info.exit_code,
        None => ctx.observed.jobs.get(&dep.name).map(|r| r.exit_code),
    };
    match code {
        Some(0) => Ok(()),
        Some(code) => Err(DependencyFailure::JobFailed { code }),
        None => Err(DependencyFailure::JobNotCompleted(None)),
    }
}

/// Creates (`create == true`) or prunes the plan's networks and volumes.
async fn resources<E: Engine>(
    engine: &E,
    desired: &Desired,
    plan: &Plan,
    options: &ApplyOptions,
    create: bool,
    report: &mut ApplyReport,
) {
    for (kind, list) in [(ResourceKind::Network, &plan.networks), (ResourceKind::Volume, &plan.volumes)] {
        for action in list {
            let result = match (action, create, kind) {
                (ResourceAction::Create { name }, true, ResourceKind::Network) => {
                    // The one network no manifest declares is the instance's default network.
                    let network =
                        desired.networks.get(name).cloned().unwrap_or_else(|| crate::names::default_network_spec(name));
                    engine.create_network(&network, &options.instance).await.map(|_| ResourceDone::Created)
                }
                (ResourceAction::Create { name }, true, ResourceKind::Volume) => {
                    engine.create_volume(&desired.volumes[name], &options.instance).await.map(|_| ResourceDone::Created)
                }
                (ResourceAction::Remove { name }, false, ResourceKind::Network) => {
                    engine.remove_network(name).await.map(|_| ResourceDone::Removed)
                }
                (ResourceAction::Remove { name }, false, ResourceKind::Volume) => {
                    engine.remove_volume(name).await.map(|_| ResourceDone::Removed)
                }
                _ => continue,
            };
            let name = match action {
                ResourceAction::Create { name } | ResourceAction::Remove { name } => name.clone(),
            };
            match result {
                Ok(done) => report.resources.push(ResourceResult { kind, name, done }),
                // Something still uses it (perhaps a container moor does not own): keep it.
                Err(EngineError::InUse(_)) => {
                    report.resources.push(ResourceResult { kind, name, done: ResourceDone::KeptInUse })
                }
                Err(error) => report.resource_errors.push(ResourceError { kind, name, error }),
            }
        }
    }
}
