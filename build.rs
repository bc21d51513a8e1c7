//! Embeds the git commit as `MOOR_GIT_COMMIT` for `moor --version` and `moor version`.
//!
//! Invariants: no dependencies (only the `git` binary, when present); never fails the build — without
//! git, or outside moor's own repository (a crates.io tarball unpacked inside some other checkout), the
//! commit is `unknown`.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    // Only this crate's own repository counts: a parent repository's commit would be a lie.
    let ours = git(&["rev-parse", "--show-toplevel"])
        .is_some_and(|top| Path::new(&top).canonicalize().ok() == Path::new(&manifest_dir).canonicalize().ok());
    let commit = if ours { git(&["rev-parse", "--short=7", "HEAD"]) } else { None };
    println!("cargo:rustc-env=MOOR_GIT_COMMIT={}", commit.as_deref().unwrap_or("unknown"));

    // Rerun when HEAD moves: HEAD itself (a checkout), the branch it points to (a commit), and
    // packed-refs (a gc). `--git-path` resolves them in a linked worktree too. Only existing files
    // are named: Cargo reruns a script on every build while a named file is missing.
    println!("cargo:rerun-if-changed=build.rs");
    if ours {
        let mut paths =
            vec![git(&["rev-parse", "--git-path", "HEAD"]), git(&["rev-parse", "--git-path", "packed-refs"])];
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
            paths.push(git(&["rev-parse", "--git-path", &reference]));
        }
        for path in paths.into_iter().flatten().filter(|p| Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
