//! Maps a field path inside a YAML document back to a line and column.
//!
//! serde and the JSON schema validator speak in paths (`spec.ports[1]`); users want
//! `file:line:col`. This walks the YAML event stream once and records where every key and every
//! value starts.
//!
//! Invariants: documents are indexed in stream order, matching `serde_yaml`'s multi-document
//! iteration; lines and columns are 1-based.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::Marker;

use super::problem::FieldPath;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Where each key and value of one document starts.
#[derive(Debug, Default)]
pub struct DocumentIndex {
    values: HashMap<FieldPath, Position>,
    keys: HashMap<FieldPath, Position>,
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

enum Frame {
    Mapping { path: FieldPath, key: Option<String> },
    Sequence { path: FieldPath, next: usize },
}

fn position(m: &Marker) -> Position {
    // yaml-rust2's column is 0-based (its doc comment notwithstanding); lines are 1-based.
    Position { line: m.line(), column: m.col() + 1 }
}

/// Indexes every document of `text`. A syntax error ends the indexing early; the documents
/// before it keep their positions.
pub fn index_documents(text: &str) -> Vec<DocumentIndex> {
    let mut docs = Vec::new();
    let mut current: Option<DocumentIndex> = None;
    let mut stack: Vec<Frame> = Vec::new();
    let mut parser = Parser::new_from_str(text);
    while let Ok((event, marker)) = parser.next_token() {
        let pos = position(&marker);
        match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                current = Some(DocumentIndex { start: Some(pos), ..Default::default() });
                stack.clear();
            }
            Event::DocumentEnd => {
                if let Some(doc) = current.take() {
                    docs.push(doc);
                }
            }
            Event::Scalar(value, ..) => {
                let Some(doc) = current.as_mut() else {
                    continue;
                };
                if let Some(Frame::Mapping { path, key }) = stack.last_mut() {
                    if key.is_none() {
                        // yaml-rust2 marks a block mapping's start after its first key is
                        // scanned; the first key is where the mapping really starts.
                        if let Some(start) = doc.values.get_mut(path) {
                            if (pos.line, pos.column) < (start.line, start.column) {
                                *start = pos;
                            }
                        }
                        doc.keys.insert(path.key(&value), pos);
                        *key = Some(value);
                        continue;
                    }
                }
                if let Some(path) = node_path(&mut stack) {
                    doc.values.insert(path, pos);
                }
            }
            Event::Alias(_) => {
                if let Some(path) = node_path(&mut stack) {
                    if let Some(doc) = current.as_mut() {
                        doc.values.insert(path, pos);
                    }
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let path = if stack.is_empty() { Some(FieldPath::root()) } else { node_path(&mut stack) };
                let Some(path) = path else {
                    // A complex mapping key; keep the stack balanced without indexing it.
                    stack.push(Frame::Sequence { path: FieldPath::root().key("?"), next: 0 });
                    continue;
                };
                if let Some(doc) = current.as_mut() {
                    doc.values.insert(path.clone(), pos);
                }
                stack.push(match event {
                    Event::MappingStart(..) => Frame::Mapping { path, key: None },
                    _ => Frame::Sequence { path, next: 0 },
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            _ => {}
        }
    }
    if let Some(doc) = current.take() {
        docs.push(doc);
    }
    docs
}

/// The path of the node that starts now, as seen from its parent frame. Consumes the pending
/// key of a mapping, or advances the index of a sequence. Returns `None` for a node in key
/// position that is not a scalar.
fn node_path(stack: &mut [Frame]) -> Option<FieldPath> {
    match stack.last_mut()? {
        Frame::Mapping { path, key } => key.take().map(|k| path.key(&k)),
        Frame::Sequence { path, next } => {
            let p = path.index(*next);
            *next += 1;
            Some(p)
        }
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
}
