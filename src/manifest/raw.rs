//! The raw `moor/v1` document types: exactly what a user writes.
//!
//! Invariants:
//! - These types are the single source of the JSON schema (`moor schema`); nothing about the
//!   format is written by hand elsewhere.
//! - Every struct denies unknown fields, so a typo is an error, never a silently ignored key.
//! - No defaults and no parsing of durations, sizes, ports or mounts happen here. Optional fields
//!   stay `Option` so that [`super::model`] applies every default in one place.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use super::raw_forms::{BindOptions, Env, Labels, Propagation, Selinux, TmpfsOptions, VolumeOptions};
pub use super::raw_host::{
    BlkioConfig, BlkioRate, BlkioWeight, CommandLine, DeviceEntry, DeviceLong, ExtraHosts, GpuRequest, Gpus, Logging,
    NetworkAttachment, Networks, OneOrMany, Scalar, Sysctls, Ulimit, UlimitLimits,
};

/// One YAML document: a Service, a Network, a Volume or a Secret.
// Only the schema and whole-document decoding use this; its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind")]
pub enum Document {
    Service(ServiceDoc),
    Network(NetworkDoc),
    Volume(VolumeDoc),
    Secret(SecretDoc),
}

/// The only API version this build understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    #[serde(rename = "moor/v1")]
    V1,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceDoc {
    pub api_version: ApiVersion,
    pub metadata: Metadata,
    pub spec: ServiceSpec,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkDoc {
    pub api_version: ApiVersion,
    pub metadata: Metadata,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<NetworkSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeDoc {
    pub api_version: ApiVersion,
    pub metadata: Metadata,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<VolumeSpec>,
}

/// A file of secret values that services reference by name (`envFrom`, `env`, `secrets`).
/// Nothing is created in Docker for it: the values reach containers as environment variables and
/// read-only files, and never appear in labels or output.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretDoc {
    pub api_version: ApiVersion,
    pub metadata: SecretMetadata,
    pub spec: SecretSpec,
}

/// A Secret's metadata: only its name (it has no Docker object to label).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretMetadata {
    /// DNS-1123 label (lowercase letters, digits and '-', at most 63 characters), unique among
    /// the Secrets.
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretSpec {
    /// The file that holds the values: relative to the manifest's folder (no `..`), or absolute
    /// for a file kept on the host, such as `/etc/moor/secrets/db.env`. A SOPS-encrypted file
    /// (such as `db.sops.yaml`) is decrypted with the host's age key.
    pub file: String,
    /// How the file is read. By default from its name: `.yaml`/`.yml`, `.json`, `.env` (or a
    /// name starting with `.env`); anything else is `binary`, one value mounted whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<DataFormat>,
}

/// The format of a data file: `yaml` (a mapping of keys to scalars), `json` (an object of keys
/// to scalars), `dotenv` (`KEY=value` lines) or `binary` (the whole file is one value, such as a
/// TLS key: it has no keys).
// No doc comment per variant: schemars would make each a `oneOf` branch, and a wrong value would
// read "matches none of the accepted forms" instead of listing the formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    Yaml,
    Json,
    Dotenv,
    Binary,
}

