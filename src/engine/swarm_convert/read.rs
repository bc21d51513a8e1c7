//! The read side of [`super`]: [`from_bollard`], the projection of an observed service spec,
//! with what the daemon and the CLI fill in normalised (see the parent module's invariants).

use std::collections::BTreeMap;

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum, EndpointSpecModeEnum, Mount,
    MountType, ServiceSpec, ServiceSpecMode, ServiceSpecRollbackConfigFailureActionEnum,
    ServiceSpecRollbackConfigOrderEnum, ServiceSpecUpdateConfigFailureActionEnum, ServiceSpecUpdateConfigOrderEnum,
    TaskSpecRestartPolicyConditionEnum,
};

use super::{DEFAULT_STOP_GRACE_MS, HEALTHCHECK_LABEL, NS_PER_MS};
use crate::swarm::spec::{
    EndpointMode, FailureAction, PublishMode, RestartCondition, SwarmContainerOptions, SwarmFileRef, SwarmHealthcheck,
    SwarmMode, SwarmMount, SwarmMountKind, SwarmNetwork, SwarmPort, SwarmResources, SwarmRestart, SwarmSpec,
    SwarmTmpfs, SwarmUpdate, UpdateOrder,
};

fn ms(ns: i64) -> u64 {
    u64::try_from(ns / NS_PER_MS).unwrap_or(0)
}

fn to_u64(n: Option<i64>) -> Option<u64> {
    n.map(|n| u64::try_from(n).unwrap_or(0))
}

/// Absent, `[]` and `[""]`-free: `None` for an empty list, as the daemon leaves it out.
fn non_empty(v: &Option<Vec<String>>) -> Option<Vec<String>> {
    v.as_ref().filter(|v| !v.is_empty()).cloned()
}

