//! Reading the files Secrets, env files and configs name, within what moor may read.
//!
//! Invariants:
//! - A file is read only when its real path (every symlink resolved) lies inside the manifest
//!   source or under a folder the host policy's `readPaths` allows (`/etc/moor/secrets` by default).
//!   Otherwise a push to the repository could copy `/etc/shadow` into a container. The manifest
//!   layer already refused `..` in a relative path.
//! - The roots are resolved at each read, not once: the git source's root is the `current`
//!   link, which moves to a new snapshot at each revision.
//! - Only regular files of at most [`MAX_DATA_BYTES`] are read; messages name the file as the
//!   manifest wrote it, never its content.

use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// How every age private key begins (Bech32, upper case as age writes it).
const AGE_SECRET: &[u8] = b"AGE-SECRET-KEY-1";

/// The largest file a Secret, env file or config may be.
pub const MAX_DATA_BYTES: u64 = 1 << 20;

/// The folders files may be read from: the manifest source first, then the policy's.
#[derive(Debug, Clone)]
pub struct Roots {
    /// The manifest source as it is read.
    pub source: PathBuf,
    /// The manifest source as its manifests are shown (and relative paths resolved): the same
    /// folder, except for `plan --git`, which reads a throwaway clone presented as the host's
    /// `<state-dir>/current`. A path under `shown` is read under `source`.
    pub shown: PathBuf,
    pub allowed: Vec<PathBuf>,
    /// Never read, even inside a root: moor's own secrets in its state dir (the digest key, the
    /// files of every service).
    pub denied: Vec<PathBuf>,
}

impl Roots {
    /// A folder read where it is shown.
    pub fn folder(source: PathBuf, allowed: Vec<PathBuf>) -> Roots {
        Roots { shown: source.clone(), source, allowed, denied: Vec::new() }
    }
}

impl Roots {
    fn describe(&self) -> String {
        let allowed: Vec<String> = self.allowed.iter().map(|p| p.display().to_string()).collect();
        match allowed.is_empty() {
            true => format!("the manifest source {}", self.source.display()),
            false => format!(
                "the manifest source {} and the host policy's readPaths ({})",
                self.source.display(),
                allowed.join(", ")
            ),
        }
    }
}

