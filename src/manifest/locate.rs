//! Reads the YAML event stream of a file: where every key and value starts, and the tags that a
//! serde value would hide.
//!
//! serde and the JSON schema validator speak in paths (`spec.ports[1]`); users want
//! `file:line:col`. [`index_documents`] walks a file's events once and records where every key
//! and every value starts; it runs only for a file that has something to report, once per file
//! ([`FileText`]), so any number of problems is located in linear time. [`check_structure`] finds
//! YAML tags: `serde_yaml` applies or drops them before any visitor sees them (`!!binary` reads
//! as its base64 text), so they are found here, on the events, where they are still visible.
//! (Duplicate keys are visible to a visitor, and `super::value` finds them without a second
//! parse.)
//!
//! Invariants: documents are numbered in stream order, matching `serde_yaml`'s multi-document
//! iteration; lines and columns are 1-based, counted in characters of the text as given (a
//! leading byte-order mark is removed before either parser sees the text, see [`strip_bom`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::Marker;

use super::problem::{FieldPath, Segment};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// The text without a leading UTF-8 byte-order mark. Some Windows editors write one; libyaml
/// takes it for content before a `---` and yaml-rust2 always does, which would give a
/// misleading error on line 1.
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Where each key and value of one document starts.
#[derive(Debug, Default)]
pub struct DocumentIndex {
    values: HashMap<FieldPath, Position>,
    /// The last key that names each path (a key written twice is placed at its repetition).
    keys: HashMap<FieldPath, Position>,
    /// The first key that names each path, where it differs from the last.
    first_keys: HashMap<FieldPath, Position>,
    start: Option<Position>,
}

impl DocumentIndex {
    /// The position of the value at `path`, or of its closest ancestor that is known.
    pub fn value(&self, path: &FieldPath) -> Option<Position> {
        self.nearest(path, &self.values)
    }

    /// The position of the key that names `path` (for "unknown field" problems), falling back to
    /// the value.
    pub fn key(&self, path: &FieldPath) -> Option<Position> {
        self.keys.get(path).copied().or_else(|| self.value(path))
    }

    /// The first of the keys that name `path`, when it is written more than once.
    pub fn first_key(&self, path: &FieldPath) -> Option<Position> {
        self.first_keys.get(path).copied()
    }

    fn nearest(&self, path: &FieldPath, map: &HashMap<FieldPath, Position>) -> Option<Position> {
        let mut p = path.clone();
        loop {
            if let Some(pos) = map.get(&p) {
                return Some(*pos);
            }
            if p.0.pop().is_none() {
                return self.start;
            }
        }
    }
}

/// One file's text and, from the first time anything in it needs a place, its index.
///
/// Shared by every object loaded from the file (through [`super::model::Source`]) and by the
/// load of the file itself, so the file is indexed at most once however many problems it has:
/// indexing per problem is what made 2,000 duplicate names take a minute.
pub struct FileText {
    text: Box<str>,
    index: OnceLock<Vec<DocumentIndex>>,
}

impl FileText {
    pub fn new(text: &str) -> Self {
        FileText { text: text.into(), index: OnceLock::new() }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The index of document `n` (0-based), built for the whole file on the first call.
    pub fn document(&self, n: usize) -> Option<&DocumentIndex> {
        self.index.get_or_init(|| index_documents(&self.text)).get(n)
    }
}

impl PartialEq for FileText {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for FileText {}

impl fmt::Debug for FileText {
    // The text may be megabytes; a Service's Debug output should not carry it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileText({} bytes)", self.text.len())
    }
}

/// A problem in the YAML structure of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructureProblem {
    pub document: usize,
    pub path: FieldPath,
    pub position: Position,
    pub message: String,
}

/// What [`check_structure`] found in a file.
#[derive(Debug, Default)]
pub struct Structure {
    pub problems: Vec<StructureProblem>,
    /// Where the event parser gave up, and why. The caller reports it only when `serde_yaml` read
    /// the file without a syntax error: the documents after it went unchecked.
    pub error: Option<(Position, String)>,
}

/// Finds the YAML tags of a file (`!!binary` reads as its base64 text, `!!str` changes a
/// value's type; none is needed in a manifest). A tag starts with `!`: a text without one has
/// none, and need not be walked (see [`may_have_tags`]).
pub fn check_structure(text: &str) -> Structure {
    let mut walk = Walk::new(false);
    walk.run(text);
    walk.structure
}

/// False when `text` cannot hold a YAML tag, so that [`check_structure`]'s second parse is
/// spared for almost every file.
pub fn may_have_tags(text: &str) -> bool {
    text.contains('!')
}

/// Indexes every document of `text`. A syntax error ends the indexing early; the documents
/// before it keep their positions.
pub fn index_documents(text: &str) -> Vec<DocumentIndex> {
    let mut walk = Walk::new(true);
    walk.run(text);
    walk.docs
}

fn position(m: &Marker) -> Position {
    // yaml-rust2's column is 0-based (its doc comment notwithstanding); lines are 1-based.
    Position { line: m.line(), column: m.col() + 1 }
}