/// The format of an env file: a file of keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EnvFileFormat {
    Yaml,
    Json,
    Dotenv,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// DNS-1123 label (lowercase letters, digits and '-', at most 63 characters). For a Service
    /// it is also the container name.
    pub name: String,
    /// Copied onto the container, network or volume as Docker labels: a map, or a list of
    /// `key=value` (a key at most once).
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSpec {
    /// Desired state (default `running`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    /// `service` (default): kept running. `job`: run to completion once, run again only when its
    /// spec changes; others wait for it with `dependsOn: { name: completed }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Image reference, for example `registry.example:5000/shop/web:1.4`.
    pub image: String,
    /// When to pull the image (default `missing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<PullPolicy>,
    /// The command: a list of arguments, or a string split into words as a shell would (quotes
    /// and backslashes only), as compose does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandLine>,
    /// The entrypoint, in the forms of `command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<CommandLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `user`, `uid`, `user:group` or `uid:gid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Every key of a Secret or an env file as an environment variable, in order: a later entry
    /// overrides an earlier one, and `env` overrides them all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFrom>,
    /// Environment variables: a map, or a list of `NAME=value` (a name at most once; a bare
    /// `NAME` is refused, as moor does not pass on its own environment). Numbers and booleans are
    /// written as they read; `{ secret, key }` takes the value of one key of a Secret. A name is
    /// not empty and has no `=`.
    #[serde(default, skip_serializing_if = "Env::is_empty")]
    pub env: Env,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Mount>,
    /// Secret values as read-only files in the container (compose's `secrets`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretFile>,
    /// Files from the manifest source as read-only files in the container. Not secret: a change
    /// of their content replaces the container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<ConfigFile>,
    /// Networks to join: names of Network manifests or of existing Docker networks, as a list,
    /// or as a map of name to `{ aliases, ipv4Address, ipv6Address }` (the first network, which
    /// the container is created on, is then the first by name).
    #[serde(default, skip_serializing_if = "Networks::is_empty")]
    pub networks: Networks,
    /// Restart policy (default `no`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartPolicy>,
    /// `docker run --rm`: Docker deletes the container when it stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_remove: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Signal sent to stop the container, for example `SIGTERM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Grace period before the container is killed (humantime such as `1m30s`, up to `1h`,
    /// default `10s`). Docker counts whole seconds: a fraction rounds up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<DependsOn>,
    /// Number of containers (default 1). More than one gives `name-1` .. `name-N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: Option<u32>,
    /// An exact container name, taken as written in every instance (compose's `container_name`;
    /// without it the name is the service name, prefixed `<instance>_` outside the default
    /// instance). Docker's form: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`. Refused with `replicas` over 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<Update>,
    /// The container's host name (default: Docker's, the container ID's first 12 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The container's NIS domain name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    /// Extra `/etc/hosts` entries: `["host:ip", ...]` or `{ host: ip }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_hosts: Option<ExtraHosts>,
    /// DNS servers (IP addresses), in the order they are asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<OneOrMany>,
    /// DNS search domains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_search: Option<OneOrMany>,
    /// Resolver options (`resolv.conf` `options`), for example `ndots:2`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_opt: Vec<String>,
    /// Run Docker's init (tini) as PID 1, so that signals are forwarded and zombies reaped.
    /// Default: the daemon's setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    /// Mount the container's root filesystem read-only (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// Allocate a pseudo-TTY (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    /// Keep standard input open (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin_open: Option<bool>,
    /// Size of `/dev/shm`, for example `256Mi` (default: Docker's, 64 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<Size>,
    /// Ports exposed to other containers without publishing them on the host: `80`, `"53/udp"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<Scalar>,
    /// Namespaced kernel parameters: `{ net.core.somaxconn: 1024 }` or `["name=value"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sysctls: Option<Sysctls>,
    /// Resource limits by name (`nofile`, `nproc`, `memlock`, ...): a number, or
    /// `{ soft, hard }` with soft at most hard.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, Ulimit>,
    /// The log driver and its options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    /// Additional groups (names or numeric IDs) of the container's user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<Scalar>,
    /// Security options: `no-new-privileges[:true|false]`, `label=...` (SELinux),
    /// `apparmor=PROFILE`, `seccomp=unconfined`, `systempaths=unconfined`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    /// Run privileged: every capability and device of the host. Refused unless the host
    /// policy's `privileged` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// Linux capabilities to add (`NET_ADMIN`, `CAP_` may lead; `ALL` for every one). Those
    /// beyond Docker's default set are refused unless the host policy's `capabilities` names them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// Linux capabilities to drop from Docker's default set (`ALL` for every one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// Host devices: `/dev/x[:/dev/y[:rwm]]` or `{ source, target, permissions }` (the path in
    /// the container, default the same; the permissions, default `rwm`). Refused unless the host
    /// policy's `devices` allows the path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceEntry>,
    /// The PID namespace: `host` shares the host's process table (refused unless the host
    /// policy's `hostNamespaces.pid` is true), `container:NAME` or `service:NAME` another
    /// container's (a service's first container, which is then started first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    /// The IPC namespace: `private`, `shareable`, `none`, `host` (refused unless the host
    /// policy's `hostNamespaces.ipc` is true), `container:NAME` or `service:NAME` (a service's
    /// first container, which is then started first; that service needs `ipc: shareable`).
    /// Default: the daemon's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    /// A soft memory limit the kernel reclaims down to under pressure, for example `256Mi`; at
    /// most `resources.memory` when both are set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_reservation: Option<Size>,
    /// The relative CPU weight (2 to 262144; the kernel's default is 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<i64>,
    /// The CPUs the container may run on: `0-3`, `0,2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset_cpus: Option<String>,
    /// The memory nodes (NUMA) the container may use: `0`, `0-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset_mems: Option<String>,
    /// The OOM killer's preference for this container's processes, -1000 to 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i64>,
    /// Keep the OOM killer away from the container (cgroup v1 only; without `resources.memory`
    /// the host itself may run out of memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_kill_disable: Option<bool>,
    /// The user namespace: `host` turns off the daemon's user remapping for this container
    /// (refused unless the host policy's `hostNamespaces.user` is true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns: Option<String>,
    /// The cgroup namespace: `private` or `host` (refused unless the host policy's
    /// `hostNamespaces.cgroup` is true). Default: the daemon's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// The parent cgroup of the container's cgroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    /// The network namespace instead of `networks`: `none`, `host` (refused unless the host
    /// policy's `hostNamespaces.network` is true), `container:NAME` (a Docker container's), or
    /// `service:NAME` (the first container of that Service, which is then started first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// The OCI runtime the daemon runs the container with, such as `runc` or `nvidia` (one the
    /// daemon is configured with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// The platform of the image to run, `os[/arch[/variant]]`, such as `linux/arm64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    // Resource, device and namespace fields (issue 13, wt-res); converted in convert_resources.rs.
    /// The CPU time the container may use in each `cpuPeriod`: microseconds or a duration such
    /// as `50ms` (at least 1ms). Not beside `resources.cpus`, which Docker sets the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<Scalar>,
    /// The CFS scheduler period: microseconds or a duration, 1ms to 1s (the kernel's default
    /// is 100ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_period: Option<Scalar>,
    /// The real-time scheduler period: microseconds or a duration (needs a kernel with
    /// CONFIG_RT_GROUP_SCHED).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_rt_period: Option<Scalar>,
    /// The real-time CPU time in each `cpuRtPeriod`: microseconds or a duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_rt_runtime: Option<Scalar>,
    /// How readily the kernel swaps out the container's anonymous pages, 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_swappiness: Option<i64>,
    /// Memory plus swap, a size at least `resources.memory` (which it needs), or -1 for
    /// unlimited swap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memswap_limit: Option<Scalar>,
    /// Block IO weights and rate limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blkio_config: Option<BlkioConfig>,
    /// Options of the storage driver for the container's writable layer, such as `size: 1G`
    /// (overlay2 on xfs with pquota).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub storage_opt: BTreeMap<String, Scalar>,
    /// Device cgroup rules, `type major:minor permissions`: `c 1:3 mr`, `a *:* rwm`. Refused
    /// unless the host policy's `devices` allows all of `/dev` (a rule reaches devices by number).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    /// The UTS namespace: `host` shares the host's hostname (refused unless the host policy's
    /// `hostNamespaces.uts` is true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uts: Option<String>,
    /// GPUs: `all`, or device requests `{ driver, count, deviceIds, capabilities, options }`.
    /// Refused unless the host policy's `gpus` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<Gpus>,
    /// OCI annotations of the container (HostConfig.Annotations; Docker API 1.43).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, Scalar>,
    /// The container's MAC address on its first network, `02:42:ac:11:00:02` (Docker API 1.44).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    // The compose forms of wt-forms (issue 13).
    /// tmpfs mounts: one absolute path or a list, each optionally `:size=64m,mode=1777`
    /// (compose's `tmpfs`). The same as `volumes` entries of `type: tmpfs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<OneOrMany>,
    /// The volumes of other containers, mounted at their paths: `service:NAME` (its first
    /// container, which is then started first), `container:NAME` or a bare service name, each
    /// optionally `:ro` or `:rw` (compose's `volumes_from`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<String>,
    /// Files of `key=value` lines whose labels the container gets (compose's `label_file`):
    /// relative to the manifest's folder (no `..`), or absolute under the host's read paths. A
    /// later file overrides an earlier one, and `metadata.labels` override them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_file: Option<OneOrMany>,
    /// The nodes the service runs on (issue 14): all given conditions must hold. Without it,
    /// the service runs on every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<crate::manifest::placement::RawPlacement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Running,
    Stopped,
    Absent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PullPolicy {
    Always,
    Missing,
    Never,
}

/// An environment value. YAML reads `8080` as a number and `true` as a boolean; both are
/// accepted and passed to the container as they read. `{ secret, key }` is one key of a Secret.
// Untagged variants are tried in order: the scalar ones come first, as before Secrets, so every
// manifest written then reads exactly as it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum EnvValue {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    Secret(SecretKey),
}

