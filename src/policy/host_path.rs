//! Host paths as the policy compares them: absolute, normalised, and compared component by
//! component.
//!
//! Invariants:
//! - A [`HostPath`] is made only by [`HostPath::parse`], which normalises lexically: `.` and
//!   empty components (`//`, a trailing `/`) go, `..` takes its parent away (and stays at `/`
//!   at the root). `/etc/../proc` is `/proc`, whatever is on the disk.
//! - Comparisons are by components, never by string prefix: `/etcetera` is not under `/etc`.
//! - Symbolic links are not followed here (that is I/O: see `super::links`).

use std::fmt;

/// An absolute host path, normalised.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPath(Vec<String>);

/// Where a path lies from a protected one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// The same path.
    At,
    /// Inside it.
    Under,
    /// A folder that holds it: a bind of it exposes the protected path too.
    Contains,
}

impl HostPath {
    /// The root, `/`.
    pub fn root() -> HostPath {
        HostPath(Vec::new())
    }

    /// Parses an absolute path and normalises it.
    pub fn parse(text: &str) -> Result<HostPath, String> {
        if !text.starts_with('/') {
            return Err(format!("{text:?} is not an absolute path"));
        }
        let mut parts: Vec<String> = Vec::new();
        for part in text.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                other => parts.push(other.to_string()),
            }
        }
        Ok(HostPath(parts))
    }

    /// The path's components, `["var", "run", "docker.sock"]` for `/var/run/docker.sock`.
    pub fn components(&self) -> &[String] {
        &self.0
    }

    /// The last component; `None` for `/`.
    pub fn file_name(&self) -> Option<&str> {
        self.0.last().map(String::as_str)
    }

    /// True when `self` is `other` or inside it.
    pub fn is_at_or_under(&self, other: &HostPath) -> bool {
        self.0.starts_with(&other.0)
    }

    /// Where `self` lies from `protected`, when a bind of `self` would reach it.
    pub fn relation(&self, protected: &HostPath) -> Option<Relation> {
        if self.0 == protected.0 {
            Some(Relation::At)
        } else if self.0.starts_with(&protected.0) {
            Some(Relation::Under)
        } else if protected.0.starts_with(&self.0) {
            Some(Relation::Contains)
        } else {
            None
        }
    }

    /// `self` with `rest` (components, already normalised) appended.
    pub fn join(&self, rest: &[String]) -> HostPath {
        HostPath(self.0.iter().chain(rest).cloned().collect())
    }
}

impl fmt::Display for HostPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("/");
        }
        for part in &self.0 {
            write!(f, "/{part}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> HostPath {
        HostPath::parse(text).unwrap()
    }

    #[test]
    fn paths_are_normalised() {
        for (text, normal) in [
            ("/", "/"),
            ("//", "/"),
            ("/etc/", "/etc"),
            ("//etc//passwd", "/etc/passwd"),
            ("/etc/./passwd", "/etc/passwd"),
            ("/etc/../proc", "/proc"),
            ("/srv/data/../../etc", "/etc"),
            ("/../../..", "/"),
            ("/..", "/"),
            ("/srv/./.", "/srv"),
        ] {
            assert_eq!(path(text).to_string(), normal, "{text}");
        }
        assert!(HostPath::parse("etc/passwd").is_err());
        assert!(HostPath::parse("./conf").is_err());
        assert!(HostPath::parse("").is_err());
    }

    #[test]
    fn relations_compare_components_not_text() {
        let etc = path("/etc");
        assert_eq!(path("/etc").relation(&etc), Some(Relation::At));
        assert_eq!(path("/etc/").relation(&etc), Some(Relation::At));
        assert_eq!(path("/etc/localtime").relation(&etc), Some(Relation::Under));
        assert_eq!(path("/").relation(&etc), Some(Relation::Contains));
        assert_eq!(path("/etcetera").relation(&etc), None);
        assert_eq!(path("/et").relation(&etc), None);
        assert_eq!(path("/srv/etc").relation(&etc), None);
        assert!(path("/srv/data/x").is_at_or_under(&path("/srv/data")));
        assert!(!path("/srv/database").is_at_or_under(&path("/srv/data")));
        assert!(path("/anything").is_at_or_under(&HostPath::root()));
    }
}
