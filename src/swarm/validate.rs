//! What Swarm cannot express, as located problems: `--backend swarm` runs [`validate`] after the
//! load (and the host policy), and any problem makes the load incomplete, as a load problem
//! does. Pure: no I/O.
//!
//! Invariants:
//! - Every field the projection ([`super::project`]) does not carry is refused here, so nothing
//!   a manifest asks for is silently dropped on Swarm.
//! - One problem per field, located at that field (`file:line:col`, the field path), with a
//!   message that says why and what to do instead. A message never quotes a value that may be
//!   secret (env values, file contents).
//! - Decisions are made on the model's typed fields, never on message text.

use crate::manifest::model::{Mount, Source, State, Strategy};
use crate::manifest::problem::FieldPath;
use crate::manifest::{Desired, Network, Problem, Service, Volume};

use super::project::{service_name, HOST_NETWORK};

/// The longest service name Swarm accepts (verified: 64 is refused).
const MAX_SERVICE_NAME: usize = 63;
/// Network drivers whose networks live on one host: a Swarm task may run on any node.
const LOCAL_DRIVERS: [&str; 4] = ["bridge", "macvlan", "ipvlan", "host"];

/// A rule broken: the field and what to say.
struct Found {
    field: FieldPath,
    message: String,
}

fn found(field: FieldPath, message: impl Into<String>) -> Found {
    Found { field, message: message.into() }
}

/// Everything the admitted services, networks and volumes of `desired` ask that Swarm cannot
/// express, each a located `crate::manifest::Problem` (file:line:col, the field path such as
/// `spec.autoRemove`, and a message that says why and what to do instead). Empty: all is fine.
pub fn validate(desired: &Desired, instance: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    for service in desired.services.values() {
        out.extend(locate(service.source.as_ref(), service_rules(service, instance)));
    }
    for network in desired.networks.values() {
        out.extend(locate(network.source.as_ref(), network_rules(network)));
    }
    for volume in desired.volumes.values() {
        out.extend(locate(volume.source.as_ref(), volume_rules(volume)));
    }
    out.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    out
}

fn locate(source: Option<&Source>, found: Vec<Found>) -> Vec<Problem> {
    found
        .into_iter()
        .map(|f| {
            let (file, (line, column)) = match source {
                Some(s) => (s.file.clone(), s.locate(&f.field)),
                None => (std::path::PathBuf::new(), (None, None)),
            };
            Problem { file, line, column, field: f.field.to_string(), message: f.message }
        })
        .collect()
}

/// Was `path` written in the manifest? The model applies defaults, so a default value cannot
/// tell; the document index can: an unwritten path is placed at its parent, a written one at
/// its own value. Without a source, anything that differs from the default counts as written.
pub(super) fn written(source: Option<&Source>, path: &FieldPath) -> bool {
    let Some(source) = source else { return true };
    let mut parent = path.clone();
    parent.0.pop();
    source.locate(path) != source.locate(&parent)
}

/// Swarm's service-name rule: a DNS name component of at most 63 characters, which takes the
/// `_` of an instance prefix (verified: `shop_web` is accepted, `Web.x` is not).
fn check_service_name(name: &str) -> Option<String> {
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let chars_ok = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if name.len() > MAX_SERVICE_NAME {
        Some(format!("the Swarm service name {name:?} (with the instance prefix) is {} characters, and Swarm takes at most {MAX_SERVICE_NAME}: shorten the service or instance name", name.len()))
    } else if !chars_ok || !ends_ok(name.chars().next()) || !ends_ok(name.chars().last()) {
        Some(format!("the Swarm service name {name:?} is not a DNS name component (letters, digits, '-' and '_', starting and ending with a letter or digit): rename the service or the instance"))
    } else {
        None
    }
}

