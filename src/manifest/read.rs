//! Finding and reading manifest files: the only I/O of the manifest layer.
//!
//! Invariants:
//! - Only regular files are read; a symlink to one is followed, in a folder scan as for a path
//!   given by name. Anything else that is named (a FIFO, a socket, a device, a dangling
//!   symlink, a folder among a folder's `*.yaml` files) is a problem and is never opened, so it
//!   can neither block a load nor feed it without end. The type is checked again on the opened
//!   file (opened non-blocking), in case the path was swapped in between.
//! - At most [`MAX_FILE_BYTES`] + 1 bytes are read from any file.
//! - Every path that cannot be read is a problem: a missing or unreadable file never reads as a
//!   file without services.
//! - A folder scan skips SOPS-encrypted files (`*.sops.yaml`, `*.sops.yml`, `*.sops.json`): they
//!   are a Secret's data, kept beside the manifests that name them, not manifests. (A file named
//!   on the command line is read as it is.)

use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::limits::MAX_FILE_BYTES;

/// True for the files a folder scan picks up: `*.yaml` and `*.yml`, except dotfiles (editor swap
/// and backup files, `.#foo.yaml` locks) and SOPS files (`*.sops.yaml`, `*.sops.yml`), which hold
/// a Secret's encrypted values.
pub fn is_manifest_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    !name.starts_with('.') && (name.ends_with(".yaml") || name.ends_with(".yml")) && !is_sops_file(name)
}

/// A SOPS-encrypted data file by its name, as `sops` users name them: `*.sops.yaml`,
/// `*.sops.yml`, `*.sops.json`.
pub fn is_sops_file(name: &str) -> bool {
    [".sops.yaml", ".sops.yml", ".sops.json"].iter().any(|ext| name.ends_with(ext))
}

/// A path that cannot be a manifest, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub path: PathBuf,
    pub message: String,
}

fn unreadable(path: &Path, message: impl Into<String>) -> Unreadable {
    Unreadable { path: path.to_path_buf(), message: message.into() }
}

/// Lists the manifest files of `paths`: a file is taken as it is, a folder is scanned (not
/// recursively, as `kubectl apply -f DIR`) in name order.
pub fn collect_files(paths: &[PathBuf], problems: &mut Vec<Unreadable>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        match target(path) {
            Ok(meta) if meta.is_dir() => scan_folder(path, &mut files, problems),
            Ok(meta) if meta.is_file() => files.push(path.clone()),
            Ok(meta) => problems.push(unreadable(path, not_regular(&meta))),
            Err(message) => problems.push(unreadable(path, message)),
        }
    }
    files
}

fn scan_folder(folder: &Path, files: &mut Vec<PathBuf>, problems: &mut Vec<Unreadable>) {
    let entries = match fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) => return problems.push(unreadable(folder, format!("cannot read folder: {e}"))),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = match entry {
            Ok(entry) => entry.path(),
            Err(e) => {
                problems.push(unreadable(folder, format!("cannot read folder: {e}")));
                continue;
            }
        };
        if !is_manifest_file(&path) {
            continue;
        }
        match target(&path) {
            Ok(meta) if meta.is_file() => found.push(path),
            Ok(meta) if meta.is_dir() => {
                problems.push(unreadable(&path, "a folder, not a manifest file: folders are not scanned recursively"))
            }
            Ok(meta) => problems.push(unreadable(&path, not_regular(&meta))),
            Err(message) => problems.push(unreadable(&path, message)),
        }
    }
    found.sort();
    files.extend(found);
}

/// What `path` names, symlinks followed.
fn target(path: &Path) -> Result<Metadata, String> {
    fs::metadata(path).map_err(|e| match fs::symlink_metadata(path) {
        Ok(link) if link.file_type().is_symlink() && e.kind() == ErrorKind::NotFound => match fs::read_link(path) {
            Ok(to) => format!("a symlink to {}, which does not exist", to.display()),
            Err(_) => "a symlink to nothing".into(),
        },
        _ if e.kind() == ErrorKind::NotFound => "no such file or folder".into(),
        _ => format!("cannot read file: {e}"),
    })
}