fn non_blank(s: &Option<String>) -> Option<String> {
    s.as_ref().filter(|s| !s.is_empty()).cloned()
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// The CLI writes capabilities as `CAP_…` (verified); a raw-API client may not.
fn capability(name: &str) -> String {
    let upper = name.to_uppercase();
    if upper.starts_with("CAP_") || upper == "ALL" {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// The projection of an observed service spec (see the module's invariants).
pub fn from_bollard(spec: &ServiceSpec) -> SwarmSpec {
    let task = spec.task_template.clone().unwrap_or_default();
    let c = task.container_spec.clone().unwrap_or_default();
    let dns = c.dns_config.clone().unwrap_or_default();
    let resources = task.resources.clone().unwrap_or_default();
    let limits = resources.limits.unwrap_or_default();
    let reservations = resources.reservations.unwrap_or_default();
    let placement = task.placement.clone().unwrap_or_default();
    let log = task.log_driver.clone();
    let options = SwarmContainerOptions {
        // The CLI writes `Init: false`, the raw API leaves it out: both are the daemon's default.
        init: c.init.filter(|&init| init),
        read_only: c.read_only.unwrap_or(false),
        tty: c.tty.unwrap_or(false),
        open_stdin: c.open_stdin.unwrap_or(false),
        cap_add: sorted(c.capability_add.clone().unwrap_or_default().iter().map(|s| capability(s)).collect()),
        cap_drop: sorted(c.capability_drop.clone().unwrap_or_default().iter().map(|s| capability(s)).collect()),
        sysctls: c.sysctls.clone().unwrap_or_default().into_iter().collect(),
        ulimits: c
            .ulimits
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|u| (u.name.unwrap_or_default(), (u.soft.unwrap_or(0), u.hard.unwrap_or(0))))
            .collect(),
        groups: c.groups.clone().unwrap_or_default(),
        hosts: c.hosts.clone().unwrap_or_default(),
        dns: dns.nameservers.unwrap_or_default(),
        dns_search: dns.search.unwrap_or_default(),
        dns_options: dns.options.unwrap_or_default(),
        log_driver: log.as_ref().and_then(|l| non_blank(&l.name)),
        log_options: log.and_then(|l| l.options).unwrap_or_default().into_iter().collect(),
    };
    // `ServiceSpec.Networks` is the deprecated place; a service made by an old client has them there.
    let networks =
        task.networks.clone().filter(|n| !n.is_empty()).or_else(|| spec.networks.clone()).unwrap_or_default();
    let update = spec.update_config.as_ref().map(|u| {
        read_update(
            u.parallelism,
            u.delay,
            u.monitor,
            match u.failure_action {
                Some(ServiceSpecUpdateConfigFailureActionEnum::CONTINUE) => FailureAction::Continue,
                Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK) => FailureAction::Rollback,
                _ => FailureAction::Pause,
            },
            u.order == Some(ServiceSpecUpdateConfigOrderEnum::START_FIRST),
        )
    });
    let rollback = spec.rollback_config.as_ref().map(|u| {
        read_update(
            u.parallelism,
            u.delay,
            u.monitor,
            match u.failure_action {
                Some(ServiceSpecRollbackConfigFailureActionEnum::CONTINUE) => FailureAction::Continue,
                _ => FailureAction::Pause,
            },
            u.order == Some(ServiceSpecRollbackConfigOrderEnum::START_FIRST),
        )
    });
    let restart = task.restart_policy.clone().unwrap_or_default();
    let defaults = SwarmRestart::default();
    let endpoint = spec.endpoint_spec.clone().unwrap_or_default();
    let mut labels: BTreeMap<String, String> = spec.labels.clone().unwrap_or_default().into_iter().collect();
    let labelled_health = labels.remove(HEALTHCHECK_LABEL).and_then(|json| serde_json::from_str(&json).ok());
    SwarmSpec {
        name: spec.name.clone().unwrap_or_default(),
        labels,
        image: c.image.clone().unwrap_or_default(),
        command: non_empty(&c.command),
        args: non_empty(&c.args),
        env: c
            .env
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv.clone(), String::new()),
            })
            .collect(),
        container_labels: c.labels.clone().unwrap_or_default().into_iter().collect(),
        working_dir: non_blank(&c.dir),
        user: non_blank(&c.user),
        hostname: non_blank(&c.hostname),
        mounts: c.mounts.clone().unwrap_or_default().iter().filter_map(mount_from).collect(),
        networks: networks
            .into_iter()
            .map(|n| SwarmNetwork {
                target: n.target.unwrap_or_default(),
                aliases: sorted(n.aliases.unwrap_or_default()),
            })
            .collect(),
        ports: sorted(endpoint.ports.unwrap_or_default().iter().map(port_from).collect()),
        endpoint_mode: match endpoint.mode {
            Some(EndpointSpecModeEnum::DNSRR) => EndpointMode::Dnsrr,
            _ => EndpointMode::Vip,
        },
        healthcheck: c
            .health_check
            .as_ref()
            .map(|h| SwarmHealthcheck {
                test: h.test.clone().unwrap_or_default(),
                interval_ms: h.interval.map(ms),
                timeout_ms: h.timeout.map(ms),
                retries: to_u64(h.retries),
                start_period_ms: h.start_period.map(ms),
            })
            .or(labelled_health),
        limits: SwarmResources { nano_cpus: limits.nano_cpus, memory_bytes: limits.memory_bytes, pids: limits.pids },
        reservations: SwarmResources {
            nano_cpus: reservations.nano_cpus,
            memory_bytes: reservations.memory_bytes,
            pids: None,
        },
        restart: SwarmRestart {
            condition: match restart.condition {
                Some(TaskSpecRestartPolicyConditionEnum::NONE) => RestartCondition::None,
                Some(TaskSpecRestartPolicyConditionEnum::ON_FAILURE) => RestartCondition::OnFailure,
                _ => RestartCondition::Any,
            },
            max_attempts: to_u64(restart.max_attempts).unwrap_or(defaults.max_attempts),
            delay_ms: restart.delay.map(ms).unwrap_or(defaults.delay_ms),
        },
        mode: mode_from(spec.mode.as_ref()),
        constraints: sorted(placement.constraints.unwrap_or_default()),
        platforms: placement
            .platforms
            .unwrap_or_default()
            .into_iter()
            .map(|p| match non_blank(&p.architecture) {
                Some(arch) => format!("{}/{arch}", p.os.unwrap_or_default()),
                None => p.os.unwrap_or_default(),
            })
            .collect(),
        update: update.unwrap_or_default(),
        rollback: rollback.unwrap_or_default(),
        secrets: sorted(
            c.secrets
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|s| {
                    let f = s.file.unwrap_or_default();
                    file_ref(s.secret_name, f.name, f.uid, f.gid, f.mode)
                })
                .collect(),
        ),
        configs: sorted(
            c.configs
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|s| {
                    let f = s.file.unwrap_or_default();
                    file_ref(s.config_name, f.name, f.uid, f.gid, f.mode)
                })
                .collect(),
        ),
        stop_signal: non_blank(&c.stop_signal),
        stop_grace_ms: c.stop_grace_period.map(ms).unwrap_or(DEFAULT_STOP_GRACE_MS),
        options,
    }
}

