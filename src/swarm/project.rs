//! The projection: a manifest's [`Service`] as the [`SwarmSpec`] moor sets, and a whole
//! [`Desired`] as the [`SwarmDesired`] state of the swarm. Pure: no I/O, no clock.
//!
//! Invariants:
//! - Every default the daemon would fill in is written out (restart `{any, 5s, 0}`, update and
//!   rollback `{1, pause, 5s, stop-first}`, a 10 s stop grace, `vip`), so that a spec read back
//!   from the daemon compares equal to the projection (trap T12).
//! - Ownership labels (`moor.*`) go on the service ([`SwarmSpec::labels`]) and never on the task
//!   containers ([`SwarmSpec::container_labels`]): the docker backend would take the tasks for
//!   its own containers and prune them (trap T1).
//! - A secret or config is named by the digest moor already computed for it (a keyed hmac for a
//!   secret), never by a plain hash of its value: a name is visible to anyone who can list
//!   secrets, and a plain hash would let them test guesses.
//! - What Swarm cannot express is not silently dropped here: [`super::validate`] refuses it
//!   first, and only validated services are projected. Fields that validation refuses are simply
//!   not read.

use std::collections::BTreeMap;

use crate::labels;
use crate::manifest::model::{FileKind, FileMount, Mount, PortBinding, Protocol, Restart, State, Strategy};
use crate::manifest::{Desired, Network, Service};
use crate::names;
use crate::swarm::spec::{
    DataKind, EndpointMode, FailureAction, PublishMode, RestartCondition, SwarmContainerOptions, SwarmData,
    SwarmDesired, SwarmFileRef, SwarmHealthcheck, SwarmMode, SwarmMount, SwarmMountKind, SwarmNetwork, SwarmPort,
    SwarmResources, SwarmRestart, SwarmSpec, SwarmTmpfs, SwarmUpdate, UpdateOrder,
};

/// The driver of every network moor creates on a swarm: a local one cannot span nodes.
pub const OVERLAY: &str = "overlay";
/// The network a `networkMode: host` service attaches to.
pub const HOST_NETWORK: &str = "host";
/// The longest name Swarm accepts for a secret or config (verified: 65 is refused).
pub const MAX_DATA_NAME: usize = 64;
/// How many hex digits of the digest a secret or config name carries.
const DIGEST_HEX: usize = 16;

/// The Swarm service name: bare in the default instance, `<instance>_<name>` otherwise — the
/// same rule as container names (`crate::names::container_name`); reuse it.
pub fn service_name(instance: &str, name: &str) -> String {
    names::container_name(instance, name)
}

/// The whole desired state for the swarm, from a loaded (and policy-admitted) `Desired`.
///
/// A service with `state: absent` is neither projected nor declared: the plan removes its
/// Swarm service as it removes what no manifest declares (under the same prune rules).
pub fn desired(desired: &Desired, instance: &str) -> SwarmDesired {
    let mut out = SwarmDesired::default();
    for service in desired.services.values().filter(|s| s.state != State::Absent) {
        let spec = project(service, instance, desired);
        for data in data_of(service, instance) {
            out.data.insert(data.name.clone(), data);
        }
        out.services.insert(spec.name.clone(), spec);
    }
    for network in desired.networks.values() {
        out.networks.insert(network.name.clone(), overlay(network.clone()));
    }
    // Also for a refused service still on it (declared, left as it runs), as the docker
    // backend keeps it (`names::default_network_used`).
    if names::default_network_used(desired) {
        let name = names::default_network(instance);
        out.networks.insert(name.clone(), overlay(names::default_network_spec(&name)));
    }
    let live = desired.services.values().filter(|s| s.state != State::Absent).map(|s| s.name.as_str());
    let refused = desired.refused.keys().map(String::as_str);
    let unresolved = desired.unresolved.iter().map(String::as_str);
    out.declared = live.chain(refused).chain(unresolved).map(|n| service_name(instance, n)).collect();
    // Refused and unresolved services are declared (above), so never pruned; the others may
    // be, as on the docker backend.
    out.may_prune = desired.may_prune();
    out.refused = desired.refused.iter().map(|(name, r)| (name.clone(), r.problems.clone())).collect();
    out
}

