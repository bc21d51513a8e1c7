//! Merging compose files in order, and `extends` within a file and from other files.
//!
//! Invariants (a subset of compose's merge rules, applied alike to files and to `extends`):
//! - Mappings merge key by key, the later value winning; scalars are replaced.
//! - Sequences are appended, an entry equal to one already there not repeated, except
//!   `command`, `entrypoint` and a healthcheck's `test`, which the later value replaces.
//! - `environment` and `labels` are merged as mappings: [`super::compose`] turns their list forms
//!   into mappings before any merge.
//! - As compose-go does: a key that takes one value or a list (`env_file`, `dns`, `tmpfs`, ...)
//!   is merged as a list of both; `depends_on` and `networks` in list form in one file and map
//!   form in the other are merged as one map.

use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

/// Reads another compose file (already interpolated) for `extends: {file}`: its `services`.
pub type LoadServices<'a> = dyn FnMut(&Path) -> Result<Mapping, String> + 'a;

/// Keys whose sequence value is replaced, not appended.
const REPLACED: &[&str] = &["command", "entrypoint", "test", "profiles"];

/// Keys whose value is one item or a list of them: merged as lists (compose-go's
/// `mergeToSequence`).
const TO_SEQUENCE: &[&str] = &["env_file", "label_file", "dns", "dns_opt", "dns_search", "tmpfs"];

/// Keys written as a list of names or a map by name: merged as maps.
const TO_MAPPING: &[&str] = &["depends_on", "networks"];

/// `value` as a sequence: a scalar or mapping as the one item of a list.
fn to_sequence(value: Value) -> Value {
    match value {
        Value::Sequence(_) | Value::Null => value,
        one => Value::Sequence(vec![one]),
    }
}

/// A list of names as a map of name to `entry` (what the list form means).
fn to_mapping(value: Value, entry: &Value) -> Value {
    match value {
        Value::Sequence(names) => Value::Mapping(names.into_iter().map(|n| (n, entry.clone())).collect()),
        other => other,
    }
}

/// `over` merged onto `base`; `key` is the key both values sit under ("" at the top).
pub fn merge(base: Value, over: Value, key: &str) -> Value {
    let (base, over) = match (base, over) {
        // Both mappings: not such a value (a network or service of that name), merged as maps.
        (b, o)
            if TO_SEQUENCE.contains(&key) && !(b.is_null() || o.is_null()) && !(b.is_mapping() && o.is_mapping()) =>
        {
            (to_sequence(b), to_sequence(o))
        }
        (b, o) if TO_MAPPING.contains(&key) && (b.is_mapping() != o.is_mapping()) && !(b.is_null() || o.is_null()) => {
            // The list form of `depends_on` means `service_started`; of `networks`, no settings.
            let entry = match key {
                "depends_on" => serde_yaml::from_str("{condition: service_started}").expect("a mapping"),
                _ => Value::Null,
            };
            (to_mapping(b, &entry), to_mapping(o, &entry))
        }
        pair => pair,
    };
    match (base, over) {
        (Value::Mapping(mut base), Value::Mapping(over)) => {
            for (k, v) in over {
                let name = k.as_str().unwrap_or("").to_string();
                let merged = match base.remove(&k) {
                    Some(old) => merge(old, v, &name),
                    None => v,
                };
                base.insert(k, merged);
            }
            Value::Mapping(base)
        }
        (Value::Sequence(mut base), Value::Sequence(over)) if !REPLACED.contains(&key) => {
            for v in over {
                if !base.contains(&v) {
                    base.push(v);
                }
            }
            Value::Sequence(base)
        }
        (_, over) => over,
    }
}

/// Resolves every service's `extends` within `services` (the services of `file`, merged). `extends: {file, service}` reads that file through `load` (a
/// path relative to the naming file's folder), as compose does; the relative host paths of a
/// service taken from a file in another folder are made absolute against that folder (compose
/// resolves them there too).
pub fn resolve_extends(services: &mut Mapping, file: &Path, load: &mut LoadServices) -> Result<(), String> {
    let names: Vec<Value> = services.keys().cloned().collect();
    for name in names {
        let mut seen = Vec::new();
        let resolved = resolve_one(services, file, &name, &mut seen, load)?;
        services.insert(name, resolved);
    }
    Ok(())
}

