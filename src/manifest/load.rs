//! Loading: files and folders in, a [`Desired`] set and every [`Problem`] out.
//!
//! Invariants:
//! - Every problem of every file is reported; one bad file never hides another's problems.
//! - `Desired::complete` is true only when every path was read and every document is valid.
//!   Prune relies on it: an incomplete load must never delete a running service.
//! - A file that cannot count as a manifest (not a regular file, a dangling symlink, no document
//!   in it) is a problem, never silently nothing: silence would prune what it declared.
//! - This is the only I/O of the manifest layer: reading folders and files.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::locate::index_documents;
use super::model::{self, FieldProblem, Source};
use super::problem::{FieldPath, Problem};
use super::raw;
use super::schema::{self, Kind};
use super::Desired;

/// The result of loading: what is desired, and what is wrong.
#[derive(Debug, Default)]
pub struct Loaded {
    pub desired: Desired,
    pub problems: Vec<Problem>,
    /// The manifest files read, in order.
    pub files: Vec<PathBuf>,
}

/// True for the files a folder scan picks up: `*.yaml` and `*.yml`, except dotfiles (editor swap
/// and backup files, `.#foo.yaml` locks).
pub fn is_manifest_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    !name.starts_with('.') && (name.ends_with(".yaml") || name.ends_with(".yml"))
}

/// Lists the manifest files of `paths`: a file is taken as it is, a folder is scanned (not
/// recursively, as `kubectl apply -f DIR`) in name order.
fn collect_files(paths: &[PathBuf], problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            match fs::read_dir(path) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> =
                        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| is_manifest_file(p)).collect();
                    found.sort();
                    for file in found {
                        // A manifest name that is not a regular file (a dangling symlink, a
                        // folder, a FIFO) is a problem, never a file that is simply not there:
                        // skipping it would prune its service.
                        if file.is_file() {
                            files.push(file);
                        } else {
                            problems.push(file_problem(&file, not_a_file(&file)));
                        }
                    }
                }
                Err(e) => problems.push(file_problem(path, format!("cannot read folder: {e}"))),
            }
        } else if path.exists() {
            files.push(path.clone());
        } else {
            problems.push(file_problem(path, "no such file or folder".into()));
        }
    }
    files
}

/// Why `path`, named like a manifest, cannot be read as one.
fn not_a_file(path: &Path) -> String {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => "a symbolic link whose target is missing or not a file".into(),
        Ok(m) if m.is_dir() => "a folder, not a manifest file".into(),
        Ok(_) => "not a regular file".into(),
        Err(e) => format!("cannot read file: {e}"),
    }
}

fn file_problem(file: &Path, message: String) -> Problem {
    Problem { file: file.to_path_buf(), line: None, column: None, field: String::new(), message }
}

/// Loads every manifest under `paths`.
pub fn load_paths(paths: &[PathBuf]) -> Loaded {
    let mut loaded = Loaded::default();
    loaded.files = collect_files(paths, &mut loaded.problems);
    let mut objects = Vec::new();
    for file in loaded.files.clone() {
        match fs::read_to_string(&file) {
            Ok(text) => load_text(&file, &text, &mut objects, &mut loaded.problems),
            Err(e) => loaded.problems.push(file_problem(&file, format!("cannot read file: {e}"))),
        }
    }
    finish(loaded, objects)
}

/// Loads the manifest files of folder `dir` as if they were in folder `shown`: problems name
/// `shown/FILE`, and relative paths in the manifests (bind mounts) resolve against `shown`.
///
/// The git source reads a revision's snapshot (`snapshots/<sha>`) but presents it under the stable
/// `current` link, so a commit that does not touch a service's manifest never changes that
/// service's bind paths, and so its spec hash.
pub fn load_dir_as(dir: &Path, shown: &Path) -> Loaded {
    let mut problems = Vec::new();
    let files = collect_files(&[dir.to_path_buf()], &mut problems);
    let mut texts = Vec::new();
    for file in &files {
        let as_shown = shown.join(file.file_name().unwrap_or_default());
        match fs::read_to_string(file) {
            Ok(text) => texts.push((as_shown, text)),
            Err(e) => problems.push(file_problem(&as_shown, format!("cannot read file: {e}"))),
        }
    }
    let mut loaded = load_texts(&texts);
    if !problems.is_empty() {
        loaded.problems.extend(problems);
        loaded.problems.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        loaded.desired.complete = false;
    }
    loaded
}

/// Loads manifests from text, as if read from `file` (for tests, benchmarks and tools).
pub fn load_str(file: &Path, text: &str) -> Loaded {
    load_texts(&[(file.to_path_buf(), text.to_string())])
}

/// Loads manifests from several texts, each as if read from its file: what a folder gives,
/// without the folder (for in-memory sources).
pub fn load_texts(files: &[(PathBuf, String)]) -> Loaded {
    let mut loaded = Loaded { files: files.iter().map(|(f, _)| f.clone()).collect(), ..Loaded::default() };
    let mut objects = Vec::new();
    for (file, text) in files {
        load_text(file, text, &mut objects, &mut loaded.problems);
    }
    finish(loaded, objects)
}

