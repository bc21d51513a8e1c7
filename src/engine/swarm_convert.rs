//! moor's [`SwarmSpec`] to bollard's `ServiceSpec` and back (pure, tested without a daemon).
//!
//! - [`to_bollard`] writes every projected field explicitly, the daemon's defaults included, so
//!   the daemon fills in nothing moor compares.
//! - [`from_bollard`] is the projection of an observed spec. It normalises what the daemon or
//!   the CLI fill in (design doc 2.1, trap T12), so that a service made by [`to_bollard`] and one
//!   made by `docker service create` with the same settings both read back equal to the
//!   `SwarmSpec` that made them.
//!   It lives in [`read`], the write side here.
//! - [`apply_onto`] overwrites only the projected fields of an observed full spec: what moor
//!   does not project (`ForceUpdate`, `Privileges`, `Placement.Preferences`, …) is kept.
//!
//! Invariants:
//! - `from_bollard(&to_bollard(s)) == s` for every `s` in normal form (sorted where the type
//!   says sorted; `init: Some(false)` written `None`, as the daemon's default is false; no empty
//!   strings for absent values; a rollback config's failure action never `rollback`, which
//!   Swarm does not have).
//! - Absent and empty read the same: `{}` and `null`, `[]` and absent, `""` and absent.
//! - Networks are read back by what the daemon holds, a network ID (`TaskTemplate.Networks[].
//!   Target`): the engine resolves IDs to names, this module cannot.
//! - Secret and config references carry the object's name only: the daemon wants IDs too, which
//!   the engine fills in (`swarm_docker`) before it sends.
//! - The healthcheck travels twice (trap T13, found here): Docker 20.10 answers it as
//!   `ContainerSpec.Healthcheck`, while bollard reads only `HealthCheck` (the API document's
//!   spelling, which the daemon accepts on the way in), so bollard drops it from every read.
//!   [`to_bollard`] therefore also writes it as the service label [`HEALTHCHECK_LABEL`] (its
//!   JSON), and [`from_bollard`] reads it from there when bollard saw none, and never shows the
//!   label itself. A healthcheck changed by hand behind moor's back is therefore not seen, and a
//!   service made without moor reads as having none.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum, EndpointSpec,
    EndpointSpecModeEnum, HealthConfig, Limit, Mount, MountType, NetworkAttachmentConfig, Platform, ResourceObject,
    ResourcesUlimits, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, ServiceSpecRollbackConfig,
    ServiceSpecRollbackConfigFailureActionEnum, ServiceSpecRollbackConfigOrderEnum, ServiceSpecUpdateConfig,
    ServiceSpecUpdateConfigFailureActionEnum, ServiceSpecUpdateConfigOrderEnum, TaskSpec, TaskSpecContainerSpec,
    TaskSpecContainerSpecConfigs, TaskSpecContainerSpecDnsConfig, TaskSpecContainerSpecFile,
    TaskSpecContainerSpecFile1, TaskSpecContainerSpecSecrets, TaskSpecLogDriver, TaskSpecPlacement, TaskSpecResources,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
};

use crate::swarm::spec::{
    EndpointMode, FailureAction, PublishMode, RestartCondition, SwarmMode, SwarmMount, SwarmMountKind, SwarmPort,
    SwarmSpec, SwarmUpdate, UpdateOrder,
};

mod read;
pub use read::from_bollard;

/// The service label that carries moor's healthcheck, since bollard cannot read it back (T13).
pub const HEALTHCHECK_LABEL: &str = "moor.healthcheck";

/// The daemon's `StopGracePeriod` when none is given (design doc 2.1).
const DEFAULT_STOP_GRACE_MS: u64 = 10_000;
const NS_PER_MS: i64 = 1_000_000;

fn ns(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX).saturating_mul(NS_PER_MS)
}

fn some_vec<T: Clone>(v: &[T]) -> Option<Vec<T>> {
    (!v.is_empty()).then(|| v.to_vec())
}

