//! Where `plan`, `apply`, `status` and `run` take their manifests from: a folder, or with `--git`
//! a remote's revision; and `--allow-empty`, the one switch of the prune guard for both.
//!
//! Invariants: a manifest folder that does not exist is an error before Docker is asked anything
//! (never "in sync", never a prune); problems and the prune guard go to stderr, with the data on
//! stdout saying the same.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::git::{sync_once, GitArgs};
use super::secrets::{prepare, resolver, KeyUse};
use super::{default_dir, Global};
use crate::git::sync::GitSettings;
use crate::manifest::{guard_empty, load_paths, Loaded};
use crate::policy::Policy;

/// The manifests' source, as `plan`, `apply` and `run` take it.
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    /// Manifest folder (default ./manifests).
    #[arg(conflicts_with = "url")]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub git: GitArgs,
    /// Let a folder or revision without any Service manifest remove every service. Without it,
    /// such a source prunes nothing: an emptied or moved folder must not read as "delete all".
    #[arg(long)]
    pub allow_empty: bool,
}

impl SourceArgs {
    /// The manifest folder: the argument, or `./manifests`.
    pub fn dir(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(default_dir)
    }

    /// Loads what to plan or apply: the folder, or with `--git` the remote's commit, admitted
    /// through `policy` and resolved (secrets read and sealed). `plan --git`
    /// (`write_state == false`) clones into a throwaway folder (it runs as any user and writes
    /// nothing of the host's) but presents the manifests under the host's `<state-dir>/current`,
    /// so that it plans what `run --git` would do; `apply --git` syncs the host's state dir
    /// itself, as `run --git` does. Only `apply` makes the state dir's digest key.
    pub fn load(&self, global: &Global, write_state: bool, policy: &Policy) -> anyhow::Result<Loaded> {
        let key = if write_state { KeyUse::Create } else { KeyUse::Read };
        let state_dir = self.git.state_dir(&global.instance);
        let Some(url) = &self.git.url else {
            let dir = self.dir();
            let loaded = load_folder(&dir, self.allow_empty)?;
            let root = std::path::absolute(&dir).unwrap_or(dir);
            return Ok(prepare(loaded, policy, &resolver(root.clone(), root, policy, &state_dir, key)));
        };
        let shown = state_dir.join("current");
        let (settings, scratch) = if write_state {
            (self.git.settings(url, state_dir.clone(), shown.clone(), self.allow_empty)?, None)
        } else {
            let scratch =
                tempfile::Builder::new().prefix("moor-plan-").tempdir().context("creating a temporary folder")?;
            (self.git.settings(url, scratch.path().to_path_buf(), shown.clone(), self.allow_empty)?, Some(scratch))
        };
        let settings = GitSettings { read_paths: policy.read_paths.clone(), ..settings };
        let what = settings.describe();
        let (_revision, mut loaded) = sync_once(settings)?;
        // The sync refuses an empty revision without --allow-empty; a `current` that an earlier
        // --allow-empty run made empty is still held back without the flag.
        guard_empty(&mut loaded, &what, self.allow_empty);
        report(&loaded);
        // Secret and config files are read from the revision just synced: the throwaway clone's
        // `current` for `plan --git`, which is gone once this returns.
        let source = scratch.as_ref().map_or_else(|| shown.clone(), |s| s.path().join("current"));
        Ok(prepare(loaded, policy, &resolver(source, shown, policy, &state_dir, key)))
    }
}

/// Loads the manifest folder `dir` and prints its problems, and the prune guard, on stderr. The
/// valid services still converge; prune is suspended (the plan says so). A folder that does not
/// exist is an error: nothing can be said about it, not even that it is in sync.
pub fn load_folder(dir: &Path, allow_empty: bool) -> anyhow::Result<Loaded> {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            anyhow::bail!("manifest folder {}: no such file or folder", dir.display())
        }
        // Any other reason it cannot be read is a located load problem, reported below.
        _ => {}
    }
    let mut loaded = load_paths(&[dir.to_path_buf()]);
    guard_empty(&mut loaded, &dir.display().to_string(), allow_empty);
    report(&loaded);
    Ok(loaded)
}

fn report(loaded: &Loaded) {
    for p in &loaded.problems {
        eprintln!("{p}");
    }
    if let Some(guard) = &loaded.desired.prune_guard {
        eprintln!("{guard}");
    }
}