fn resolve_one(
    services: &Mapping,
    file: &Path,
    name: &Value,
    seen: &mut Vec<String>,
    load: &mut LoadServices,
) -> Result<Value, String> {
    let label = name.as_str().unwrap_or("?").to_string();
    // By file, not folder: `web` of an override extending `web` of compose.yaml is no loop.
    let place = format!("{}:{label}", file.display());
    let dir = file.parent().unwrap_or(Path::new(""));
    if seen.contains(&place) {
        seen.push(place);
        return Err(format!("`extends` loops: {}", seen.join(" -> ")));
    }
    seen.push(place);
    let mut service = match services.get(name) {
        Some(Value::Mapping(m)) => m.clone(),
        Some(Value::Null) => Mapping::new(),
        Some(_) => return Err(format!("services.{label}: a service must be a mapping")),
        None => return Err(format!("`extends` names service {label}, which this file does not define")),
    };
    let Some(extends) = service.remove("extends") else {
        return Ok(Value::Mapping(service));
    };
    let (base_name, other_file) = match &extends {
        Value::String(s) => (s.clone(), None),
        Value::Mapping(m) => match m.get("service").and_then(Value::as_str) {
            Some(s) => (s.to_string(), m.get("file").and_then(Value::as_str).map(PathBuf::from)),
            None => return Err(format!("services.{label}.extends: `service` is required")),
        },
        _ => return Err(format!("services.{label}.extends: a service name or a mapping")),
    };
    let base = match other_file {
        None => resolve_one(services, file, &Value::String(base_name), seen, load)?,
        Some(other_file) => {
            let path = dir.join(&other_file);
            let other =
                load(&path).map_err(|e| format!("services.{label}.extends.file: {}: {e}", other_file.display()))?;
            let other_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let mut base = resolve_one(&other, &path, &Value::String(base_name), seen, load)?;
            if other_dir != dir {
                rebase_paths(&mut base, &other_dir);
            }
            base
        }
    };
    Ok(merge(base, Value::Mapping(service), ""))
}

/// A host path as compose reads it: relative ones (`.`, `..`) against `dir`.
fn rebase(path: &str, dir: &Path) -> Option<String> {
    (path == "." || path == ".." || path.starts_with("./") || path.starts_with("../"))
        .then(|| dir.join(path).display().to_string())
}

