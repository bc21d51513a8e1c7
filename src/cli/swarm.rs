//! `--backend swarm`: `moor validate|plan|apply|status|run|down` against a swarm manager.
//!
//! The load is the docker backend's (folder or git, policy, secrets); then what Swarm cannot
//! express is refused, located, per service ([`admit`]): a refused service is declared (never
//! pruned) but left as it runs, and the command exits 1, as for a policy refusal.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::converge::block_on;
use super::render;
use super::source::SourceArgs;
use super::Global;
use crate::engine::swarm::SwarmEngine;
use crate::engine::DockerEngine;
use crate::manifest::{Desired, Loaded, RefusalCause, Refused};
use crate::policy::Policy;
use crate::swarm::apply::{apply as apply_plan, SwarmApplyOptions, SwarmReport};
use crate::swarm::observe::{foreign, observe};
use crate::swarm::plan::{plan as make_plan, plan_text, SwarmPlan};
use crate::swarm::status::{exit_code, rows, status_text};

/// How long `down` retries a secret, config or network that a removed service's tasks still
/// hold: the tasks go away within seconds.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(60);

const IN_SYNC: u8 = 0;
const ERROR: u8 = 1;
const PENDING: u8 = 2;

/// How often it looks: Swarm's own monitor periods are seconds long.
const POLL: Duration = Duration::from_millis(500);

/// Connects and checks that the daemon is a swarm manager.
async fn connect(global: &Global) -> anyhow::Result<DockerEngine> {
    let engine = global.docker().await.context("connecting to Docker")?;
    engine.swarm_ping().await.context("--backend swarm")?;
    Ok(engine)
}

/// Moves every service with a field Swarm cannot express into `desired.refused` (the plan tells
/// them); the problems of the networks and volumes make the load incomplete (printed here).
fn admit(loaded: &mut Loaded, instance: &str) {
    let desired = &mut loaded.desired;
    let names: Vec<String> = desired.services.keys().cloned().collect();
    for name in names {
        let one = Desired {
            services: [(name.clone(), desired.services[&name].clone())].into(),
            complete: true,
            ..Desired::default()
        };
        // Told with the plan's refused services, as the policy's refusals are.
        let problems = crate::swarm::validate::validate(&one, instance);
        if problems.is_empty() {
            continue;
        }
        if let Some(service) = desired.services.remove(&name) {
            desired.refused.insert(name, Refused { service, problems, cause: RefusalCause::Swarm });
        }
    }
    let rest = Desired { networks: desired.networks.clone(), volumes: desired.volumes.clone(), ..Desired::default() };
    let problems = crate::swarm::validate::validate(&rest, instance);
    for p in &problems {
        eprintln!("{p}");
    }
    if !problems.is_empty() {
        desired.complete = false;
        loaded.problems.extend(problems);
    }
}

/// Loads, refuses for the API and for Swarm, projects.
fn load(
    source: &SourceArgs,
    policy: &Policy,
    global: &Global,
    write_state: bool,
) -> anyhow::Result<(Loaded, crate::swarm::spec::SwarmDesired)> {
    let mut loaded = source.load(global, write_state, policy)?;
    admit(&mut loaded, &global.instance);
    let desired = crate::swarm::project::desired(&loaded.desired, &global.instance);
    Ok((loaded, desired))
}

/// Refuses the services whose fields need a newer API than the manager speaks (told with the
/// plan's refused services).
fn admit_api(engine: &DockerEngine, loaded: &mut Loaded, instance: &str) -> crate::swarm::spec::SwarmDesired {
    loaded.desired =
        crate::engine::api_version::admit(SwarmEngine::api_version(engine), std::mem::take(&mut loaded.desired));
    crate::swarm::project::desired(&loaded.desired, instance)
}

fn is_clean(loaded: &Loaded) -> bool {
    loaded.problems.is_empty() && loaded.desired.refused.is_empty() && loaded.desired.prune_guard.is_none()
}

pub fn plan(source: &SourceArgs, policy: &Policy, global: &Global) -> anyhow::Result<ExitCode> {
    let (mut loaded, _) = load(source, policy, global, false)?;
    block_on(async {
        let engine = connect(global).await?;
        let desired = admit_api(&engine, &mut loaded, &global.instance);
        let mut observed = observe(&engine, &global.instance).await.context("observing the swarm")?;
        foreign(&engine, &desired, &mut observed).await.context("observing the swarm")?;
        let plan = make_plan(&desired, &observed);
        render::print_data(global.output, &plan, || plan_text(&plan))?;
        // A held service is a failed update, not a pending change.
        let held = plan.held().next().is_some();
        Ok(ExitCode::from(match (is_clean(&loaded) && !held, plan.is_empty()) {
            (false, _) => ERROR,
            (true, true) => IN_SYNC,
            (true, false) => PENDING,
        }))
    })
}