/// How a tag was written: `!!binary`, `!local`, `!<tag:example.com,2000:x>`, `!`.
fn tag_text(tag: &Tag) -> String {
    match tag.handle.as_str() {
        "tag:yaml.org,2002:" => format!("!!{}", tag.suffix),
        "" if tag.suffix == "!" => "!".into(),
        "" => format!("!<{}>", tag.suffix),
        handle => format!("{handle}{}", tag.suffix),
    }
}

/// What the next node of a mapping is.
enum Awaiting {
    Key,
    /// The value of this key; `None` after a key that is not a plain scalar (an alias, a
    /// mapping or a list: serde rejects those, this walk only keeps its balance).
    Value(Option<String>),
}

enum Frame {
    /// `keyed`: whether a key has been seen (the first one fixes the mapping's start).
    Mapping {
        awaiting: Awaiting,
        keyed: bool,
    },
    Sequence {
        next: usize,
    },
}

/// The role of a node in its parent.
enum Role {
    Root,
    Key,
    /// A value, under this segment (none after a key that is not a scalar).
    Value(Option<Segment>),
}

/// One pass over a file's events. The path of the innermost open container is `path`; each
/// frame but the root's added one segment to it.
struct Walk {
    index: bool,
    docs: Vec<DocumentIndex>,
    structure: Structure,
    document: Option<usize>,
    frames: Vec<Frame>,
    path: FieldPath,
}

impl Walk {
    fn new(index: bool) -> Self {
        Walk {
            index,
            docs: Vec::new(),
            structure: Structure::default(),
            document: None,
            frames: Vec::new(),
            path: FieldPath::root(),
        }
    }

    fn run(&mut self, text: &str) {
        let mut parser = Parser::new_from_str(text);
        loop {
            let (event, marker) = match parser.next_token() {
                Ok(next) => next,
                Err(e) => {
                    self.structure.error = Some((position(e.marker()), e.info().to_string()));
                    break;
                }
            };
            let pos = position(&marker);
            match event {
                Event::StreamEnd => break,
                Event::DocumentStart => {
                    let n = self.document.map_or(0, |n| n + 1);
                    self.document = Some(n);
                    if self.index {
                        self.docs.push(DocumentIndex { start: Some(pos), ..Default::default() });
                    }
                    self.frames.clear();
                    self.path = FieldPath::root();
                }
                Event::Scalar(value, _, _, tag) => {
                    let role = self.role();
                    self.check_tag(&role, tag.as_ref(), pos);
                    match role {
                        Role::Key => self.key(value, pos),
                        Role::Value(Some(segment)) => self.record_value(segment, pos),
                        Role::Root | Role::Value(None) => {}
                    }
                }
                Event::Alias(_) => match self.role() {
                    Role::Key => self.set_awaiting(Awaiting::Value(None)),
                    Role::Value(Some(segment)) => self.record_value(segment, pos),
                    Role::Root | Role::Value(None) => {}
                },
                Event::MappingStart(_, ref tag) | Event::SequenceStart(_, ref tag) => {
                    let role = self.role();
                    self.check_tag(&role, tag.as_ref(), pos);
                    let segment = match role {
                        Role::Root => None,
                        Role::Key => {
                            self.set_awaiting(Awaiting::Value(None));
                            Some(Segment::Key("?".into()))
                        }
                        Role::Value(segment) => Some(segment.unwrap_or_else(|| Segment::Key("?".into()))),
                    };
                    if let Some(segment) = segment {
                        self.path.0.push(segment);
                    }
                    if self.index {
                        let path = self.path.clone();
                        if let Some(doc) = self.docs.last_mut() {
                            doc.values.insert(path, pos);
                        }
                    }
                    self.frames.push(match event {
                        Event::MappingStart(..) => Frame::Mapping { awaiting: Awaiting::Key, keyed: false },
                        _ => Frame::Sequence { next: 0 },
                    });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    self.frames.pop();
                    if !self.frames.is_empty() {
                        self.path.0.pop();
                    }
                }
                _ => {}
            }
        }
    }

    /// The role of the node that starts now. Consumes the pending key of a mapping, or advances
    /// the index of a sequence.
    fn role(&mut self) -> Role {
        match self.frames.last_mut() {
            None => Role::Root,
            Some(Frame::Mapping { awaiting, .. }) => match std::mem::replace(awaiting, Awaiting::Key) {
                Awaiting::Key => Role::Key,
                Awaiting::Value(key) => Role::Value(key.map(Segment::Key)),
            },
            Some(Frame::Sequence { next }) => {
                *next += 1;
                Role::Value(Some(Segment::Index(*next - 1)))
            }
        }
    }

    fn set_awaiting(&mut self, to: Awaiting) {
        if let Some(Frame::Mapping { awaiting, .. }) = self.frames.last_mut() {
            *awaiting = to;
        }
    }

