//! The check: which of a service's asks this host's policy refuses, each at its field.
//!
//! Invariants:
//! - [`check`] is pure: everything it may know beyond the service comes in [`Host`] (the Volume
//!   manifests, and the real path behind a host path, which only the host can tell).
//! - A bind is checked as written (normalised) and, when symbolic links make it another path,
//!   as Docker will mount it; either refusal refuses it.
//! - Each refusal is a typed [`ViolationKind`]; its text is made only by `Display`.
//! - Privileged mode, capabilities beyond Docker's default set, host devices, device cgroup
//!   rules, GPUs and the host's pid, ipc, user, cgroup and uts namespaces are refused by default,
//!   each at its manifest field (`privileged`, `capAdd`, `devices`, `deviceCgroupRules`, `gpus`,
//!   `pid`, `ipc`, `userns`, `cgroup`, `uts`). `readPaths` is held by the resolver of Secrets and
//!   configs, which reads the files, not here.

use std::collections::BTreeMap;
use std::fmt;

use super::defaults::DOCKER_SOCKET_NAME;
use super::host_path::{HostPath, Relation};
use super::registry::registry_of;
use super::{BindRules, Policy};
use crate::manifest::convert_host::DOCKER_DEFAULT_CAPABILITIES;
use crate::manifest::model::{Mount, State};
use crate::manifest::problem::FieldPath;
use crate::manifest::{Service, Volume};

/// What the check may know beyond the service.
pub struct Host<'a> {
    /// The Volume manifests: a local volume with `o: bind` options binds a host path.
    pub volumes: &'a BTreeMap<String, Volume>,
    /// The real path behind a host path when symbolic links make it another one
    /// (`super::links::real_path` on the host; `&|_| None` checks paths as written).
    pub real_path: &'a dyn Fn(&HostPath) -> Option<HostPath>,
}

/// One ask of a service that the policy refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where the service asks it, such as `spec.volumes[1]`.
    pub field: FieldPath,
    pub kind: ViolationKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViolationKind {
    /// A bind mount of a host path.
    #[error("host path {shown} {refusal}")]
    Bind { shown: String, refusal: BindRefusal },
    /// A named volume whose Volume manifest binds a host path (`o: bind`).
    #[error("volume {volume} binds host path {shown}, which {refusal}")]
    VolumeBind { volume: String, shown: String, refusal: BindRefusal },
    #[error("image {image} comes from registry {registry}, which registries does not allow ({allowed})")]
    Registry { image: String, registry: String, allowed: String },
    #[error("host port {port} is outside hostPorts ({allowed})")]
    HostPort { port: u16, allowed: String },
    #[error("the host network gives the container the host's network stack; hostNamespaces.network is false")]
    HostNetwork,
    #[error("a privileged container has every capability and device of the host; privileged is false")]
    Privileged,
    #[error("capability {name} is beyond Docker's default set and not in capabilities ({allowed})")]
    Capability { name: String, allowed: String },
    #[error("host device {device} is outside devices ({allowed})")]
    Device { device: String, allowed: String },
    #[error("the host's {namespace} namespace {what}; hostNamespaces.{namespace} is false")]
    HostNamespace { namespace: &'static str, what: &'static str },
    /// A device cgroup rule reaches devices by number, whatever their path: only a policy whose
    /// `devices` covers all of `/dev` allows one.
    #[error("device cgroup rule {rule:?} gives access to host devices by number; devices does not allow all of /dev ({allowed})")]
    DeviceRule { rule: String, allowed: String },
    #[error("GPUs are host devices the daemon's driver hands over; gpus is false")]
    Gpu,
    /// A container outside the manifests lends whatever it has (the host's namespaces, the
    /// Docker socket), which the policy cannot see.
    #[error(
        "container {container:?} is not one of this source's services; containerJoins does not name it ({allowed})"
    )]
    ContainerJoin { container: String, allowed: String },
    /// A security option that takes a confinement away: a step towards privileged.
    #[error("{option} takes away the container's {what}; only a policy with privileged: true allows it")]
    Unconfined { option: String, what: &'static str },
}

/// Why a host path may not be bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindRefusal {
    DockerSocket { socket: String, relation: Relation },
    Denied { path: String, relation: Relation },
    NotAllowed { allowed: String },
    ReadWrite { path: String, relation: Relation },
}