fn service_rules(service: &Service, instance: &str) -> Vec<Found> {
    let sp = FieldPath::root().key("spec");
    let c = &service.container;
    let host = &c.host;
    let mut out = Vec::new();
    if let Some(message) = check_service_name(&service_name(instance, &service.name)) {
        out.push(found(FieldPath::parse("metadata.name"), message));
    }
    if service.is_job() {
        out.push(found(sp.key("mode"), "a job runs to completion once, and moor's Swarm backend runs services only (Swarm's replicated-job mode re-runs a failed job by itself): run it with --backend docker, or as a service"));
    }
    if service.update.watch == crate::manifest::model::Watch::Digest {
        out.push(found(sp.key("update").key("watch"), "the Swarm backend does not follow a tag's new digest yet (an image is pinned when it is created or changed): remove watch, and change the tag or the digest in the manifest to roll a new image"));
    }
    if service.container_name.is_some() {
        out.push(found(sp.key("containerName"), "Swarm names each task <service>.<slot>.<task id>, so a container name cannot be chosen: remove containerName and reach the service by its name on the network"));
    }
    if c.auto_remove {
        out.push(found(sp.key("autoRemove"), "Swarm owns its tasks' lifecycle and removes their containers itself: remove autoRemove (a task that should not restart takes restart: no)"));
    }
    if !service.depends_on.is_empty() || !service.depends_optional.is_empty() {
        out.push(found(
            sp.key("dependsOn"),
            "Swarm starts services in no order: give the dependant a healthcheck and retries, and remove dependsOn",
        ));
    }
    match host.network_mode.as_deref() {
        None | Some(HOST_NETWORK) => {}
        Some(_) => out.push(found(sp.key("networkMode"), "Swarm attaches a task to networks, not to another container's or to none: only networkMode: host is possible; use networks instead")),
    }
    if let Some(nodes) = service.placement.as_ref().and_then(|p| p.nodes.as_ref()) {
        if nodes.len() > 1 {
            out.push(found(sp.key("placement").key("nodes"), "Swarm constraints must all hold, and there is no \"any of these nodes\": give those nodes a label (docker node update --label-add) and use placement.nodeSelector"));
        }
    }
    out.extend(env_rules(service, &sp));
    out.extend(port_rules(service, &sp));
    out.extend(mount_rules(service, &sp));
    out.extend(network_endpoint_rules(service, &sp));
    if c.healthcheck.as_ref().is_some_and(|h| h.start_interval.is_some()) {
        out.push(found(sp.key("healthcheck").key("startInterval"), "moor's Swarm projection does not carry the healthcheck's start interval (a field of newer Docker APIs): remove it"));
    }
    if host.platform.as_deref().is_some_and(|p| p.split('/').count() > 2) {
        out.push(found(sp.key("platform"), "Swarm places by os/architecture only, without a variant: write os/arch"));
    }
    out.extend(parity_rules(service, &sp));
    out
}

/// Secret values in the environment: Swarm delivers secrets as files only.
fn env_rules(service: &Service, sp: &FieldPath) -> Vec<Found> {
    const WHY: &str = "Swarm delivers secrets as files only, and an env value would show in docker service inspect";
    let mut out = Vec::new();
    for entry in &service.refs.env_from {
        let (field, what) = match entry {
            crate::manifest::refs::EnvFrom::Secret { field, .. } => (field, "a Secret"),
            crate::manifest::refs::EnvFrom::File { field, .. } => (field, "an env file"),
        };
        out.push(found(
            field.clone(),
            format!("env from {what}: {WHY}; mount it with secrets and have the app read a *_FILE path"),
        ));
    }
    // At the variable, not at the reference's `key` inside it: the variable is what goes.
    for name in service.refs.env.keys() {
        out.push(found(sp.key("env").key(name), format!("an env value from a Secret: {WHY}; mount it with secrets (target /run/secrets/NAME) and have the app read a *_FILE path")));
    }
    // A plain value under a secret-looking name is sealed by the resolver like a Secret's.
    for name in service.container.env.keys().filter(|n| crate::secrets::looks_secret(n)) {
        out.push(found(sp.key("env").key(name), format!("{name} looks secret, so moor seals its value: {WHY}; put it in a Secret mounted with secrets and have the app read a *_FILE path")));
    }
    let from_refs = !service.refs.env_from.is_empty() || !service.refs.env.is_empty();
    if !from_refs && !service.container.sealed_env.is_empty() && out.is_empty() {
        out.push(found(sp.key("env"), format!("sealed env values: {WHY}; mount them with secrets instead")));
    }
    out
}

