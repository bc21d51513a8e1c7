//! The validated model: what the rest of moor works with.
//!
//! Invariants:
//! - Every default is applied here, in [`DEFAULTS`] and the `convert_*` functions (those of
//!   ports, mounts and healthchecks in `super::convert`, of the compose-parity fields in
//!   [`super::convert_host`], of Secrets, env files and configs in [`super::convert_refs`]), and
//!   nowhere else.
//! - Durations, sizes, ports and mounts are parsed; relative bind paths are absolute (resolved
//!   against the manifest's folder).
//! - [`ContainerSpec`] holds exactly the fields that affect a container. Its canonical JSON is
//!   what `moor.spec-hash` is made of (and `moor.last-applied`, without its defaults), so lists whose order does not
//!   matter to Docker (ports, mounts, networks) are sorted here: reordering a manifest must not
//!   recreate a container.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use super::convert::parse_port;
pub(super) use super::convert::resolve_bind;
use super::convert::{convert_healthcheck, convert_mount, convert_port, size_bytes, Checker};
use super::convert_forms;
use super::convert_host;
use super::convert_job;
use super::convert_refs;
use super::convert_resources;
use super::convert_tuning;
use super::limits;
use super::locate::FileText;
use super::problem::FieldPath;
use super::raw;
use super::units::{self, duration_text};

pub use super::mount::Mount;
pub use super::refs::{FileKind, FileMount, ServiceRefs, Values};
pub use raw::{DependCondition, Mode, Protocol, PullPolicy, State, Strategy, Watch};

/// The defaults of the `moor/v1` format.
pub struct Defaults {
    pub stop_timeout: Duration,
    pub update_interval: Duration,
    pub health_timeout: Duration,
    pub network_driver: &'static str,
    pub volume_driver: &'static str,
}

pub const DEFAULTS: Defaults = Defaults {
    stop_timeout: Duration::from_secs(10),
    update_interval: Duration::from_secs(300),
    health_timeout: Duration::from_secs(60),
    network_driver: "bridge",
    volume_driver: "local",
};

/// Where an object was declared: its file and document. The line and column of its name are
/// worked out only when a problem names them (see [`Source::position`]), so that loading a
/// valid folder never indexes positions; the file is indexed once for all its objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub file: PathBuf,
    /// The document's number in its file (0-based).
    pub document: usize,
    /// The file's text and its index, shared by its documents.
    #[serde(skip)]
    pub text: std::sync::Arc<FileText>,
}

impl Source {
    /// A source for document `document` of `text`, as if read from `file` (the host policy file's
    /// problems are located the same way).
    pub fn of_text(file: &std::path::Path, document: usize, text: &str) -> Source {
        Source { file: file.into(), document, text: std::sync::Arc::new(FileText::new(text)) }
    }

    /// The line and column of `metadata.name`.
    pub fn position(&self) -> (Option<usize>, Option<usize>) {
        self.locate(&FieldPath::parse("metadata.name"))
    }

    /// The line and column of the value at `path` in this document, or of its nearest ancestor
    /// written there: for problems found after loading (the host policy's).
    pub fn locate(&self, path: &FieldPath) -> (Option<usize>, Option<usize>) {
        let pos = self.text.document(self.document).and_then(|d| d.value(path));
        (pos.map(|p| p.line), pos.map(|p| p.column))
    }

    /// The line and column of the key that names `path` (for an unknown field, or a key with
    /// no value), else of its value.
    pub fn locate_key(&self, path: &FieldPath) -> (Option<usize>, Option<usize>) {
        let pos = self.text.document(self.document).and_then(|d| d.key(path));
        (pos.map(|p| p.line), pos.map(|p| p.column))
    }
}

