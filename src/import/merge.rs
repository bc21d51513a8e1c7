//! Merging compose files in order, and `extends` within a file.
//!
//! Invariants (a subset of compose's merge rules, applied alike to files and to `extends`):
//! - Mappings merge key by key, the later value winning; scalars are replaced.
//! - Sequences are appended, an entry equal to one already there not repeated, except
//!   `command`, `entrypoint` and a healthcheck's `test`, which the later value replaces.
//! - `environment` and `labels` are merged as mappings: [`super::compose`] turns their list forms
//!   into mappings before any merge.

use serde_yaml::{Mapping, Value};

/// Keys whose sequence value is replaced, not appended.
const REPLACED: &[&str] = &["command", "entrypoint", "test", "profiles"];

/// `over` merged onto `base`; `key` is the key both values sit under ("" at the top).
pub fn merge(base: Value, over: Value, key: &str) -> Value {
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

/// Resolves every service's `extends` within `services` (a file's own services, merged). An
/// `extends` naming another file cannot be followed: its compose path is returned, with the
/// service left as written.
pub fn resolve_extends(services: &mut Mapping) -> Result<Vec<String>, String> {
    let names: Vec<Value> = services.keys().cloned().collect();
    let mut unfollowed = Vec::new();
    for name in names {
        let mut seen = Vec::new();
        let resolved = resolve_one(services, &name, &mut seen, &mut unfollowed)?;
        services.insert(name, resolved);
    }
    Ok(unfollowed)
}

fn resolve_one(
    services: &Mapping,
    name: &Value,
    seen: &mut Vec<String>,
    unfollowed: &mut Vec<String>,
) -> Result<Value, String> {
    let label = name.as_str().unwrap_or("?").to_string();
    if seen.contains(&label) {
        seen.push(label);
        return Err(format!("`extends` loops: {}", seen.join(" -> ")));
    }
    seen.push(label.clone());
    let mut service = match services.get(name) {
        Some(Value::Mapping(m)) => m.clone(),
        Some(Value::Null) => Mapping::new(),
        Some(_) => return Err(format!("services.{label}: a service must be a mapping")),
        None => return Err(format!("`extends` names service {label}, which this file does not define")),
    };
    let Some(extends) = service.remove("extends") else {
        return Ok(Value::Mapping(service));
    };
    let base_name = match &extends {
        Value::String(s) => s.clone(),
        Value::Mapping(m) => {
            if m.contains_key("file") {
                unfollowed.push(format!("services.{label}.extends.file"));
                return Ok(Value::Mapping(service));
            }
            match m.get("service").and_then(Value::as_str) {
                Some(s) => s.to_string(),
                None => return Err(format!("services.{label}.extends: `service` is required")),
            }
        }
        _ => return Err(format!("services.{label}.extends: a service name or a mapping")),
    };
    let base = resolve_one(services, &Value::String(base_name), seen, unfollowed)?;
    Ok(merge(base, Value::Mapping(service), ""))
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
    fn extends_chains_and_loops() {
        let mut s = yaml("{base: {image: a, environment: {A: '1'}}, mid: {extends: base, user: u}, top: {extends: {service: mid}, image: b}}");
        let Value::Mapping(ref mut m) = s else { panic!() };
        assert!(resolve_extends(m).unwrap().is_empty());
        assert_eq!(m.get("top").unwrap(), &yaml("{image: b, environment: {A: '1'}, user: u}"));
        let mut s = yaml("{a: {extends: b}, b: {extends: a}}");
        let Value::Mapping(ref mut m) = s else { panic!() };
        assert!(resolve_extends(m).unwrap_err().contains("loops"));
    }
}
