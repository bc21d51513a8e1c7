//! The local bare repository `<state_dir>/repo` and the three things done with it: ask the remote
//! which commit a reference is at, fetch that one commit, write its tree out.
//!
//! Invariants:
//! - [`Fetcher::resolve`] lists refs only (protocol v2 `ls-refs`, narrowed to the names asked
//!   for): no pack is ever requested by it, so an idle poll costs one small round trip.
//! - [`Fetcher::fetch`] asks for the one commit by its id, depth 1, without tags: the repository
//!   is shallow and holds only what was fetched. Its one ref, `refs/moor/fetched`, is the last
//!   commit fetched, offered to the remote as `have` so that the next fetch brings only what
//!   changed. A commit already here is served without any network; a commit is here only with
//!   its whole tree, since a received pack is installed (pack and index) all at once or not at
//!   all. Past [`MAX_PACKS`] fetches the repository is replaced by an empty one, which bounds
//!   its size and its pack count.
//! - [`Fetcher::write_tree`] writes regular files and folders only; symlinks (which could point
//!   out of the snapshot) and submodules are skipped with a warning, and a name that is not a
//!   plain file name (`..`, `/`, NUL) fails the whole write.

use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use gix::bstr::{BStr, ByteSlice};
use gix::objs::tree::EntryKind;
use gix::remote::Direction;
use gix::ObjectId;
use tracing::{info, warn};

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

/// Past this many packs (one per fetch), the next fetch starts from a fresh repository: gix
/// never repacks, and each pack costs every object lookup (and an index slot) a little more.
pub const MAX_PACKS: usize = 64;

/// The bare repository of one remote in a state dir. `Send + Sync`: share it in an `Arc`; its
/// calls run one at a time. Blocking, without an overall deadline of its own; stalls end it:
/// over http(s) gix's reqwest client gives up after 20 s without a connection, 30 s without an
/// answer or 30 s within one read of the body (a slow download that keeps moving goes on); over
/// ssh after 30 s to connect or a minute of silence.
pub struct Fetcher {
    state_dir: PathBuf,
    path: PathBuf,
    remote: Remote,
    target: Target,
    /// Serializes the calls: a fetch may replace the repository under a `write_tree`.
    serial: Mutex<()>,
}

impl Fetcher {
    /// Opens (creating if missing) the bare repository `<state_dir>/repo`. A new one is made in
    /// `repo.init` and renamed into place, so a crash never leaves half a repository.
    pub fn open(state_dir: &Path, remote: Remote) -> Result<Fetcher, GitError> {
        let target = Target::new(&remote);
        let path = state_dir.join("repo");
        let fetcher = Fetcher { state_dir: state_dir.to_path_buf(), path, remote, target, serial: Mutex::new(()) };
        if !fetcher.path.exists() {
            fetcher.create()?;
        }
        fetcher.open_repo()?;
        if fetcher.target.is_https_or_http {
            // gix's reqwest client takes rustls' process-wide provider; without one it fails.
            crate::http_client::install_crypto_provider();
        }
        Ok(fetcher)
    }

    fn create(&self) -> Result<(), GitError> {
        let fresh = self.state_dir.join("repo.init");
        remove_dir(&fresh)?;
        fs::create_dir_all(&self.state_dir).map_err(GitError::io(&self.state_dir))?;
        let kind = gix::create::Kind::Bare;
        gix::ThreadSafeRepository::init_opts(&fresh, kind, gix::create::Options::default(), self.open_options())
            .map_err(|e| self.repo_error(&e))?;
        fs::rename(&fresh, &self.path).map_err(GitError::io(&self.path))
    }

    /// Opened for each call: gix sizes the store's index slots by the packs on disk when it opens,
    /// and every fetch adds a pack.
    fn open_repo(&self) -> Result<gix::Repository, GitError> {
        gix::open_opts(&self.path, self.open_options()).map_err(|e| self.repo_error(&e))
    }

    fn open_options(&self) -> gix::open::Options {
        gix::open::Options::isolated().config_overrides(config_overrides(&self.remote))
    }

    /// Replaces the repository by an empty one (when it holds [`MAX_PACKS`] packs).
    fn start_afresh(&self) -> Result<(), GitError> {
        let old = self.state_dir.join("repo.old");
        remove_dir(&old)?;
        fs::rename(&self.path, &old).map_err(GitError::io(&self.path))?;
        self.create()?;
        remove_dir(&old)
    }

