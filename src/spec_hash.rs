//! The spec hash, the canonical JSON it is made of, and the `moor.last-applied` label.
//!
//! Invariants:
//! - Canonical JSON has sorted keys at every level and holds only [`ContainerSpec`], which has
//!   defaults applied and order-insensitive lists sorted. Reformatting or reordering a manifest
//!   therefore never changes the hash; a spurious recreate is a bug.
//! - The hash covers the canonical JSON plus the resolved image ID, so a new image under the same
//!   reference is a different container. It is never computed from a label's text.
//! - The `moor.last-applied` label is the canonical JSON without the top-level fields that equal
//!   the defaults of [`ContainerSpec::bare`] (Docker's list time grows with label size, see
//!   BENCHMARKS.md). [`expand_last_applied`] puts them back, so the slim label and the full one
//!   that releases before it wrote read back to the same spec: `parse_last_applied(
//!   last_applied_label(s)) == Some(s)` for every spec.

use std::sync::OnceLock;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::manifest::ContainerSpec;

/// `sha256:<hex>` of the canonical JSON and the image ID.
pub fn spec_hash(spec: &ContainerSpec, image_id: &str) -> String {
    hash_canonical(&spec.canonical_json(), image_id)
}

/// [`spec_hash`] from canonical JSON already made (the plan makes it once per service).
pub fn hash_canonical(canonical: &str, image_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(canonical.as_bytes());
    hasher.update(b"\n");
    hasher.update(image_id.as_bytes());
    let digest = hasher.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for byte in digest {
        out.push(HEX[(byte >> 4) as usize] as char);
        out.push(HEX[(byte & 15) as usize] as char);
    }
    out
}

/// The top-level fields of a spec that says nothing but the image, as its JSON holds them: the
/// defaults the slim label leaves out. `image` is not one of them (it is always written).
fn defaults() -> &'static Map<String, Value> {
    static DEFAULTS: OnceLock<Map<String, Value>> = OnceLock::new();
    DEFAULTS.get_or_init(|| match serde_json::to_value(ContainerSpec::bare("")) {
        Ok(Value::Object(mut map)) => {
            map.remove("image");
            map
        }
        _ => unreachable!("a ContainerSpec serializes to an object"),
    })
}

/// The `moor.last-applied` label of a container built from `spec`: its canonical JSON (sorted
/// keys, no whitespace) without the top-level fields equal to their defaults (empty `env`,
/// `labels`, `ports`, `mounts`, `networks` and `resources`, `restart: no`, `autoRemove: false`,
/// `stopTimeout: 10s`; empty `sealedEnv` and `files` are left out of canonical JSON already).
///
/// Only the top level is slimmed: nested defaults (a port's `tcp`, a mount's `readOnly: false`)
/// stay, since a list entry without them would need its own rules to read back, for a few bytes.
pub fn last_applied_label(spec: &ContainerSpec) -> String {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&spec.canonical_json()) else {
        unreachable!("canonical JSON is an object")
    };
    let defaults = defaults();
    // Filtered, not removed in place: the canonical order of the keys stays.
    let slim: Map<String, Value> = map.into_iter().filter(|(k, v)| defaults.get(k) != Some(v)).collect();
    Value::Object(slim).to_string()
}

/// A `moor.last-applied` label as JSON with every default put back: the full canonical form,
/// whether the label is slim (this release) or full (releases before it). `None` when the text is
/// not a JSON object. Fields this release does not know are kept (the diff shows them).
pub fn expand_last_applied(text: &str) -> Option<Value> {
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(text) else {
        return None;
    };
    for (key, value) in defaults() {
        if !map.contains_key(key) {
            map.insert(key.clone(), value.clone());
        }
    }
    Some(Value::Object(map))
}

/// Reads a `moor.last-applied` label, slim or full, back into the spec the container was built
/// from (for rollback, stop timeouts and diffs).
pub fn parse_last_applied(text: &str) -> Option<ContainerSpec> {
    serde_json::from_value(expand_last_applied(text)?).ok()
}

#[cfg(test)]
mod tests;