/// Where each entry of the sorted lists of [`ContainerSpec`] was written in the manifest: entry
/// `i` of `container.ports` is `spec.ports[ports[i]]`, and so on. The lists are sorted (and
/// networks deduplicated) for the spec hash; a message about one entry must still point at the
/// line the user wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub ports: Vec<usize>,
    pub mounts: Vec<usize>,
    pub networks: Vec<usize>,
    /// `networks` was written as a map: an entry is at its name, not an index.
    pub networks_keyed: bool,
    pub cap_add: Vec<usize>,
    pub devices: Vec<usize>,
    pub security_opt: Vec<usize>,
    /// The entries of `container.ports` (by their index there) written with `mode: ingress`:
    /// published through Swarm's routing mesh on `--backend swarm`. Outside the container spec,
    /// since a single daemon publishes on the host either way.
    pub ingress: std::collections::BTreeSet<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub name: String,
    /// The canonical JSON of `container`, made once at load, since every plan compares it.
    /// Whoever changes `container` must remake it with [`ContainerSpec::canonical_json`].
    #[serde(skip)]
    pub canonical: String,
    #[serde(skip)]
    pub source: Option<Source>,
    /// Where the entries of `container`'s sorted lists were written (see [`Written`]).
    #[serde(skip)]
    pub written: Written,
    pub state: State,
    /// A kept-running service, or a job run to completion once (shown only for a job).
    #[serde(skip_serializing_if = "is_service")]
    pub mode: Mode,
    pub pull: PullPolicy,
    pub replicas: u32,
    /// The exact container name (`containerName`), the same in every instance; not part of the
    /// spec: changing it renames the container (see `crate::names`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    pub depends_on: BTreeMap<String, DependCondition>,
    /// Dependencies with `required: false`: not waited for when no manifest declares them.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub depends_optional: BTreeSet<String>,
    /// Dependencies with `restart: true`: when one of them gets a container created, replaced or
    /// started, this service's running containers are restarted after it (see `plan`).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub restart_with: BTreeSet<String>,
    pub update: UpdatePolicy,
    pub container: ContainerSpec,
    /// What the service asks of Secrets, env files and configs, as written. Resolving
    /// ([`crate::secrets::resolve`]) fills `container.sealed_env`, `container.files` and
    /// `values` from it.
    #[serde(skip)]
    pub refs: ServiceRefs,
    /// The values behind `container.sealed_env` and `container.files`, once resolved.
    #[serde(skip)]
    pub values: Values,
    /// The canonical JSON the release before secrets made of this service, when it differs from
    /// `canonical` only because a plain `env` key that looks secret is now sealed: a container
    /// whose hash matches it is current, so upgrading replaces nothing.
    #[serde(skip)]
    pub legacy_canonical: Option<String>,
    /// `spec.placement` (outside the spec hash): `None` runs on every node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<super::placement::Placement>,
}

fn is_service(mode: &Mode) -> bool {
    *mode == Mode::Service
}

impl Service {
    /// The desired state for status: `running`, `running x3`, `stopped` or `absent`.
    pub fn desired_summary(&self) -> String {
        match (self.state, self.replicas) {
            (State::Running, _) if self.is_job() => "completed (job)".into(),
            (State::Running, n) if n > 1 => format!("running x{n}"),
            (state, _) => format!("{state:?}").to_lowercase(),
        }
    }

    pub fn is_job(&self) -> bool {
        self.mode == Mode::Job
    }