    fn serially(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic in another call leaves nothing half-done that the lock protects.
        self.serial.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
        self.resolve_named().map(|(sha, _)| sha)
    }

    /// [`Fetcher::resolve`], with the branch the remote's HEAD points at when no reference was
    /// given (so that a revision reads `main@sha1:…`, as Flux shows it, rather than `HEAD@…`).
    pub fn resolve_named(&self) -> Result<(String, Option<String>), GitError> {
        if let Some(sha) = self.remote.reference_sha() {
            return Ok((sha, None));
        }
        let names = candidate_names(self.remote.reference.as_deref());
        let _serial = self.serially();
        let repo = self.open_repo()?;
        let remote = self.gix_remote(&repo, &names)?;
        let connection = remote.connect(Direction::Fetch).map_err(|e| self.target.connect_error(e))?;
        let (ref_map, _handshake) = connection
            .with_credentials(self.target.credentials())
            .ref_map(gix::progress::Discard, Default::default())
            .map_err(|e| self.target.listing_error(&e))?;
        for name in &names {
            for listed in &ref_map.remote_refs {
                let (full_name, target, peeled) = listed.unpack();
                if full_name == name.as_bytes() {
                    if let Some(id) = peeled.or(target) {
                        let branch = match listed {
                            gix::protocol::handshake::Ref::Symbolic { target, .. } => {
                                Some(target.to_string().trim_start_matches("refs/heads/").to_string())
                            }
                            _ => None,
                        };
                        return Ok((id.to_string(), branch));
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
        let _serial = self.serially();
        let mut repo = self.open_repo()?;
        if !is_commit(&repo, id) {
            let packs = count_packs(&self.path);
            if packs >= MAX_PACKS {
                info!(packs, path = %self.path.display(), "starting the state repository afresh");
                drop(repo);
                self.start_afresh()?;
                repo = self.open_repo()?;
            }
            self.fetch_from_remote(&repo, id)?;
        }
        read_commit(&repo, id)
    }

    fn fetch_from_remote(&self, repo: &gix::Repository, id: ObjectId) -> Result<(), GitError> {
        let remote = self.gix_remote(repo, &[format!("+{id}:{FETCHED_REF}")])?;
        let connection = remote.connect(Direction::Fetch).map_err(|e| self.target.connect_error(e))?;
        let options = gix::remote::ref_map::Options {
            extra_refspecs: vec![gix::refspec::parse(NARROW_LISTING.into(), gix::refspec::parse::Operation::Fetch)
                .expect("a valid refspec")
                .to_owned()],
            ..Default::default()
        };
        let prepared = connection
            .with_credentials(self.target.credentials())
            .prepare_fetch(gix::progress::Discard, options)
            .map_err(|e| match e {
                gix::remote::fetch::prepare::Error::RefMap(e) => self.target.listing_error(&e),
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
    /// are skipped with a warning. On an error `dest` may be left half written
    /// ([`super::StateDir::write_snapshot`] writes into a `.tmp` it removes).
    pub fn write_tree(&self, sha: &str, subdir: &Path, dest: &Path) -> Result<(), GitError> {
        let id = parse_sha(sha)?;
        let _serial = self.serially();
        let repo = self.open_repo()?;
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
        // Only a reference name can make a refspec invalid (`a..b`, `x~1`): there is no such ref.
        let no_such_ref =
            |_| GitError::NoSuchRef { url: self.target.display.clone(), reference: self.remote.display_ref() };
        remote
            .with_fetch_tags(gix::remote::fetch::Tags::None)
            .with_refspecs(specs.iter().map(String::as_str), Direction::Fetch)
            .map_err(no_such_ref)
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

/// The packs in the repository (each fetch adds one).
fn count_packs(repo: &Path) -> usize {
    let packs = fs::read_dir(repo.join("objects/pack")).map(|entries| {
        entries.filter_map(Result::ok).filter(|e| e.path().extension().is_some_and(|x| x == "pack")).count()
    });
    packs.unwrap_or(0)
}

/// Removes a folder if it is there.
fn remove_dir(path: &Path) -> Result<(), GitError> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(GitError::Io { path: path.to_path_buf(), source: e }),
        _ => Ok(()),
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
    fn fetchers_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Fetcher>();
        shareable::<crate::git::StateDir>();
    }

    #[test]
    fn only_a_full_sha_is_a_commit_id() {
        assert!(parse_sha("0123456789abcdef0123456789abcdef01234567").is_ok());
        assert!(matches!(parse_sha("0123456"), Err(GitError::NoSuchCommit { .. })));
    }
}
