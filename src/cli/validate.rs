//! `moor validate`: every problem of every file, as `file:line:col: message` or JSON, the host
//! policy's refusals among them (the same policy `apply` and `run` use, so CI and hosts agree).
//!
//! A folder is validated as a source: one without any Service manifest fails (exit 1) unless
//! `--allow-empty`, since `apply` and `run` would hold prune back on it. Files named one by one
//! (a pre-commit hook's staged files) are only checked for what they hold.
//!
//! Secrets, env files and configs are checked as far as this machine can: they exist and may be
//! read; SOPS files decrypt with the age key of sops' environment variables when there is one,
//! and otherwise are checked by the keys sops leaves in clear (a warning says so), so CI without
//! the key still catches a misspelt key.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{default_dir, Output};
use crate::manifest::{guard_empty, load_paths, Problem};
use crate::policy::{refusals, Policy};
use crate::secrets::host_key::HostKey;
use crate::secrets::read::Roots;
use crate::secrets::resolve::{resolve, IdentitySource, KeySource, Mode, Resolver};

/// A resolver that checks what can be checked here: files exist and may be read, SOPS files
/// decrypt with this machine's age key, or without one have the keys referenced. Nothing is
/// sealed or written. Each folder (or a file's folder) named counts as manifest source.
fn checker(paths: &[PathBuf], policy: &Policy) -> Resolver {
    let folders: Vec<PathBuf> = paths
        .iter()
        .map(|p| if p.is_dir() { p.clone() } else { p.parent().map(Path::to_path_buf).unwrap_or_default() })
        .map(|p| std::path::absolute(&p).unwrap_or(p))
        .collect();
    let source = folders.first().cloned().unwrap_or_default();
    let mut allowed = folders[1.min(folders.len())..].to_vec();
    allowed.extend(policy.read_paths.iter().cloned());
    Resolver {
        roots: Roots { shown: source.clone(), source, allowed, denied: Vec::new() },
        identities: IdentitySource::Env,
        key: KeySource::Fixed(std::sync::Arc::new(HostKey::from_bytes([0; 32]))),
        mode: Mode::Check,
    }
}

/// `swarm`: the instance, with `--backend swarm`: what Swarm cannot express is a problem too.
pub fn run(
    paths: &[PathBuf],
    allow_empty: bool,
    policy: &Policy,
    output: Output,
    swarm: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let paths = if paths.is_empty() { vec![default_dir()] } else { paths.to_vec() };
    let mut loaded = load_paths(&paths);
    resolve(&mut loaded, &checker(&paths, policy));
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let folders: Vec<&PathBuf> = paths.iter().filter(|p| p.is_dir()).collect();
    if !folders.is_empty() {
        guard_empty(&mut loaded, "", allow_empty);
        if loaded.desired.prune_guard.is_some() {
            for folder in folders {
                loaded.problems.push(Problem {
                    file: folder.to_path_buf(),
                    line: None,
                    column: None,
                    field: String::new(),
                    message: "no Service manifest in this folder: apply and run would suspend prune (pass --allow-empty to let it remove every service)".into(),
                });
            }
        }
    }
    loaded.problems.extend(refusals(policy, &loaded.desired).into_values().flatten());
    if let Some(instance) = swarm {
        loaded.problems.extend(crate::swarm::validate::validate(&loaded.desired, instance));
    }
    loaded.problems.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&loaded.problems)?),
        Output::Yaml => print!("{}", serde_yaml::to_string(&loaded.problems)?),
        Output::Text => {
            for p in &loaded.problems {
                println!("{p}");
            }
            if loaded.problems.is_empty() {
                let d = &loaded.desired;
                eprintln!(
                    "{} file(s) valid: {} service(s), {} network(s), {} volume(s)",
                    loaded.files.len(),
                    d.services.len(),
                    d.networks.len(),
                    d.volumes.len()
                );
            } else {
                eprintln!("{} problem(s) in {} file(s)", loaded.problems.len(), loaded.files.len());
            }
        }
    }
    Ok(if loaded.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
