//! The labels moor writes on what it owns. Ownership is decided by [`INSTANCE`] alone: moor only
//! ever touches objects that carry its instance label.

pub const INSTANCE: &str = "moor.instance";
pub const SERVICE: &str = "moor.service";
pub const REPLICA: &str = "moor.replica";
pub const SPEC_HASH: &str = "moor.spec-hash";
pub const LAST_APPLIED: &str = "moor.last-applied";
