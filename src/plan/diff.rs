//! Field-by-field changes between the spec a container was built from (its `moor.last-applied`
//! label) and the desired one, as `moor plan` shows them: `env.LOG_LEVEL: info -> debug`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::manifest::ContainerSpec;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
        write!(f, "{}: {} -> {}", self.field, show(&self.from), show(&self.to))
    }
}

/// Flattens a JSON value into `path -> text`. Lists of scalars stay whole (`command`), lists of
/// objects are indexed (`ports[0].host`).
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&join(k), v, out);
            }
        }
        Value::Array(items) if items.iter().any(|v| v.is_object()) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// The changes from `last_applied` (the label's text) to `desired`. An unreadable label gives
/// one change that says so; equal specs give none (the hash label alone was off).
pub fn changes(last_applied: Option<&str>, desired: &ContainerSpec) -> Vec<Change> {
    let Some(old) = last_applied.and_then(|t| serde_json::from_str::<Value>(t).ok()) else {
        return vec![Change::unreadable_label()];
    };
    let mut a = BTreeMap::new();
    flatten("", &old, &mut a);
    let b = fields(desired);
    let mut out = Vec::new();
    for key in a.keys().chain(b.keys()).collect::<std::collections::BTreeSet<_>>() {
        let (from, to) = (a.get(key), b.get(key));
        if from != to {
            out.push(Change { field: key.clone(), from: from.cloned(), to: to.cloned() });
        }
    }
    out
}

/// Every field of `spec`, flattened as [`changes`] names them (`env.LOG_LEVEL -> info`): what a
/// new container is created with.
pub fn fields(spec: &ContainerSpec) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    flatten("", &serde_json::to_value(spec).expect("a ContainerSpec serializes"), &mut out);
    out
}

impl Change {
    /// What a replacement names when the old container's `moor.last-applied` label cannot be read.
    pub fn unreadable_label() -> Change {
        Change { field: "moor.last-applied".into(), from: None, to: Some("(unreadable: replacing)".into()) }
    }

    /// Is this one of the notes above, which say why a container is replaced rather than name a
    /// field of the spec?
    pub fn is_note(&self) -> bool {
        *self == Change::unreadable_label() || *self == Change::spec_hash_only()
    }

    /// What a replacement names when no field differs: only the hash does (say the image ID
    /// behind an unchanged spec).
    pub fn spec_hash_only() -> Change {
        Change { field: "moor.spec-hash".into(), from: None, to: Some("(does not match: replacing)".into()) }
    }
}