    /// A plain key of the innermost mapping.
    fn key(&mut self, key: String, pos: Position) {
        let Some(Frame::Mapping { awaiting, keyed }) = self.frames.last_mut() else {
            return;
        };
        if self.index {
            if let Some(doc) = self.docs.last_mut() {
                // yaml-rust2 marks a block mapping's start after its first key is scanned; the
                // first key is where the mapping really starts.
                if !*keyed {
                    if let Some(start) = doc.values.get_mut(&self.path) {
                        *start = (*start).min(pos);
                    }
                }
                let path = self.path.key(&key);
                if let Some(first) = doc.keys.insert(path.clone(), pos) {
                    doc.first_keys.entry(path).or_insert(first);
                }
            }
        }
        *keyed = true;
        *awaiting = Awaiting::Value(Some(key));
    }

    fn record_value(&mut self, segment: Segment, pos: Position) {
        if self.index {
            if let Some(doc) = self.docs.last_mut() {
                let mut path = self.path.clone();
                path.0.push(segment);
                doc.values.insert(path, pos);
            }
        }
    }

    fn check_tag(&mut self, role: &Role, tag: Option<&Tag>, pos: Position) {
        let (Some(tag), Some(document)) = (tag, self.document) else {
            return;
        };
        let mut path = self.path.clone();
        if let Role::Value(Some(segment)) = role {
            path.0.push(segment.clone());
        }
        let message = format!(
            "YAML tags such as {} are not accepted: write the value itself (in quotes for a string)",
            tag_text(tag)
        );
        self.structure.problems.push(StructureProblem { document, path, position: pos, message });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
apiVersion: moor/v1
kind: Service
spec:
  image: web:1
  ports:
    - \"80:80\"
    - container: 443
      host: 8443
---
kind: Volume
metadata: { name: data }
";

    fn at(line: usize, column: usize) -> Option<Position> {
        Some(Position { line, column })
    }

    #[test]
    fn keys_and_values_have_their_own_positions() {
        let docs = index_documents(TEXT);
        assert_eq!(docs.len(), 2);
        let d = &docs[0];
        assert_eq!(d.value(&FieldPath::parse("spec.image")), at(4, 10));
        assert_eq!(d.key(&FieldPath::parse("spec.image")), at(4, 3));
        assert_eq!(d.value(&FieldPath::parse("spec.ports[0]")), at(6, 7));
        assert_eq!(d.key(&FieldPath::parse("spec.ports[1].host")), at(8, 7));
        assert_eq!(d.value(&FieldPath::parse("spec.ports[1].host")), at(8, 13));
    }

    #[test]
    fn unknown_paths_fall_back_to_the_nearest_ancestor() {
        let docs = index_documents(TEXT);
        assert_eq!(docs[0].value(&FieldPath::parse("spec.ports[1].nope")), at(7, 7));
        assert_eq!(docs[1].value(&FieldPath::parse("metadata.name")), at(11, 19));
    }

    #[test]
    fn a_valid_stream_has_no_structure_problem() {
        let s = check_structure(TEXT);
        assert!(s.problems.is_empty() && s.error.is_none(), "{s:?}");
    }

    #[test]
    fn a_key_written_twice_is_placed_at_its_repetition_and_remembers_the_first() {
        let text = "spec:\n  image: x\n  env: { A: 1, A: 2 }\n  image: y\n  other: 1\n";
        let doc = &index_documents(text)[0];
        let image = FieldPath::parse("spec.image");
        assert_eq!(doc.key(&image), at(4, 3));
        assert_eq!(doc.first_key(&image), at(2, 3));
        assert_eq!(doc.key(&FieldPath::parse("spec.env.A")), at(3, 16));
        assert_eq!(doc.first_key(&FieldPath::parse("spec.env.A")), at(3, 10));
        assert_eq!(doc.first_key(&FieldPath::parse("spec.other")), None);
    }

    #[test]
    fn every_tag_is_found_with_its_field() {
        let text = "spec:\n  env:\n    KEY: !!binary aGVsbG8=\n  ports: [!!str 80]\n  x: !local { a: 1 }\n";
        assert!(may_have_tags(text) && !may_have_tags(TEXT));
        let found: Vec<_> =
            check_structure(text).problems.into_iter().map(|p| (p.path.to_string(), p.message)).collect();
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(found[0].0, "spec.env.KEY");
        assert!(found[0].1.contains("!!binary"), "{}", found[0].1);
        assert_eq!(found[1].0, "spec.ports[0]");
        assert!(found[1].1.contains("!!str"));
        assert_eq!(found[2].0, "spec.x");
        assert!(found[2].1.contains("!local"));
    }

    #[test]
    fn a_parser_error_is_kept_with_its_place() {
        let s = check_structure("a: [1, 2\n");
        let (pos, _) = s.error.expect("an error");
        assert_eq!(pos.line, 2);
    }

    #[test]
    fn a_file_is_indexed_once_for_all_its_documents() {
        let file = FileText::new(TEXT);
        let first = file.document(0).unwrap() as *const DocumentIndex;
        assert_eq!(file.document(1).unwrap().value(&FieldPath::parse("kind")), at(10, 7));
        assert_eq!(file.document(0).unwrap() as *const DocumentIndex, first, "indexed again");
        assert!(file.document(2).is_none());
    }
}