impl fmt::Display for BindRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ROOT: &str = "access to it is root on the host (bindMounts.dockerSocket: false)";
        const RO: &str = "make the mount read-only";
        match self {
            BindRefusal::DockerSocket { relation: Relation::Contains, socket } => {
                write!(f, "holds the Docker socket {socket}: {ROOT}")
            }
            BindRefusal::DockerSocket { .. } => write!(f, "is the Docker socket: {ROOT}"),
            BindRefusal::Denied { relation: Relation::At, .. } => f.write_str("is refused by bindMounts.deny"),
            BindRefusal::Denied { relation: Relation::Under, path } => {
                write!(f, "is under {path}, which bindMounts.deny refuses")
            }
            BindRefusal::Denied { relation: Relation::Contains, path } => {
                write!(f, "holds {path}, which bindMounts.deny refuses")
            }
            BindRefusal::NotAllowed { allowed } => write!(f, "is outside bindMounts.allow ({allowed})"),
            BindRefusal::ReadWrite { relation: Relation::Contains, path } => {
                write!(f, "is read-write and holds {path}, which bindMounts.readOnly allows read-only only: {RO}")
            }
            BindRefusal::ReadWrite { path, .. } => {
                write!(f, "is read-write, but bindMounts.readOnly allows {path} read-only only: {RO}")
            }
        }
    }
}

/// Every ask of `service` that `policy` refuses. A service with `state: absent` asks nothing of
/// the host (no container is made), so it is never refused.
pub fn check(policy: &Policy, service: &Service, host: &Host) -> Vec<Violation> {
    let mut out = Vec::new();
    if service.state == State::Absent {
        return out;
    }
    let spec = FieldPath::root().key("spec");
    let container = &service.container;
    let written = |list: &[usize], i: usize| list.get(i).copied().unwrap_or(i);

    for (i, mount) in container.mounts.iter().enumerate() {
        let field = spec.key("volumes").index(written(&service.written.mounts, i));
        match mount {
            Mount::Bind { source, read_only, .. } => {
                if let Some((shown, refusal)) = check_bind(&policy.binds, source, *read_only, host) {
                    out.push(Violation { field, kind: ViolationKind::Bind { shown, refusal } });
                }
            }
            Mount::Volume { source: volume, read_only, .. } => {
                let Some((device, volume_ro)) = host.volumes.get(volume).and_then(bound_device) else {
                    continue;
                };
                if let Some((shown, refusal)) = check_bind(&policy.binds, &device, *read_only || volume_ro, host) {
                    out.push(Violation {
                        field,
                        kind: ViolationKind::VolumeBind { volume: volume.clone(), shown, refusal },
                    });
                }
            }
            // Memory, or a volume in the daemon's own data root: no host path to check.
            Mount::Tmpfs { .. } | Mount::Anonymous { .. } => {}
        }
    }

    let registry = registry_of(&container.image);
    if !policy.registries.iter().any(|p| p.matches(&registry)) {
        let allowed = policy.registries.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ");
        let kind = ViolationKind::Registry { image: container.image.clone(), registry, allowed };
        out.push(Violation { field: spec.key("image"), kind });
    }

    for (i, port) in container.ports.iter().enumerate() {
        let Some(host_port) = port.host else {
            continue; // Docker picks an ephemeral port: nothing is chosen on the host.
        };
        if !policy.host_ports.iter().any(|r| r.contains(host_port)) {
            let allowed = policy.host_ports.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            let field = spec.key("ports").index(written(&service.written.ports, i));
            out.push(Violation { field, kind: ViolationKind::HostPort { port: host_port, allowed } });
        }
    }

    for (i, network) in container.networks.iter().enumerate() {
        // Docker's predefined `host` network: no manifest can declare another by that name.
        if network == "host" && !policy.host_namespaces.network {
            let field = match service.written.networks_keyed {
                true => spec.key("networks").key(network),
                false => spec.key("networks").index(written(&service.written.networks, i)),
            };
            out.push(Violation { field, kind: ViolationKind::HostNetwork });
        }
    }
    if container.host.network_mode.as_deref() == Some("host") && !policy.host_namespaces.network {
        out.push(Violation { field: spec.key("networkMode"), kind: ViolationKind::HostNetwork });
    }
    check_powers(policy, service, &mut out);
    out
}

/// What a security option takes away, when it takes a confinement away (`seccomp=unconfined`,
/// `apparmor=unconfined`, `systempaths=unconfined`, `label=disable`; `:` works as `=`, as in
/// Docker).
fn unconfined(option: &str) -> Option<&'static str> {
    let (key, value) = option.split_once(['=', ':'])?;
    match (key, value) {
        ("seccomp", "unconfined") => Some("seccomp filter of system calls"),
        ("apparmor", "unconfined") => Some("AppArmor profile"),
        ("systempaths", "unconfined") => Some("masked and read-only /proc and /sys paths"),
        ("label", "disable") => Some("SELinux labelling"),
        _ => None,
    }
}

