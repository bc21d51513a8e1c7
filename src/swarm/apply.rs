//! Carries a [`SwarmPlan`] out against a [`SwarmEngine`], waits for Swarm's verdict on what it
//! created or updated, and reports each step: [`SwarmReport`].
//!
//! Order (`docs/swarm-design.md` section 5): networks, secrets and configs are created; services
//! are created or updated; with [`SwarmApplyOptions::wait`], the touched services are watched
//! until done, failed or out of time; then pruned services are removed; last, secrets, configs
//! and networks no service names any longer.
//!
//! Invariants:
//! - An update carries the version the plan observed. A stale one (`OutOfSequence`) is a failed
//!   step that says the service changed since it was observed: nothing is overwritten.
//! - An image without a digest is pinned (`ref:tag@sha256:…`) from the registry before it is
//!   sent (the daemon does not pin: trap T10); without an answer it is sent as written, with a
//!   warning.
//! - A rollback, a paused update or a timeout fails the step; a task still pending when time
//!   runs out is reported with its scheduler error. Apply never rolls back by itself.
//! - A secret, config or network still in use is skipped, not failed: a later pass removes it
//!   once the rolling update has let go of it.
//! - Every step is attempted: one failed step does not stop the others (prune only removes what
//!   no desired service names, so it is safe after a failed update).
//! - One tracing span per apply, a child span per step. No secret value is ever logged: secrets
//!   are only named.

use std::time::Duration;

use serde::Serialize;
use tracing::Instrument;

use super::observe::SwarmObserved;
use super::plan::{ServiceAction, SwarmPlan};
use super::spec::{DataKind, SwarmDesired, SwarmSpec};
use super::status;
use crate::engine::swarm::{ObservedService, SwarmEngine, UpdateState};
use crate::engine::EngineError;

/// How apply runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmApplyOptions {
    /// The instance whose services are listed while waiting.
    pub instance: String,
    /// Watch created and updated services until Swarm's verdict.
    pub wait: bool,
    /// How long to watch, for all services together.
    pub timeout: Duration,
    /// How often to look.
    pub poll: Duration,
}

/// What one apply did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmReport {
    /// In the order carried out.
    pub steps: Vec<Step>,
    /// What went through, but not as well as asked (an image sent unpinned).
    pub warnings: Vec<String>,
}

impl SwarmReport {
    /// Some step failed (an apply that fails exits 1).
    pub fn failed(&self) -> bool {
        self.steps.iter().any(|s| matches!(s.outcome, Outcome::Failed { .. }))
    }
}

