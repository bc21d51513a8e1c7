//! The local bare repository `<state_dir>/repo` and the three things done with it: ask the remote
//! which commit a reference is at, fetch that one commit, write its tree out.
//!
//! Invariants:
//! - [`Fetcher::resolve`] lists refs only (protocol v2 `ls-refs`, narrowed to the names asked
//!   for): no pack is ever requested by it, so an idle poll costs one small round trip.
//! - [`Fetcher::fetch`] asks for the one commit by its id, depth 1, without tags, writing no ref:
//!   the repository is shallow and holds only what was fetched. A commit already in it is served
//!   without any network; a commit is in it only with its whole tree, since a received pack is
//!   installed (pack and index) all at once or not at all.
//! - [`Fetcher::write_tree`] writes regular files and folders only; symlinks (which could point
//!   out of the snapshot) and submodules are skipped with a warning, and a name that is not a
//!   plain file name (`..`, `/`, NUL) fails the whole write.

use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::AtomicBool;

use gix::bstr::{BStr, ByteSlice};
use gix::objs::tree::EntryKind;
use gix::remote::Direction;
use gix::ObjectId;
use tracing::warn;

use super::remote::{config_overrides, Remote, Target};
use super::{error_chain, GitError};

/// A commit as fetched: what the controller reports and what [`super::verify()`] checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// 40 lower-case hex digits.
    pub sha: String,
    /// The first line of the message.
    pub subject: String,
    pub signature: Option<Signature>,
}

/// A commit's signature and the bytes it signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The `gpgsig` header's value, unfolded: an armored SSH, PGP or X.509 signature.
    pub armored: String,
    /// The commit object without its `gpgsig` header: the signed data.
    pub payload: Vec<u8>,
}

/// A ref-prefix that matches nothing, listed beside the commit id when fetching: with only an
/// id to fetch, gix's ref listing would otherwise ask for every ref of the remote.
const NARROW_LISTING: &str = "refs/moor/fetch-by-id";

/// The last commit fetched: a ref, so that the next fetch can tell the remote what is already
/// here (`have`) and receive only the objects that changed.
const FETCHED_REF: &str = "refs/moor/fetched";

/// The bare repository of one remote in a state dir. `Send + Sync`: share it in an `Arc`.
pub struct Fetcher {
    repo: gix::ThreadSafeRepository,
    path: PathBuf,
    remote: Remote,
    target: Target,
}

impl Fetcher {
    /// Opens (creating if missing) the bare repository `<state_dir>/repo`. A new one is made in
    /// `repo.init` and renamed into place, so a crash never leaves half a repository.
    pub fn open(state_dir: &Path, remote: Remote) -> Result<Fetcher, GitError> {
        let path = state_dir.join("repo");
        let options = || gix::open::Options::isolated().config_overrides(config_overrides(&remote));
        let repo_error =
            |e: &dyn std::error::Error| GitError::Repository { path: path.clone(), message: error_chain(e) };
        if !path.exists() {
            let fresh = state_dir.join("repo.init");
            if fresh.exists() {
                fs::remove_dir_all(&fresh).map_err(GitError::io(&fresh))?;
            }
            fs::create_dir_all(state_dir).map_err(GitError::io(state_dir))?;
            let kind = gix::create::Kind::Bare;
            gix::ThreadSafeRepository::init_opts(&fresh, kind, gix::create::Options::default(), options())
                .map_err(|e| repo_error(&e))?;
            fs::rename(&fresh, &path).map_err(GitError::io(&path))?;
        }
        let repo = gix::ThreadSafeRepository::open_opts(&path, options()).map_err(|e| repo_error(&e))?;
        let target = Target::new(&remote);
        if target.is_https_or_http {
            // gix's reqwest client takes rustls' process-wide provider; without one it fails.
            crate::http_client::install_crypto_provider();
        }
        Ok(Fetcher { repo, path, remote, target })
    }

    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// `<state_dir>/repo`.
    pub fn repo_path(&self) -> &Path {
        &self.path
    }

