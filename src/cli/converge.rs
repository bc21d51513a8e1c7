//! `moor plan`, `moor apply` and `moor status`: load, observe, plan (and apply), report.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use super::node_args::NodeArgs;
use super::render::{self, progress, SourceStatusView};
use super::source::{load_folder, SourceArgs};
use super::{default_dir, Global};
use crate::apply::ApplyOptions;
use crate::controller::status::timestamp;
use crate::controller::updates::UpdateStatus;
use crate::engine::DockerEngine;
use crate::engine::Engine;
use crate::http_client::HttpClient;
use crate::manifest::model::Watch;
use crate::manifest::Desired;
use crate::node::Node;
use crate::observe::Observed;
use crate::plan::plan as make_plan;
use crate::policy::Policy;
use crate::reconcile::{observe, reconcile_once};
use crate::secrets::store::FileStore;

/// Exit codes shared by the commands that compare desired and observed state.
const IN_SYNC: u8 = 0;
const ERROR: u8 = 1;
const PENDING: u8 = 2;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("starting tokio")
}

/// Runs `work` on a fresh runtime, which is then left without waiting for its blocking tasks:
/// a credential helper that hangs past its deadline (`engine::auth`) must not keep the command
/// from exiting once its work is done.
pub(super) fn block_on<T>(work: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let runtime = runtime()?;
    let out = runtime.block_on(work);
    runtime.shutdown_background();
    out
}

/// What `apply -o json` prints: the report, and the services the host policy refused.
#[derive(Serialize)]
struct ApplyOutput<'a> {
    #[serde(flatten)]
    report: &'a crate::apply::ApplyReport,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    refused: &'a BTreeMap<String, Vec<crate::manifest::Problem>>,
}

async fn connect(global: &Global) -> anyhow::Result<DockerEngine> {
    global.docker().await.context("connecting to Docker")
}

/// Refuses the services whose fields need a newer API than `engine` negotiated, as the policy
/// refuses (see `engine::api_version`).
fn admit_api(engine: &DockerEngine, loaded: &mut crate::manifest::Loaded) {
    loaded.desired = crate::engine::api_version::admit(engine.api_version(), std::mem::take(&mut loaded.desired));
}

/// Colour only on a terminal; `-v` lists the fields of each container to create.
fn style(global: &Global) -> render::Style {
    render::Style { colour: render::colour_for_stdout(), verbose: global.verbose > 0 }
}

/// Narrows `loaded` to what is placed on the node (`spec.placement`), as its agent would; the
/// node is resolved against `engine` (`NodeArgs::resolve`: a daemon on another host is its
/// own node by default).
async fn place(
    loaded: &mut crate::manifest::Loaded,
    node: &NodeArgs,
    engine: &DockerEngine,
    global: &Global,
    allow_empty: bool,
) -> anyhow::Result<()> {
    let endpoint = global.endpoint().map(|e| e.host).unwrap_or_default();
    let node: Node = node.resolve(engine, &endpoint).await?;
    let told = loaded.problems.len();
    crate::manifest::placement::place(loaded, &node, allow_empty);
    // Those of placement (a join of a service placed elsewhere), as the load's were told.
    for p in &loaded.problems[told..] {
        eprintln!("{p}");
    }
    Ok(())
}

/// True when the load leaves nothing to be done about the manifests: no problem, and no prune
/// guard that holds against what runs (the plan's).
fn is_clean_for(loaded: &crate::manifest::Loaded, plan: &crate::plan::Plan) -> bool {
    loaded.problems.is_empty() && plan.prune_guard.is_none()
}

/// The node's guard, on stderr (the empty-source guard was already told by the load).
fn report_node_guard(plan: &crate::plan::Plan) {
    if let Some(guard @ crate::manifest::PruneGuard::NothingPlaced { .. }) = &plan.prune_guard {
        eprintln!("{guard}");
    }
}