/// One key of a Secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretKey {
    /// The name of a Secret manifest.
    pub secret: String,
    /// A key of its file.
    pub key: String,
}

/// One entry of `envFrom`: a Secret or an env file, exactly one of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvFrom {
    /// The name of a Secret manifest whose file has keys (not `binary`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// An env file, plain or SOPS-encrypted: relative to the manifest's folder (no `..`), or
    /// absolute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The env file's format; by default from its name (`.env`, `.yaml`/`.yml`, `.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<EnvFileFormat>,
    /// `false`: a missing env file is skipped (compose's `required`). Default true. Not for a
    /// Secret, which is declared and so always there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
}

/// A secret file: the short form, a Secret's name (a `binary` Secret, mounted whole at
/// `/run/secrets/<name>`), or the long form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SecretFile {
    Short(String),
    Long(SecretFileLong),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretFileLong {
    /// The name of a Secret manifest.
    pub secret: String,
    /// The key whose value the file holds: required for a Secret of keys, left out for a
    /// `binary` one (its whole file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Absolute path inside the container (default `/run/secrets/<secret>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Owner of the file (default root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 4294967295u32))]
    pub uid: Option<u32>,
    /// Group of the file (default root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 4294967295u32))]
    pub gid: Option<u32>,
    /// Default `0400`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<FileMode>,
}