/// Applies the cross-file rules, orders the problems by place, and decides completeness.
fn finish(mut loaded: Loaded, objects: Vec<Object>) -> Loaded {
    loaded.desired = assemble(objects, &mut loaded.problems);
    loaded.problems.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    loaded.desired.complete = loaded.problems.is_empty();
    loaded
}

/// One valid object and where it came from.
#[derive(Debug)]
enum Object {
    Service(Box<model::Service>),
    Network(model::Network),
    Volume(model::Volume),
}

/// Parses the documents of one file and converts each valid one.
fn load_text(file: &Path, text: &str, objects: &mut Vec<Object>, problems: &mut Vec<Problem>) {
    let shared: std::sync::Arc<str> = text.into();
    // Positions are needed only to report a problem: index the text on the first one.
    let indexes = std::cell::OnceCell::new();
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = std::path::absolute(&base).unwrap_or(base);
    let mut documents = 0;
    for (n, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = match Value::deserialize(document) {
            Ok(v) => v,
            Err(e) => {
                let (line, column) = e.location().map(|l| (Some(l.line()), Some(l.column()))).unwrap_or_default();
                let message = e.to_string();
                // serde_yaml appends " at line L column C"; the location is already in front.
                let message = message.split(" at line ").next().unwrap_or(&message).to_string();
                problems.push(Problem { file: file.into(), line, column, field: String::new(), message });
                // A syntax error leaves the rest of the stream unreadable.
                return;
            }
        };
        if value.is_null() {
            continue; // an empty document, such as after a trailing `---`
        }
        documents += 1;
        let index = || indexes.get_or_init(|| index_documents(text)).get(n);
        let locate = |path: &FieldPath, on_key: bool, message: String| {
            let pos = index().and_then(|i| if on_key { i.key(path) } else { i.value(path) });
            Problem {
                file: file.into(),
                line: pos.map(|p| p.line),
                column: pos.map(|p| p.column),
                field: path.to_string(),
                message,
            }
        };
        match check_document(value, &base) {
            Ok(mut object) => {
                let source = Some(Source { file: file.into(), document: n, text: shared.clone() });
                match &mut object {
                    Object::Service(s) => s.source = source,
                    Object::Network(n) => n.source = source,
                    Object::Volume(v) => v.source = source,
                }
                objects.push(object);
            }
            Err(found) => problems.extend(found.into_iter().map(|(p, k, m)| locate(&p, k, m))),
        }
    }
    if documents == 0 {
        // What a truncated file or an editor's non-atomic save looks like for a moment: taking
        // it for "no objects" would prune what it declared.
        let message = "no manifest document in this file (empty, or only comments)".to_string();
        problems.push(file_problem(file, message));
    }
}

type Found = Vec<(FieldPath, bool, String)>;

fn field_problems(found: Vec<FieldProblem>) -> Found {
    found.into_iter().map(|p| (p.path, false, p.message)).collect()
}

/// Checks one document: apiVersion and kind first (so that a wrong kind is one clear message),
/// then the kind's schema, then the semantic rules.
fn check_document(mut value: Value, base: &Path) -> Result<Object, Found> {
    let root = FieldPath::root();
    let Some(map) = value.as_object_mut() else {
        return Err(vec![(
            root,
            false,
            "a manifest must be a mapping with apiVersion, kind, metadata and spec".into(),
        )]);
    };
    let mut found = Found::new();
    match map.get("apiVersion") {
        None => found.push((root.clone(), false, "missing apiVersion: expected moor/v1".into())),
        Some(Value::String(v)) if v == "moor/v1" => {}
        Some(other) => {
            found.push((root.key("apiVersion"), false, format!("unsupported version {other}: expected moor/v1")))
        }
    }
    let kind = match map.remove("kind") {
        None => {
            found.push((root.clone(), false, "missing kind: expected Service, Network or Volume".into()));
            None
        }
        Some(k) => {
            let kind = k.as_str().and_then(Kind::parse);
            if kind.is_none() {
                found.push((
                    root.key("kind"),
                    false,
                    format!("{k} is not a kind: expected Service, Network or Volume"),
                ));
            }
            kind
        }
    };
    let Some(kind) = kind.filter(|_| found.is_empty()) else {
        return Err(found);
    };

    // Fast path: the schema is generated from these serde types, so a document serde decodes
    // conforms to it. The schema validator runs only to explain a document serde rejects.
    let fast = match kind {
        Kind::Service => raw::ServiceDoc::deserialize(&value)
            .ok()
            .map(|d| model::convert_service(&d, base).map(|s| Object::Service(Box::new(s)))),
        Kind::Network => {
            raw::NetworkDoc::deserialize(&value).ok().map(|d| model::convert_network(&d).map(Object::Network))
        }
        Kind::Volume => raw::VolumeDoc::deserialize(&value).ok().map(|d| model::convert_volume(&d).map(Object::Volume)),
    };
    if let Some(converted) = fast {
        return converted.map_err(field_problems);
    }
    let violations = schema::violations(kind, &value);
    for v in &violations {
        remove_field(&mut value, &v.path);
    }
    let flagged: Vec<FieldPath> = violations.iter().map(|v| v.path.clone()).collect();
    found.extend(violations.into_iter().map(|v| (v.path, v.on_key, v.message)));
    // With the violating fields taken out, the semantic rules still run on the rest, so that
    // one pass reports every problem. A violation that cannot be taken out (a missing required
    // field, a bad list item) leaves the document undecodable: then only the schema speaks.
    let converted = match kind {
        Kind::Service => decode::<raw::ServiceDoc>(value)
            .map(|d| model::convert_service(&d, base).map(|s| Object::Service(Box::new(s)))),
        Kind::Network => decode::<raw::NetworkDoc>(value).map(|d| model::convert_network(&d).map(Object::Network)),
        Kind::Volume => decode::<raw::VolumeDoc>(value).map(|d| model::convert_volume(&d).map(Object::Volume)),
    };
    match converted {
        Some(Ok(object)) if found.is_empty() => return Ok(object),
        Some(Err(problems)) => found.extend(
            field_problems(problems).into_iter().filter(|(path, ..)| !flagged.iter().any(|f| path.0.starts_with(&f.0))),
        ),
        None if found.is_empty() => found.push((root, false, "this document cannot be decoded".into())),
        _ => {}
    }
    Err(found)
}