/// Reads `path` (absolute; `written` is how the manifest wrote it) if `roots` allow it.
pub fn read_allowed(path: &Path, written: &str, roots: &Roots) -> Result<Vec<u8>, String> {
    let path = match path.strip_prefix(&roots.shown) {
        Ok(rest) if roots.shown != roots.source => roots.source.join(rest),
        _ => path.to_path_buf(),
    };
    let real = match std::fs::canonicalize(&path) {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(format!("{written}: no such file")),
        Err(e) => return Err(format!("{written}: cannot be read: {e}")),
    };
    let inside = std::iter::once(&roots.source)
        .chain(&roots.allowed)
        .filter_map(|root| std::fs::canonicalize(root).ok())
        .any(|root| real.starts_with(root));
    let canonical = |p: &PathBuf| std::fs::canonicalize(p).ok();
    if let Some(dir) = roots.denied.iter().filter_map(canonical).find(|d| real.starts_with(d)) {
        return Err(format!("{written} is moor's own state ({}): never read for a container", dir.display()));
    }
    if !inside {
        return Err(format!(
            "{written} is outside {}: moor reads secrets and configs only there (the host policy's readPaths may add folders)",
            roots.describe()
        ));
    }
    // O_NONBLOCK: opening a FIFO for reading would wait for a writer (forever); it opens at once
    // and is then refused as not a regular file. O_NOFOLLOW: `real` has no symlink left, and a
    // symlink swapped in since must not be followed.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(&real)
        .map_err(|e| format!("{written}: cannot be read: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("{written}: cannot be read: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{written} is not a regular file"));
    }
    if meta.len() > MAX_DATA_BYTES {
        return Err(format!("{written} is larger than {} KiB", MAX_DATA_BYTES >> 10));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // One byte more than the cap: a file that grew since `metadata` is still refused.
    (&mut file)
        .take(MAX_DATA_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{written}: cannot be read: {e}"))?;
    if bytes.len() as u64 > MAX_DATA_BYTES {
        return Err(format!("{written} is larger than {} KiB", MAX_DATA_BYTES >> 10));
    }
    // The key that opens every secret of this host must never be handed to a container, wherever
    // it was put (a manifest could name it as a Secret or a config).
    if bytes.windows(AGE_SECRET.len()).any(|w| w.eq_ignore_ascii_case(AGE_SECRET)) {
        return Err(format!("{written} holds an age private key: moor never gives one to a container"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_inside_the_roots_are_read() {
        let source = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let allowed = tempfile::tempdir().unwrap();
        std::fs::write(source.path().join("in.env"), "A=1").unwrap();
        std::fs::write(outside.path().join("shadow"), "root:x").unwrap();
        std::fs::write(allowed.path().join("host.env"), "B=2").unwrap();
        std::os::unix::fs::symlink(outside.path().join("shadow"), source.path().join("link.env")).unwrap();
        let roots = Roots::folder(source.path().into(), vec![allowed.path().into()]);

        assert_eq!(read_allowed(&source.path().join("in.env"), "./in.env", &roots).unwrap(), b"A=1");
        assert_eq!(read_allowed(&allowed.path().join("host.env"), "/etc/moor/host.env", &roots).unwrap(), b"B=2");
        let e = read_allowed(&source.path().join("link.env"), "./link.env", &roots).unwrap_err();
        assert!(e.contains("is outside the manifest source"), "{e}");
        assert!(!e.contains("root:x"), "{e}");
        let e = read_allowed(&outside.path().join("shadow"), "/x/shadow", &roots).unwrap_err();
        assert!(e.starts_with("/x/shadow is outside"), "{e}");
        let e = read_allowed(&source.path().join("missing"), "./missing", &roots).unwrap_err();
        assert_eq!(e, "./missing: no such file");
        let e = read_allowed(source.path(), "./", &roots).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        std::fs::write(source.path().join("big"), vec![b'x'; MAX_DATA_BYTES as usize + 1]).unwrap();
        let e = read_allowed(&source.path().join("big"), "./big", &roots).unwrap_err();
        assert!(e.contains("larger than 1024 KiB"), "{e}");
    }

    // A FIFO (or a device) under a readable root must not freeze validate, plan, apply or the
    // controller's reload: it is refused at once.
    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let source = tempfile::tempdir().unwrap();
        let fifo = source.path().join("app.env");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo reads a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let roots = Roots::folder(source.path().into(), Vec::new());
        let (tx, rx) = std::sync::mpsc::channel();
        let (path, r) = (fifo.clone(), roots.clone());
        std::thread::spawn(move || {
            let _ = tx.send(read_allowed(&path, "./app.env", &r));
        });
        let result = rx.recv_timeout(std::time::Duration::from_secs(3));
        if result.is_err() {
            // Unblock the reader so that the thread ends.
            drop(std::fs::OpenOptions::new().write(true).open(&fifo));
        }
        let result = result.expect("read_allowed of a FIFO still waits after 3s");
        let e = result.unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
    }

    #[test]
    fn prefixes_and_folder_links_do_not_widen_the_roots() {
        let base = tempfile::tempdir().unwrap();
        let (source, etc_moor, moorish, outside) =
            (base.path().join("src"), base.path().join("moor"), base.path().join("moorish"), base.path().join("out"));
        for d in [&source, &etc_moor, &moorish, &outside] {
            std::fs::create_dir(d).unwrap();
        }
        std::fs::write(moorish.join("x.env"), "A=1").unwrap();
        std::fs::write(outside.join("x.env"), "A=1").unwrap();
        // A folder link in the middle of a path inside the source.
        std::os::unix::fs::symlink(&outside, source.join("sub")).unwrap();
        // A link under an allowed root that climbs out of it.
        std::os::unix::fs::symlink(etc_moor.join("..").join("out").join("x.env"), etc_moor.join("y.env")).unwrap();
        let roots = Roots::folder(source.clone(), vec![etc_moor.clone()]);
        for (path, written) in [
            (moorish.join("x.env"), "/etc/moorish/x.env"),
            (source.join("sub/x.env"), "./sub/x.env"),
            (etc_moor.join("y.env"), "/etc/moor/y.env"),
        ] {
            let e = read_allowed(&path, written, &roots).unwrap_err();
            assert!(e.contains("is outside"), "{written}: {e}");
        }
    }

    #[test]
    fn a_shown_source_is_read_where_it_is() {
        let actual = tempfile::tempdir().unwrap();
        std::fs::write(actual.path().join("a.env"), "A=1").unwrap();
        let roots = Roots::folder(actual.path().into(), Vec::new());
        let roots = Roots { shown: "/var/lib/moor/x/current".into(), ..roots };
        let read = read_allowed(Path::new("/var/lib/moor/x/current/a.env"), "./a.env", &roots).unwrap();
        assert_eq!(read, b"A=1");
    }

    #[test]
    fn moors_own_secrets_and_any_age_key_are_never_read() {
        let source = tempfile::tempdir().unwrap();
        let state = source.path().join("state");
        std::fs::create_dir_all(state.join("secrets/app")).unwrap();
        std::fs::write(state.join("digest.key"), "00").unwrap();
        std::fs::write(state.join("secrets/app/file-1"), "other service's secret").unwrap();
        std::fs::write(source.path().join("keys.txt"), "# created\nAGE-SECRET-KEY-1QQQQ\n").unwrap();
        let roots = Roots {
            denied: vec![state.join("digest.key"), state.join("secrets")],
            ..Roots::folder(source.path().into(), Vec::new())
        };
        for (file, why) in [
            ("state/digest.key", "moor's own state"),
            ("state/secrets/app/file-1", "moor's own state"),
            ("keys.txt", "holds an age private key"),
        ] {
            let e = read_allowed(&source.path().join(file), file, &roots).unwrap_err();
            assert!(e.contains(why), "{file}: {e}");
        }
    }
}