/// A config file: its content is tracked (a change replaces the container), never secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigFile {
    /// Relative to the manifest's folder (no `..`), or absolute.
    pub file: String,
    /// Absolute path inside the container.
    pub target: String,
    /// Owner of the file (default root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 4294967295u32))]
    pub uid: Option<u32>,
    /// Group of the file (default root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 4294967295u32))]
    pub gid: Option<u32>,
    /// Default `0444`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<FileMode>,
}

/// A file mode from `0000` to `0777`: octal text such as `"0400"` or `"0o400"`, or a number
/// whose digits are read as octal digits (`400` is `0400`, as in compose files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum FileMode {
    Number(u64),
    Text(String),
}

/// A published port: the short form `[hostIp:][hostPort:]containerPort[/protocol]` (ports may be
/// ranges of the same length: `8000-8010:8000-8010`), or the long form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Port {
    Short(String),
    Long(PortLong),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortLong {
    /// Port inside the container.
    #[schemars(range(min = 1, max = 65535))]
    pub container: u32,
    /// Port on the host; leave it out for an ephemeral port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub host: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// A name for the port (compose `name`): documentation only, Docker has no field for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The application protocol (compose `app_protocol`, such as `http`): documentation only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
    /// Compose's `host` or `ingress` (Swarm's routing mesh, `--backend swarm`: published once
    /// for all replicas); a single daemon publishes on the host either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

/// A mount: the short form `[source:]target[:options]` (a source that starts with `.`, `/` or
/// `~/` is a bind mount, anything else a named volume; without a source, an anonymous volume),
/// or the long form. Options, comma-separated: `ro`, `rw`, `z`, `Z`, a propagation (`rslave`,
/// ...) for binds, `nocopy` for volumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Mount {
    Short(String),
    Long(MountLong),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MountLong {
    #[serde(rename = "type")]
    pub kind: MountKind,
    /// Volume name or host path; not used for tmpfs. A relative host path resolves against the
    /// manifest's folder, `~/` against moor's HOME. A volume without a source is anonymous: a
    /// replacement container starts with a new, empty one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Absolute path inside the container.
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// tmpfs only: size limit such as `64Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Size>,
    /// Bind only: propagation, host path creation, SELinux relabelling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<BindOptions>,
    /// Volume only: `nocopy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeOptions>,
    /// tmpfs only: `size` and `mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<TmpfsOptions>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

/// `no`, `always`, `unless-stopped`, `on-failure` or `on-failure:N`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct RestartPolicy(#[schemars(regex(pattern = r"^(no|always|unless-stopped|on-failure(:[0-9]+)?)$"))] pub String);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Healthcheck {
    /// `["CMD", "/app", "health"]`, `["CMD-SHELL", "curl -f localhost"]`, or a string run by
    /// the shell. `["NONE"]` disables a healthcheck the image defines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<HealthTest>,
    /// `true` disables a healthcheck the image defines, as `test: [NONE]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Duration>,
    /// How often to check during `startPeriod`. Needs Docker API 1.44 (Docker 25): a daemon
    /// that negotiates less leaves the service as it runs, refused at this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum HealthTest {
    Shell(String),
    Exec(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    /// Memory limit, such as `256Mi`, `1g` or a number of bytes: at least `6Mi` (Docker's
    /// minimum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Size>,
    /// CPU limit in cores, such as `0.5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.01, max = 1024))]
    pub cpus: Option<f64>,
    /// Maximum number of processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub pids: Option<i64>,
}

/// A size: `256Mi`, `1Gi`, `512k`, `1g`, or a plain number of bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Size {
    Bytes(u64),
    Text(String),
}

/// A humantime duration such as `10s`, `5m` or `1h 30m`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Duration(pub String);

/// Services this one waits for: a list of names (condition `started`), or a map from name to
/// condition, or to `{ condition, required, restart }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum DependsOn {
    List(Vec<String>),
    Map(BTreeMap<String, Depend>),
}

