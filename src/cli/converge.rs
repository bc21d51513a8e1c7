//! `moor plan`, `moor apply` and `moor status`: load, observe, plan (and apply), report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::{default_dir, render, Global, Output};
use crate::apply::ApplyOptions;
use crate::engine::DockerEngine;
use crate::manifest::{load_paths, Loaded};
use crate::plan::plan as make_plan;
use crate::reconcile::{observe, reconcile_once};

/// Exit codes shared by the commands that compare desired and observed state.
const IN_SYNC: u8 = 0;
const ERROR: u8 = 1;
const PENDING: u8 = 2;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("starting tokio")
}

/// Loads the manifest folder and prints its problems on stderr. The valid services still
/// converge; prune is suspended (the plan says so).
fn load(dir: Option<PathBuf>) -> Loaded {
    let loaded = load_paths(&[dir.unwrap_or_else(default_dir)]);
    for p in &loaded.problems {
        eprintln!("{p}");
    }
    loaded
}

async fn connect(global: &Global) -> anyhow::Result<DockerEngine> {
    DockerEngine::connect(global.host.as_deref()).await.context("connecting to Docker")
}

pub fn plan(dir: Option<PathBuf>, global: &Global) -> anyhow::Result<ExitCode> {
    let loaded = load(dir);
    runtime()?.block_on(async {
        let engine = connect(global).await?;
        let observed = observe(&engine, &global.instance, &loaded.desired).await.context("observing Docker")?;
        let plan = make_plan(&loaded.desired, &observed);
        match global.output {
            Output::Json => println!("{}", serde_json::to_string_pretty(&plan)?),
            Output::Text => print!("{}", render::plan_text(&plan)),
        }
        Ok(ExitCode::from(match (loaded.problems.is_empty(), plan.is_empty()) {
            (false, _) => ERROR,
            (true, true) => IN_SYNC,
            (true, false) => PENDING,
        }))
    })
}

pub fn apply(dir: Option<PathBuf>, concurrency: usize, global: &Global) -> anyhow::Result<ExitCode> {
    let loaded = load(dir);
    let options = ApplyOptions { instance: global.instance.clone(), concurrency };
    runtime()?.block_on(async {
        let engine = connect(global).await?;
        let span = tracing::info_span!("reconcile", instance = %global.instance, reconcile = 1);
        let pass = {
            let _enter = span.enter();
            reconcile_once(&engine, &loaded.desired, &options).await.context("observing Docker")?
        };
        match global.output {
            Output::Json => println!("{}", serde_json::to_string_pretty(&pass.report)?),
            Output::Text => print!("{}", render::apply_text(&pass.plan, &pass.report)),
        }
        let ok = pass.report.is_success() && loaded.problems.is_empty();
        Ok(ExitCode::from(if ok { IN_SYNC } else { ERROR }))
    })
}

pub fn status(dir: Option<PathBuf>, global: &Global) -> anyhow::Result<ExitCode> {
    let loaded = load(dir);
    runtime()?.block_on(async {
        let engine = connect(global).await?;
        let observed = observe(&engine, &global.instance, &loaded.desired).await.context("observing Docker")?;
        let plan = make_plan(&loaded.desired, &observed);
        let rows = render::status_rows(&loaded.desired, &observed, &plan);
        match global.output {
            Output::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
            Output::Text => print!("{}", render::status_table(&rows)),
        }
        let in_sync = rows.iter().all(|r| r.in_sync);
        Ok(ExitCode::from(match (loaded.problems.is_empty(), in_sync) {
            (false, _) => ERROR,
            (true, true) => IN_SYNC,
            (true, false) => PENDING,
        }))
    })
}
