//! The host policy: what manifests applied on this host may ask of it.
//!
//! Whoever can change the manifests (with `moor run --git`, whoever can push) would otherwise
//! own the host: `volumes: ["/:/host"]` or a bind of the Docker socket is root on it. The policy
//! is the boundary, in the role of Kubernetes' Pod Security Admission: a manifest that asks for
//! more than the policy allows is refused, service by service.
//!
//! Layout: [`raw`] (the policy file's serde types, the schema's only source), [`schema`],
//! [`defaults`] (the default policy, rule by rule), [`load`](mod@load) (file → [`Policy`],
//! every problem located), [`host_path`] (normalised paths compared by components),
//! [`registry`] (an image's registry, patterns), [`check`](mod@check) (the pure check of one
//! service), [`links`] (the real path behind a bind source: the one I/O).
//!
//! Invariants:
//! - One policy for every command: `moor validate` applies the same default (or `--policy`
//!   file) as `plan`, `apply` and `run`, so CI and hosts agree.
//! - A broken policy file stops the command; nothing falls back to the default.
//! - [`check()`] is pure; [`admit`] adds only the resolution of symbolic links in bind sources.
//! - A refused service is moved to [`Desired::refused`], never dropped: it stays declared, so
//!   its containers are never pruned, and the plan does nothing to them. A policy that tightens
//!   leaves running containers as they are and reports them, as Kubernetes' admission does for
//!   running pods.
//! - Every power a manifest field can ask for is refused by default: host binds outside the
//!   default lists, the host network, privileged mode, the host's pid and ipc namespaces,
//!   capabilities beyond Docker's default set, host devices, device cgroup rules, the host's
//!   uts namespace, GPUs. A new such field must be too.
//! - `readPaths` is not checked by [`check()`]: the files a manifest names are read after
//!   loading, by the resolver, which holds them to [`Policy::read_paths`] and the source.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

pub mod check;
pub mod defaults;
pub mod host_path;
pub mod links;
pub mod load;
pub mod raw;
pub mod registry;
pub mod schema;
#[cfg(test)]
mod tests;

pub use check::{check, Host, Violation, ViolationKind};
pub use host_path::HostPath;
pub use load::{load, load_str, PolicyError};

use crate::manifest::problem::Problem;
use crate::manifest::{Desired, RefusalCause, Refused, Service};

/// A validated host policy, with every default applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub binds: BindRules,
    /// Registries images may come from.
    pub registries: Vec<registry::Pattern>,
    /// Host ports services may publish.
    pub host_ports: Vec<PortRange>,
    /// May a service ask for `privileged: true`.
    pub privileged: bool,
    pub host_namespaces: HostNamespaces,
    /// Capabilities beyond Docker's default set that `capAdd` may name, without `CAP_`.
    pub capabilities: BTreeSet<String>,
    /// Host devices (or folders of them) that `devices` may name. Only a list that covers all of
    /// `/dev` allows `deviceCgroupRules`, which reach devices by number rather than path.
    pub devices: Vec<HostPath>,
    /// May a service ask for GPUs (`gpus`).
    pub gpus: bool,
    /// Outside containers a service may join or take volumes from, by name (`*`: any).
    pub container_joins: BTreeSet<String>,
    /// Folders outside the manifest source from which Secrets, env files and configs may be read:
    /// absolute, normalised, no `..`. The manifest source itself is always readable, whatever
    /// this says. The resolver (`crate::secrets::resolve`) checks a file's real path, symbolic
    /// links resolved, to be at or under one of these (or the source), comparing components.
    pub read_paths: Vec<PathBuf>,
}

/// What bind mounts may reach (see [`check::bind_refusal`] for the order of the rules).
#[derive(Debug, Clone, PartialEq)]
pub struct BindRules {
    pub allow: Vec<HostPath>,
    pub deny: Vec<HostPath>,
    pub read_only: Vec<HostPath>,
    pub docker_socket: bool,
    /// Where the Docker socket is (besides any file named `docker.sock`).
    pub sockets: Vec<HostPath>,
}

impl BindRules {
    fn allow_text(&self) -> String {
        self.allow.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostNamespaces {
    pub network: bool,
    pub pid: bool,
    pub ipc: bool,
    pub user: bool,
    pub cgroup: bool,
    pub uts: bool,
}

/// An inclusive range of host ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

impl Default for Policy {
    /// The default policy ([`defaults`]): what applies without `--policy`.
    fn default() -> Self {
        load::convert(&raw::PolicySpec::default()).expect("the default policy is valid")
    }
}

impl Policy {
    /// Counts `socket` (the unix socket moor talks to Docker through) as the Docker socket too.
    pub fn with_docker_socket(mut self, socket: &str) -> Self {
        if let Ok(path) = HostPath::parse(socket) {
            if !self.binds.sockets.contains(&path) {
                self.binds.sockets.push(path);
            }
        }
        self
    }
}

/// The services `policy` refuses, each with its violations located in its manifest
/// (`file:line:col: field: message`). Bind sources are looked at on this host for symbolic
/// links ([`links`]).
pub fn refusals(policy: &Policy, desired: &Desired) -> BTreeMap<String, Vec<Problem>> {
    let host = Host { volumes: &desired.volumes, real_path: &links::real_path };
    desired
        .services
        .values()
        .filter_map(|service| {
            let violations = check(policy, service, &host);
            let problems: Vec<Problem> = violations.iter().map(|v| locate(service, v)).collect();
            (!problems.is_empty()).then(|| (service.name.clone(), problems))
        })
        .collect()
}

/// Moves every service `policy` refuses from `desired.services` to `desired.refused`.
pub fn admit(policy: &Policy, mut desired: Desired) -> Desired {
    for (name, problems) in refusals(policy, &desired) {
        if let Some(service) = desired.services.remove(&name) {
            desired.refused.insert(name, Refused { service, problems, cause: RefusalCause::Policy });
        }
    }
    desired
}

/// A violation as a problem at its field in the service's manifest.
fn locate(service: &Service, violation: &Violation) -> Problem {
    let (file, (line, column)) = match &service.source {
        Some(source) => (source.file.clone(), source.locate(&violation.field)),
        None => (PathBuf::new(), (None, None)),
    };
    Problem { file, line, column, field: violation.field.to_string(), message: violation.kind.to_string() }
}

/// One line for a refused service: `refused by policy: ` (or what else refuses it) and its
/// problems.
pub fn refused_text(refused: &Refused) -> String {
    let problems: Vec<String> = refused.problems.iter().map(ToString::to_string).collect();
    format!("{}: {}", refused.cause.words(), problems.join("; "))
}
