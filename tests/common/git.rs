//! A git remote for tests, driven by the real `git` CLI: a bare `origin.git` (default branch
//! `main`) and a work clone that commits and pushes to it, plus ed25519 keys for signed commits.
//!
//! Every command is isolated from the machine's and the user's git config
//! (`GIT_CONFIG_GLOBAL=/dev/null`, `GIT_CONFIG_NOSYSTEM=1`, identity given with `-c`) and
//! panics with its stderr when it fails. Everything lives in one `TempDir`, removed on drop.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use moor::git::{Fetcher, Remote};
use tempfile::TempDir;

/// A `git` command isolated from any global or system config.
pub fn git_command(dir: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .args(["-c", "user.name=Moor Test", "-c", "user.email=test@moor.invalid"])
        .args(["-c", "init.defaultBranch=main", "-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false"]);
    command
}

/// Runs `command`; its trimmed stdout, or a panic with its stderr.
pub fn run(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A bare remote and a work clone of it.
pub struct GitRepo {
    /// Holds `origin.git` and `work`.
    pub dir: TempDir,
    work: PathBuf,
}

impl GitRepo {
    pub fn new() -> GitRepo {
        let dir = tempfile::Builder::new().prefix("moor-git-").tempdir().expect("temp dir");
        run(git_command(dir.path()).args(["init", "--quiet", "--bare", "--initial-branch=main", "origin.git"]));
        run(git_command(dir.path()).args(["clone", "--quiet", "origin.git", "work"]));
        let work = dir.path().join("work");
        run(git_command(&work).args(["symbolic-ref", "HEAD", "refs/heads/main"]));
        GitRepo { dir, work }
    }

    /// `file://` URL of the bare repository.
    pub fn url(&self) -> String {
        format!("file://{}", self.bare_path().display())
    }

    pub fn bare_path(&self) -> PathBuf {
        self.dir.path().join("origin.git")
    }

    /// The work clone, for changes the helpers below do not make (symlinks, modes).
    pub fn work_path(&self) -> &Path {
        &self.work
    }

    /// Runs git in the work clone.
    pub fn git(&self, args: &[&str]) -> String {
        run(git_command(&self.work).args(args))
    }

    /// Writes `files` (paths may have folders) in the work clone, commits everything, pushes to
    /// `main`; returns the new commit's SHA.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        self.write(files);
        self.commit_work(message, &[])
    }

    /// Commits and pushes whatever the work clone holds.
    pub fn commit_work(&self, message: &str, extra: &[&str]) -> String {
        self.git(&["add", "--all"]);
        let mut args = vec!["commit", "--quiet", "--allow-empty", "-m", message];
        args.extend_from_slice(extra);
        self.git(&args);
        self.git(&["push", "--quiet", "origin", "HEAD:refs/heads/main"]);
        self.head()
    }

    pub fn remove(&self, paths: &[&str], message: &str) -> String {
        let mut args = vec!["rm", "-r", "--quiet", "--"];
        args.extend_from_slice(paths);
        self.git(&args);
        self.commit_work(message, &[])
    }

    /// A commit signed with `key` as `git commit -S` does with `gpg.format=ssh`.
    pub fn commit_signed(&self, files: &[(&str, &str)], message: &str, key: &SshKey) -> String {
        self.write(files);
        let key = format!("user.signingKey={}", key.private.display());
        self.git(&["add", "--all"]);
        self.git(&["-c", "gpg.format=ssh", "-c", &key, "commit", "--quiet", "-S", "-m", message]);
        self.git(&["push", "--quiet", "origin", "HEAD:refs/heads/main"]);
        self.head()
    }

    pub fn revert_head(&self) -> String {
        self.git(&["revert", "--no-edit", "HEAD"]);
        self.git(&["push", "--quiet", "origin", "HEAD:refs/heads/main"]);
        self.head()
    }

    pub fn force_push(&self, sha: &str) {
        self.git(&["reset", "--quiet", "--hard", sha]);
        self.git(&["push", "--quiet", "--force", "origin", "HEAD:refs/heads/main"]);
    }

    /// An annotated tag on `sha`, pushed.
    pub fn tag(&self, name: &str, sha: &str) {
        self.git(&["tag", "-a", name, "-m", name, sha]);
        self.git(&["push", "--quiet", "origin", &format!("refs/tags/{name}")]);
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    fn write(&self, files: &[(&str, &str)]) {
        for (path, content) in files {
            let path = self.work.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, content).unwrap();
        }
    }
}

impl Default for GitRepo {
    fn default() -> Self {
        GitRepo::new()
    }
}

/// An ed25519 key pair made by `ssh-keygen`, without a passphrase.
pub struct SshKey {
    pub private: PathBuf,
    pub public: PathBuf,
    /// `ssh-ed25519 AAAA... comment`.
    pub public_line: String,
}

impl SshKey {
    pub fn generate(dir: &Path, name: &str) -> SshKey {
        let private = dir.join(name);
        run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"]).arg(&private));
        let public = dir.join(format!("{name}.pub"));
        let public_line = std::fs::read_to_string(&public).unwrap().trim().to_string();
        SshKey { private, public, public_line }
    }

    /// `principal ssh-ed25519 AAAA... comment`, a line of an allowed_signers file.
    pub fn allowed_signers_line(&self, principal: &str) -> String {
        format!("{principal} {}", self.public_line)
    }

    /// `SHA256:...`, as `ssh-keygen -lf KEY.pub` prints it.
    pub fn fingerprint(&self) -> String {
        let listing = run(Command::new("ssh-keygen").arg("-lf").arg(&self.public));
        listing.split_whitespace().nth(1).expect("ssh-keygen -l: bits fingerprint comment (type)").to_string()
    }
}

/// A [`Fetcher`] of `url` at `reference` in a fresh state dir (removed with the `TempDir`).
pub fn fetcher(url: &str, reference: Option<&str>) -> (TempDir, Fetcher) {
    let state = tempfile::Builder::new().prefix("moor-state-").tempdir().unwrap();
    let remote = Remote { reference: reference.map(str::to_string), ..Remote::new(url) };
    let fetcher = Fetcher::open(state.path(), remote).expect("open the state repository");
    (state, fetcher)
}

/// The files under `dir` as sorted `(relative path, content, mode)`.
pub fn files(dir: &Path) -> Vec<(String, String, u32)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                found.push((name, fs::read_to_string(&path).unwrap(), meta.permissions().mode() & 0o7777));
            }
        }
    }
    found.sort();
    found
}

/// One entry of [`files`].
pub fn file(name: &str, content: &str, mode: u32) -> (String, String, u32) {
    (name.to_string(), content.to_string(), mode)
}