/// One step of an apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub action: StepAction,
    /// The object's name.
    pub name: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepAction {
    CreateNetwork,
    CreateSecret,
    CreateConfig,
    CreateService,
    UpdateService,
    /// A service the plan held after a failed update: nothing sent, reported as failed.
    HeldService,
    RemoveService,
    RemoveSecret,
    RemoveConfig,
    RemoveNetwork,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Outcome {
    /// Done; for a watched service, Swarm says it converged.
    Done,
    /// Sent, not watched (`wait` off).
    Sent,
    /// Not done this pass, and not a failure (a secret still in use).
    Skipped {
        reason: String,
    },
    Failed {
        message: String,
    },
}

/// Carries out `plan`, then reports each step.
pub async fn apply<E: SwarmEngine>(
    engine: &E,
    desired: &SwarmDesired,
    plan: &SwarmPlan,
    options: &SwarmApplyOptions,
) -> SwarmReport {
    let span = tracing::info_span!("swarm_apply", instance = %options.instance);
    run(engine, desired, plan, options).instrument(span).await
}

/// A service created or updated this pass, to be watched.
struct Touched {
    step: usize,
    id: String,
    created: bool,
    /// The update changes what the tasks run, so Swarm's updater rolls them and reports an
    /// update state; a change of labels, update settings or replicas only does not.
    rolls: bool,
}

/// Fields of the spec whose change Swarm applies without a rolling update (no `UpdateStatus`).
const WITHOUT_ROLLING: [&str; 4] = ["labels.", "update.", "rollback.", "mode."];

async fn run<E: SwarmEngine>(
    engine: &E,
    desired: &SwarmDesired,
    plan: &SwarmPlan,
    options: &SwarmApplyOptions,
) -> SwarmReport {
    let mut report = SwarmReport::default();
    for name in &plan.networks_create {
        let outcome = match desired.networks.get(name) {
            Some(network) => {
                let call = engine.create_network(name, network, &options.instance);
                done(call.instrument(step_span("create-network", name)).await)
            }
            None => Outcome::Failed { message: "not in the desired networks (a plan of other manifests)".into() },
        };
        report.steps.push(Step { action: StepAction::CreateNetwork, name: name.clone(), outcome });
    }
    for data in &plan.data_create {
        let action = match data.kind {
            DataKind::Secret => StepAction::CreateSecret,
            DataKind::Config => StepAction::CreateConfig,
        };
        let outcome = match desired.data.get(&data.name) {
            Some(d) => done(engine.create_data(d).instrument(step_span("create-data", &data.name)).await),
            None => Outcome::Failed { message: "not in the desired data (a plan of other manifests)".into() },
        };
        report.steps.push(Step { action, name: data.name.clone(), outcome });
    }

    let mut touched = Vec::new();
    for action in &plan.services {
        match action {
            ServiceAction::Create { name, spec } => {
                let span = step_span("create-service", name);
                let spec = pin(engine, spec, &mut report.warnings).instrument(span.clone()).await;
                let outcome = match engine.create_service(&spec).instrument(span).await {
                    Ok(id) => {
                        touched.push(Touched { step: report.steps.len(), id, created: true, rolls: false });
                        Outcome::Sent
                    }
                    // Observe lists owned services only: the name is held by one this instance
                    // does not own, which is never touched.
                    Err(EngineError::NameInUse { .. }) => Outcome::Failed {
                        message: format!(
                            "a service named {name} exists without this instance's labels (moor.instance, \
                             moor.backend=swarm); moor never touches it: remove or rename it, or rename this one"
                        ),
                    },
                    Err(e) => Outcome::Failed { message: e.to_string() },
                };
                report.steps.push(Step { action: StepAction::CreateService, name: name.clone(), outcome });
            }
            ServiceAction::Update { id, name, version, spec, changes } => {
                let rolls = changes.iter().any(|c| !WITHOUT_ROLLING.iter().any(|p| c.field.starts_with(p)));
                let span = step_span("update-service", name);
                let spec = pin(engine, spec, &mut report.warnings).instrument(span.clone()).await;
                let outcome = match engine.update_service(id, *version, &spec).instrument(span).await {
                    Ok(()) => {
                        touched.push(Touched { step: report.steps.len(), id: id.clone(), created: false, rolls });
                        Outcome::Sent
                    }
                    Err(EngineError::OutOfSequence(_)) => Outcome::Failed {
                        message: format!(
                            "service {name} changed since it was observed (version {version} is stale); nothing was \
                             overwritten: run again to observe it anew"
                        ),
                    },
                    Err(e) => Outcome::Failed { message: e.to_string() },
                };
                report.steps.push(Step { action: StepAction::UpdateService, name: name.clone(), outcome });
            }
            ServiceAction::Held { name, reason, .. } => {
                let outcome = Outcome::Failed { message: reason.clone() };
                report.steps.push(Step { action: StepAction::HeldService, name: name.clone(), outcome });
            }
            ServiceAction::Conflict { name } => {
                let message = format!(
                    "a service named {name} exists without this instance's labels (moor.instance, moor.backend=swarm); \
                     moor never touches it: remove or rename it, or rename this one"
                );
                let outcome = Outcome::Failed { message };
                report.steps.push(Step { action: StepAction::CreateService, name: name.clone(), outcome });
            }
            ServiceAction::Remove { .. } => {}
        }
    }

    if options.wait && !touched.is_empty() {
        let verdicts = watch(engine, &touched, options).instrument(step_span("wait", "")).await;
        for (t, outcome) in touched.iter().zip(verdicts) {
            report.steps[t.step].outcome = outcome;
        }
    }

    for action in &plan.services {
        if let ServiceAction::Remove { id, name } = action {
            let outcome = done(engine.remove_service(id).instrument(step_span("remove-service", name)).await);
            report.steps.push(Step { action: StepAction::RemoveService, name: name.clone(), outcome });
        }
    }
    for data in &plan.data_remove {
        let action = match data.kind {
            DataKind::Secret => StepAction::RemoveSecret,
            DataKind::Config => StepAction::RemoveConfig,
        };
        let result = engine.remove_data(data.kind, &data.id).instrument(step_span("remove-data", &data.name)).await;
        report.steps.push(Step { action, name: data.name.clone(), outcome: removed(result) });
    }
    for network in &plan.networks_remove {
        let result = engine.remove_network(&network.id).instrument(step_span("remove-network", &network.name)).await;
        report.steps.push(Step {
            action: StepAction::RemoveNetwork,
            name: network.name.clone(),
            outcome: removed(result),
        });
    }
    for step in &report.steps {
        if let Outcome::Failed { message } = &step.outcome {
            tracing::warn!(action = ?step.action, name = %step.name, %message, "swarm step failed");
        }
    }
    report
}

fn step_span(action: &'static str, name: &str) -> tracing::Span {
    tracing::info_span!("swarm_step", action, name = %name)
}

fn done(result: Result<(), EngineError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Done,
        Err(e) => Outcome::Failed { message: e.to_string() },
    }
}