/// A Network as moor creates it on a swarm: an attachable overlay, so that plain containers
/// (`docker run --network`) can still join it. Validation has refused local drivers written
/// out; an unwritten driver (the docker backend's `bridge` default) becomes `overlay`.
fn overlay(mut network: Network) -> Network {
    network.driver = OVERLAY.to_string();
    network.attachable = true;
    network
}

/// One service's spec (what `desired` uses per service).
///
/// `_desired` is the whole desired state the service belongs to; nothing of it shapes a spec
/// today (network and volume names are used as written), and it is kept for the lead's CLI.
pub fn project(service: &Service, instance: &str, _desired: &Desired) -> SwarmSpec {
    let c = &service.container;
    let host = &c.host;
    let mut spec = SwarmSpec {
        name: service_name(instance, &service.name),
        labels: service_labels(service, instance),
        image: c.image.clone(),
        // Swarm's names: `Command` is the entrypoint, `Args` the command (verified, design 2.1).
        command: c.entrypoint.clone(),
        args: c.command.clone(),
        env: c.env.clone(),
        container_labels: c
            .labels
            .iter()
            .filter(|(k, _)| !is_moor_label(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        working_dir: c.working_dir.clone(),
        user: c.user.clone(),
        hostname: host.hostname.clone(),
        mounts: c.mounts.iter().map(mount).collect(),
        networks: networks(service, instance),
        ports: c.ports.iter().enumerate().map(|(k, p)| port(p, service.written.ingress.contains(&k))).collect(),
        endpoint_mode: EndpointMode::Vip,
        healthcheck: c.healthcheck.as_ref().map(|h| SwarmHealthcheck {
            test: h.test.clone(),
            interval_ms: h.interval.map(millis),
            timeout_ms: h.timeout.map(millis),
            retries: h.retries.map(u64::from),
            start_period_ms: h.start_period.map(millis),
        }),
        limits: SwarmResources {
            nano_cpus: c.resources.cpus.map(|n| (n * 1e9).round() as i64),
            memory_bytes: c.resources.memory.and_then(|m| i64::try_from(m).ok()),
            pids: c.resources.pids,
        },
        reservations: SwarmResources {
            memory_bytes: host.mem_reservation.and_then(|m| i64::try_from(m).ok()),
            ..SwarmResources::default()
        },
        restart: restart(c.restart, restart_written(service)),
        // A stopped service keeps its spec and runs no task; `mode: global` has no way to say
        // that (validation refuses it).
        mode: match service.mode {
            crate::manifest::raw::Mode::Global => SwarmMode::Global,
            _ => SwarmMode::Replicated {
                replicas: if service.state == State::Stopped { 0 } else { u64::from(service.replicas) },
            },
        },
        constraints: constraints(service),
        platforms: host.platform.iter().map(|p| platform(p)).collect(),
        update: update(service, true),
        rollback: update(service, false),
        secrets: file_refs(service, instance, FileKind::Secret),
        configs: file_refs(service, instance, FileKind::Config),
        stop_signal: c.stop_signal.clone(),
        stop_grace_ms: millis(c.stop_timeout),
        options: SwarmContainerOptions {
            init: host.init,
            read_only: host.read_only,
            tty: host.tty,
            open_stdin: host.stdin_open,
            cap_add: capabilities(&host.cap_add),
            cap_drop: capabilities(&host.cap_drop),
            sysctls: host.sysctls.clone(),
            ulimits: host.ulimits.iter().map(|(k, u)| (k.clone(), (u.soft, u.hard))).collect(),
            groups: host.group_add.clone(),
            hosts: host.extra_hosts.iter().map(|h| swarm_host(h)).collect(),
            dns: host.dns.clone(),
            dns_search: host.dns_search.clone(),
            dns_options: host.dns_opt.clone(),
            log_driver: host.logging.as_ref().and_then(|l| l.driver.clone()),
            log_options: host.logging.as_ref().map(|l| l.options.clone()).unwrap_or_default(),
        },
    };
    let hash = spec_hash(&spec);
    spec.container_labels.insert(labels::SPEC_HASH.to_string(), hash);
    spec
}

/// `sha256:<hex>` of the task template's part of the spec, as JSON (maps sorted, so stable),
/// put on the task containers (`moor.spec-hash`): a task keeps the label of the spec it was made
/// from, so after Swarm rolls an update back, the task history still says which spec failed
/// (`swarm::plan` holds it). Without `moor.instance` the label makes no container look owned to
/// the docker backend.
///
/// Only what Swarm puts in the task template counts: the label is part of the template, so a
/// field outside it (replicas, mode, the service's labels, ports, update and rollback settings)
/// in the hash would make a scale or a retune roll every task.
pub fn spec_hash(spec: &SwarmSpec) -> String {
    use sha2::{Digest, Sha256};
    let mut template = spec.clone();
    template.name = String::new();
    template.labels = BTreeMap::new();
    template.ports = Vec::new();
    template.endpoint_mode = EndpointMode::default();
    template.mode = SwarmMode::default();
    template.update = SwarmUpdate::default();
    template.rollback = SwarmUpdate::default();
    template.container_labels.remove(labels::SPEC_HASH);
    let json = serde_json::to_vec(&template).expect("a SwarmSpec serializes");
    format!("sha256:{}", hex::encode(Sha256::digest(&json)))
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn is_moor_label(key: &str) -> bool {
    key.starts_with("moor.")
}

/// The user's labels and moor's ownership labels; moor's win over a user's `moor.*`.
fn service_labels(service: &Service, instance: &str) -> BTreeMap<String, String> {
    let mut out = service.container.labels.clone();
    out.insert(labels::INSTANCE.to_string(), instance.to_string());
    out.insert(labels::SERVICE.to_string(), service.name.clone());
    out.insert(labels::BACKEND.to_string(), labels::BACKEND_SWARM.to_string());
    out
}

fn mount(m: &Mount) -> SwarmMount {
    match m {
        Mount::Bind { source, target, read_only, .. } => SwarmMount {
            kind: SwarmMountKind::Bind,
            source: source.clone(),
            target: target.clone(),
            read_only: *read_only,
            tmpfs: None,
        },
        Mount::Volume { source, target, read_only, .. } => SwarmMount {
            kind: SwarmMountKind::Volume,
            source: source.clone(),
            target: target.clone(),
            read_only: *read_only,
            tmpfs: None,
        },
        // No source: each task gets a volume the daemon names, as a container does.
        Mount::Anonymous { target, read_only, .. } => SwarmMount {
            kind: SwarmMountKind::Volume,
            source: String::new(),
            target: target.clone(),
            read_only: *read_only,
            tmpfs: None,
        },
        Mount::Tmpfs { target, size, mode } => SwarmMount {
            kind: SwarmMountKind::Tmpfs,
            source: String::new(),
            target: target.clone(),
            read_only: false,
            tmpfs: (size.is_some() || mode.is_some())
                .then(|| SwarmTmpfs { size_bytes: size.and_then(|s| i64::try_from(s).ok()), mode: *mode }),
        },
    }
}

/// The networks a task joins: `host` for `networkMode: host`; the instance's default overlay
/// when the service names none (with its manifest name as alias, so others reach it by name);
/// otherwise each named network, `default` being the instance's, with the manifest name among
/// its aliases.
fn networks(service: &Service, instance: &str) -> Vec<SwarmNetwork> {
    let c = &service.container;
    if c.host.network_mode.as_deref() == Some(HOST_NETWORK) {
        return vec![SwarmNetwork { target: HOST_NETWORK.to_string(), aliases: Vec::new() }];
    }
    if names::joins_default_network(c) {
        return vec![SwarmNetwork { target: names::default_network(instance), aliases: vec![service.name.clone()] }];
    }
    let mut out: Vec<SwarmNetwork> = c
        .networks
        .iter()
        .map(|n| {
            let target = if n == names::DEFAULT_NETWORK_ALIAS { names::default_network(instance) } else { n.clone() };
            let mut aliases: Vec<String> = std::iter::once(service.name.clone())
                .chain(c.host.network_endpoints.get(n).into_iter().flat_map(|e| e.aliases.iter().cloned()))
                .collect();
            aliases.sort();
            aliases.dedup();
            SwarmNetwork { target, aliases }
        })
        .collect();
    out.sort();
    out
}

/// A published port. With a host port, host mode unless the manifest wrote `mode: ingress`:
/// moor's manifests publish on the host as `docker run -p` does, which is what a single-host user
/// expects, and the ingress routing mesh needs iptables (which the test daemons run without:
/// design 2.1, 2.5). Without a host port, where the docker backend publishes on a port Docker
/// picks, Swarm's routing mesh publishes it on a port Swarm picks.
fn port(p: &PortBinding, ingress: bool) -> SwarmPort {
    let published = p.host;
    let ingress = ingress || published.is_none();
    SwarmPort {
        target: p.container,
        published,
        protocol: protocol(p.protocol).to_string(),
        mode: if ingress { PublishMode::Ingress } else { PublishMode::Host },
    }
}

fn protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// `always` and `unless-stopped` both restart whatever the exit (Swarm has no "unless stopped":
/// a stopped service has no task); the delay is the daemon's 5 s default, as manifests have no
/// restart delay.
/// Did the manifest write `spec.restart`?
fn restart_written(service: &Service) -> bool {
    let path = crate::manifest::problem::FieldPath::parse("spec.restart");
    super::validate::written(service.source.as_ref(), &path)
}

/// The restart policy. A manifest that does not say gets Swarm's own default, `any`, not the
/// docker backend's `no`: with `none`, Swarm replaces no task, not even one whose node went down,
/// and rescheduling is what the backend is for.
fn restart(r: Restart, written: bool) -> SwarmRestart {
    let (condition, max_attempts) = match r {
        Restart::No if !written => (RestartCondition::Any, 0),
        Restart::No => (RestartCondition::None, 0),
        Restart::Always | Restart::UnlessStopped => (RestartCondition::Any, 0),
        Restart::OnFailure(n) => (RestartCondition::OnFailure, n.map(u64::from).unwrap_or(0)),
    };
    SwarmRestart { condition, max_attempts, ..SwarmRestart::default() }
}

/// `UpdateConfig` (`for_update`) or `RollbackConfig`: the manifest's order and health timeout;
/// a failed update rolls back when `rollback: true` (else pauses); a failed rollback pauses.
fn update(service: &Service, for_update: bool) -> SwarmUpdate {
    let u = &service.update;
    let order = match u.strategy {
        Strategy::StartFirst => UpdateOrder::StartFirst,
        Strategy::StopFirst => UpdateOrder::StopFirst,
    };
    let failure_action = if for_update && u.rollback { FailureAction::Rollback } else { FailureAction::Pause };
    SwarmUpdate {
        parallelism: u64::from(u.parallelism),
        order,
        failure_action,
        monitor_ms: millis(u.health_timeout),
        ..SwarmUpdate::default()
    }
}

/// `Placement.Constraints`, sorted: each `nodeSelector` label, and the one node of `nodes`
/// (validation refuses several: Swarm constraints are all-of).
fn constraints(service: &Service) -> Vec<String> {
    let Some(p) = &service.placement else { return Vec::new() };
    let mut out: Vec<String> = p.node_selector.iter().map(|(k, v)| format!("node.labels.{k}=={v}")).collect();
    out.extend(p.nodes.iter().flatten().map(|n| format!("node.hostname=={n}")));
    out.sort();
    out
}

/// `os[/arch[/variant]]` as Swarm's `os/arch` (validation refuses a variant).
fn platform(p: &str) -> String {
    p.split('/').take(2).collect::<Vec<_>>().join("/")
}

/// Capabilities as the docker CLI sends them to Swarm: `CAP_` and upper case (`ALL` as is),
/// sorted, so a service made by hand and one made by moor compare equal.
fn capabilities(caps: &[String]) -> Vec<String> {
    let mut out: Vec<String> = caps
        .iter()
        .map(|c| {
            let c = c.to_ascii_uppercase();
            if c == "ALL" || c.starts_with("CAP_") {
                c
            } else {
                format!("CAP_{c}")
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// `host:ip` (the manifest's form) as Swarm's `ip host` line. The host name has no `:`, so the
/// first one splits (an IPv6 address keeps its own).
fn swarm_host(entry: &str) -> String {
    match entry.split_once(':') {
        Some((host, ip)) => format!("{ip} {host}"),
        None => entry.to_string(),
    }
}

/// The manifest name a file's Swarm object is named after. A secret's is the Secret's manifest
/// name, found through the service's `secrets` reference of the same target; a config has no
/// manifest name (it is a file), so it, and a secret whose reference is not found, is named
/// after the target's file name.
fn data_manifest_name(service: &Service, file: &FileMount) -> String {
    let secret = match file.kind {
        FileKind::Secret => service.refs.secrets.iter().find(|s| s.target == file.target).map(|s| s.secret.clone()),
        FileKind::Config => None,
    };
    secret.unwrap_or_else(|| file.target.rsplit('/').next().unwrap_or_default().to_string())
}

/// The Swarm object name of a secret or config: the manifest name with the instance prefix
/// (the service rule), `-`, and the first 16 hex digits of moor's digest (keyed for a secret).
/// Only `[a-zA-Z0-9-_.]`, at most 64 characters, starting and ending with a letter or digit
/// (verified: Swarm refuses anything else).
pub fn data_name(instance: &str, manifest_name: &str, digest: &str) -> String {
    let hex: String = digest.rsplit(':').next().unwrap_or_default().chars().take(DIGEST_HEX).collect();
    let safe = |c: char| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' };
    let prefixed: String = service_name(instance, manifest_name).chars().map(safe).collect();
    let room = MAX_DATA_NAME - hex.len() - 1;
    let head: String = prefixed.trim_start_matches(|c: char| !c.is_ascii_alphanumeric()).chars().take(room).collect();
    let head = head.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    if head.is_empty() {
        // Only when the name had no letter or digit at all; the digest still names the content.
        format!("data-{hex}")
    } else {
        format!("{head}-{hex}")
    }
}

fn data_kind(kind: FileKind) -> DataKind {
    match kind {
        FileKind::Secret => DataKind::Secret,
        FileKind::Config => DataKind::Config,
    }
}

/// The service's references to its secrets (or configs), sorted by target.
fn file_refs(service: &Service, instance: &str, kind: FileKind) -> Vec<SwarmFileRef> {
    let mut out: Vec<SwarmFileRef> = service
        .container
        .files
        .iter()
        .filter(|f| f.kind == kind)
        .map(|f| SwarmFileRef {
            target: f.target.clone(),
            name: data_name(instance, &data_manifest_name(service, f), &f.digest),
            uid: f.uid.unwrap_or(0).to_string(),
            gid: f.gid.unwrap_or(0).to_string(),
            mode: f.mode,
        })
        .collect();
    out.sort();
    out
}

/// The secrets and configs a service names, with their values. A file whose value is not in
/// `Service::values` (the service was never resolved) has no object here: the service still
/// names it, and apply refuses to create what it cannot provide.
pub fn data_of(service: &Service, instance: &str) -> Vec<SwarmData> {
    service
        .container
        .files
        .iter()
        .filter_map(|f| {
            let value = service.values.files.get(&f.target)?;
            let manifest_name = data_manifest_name(service, f);
            let labels = BTreeMap::from([
                (labels::INSTANCE.to_string(), instance.to_string()),
                (labels::BACKEND.to_string(), labels::BACKEND_SWARM.to_string()),
                (labels::DATA_NAME.to_string(), manifest_name.clone()),
                (labels::DIGEST.to_string(), f.digest.clone()),
            ]);
            Some(SwarmData {
                kind: data_kind(f.kind),
                name: data_name(instance, &manifest_name, &f.digest),
                labels,
                data: value.clone(),
            })
        })
        .collect()
}