pub fn plan(source: &SourceArgs, policy: &Policy, node: &NodeArgs, global: &Global) -> anyhow::Result<ExitCode> {
    node.check()?;
    let mut loaded = source.load(global, false, policy)?;
    block_on(async {
        let engine = connect(global).await?;
        place(&mut loaded, node, &engine, global, source.allow_empty).await?;
        admit_api(&engine, &mut loaded);
        let mut observed = observe(&engine, &global.instance, &loaded.desired).await.context("observing Docker")?;
        observed.jobs = crate::jobs::load(&source.git.state_dir(&global.instance), &global.instance, &loaded.desired);
        let plan = make_plan(&loaded.desired, &observed);
        report_node_guard(&plan);
        render::print_data(global.output, &plan, || render::plan_text(&plan, &loaded.desired, style(global)))?;
        Ok(ExitCode::from(match (is_clean_for(&loaded, &plan) && plan.refused.is_empty(), plan.is_empty()) {
            (false, _) => ERROR,
            (true, true) => IN_SYNC,
            (true, false) => PENDING,
        }))
    })
}

pub fn apply(
    source: &SourceArgs,
    policy: &Policy,
    node: &NodeArgs,
    concurrency: usize,
    global: &Global,
) -> anyhow::Result<ExitCode> {
    node.check()?;
    let mut loaded = source.load(global, true, policy)?;
    let mut options = ApplyOptions::new(global.instance.clone(), concurrency);
    options.store = Some(std::sync::Arc::new(FileStore::new(source.git.state_dir(&global.instance))));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    options.progress = Some(tx);
    block_on(async {
        let engine = connect(global).await?;
        place(&mut loaded, node, &engine, global, source.allow_empty).await?;
        admit_api(&engine, &mut loaded);
        let started = Instant::now();
        let drawer = tokio::spawn(progress::draw(rx, progress::Mode::for_stderr()));
        let span = tracing::info_span!("reconcile", instance = %global.instance, reconcile = 1);
        let pass = {
            let _enter = span.enter();
            let pass = reconcile_once(&engine, &loaded.desired, &options).await;
            // Dropping the last sender ends the drawing once every step is shown.
            drop(options);
            let _ = drawer.await;
            pass.context("observing Docker")?
        };
        report_node_guard(&pass.plan);
        eprintln!("applied in {}", progress::seconds(started.elapsed()));
        let output = ApplyOutput { report: &pass.report, refused: &pass.plan.refused };
        render::print_data(global.output, &output, || {
            render::apply_text(&pass.plan, &pass.report, &loaded.desired, style(global))
        })?;
        let ok = pass.report.is_success() && is_clean_for(&loaded, &pass.plan) && pass.plan.refused.is_empty();
        Ok(ExitCode::from(if ok { IN_SYNC } else { ERROR }))
    })
}

/// What `moor status` (without `--fleet`) was asked.
pub struct StatusArgs {
    pub dir: Option<PathBuf>,
    pub controller: Option<String>,
    pub token_file: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub node: NodeArgs,
}

