//! A problem found while loading manifests, with where it was found.
//!
//! Invariant: `Display` is `path:line:col: message` whenever a location is known, and `path:
//! message` otherwise, so editors and CI annotators can jump to it.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// A field path inside one document, for example `spec.ports[1]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(pub Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

impl FieldPath {
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    pub fn key(&self, key: &str) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Key(key.to_string()));
        next
    }

    pub fn index(&self, index: usize) -> Self {
        let mut next = self.clone();
        next.0.push(Segment::Index(index));
        next
    }

    /// Parses a dotted path such as `spec.ports[1].host` (the form used in messages).
    pub fn parse(text: &str) -> Self {
        let mut path = FieldPath::root();
        for part in text.split('.').filter(|p| !p.is_empty()) {
            let mut rest = part;
            if let Some(open) = rest.find('[') {
                path = path.key(&rest[..open]);
                rest = &rest[open..];
                while let Some(close) = rest.find(']') {
                    if let Ok(i) = rest[1..close].parse() {
                        path = path.index(i);
                    }
                    rest = &rest[close + 1..];
                }
            } else {
                path = path.key(rest);
            }
        }
        path
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Key(k) if i == 0 => write!(f, "{k}")?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// The field the problem is about, such as `spec.ports[1]`; empty for the whole file.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let (Some(line), Some(col)) = (self.line, self.column) {
            write!(f, ":{line}:{col}")?;
        }
        write!(f, ": ")?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        write!(f, "{}", self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_and_parse_alike() {
        let p = FieldPath::root().key("spec").key("ports").index(1).key("host");
        assert_eq!(p.to_string(), "spec.ports[1].host");
        assert_eq!(FieldPath::parse("spec.ports[1].host"), p);
    }

    #[test]
    fn display_has_location_when_known() {
        let mut p = Problem {
            file: "m/web.yaml".into(),
            line: Some(3),
            column: Some(5),
            field: "spec.image".into(),
            message: "is required".into(),
        };
        assert_eq!(p.to_string(), "m/web.yaml:3:5: spec.image: is required");
        p.line = None;
        assert_eq!(p.to_string(), "m/web.yaml: spec.image: is required");
    }
}