fn not_regular(meta: &Metadata) -> String {
    let t = meta.file_type();
    let kind = if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "this"
    };
    format!("{kind} is not a regular file; only regular files are read as manifests")
}

fn too_large() -> String {
    format!("larger than {} MiB, the limit for a manifest file; split it into several files", MAX_FILE_BYTES >> 20)
}

/// Reads a manifest file as UTF-8 text, if it is a regular file within the size limit.
pub fn read_file(path: &Path) -> Result<String, String> {
    let meta = target(path)?;
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    // Non-blocking: should the path have become a FIFO since, opening it must not wait for a
    // writer. Regular files ignore the flag.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot read file: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read file: {e}"))?;
    if !meta.is_file() {
        return Err(not_regular(&meta));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    read_capped(file)
}

fn read_capped(file: File) -> Result<String, String> {
    let mut bytes = Vec::new();
    // One byte over the limit tells a file that grew since its metadata was read.
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read file: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|e| {
        format!("cannot read file: not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to())
    })
}

/// The in-memory counterpart of the size limit, for texts that did not come from a file.
pub fn check_size(text: &str) -> Result<(), String> {
    if text.len() as u64 > MAX_FILE_BYTES {
        Err(too_large())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn only_regular_files_are_read_and_symlinks_to_them_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("a.yaml"), "x: 1\n").unwrap();
        symlink(d.join("a.yaml"), d.join("b.yaml")).unwrap();
        symlink(d.join("gone.yaml"), d.join("c.yaml")).unwrap();
        fs::create_dir(d.join("d.yaml")).unwrap();
        symlink("/dev/zero", d.join("e.yaml")).unwrap();
        fs::write(d.join("notes.txt"), "").unwrap();
        let mut problems = Vec::new();
        let files = collect_files(&[d.to_path_buf()], &mut problems);
        assert_eq!(files, [d.join("a.yaml"), d.join("b.yaml")]);
        let mut found: Vec<_> = problems.iter().map(|p| (p.path.file_name().unwrap().to_owned(), &p.message)).collect();
        found.sort();
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].1.contains("gone.yaml, which does not exist"), "{found:?}");
        assert!(found[1].1.contains("folder"), "{found:?}");
        assert!(found[2].1.starts_with("a device is not a regular file"), "{found:?}");
        assert_eq!(read_file(&d.join("b.yaml")).unwrap(), "x: 1\n");
    }

    #[test]
    fn sops_files_are_not_manifests() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in ["web.yaml", "db.sops.yaml", "tls.sops.yml", "api.sops.json", "sops.yaml"] {
            fs::write(d.join(name), "x: 1\n").unwrap();
        }
        let mut problems = Vec::new();
        let files = collect_files(&[d.to_path_buf()], &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(files, [d.join("sops.yaml"), d.join("web.yaml")]);
        assert!(!is_manifest_file(Path::new("/m/db.sops.yaml")) && is_manifest_file(Path::new("/m/db.yaml")));
    }

    #[test]
    fn a_device_named_directly_is_refused_unread() {
        let mut problems = Vec::new();
        assert!(collect_files(&[PathBuf::from("/dev/zero")], &mut problems).is_empty());
        assert_eq!(problems.len(), 1);
        assert!(read_file(Path::new("/dev/zero")).is_err());
    }

    #[test]
    fn files_over_the_limit_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.yaml");
        fs::write(&big, vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
        assert!(read_file(&big).unwrap_err().contains("4 MiB"));
        fs::write(&big, vec![b'#'; MAX_FILE_BYTES as usize]).unwrap();
        assert!(read_file(&big).is_ok());
        let e = read_capped(File::open("/dev/zero").unwrap()).unwrap_err();
        assert!(e.contains("4 MiB"), "{e}");
    }
}