    /// Asks the remote which commit the reference points at (annotated tags peeled to their
    /// commit) with a ref listing only. A full 40-hex SHA reference is returned as it is, without
    /// contacting the remote.
    pub fn resolve(&self) -> Result<String, GitError> {
        if let Some(sha) = self.remote.reference_sha() {
            return Ok(sha);
        }
        let names = candidate_names(self.remote.reference.as_deref());
        let repo = self.repo.to_thread_local();
        let remote = self.gix_remote(&repo, &names)?;
        let connection = remote.connect(Direction::Fetch).map_err(|e| self.connect_error(e))?;
        let (ref_map, _handshake) = connection
            .with_credentials(self.credentials())
            .ref_map(gix::progress::Discard, Default::default())
            .map_err(|e| self.listing_error(&e))?;
        for name in &names {
            for listed in &ref_map.remote_refs {
                let (full_name, target, peeled) = listed.unpack();
                if full_name == name.as_bytes() {
                    if let Some(id) = peeled.or(target) {
                        return Ok(id.to_string());
                    }
                }
            }
        }
        Err(GitError::NoSuchRef { url: self.target.display.clone(), reference: self.remote.display_ref() })
    }

    /// Makes `sha` available locally: a depth-1 fetch of that commit, unless it is already in the
    /// repository (then no network at all). Returns its subject and signature.
    pub fn fetch(&self, sha: &str) -> Result<Commit, GitError> {
        let id = parse_sha(sha)?;
        let repo = self.repo.to_thread_local();
        if !is_commit(&repo, id) {
            self.fetch_from_remote(&repo, id)?;
        }
        read_commit(&repo, id)
    }

    fn fetch_from_remote(&self, repo: &gix::Repository, id: ObjectId) -> Result<(), GitError> {
        let remote = self.gix_remote(repo, &[format!("+{id}:{FETCHED_REF}")])?;
        let connection = remote.connect(Direction::Fetch).map_err(|e| self.connect_error(e))?;
        let options = gix::remote::ref_map::Options {
            extra_refspecs: vec![gix::refspec::parse(NARROW_LISTING.into(), gix::refspec::parse::Operation::Fetch)
                .expect("a valid refspec")
                .to_owned()],
            ..Default::default()
        };
        let prepared = connection
            .with_credentials(self.credentials())
            .prepare_fetch(gix::progress::Discard, options)
            .map_err(|e| match e {
            gix::remote::fetch::prepare::Error::RefMap(e) => self.listing_error(&e),
            other => self.target.fetch(&error_chain(&other)),
        })?;
        let depth = std::num::NonZeroU32::new(1).expect("1 is not zero");
        prepared
            .with_shallow(gix::remote::fetch::Shallow::DepthAtRemote(depth))
            .receive(gix::progress::Discard, &AtomicBool::new(false))
            .map_err(|e| self.target.fetch(&error_chain(&e)))?;
        Ok(())
    }

    /// Writes the tree of commit `sha` at `subdir` (`""` or `"."` is the root) into `dest`, which
    /// must not exist: files 0644, or 0755 when executable, folders 0755. Symlinks and submodules
    /// are skipped with a warning.
    pub fn write_tree(&self, sha: &str, subdir: &Path, dest: &Path) -> Result<(), GitError> {
        let id = parse_sha(sha)?;
        let repo = self.repo.to_thread_local();
        if !is_commit(&repo, id) {
            return Err(GitError::NoSuchCommit { sha: sha.to_string() });
        }
        let no_such_path = || GitError::NoSuchPath { sha: sha.to_string(), path: subdir.display().to_string() };
        let commit = repo.find_commit(id).map_err(|e| self.repo_error(&e))?;
        let mut tree = commit.tree().map_err(|e| self.repo_error(&e))?;
        for component in subdir.components() {
            let name = match component {
                Component::CurDir => continue,
                Component::Normal(name) => name.as_bytes(),
                _ => return Err(no_such_path()),
            };
            let entry = tree.find_entry(name).ok_or_else(no_such_path)?;
            if entry.mode().kind() != EntryKind::Tree {
                return Err(no_such_path());
            }
            tree = repo.find_tree(entry.object_id()).map_err(|e| self.repo_error(&e))?;
        }
        let writer = TreeWriter { repo: &repo, sha, fetcher: self };
        writer.write(tree, dest, Path::new(""))
    }