fn some_map<V: Clone>(m: &BTreeMap<String, V>) -> Option<HashMap<String, V>> {
    (!m.is_empty()).then(|| m.clone().into_iter().collect())
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The service spec moor sends for `spec`, every projected field written out.
pub fn to_bollard(spec: &SwarmSpec) -> ServiceSpec {
    let o = &spec.options;
    let dns = TaskSpecContainerSpecDnsConfig {
        nameservers: some_vec(&o.dns),
        search: some_vec(&o.dns_search),
        options: some_vec(&o.dns_options),
    };
    let container = TaskSpecContainerSpec {
        image: Some(spec.image.clone()),
        labels: some_map(&spec.container_labels),
        command: spec.command.clone(),
        args: spec.args.clone(),
        hostname: spec.hostname.clone(),
        env: (!spec.env.is_empty()).then(|| spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        dir: spec.working_dir.clone(),
        user: spec.user.clone(),
        groups: some_vec(&o.groups),
        tty: o.tty.then_some(true),
        open_stdin: o.open_stdin.then_some(true),
        read_only: o.read_only.then_some(true),
        mounts: some_vec(&spec.mounts.iter().map(mount_to).collect::<Vec<_>>()),
        stop_signal: spec.stop_signal.clone(),
        stop_grace_period: Some(ns(spec.stop_grace_ms)),
        health_check: spec.healthcheck.as_ref().map(|h| HealthConfig {
            test: Some(h.test.clone()),
            interval: h.interval_ms.map(ns),
            timeout: h.timeout_ms.map(ns),
            retries: h.retries.map(to_i64),
            start_period: h.start_period_ms.map(ns),
            start_interval: None,
        }),
        hosts: some_vec(&o.hosts),
        dns_config: (dns != TaskSpecContainerSpecDnsConfig::default()).then_some(dns),
        secrets: some_vec(
            &spec
                .secrets
                .iter()
                .map(|s| TaskSpecContainerSpecSecrets {
                    file: Some(TaskSpecContainerSpecFile {
                        name: Some(s.target.clone()),
                        uid: Some(s.uid.clone()),
                        gid: Some(s.gid.clone()),
                        mode: Some(s.mode),
                    }),
                    secret_id: None,
                    secret_name: Some(s.name.clone()),
                })
                .collect::<Vec<_>>(),
        ),
        configs: some_vec(
            &spec
                .configs
                .iter()
                .map(|c| TaskSpecContainerSpecConfigs {
                    file: Some(TaskSpecContainerSpecFile1 {
                        name: Some(c.target.clone()),
                        uid: Some(c.uid.clone()),
                        gid: Some(c.gid.clone()),
                        mode: Some(c.mode),
                    }),
                    runtime: None,
                    config_id: None,
                    config_name: Some(c.name.clone()),
                })
                .collect::<Vec<_>>(),
        ),
        init: o.init,
        sysctls: some_map(&o.sysctls),
        capability_add: some_vec(&o.cap_add),
        capability_drop: some_vec(&o.cap_drop),
        ulimits: (!o.ulimits.is_empty()).then(|| {
            o.ulimits
                .iter()
                .map(|(name, (soft, hard))| ResourcesUlimits {
                    name: Some(name.clone()),
                    soft: Some(*soft),
                    hard: Some(*hard),
                })
                .collect()
        }),
        ..Default::default()
    };
    let task = TaskSpec {
        container_spec: Some(container),
        resources: Some(TaskSpecResources {
            limits: Some(Limit {
                nano_cpus: spec.limits.nano_cpus,
                memory_bytes: spec.limits.memory_bytes,
                pids: spec.limits.pids,
            }),
            reservations: Some(ResourceObject {
                nano_cpus: spec.reservations.nano_cpus,
                memory_bytes: spec.reservations.memory_bytes,
                generic_resources: None,
            }),
            ..Default::default()
        }),
        restart_policy: Some(TaskSpecRestartPolicy {
            condition: Some(match spec.restart.condition {
                RestartCondition::Any => TaskSpecRestartPolicyConditionEnum::ANY,
                RestartCondition::OnFailure => TaskSpecRestartPolicyConditionEnum::ON_FAILURE,
                RestartCondition::None => TaskSpecRestartPolicyConditionEnum::NONE,
            }),
            delay: Some(ns(spec.restart.delay_ms)),
            max_attempts: Some(to_i64(spec.restart.max_attempts)),
            window: None,
        }),
        placement: Some(TaskSpecPlacement {
            constraints: some_vec(&spec.constraints),
            platforms: some_vec(&spec.platforms.iter().map(|p| platform_to(p)).collect::<Vec<_>>()),
            ..Default::default()
        }),
        networks: some_vec(
            &spec
                .networks
                .iter()
                .map(|n| NetworkAttachmentConfig {
                    target: Some(n.target.clone()),
                    aliases: some_vec(&n.aliases),
                    driver_opts: None,
                })
                .collect::<Vec<_>>(),
        ),
        log_driver: o
            .log_driver
            .as_ref()
            .map(|name| TaskSpecLogDriver { name: Some(name.clone()), options: some_map(&o.log_options) }),
        ..Default::default()
    };
    let mut labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
    if let Some(health) = &spec.healthcheck {
        labels.insert(HEALTHCHECK_LABEL.into(), serde_json::to_string(health).unwrap_or_default());
    }
    ServiceSpec {
        name: Some(spec.name.clone()),
        labels: Some(labels),
        task_template: Some(task),
        mode: Some(match spec.mode {
            SwarmMode::Replicated { replicas } => ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated { replicas: Some(to_i64(replicas)) }),
                ..Default::default()
            },
            SwarmMode::Global => ServiceSpecMode { global: Some(HashMap::new()), ..Default::default() },
        }),
        update_config: Some(update_to(&spec.update)),
        rollback_config: Some(rollback_to(&spec.rollback)),
        networks: None,
        endpoint_spec: Some(EndpointSpec {
            mode: Some(match spec.endpoint_mode {
                EndpointMode::Vip => EndpointSpecModeEnum::VIP,
                EndpointMode::Dnsrr => EndpointSpecModeEnum::DNSRR,
            }),
            ports: some_vec(&spec.ports.iter().map(port_to).collect::<Vec<_>>()),
        }),
    }
}