fn decode<T: serde::de::DeserializeOwned>(value: Value) -> Option<T> {
    serde_json::from_value(value).ok()
}

/// Removes the object key at `path` (a no-op for list items and for the root).
fn remove_field(value: &mut Value, path: &FieldPath) {
    use super::problem::Segment;
    let Some((Segment::Key(last), parents)) = path.0.split_last() else {
        return;
    };
    let mut node = value;
    for seg in parents {
        node = match (seg, node) {
            (Segment::Key(k), Value::Object(m)) => match m.get_mut(k) {
                Some(v) => v,
                None => return,
            },
            (Segment::Index(i), Value::Array(a)) => match a.get_mut(*i) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    if let Value::Object(m) = node {
        m.remove(last);
    }
}

fn source_text(source: &Option<Source>) -> String {
    match source.as_ref().map(|s| (s, s.position())) {
        Some((s, (Some(l), Some(c)))) => format!("{}:{l}:{c}", s.file.display()),
        Some((s, _)) => s.file.display().to_string(),
        None => "another manifest".into(),
    }
}

fn source_problem(source: &Option<Source>, field: &str, message: String) -> Problem {
    let (file, (line, column)) = match source {
        Some(s) => (s.file.clone(), s.position()),
        None => (PathBuf::new(), (None, None)),
    };
    Problem { file, line, column, field: field.into(), message }
}

/// Puts the objects of all files together and applies the cross-file rules: unique names per
/// kind, and `dependsOn` naming declared services without a cycle.
fn assemble(objects: Vec<Object>, problems: &mut Vec<Problem>) -> Desired {
    let mut desired = Desired::default();
    fn insert<T>(
        map: &mut BTreeMap<String, T>,
        name: String,
        item: T,
        source: impl Fn(&T) -> Option<Source>,
        kind: &str,
        problems: &mut Vec<Problem>,
    ) {
        if let Some(first) = map.get(&name) {
            let message = format!("duplicate {kind} {name:?}: already defined at {}", source_text(&source(first)));
            problems.push(source_problem(&source(&item), "metadata.name", message));
        } else {
            map.insert(name, item);
        }
    }
    for object in objects {
        match object {
            Object::Service(s) => {
                insert(&mut desired.services, s.name.clone(), *s, |s| s.source.clone(), "Service", problems)
            }
            Object::Network(n) => {
                insert(&mut desired.networks, n.name.clone(), n, |n| n.source.clone(), "Network", problems)
            }
            Object::Volume(v) => {
                insert(&mut desired.volumes, v.name.clone(), v, |v| v.source.clone(), "Volume", problems)
            }
        }
    }
    for service in desired.services.values() {
        for dep in service.depends_on.keys() {
            if !desired.services.contains_key(dep) {
                let message = format!("depends on {dep:?}, which no Service manifest declares");
                problems.push(source_problem(&service.source, "spec.dependsOn", message));
            }
        }
    }
    if let Some(cycle) = find_cycle(&desired) {
        let first = &desired.services[&cycle[0]];
        let message = format!("dependsOn forms a cycle: {}", cycle.join(" -> "));
        problems.push(source_problem(&first.source, "spec.dependsOn", message));
    }
    desired
}

/// Finds one dependency cycle, as a path that returns to its start.
fn find_cycle(desired: &Desired) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit(
        name: &str,
        d: &Desired,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(name) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = stack.iter().position(|n| n == name).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(name.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(name.to_string(), Mark::Visiting);
        stack.push(name.to_string());
        if let Some(service) = d.services.get(name) {
            for dep in service.depends_on.keys() {
                if let Some(cycle) = visit(dep, d, marks, stack) {
                    return Some(cycle);
                }
            }
        }
        stack.pop();
        marks.insert(name.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    desired.services.keys().find_map(|name| visit(name, desired, &mut marks, &mut Vec::new()))
}