/// A removal: "in use" waits for a later pass.
fn removed(result: Result<(), EngineError>) -> Outcome {
    match result {
        Err(EngineError::InUse(message)) => {
            Outcome::Skipped { reason: format!("still in use, removed on a later pass ({message})") }
        }
        other => done(other),
    }
}

/// `spec` with its image pinned to the registry's digest; unpinned with a warning when the
/// registry does not answer.
async fn pin<E: SwarmEngine>(engine: &E, spec: &SwarmSpec, warnings: &mut Vec<String>) -> SwarmSpec {
    let mut spec = spec.clone();
    if spec.image.contains('@') {
        return spec;
    }
    match engine.registry_digest(&spec.image).await {
        Ok(digest) => spec.image = format!("{}@{digest}", spec.image),
        Err(e) => warnings.push(format!(
            "service {}: image {} has no registry digest ({e}); sent as written, so each node resolves it by itself",
            spec.name, spec.image
        )),
    }
    spec
}

/// Watches the touched services until each is done or failed, or `options.timeout` passes; one
/// outcome per touched service, in order.
async fn watch<E: SwarmEngine>(engine: &E, touched: &[Touched], options: &SwarmApplyOptions) -> Vec<Outcome> {
    let deadline = tokio::time::Instant::now() + options.timeout;
    let mut verdicts: Vec<Option<Outcome>> = vec![None; touched.len()];
    let ids: Vec<String> = touched.iter().map(|t| t.id.clone()).collect();
    // Nodes change rarely: asked once (until an answer), for the running count of `status`.
    let mut nodes = None;
    let mut last = SwarmObserved::default();
    let mut last_error: Option<String>;
    loop {
        // The write has only just been answered: Swarm's updater has not begun yet.
        tokio::time::sleep(options.poll).await;
        let look = async {
            if nodes.is_none() {
                nodes = Some(engine.list_nodes().await?);
            }
            let services = engine.list_services(&options.instance).await?;
            let tasks = engine.list_tasks(&ids).await?;
            Ok::<_, EngineError>((services, tasks))
        };
        match look.await {
            Ok((services, tasks)) => {
                let nodes = nodes.clone().unwrap_or_default();
                last = SwarmObserved { services, tasks, nodes, ..SwarmObserved::default() };
                last_error = None;
                for (t, verdict) in touched.iter().zip(verdicts.iter_mut()).filter(|(_, v)| v.is_none()) {
                    *verdict = judge(&last, t);
                }
            }
            Err(e) => last_error = Some(e.to_string()),
        }
        if verdicts.iter().all(Option::is_some) {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
    }
    touched
        .iter()
        .zip(verdicts)
        .map(|(t, v)| v.unwrap_or_else(|| timed_out(&last, t, options.timeout, last_error.as_deref())))
        .collect()
}

/// Done, failed, or `None` while Swarm is still at it.
fn judge(observed: &SwarmObserved, touched: &Touched) -> Option<Outcome> {
    let Some(service) = observed.services.iter().find(|s| s.id == touched.id) else {
        return Some(Outcome::Failed { message: "the service is gone (removed by someone else)".into() });
    };
    let (running, desired) = status::counts(observed, service);
    match service.update.as_ref().map(|u| u.state) {
        Some(UpdateState::Completed) => Some(Outcome::Done),
        Some(state) if state.failed() => Some(Outcome::Failed { message: failure(observed, service) }),
        Some(_) => None,
        // A create has no update status, nor has an update that changes nothing the tasks run:
        // done when every task runs. A rolling update is done only when Swarm says so.
        None if !touched.rolls && running == desired => Some(Outcome::Done),
        None => None,
    }
}

/// A failed update: Swarm's message, and the newest task error.
fn failure(observed: &SwarmObserved, service: &ObservedService) -> String {
    let update = service.update.as_ref();
    let state = update.map_or("failed", |u| u.state.as_str());
    let mut message = format!("update {state}");
    if let Some(text) = update.map(|u| u.message.as_str()).filter(|m| !m.is_empty()) {
        message.push_str(&format!(": {text}"));
    }
    if let Some(task) = status::newest_task_error(observed, service) {
        message.push_str(&format!("; last task error: {}", task.error));
    }
    message
}

/// Out of time: what the service still waits for, with the pending task's scheduler error.
fn timed_out(observed: &SwarmObserved, touched: &Touched, timeout: Duration, error: Option<&str>) -> Outcome {
    let mut message = format!("not converged within {}", humantime::format_duration(timeout));
    if let Some(service) = observed.services.iter().find(|s| s.id == touched.id) {
        let (running, desired) = status::counts(observed, service);
        message.push_str(&format!(": {running}/{desired} tasks running"));
        if let Some(update) = service.update.as_ref().filter(|_| !touched.created) {
            message.push_str(&format!(", update {}", update.state.as_str()));
        }
        let waiting = observed
            .tasks_of(&service.id)
            .filter(|t| t.desired_state == "running" && t.state != "running")
            .max_by(|a, b| a.timestamp.cmp(&b.timestamp));
        let newest = || observed.tasks_of(&service.id).max_by(|a, b| a.timestamp.cmp(&b.timestamp));
        if let Some(task) = waiting {
            let why = if task.error.is_empty() { &task.message } else { &task.error };
            message.push_str(&format!("; task still {}: {why}", task.state));
        } else if let Some(task) = newest().filter(|t| t.state != "running") {
            // Tasks that end (a command that exits, even with 0) are restarted by Swarm and
            // never count as running: say how the newest one ended.
            let why = if task.error.is_empty() { &task.message } else { &task.error };
            message.push_str(&format!("; the newest task is {}: {why}", task.state));
        }
    }
    if let Some(error) = error {
        message.push_str(&format!(" (the last look failed: {error})"));
    }
    Outcome::Failed { message }
}

/// The human text of a report: one line per step, warnings, and a closing verdict.
pub fn report_text(report: &SwarmReport) -> String {
    let mut out = String::new();
    for step in &report.steps {
        let action = serde_json::to_value(step.action).ok().and_then(|v| v.as_str().map(str::to_string));
        let action = action.unwrap_or_default().replace('-', " ");
        let line = match &step.outcome {
            Outcome::Done => format!("ok      {action} {}", step.name),
            Outcome::Sent => format!("sent    {action} {} (not waited for)", step.name),
            Outcome::Skipped { reason } => format!("skipped {action} {}: {reason}", step.name),
            Outcome::Failed { message } => format!("FAILED  {action} {}: {message}", step.name),
        };
        out.push_str(&line);
        out.push('\n');
    }
    for warning in &report.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    let failed = report.steps.iter().filter(|s| matches!(s.outcome, Outcome::Failed { .. })).count();
    if report.steps.is_empty() {
        out.push_str("in sync: nothing to do\n");
    } else if failed == 0 {
        out.push_str(&format!("applied: {} step(s)\n", report.steps.len()));
    } else {
        out.push_str(&format!("failed: {failed} of {} step(s)\n", report.steps.len()));
    }
    out
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
