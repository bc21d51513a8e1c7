//! The real path behind a host path: the one I/O of the policy.
//!
//! Docker follows symbolic links when it mounts a bind source, so a bind of `./conf` where
//! `conf` is a link to `/` (a link committed to the repository a `git pull` updates) mounts
//! the host's root. The check therefore looks at the path as Docker will mount it, too.
//!
//! Invariants: only links in the longest leading part of the path that exists are resolved
//! (Docker refuses a bind source that does not exist); a path that cannot be read is checked as
//! written. The answer holds for the moment it is read: the policy vouches for what the folders
//! it allows hold, so those must not be writable by whom the policy guards against.

use std::path::Path;

use super::host_path::HostPath;

/// `path` with the symbolic links of its existing part resolved, when that makes it another
/// path.
pub fn real_path(path: &HostPath) -> Option<HostPath> {
    let parts = path.components();
    for keep in (0..=parts.len()).rev() {
        let head = HostPath::root().join(&parts[..keep]).to_string();
        if let Ok(real) = std::fs::canonicalize(Path::new(&head)) {
            let real = HostPath::parse(real.to_str()?).ok()?.join(&parts[keep..]);
            return (real != *path).then_some(real);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_in_the_existing_part_are_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(dir.path()).unwrap();
        std::os::unix::fs::symlink("/", base.join("root")).unwrap();
        std::fs::create_dir(base.join("plain")).unwrap();
        let path = |p: &str| HostPath::parse(&format!("{}/{p}", base.display())).unwrap();

        assert_eq!(real_path(&path("root")), Some(HostPath::root()));
        assert_eq!(real_path(&path("root/etc/not-there")).unwrap().to_string(), "/etc/not-there");
        assert_eq!(real_path(&path("plain")), None, "no link: the same path");
        assert_eq!(real_path(&path("missing/deeper")), None, "nothing to resolve");
    }
}