fn port_rules(service: &Service, sp: &FieldPath) -> Vec<Found> {
    let c = &service.container;
    let mut out = Vec::new();
    let at = |i: usize| sp.key("ports").index(service.written.ports.get(i).copied().unwrap_or(i));
    for (i, p) in c.ports.iter().enumerate() {
        if p.host_ip.is_some() {
            out.push(found(at(i), "a Swarm port is published on every address of the node: remove the host IP, or put a firewall in front"));
        }
    }
    if service.mode == crate::manifest::raw::Mode::Global && service.state == State::Stopped {
        out.push(found(sp.key("state"), "stopped cannot be said of a global service: Swarm runs one task on every eligible node and has no count to set to 0; use mode: service (replicas: 0 when stopped) or state: absent"));
    }
    let host_port = c.ports.iter().enumerate().any(|(k, p)| p.host.is_some() && !service.written.ingress.contains(&k));
    if host_port && service.update.strategy == Strategy::StartFirst {
        out.push(found(sp.key("update").key("strategy"), "start-first with a published host port never finishes on one node: the new task waits for the port the old one holds (trap T7); use stop-first"));
    }
    out
}

/// Mount options moor's Swarm projection does not carry.
fn mount_rules(service: &Service, sp: &FieldPath) -> Vec<Found> {
    let source = service.source.as_ref();
    let mut out = Vec::new();
    for (i, m) in service.container.mounts.iter().enumerate() {
        let w = service.written.mounts.get(i).copied().unwrap_or(i);
        // A tmpfs of `spec.tmpfs` is numbered after the `volumes`; it is not under `volumes`.
        let in_volumes = sp.key("volumes").index(w);
        let field = if written(source, &in_volumes) { in_volumes } else { sp.key("tmpfs") };
        let option = match m {
            Mount::Bind { propagation: Some(_), .. } => Some("bind propagation"),
            Mount::Bind { selinux: Some(_), .. } => Some("SELinux relabelling (z/Z)"),
            Mount::Bind { create_host_path: true, .. } => {
                Some("creating the host path (Swarm rejects a task whose bind source is missing)")
            }
            Mount::Volume { nocopy: true, .. } | Mount::Anonymous { nocopy: true, .. } => Some("nocopy"),
            _ => None,
        };
        if let Some(option) = option {
            out.push(found(
                field,
                format!("moor's Swarm projection does not carry {option} yet: remove it for --backend swarm"),
            ));
        }
    }
    out
}

/// Static addresses on a network: Swarm allocates each task's address itself.
fn network_endpoint_rules(service: &Service, sp: &FieldPath) -> Vec<Found> {
    let mut out = Vec::new();
    for (name, endpoint) in &service.container.host.network_endpoints {
        let at = sp.key("networks").key(name);
        if endpoint.ipv4_address.is_some() {
            out.push(found(at.key("ipv4Address"), "Swarm gives each task an address of its own, so a static one cannot hold: remove it and reach the service by name"));
        }
        if endpoint.ipv6_address.is_some() {
            out.push(found(at.key("ipv6Address"), "Swarm gives each task an address of its own, so a static one cannot hold: remove it and reach the service by name"));
        }
    }
    out
}