/// The fields that give a container power over the host beyond mounts and networks.
fn check_powers(policy: &Policy, service: &Service, out: &mut Vec<Violation>) {
    let spec = FieldPath::root().key("spec");
    let host = &service.container.host;
    let written = |list: &[usize], i: usize| list.get(i).copied().unwrap_or(i);
    if host.privileged && !policy.privileged {
        out.push(Violation { field: spec.key("privileged"), kind: ViolationKind::Privileged });
    }
    if !policy.privileged {
        for (i, option) in host.security_opt.iter().enumerate() {
            if let Some(what) = unconfined(option) {
                let kind = ViolationKind::Unconfined { option: option.clone(), what };
                let at = written(&service.written.security_opt, i);
                out.push(Violation { field: spec.key("securityOpt").index(at), kind });
            }
        }
    }
    let none = || "none".to_string();
    for (i, name) in host.cap_add.iter().enumerate() {
        // `ALL` passes only when the policy names ALL itself: it is every capability at once.
        let allowed = DOCKER_DEFAULT_CAPABILITIES.contains(&name.as_str()) || policy.capabilities.contains(name);
        if !allowed {
            let listed = policy.capabilities.iter().cloned().collect::<Vec<_>>().join(", ");
            let kind = ViolationKind::Capability {
                name: name.clone(),
                allowed: if listed.is_empty() { none() } else { listed },
            };
            out.push(Violation { field: spec.key("capAdd").index(written(&service.written.cap_add, i)), kind });
        }
    }
    for (i, device) in host.devices.iter().enumerate() {
        let ok = HostPath::parse(&device.host).is_ok_and(|p| policy.devices.iter().any(|d| p.is_at_or_under(d)));
        if !ok {
            let listed = policy.devices.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            let kind = ViolationKind::Device {
                device: device.host.clone(),
                allowed: if listed.is_empty() { none() } else { listed },
            };
            out.push(Violation { field: spec.key("devices").index(written(&service.written.devices, i)), kind });
        }
    }
    if host.pid.as_deref() == Some("host") && !policy.host_namespaces.pid {
        let kind =
            ViolationKind::HostNamespace { namespace: "pid", what: "shows and signals every process of the host" };
        out.push(Violation { field: spec.key("pid"), kind });
    }
    if host.ipc.as_deref() == Some("host") && !policy.host_namespaces.ipc {
        let kind =
            ViolationKind::HostNamespace { namespace: "ipc", what: "shares the host's System V IPC and shared memory" };
        out.push(Violation { field: spec.key("ipc"), kind });
    }
    if host.userns.as_deref() == Some("host") && !policy.host_namespaces.user {
        let kind = ViolationKind::HostNamespace {
            namespace: "user",
            what: "turns off the daemon's user remapping, so root in the container is root on the host",
        };
        out.push(Violation { field: spec.key("userns"), kind });
    }
    if host.cgroup.as_deref() == Some("host") && !policy.host_namespaces.cgroup {
        let kind = ViolationKind::HostNamespace { namespace: "cgroup", what: "shows the host's whole cgroup tree" };
        out.push(Violation { field: spec.key("cgroup"), kind });
    }
    check_devices_by_number(policy, service, out);
}

/// The fields of `model_resources` that reach the host: device cgroup rules, the host's uts
/// namespace and GPUs.
fn check_devices_by_number(policy: &Policy, service: &Service, out: &mut Vec<Violation>) {
    let spec = FieldPath::root().key("spec");
    let r = &service.container.resource;
    let all_of_dev = HostPath::parse("/dev").is_ok_and(|dev| policy.devices.iter().any(|d| dev.is_at_or_under(d)));
    if !all_of_dev {
        let listed = policy.devices.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        for (i, rule) in r.device_cgroup_rules.iter().enumerate() {
            let allowed = if listed.is_empty() { "none".to_string() } else { listed.clone() };
            let kind = ViolationKind::DeviceRule { rule: rule.clone(), allowed };
            out.push(Violation { field: spec.key("deviceCgroupRules").index(i), kind });
        }
    }
    if r.uts.as_deref() == Some("host") && !policy.host_namespaces.uts {
        let kind = ViolationKind::HostNamespace {
            namespace: "uts",
            what: "shares the host's hostname and domain name (which CAP_SYS_ADMIN may change)",
        };
        out.push(Violation { field: spec.key("uts"), kind });
    }
    if !r.gpus.is_empty() && !policy.gpus {
        out.push(Violation { field: spec.key("gpus"), kind: ViolationKind::Gpu });
    }
    check_container_joins(policy, service, out);
}

