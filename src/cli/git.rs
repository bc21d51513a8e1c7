//! The `--git` flags of `moor run`, `moor plan` and `moor apply`, and the one-shot sync of
//! `plan --git` and `apply --git`.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

use crate::git::sync::{GitSettings, SyncOutcome, Syncer};
use crate::git::{AllowedSigners, Remote, Revision, Token};
use crate::manifest::Loaded;

/// Where the manifests come from when they come from git. Each flag but the token file (which
/// may come from the environment) names `dir` as a conflict as well as `url` as a requirement:
/// clap counts a requirement as met when it conflicts with an argument given (`dir` conflicts
/// with `url`), so `--verify-commits F DIR` would otherwise run DIR with the flag ignored.
#[derive(Debug, Clone, clap::Args)]
pub struct GitArgs {
    /// Take the manifests from this git repository instead of a folder: https://, ssh://,
    /// git@host:org/repo or file://.
    #[arg(long = "git", value_name = "URL")]
    pub url: Option<String>,
    /// Branch, tag or full commit SHA (default: the remote's HEAD).
    #[arg(long = "ref", value_name = "REF", requires = "url", conflicts_with = "dir")]
    pub reference: Option<String>,
    /// The manifest folder inside the repository (default: its root).
    #[arg(long, value_name = "SUBDIR", requires = "url", conflicts_with = "dir")]
    pub path: Option<PathBuf>,
    /// Where moor keeps its state (default /var/lib/moor/INSTANCE): the git source's revision
    /// snapshots, the key that seals secret digests, and the secret and config files of
    /// containers.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// An SSH allowed_signers file: only commits signed by one of its keys are applied.
    #[arg(long, value_name = "FILE", requires = "url", conflicts_with = "dir")]
    pub verify_commits: Option<PathBuf>,
    /// A file holding an https token (sent as the password of HTTP basic auth).
    #[arg(long, value_name = "FILE", env = "MOOR_GIT_TOKEN_FILE")]
    pub git_token_file: Option<PathBuf>,
    /// The SSH private key for ssh:// and git@host: URLs (default: ssh's own config and agent).
    #[arg(long, value_name = "FILE", requires = "url", conflicts_with = "dir")]
    pub git_ssh_key: Option<PathBuf>,
}

impl GitArgs {
    /// The state dir: the flag, or `/var/lib/moor/<instance>`.
    pub fn state_dir(&self, instance: &str) -> PathBuf {
        self.state_dir.clone().unwrap_or_else(|| Path::new("/var/lib/moor").join(instance))
    }

    /// The settings of a source syncing into `state_dir` whose manifests are shown under
    /// `shown`; `allow_empty` (the shared `--allow-empty`) lets a revision without a Service run.
    /// Reads the token and the allowed signers now: a bad file is an error at start.
    pub fn settings(
        &self,
        url: &str,
        state_dir: PathBuf,
        shown: PathBuf,
        allow_empty: bool,
    ) -> anyhow::Result<GitSettings> {
        if let Some(path) = &self.path {
            // A folder inside the repository: `/x` or `../x` names none, and would be refused at
            // every revision (or, normalized to `x`, taken for a snapshot of `--path x`).
            let inside = path.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
            anyhow::ensure!(inside, "--path {}: not a folder inside the repository", path.display());
        }
        let token = match &self.git_token_file {
            Some(file) => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading the git token file {}", file.display()))?;
                let token = text.trim().to_string();
                anyhow::ensure!(!token.is_empty(), "the git token file {} is empty", file.display());
                Some(Token::new(token))
            }
            None => None,
        };
        let signers = match &self.verify_commits {
            Some(file) => Some(Arc::new(AllowedSigners::load(file)?)),
            None => None,
        };
        Ok(GitSettings {
            remote: Remote {
                url: url.to_string(),
                reference: self.reference.clone(),
                token,
                ssh_key: self.git_ssh_key.clone(),
            },
            path: self.path.clone().unwrap_or_default(),
            state_dir,
            shown,
            signers,
            allow_empty,
            // The caller sets the host policy's.
            read_paths: Vec::new(),
        })
    }
}

/// Syncs once for `plan --git` or `apply --git` and loads the revision to use: the new one, or
/// the current one when the remote has not moved. A refusal or a failure is an error: a one-shot
/// never acts on anything but the commit it was asked about.
pub fn sync_once(settings: GitSettings) -> anyhow::Result<(Revision, Loaded)> {
    let mut syncer = Syncer::new(settings);
    let what = syncer.settings().describe();
    match syncer.sync() {
        SyncOutcome::Unchanged(_) | SyncOutcome::Applied { .. } => {}
        SyncOutcome::Refused { revision, refusal, .. } => {
            anyhow::bail!("{what}: revision {} refused: {refusal}", revision.id())
        }
        SyncOutcome::Failed(e) => return Err(e).with_context(|| format!("fetching {what}")),
    }
    let (revision, loaded) =
        syncer.load_current().with_context(|| format!("{what}: no current revision after a sync"))?;
    eprintln!("{}: {} {}", what, revision.id(), revision.subject);
    Ok((revision, loaded))
}