/// Makes the relative host paths of a service absolute against `dir`: `env_file`, bind sources
/// of `volumes` (short and long form) and the `build` context.
fn rebase_paths(service: &mut Value, dir: &Path) {
    let Some(service) = service.as_mapping_mut() else { return };
    let rebase_value = |v: &mut Value| {
        if let Some(new) = v.as_str().and_then(|p| rebase(p, dir)) {
            *v = Value::String(new);
        }
    };
    match service.get_mut("env_file") {
        Some(Value::Sequence(items)) => {
            for item in items {
                match item {
                    Value::Mapping(m) => m.get_mut("path").into_iter().for_each(rebase_value),
                    other => rebase_value(other),
                }
            }
        }
        Some(other) => rebase_value(other),
        None => {}
    }
    for volume in service.get_mut("volumes").and_then(Value::as_sequence_mut).into_iter().flatten() {
        match volume {
            Value::String(short) => {
                let (source, rest) = short.split_once(':').unwrap_or((short.as_str(), ""));
                if let (Some(new), false) = (rebase(source, dir), rest.is_empty()) {
                    *short = format!("{new}:{rest}");
                }
            }
            Value::Mapping(m) => m.get_mut("source").into_iter().for_each(rebase_value),
            _ => {}
        }
    }
    match service.get_mut("build") {
        Some(Value::Mapping(m)) => m.get_mut("context").into_iter().for_each(rebase_value),
        Some(other) => rebase_value(other),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn mappings_merge_sequences_append_commands_replace() {
        let base = yaml("{image: a, ports: ['1:1'], command: [x, y], environment: {A: '1', B: '2'}}");
        let over = yaml("{image: b, ports: ['1:1', '2:2'], command: [z], environment: {B: '3'}}");
        let want = yaml("{image: b, ports: ['1:1', '2:2'], command: [z], environment: {A: '1', B: '3'}}");
        assert_eq!(merge(base, over, ""), want);
    }

    #[test]
    fn one_or_many_keys_merge_as_lists_and_list_or_map_keys_as_maps() {
        let base = yaml("{env_file: a.env, dns: 1.1.1.1, depends_on: [db], networks: [back]}");
        let over = yaml("{env_file: [b.env], dns: 8.8.8.8, depends_on: {cache: {condition: service_healthy}}, networks: {front: {aliases: [w]}}}");
        let want = yaml("{env_file: [a.env, b.env], dns: [1.1.1.1, 8.8.8.8], depends_on: {db: {condition: service_started}, cache: {condition: service_healthy}}, networks: {back: null, front: {aliases: [w]}}}");
        assert_eq!(merge(base, over, "web"), want);
        // A network named like such a key is a network: its settings merge as a map.
        let nets = yaml("{networks: {dns: {driver: bridge}}}");
        let more = yaml("{networks: {dns: {internal: true}}}");
        assert_eq!(merge(nets, more, ""), yaml("{networks: {dns: {driver: bridge, internal: true}}}"));
    }

    #[test]
    fn extends_chains_and_loops() {
        let mut s = yaml("{base: {image: a, environment: {A: '1'}}, mid: {extends: base, user: u}, top: {extends: {service: mid}, image: b}}");
        let Value::Mapping(ref mut m) = s else { panic!() };
        let mut none = |p: &Path| -> Result<Mapping, String> { panic!("no file to read: {}", p.display()) };
        resolve_extends(m, Path::new("/p/c.yaml"), &mut none).unwrap();
        assert_eq!(m.get("top").unwrap(), &yaml("{image: b, environment: {A: '1'}, user: u}"));
        let mut s = yaml("{a: {extends: b}, b: {extends: a}}");
        let Value::Mapping(ref mut m) = s else { panic!() };
        assert!(resolve_extends(m, Path::new("/p/c.yaml"), &mut none).unwrap_err().contains("loops"));
    }

    #[test]
    fn extends_from_another_file_rebases_its_relative_paths() {
        let mut s = yaml("{app: {extends: {file: ../common/base.yaml, service: web}, image: mine}}");
        let Value::Mapping(ref mut m) = s else { panic!() };
        let mut reads = Vec::new();
        let mut load = |p: &Path| -> Result<Mapping, String> {
            reads.push(p.to_path_buf());
            let Value::Mapping(m) = yaml(
                "{web: {extends: core, env_file: [./web.env, {path: ../x.env}], volumes: ['./conf:/etc/c:ro', 'data:/d', {type: bind, source: ./s, target: /s}]}, core: {image: base, user: u}}",
            ) else {
                panic!()
            };
            Ok(m)
        };
        resolve_extends(m, Path::new("/p/stack/compose.yaml"), &mut load).unwrap();
        assert_eq!(reads, [Path::new("/p/stack/../common/base.yaml")]);
        let want = yaml(
            "{image: mine, user: u, env_file: [/p/stack/../common/./web.env, {path: /p/stack/../common/../x.env}], volumes: ['/p/stack/../common/./conf:/etc/c:ro', 'data:/d', {type: bind, source: /p/stack/../common/./s, target: /s}]}",
        );
        assert_eq!(m.get("app").unwrap(), &want);

        // A loop across files is found; a missing file names the extends.
        let mut s = yaml("{a: {extends: {file: o.yaml, service: b}}}");
        let Value::Mapping(ref mut m) = s else { panic!() };
        let mut looped = |_: &Path| -> Result<Mapping, String> {
            let Value::Mapping(m) = yaml("{b: {extends: {file: o.yaml, service: b}}}") else { panic!() };
            Ok(m)
        };
        assert!(resolve_extends(m, Path::new("/p/c.yaml"), &mut looped).unwrap_err().contains("loops"));
        let mut missing = |_: &Path| -> Result<Mapping, String> { Err("No such file".into()) };
        let err = resolve_extends(m, Path::new("/p/c.yaml"), &mut missing).unwrap_err();
        assert_eq!(err, "services.a.extends.file: o.yaml: No such file");
    }
}