    /// The base container names of this service: the service name, or `name-1` .. `name-N`.
    /// The names in an instance, `containerName` included, are `crate::names::container_names`.
    pub fn container_names(&self) -> Vec<String> {
        if self.replicas == 1 {
            vec![self.name.clone()]
        } else {
            (1..=self.replicas).map(|i| format!("{}-{i}", self.name)).collect()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdatePolicy {
    pub watch: Watch,
    #[serde(with = "duration_text")]
    pub interval: Duration,
    pub strategy: Strategy,
    #[serde(with = "duration_text")]
    pub health_timeout: Duration,
    pub rollback: bool,
    /// Tasks Swarm replaces at once (`--backend swarm` only).
    #[serde(skip_serializing_if = "is_one")]
    pub parallelism: u32,
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

impl ContainerSpec {
    /// The spec of a container of `image` with nothing else set: restart `no`, Docker's own 10 s
    /// stop timeout. For tests and tools that need a spec without a manifest.
    pub fn bare(image: &str) -> ContainerSpec {
        ContainerSpec {
            image: image.to_string(),
            command: None,
            entrypoint: None,
            working_dir: None,
            user: None,
            env: BTreeMap::new(),
            sealed_env: BTreeMap::new(),
            labels: BTreeMap::new(),
            ports: Vec::new(),
            mounts: Vec::new(),
            networks: Vec::new(),
            restart: Restart::No,
            auto_remove: false,
            healthcheck: None,
            resources: Resources::default(),
            stop_signal: None,
            stop_timeout: Duration::from_secs(10),
            files: Vec::new(),
            host: HostOptions::default(),
            resource: Default::default(),
        }
    }

    /// Canonical JSON: sorted keys at every level, no whitespace. What `moor.spec-hash` hashes
    /// (`moor.last-applied` holds it without the fields left at their defaults).
    pub fn canonical_json(&self) -> String {
        fn sorted(value: serde_json::Value) -> serde_json::Value {
            match value {
                serde_json::Value::Object(map) => {
                    let mut entries: Vec<_> = map.into_iter().collect();
                    entries.sort_by(|a, b| a.0.cmp(&b.0));
                    serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
                }
                serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(sorted).collect()),
                other => other,
            }
        }
        sorted(serde_json::to_value(self).expect("a ContainerSpec serializes")).to_string()
    }
}

/// Everything that shapes a container. Changing any field means the container is replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerSpec {
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Environment variables whose values are secret (from a Secret, an env file, or a plain
    /// `env` key that looks secret): name to the value's keyed digest, `hmac-sha256:<hex>`. The
    /// values are in [`Service::values`]. Left out when empty, so a spec without secrets has the
    /// canonical JSON (and spec hash) of the release before secrets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sealed_env: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub ports: Vec<PortBinding>,
    #[serde(default)]
    pub mounts: Vec<Mount>,
    #[serde(default)]
    pub networks: Vec<String>,
    pub restart: Restart,
    pub auto_remove: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(with = "duration_text")]
    pub stop_timeout: Duration,
    /// Secret and config files moor writes and bind-mounts read-only, sorted by target. Left out
    /// when empty, as `sealed_env`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileMount>,
    /// The compose-parity fields (issue 13), each left out when unset, so a spec without them
    /// has the canonical JSON (and spec hash) of the release before them.
    #[serde(flatten)]
    pub host: HostOptions,
    /// CPU quotas, swap, block IO, storage options, device rules, UTS, GPUs: flattened beside
    /// `host` (a flatten inside `host` would defeat `deny_unknown_fields` here).
    #[serde(flatten)]
    pub resource: super::model_resources::ResourceOptions,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The container settings of the compose-parity fields. Lists whose order Docker ignores
/// (`expose`, `groupAdd`, `securityOpt`) are sorted; `dns`, `dnsSearch`, `dnsOpt` and
/// `extraHosts` keep the written order, which the resolver follows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    /// `host:ip` entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_opt: Vec<String>,
    /// `None`: the daemon's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub tty: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub stdin_open: bool,
    /// Bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<u64>,
    /// Docker's `port/protocol` keys, sorted and deduplicated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, Ulimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub privileged: bool,
    /// Capability names without `CAP_`, upper case, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// Sorted by the path in the container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    /// Bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_reservation: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset_cpus: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset_mems: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i64>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub oom_kill_disable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    /// `none`, `host`, `container:NAME` or `service:NAME`; the last is kept as written (one hash
    /// in every instance) and placed as the service's first container at create
    /// (`crate::names::placed_spec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// The settings of the networks that have some (the map form of `networks`), by network
    /// name; a network without settings has no entry, so the list form's JSON is unchanged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub network_endpoints: BTreeMap<String, NetworkEndpoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// `os[/arch[/variant]]`, lower case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `NAME[:ro|rw]` of a container outside the manifests, or `service:NAME[:ro|rw]` (placed as
    /// `network_mode`'s), in the written order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<String>,
}

/// A service's settings on one network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkEndpoint {
    /// Sorted and deduplicated; the service name is always an alias besides these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
}

/// A host device given to the container.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Device {
    pub host: String,
    pub container: String,
    /// cgroup permissions: some of `r`, `w`, `m`.
    pub permissions: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ulimit {
    pub soft: i64,
    pub hard: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortBinding {
    pub container: u16,
    pub protocol: Protocol,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
}

/// Docker's restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    No,
    Always,
    UnlessStopped,
    OnFailure(Option<u32>),
}

impl Restart {
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "no" => Restart::No,
            "always" => Restart::Always,
            "unless-stopped" => Restart::UnlessStopped,
            "on-failure" => Restart::OnFailure(None),
            other => match other.strip_prefix("on-failure:").map(str::parse) {
                Some(Ok(n)) => Restart::OnFailure(Some(n)),
                _ => {
                    return Err(format!(
                        "invalid restart policy {other:?}; use no, always, unless-stopped, on-failure or on-failure:N"
                    ))
                }
            },
        })
    }
}