/// One dependency: its condition, or the long form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Depend {
    Condition(DependCondition),
    Long(DependLong),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DependLong {
    /// Default `started`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<DependCondition>,
    /// `false`: a dependency no manifest declares is not waited for, rather than a problem
    /// (default `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// `true`: this service is restarted after the dependency's containers are created,
    /// replaced or started again (default `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DependCondition {
    Started,
    Healthy,
    /// The dependency is a job (`mode: job`) that exited 0.
    Completed,
}

/// What a Service is: kept running, run to completion once, or (`global`) one task on every
/// node that its placement allows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Service,
    Job,
    /// Swarm's global mode: one task per eligible node. On the docker backend, where each agent
    /// runs what is placed on its node, it is one container per agent: a service of one replica.
    Global,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Update {
    /// `digest` asks the registry for the tag's digest every `interval` (default `none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<Watch>,
    /// How often to check the registry (default `5m`, at least `1s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Default `stop-first`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// How long the new container may take to become healthy (default `60s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_timeout: Option<Duration>,
    /// Bring the old container back when an update fails (default `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<bool>,
    /// `--backend swarm`: how many tasks Swarm replaces at once (default 1, at least 1). The
    /// docker backend replaces one container at a time whatever this says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub parallelism: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Watch {
    None,
    Digest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    StopFirst,
    StartFirst,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkSpec {
    /// Network driver (default `bridge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Restrict external access to the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal: Option<bool>,
    /// Driver options.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    /// Containers started outside moor (`docker run --network`) may join (compose `attachable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachable: Option<bool>,
    /// IPv6 on this network (compose `enable_ipv6`); needed for an IPv6 `ipam` subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    /// Address management: the subnets services take static addresses from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam: Option<crate::manifest::network::RawIpam>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VolumeSpec {
    /// Volume driver (default `local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Driver options.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}
