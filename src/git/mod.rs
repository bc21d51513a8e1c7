//! The git source of `moor run --git URL`: which commit a reference points at, that commit's
//! objects, its tree written as a snapshot folder, and its SSH signature.
//!
//! - [`remote`]: the user's URL and credentials ([`Remote`], [`Token`]), display forms without
//!   secrets, and how gix is configured to reach the remote.
//! - [`fetch`]: [`Fetcher`]: `resolve` (a ref listing, no objects), `fetch` (a depth-1 fetch of one
//!   commit, skipped when it is already local), `write_tree` (a commit's folder to disk).
//! - [`snapshot`]: [`StateDir`]: `snapshots/<sha>` written atomically, the `current` link, pruning.
//! - [`mod@verify`]: [`AllowedSigners`] and [`verify()`]: SSH commit signatures as `git` checks them.
//! - [`sync`]: one sync: ask, fetch, verify, snapshot, validate, and only then swap `current`.
//! - [`source`]: the controller's [`crate::controller::source::Source`] over `current`, and the
//!   task that polls the remote (and wakes on webhooks).
//! - [`webhook`]: the push webhook's signatures (GitHub, Gitea/Forgejo, Gogs, GitLab).
//!
//! Invariants:
//! - A token never appears in an error, a `Display` or a `Debug`: it is handed to gix only as the
//!   answer to a credential request (never inside a URL), URLs are shown without userinfo
//!   ([`Remote::display_url`]), and every message taken from gix is scrubbed of the token text.
//! - Outcomes are typed ([`GitError`], [`VerifyError`]); no caller decides by message text.
//! - Everything here is blocking (gix's blocking client): call it from `spawn_blocking`.
//! - gix reads only the state repository's own config: no system or user git config and no
//!   `GIT_*` environment, so what a `moor run` does does not depend on who runs it.

pub mod fetch;
pub mod remote;
pub mod snapshot;
pub mod source;
pub mod sync;
pub mod verify;
pub mod webhook;

use std::path::PathBuf;

pub use fetch::{Commit, Fetcher, Signature};
pub use remote::{Remote, Token};
pub use snapshot::{Revision, StateDir, KEEP_SNAPSHOTS};
pub use verify::{verify, AllowedSigners, Signer, VerifyError};

/// What went wrong talking to a remote or with the local repository. Every `url` is
/// [`Remote::display_url`]; every `message` is scrubbed of the token.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The URL can never work as written (unparsable, or a scheme gix does not speak).
    #[error("{url}: not a usable git URL: {message}")]
    InvalidUrl { url: String, message: String },
    /// The remote could not be reached or did not answer the ref listing (including a local
    /// path that is not a repository): it may work later.
    #[error("{url}: cannot reach the remote: {message}")]
    Connect { url: String, message: String },
    /// The remote asked for credentials and refused (or was given none).
    #[error("{url}: authentication failed: {message}")]
    Auth { url: String, message: String },
    /// The remote has no branch or tag of that name (or an empty HEAD).
    #[error("{url}: no branch or tag {reference:?}")]
    NoSuchRef { url: String, reference: String },
    /// Listing worked but getting the objects did not (e.g. the commit is not on the remote).
    #[error("{url}: fetch failed: {message}")]
    Fetch { url: String, message: String },
    /// The object is not in the local repository, or is not a commit.
    #[error("commit {sha} is not in the repository")]
    NoSuchCommit { sha: String },
    /// The path is not a folder in that commit's tree.
    #[error("{path:?} is not a folder in commit {sha}")]
    NoSuchPath { sha: String, path: String },
    /// The tree holds a name that cannot be written safely (`..`, a `/`, a NUL).
    #[error("commit {sha} has an unsafe name in its tree: {path:?}")]
    UnsafeName { sha: String, path: String },
    /// The local repository could not be read or written.
    #[error("the repository at {}: {message}", path.display())]
    Repository { path: PathBuf, message: String },
    /// `set_current` to a revision that has no snapshot.
    #[error("no snapshot of {sha} to point `current` at")]
    NoSnapshot { sha: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

impl GitError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> GitError {
        let path = path.into();
        move |source| GitError::Io { path, source }
    }
}

/// An error and its sources as one line, `a: b: c`, skipping a source whose text its parent
/// already repeats (gix's `#[error(transparent)]` layers).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}
