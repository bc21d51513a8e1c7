//! Loading: files and folders in, a [`Desired`] set and every [`Problem`] out.
//!
//! Invariants:
//! - Every problem of every file is reported; one bad file never hides another's problems.
//! - `Desired::complete` is true only when every path was read and every document is valid.
//!   Prune relies on it: an incomplete load must never delete a running service. A file that
//!   names nothing (empty, or only comments and `---`) is a problem too: a truncated manifest
//!   would otherwise read as deleted services.
//! - A file that cannot count as a manifest (not a regular file, a dangling symlink, larger than
//!   the cap) is a problem, never silently nothing: silence would prune what it declared.
//! - A document is never taken with what a JSON value would hide: a duplicate key, a value JSON
//!   cannot hold (`.inf`; both found by `value` in the one `serde_yaml` pass), or a YAML tag
//!   (found by yaml-rust2 on the events, in a second pass run only on a text with a `!`).
//!   Positions are indexed at most once per file, only when the file has something to report,
//!   so locating is linear in the problems.
//! - Messages never quote a value that may be free text (see `schema` and `value`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::convert_refs;
use super::limits;
use super::locate::{check_structure, may_have_tags, strip_bom, FileText, Position, Structure};
use super::model::{self, FieldProblem, Source};
use super::network;
use super::problem::{FieldPath, Problem};
use super::raw;
use super::read::{self, Unreadable};
use super::refs;
use super::schema::{self, Kind};
use super::value;
use super::Desired;

pub use super::read::is_manifest_file;

/// The result of loading: what is desired, what is wrong, and what is allowed but probably not
/// meant.
#[derive(Debug, Default)]
pub struct Loaded {
    pub desired: Desired,
    pub problems: Vec<Problem>,
    /// Not problems: the load stays complete. Shown on stderr by the commands and logged by the
    /// controller (a registry-check interval under 10 s, for instance).
    pub warnings: Vec<Problem>,
    /// The manifest files read, in order.
    pub files: Vec<PathBuf>,
}

fn file_problem(file: &Path, message: String) -> Problem {
    Problem { file: file.to_path_buf(), line: None, column: None, field: String::new(), message }
}

fn unreadable_problem(u: Unreadable) -> Problem {
    file_problem(&u.path, u.message)
}

