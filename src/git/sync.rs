//! One sync of a git source: ask the remote for the ref's commit, fetch it, verify its
//! signature, write its snapshot, validate every manifest, and only then point `current` at it.
//!
//! Invariants:
//! - `current` only ever points at a revision that was fetched whole, verified (with
//!   `--verify-commits`) and loaded without a single problem. Anything else is a [`Refusal`] or a
//!   failure, and leaves `current`, and so what runs, as it was.
//! - A revision with no Service manifest is refused unless `allow_empty`: a moved `--path` must
//!   not read as "delete everything" (Argo CD's `allowEmpty` guard).
//! - When the remote's commit is the current revision, nothing is fetched: an idle poll is one
//!   ref listing. A refused commit is remembered, so asking again about the same SHA fetches
//!   nothing either (a commit's content never changes). With `--verify-commits`, the current
//!   revision is verified once per process all the same (from the local repository): the allowed
//!   signers may have changed since it was applied.
//! - Blocking: gix's network client is blocking; the controller runs [`Syncer::sync`] on a
//!   blocking thread.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{verify, AllowedSigners, Fetcher, GitError, Remote, Revision, StateDir, KEEP_SNAPSHOTS};
use crate::controller::status::timestamp;
use crate::manifest::{load_dir_as, Loaded};
use crate::secrets::host_key::HostKey;
use crate::secrets::read::Roots;
use crate::secrets::resolve::{resolve, IdentitySource, KeySource, Mode, Resolver};

/// What a git source is asked to follow.
#[derive(Clone)]
pub struct GitSettings {
    pub remote: Remote,
    /// The manifest folder inside the repository ("" for its root).
    pub path: PathBuf,
    /// Where the clone and the snapshots live.
    pub state_dir: PathBuf,
    /// The folder the manifests are presented under, so relative bind paths resolve through it:
    /// `<state_dir>/current` for `moor run` and `moor apply`; the host's one for `moor plan --git`,
    /// which clones into a throwaway folder but must plan what the host would run.
    pub shown: PathBuf,
    /// With `--verify-commits`: only commits signed by one of these keys are applied.
    pub signers: Option<Arc<AllowedSigners>>,
    pub allow_empty: bool,
    /// The host policy's `readPaths`: a revision's Secrets, env files and configs are checked
    /// (read, decrypted with the host's age key, keys looked up) before it becomes `current`.
    pub read_paths: Vec<PathBuf>,
}

impl GitSettings {
    /// `url@ref` and the path, for logs and `/status` (no credentials).
    pub fn describe(&self) -> String {
        let path = self.path.display().to_string();
        let path = if path.is_empty() || path == "." { String::new() } else { format!(" path {path}") };
        format!("{}@{}{path}", self.remote.display_url(), self.remote.display_ref())
    }
}

/// Why a fetched commit may not run. The text is shown in `/status` and sent to the webhook.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("signature refused: {0}")]
    Signature(String),
    #[error("{path} is not a folder of this commit")]
    NoPath { path: String },
    #[error("{} manifest problem(s): {}", .0.len(), .0.join("; "))]
    Invalid(Vec<String>),
    #[error("no Service manifest in this revision: refused, since applying it would remove every service (moor run --allow-empty permits it)")]
    Empty,
}

impl Refusal {
    /// The `reason` of the webhook note and of logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::Signature(_) => "signature",
            Refusal::NoPath { .. } => "no_path",
            Refusal::Invalid(_) => "invalid",
            Refusal::Empty => "empty",
        }
    }
}

/// The outcome of one [`Syncer::sync`].
#[derive(Debug)]
pub enum SyncOutcome {
    /// The remote's commit is the current revision: nothing was fetched.
    Unchanged(Revision),
    /// A new revision became `current`.
    Applied { revision: Revision, services: usize },
    /// The commit may not run; `current` is unchanged. `again`: the same commit was refused
    /// before (nothing was fetched this time).
    Refused { revision: Revision, refusal: Refusal, again: bool },
    /// The remote could not be asked or fetched, or the state dir not written; `current` is
    /// unchanged.
    Failed(GitError),
}

impl SyncOutcome {
    /// The `result` label of `moor_source_fetches_total`.
    pub fn result(&self) -> &'static str {
        match self {
            SyncOutcome::Unchanged(_) => "unchanged",
            SyncOutcome::Applied { .. } => "applied",
            SyncOutcome::Refused { .. } => "refused",
            SyncOutcome::Failed(_) => "failed",
        }
    }
}

/// Follows one remote ref into a state dir. Owned by one task at a time.
pub struct Syncer {
    settings: GitSettings,
    state: StateDir,
    /// Opened by each sync, so that an unwritable state dir is a failure that is retried, not a
    /// refusal to start, and a repository that went away (removed by hand, or a start afresh cut
    /// short) is created again instead of failing every sync until a restart.
    fetcher: Option<Fetcher>,
    refused: Option<(Revision, Refusal)>,
    /// The last commit whose signature this process verified (with `--verify-commits`).
    verified: Option<String>,
}

impl Syncer {
    pub fn new(settings: GitSettings) -> Syncer {
        let state = StateDir::new(settings.state_dir.clone());
        Syncer { settings, state, fetcher: None, refused: None, verified: None }
    }

    pub fn settings(&self) -> &GitSettings {
        &self.settings
    }

    pub fn state(&self) -> &StateDir {
        &self.state
    }

