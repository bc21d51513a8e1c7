//! Writing the translated files: all or nothing.
//!
//! Invariants: every conflict is found before anything is written (an existing file with other
//! content is refused unless `force`; one with the same content is left alone); the files are
//! written into a temporary folder beside the target, then each is renamed into place, so no
//! file is ever seen half written; env files are created with mode 0600.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{ImportError, OutFile};

fn io(path: &Path, e: std::io::Error) -> ImportError {
    ImportError::File { path: path.to_path_buf(), message: e.to_string() }
}

/// Writes `files` into `dir` (created if missing); returns the paths written.
pub fn write(files: &[OutFile], dir: &Path, force: bool) -> Result<Vec<PathBuf>, ImportError> {
    let mut conflicts = Vec::new();
    let mut todo = Vec::new();
    for file in files {
        let path = dir.join(&file.name);
        match fs::read(&path) {
            Ok(old) if old == file.content.as_bytes() => {}
            Ok(_) if !force => conflicts.push(path.display().to_string()),
            Ok(_) => todo.push(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => todo.push(file),
            Err(e) => return Err(io(&path, e)),
        }
    }
    if !conflicts.is_empty() {
        return Err(ImportError::Other(format!(
            "would overwrite files with other content (--force to replace them): {}",
            conflicts.join(", ")
        )));
    }
    fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let staging = tempfile::Builder::new().prefix(".moor-import-").tempdir_in(dir).map_err(|e| io(dir, e))?;
    for file in &todo {
        let path = staging.path().join(&file.name);
        // Copied env and secret files go to a subfolder (`files/`).
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        let mode = if file.private { 0o600 } else { 0o644 };
        let mut out =
            fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&path).map_err(|e| io(&path, e))?;
        out.write_all(file.content.as_bytes()).and_then(|()| out.sync_all()).map_err(|e| io(&path, e))?;
    }
    let mut written = Vec::new();
    for file in &todo {
        let to = dir.join(&file.name);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        fs::rename(staging.path().join(&file.name), &to).map_err(|e| io(&to, e))?;
        written.push(to);
    }
    Ok(written)
}
