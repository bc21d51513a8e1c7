//! The raw host policy document: exactly what an administrator writes in `--policy FILE`.
//!
//! Invariants:
//! - These types are the single source of the policy's JSON schema (`moor schema --policy`,
//!   `schema/moor-policy.schema.json`); nothing about the format is written by hand elsewhere.
//! - Every struct denies unknown fields: a misspelt rule is an error, never a rule that silently
//!   does not apply.
//! - Every rule is an `Option`, `None` only when left out (`null` is refused, as in the schema):
//!   a rule left out keeps its default ([`super::defaults`], shown in
//!   the schema as `default`), applied in one place, `super::load::convert`. A policy file
//!   therefore only ever tightens or loosens what it names.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::defaults;
pub use crate::manifest::raw::ApiVersion;

/// A rule that is written must hold a value: `allow:` with nothing after it (every entry
/// commented out, say) is an error, not the default. Left out, the field is `None`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A host policy: what manifests applied on this host may ask of it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyDoc {
    pub api_version: ApiVersion,
    pub kind: PolicyKind,
    /// The rules. Left out, or any rule left out of it: the default.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "PolicySpec")]
    pub spec: Option<PolicySpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PolicyKind {
    HostPolicy,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySpec {
    /// Host paths that bind mounts may name (including the host paths behind local volumes
    /// with `o: bind` driver options).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "BindMounts")]
    pub bind_mounts: Option<BindMounts>,
    /// Registries images may come from: host names (with port) as patterns, `*` for any run of
    /// characters, such as `ghcr.io`, `registry.example:5000` or `*.corp.example`. An image
    /// without a registry part (`nginx`, `acme/web`) comes from `docker.io`.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<String>")]
    #[schemars(extend("default" = defaults::REGISTRIES))]
    pub registries: Option<Vec<String>>,
    /// Host ports services may publish: a port (`443`) or an inclusive range (`"8000-8999"`). A
    /// port published without a host port (Docker picks an ephemeral one) is always allowed.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<PortRange>")]
    #[schemars(extend("default" = defaults::HOST_PORTS))]
    pub host_ports: Option<Vec<PortRange>>,
    /// Privileged containers (`privileged: true`).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    #[schemars(extend("default" = false))]
    pub privileged: Option<bool>,
    /// The host's namespaces a container may join: `network` is the `host` network
    /// (`networks: [host]`), `pid` is `pid: host`, `ipc` is `ipc: host`, `user` is `userns: host`,
    /// `cgroup` is `cgroup: host`, `uts` is `uts: host`.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "HostNamespaces")]
    pub host_namespaces: Option<HostNamespaces>,
    /// Capabilities a container may add beyond Docker's default set, such as `NET_ADMIN` (a
    /// `CAP_` prefix is allowed), as `capAdd` asks for them; `ALL` allows `capAdd: [ALL]`.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<String>")]
    #[schemars(extend("default" = defaults::CAPABILITIES))]
    pub capabilities: Option<Vec<String>>,
    /// Host devices a container may be given, such as `/dev/fuse` (a device, or a folder of
    /// them), as `devices` asks for them.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<String>")]
    #[schemars(extend("default" = defaults::DEVICES))]
    pub devices: Option<Vec<String>>,
    /// GPUs (`gpus`): device requests the daemon's GPU driver fills with host devices.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    #[schemars(extend("default" = false))]
    pub gpus: Option<bool>,
    /// Containers outside the manifests that a service may join or take volumes from
    /// (`networkMode`, `ipc`, `pid` as `container:NAME`; `volumesFrom: container:NAME`), by
    /// name; `"*"` allows any. A joined container lends everything it has (the host's
    /// namespaces, the Docker socket), which this policy cannot see. `service:NAME` joins are
    /// not covered: the service joined is held to this policy itself.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<String>")]
    #[schemars(extend("default" = []))]
    pub container_joins: Option<Vec<String>>,
    /// Folders outside the manifest source from which Secrets, env files and configs may be read
    /// (absolute, without `..`). Files inside the manifest source are always readable. Symbolic
    /// links are resolved before the check: a file whose link leads out of these folders (and of
    /// the source) is refused. `[]`: only the manifest source.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<String>")]
    #[schemars(extend("default" = defaults::READ_PATHS))]
    pub read_paths: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BindMounts {
    /// Bind sources must be at or under one of these host paths (`/` allows any).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<String>")]
    #[schemars(extend("default" = defaults::BIND_ALLOW))]
    pub allow: Option<Vec<String>>,
    /// Host paths no bind may reach: a source at, under or above one of them (a folder that
    /// contains it) is refused, read-only or not. Writing this list replaces the default one.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<String>")]
    #[schemars(extend("default" = defaults::BIND_DENY))]
    pub deny: Option<Vec<String>>,
    /// Host paths binds may reach read-only only: a read-write source at, under or above one of
    /// them is refused.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<String>")]
    #[schemars(extend("default" = defaults::BIND_READ_ONLY))]
    pub read_only: Option<Vec<String>>,
    /// May a bind reach the Docker socket: a file named `docker.sock` anywhere,
    /// `/run/docker.sock`, `/var/run/docker.sock`, the socket moor talks to, or a folder holding
    /// one of them. Access to the socket is root on the host.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    #[schemars(extend("default" = false))]
    pub docker_socket: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostNamespaces {
    /// The host's network stack (`networks: [host]`, `networkMode: host`).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    #[schemars(extend("default" = false))]
    pub network: Option<bool>,
    /// The host's process table (`pid: host`).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    #[schemars(extend("default" = false))]
    pub pid: Option<bool>,
    /// The host's System V IPC and shared memory (`ipc: host`).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    #[schemars(extend("default" = false))]
    pub ipc: Option<bool>,
    /// The host's user namespace, that is no user remapping (`userns: host`).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    #[schemars(extend("default" = false))]
    pub user: Option<bool>,
    /// The host's cgroup namespace (`cgroup: host`).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    #[schemars(extend("default" = false))]
    pub cgroup: Option<bool>,
    /// The host's hostname and domain name (`uts: host`).
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    #[schemars(extend("default" = false))]
    pub uts: Option<bool>,
}

/// A host port (`443`) or an inclusive range of them (`"8000-8999"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PortRange {
    Port(u32),
    Range(#[schemars(regex(pattern = r"^[0-9]+(-[0-9]+)?$"))] String),
}