    /// One look at the remote, and what came of it.
    pub fn sync(&mut self) -> SyncOutcome {
        // Another process may sync this state dir too (`moor apply --git` beside `moor run --git`).
        let _lock = match self.state.lock() {
            Ok(lock) => lock,
            Err(e) => return SyncOutcome::Failed(e),
        };
        // Cheap: every call of a Fetcher opens the repository again anyway.
        match Fetcher::open(self.state.root(), self.settings.remote.clone()) {
            Ok(f) => self.fetcher = Some(f),
            Err(e) => return SyncOutcome::Failed(e),
        }
        let Some(fetcher) = self.fetcher.as_ref() else {
            unreachable!("opened above");
        };
        let (sha, branch) = match fetcher.resolve_named() {
            Ok(resolved) => resolved,
            Err(e) => return SyncOutcome::Failed(e),
        };
        if let Some(current) = self.current().filter(|r| r.sha == sha) {
            // With --verify-commits, `current` counts only once this process verified it: it may
            // have been applied before the flag was on, or signed by a key since removed.
            if self.settings.signers.is_none() || self.verified.as_deref() == Some(sha.as_str()) {
                return SyncOutcome::Unchanged(current);
            }
        }
        if let Some((revision, refusal)) = self.refused.clone().filter(|(r, _)| r.sha == sha) {
            return SyncOutcome::Refused { revision, refusal, again: true };
        }
        let commit = match fetcher.fetch(&sha) {
            Ok(c) => c,
            Err(e) => return SyncOutcome::Failed(e),
        };
        let mut revision = Revision {
            sha: sha.clone(),
            reference: branch.unwrap_or_else(|| self.settings.remote.display_ref()),
            subject: commit.subject.clone(),
            fetched_at: timestamp(Duration::ZERO),
            signer: None,
        };
        if let Some(signers) = &self.settings.signers {
            match verify(signers, &commit) {
                Ok(signer) => {
                    revision.signer = Some(format!("{} {}", signer.principal, signer.fingerprint));
                    self.verified = Some(sha.clone());
                }
                Err(e) => return self.refuse(revision, Refusal::Signature(e.to_string())),
            }
        }
        match self.state.write_snapshot(fetcher, &revision, &self.settings.path) {
            Ok(_) => {}
            Err(GitError::NoSuchPath { .. }) => {
                let path = self.settings.path.display().to_string();
                return self.refuse(revision, Refusal::NoPath { path });
            }
            // The commit's content, which never changes: a refusal, not a failure to retry.
            Err(e @ GitError::UnsafeName { .. }) => {
                return self.refuse(revision, Refusal::Invalid(vec![e.to_string()]))
            }
            Err(e) => return SyncOutcome::Failed(e),
        }
        let mut loaded = load_revision(&self.state, &sha, &self.settings.shown);
        if loaded.problems.is_empty() {
            // A file that does not decrypt with this host's key, or was changed after it was
            // encrypted, refuses the revision as a broken manifest does: the last good one keeps
            // running, whole.
            resolve(&mut loaded, &self.secrets_checker(&sha));
        }
        if !loaded.problems.is_empty() {
            let problems = loaded.problems.iter().map(ToString::to_string).collect();
            return self.refuse(revision, Refusal::Invalid(problems));
        }
        let services = loaded.desired.services.len();
        if services == 0 && !self.settings.allow_empty {
            return self.refuse(revision, Refusal::Empty);
        }
        if let Err(e) = self.state.set_current(&sha) {
            return SyncOutcome::Failed(e);
        }
        self.refused = None;
        if let Err(e) = self.state.prune(KEEP_SNAPSHOTS) {
            tracing::warn!(error = %e, "cannot remove old snapshots");
        }
        SyncOutcome::Applied { revision, services }
    }

    /// Checks the secrets of revision `sha`'s snapshot as `moor validate` does, with the host's
    /// age key when it has one: nothing is sealed or written.
    fn secrets_checker(&self, sha: &str) -> Resolver {
        let state = &self.settings.state_dir;
        Resolver {
            roots: Roots {
                source: self.state.snapshot_path(sha),
                shown: self.settings.shown.clone(),
                allowed: self.settings.read_paths.clone(),
                denied: ["digest.key", "secrets", "configs"].iter().map(|p| state.join(p)).collect(),
            },
            identities: IdentitySource::Env,
            key: KeySource::Fixed(Arc::new(HostKey::from_bytes([0; 32]))),
            mode: Mode::Check,
        }
    }

    fn refuse(&mut self, revision: Revision, refusal: Refusal) -> SyncOutcome {
        self.refused = Some((revision.clone(), refusal.clone()));
        SyncOutcome::Refused { revision, refusal, again: false }
    }

    /// The revision `current` points at, if it was written from this source's `--path`.
    pub fn current(&self) -> Option<Revision> {
        current_of(&self.state, &self.settings.path)
    }

    /// The current revision and its manifests, presented under `settings.shown`; `None` before
    /// the first revision was applied.
    pub fn load_current(&self) -> Option<(Revision, Loaded)> {
        load_current(&self.state, &self.settings)
    }
}

/// The revision `current` points at, unless its snapshot is of another `--path` than `path`
/// (the flag changed since): then there is no current revision until a sync writes one.
pub fn current_of(state: &StateDir, path: &Path) -> Option<Revision> {
    state.current().filter(|r| state.written_from(&r.sha, path))
}

/// The manifests of revision `sha`'s snapshot, presented under `shown`.
pub fn load_revision(state: &StateDir, sha: &str, shown: &Path) -> Loaded {
    load_dir_as(&state.snapshot_path(sha), shown)
}

/// The current revision of the source `settings` and its manifests, presented under
/// `settings.shown`.
pub fn load_current(state: &StateDir, settings: &GitSettings) -> Option<(Revision, Loaded)> {
    let revision = current_of(state, &settings.path)?;
    let loaded = load_revision(state, &revision.sha, &settings.shown);
    Some((revision, loaded))
}
