//! The labels moor writes on what it owns. Ownership is decided by [`INSTANCE`], scoped by
//! [`NODE`]: moor only ever touches objects that carry its instance label, and of containers
//! only those of its own node or of none (see `crate::observe`).

pub const INSTANCE: &str = "moor.instance";
pub const SERVICE: &str = "moor.service";
pub const REPLICA: &str = "moor.replica";
pub const SPEC_HASH: &str = "moor.spec-hash";
pub const LAST_APPLIED: &str = "moor.last-applied";
/// The node whose agent made the container (`--node`, `MOOR_NODE`, the host name); outside the
/// spec hash. A container without it (made before nodes) belongs to whichever agent of its
/// instance observes it: on one host that is the host's only agent.
pub const NODE: &str = "moor.node";
/// On a container that joins another service's container (`service:NAME` in `networkMode`,
/// `ipc`, `pid` or `volumesFrom`): `NAME=<container ID>,...`, the containers it joined when it
/// was made. Docker resolves a join to the ID at create; when the target is replaced, the plan
/// replaces the joiner (outside the spec hash).
pub const JOINS: &str = "moor.joins";