impl std::fmt::Display for Restart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Restart::No => f.write_str("no"),
            Restart::Always => f.write_str("always"),
            Restart::UnlessStopped => f.write_str("unless-stopped"),
            Restart::OnFailure(None) => f.write_str("on-failure"),
            Restart::OnFailure(Some(n)) => write!(f, "on-failure:{n}"),
        }
    }
}

impl Serialize for Restart {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Restart {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Restart::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Healthcheck {
    /// Docker's form: `["CMD", ...]`, `["CMD-SHELL", "..."]` or `["NONE"]`.
    pub test: Vec<String>,
    #[serde(default, with = "duration_text::option", skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(default, with = "duration_text::option", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(default, with = "duration_text::option", skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Duration>,
    /// Docker API 1.44: sent only to a daemon that negotiated it (`engine::api_version`).
    #[serde(default, with = "duration_text::option", skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<Duration>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Network {
    pub name: String,
    #[serde(skip)]
    pub source: Option<Source>,
    pub labels: BTreeMap<String, String>,
    pub driver: String,
    pub internal: bool,
    pub options: BTreeMap<String, String>,
    pub attachable: bool,
    pub enable_ipv6: bool,
    /// `None`: Docker's default address management (a subnet it picks).
    pub ipam: Option<super::network::Ipam>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Volume {
    pub name: String,
    #[serde(skip)]
    pub source: Option<Source>,
    pub labels: BTreeMap<String, String>,
    pub driver: String,
    pub options: BTreeMap<String, String>,
}

/// A problem found while converting one document, located by field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub path: FieldPath,
    /// Placed on the key that names `path` (a bad environment variable name), not its value.
    pub on_key: bool,
    pub message: String,
}

/// Checks a DNS-1123 label: what Docker names, Kubernetes names and DNS all accept.
pub fn check_dns1123(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a DNS-1123 label: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
        ))
    }
}

/// A plain value's text; `None` for a `{ secret, key }` reference (see [`convert_refs`]).
fn env_text(value: &raw::EnvValue) -> Option<String> {
    match value {
        raw::EnvValue::String(s) => Some(s.clone()),
        raw::EnvValue::Integer(n) => Some(n.to_string()),
        raw::EnvValue::Float(x) => Some(x.to_string()),
        raw::EnvValue::Bool(b) => Some(b.to_string()),
        raw::EnvValue::Secret(_) => None,
    }
}

