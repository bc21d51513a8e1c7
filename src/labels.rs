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
/// `swarm` on the services, secrets, configs and networks of the Swarm backend (`--backend
/// swarm`); the docker backend never prunes a network that has it.
pub const BACKEND: &str = "moor.backend";
/// The value of [`BACKEND`] on Swarm objects.
pub const BACKEND_SWARM: &str = "swarm";
/// On a Swarm secret or config: the manifest name of the Secret (or config) it holds a version of.
pub const DATA_NAME: &str = "moor.data";
/// On a Swarm secret or config: the digest of its content (`hmac-sha256:` for a secret, keyed
/// with the host key; `sha256:` for a config).
pub const DIGEST: &str = "moor.digest";
