//! What moor sets of a Swarm service, in moor's own types: [`SwarmSpec`].
//!
//! The same type holds both sides of a diff: the desired spec, projected from a manifest's
//! [`crate::manifest::Service`] by [`super::project`], and the observed one, read back from
//! `GET /services` through the same projection by the engine (`engine::swarm_convert`). Fields moor
//! does not project (`ForceUpdate`, say) are not here; an update keeps them as observed.
//!
//! Invariants:
//! - A default the daemon fills in is written here as the daemon fills it in (or the engine's
//!   read-back normalises it to what the projection writes), so a service made by hand with the
//!   CLI and the same service projected from a manifest compare equal (trap T12 of
//!   `docs/swarm-design.md`).
//! - Nothing here is secret: secrets and configs are named by content digest, never held.
//! - Ownership labels (`moor.*`) are on the service ([`SwarmSpec::labels`]), never on the task
//!   containers ([`SwarmSpec::container_labels`]): the docker backend would take task containers
//!   with them for its own and prune them (trap T1).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A Swarm service as moor sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmSpec {
    /// The service name: bare in the default instance, `<instance>_<name>` otherwise.
    pub name: String,
    /// The service's labels: the user's `metadata.labels` and moor's `moor.*`.
    pub labels: BTreeMap<String, String>,
    /// As sent: `ref:tag@sha256:…` when the registry gave a digest (the client pins, not the
    /// daemon: trap T10), else the reference as written.
    pub image: String,
    /// `ContainerSpec.Command`: the entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// `ContainerSpec.Args`: the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    /// `ContainerSpec.Labels`: the user's container labels only.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub container_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<SwarmMount>,
    /// Networks by the name Docker knows them by (an overlay of a Network manifest, or `host`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<SwarmNetwork>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<SwarmPort>,
    pub endpoint_mode: EndpointMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<SwarmHealthcheck>,
    #[serde(default, skip_serializing_if = "SwarmResources::is_empty")]
    pub limits: SwarmResources,
    #[serde(default, skip_serializing_if = "SwarmResources::is_empty")]
    pub reservations: SwarmResources,
    pub restart: SwarmRestart,
    pub mode: SwarmMode,
    /// `Placement.Constraints`, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    /// `Placement.Platforms` as `os/arch`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    pub update: SwarmUpdate,
    pub rollback: SwarmUpdate,
    /// Sorted by target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SwarmFileRef>,
    /// Sorted by target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<SwarmFileRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// `ContainerSpec.StopGracePeriod` in whole milliseconds (the daemon's default is 10 s).
    pub stop_grace_ms: u64,
    #[serde(default, skip_serializing_if = "SwarmContainerOptions::is_default")]
    pub options: SwarmContainerOptions,
}

/// The rest of `ContainerSpec` that moor projects; each as the daemon reads it back when unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmContainerOptions {
    /// `Init`; `None` is "the daemon's default".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tty: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub open_stdin: bool,
    /// `CapabilityAdd`/`CapabilityDrop`, as `CAP_…`, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    /// name → (soft, hard).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, (i64, i64)>,
    /// `Groups`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// `Hosts`, as `IP HOST` lines (the Swarm form), from `extraHosts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_options: Vec<String>,
    /// `TaskTemplate.LogDriver`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_driver: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub log_options: BTreeMap<String, String>,
}

impl SwarmContainerOptions {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmMount {
    pub kind: SwarmMountKind,
    /// Volume name (instance-prefixed as the docker backend names it) or host path; empty for tmpfs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    pub target: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// A tmpfs's `TmpfsOptions`: size in bytes and permission bits, when the manifest gives them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<SwarmTmpfs>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmTmpfs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SwarmMountKind {
    Volume,
    Bind,
    Tmpfs,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmNetwork {
    /// The network's name on the daemon.
    pub target: String,
    /// Sorted; the service's own name is among them so others reach it by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmPort {
    pub target: u16,
    /// `None`: the swarm picks one (ingress mode only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<u16>,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    pub mode: PublishMode,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PublishMode {
    #[default]
    Ingress,
    Host,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointMode {
    #[default]
    Vip,
    Dnsrr,
}

/// Durations in whole milliseconds (Swarm keeps nanoseconds; moor's manifests never go finer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmHealthcheck {
    /// `["NONE"]` disables the image's own; `["CMD", …]` or `["CMD-SHELL", "…"]` otherwise.
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmResources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<i64>,
    /// `Limits.Pids` (limits only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<i64>,
}

impl SwarmResources {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmRestart {
    pub condition: RestartCondition,
    /// 0: no limit.
    pub max_attempts: u64,
    pub delay_ms: u64,
}

impl Default for SwarmRestart {
    /// What the daemon fills in: `{any, 5s, 0}`.
    fn default() -> Self {
        SwarmRestart { condition: RestartCondition::Any, max_attempts: 0, delay_ms: 5_000 }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartCondition {
    #[default]
    Any,
    OnFailure,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SwarmMode {
    Replicated { replicas: u64 },
    Global,
}

impl Default for SwarmMode {
    fn default() -> Self {
        SwarmMode::Replicated { replicas: 1 }
    }
}

/// `UpdateConfig` or `RollbackConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmUpdate {
    pub parallelism: u64,
    pub order: UpdateOrder,
    pub failure_action: FailureAction,
    pub monitor_ms: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub delay_ms: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Default for SwarmUpdate {
    /// What the daemon fills in: `{1, pause, 5s, stop-first}`.
    fn default() -> Self {
        SwarmUpdate {
            parallelism: 1,
            order: UpdateOrder::StopFirst,
            failure_action: FailureAction::Pause,
            monitor_ms: 5_000,
            delay_ms: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateOrder {
    #[default]
    StopFirst,
    StartFirst,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureAction {
    #[default]
    Pause,
    Continue,
    Rollback,
}

/// A secret or config as a service names it: by the Swarm object's name (which carries the
/// content digest), mounted as a file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmFileRef {
    /// The file: absolute, or relative to `/run/secrets/` for a secret.
    pub target: String,
    /// The Swarm object's name.
    pub name: String,
    pub uid: String,
    pub gid: String,
    /// Permission bits (`0o400` = 256).
    pub mode: u32,
}

/// A secret or config to create: immutable in Swarm, so named by its content's digest.
#[derive(Debug, Clone, PartialEq)]
pub struct SwarmData {
    pub kind: DataKind,
    /// `<prefix><manifest name>-<16 hex of the digest>`.
    pub name: String,
    /// `moor.instance`, `moor.backend=swarm`, `moor.secret=<manifest name>`, `moor.digest`.
    pub labels: BTreeMap<String, String>,
    pub data: crate::sensitive::Sensitive<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataKind {
    Secret,
    Config,
}

/// What the manifests ask of the swarm, projected ([`super::project::desired`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SwarmDesired {
    /// By Swarm service name.
    pub services: BTreeMap<String, SwarmSpec>,
    /// Every secret and config version the services name, by Swarm object name.
    pub data: BTreeMap<String, SwarmData>,
    /// Overlay networks to create (the instance's default network and the Network manifests),
    /// by the name Docker knows them by.
    pub networks: BTreeMap<String, crate::manifest::Network>,
    /// The Swarm names of every service a manifest declares, admitted or refused: never pruned.
    pub declared: std::collections::BTreeSet<String>,
    /// `Desired::may_prune` of the load: false on any problem or guard.
    pub may_prune: bool,
    /// The services refused (by the host policy, the daemon's API or Swarm), by manifest name,
    /// with why: declared, so never pruned, but left as they run.
    pub refused: BTreeMap<String, Vec<crate::manifest::Problem>>,
}