/// Converts a Service document. `base` is the manifest's folder, for relative bind paths.
pub fn convert_service(doc: &raw::ServiceDoc, base: &Path) -> Result<Service, Vec<FieldProblem>> {
    let mut c = Checker::default();
    let spec = &doc.spec;
    let sp = FieldPath::root().key("spec");
    let name = doc.metadata.name.clone();
    c.check(FieldPath::parse("metadata.name"), check_dns1123(&name));

    let state = spec.state.unwrap_or(State::Running);
    let replicas = spec.replicas.unwrap_or(1);
    if replicas == 0 {
        c.report(sp.key("replicas"), "replicas must be at least 1; use state: absent for no container");
    }
    if replicas > 1000 {
        c.report(sp.key("replicas"), format!("replicas: {replicas} is more than 1000"));
    }
    let container_name = spec.container_name.as_ref().and_then(|n| {
        let name = c.check(sp.key("containerName"), check_container_name(n))?;
        if replicas > 1 {
            let message = format!("containerName names one container, and replicas: {replicas} asks for {replicas}; drop one of them (compose refuses the same)");
            c.report(sp.key("containerName"), message);
        }
        Some(name)
    });
    if replicas > 1 {
        let longest = format!("{name}-{replicas}");
        if check_dns1123(&longest).is_err() {
            c.report(sp.key("replicas"), format!("container name {longest:?} would be longer than 63 characters"));
        }
    }

    let restart =
        spec.restart.as_ref().map(|r| c.check(sp.key("restart"), Restart::parse(&r.0))).unwrap_or(Some(Restart::No));
    let auto_remove = spec.auto_remove.unwrap_or(false);
    if let (true, Some(r)) = (auto_remove, restart) {
        if r != Restart::No {
            c.report(
                sp.key("autoRemove"),
                format!("true cannot be combined with restart: {r}: Docker deletes an auto-removed container when it stops, so it can never restart (Docker rejects this with 400); use restart: no"),
            );
        }
    }
    convert_job::check_job(spec, &sp, restart, &mut c);
    let placement = super::placement::convert(spec.placement.as_ref(), &sp, &mut c);
    if auto_remove && state == State::Stopped {
        c.report(
            sp.key("state"),
            "stopped cannot hold with autoRemove: true: Docker deletes an auto-removed container as soon as it stops; use state: absent",
        );
    }

    // Each entry with its index in `ports` (a range gives several).
    let mut entries = Vec::new();
    for (i, p) in spec.ports.iter().enumerate() {
        if let Some(ps) = c.check(sp.key("ports").index(i), convert_port(p)) {
            entries.extend(ps.into_iter().map(|p| (i, p)));
        }
    }
    let mut seen_host = BTreeMap::new();
    for (i, p) in &entries {
        if let Some(h) = p.host {
            match seen_host.insert((h, p.protocol, p.host_ip.clone()), *i) {
                Some(first) if first != *i => {
                    c.report(sp.key("ports").index(*i), format!("host port {h} is already published by ports[{first}]"))
                }
                _ => {}
            }
        }
    }
    // Swarm's routing mesh publishes an ingress port once for all tasks, so replicas share it.
    let is_ingress = |i: usize| matches!(&spec.ports[i], raw::Port::Long(p) if p.mode.as_deref() == Some("ingress"));
    let ingress_entries: Vec<PortBinding> =
        entries.iter().filter(|(i, _)| is_ingress(*i)).map(|(_, p)| p.clone()).collect();
    let mut ports: Vec<PortBinding> = entries.into_iter().map(|(_, p)| p).collect();
    let fixed_host_port = ports.iter().filter(|p| !ingress_entries.contains(p)).find_map(|p| p.host);
    if let (Some(h), true) = (fixed_host_port, replicas > 1) {
        c.report(
            sp.key("replicas"),
            format!(
                "replicas: {replicas} cannot share fixed host port {h}; leave the host port out for an ephemeral one"
            ),
        );
    }

    let mut mounts = Vec::new();
    for (i, m) in spec.volumes.iter().enumerate() {
        if let Some(m) = c.check(sp.key("volumes").index(i), convert_mount(m, base)) {
            mounts.push(m);
        }
    }
    let mut targets = BTreeMap::new();
    for (i, m) in mounts.iter().enumerate() {
        if let Some(first) = targets.insert(m.target().to_string(), i) {
            c.report(
                sp.key("volumes").index(i),
                format!("mount target {} is already used by volumes[{first}]", m.target()),
            );
        }
    }
    // `tmpfs` paths are mounts after the `volumes` (index `volumes.len() + j` in `Written`).
    let tmpfs = spec.tmpfs.as_ref().map(|t| convert_forms::tmpfs_mounts(t, &sp.key("tmpfs"), &mut c));
    for (m, at) in tmpfs.unwrap_or_default() {
        if let Some(first) = targets.get(m.target()) {
            c.report(at, format!("mount target {} is already used by volumes[{first}]", m.target()));
            continue;
        }
        targets.insert(m.target().to_string(), mounts.len());
        mounts.push(m);
    }

    let (mut host, host_written) = convert_host::convert_host(spec, &sp, &mut c);
    let command = spec.command.as_ref().and_then(|l| c.check(sp.key("command"), convert_host::command_words(l)));
    let entrypoint =
        spec.entrypoint.as_ref().and_then(|l| c.check(sp.key("entrypoint"), convert_host::command_words(l)));

    let refs = convert_refs::convert_service_refs(spec, base, &targets, &mut c.problems);

    let healthcheck = spec.healthcheck.as_ref().and_then(|h| convert_healthcheck(h, &sp.key("healthcheck"), &mut c));

    let mut resources = Resources::default();
    if let Some(r) = &spec.resources {
        let rp = sp.key("resources");
        resources.memory =
            r.memory.as_ref().and_then(|m| c.check(rp.key("memory"), size_bytes(m).and_then(limits::memory)));
        resources.cpus = r.cpus.and_then(|n| c.check(rp.key("cpus"), limits::cpus(n)));
        resources.pids = r.pids.and_then(|n| c.check(rp.key("pids"), limits::pids(n)));
    }
    convert_tuning::convert_tuning(spec, &sp, resources.memory, &mut host, &mut c);
    let resource = convert_resources::convert_resources(spec, &sp, resources.memory, resources.cpus, &mut c);

    // Docker counts the grace period in whole seconds: a fraction (compose's `1m30.5s`,
    // `500ms`) rounds up, so the container gets at least the time written.
    let stop_timeout = match &spec.stop_timeout {
        Some(d) => c.check(
            sp.key("stopTimeout"),
            units::parse_duration(&d.0).map(units::round_up_to_seconds).and_then(limits::stop_timeout),
        ),
        None => Some(DEFAULTS.stop_timeout),
    };

    let mut env = BTreeMap::new();
    let list_form = matches!(spec.env, raw::Env::List(_));
    for (name, value, path) in convert_forms::env_entries(&spec.env, &sp.key("env"), &mut c) {
        if let Err(m) = limits::env_name(&name) {
            if list_form {
                c.report(path.clone(), m);
            } else {
                c.report_key(path.clone(), m);
            }
        }
        if let Some(value) = env_text(&value) {
            c.check(path, limits::env_value(&value));
            env.insert(name, value);
        }
    }
    let labels = convert_forms::labels(&doc.metadata.labels, &FieldPath::parse("metadata.labels"), &mut c);

    let (depends_on, depends_optional, restart_with) = convert_job::convert_depends(spec.depends_on.as_ref());
    if depends_on.contains_key(&name) {
        c.report(sp.key("dependsOn"), format!("service {name:?} cannot depend on itself"));
    }

    let update = convert_update(spec.update.as_ref(), &sp.key("update"), &mut c);
    if let (Some(u), Some(h)) = (&update, fixed_host_port) {
        if u.strategy == Strategy::StartFirst {
            c.report(
                sp.key("update").key("strategy"),
                format!("start-first cannot work with fixed host port {h}: the old and new containers would both bind it; use stop-first or an ephemeral host port"),
            );
        }
    }

    let written_networks = spec.networks.names();
    let mut networks: Vec<String> = written_networks.clone();
    networks.sort();
    networks.dedup();
    let (ports_written, mounts_written) = (ports.clone(), mounts.clone());
    ports.sort();
    mounts.sort_by(|a, b| a.target().cmp(b.target()));
    // With no problem every entry converted, so an index into these lists is the manifest's.
    let written = Written {
        ports: ports.iter().map(|p| ports_written.iter().position(|w| w == p).unwrap_or_default()).collect(),
        mounts: mounts.iter().map(|m| mounts_written.iter().position(|w| w == m).unwrap_or_default()).collect(),
        networks: networks.iter().map(|n| written_networks.iter().position(|w| w == n).unwrap_or_default()).collect(),
        networks_keyed: matches!(spec.networks, raw::Networks::Map(_)),
        cap_add: host_written.cap_add,
        devices: host_written.devices,
        security_opt: host_written.security_opt,
        ingress: ports.iter().enumerate().filter(|(_, p)| ingress_entries.contains(p)).map(|(k, _)| k).collect(),
    };

    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    let container = ContainerSpec {
        image: spec.image.clone(),
        command,
        entrypoint,
        working_dir: spec.working_dir.clone(),
        user: spec.user.clone(),
        env,
        labels,
        ports,
        mounts,
        networks,
        restart: restart.expect("no problems"),
        auto_remove,
        healthcheck,
        resources,
        stop_signal: spec.stop_signal.clone(),
        stop_timeout: stop_timeout.expect("no problems"),
        files: Vec::new(),
        sealed_env: BTreeMap::new(),
        host,
        resource,
    };
    Ok(Service {
        name,
        canonical: container.canonical_json(),
        source: None,
        written,
        state,
        mode: spec.mode.unwrap_or_default(),
        pull: spec.pull.unwrap_or(PullPolicy::Missing),
        replicas,
        container_name,
        depends_on,
        depends_optional,
        restart_with,
        update: update.expect("no problems"),
        container,
        refs,
        values: Values::default(),
        legacy_canonical: None,
        placement,
    })
}

