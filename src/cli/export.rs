//! `moor export kubernetes DIR`: the manifests as Kubernetes objects (the library's `export`
//! module does the work), written as `moor import` writes its own: all or nothing.
//!
//! Exit codes: 0 everything translated, 2 something has no Kubernetes counterpart (listed on
//! stderr, one line per field), 1 an error (nothing written). The manifests are loaded as
//! `moor validate` loads them and never resolved: no Secret, env file or config is read.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::export::to_kubernetes;
use crate::import::output;

#[derive(Debug, clap::Subcommand)]
pub enum ExportTarget {
    /// Deployments (Jobs for mode: job), ClusterIP Services, PersistentVolumeClaims; Secrets
    /// and ConfigMaps as references only (never a value), with how to create them.
    Kubernetes(KubernetesArgs),
}

#[derive(Debug, clap::Args)]
pub struct KubernetesArgs {
    /// Folder for the Kubernetes YAML files, one per object (created if missing).
    #[arg(value_name = "DIR")]
    pub out: PathBuf,
    /// Manifest folder (default ./manifests).
    #[arg(long, value_name = "DIR")]
    pub source: Option<PathBuf>,
    /// Replace existing files whose content differs.
    #[arg(long)]
    pub force: bool,
}

pub fn run(target: ExportTarget) -> anyhow::Result<ExitCode> {
    let ExportTarget::Kubernetes(args) = target;
    let dir = args.source.unwrap_or_else(super::default_dir);
    // Problems are printed by the load; an empty folder has nothing to export but is no error.
    let loaded = super::source::load_folder(&dir, true)?;
    if !loaded.problems.is_empty() {
        return Err(crate::export::ExportError::Invalid(loaded.problems.len()).into());
    }
    let exported = to_kubernetes(&loaded.desired)?;
    let written = output::write(&exported.files, &args.out, args.force)?;
    for path in &written {
        println!("{}", path.display());
    }
    for note in &exported.report.advice {
        eprintln!("note: {note}");
    }
    for note in &exported.report.left_out {
        eprintln!("not translated: {note}");
    }
    Ok(if exported.report.complete() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}