fn mount_to(m: &SwarmMount) -> Mount {
    Mount {
        target: Some(m.target.clone()),
        source: (!m.source.is_empty()).then(|| m.source.clone()),
        typ: Some(match m.kind {
            SwarmMountKind::Volume => MountType::VOLUME,
            SwarmMountKind::Bind => MountType::BIND,
            SwarmMountKind::Tmpfs => MountType::TMPFS,
        }),
        read_only: m.read_only.then_some(true),
        tmpfs_options: m.tmpfs.map(|t| bollard::models::MountTmpfsOptions {
            size_bytes: t.size_bytes,
            mode: t.mode.map(i64::from),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn platform_to(p: &str) -> Platform {
    let (os, arch) = p.split_once('/').unwrap_or((p, ""));
    Platform { os: Some(os.to_string()), architecture: (!arch.is_empty()).then(|| arch.to_string()) }
}

fn port_to(p: &SwarmPort) -> EndpointPortConfig {
    EndpointPortConfig {
        name: None,
        protocol: Some(match p.protocol.as_str() {
            "udp" => EndpointPortConfigProtocolEnum::UDP,
            "sctp" => EndpointPortConfigProtocolEnum::SCTP,
            _ => EndpointPortConfigProtocolEnum::TCP,
        }),
        target_port: Some(i64::from(p.target)),
        published_port: p.published.map(i64::from),
        publish_mode: Some(match p.mode {
            PublishMode::Ingress => EndpointPortConfigPublishModeEnum::INGRESS,
            PublishMode::Host => EndpointPortConfigPublishModeEnum::HOST,
        }),
    }
}

fn update_to(u: &SwarmUpdate) -> ServiceSpecUpdateConfig {
    ServiceSpecUpdateConfig {
        parallelism: Some(to_i64(u.parallelism)),
        delay: Some(ns(u.delay_ms)),
        failure_action: Some(match u.failure_action {
            FailureAction::Pause => ServiceSpecUpdateConfigFailureActionEnum::PAUSE,
            FailureAction::Continue => ServiceSpecUpdateConfigFailureActionEnum::CONTINUE,
            FailureAction::Rollback => ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK,
        }),
        monitor: Some(ns(u.monitor_ms)),
        max_failure_ratio: None,
        order: Some(match u.order {
            UpdateOrder::StopFirst => ServiceSpecUpdateConfigOrderEnum::STOP_FIRST,
            UpdateOrder::StartFirst => ServiceSpecUpdateConfigOrderEnum::START_FIRST,
        }),
    }
}

/// A rollback cannot itself roll back: Swarm's `RollbackConfig.FailureAction` has no `rollback`,
/// so one asked for is sent as `pause` (what the daemon would do anyway).
fn rollback_to(u: &SwarmUpdate) -> ServiceSpecRollbackConfig {
    ServiceSpecRollbackConfig {
        parallelism: Some(to_i64(u.parallelism)),
        delay: Some(ns(u.delay_ms)),
        failure_action: Some(match u.failure_action {
            FailureAction::Continue => ServiceSpecRollbackConfigFailureActionEnum::CONTINUE,
            FailureAction::Pause | FailureAction::Rollback => ServiceSpecRollbackConfigFailureActionEnum::PAUSE,
        }),
        monitor: Some(ns(u.monitor_ms)),
        max_failure_ratio: None,
        order: Some(match u.order {
            UpdateOrder::StopFirst => ServiceSpecRollbackConfigOrderEnum::STOP_FIRST,
            UpdateOrder::StartFirst => ServiceSpecRollbackConfigOrderEnum::START_FIRST,
        }),
    }
}

/// Overwrites the fields [`to_bollard`] projects in `observed` (a full spec as inspected),
/// keeping everything else, so an update changes only what moor manages.
pub fn apply_onto(observed: &mut ServiceSpec, spec: &SwarmSpec) {
    let fresh = to_bollard(spec);
    let new_task = fresh.task_template.unwrap_or_default();
    let new_c = new_task.container_spec.unwrap_or_default();
    observed.name = fresh.name;
    observed.labels = fresh.labels;
    observed.mode = fresh.mode;
    observed.endpoint_spec = fresh.endpoint_spec;
    // The networks live in the task template; the deprecated copy would contradict them.
    observed.networks = None;
    let u = fresh.update_config.unwrap_or_default();
    let old = observed.update_config.get_or_insert_with(Default::default);
    (old.parallelism, old.delay, old.failure_action, old.monitor, old.order) =
        (u.parallelism, u.delay, u.failure_action, u.monitor, u.order);
    let r = fresh.rollback_config.unwrap_or_default();
    let old = observed.rollback_config.get_or_insert_with(Default::default);
    (old.parallelism, old.delay, old.failure_action, old.monitor, old.order) =
        (r.parallelism, r.delay, r.failure_action, r.monitor, r.order);

    let task = observed.task_template.get_or_insert_with(Default::default);
    task.networks = new_task.networks;
    task.log_driver = new_task.log_driver;
    let new_resources = new_task.resources.unwrap_or_default();
    let resources = task.resources.get_or_insert_with(Default::default);
    resources.limits = new_resources.limits;
    let new_reservations = new_resources.reservations.unwrap_or_default();
    let reservations = resources.reservations.get_or_insert_with(Default::default);
    reservations.nano_cpus = new_reservations.nano_cpus;
    reservations.memory_bytes = new_reservations.memory_bytes;
    let new_restart = new_task.restart_policy.unwrap_or_default();
    let restart = task.restart_policy.get_or_insert_with(Default::default);
    (restart.condition, restart.delay, restart.max_attempts) =
        (new_restart.condition, new_restart.delay, new_restart.max_attempts);
    let new_placement = new_task.placement.unwrap_or_default();
    let placement = task.placement.get_or_insert_with(Default::default);
    placement.constraints = new_placement.constraints;
    placement.platforms = new_placement.platforms;

    let c = task.container_spec.get_or_insert_with(Default::default);
    c.image = new_c.image;
    c.labels = new_c.labels;
    c.command = new_c.command;
    c.args = new_c.args;
    c.hostname = new_c.hostname;
    c.env = new_c.env;
    c.dir = new_c.dir;
    c.user = new_c.user;
    c.groups = new_c.groups;
    c.tty = new_c.tty;
    c.open_stdin = new_c.open_stdin;
    c.read_only = new_c.read_only;
    c.mounts = new_c.mounts;
    c.stop_signal = new_c.stop_signal;
    c.stop_grace_period = new_c.stop_grace_period;
    c.health_check = new_c.health_check;
    c.hosts = new_c.hosts;
    c.dns_config = new_c.dns_config;
    c.secrets = new_c.secrets;
    c.configs = new_c.configs;
    c.init = new_c.init;
    c.sysctls = new_c.sysctls;
    c.capability_add = new_c.capability_add;
    c.capability_drop = new_c.capability_drop;
    c.ulimits = new_c.ulimits;
}

#[cfg(test)]
#[path = "swarm_convert_tests.rs"]
mod tests;