/// What `apply -o json` prints.
#[derive(Serialize)]
struct ApplyOutput<'a> {
    plan: &'a SwarmPlan,
    report: &'a SwarmReport,
}

pub fn apply(source: &SourceArgs, policy: &Policy, timeout: Duration, global: &Global) -> anyhow::Result<ExitCode> {
    let (mut loaded, _) = load(source, policy, global, true)?;
    block_on(async {
        let engine = connect(global).await?;
        let desired = admit_api(&engine, &mut loaded, &global.instance);
        let span = tracing::info_span!("reconcile", instance = %global.instance, backend = "swarm");
        let (plan, report) = pass(&engine, &desired, &global.instance, Some(timeout)).instrument_in(span).await?;
        render::print_data(global.output, &ApplyOutput { plan: &plan, report: &report }, || {
            let refused = crate::swarm::plan::refused_text(&plan);
            match (refused.is_empty(), report.steps.is_empty()) {
                (true, _) => crate::swarm::apply::report_text(&report),
                // Not "in sync": the refused services are not what the manifests ask.
                (false, true) => format!("{refused}nothing applied: {} service(s) refused\n", plan.refused.len()),
                (false, false) => format!("{refused}{}", crate::swarm::apply::report_text(&report)),
            }
        })?;
        Ok(ExitCode::from(if is_clean(&loaded) && !report.failed() { IN_SYNC } else { ERROR }))
    })
}

/// One observe, plan and apply.
async fn pass(
    engine: &DockerEngine,
    desired: &crate::swarm::spec::SwarmDesired,
    instance: &str,
    wait: Option<Duration>,
) -> anyhow::Result<(SwarmPlan, SwarmReport)> {
    let mut observed = observe(engine, instance).await.context("observing the swarm")?;
    foreign(engine, desired, &mut observed).await.context("observing the swarm")?;
    let plan = make_plan(desired, &observed);
    let options = SwarmApplyOptions {
        instance: instance.to_string(),
        wait: wait.is_some(),
        timeout: wait.unwrap_or_default(),
        poll: POLL,
    };
    let report = apply_plan(engine, desired, &plan, &options).await;
    Ok((plan, report))
}

/// `Future::instrument` without importing the trait at every call.
trait InSpan: std::future::Future + Sized {
    fn instrument_in(self, span: tracing::Span) -> tracing::instrument::Instrumented<Self> {
        tracing::Instrument::instrument(self, span)
    }
}
impl<F: std::future::Future> InSpan for F {}

pub fn status(global: &Global) -> anyhow::Result<ExitCode> {
    block_on(async {
        let engine = connect(global).await?;
        let observed = observe(&engine, &global.instance).await.context("observing the swarm")?;
        let rows = rows(&observed);
        render::print_data(global.output, &rows, || status_text(&rows))?;
        Ok(ExitCode::from(exit_code(&rows)))
    })
}

