//! The spec hash and the canonical JSON it is made of.
//!
//! Invariants:
//! - Canonical JSON has sorted keys at every level and holds only [`ContainerSpec`], which has
//!   defaults applied and order-insensitive lists sorted. Reformatting or reordering a manifest
//!   therefore never changes the hash; a spurious recreate is a bug.
//! - The hash covers the canonical JSON plus the resolved image ID, so a new image under the same
//!   reference is a different container.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::manifest::ContainerSpec;

/// The spec as canonical JSON: sorted keys, no whitespace. This is `moor.last-applied`.
pub fn canonical_json(spec: &ContainerSpec) -> String {
    let value = serde_json::to_value(spec).expect("a ContainerSpec serializes");
    sorted(value).to_string()
}

fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// `sha256:<hex>` of the canonical JSON and the image ID.
pub fn spec_hash(spec: &ContainerSpec, image_id: &str) -> String {
    hash_canonical(&canonical_json(spec), image_id)
}

/// [`spec_hash`] from canonical JSON already made (the plan makes it once per service).
pub fn hash_canonical(canonical: &str, image_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(canonical.as_bytes());
    hasher.update(b"\n");
    hasher.update(image_id.as_bytes());
    let digest = hasher.finalize();
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Reads a `moor.last-applied` label back into a spec (for rollback and for diffs).
pub fn parse_last_applied(text: &str) -> Option<ContainerSpec> {
    serde_json::from_str(text).ok()
}