/// `container:NAME` joins and `volumesFrom` of containers outside the manifests. The host part
/// keeps `service:` joins as written and outside containers as `container:NAME` (namespaces)
/// or `NAME[:mode]` (volumesFrom).
fn check_container_joins(policy: &Policy, service: &Service, out: &mut Vec<Violation>) {
    let spec = FieldPath::root().key("spec");
    let host = &service.container.host;
    let allowed = |name: &str| policy.container_joins.contains("*") || policy.container_joins.contains(name);
    let listed = || {
        let names: Vec<&str> = policy.container_joins.iter().map(String::as_str).collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    for (field, mode) in [("networkMode", &host.network_mode), ("ipc", &host.ipc), ("pid", &host.pid)] {
        if let Some(name) = mode.as_deref().and_then(|m| m.strip_prefix("container:")) {
            if !allowed(name) {
                let kind = ViolationKind::ContainerJoin { container: name.to_string(), allowed: listed() };
                out.push(Violation { field: spec.key(field), kind });
            }
        }
    }
    for (i, entry) in host.volumes_from.iter().enumerate() {
        if entry.starts_with("service:") {
            continue;
        }
        let name = entry.split_once(':').map_or(entry.as_str(), |(n, _)| n);
        if !allowed(name) {
            let kind = ViolationKind::ContainerJoin { container: name.to_string(), allowed: listed() };
            out.push(Violation { field: spec.key("volumesFrom").index(i), kind });
        }
    }
}

/// The host path a local volume binds (`o: bind` or `rbind` in its options), and whether its
/// options make it read-only.
fn bound_device(volume: &Volume) -> Option<(String, bool)> {
    if volume.driver != "local" {
        return None;
    }
    let options: Vec<&str> = volume.options.get("o")?.split(',').map(str::trim).collect();
    if !options.iter().any(|o| *o == "bind" || *o == "rbind") {
        return None;
    }
    let device = volume.options.get("device")?;
    // mount(2) resolves a relative device against dockerd's working folder, which is `/`.
    let device = if device.starts_with('/') { device.clone() } else { format!("/{device}") };
    Some((device, options.contains(&"ro")))
}

/// The refusal of a bind of `source`, as written and then as symbolic links make it, with the
/// path as the message shows it.
fn check_bind(rules: &BindRules, source: &str, read_only: bool, host: &Host) -> Option<(String, BindRefusal)> {
    let written = match HostPath::parse(source) {
        Ok(path) => path,
        // The model makes every bind source absolute; anything else is not a host path moor
        // could vouch for.
        Err(_) => return Some((source.to_string(), BindRefusal::NotAllowed { allowed: rules.allow_text() })),
    };
    if let Some(refusal) = bind_refusal(rules, &written, read_only) {
        return Some((written.to_string(), refusal));
    }
    let real = (host.real_path)(&written).filter(|real| *real != written)?;
    let refusal = bind_refusal(rules, &real, read_only)?;
    Some((format!("{written}, which symbolic links make {real},"), refusal))
}

/// The first rule a bind of `path` breaks: the Docker socket, the deny list, the allow list,
/// then the read-only list.
pub fn bind_refusal(rules: &BindRules, path: &HostPath, read_only: bool) -> Option<BindRefusal> {
    if !rules.docker_socket {
        if path.file_name() == Some(DOCKER_SOCKET_NAME) {
            return Some(BindRefusal::DockerSocket { socket: path.to_string(), relation: Relation::At });
        }
        for socket in &rules.sockets {
            if let Some(relation) = path.relation(socket) {
                return Some(BindRefusal::DockerSocket { socket: socket.to_string(), relation });
            }
        }
    }
    for denied in &rules.deny {
        if let Some(relation) = path.relation(denied) {
            return Some(BindRefusal::Denied { path: denied.to_string(), relation });
        }
    }
    if !rules.allow.iter().any(|allowed| path.is_at_or_under(allowed)) {
        return Some(BindRefusal::NotAllowed { allowed: rules.allow_text() });
    }
    if !read_only {
        for ro in &rules.read_only {
            if let Some(relation) = path.relation(ro) {
                return Some(BindRefusal::ReadWrite { path: ro.to_string(), relation });
            }
        }
    }
    None
}