/// `moor run --backend swarm`: a pass at start, on every interval and whenever a manifest
/// changes, until SIGTERM or SIGINT. Level-based: a trigger carries nothing, each pass
/// re-observes; Swarm itself restarts, reschedules and rolls back between passes, and a pass
/// repairs drift. The load is read again at each pass (a git source is fetched again).
pub fn run(source: &SourceArgs, policy: &Policy, interval: Duration, global: &Global) -> anyhow::Result<ExitCode> {
    block_on(async {
        let token = CancellationToken::new();
        super::run::on_signals(token.clone())?;
        let engine = tokio::select! {
            _ = token.cancelled() => return Ok(ExitCode::SUCCESS),
            engine = connect(global) => engine?,
        };
        tracing::info!(dir = %source.dir().display(), instance = %global.instance, backend = "swarm", "moor run");
        // Without --git, the folder's watch speeds a change up; the interval catches anything
        // it misses (or all, when it cannot be set up).
        let (changed_tx, mut changed) = tokio::sync::mpsc::unbounded_channel();
        let mut watch = match source.git.url {
            Some(_) => None,
            None => crate::controller::folder_watch::FolderWatch::new(&source.dir(), changed_tx)
                .map_err(|e| tracing::warn!(error = %e, "watching the manifest folder"))
                .ok(),
        };
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut number = 0u64;
        loop {
            tokio::select! {
                _ = token.cancelled() => break,
                _ = tick.tick() => {}
                Some(_) = changed.recv() => {
                    // One pass for a burst of changes.
                    while changed.try_recv().is_ok() {}
                }
            }
            if let Some(watch) = &mut watch {
                watch.follow();
            }
            number += 1;
            let span =
                tracing::info_span!("reconcile", instance = %global.instance, backend = "swarm", reconcile = number);
            let loaded = tokio::task::block_in_place(|| {
                let _enter = span.enter();
                load(source, policy, global, true)
            });
            let mut loaded = match loaded {
                Ok((loaded, _)) => loaded,
                Err(e) => {
                    tracing::warn!(parent: &span, error = %format!("{e:#}"), "loading the manifests");
                    continue;
                }
            };
            let desired = admit_api(&engine, &mut loaded, &global.instance);
            for (name, problems) in &desired.refused {
                for problem in problems {
                    tracing::warn!(parent: &span, service = %name, "refused, left as it runs: {problem}");
                }
            }
            match pass(&engine, &desired, &global.instance, None).instrument_in(span.clone()).await {
                Ok((plan, report)) if !plan.is_empty() => {
                    tracing::info!(parent: &span, failed = report.failed(), "{}", crate::swarm::apply::report_text(&report).trim_end());
                }
                Ok(_) => tracing::debug!(parent: &span, "in sync"),
                Err(e) => tracing::warn!(parent: &span, error = %format!("{e:#}"), "pass failed"),
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// What `moor down --backend swarm` removed.
#[derive(Debug, Default, Serialize)]
struct DownReport {
    instance: String,
    services: Vec<String>,
    secrets: Vec<String>,
    configs: Vec<String>,
    networks: Vec<String>,
    errors: Vec<String>,
}

/// `moor down --backend swarm`: every service, secret, config and network of this instance
/// (labelled `moor.instance` and `moor.backend=swarm`), after consent.
pub fn down(yes: bool, global: &Global) -> anyhow::Result<ExitCode> {
    use crate::engine::EngineError;
    use crate::swarm::spec::DataKind;
    block_on(async {
        let engine = connect(global).await?;
        let observed = observe(&engine, &global.instance).await.context("observing the swarm")?;
        let count = observed.services.len() + observed.secrets.len() + observed.configs.len() + observed.networks.len();
        if count == 0 {
            eprintln!("nothing of instance {:?} on the swarm", global.instance);
            return Ok(ExitCode::SUCCESS);
        }
        let question = format!(
            "remove {} service(s), {} secret(s), {} config(s) and {} network(s) of instance {:?} from the swarm?",
            observed.services.len(),
            observed.secrets.len(),
            observed.configs.len(),
            observed.networks.len(),
            global.instance
        );
        if !super::down::consent(yes, &question)? {
            return Ok(ExitCode::from(ERROR));
        }
        let mut report = DownReport { instance: global.instance.clone(), ..DownReport::default() };
        for service in &observed.services {
            match engine.remove_service(&service.id).await {
                Ok(()) => report.services.push(service.spec.name.clone()),
                Err(e) => report.errors.push(format!("service {}: {e}", service.spec.name)),
            }
        }
        // What the services named is released once their tasks are gone.
        let deadline = tokio::time::Instant::now() + RELEASE_TIMEOUT;
        let objects =
            [(DataKind::Secret, &observed.secrets, "secret"), (DataKind::Config, &observed.configs, "config")];
        for (kind, list, what) in objects {
            for object in list {
                loop {
                    match engine.remove_data(kind, &object.id).await {
                        Ok(()) => {
                            match kind {
                                DataKind::Secret => report.secrets.push(object.name.clone()),
                                DataKind::Config => report.configs.push(object.name.clone()),
                            }
                            break;
                        }
                        Err(EngineError::InUse(_)) if tokio::time::Instant::now() < deadline => {
                            tokio::time::sleep(POLL).await;
                        }
                        Err(e) => {
                            report.errors.push(format!("{what} {}: {e}", object.name));
                            break;
                        }
                    }
                }
            }
        }
        for network in &observed.networks {
            loop {
                match engine.remove_network(&network.id).await {
                    Ok(()) => {
                        report.networks.push(network.name.clone());
                        break;
                    }
                    Err(EngineError::InUse(_)) if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(POLL).await;
                    }
                    Err(e) => {
                        report.errors.push(format!("network {}: {e}", network.name));
                        break;
                    }
                }
            }
        }
        render::print_data(global.output, &report, || {
            let mut text = format!(
                "removed {} service(s), {} secret(s), {} config(s), {} network(s)\n",
                report.services.len(),
                report.secrets.len(),
                report.configs.len(),
                report.networks.len()
            );
            report.errors.iter().for_each(|e| text.push_str(&format!("failed: {e}\n")));
            text
        })?;
        Ok(ExitCode::from(if report.errors.is_empty() { IN_SYNC } else { ERROR }))
    })
}