pub fn status(args: StatusArgs, policy: &Policy, global: &Global) -> anyhow::Result<ExitCode> {
    let StatusArgs { dir, controller, token_file, state_dir, node } = args;
    node.check()?;
    let token = match &token_file {
        Some(file) => {
            let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            Some(text.trim().to_string())
        }
        None => None,
    };
    let dir = dir.unwrap_or_else(default_dir);
    let root = std::path::absolute(&dir).unwrap_or_else(|_| dir.clone());
    let state_dir = state_dir.unwrap_or_else(|| std::path::Path::new("/var/lib/moor").join(&global.instance));
    let resolver = super::secrets::resolver(root.clone(), root, policy, &state_dir, super::secrets::KeyUse::Read);
    let mut loaded = super::secrets::prepare(load_folder(&dir, false)?, policy, &resolver);
    block_on(async {
        let engine = connect(global).await?;
        place(&mut loaded, &node, &engine, global, false).await?;
        admit_api(&engine, &mut loaded);
        let mut observed = observe(&engine, &global.instance, &loaded.desired).await.context("observing Docker")?;
        observed.jobs = crate::jobs::load(&state_dir, &global.instance, &loaded.desired);
        let plan = make_plan(&loaded.desired, &observed);
        let mut rows = render::status_rows(&loaded.desired, &observed, &plan);
        let source = match controller {
            Some(url) => from_controller(&url, token.as_deref(), &mut rows).await?,
            None => {
                live_update_checks(&engine, &loaded.desired, &observed, &mut rows).await;
                None
            }
        };
        // The source is shown above the table; `-o json` keeps its list of rows (the whole
        // source status is the controller's `/status`).
        render::print_data(global.output, &rows, || {
            source.as_ref().map(render::source_text).unwrap_or_default() + &render::status_table(&rows)
        })?;
        report_node_guard(&plan);
        let in_sync = rows.iter().all(|r| r.in_sync);
        Ok(ExitCode::from(match (is_clean_for(&loaded, &plan) && plan.refused.is_empty(), in_sync) {
            (false, _) => ERROR,
            (true, true) => IN_SYNC,
            (true, false) => PENDING,
        }))
    })
}

/// Fills last errors and update results from a running controller's `/status`; a service it
/// reports failing is not in sync. Returns the controller's git source, when it has one.
async fn from_controller(
    url: &str,
    token: Option<&str>,
    rows: &mut [render::StatusRow],
) -> anyhow::Result<Option<SourceStatusView>> {
    let url = format!("{}/status", url.trim_end_matches('/'));
    let client = HttpClient::new()?;
    let (code, body) = client.get_with_token(&url, token, Duration::from_secs(5)).await?;
    let shown = crate::http_client::redact_url(&url);
    anyhow::ensure!(code != 401, "{shown} answered 401: give the listener's token with --token-file");
    anyhow::ensure!(code == 200, "{shown} answered {code}");
    let doc: serde_json::Value = serde_json::from_str(&body).with_context(|| format!("reading {shown}"))?;
    for row in rows.iter_mut() {
        let service = &doc["services"][&row.service];
        if let Some(error) = service["lastError"].as_str() {
            row.last_error = Some(error.to_string());
            // The controller knows what one look cannot: a failure it holds (say a replacement
            // kept by `update.rollback: false`) is not in sync, whatever the plan says.
            row.in_sync = false;
        }
        if let Ok(update) = serde_json::from_value::<UpdateStatus>(service["update"].clone()) {
            row.update = Some(update);
        }
    }
    Ok(serde_json::from_value(doc["source"].clone()).ok())
}

/// For each `update.watch: digest` service: the running digest and the registry's, checked now.
/// The last update result is known only to a controller (`--controller`).
async fn live_update_checks(
    engine: &DockerEngine,
    desired: &Desired,
    observed: &Observed,
    rows: &mut [render::StatusRow],
) {
    let by_service = observed.by_service();
    for row in rows.iter_mut() {
        let Some(service) = desired.services.get(&row.service).filter(|s| s.update.watch == Watch::Digest) else {
            continue;
        };
        let running = by_service.get(row.service.as_str()).and_then(|c| c.first()).map(|c| c.image_id.clone());
        let running_digest = match running {
            Some(id) => engine.image(&id).await.ok().flatten().and_then(|i| i.digest().map(str::to_string)),
            None => None,
        };
        let (registry_digest, last_result) = match engine.registry_digest(&service.container.image).await {
            Ok(d) => (Some(d), None),
            Err(e) => (None, Some(format!("registry check failed: {e}"))),
        };
        row.update = Some(UpdateStatus {
            running_digest,
            registry_digest,
            last_check: Some(timestamp(Duration::ZERO)),
            last_result,
        });
    }
}