    fn gix_remote<'r>(&self, repo: &'r gix::Repository, specs: &[String]) -> Result<gix::Remote<'r>, GitError> {
        let remote = repo.remote_at(self.target.url.as_str()).map_err(|e| self.target.invalid_url(&error_chain(&e)))?;
        remote
            .with_fetch_tags(gix::remote::fetch::Tags::None)
            .with_refspecs(specs.iter().map(String::as_str), Direction::Fetch)
            .map_err(|e| self.target.invalid_url(&error_chain(&e)))
    }

    /// Answers gix's credential request with the token, and nothing else: no credential helper
    /// and no prompt is ever run. Without a token the request is answered "none", which gix
    /// reports as an authentication failure.
    #[allow(clippy::result_large_err, reason = "the signature is gix's (`gix_credentials::protocol::Result`)")]
    fn credentials(
        &self,
    ) -> impl FnMut(gix::credentials::helper::Action) -> gix::credentials::protocol::Result + 'static {
        let credentials = self.target.credentials.clone();
        move |action| match (action, &credentials) {
            (gix::credentials::helper::Action::Get(context), Some((username, token))) => {
                Ok(Some(gix::credentials::protocol::Outcome {
                    identity: gix::sec::identity::Account {
                        username: username.clone(),
                        password: token.expose().to_string(),
                        oauth_refresh_token: None,
                    },
                    next: context.into(),
                }))
            }
            _ => Ok(None),
        }
    }

    fn connect_error(&self, error: gix::remote::connect::Error) -> GitError {
        use gix::protocol::transport::client::blocking_io::connect::Error as Transport;
        use gix::remote::connect::Error as Connect;
        let message = error_chain(&error);
        match error {
            Connect::Connect(
                Transport::Url(_) | Transport::UnsupportedScheme(_) | Transport::UnsupportedUrlTokens { .. },
            )
            | Connect::InvalidRemoteRepositoryPath { .. }
            | Connect::FileUrl { .. } => self.target.invalid_url(&message),
            _ => self.target.connect(&message),
        }
    }

    fn listing_error(&self, error: &gix::remote::ref_map::Error) -> GitError {
        use gix::protocol::handshake::Error as Handshake;
        use gix::protocol::transport::client::Error as Client;
        let message = error_chain(error);
        match error {
            gix::remote::ref_map::Error::Handshake(
                Handshake::Credentials(_)
                | Handshake::EmptyCredentials
                | Handshake::InvalidCredentials { .. }
                | Handshake::Transport(Client::AuthenticationRefused(_) | Client::AuthenticationUnsupported),
            ) => self.target.auth(&message),
            _ => self.target.connect(&message),
        }
    }

    fn repo_error(&self, error: &dyn std::error::Error) -> GitError {
        GitError::Repository { path: self.path.clone(), message: error_chain(error) }
    }
}

/// The full names to look for, in order of preference.
fn candidate_names(reference: Option<&str>) -> Vec<String> {
    match reference {
        None | Some("HEAD") => vec!["HEAD".to_string()],
        Some(full) if full.starts_with("refs/") => vec![full.to_string()],
        Some(short) => vec![format!("refs/heads/{short}"), format!("refs/tags/{short}")],
    }
}

fn parse_sha(sha: &str) -> Result<ObjectId, GitError> {
    match ObjectId::from_hex(sha.as_bytes()) {
        Ok(id) if sha.len() == 40 => Ok(id),
        _ => Err(GitError::NoSuchCommit { sha: sha.to_string() }),
    }
}

fn is_commit(repo: &gix::Repository, id: ObjectId) -> bool {
    matches!(repo.try_find_header(id), Ok(Some(header)) if header.kind() == gix::object::Kind::Commit)
}