/// The compose-parity fields that Swarm's task spec has no field for (bollard-stubs 1.53's
/// `TaskSpecContainerSpec`, design section 4), each with what to do instead.
fn parity_rules(service: &Service, sp: &FieldPath) -> Vec<Found> {
    let h = &service.container.host;
    let r = &service.container.resource;
    const NONE: &str = "remove it for --backend swarm";
    let rules: Vec<(bool, &str, &str)> = vec![
        (h.privileged, "privileged", "add the capabilities it needs with capAdd instead (moby/moby#24862)"),
        (!h.devices.is_empty(), "devices", NONE),
        (h.pid.is_some(), "pid", NONE),
        (h.ipc.is_some(), "ipc", NONE),
        (h.userns.is_some(), "userns", "set userns-remap on the daemons instead"),
        (h.cgroup.is_some(), "cgroup", NONE),
        (h.cgroup_parent.is_some(), "cgroupParent", NONE),
        (h.cpu_shares.is_some(), "cpuShares", "use resources.cpus instead"),
        (h.cpuset_cpus.is_some(), "cpusetCpus", NONE),
        (h.cpuset_mems.is_some(), "cpusetMems", NONE),
        (h.oom_kill_disable, "oomKillDisable", NONE),
        (
            h.oom_score_adj.is_some(),
            "oomScoreAdj",
            "Swarm has it only on Docker APIs newer than moor's Swarm projection speaks",
        ),
        (h.shm_size.is_some(), "shmSize", "mount a tmpfs at /dev/shm instead"),
        (h.domainname.is_some(), "domainname", NONE),
        (h.runtime.is_some(), "runtime", NONE),
        (!h.volumes_from.is_empty(), "volumesFrom", "use a named volume instead"),
        (
            !h.expose.is_empty(),
            "expose",
            "it has no effect on an overlay network, where every port of a task is reachable: remove it",
        ),
        (
            !h.security_opt.is_empty(),
            "securityOpt",
            "moor's Swarm projection does not carry Privileges (label:, seccomp, apparmor, no-new-privileges)",
        ),
        (r.mac_address.is_some(), "macAddress", NONE),
        (!r.gpus.is_empty(), "gpus", "use generic resources on the nodes instead"),
        (!r.annotations.is_empty(), "annotations", NONE),
        (r.cpu_quota.is_some(), "cpuQuota", "use resources.cpus instead"),
        (r.cpu_period.is_some(), "cpuPeriod", "use resources.cpus instead"),
        (r.cpu_rt_period.is_some(), "cpuRtPeriod", NONE),
        (r.cpu_rt_runtime.is_some(), "cpuRtRuntime", NONE),
        (r.mem_swappiness.is_some(), "memSwappiness", NONE),
        (r.memswap_limit.is_some(), "memswapLimit", NONE),
        (r.blkio != Default::default(), "blkioConfig", NONE),
        (!r.storage_opt.is_empty(), "storageOpt", NONE),
        (!r.device_cgroup_rules.is_empty(), "deviceCgroupRules", NONE),
        (r.uts.is_some(), "uts", NONE),
    ];
    rules
        .into_iter()
        .filter(|(set, _, _)| *set)
        .map(|(_, key, instead)| found(sp.key(key), format!("Swarm's task spec has no {key}: {instead}")))
        .collect()
}

/// A network that cannot span nodes. An unwritten driver is the docker backend's default
/// (`bridge`), which the Swarm backend replaces with `overlay`: only a written one is refused.
fn network_rules(network: &Network) -> Vec<Found> {
    let at = FieldPath::parse("spec.driver");
    if LOCAL_DRIVERS.contains(&network.driver.as_str()) && written(network.source.as_ref(), &at) {
        let message = format!("a {} network is local to one host and cannot span the swarm's nodes: remove driver (moor creates an overlay) or write driver: overlay", network.driver);
        vec![found(at, message)]
    } else {
        Vec::new()
    }
}

/// Volume drivers and options: moor's Swarm projection has no `VolumeOptions`, and each node
/// makes its own local volume for the tasks it runs.
fn volume_rules(volume: &Volume) -> Vec<Found> {
    let mut out = Vec::new();
    if volume.driver != crate::manifest::model::DEFAULTS.volume_driver {
        out.push(found(FieldPath::parse("spec.driver"), "moor's Swarm projection does not carry a volume driver yet: each node makes a local volume; remove driver for --backend swarm"));
    }
    if !volume.options.is_empty() {
        out.push(found(
            FieldPath::parse("spec.options"),
            "moor's Swarm projection does not carry volume options yet: remove them for --backend swarm",
        ));
    }
    out
}