/// Docker's container-name form: `[a-zA-Z0-9][a-zA-Z0-9_.-]*` (a leading `/` is Docker's own
/// and not accepted here), at most 255 characters.
fn check_container_name(name: &str) -> Result<String, String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    match (first_ok && rest_ok, name.len() <= 255) {
        (true, true) => Ok(name.to_string()),
        (true, false) => Err(format!("a container name is at most 255 characters, not {}", name.len())),
        (false, _) => Err(format!(
            "{name:?} is not a Docker container name: a letter or digit, then letters, digits, '_', '.' or '-'"
        )),
    }
}

fn convert_update(u: Option<&raw::Update>, path: &FieldPath, c: &mut Checker) -> Option<UpdatePolicy> {
    let duration = |c: &mut Checker, name: &str, d: Option<&raw::Duration>, default: Duration| match d {
        Some(d) => c.check(path.key(name), units::parse_duration(&d.0)),
        None => Some(default),
    };
    let interval = duration(c, "interval", u.and_then(|u| u.interval.as_ref()), DEFAULTS.update_interval)
        .and_then(|d| c.check(path.key("interval"), limits::check_interval(d)));
    let health_timeout =
        duration(c, "healthTimeout", u.and_then(|u| u.health_timeout.as_ref()), DEFAULTS.health_timeout);
    Some(UpdatePolicy {
        watch: u.and_then(|u| u.watch).unwrap_or(Watch::None),
        interval: interval?,
        strategy: u.and_then(|u| u.strategy).unwrap_or(Strategy::StopFirst),
        health_timeout: health_timeout?,
        rollback: u.and_then(|u| u.rollback).unwrap_or(true),
        parallelism: match u.and_then(|u| u.parallelism) {
            Some(0) => {
                c.report(path.key("parallelism"), "parallelism is at least 1: the number of tasks replaced at once");
                1
            }
            Some(n) => n,
            None => 1,
        },
    })
}

