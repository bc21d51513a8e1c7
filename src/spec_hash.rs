//! The spec hash and the canonical JSON it is made of.
//!
//! Invariants:
//! - Canonical JSON has sorted keys at every level and holds only [`ContainerSpec`], which has
//!   defaults applied and order-insensitive lists sorted. Reformatting or reordering a manifest
//!   therefore never changes the hash; a spurious recreate is a bug.
//! - The hash covers the canonical JSON plus the resolved image ID, so a new image under the same
//!   reference is a different container.

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

/// Reads a `moor.last-applied` label back into a spec (for rollback and for diffs).
pub fn parse_last_applied(text: &str) -> Option<ContainerSpec> {
    serde_json::from_str(text).ok()
}