/// Loads every manifest under `paths`.
pub fn load_paths(paths: &[PathBuf]) -> Loaded {
    let mut unreadable = Vec::new();
    let files = read::collect_files(paths, &mut unreadable);
    let mut loaded = Loaded { files: files.clone(), ..Loaded::default() };
    loaded.problems.extend(unreadable.into_iter().map(unreadable_problem));
    let mut objects = Vec::new();
    for file in files {
        match read::read_file(&file) {
            Ok(text) => load_text(&file, &text, &mut objects, &mut loaded),
            Err(message) => loaded.problems.push(file_problem(&file, message)),
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
    let as_shown = |file: &Path| shown.join(file.file_name().unwrap_or_default());
    let mut unreadable = Vec::new();
    let files = read::collect_files(&[dir.to_path_buf()], &mut unreadable);
    let mut problems: Vec<Problem> = unreadable
        .into_iter()
        .map(|u| Problem {
            file: if u.path == dir { shown.to_path_buf() } else { as_shown(&u.path) },
            ..unreadable_problem(u)
        })
        .collect();
    let mut texts = Vec::new();
    for file in &files {
        match read::read_file(file) {
            Ok(text) => texts.push((as_shown(file), text)),
            Err(message) => problems.push(file_problem(&as_shown(file), message)),
        }
    }
    let mut loaded = load_texts(&texts);
    if !problems.is_empty() {
        loaded.problems.extend(problems);
        sort_by_place(&mut loaded.problems);
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
        load_text(file, text, &mut objects, &mut loaded);
    }
    finish(loaded, objects)
}

fn sort_by_place(problems: &mut [Problem]) {
    problems.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
}

/// Applies the cross-file rules, orders the problems by place, and decides completeness.
fn finish(mut loaded: Loaded, objects: Vec<Object>) -> Loaded {
    loaded.desired = assemble(objects, &mut loaded.problems);
    sort_by_place(&mut loaded.problems);
    sort_by_place(&mut loaded.warnings);
    loaded.desired.complete = loaded.problems.is_empty();
    loaded
}

/// One valid object and where it came from.
#[derive(Debug)]
enum Object {
    Service(Box<model::Service>),
    Network(model::Network),
    Volume(model::Volume),
    Secret(refs::Secret),
}

/// Parses the documents of one file and converts each valid one.
fn load_text(file: &Path, text: &str, objects: &mut Vec<Object>, loaded: &mut Loaded) {
    if let Err(message) = read::check_size(text) {
        return loaded.problems.push(file_problem(file, message));
    }
    let text = strip_bom(text);
    // Positions are needed only to report something: the file is indexed on the first call.
    let shared = Arc::new(FileText::new(text));
    let locate = |n: usize, path: &FieldPath, on_key: bool, message: String| {
        let index = shared.document(n);
        let pos = index.and_then(|i| if on_key { i.key(path) } else { i.value(path) });
        Problem {
            file: file.into(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            field: path.to_string(),
            message,
        }
    };
    let problems_before = loaded.problems.len();
    let structure = if may_have_tags(text) { check_structure(text) } else { Structure::default() };
    // The fields each document's structure problems are about: the document is not taken, and
    // what its checks say under them would only repeat the problem.
    let mut flagged: BTreeMap<usize, Vec<FieldPath>> = BTreeMap::new();
    for p in structure.problems {
        flagged.entry(p.document).or_default().push(p.path.clone());
        loaded.problems.push(Problem {
            file: file.into(),
            line: Some(p.position.line),
            column: Some(p.position.column),
            field: p.path.to_string(),
            message: p.message,
        });
    }
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = std::path::absolute(&base).unwrap_or(base);
    let mut documents = 0;
    let mut syntax_error = false;
    for (n, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let (value, values_flagged) = match value::document(document) {
            Ok(v) => v,
            Err(e) => {
                let (line, column) = e.location().map(|l| (Some(l.line()), Some(l.column()))).unwrap_or_default();
                let message = e.to_string();
                // serde_yaml appends " at line L column C"; the location is already in front.
                let message = message.split(" at line ").next().unwrap_or(&message).to_string();
                loaded.problems.push(Problem { file: file.into(), line, column, field: String::new(), message });
                // A syntax error leaves the rest of the stream unreadable.
                syntax_error = true;
                break;
            }
        };
        let mut flagged = flagged.remove(&n).unwrap_or_default();
        for f in values_flagged {
            if flagged.contains(&f.path) {
                continue; // a key written three times is one problem
            }
            let problem = match f.flag {
                value::Flag::DuplicateKey => duplicate_key(n, &f.path, &shared),
                flag => (false, flag.message().to_string()),
            };
            loaded.problems.push(locate(n, &f.path, problem.0, problem.1));
            flagged.push(f.path);
        }
        if value.is_null() && flagged.is_empty() {
            continue; // an empty document, such as after a trailing `---`
        }
        documents += 1;
        let mut value = value;
        modes_as_written(&mut value, n, &shared);
        match check_document(value, &base) {
            Ok(mut object) if flagged.is_empty() => {
                let source = Some(Source { file: file.into(), document: n, text: shared.clone() });
                match &mut object {
                    Object::Service(s) => {
                        for (path, on_key, message) in service_warnings(s) {
                            loaded.warnings.push(locate(n, &path, on_key, message));
                        }
                        s.source = source
                    }
                    Object::Network(n) => n.source = source,
                    Object::Volume(v) => v.source = source,
                    Object::Secret(s) => s.source = source,
                }
                objects.push(object);
            }
            Ok(_) => {}
            Err(found) => loaded.problems.extend(
                found
                    .into_iter()
                    .filter(|(p, ..)| !flagged.iter().any(|f| p.0.starts_with(&f.0)))
                    .map(|(p, k, m)| locate(n, &p, k, m)),
            ),
        }
    }
    if !syntax_error {
        // yaml-rust2 stopped where libyaml did not: the documents after that point went
        // unchecked for tags, so the file cannot be taken as it reads.
        if let Some((pos, message)) = structure.error {
            loaded.problems.push(Problem {
                file: file.into(),
                line: Some(pos.line),
                column: Some(pos.column),
                field: String::new(),
                message: format!("cannot be read to the end: {message}"),
            });
        }
    }
    if documents == 0 && loaded.problems.len() == problems_before {
        loaded.problems.push(file_problem(
            file,
            "no document in this file: an empty manifest would read as deleted services; delete the file instead"
                .into(),
        ));
    }
}

/// The message of a key written twice, which names where it was first written: the problem
/// itself is placed at the repetition (on the key).
fn duplicate_key(n: usize, path: &FieldPath, file: &FileText) -> (bool, String) {
    let name = match path.0.last() {
        Some(super::problem::Segment::Key(k)) => k.as_str(),
        _ => "",
    };
    let message = match file.document(n).and_then(|d| d.first_key(path)) {
        Some(first) => format!(
            "duplicate key {name:?} (first at line {}, column {}): YAML would keep only the last",
            first.line, first.column
        ),
        None => format!("duplicate key {name:?}: YAML would keep only the last"),
    };
    (true, message)
}

/// What is allowed but probably not meant: `(field, on its key, message)`.
fn service_warnings(s: &model::Service) -> Vec<(FieldPath, bool, String)> {
    let update = FieldPath::parse("spec.update");
    let mut found: Vec<_> = limits::update_warnings(s.update.watch == model::Watch::Digest, s.update.interval, &update)
        .into_iter()
        .map(|(path, message)| (path, false, message))
        .collect();
    // The resolver seals such a value (a digest in the labels, `(secret)` in output); the warning
    // says where it belongs. It names the variable, never its value.
    for name in s.container.env.keys().filter(|name| crate::secrets::looks_secret(name)) {
        let message = format!(
            "{name} looks like a secret: move it into a Secret and reference it with {{ secret, key }}; its value is kept out of labels and output meanwhile"
        );
        found.push((FieldPath::root().key("spec").key("env").key(name), true, message));
    }
    found
}

/// A file mode written as a YAML number reads as that number: `0o400` as 256. The conversion
/// reads a number's decimal digits as octal digits (`400` is 0o400, what a compose user means),
/// which would silently take `0o400` for 0o256; so a number written in any other way than
/// decimal digits is passed on as the text it was written as, which the conversion reads as
/// octal text (`0o400`) or refuses by name (`0x100`). Only a file with a mode written as a number
/// has its positions indexed for this.
fn modes_as_written(value: &mut Value, n: usize, file: &FileText) {
    for list in ["secrets", "configs"] {
        let Some(items) = value.pointer_mut(&format!("/spec/{list}")).and_then(Value::as_array_mut) else {
            continue;
        };
        for (i, item) in items.iter_mut().enumerate() {
            let Some(mode) = item.get_mut("mode").filter(|m| m.is_number()) else {
                continue;
            };
            let path = FieldPath::root().key("spec").key(list).index(i).key("mode");
            let written = file.document(n).and_then(|d| d.value(&path)).and_then(|p| scalar_at(file.text(), p));
            // Anything else (an alias to a number) keeps its number.
            if let Some(text) = written.filter(|t| t.starts_with(|c: char| c.is_ascii_digit() || c == '+')) {
                if !text.bytes().all(|b| b.is_ascii_digit()) {
                    *mode = Value::String(text.to_string());
                }
            }
        }
    }
}

/// The plain scalar that starts at `pos` (1-based line and column, in characters).
fn scalar_at(text: &str, pos: Position) -> Option<&str> {
    let line = text.lines().nth(pos.line.checked_sub(1)?)?;
    let start = line.char_indices().nth(pos.column.checked_sub(1)?)?.0;
    let rest = &line[start..];
    let end = rest.find(|c: char| c.is_whitespace() || ",]}#".contains(c)).unwrap_or(rest.len());
    Some(&rest[..end])
}

type Found = Vec<(FieldPath, bool, String)>;

fn field_problems(found: Vec<FieldProblem>) -> Found {
    found.into_iter().map(|p| (p.path, p.on_key, p.message)).collect()
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
        Some(Value::String(v)) if is_name(v) => {
            found.push((root.key("apiVersion"), false, format!("unsupported version {v:?}: expected moor/v1")))
        }
        Some(_) => found.push((root.key("apiVersion"), false, "must be moor/v1".into())),
    }
    let kind = match map.remove("kind") {
        None => {
            found.push((root.clone(), false, format!("missing kind: expected {}", Kind::NAMES)));
            None
        }
        Some(k) => {
            let kind = k.as_str().and_then(Kind::parse);
            if kind.is_none() {
                let message = match k.as_str().filter(|k| is_name(k)) {
                    Some(k) => format!("{k:?} is not a kind: expected {}", Kind::NAMES),
                    None => format!("must be {}", Kind::NAMES),
                };
                found.push((root.key("kind"), false, message));
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
            raw::NetworkDoc::deserialize(&value).ok().map(|d| network::convert_network(&d).map(Object::Network))
        }
        Kind::Volume => raw::VolumeDoc::deserialize(&value).ok().map(|d| model::convert_volume(&d).map(Object::Volume)),
        Kind::Secret => {
            raw::SecretDoc::deserialize(&value).ok().map(|d| convert_refs::convert_secret(&d, base).map(Object::Secret))
        }
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
        Kind::Network => decode::<raw::NetworkDoc>(value).map(|d| network::convert_network(&d).map(Object::Network)),
        Kind::Volume => decode::<raw::VolumeDoc>(value).map(|d| model::convert_volume(&d).map(Object::Volume)),
        Kind::Secret => {
            decode::<raw::SecretDoc>(value).map(|d| convert_refs::convert_secret(&d, base).map(Object::Secret))
        }
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

/// A short, plain word, such as a mistyped kind: safe and useful to show. Anything else that
/// stands where a name should is not quoted (it could be anything, a secret pasted in the wrong
/// place included).
fn is_name(text: &str) -> bool {
    text.len() <= 40 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"./-_".contains(&b))
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

/// A problem at `path` in the document of `source`, found after loading it.
fn problem_at(source: &Option<Source>, path: &FieldPath, message: String) -> Problem {
    let (file, (line, column)) = match source {
        Some(s) => (s.file.clone(), s.locate(path)),
        None => (PathBuf::new(), (None, None)),
    };
    Problem { file, line, column, field: path.to_string(), message }
}

/// Puts the objects of all files together and applies the cross-file rules: unique names per
/// kind, `dependsOn` naming declared services without a cycle, and references to Secrets that
/// are declared and fit their use (see [`convert_refs::check_references`]).
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
            Object::Secret(s) => {
                insert(&mut desired.secrets, s.name.clone(), s, |s| s.source.clone(), "Secret", problems)
            }
        }
    }
    for p in convert_refs::check_references(&desired.services, &desired.secrets) {
        problems.push(problem_at(&p.source, &p.path, p.message));
    }
    resolve_network_services(&mut desired, problems);
    // Services Docker would refuse for what another object says: taken out once every check has
    // run (so a dependant's check still finds them), never created; prune waits (a problem).
    let mut taken_out = check_container_names(&desired, problems);
    for service in desired.services.values() {
        for (network, endpoint) in &service.container.host.network_endpoints {
            let Some(declared) = desired.networks.get(network) else {
                continue; // an existing network: Docker checks the address against its subnet
            };
            for (field, set) in [("ipv4Address", &endpoint.ipv4_address), ("ipv6Address", &endpoint.ipv6_address)] {
                let Some(addr) = set.as_deref().and_then(|a| a.parse::<std::net::IpAddr>().ok()) else {
                    continue;
                };
                let path = FieldPath::root().key("spec").key("networks").key(network).key(field);
                let message = match &declared.ipam {
                    Some(ipam) if ipam.holds(addr) => continue,
                    Some(ipam) if ipam.has_family(addr.is_ipv4()) => {
                        format!("{addr} is outside every subnet of Network {network}'s spec.ipam.config")
                    }
                    _ => format!(
                        "Network {network} has no {} subnet, and Docker gives static addresses only on networks with a configured subnet: add one to its spec.ipam.config",
                        if addr.is_ipv4() { "IPv4" } else { "IPv6" }
                    ),
                };
                problems.push(problem_at(&service.source, &path, message));
                taken_out.push(service.name.clone());
            }
        }
    }
    // A dependency with `required: false` that no manifest declares is not waited for.
    let declared: BTreeSet<String> = desired.services.keys().cloned().collect();
    for service in desired.services.values_mut() {
        let optional = service.depends_optional.clone();
        service.depends_on.retain(|dep, _| declared.contains(dep) || !optional.contains(dep));
    }
    for service in desired.services.values() {
        for (dep, condition) in &service.depends_on {
            let Some(target) = desired.services.get(dep) else {
                let message = format!("depends on {dep:?}, which no Service manifest declares");
                problems.push(source_problem(&service.source, "spec.dependsOn", message));
                continue;
            };
            let message = match (condition, target.is_job()) {
                (raw::DependCondition::Completed, false) => format!("completed needs {dep:?} to be a job (mode: job); a kept-running service never completes: use started or healthy"),
                (raw::DependCondition::Healthy, true) => format!("{dep:?} is a job (mode: job), which has no healthcheck: use completed to wait for its success"),
                _ => continue,
            };
            let path = FieldPath::root().key("spec").key("dependsOn").key(dep);
            problems.push(problem_at(&service.source, &path, message));
        }
    }
    if let Some(cycle) = find_cycle(&desired) {
        let first = &desired.services[&cycle[0]];
        let message = format!("dependsOn forms a cycle: {}", cycle.join(" -> "));
        problems.push(source_problem(&first.source, "spec.dependsOn", message));
    }
    for name in taken_out {
        desired.services.remove(&name);
    }
    desired
}

/// Two services whose containers would have the same name, in any instance: a `containerName`
/// equal to another's, to another service's own name (`db`, `db-2`: the default instance's
/// names), or to it prefixed by some instance (`shop_db`). The exact name is taken in every
/// instance, so only a name that can clash in none is accepted.
/// Returns the services refused, which are taken out like those of the other checks.
fn check_container_names(desired: &Desired, problems: &mut Vec<Problem>) -> Vec<String> {
    let mut refused = Vec::new();
    let mut exact: BTreeMap<&str, &str> = BTreeMap::new();
    for service in desired.services.values() {
        let Some(name) = service.container_name.as_deref() else { continue };
        let path = FieldPath::root().key("spec").key("containerName");
        if let Some(other) = exact.insert(name, &service.name) {
            let message = format!("container name {name:?} is also the containerName of service {other:?}");
            problems.push(problem_at(&service.source, &path, message));
            refused.push(service.name.clone());
            continue;
        }
        for other in desired.services.values().filter(|o| o.name != service.name && o.container_name.is_none()) {
            let clash = other.container_names().into_iter().find(|base| {
                name == base || name.strip_suffix(base.as_str()).is_some_and(|prefix| prefix.ends_with('_'))
            });
            if let Some(base) = clash {
                let message = format!("container name {name:?} is what service {:?} names its container {base:?} (prefixed by an instance outside the default one); choose another", other.name);
                problems.push(problem_at(&service.source, &path, message));
                refused.push(service.name.clone());
                break;
            }
        }
    }
    refused
}

/// Checks `service:NAME` in `networkMode`, `ipc`, `pid` and `volumesFrom`: the service it
/// names exists, is not itself, and (for `ipc`) shares its namespace. The spec keeps
/// `service:NAME`; the container it names is worked out per instance at create
/// (`crate::names::placed_spec`), so the spec hash is the same in every instance. The service
/// then depends on NAME (started) unless it already says how: Docker joins a namespace, or
/// mounts the volumes, only of a container that exists.
fn resolve_network_services(desired: &mut Desired, problems: &mut Vec<Problem>) {
    let firsts: std::collections::BTreeSet<String> = desired.services.keys().cloned().collect();
    // Docker joins the IPC namespace only of a container that shares it.
    let shareable: BTreeMap<String, bool> = desired
        .services
        .iter()
        .map(|(name, s)| (name.clone(), s.container.host.ipc.as_deref() == Some("shareable")))
        .collect();
    // A job's container exits (or is removed): its namespaces cannot be joined after that.
    // (Its volumes stay, unless it removes itself.)
    let jobs: BTreeMap<String, bool> = desired
        .services
        .iter()
        .filter(|(_, s)| s.is_job())
        .map(|(n, s)| (n.clone(), s.container.auto_remove))
        .collect();
    for service in desired.services.values_mut() {
        let host = &service.container.host;
        // (where, field, what a join to itself would do, the value).
        let mut joins: Vec<(FieldPath, &str, &str, &String)> = Vec::new();
        let spec = FieldPath::root().key("spec");
        for (field, what, value) in [
            ("networkMode", "join its own network namespace", host.network_mode.as_ref()),
            ("ipc", "join its own IPC namespace", host.ipc.as_ref()),
            ("pid", "join its own PID namespace", host.pid.as_ref()),
        ] {
            if let Some(v) = value {
                joins.push((spec.key(field), field, what, v));
            }
        }
        for (i, v) in host.volumes_from.iter().enumerate() {
            joins.push((spec.key("volumesFrom").index(i), "volumesFrom", "take volumes from itself", v));
        }
        let mut targets = Vec::new();
        for (field, name, what, value) in joins {
            let Some((target, _)) = crate::names::service_join(value) else { continue };
            let target = target.to_string();
            let message = match firsts.contains(&target) {
                _ if target == service.name => format!("service {target:?} cannot {what}"),
                false => format!("{name} names service {target:?}, which no Service manifest declares"),
                true if name == "ipc" && !shareable[&target] => format!(
                    "service {target:?} keeps its IPC namespace private; set ipc: shareable there to let others join it (Docker refuses the join otherwise)"
                ),
                true if jobs.contains_key(&target) && name != "volumesFrom" => format!(
                    "service {target:?} is a job: its container exits, and Docker joins only a running container's namespaces"
                ),
                true if jobs.get(&target) == Some(&true) => format!(
                    "service {target:?} is an autoRemove job: its container is gone when it ends; mount a named volume in both instead"
                ),
                true => {
                    targets.push(target);
                    continue;
                }
            };
            problems.push(problem_at(&service.source, &field, message));
        }
        for target in targets {
            service.depends_on.entry(target).or_insert(raw::DependCondition::Started);
        }
    }
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