/// The labels of a Network or Volume document, in either form.
pub(super) fn metadata_labels(metadata: &raw::Metadata) -> Result<BTreeMap<String, String>, Vec<FieldProblem>> {
    let mut c = Checker::default();
    c.check(FieldPath::parse("metadata.name"), check_dns1123(&metadata.name));
    let labels = convert_forms::labels(&metadata.labels, &FieldPath::parse("metadata.labels"), &mut c);
    if c.problems.is_empty() {
        Ok(labels)
    } else {
        Err(c.problems)
    }
}

pub fn convert_volume(doc: &raw::VolumeDoc) -> Result<Volume, Vec<FieldProblem>> {
    let labels = metadata_labels(&doc.metadata)?;
    let spec = doc.spec.clone().unwrap_or(raw::VolumeSpec { driver: None, options: BTreeMap::new() });
    Ok(Volume {
        name: doc.metadata.name.clone(),
        source: None,
        labels,
        driver: spec.driver.unwrap_or_else(|| DEFAULTS.volume_driver.to_string()),
        options: spec.options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_round_trip() {
        for text in ["no", "always", "unless-stopped", "on-failure", "on-failure:3"] {
            assert_eq!(Restart::parse(text).unwrap().to_string(), text);
        }
        assert!(Restart::parse("sometimes").is_err());
    }

    #[test]
    fn dns1123() {
        assert!(check_dns1123("web-1").is_ok());
        for bad in ["Web", "-web", "web-", "we_b", "", &"a".repeat(64)] {
            assert!(check_dns1123(bad).is_err(), "{bad:?} accepted");
        }
    }
}