/// A missing field reads as the daemon's default: a `Monitor` of 0 is sent as none, and Swarm
/// then monitors for its default 5 s, so absent reads as 5 s.
fn read_update(
    parallelism: Option<i64>,
    delay: Option<i64>,
    monitor: Option<i64>,
    failure_action: FailureAction,
    start_first: bool,
) -> SwarmUpdate {
    let d = SwarmUpdate::default();
    SwarmUpdate {
        parallelism: to_u64(parallelism).unwrap_or(d.parallelism),
        order: if start_first { UpdateOrder::StartFirst } else { UpdateOrder::StopFirst },
        failure_action,
        monitor_ms: monitor.filter(|&m| m != 0).map(ms).unwrap_or(d.monitor_ms),
        delay_ms: delay.map(ms).unwrap_or(0),
    }
}

fn file_ref(
    name: Option<String>,
    target: Option<String>,
    uid: Option<String>,
    gid: Option<String>,
    mode: Option<u32>,
) -> SwarmFileRef {
    SwarmFileRef {
        target: target.unwrap_or_default(),
        name: name.unwrap_or_default(),
        uid: uid.unwrap_or_else(|| "0".into()),
        gid: gid.unwrap_or_else(|| "0".into()),
        mode: mode.unwrap_or(0o444),
    }
}

fn mount_from(m: &Mount) -> Option<SwarmMount> {
    let kind = match m.typ? {
        MountType::VOLUME => SwarmMountKind::Volume,
        MountType::BIND => SwarmMountKind::Bind,
        MountType::TMPFS => SwarmMountKind::Tmpfs,
        // Cluster, image and npipe mounts are not moor's: not projected.
        _ => return None,
    };
    Some(SwarmMount {
        kind,
        source: m.source.clone().unwrap_or_default(),
        target: m.target.clone().unwrap_or_default(),
        read_only: m.read_only.unwrap_or(false),
        tmpfs: m
            .tmpfs_options
            .as_ref()
            .map(|t| SwarmTmpfs { size_bytes: t.size_bytes, mode: t.mode.and_then(|m| u32::try_from(m).ok()) })
            .filter(|t| t.size_bytes.is_some() || t.mode.is_some()),
    })
}

fn port_from(p: &EndpointPortConfig) -> SwarmPort {
    SwarmPort {
        target: p.target_port.and_then(|t| u16::try_from(t).ok()).unwrap_or(0),
        published: p.published_port.filter(|&p| p != 0).and_then(|p| u16::try_from(p).ok()),
        protocol: match p.protocol {
            Some(EndpointPortConfigProtocolEnum::UDP) => "udp",
            Some(EndpointPortConfigProtocolEnum::SCTP) => "sctp",
            _ => "tcp",
        }
        .to_string(),
        mode: match p.publish_mode {
            Some(EndpointPortConfigPublishModeEnum::HOST) => PublishMode::Host,
            _ => PublishMode::Ingress,
        },
    }
}

/// Jobs have no `SwarmMode` of their own yet: a replicated job reads as its completions, a
/// global job as global (moor creates neither).
fn mode_from(mode: Option<&ServiceSpecMode>) -> SwarmMode {
    let Some(mode) = mode else { return SwarmMode::default() };
    if mode.global.is_some() || mode.global_job.is_some() {
        return SwarmMode::Global;
    }
    let replicas = match (&mode.replicated, &mode.replicated_job) {
        (Some(r), _) => to_u64(r.replicas).unwrap_or(1),
        (None, Some(job)) => to_u64(job.total_completions).unwrap_or(1),
        (None, None) => 1,
    };
    SwarmMode::Replicated { replicas }
}