fn read_commit(repo: &gix::Repository, id: ObjectId) -> Result<Commit, GitError> {
    let sha = id.to_string();
    let no_such_commit = || GitError::NoSuchCommit { sha: sha.clone() };
    let commit = repo.find_commit(id).map_err(|_| no_such_commit())?;
    let message = commit.message_raw().map_err(|_| no_such_commit())?;
    let subject = message.lines().next().unwrap_or_default().to_str_lossy().trim_end().to_string();
    let signature = commit.signature().map_err(|_| no_such_commit())?.map(|(armored, signed)| Signature {
        armored: armored.to_str_lossy().into_owned(),
        payload: signed.to_bstring().into(),
    });
    Ok(Commit { sha, subject, signature })
}

/// Writes one commit's trees recursively; `sha` and the relative path are for messages.
struct TreeWriter<'a> {
    repo: &'a gix::Repository,
    sha: &'a str,
    fetcher: &'a Fetcher,
}

impl TreeWriter<'_> {
    fn write(&self, tree: gix::Tree<'_>, dest: &Path, relative: &Path) -> Result<(), GitError> {
        fs::create_dir(dest).map_err(GitError::io(dest))?;
        fs::set_permissions(dest, fs::Permissions::from_mode(0o755)).map_err(GitError::io(dest))?;
        for entry in tree.iter() {
            let entry = entry.map_err(|e| self.fetcher.repo_error(&e))?;
            let name = self.safe_name(entry.filename(), relative)?;
            let (path, shown) = (dest.join(name), relative.join(name));
            match entry.mode().kind() {
                EntryKind::Tree => {
                    let subtree = self.repo.find_tree(entry.object_id()).map_err(|e| self.fetcher.repo_error(&e))?;
                    self.write(subtree, &path, &shown)?;
                }
                kind @ (EntryKind::Blob | EntryKind::BlobExecutable) => {
                    let blob = self.repo.find_blob(entry.object_id()).map_err(|e| self.fetcher.repo_error(&e))?;
                    let mode = if kind == EntryKind::BlobExecutable { 0o755 } else { 0o644 };
                    write_file(&path, &blob.data, mode)?;
                }
                EntryKind::Link => {
                    warn!(commit = self.sha, path = %shown.display(), "skipping a symlink: it could point out of the snapshot")
                }
                EntryKind::Commit => warn!(commit = self.sha, path = %shown.display(), "skipping a submodule"),
            }
        }
        Ok(())
    }

    /// The entry's name as one plain path component, or an error: a crafted tree could hold
    /// `..` or a `/` and write outside `dest`.
    fn safe_name<'n>(&self, name: &'n BStr, relative: &Path) -> Result<&'n std::ffi::OsStr, GitError> {
        let os = std::ffi::OsStr::from_bytes(name);
        let plain = matches!(Path::new(os).components().collect::<Vec<_>>()[..], [Component::Normal(n)] if n == os);
        if plain && !name.contains(&0) {
            Ok(os)
        } else {
            Err(GitError::UnsafeName { sha: self.sha.to_string(), path: relative.join(os).display().to_string() })
        }
    }
}

/// Created with its final mode (then set again, as the umask may have narrowed it).
fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), GitError> {
    let mut file =
        fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(GitError::io(path))?;
    file.write_all(data).map_err(GitError::io(path))?;
    file.set_permissions(fs::Permissions::from_mode(mode)).map_err(GitError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_looked_up_as_branch_then_tag() {
        assert_eq!(candidate_names(None), ["HEAD"]);
        assert_eq!(candidate_names(Some("v1")), ["refs/heads/v1", "refs/tags/v1"]);
        assert_eq!(candidate_names(Some("refs/pull/1/head")), ["refs/pull/1/head"]);
    }

    #[test]
    fn only_a_full_sha_is_a_commit_id() {
        assert!(parse_sha("0123456789abcdef0123456789abcdef01234567").is_ok());
        assert!(matches!(parse_sha("0123456"), Err(GitError::NoSuchCommit { .. })));
    }
}
