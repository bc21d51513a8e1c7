use super::*;
use crate::swarm::spec::{
    SwarmContainerOptions, SwarmFileRef, SwarmHealthcheck, SwarmNetwork, SwarmResources, SwarmRestart,
};

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A spec that sets every projected field to something other than its default.
fn rich() -> SwarmSpec {
    SwarmSpec {
        name: "shop_web".into(),
        labels: map(&[("moor.instance", "shop"), ("moor.backend", "swarm"), ("team", "a")]),
        image: "127.0.0.1:5000/moor-test/busybox:1@sha256:2445138ace2c".into(),
        command: Some(vec!["/bin/sh".into()]),
        args: Some(vec!["-c".into(), "sleep 1".into()]),
        env: map(&[("A", "1"), ("B", "x=y"), ("EMPTY", "")]),
        container_labels: map(&[("app", "web")]),
        working_dir: Some("/srv".into()),
        user: Some("1000:1000".into()),
        hostname: Some("web-host".into()),
        mounts: vec![
            SwarmMount {
                kind: SwarmMountKind::Volume,
                source: "shop_data".into(),
                target: "/data".into(),
                read_only: false,
                tmpfs: None,
            },
            SwarmMount {
                kind: SwarmMountKind::Bind,
                source: "/etc/hosts".into(),
                target: "/h".into(),
                read_only: true,
                tmpfs: None,
            },
            SwarmMount {
                kind: SwarmMountKind::Tmpfs,
                source: String::new(),
                target: "/tmp".into(),
                read_only: false,
                tmpfs: Some(crate::swarm::spec::SwarmTmpfs { size_bytes: Some(16 << 20), mode: Some(0o1777) }),
            },
        ],
        networks: vec![
            SwarmNetwork { target: "shop_default".into(), aliases: vec!["web".into()] },
            SwarmNetwork { target: "shop_back".into(), aliases: vec![] },
        ],
        ports: vec![
            SwarmPort { target: 53, published: Some(5353), protocol: "udp".into(), mode: PublishMode::Ingress },
            SwarmPort { target: 8080, published: Some(18081), protocol: "tcp".into(), mode: PublishMode::Host },
        ],
        endpoint_mode: EndpointMode::Dnsrr,
        healthcheck: Some(SwarmHealthcheck {
            test: vec!["CMD-SHELL".into(), "test -f /ok".into()],
            interval_ms: Some(1_500),
            timeout_ms: Some(1_000),
            retries: Some(3),
            start_period_ms: Some(250),
        }),
        limits: SwarmResources { nano_cpus: Some(500_000_000), memory_bytes: Some(67_108_864), pids: Some(50) },
        reservations: SwarmResources { nano_cpus: Some(100_000_000), memory_bytes: Some(16_777_216), pids: None },
        restart: SwarmRestart { condition: RestartCondition::OnFailure, max_attempts: 3, delay_ms: 0 },
        mode: SwarmMode::Replicated { replicas: 3 },
        constraints: vec!["node.hostname==n1".into(), "node.labels.role==edge".into()],
        platforms: vec!["linux/amd64".into()],
        update: SwarmUpdate {
            parallelism: 2,
            order: UpdateOrder::StartFirst,
            failure_action: FailureAction::Rollback,
            monitor_ms: 1_000,
            delay_ms: 0,
        },
        rollback: SwarmUpdate {
            parallelism: 0,
            order: UpdateOrder::StopFirst,
            failure_action: FailureAction::Continue,
            monitor_ms: 2_000,
            delay_ms: 100,
        },
        secrets: vec![SwarmFileRef {
            target: "db_password".into(),
            name: "shop_db-password-0123456789abcdef".into(),
            uid: "0".into(),
            gid: "0".into(),
            mode: 0o400,
        }],
        configs: vec![SwarmFileRef {
            target: "/etc/app.conf".into(),
            name: "shop_app-conf-fedcba9876543210".into(),
            uid: "33".into(),
            gid: "33".into(),
            mode: 0o444,
        }],
        stop_signal: Some("SIGINT".into()),
        stop_grace_ms: 1_000,
        options: SwarmContainerOptions {
            init: Some(true),
            read_only: true,
            tty: true,
            open_stdin: true,
            cap_add: vec!["CAP_NET_ADMIN".into()],
            cap_drop: vec!["ALL".into()],
            sysctls: map(&[("net.core.somaxconn", "1024")]),
            ulimits: [("nofile".to_string(), (1024, 2048))].into(),
            groups: vec!["audio".into()],
            hosts: vec!["10.0.0.1 db.local".into()],
            dns: vec!["10.0.0.53".into()],
            dns_search: vec!["example.org".into()],
            dns_options: vec!["ndots:2".into()],
            log_driver: Some("json-file".into()),
            log_options: map(&[("max-size", "1m")]),
        },
    }
}

/// The service of design doc 2.1 as moor would project it: only the defaults besides.
fn web() -> SwarmSpec {
    SwarmSpec {
        name: "web".into(),
        labels: map(&[("moor.instance", "default"), ("moor.name", "web")]),
        image: "moor-test/busybox:1".into(),
        args: Some(vec!["sh".into(), "-c".into(), "trap 'exit 0' TERM; sleep 1000000 & wait".into()]),
        env: map(&[("A", "1")]),
        ports: vec![SwarmPort {
            target: 8080,
            published: Some(18081),
            protocol: "tcp".into(),
            mode: PublishMode::Host,
        }],
        stop_grace_ms: 10_000,
        ..Default::default()
    }
}

/// `docker service inspect web`'s `Spec` from design doc 2.1 (made by the CLI).
const CLI_SPEC: &str = r#"{"Name": "web", "Labels": {"moor.instance": "default", "moor.name": "web"},
   "TaskTemplate": {"ContainerSpec": {"Image": "moor-test/busybox:1",
       "Args": ["sh","-c","trap 'exit 0' TERM; sleep 1000000 & wait"], "Env": ["A=1"],
       "Init": false, "StopGracePeriod": 10000000000, "DNSConfig": {}, "Isolation": "default"},
     "Resources": {"Limits": {}, "Reservations": {}},
     "RestartPolicy": {"Condition": "any", "Delay": 5000000000, "MaxAttempts": 0},
     "Placement": {}, "ForceUpdate": 0, "Runtime": "container"},
   "Mode": {"Replicated": {"Replicas": 1}},
   "UpdateConfig":   {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5000000000, "MaxFailureRatio": 0, "Order": "stop-first"},
   "RollbackConfig": {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5000000000, "MaxFailureRatio": 0, "Order": "stop-first"},
   "EndpointSpec": {"Mode": "vip", "Ports": [{"Protocol": "tcp", "TargetPort": 8080, "PublishedPort": 18081, "PublishMode": "host"}]}}"#;

/// The same service made through the raw API with no defaults: the daemon's fill-ins without
/// the CLI's `Init: false` and empty `Limits`/`Reservations` (design doc 2.1).
const RAW_SPEC: &str = r#"{"Name": "web", "Labels": {"moor.instance": "default", "moor.name": "web"},
   "TaskTemplate": {"ContainerSpec": {"Image": "moor-test/busybox:1",
       "Args": ["sh","-c","trap 'exit 0' TERM; sleep 1000000 & wait"], "Env": ["A=1"],
       "StopGracePeriod": 10000000000, "DNSConfig": {}, "Isolation": "default"},
     "Resources": {},
     "RestartPolicy": {"Condition": "any", "Delay": 5000000000, "MaxAttempts": 0},
     "Placement": {}, "ForceUpdate": 0, "Runtime": "container"},
   "Mode": {"Replicated": {"Replicas": 1}},
   "UpdateConfig":   {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5000000000, "MaxFailureRatio": 0, "Order": "stop-first"},
   "RollbackConfig": {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5000000000, "MaxFailureRatio": 0, "Order": "stop-first"},
   "EndpointSpec": {"Mode": "vip", "Ports": [{"Protocol": "tcp", "TargetPort": 8080, "PublishedPort": 18081, "PublishMode": "host"}]}}"#;

#[test]
fn a_rich_spec_reads_back_as_it_was_written() {
    let spec = rich();
    assert_eq!(from_bollard(&to_bollard(&spec)), spec);
    // Through JSON too, as it travels to the daemon and back.
    let wire: ServiceSpec = serde_json::from_value(serde_json::to_value(to_bollard(&spec)).unwrap()).unwrap();
    assert_eq!(from_bollard(&wire), spec);
    let web = web();
    assert_eq!(from_bollard(&to_bollard(&web)), web);
}

#[test]
fn the_daemons_and_the_clis_defaults_read_as_the_spec_that_made_them() {
    for (what, json) in [("CLI", CLI_SPEC), ("raw API", RAW_SPEC)] {
        let observed: ServiceSpec = serde_json::from_str(json).unwrap();
        assert_eq!(from_bollard(&observed), web(), "{what}");
    }
    // Nothing at all filled in reads as the daemon's defaults.
    let bare: ServiceSpec =
        serde_json::from_str(r#"{"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "i"}}}"#).unwrap();
    let read = from_bollard(&bare);
    assert_eq!(
        (read.stop_grace_ms, read.restart, read.update, read.rollback, read.mode),
        (
            10_000,
            SwarmRestart::default(),
            SwarmUpdate::default(),
            SwarmUpdate::default(),
            SwarmMode::Replicated { replicas: 1 }
        )
    );
}

#[test]
fn capabilities_take_the_clis_prefix_and_empty_values_read_as_absent() {
    let observed: ServiceSpec = serde_json::from_str(
        r#"{"Name": "x", "TaskTemplate": {"ContainerSpec": {"Image": "i", "Args": [], "Command": [], "Dir": "", "User": "",
            "CapabilityAdd": ["net_admin", "CAP_CHOWN"], "CapabilityDrop": ["ALL"], "Env": ["FLAG"]}},
            "EndpointSpec": {"Ports": [{"TargetPort": 80, "PublishedPort": 0}]}}"#,
    )
    .unwrap();
    let read = from_bollard(&observed);
    assert_eq!(read.options.cap_add, ["CAP_CHOWN", "CAP_NET_ADMIN"]);
    assert_eq!(read.options.cap_drop, ["ALL"]);
    assert_eq!((read.args, read.command, read.working_dir, read.user), (None, None, None, None));
    assert_eq!(read.env, map(&[("FLAG", "")]));
    assert_eq!(
        read.ports,
        [SwarmPort { target: 80, published: None, protocol: "tcp".into(), mode: PublishMode::Ingress }]
    );
}

#[test]
fn the_wire_form_is_stable() {
    // Labels and the like are hash maps on the wire: sorted, so the snapshot is stable.
    insta::with_settings!({ sort_maps => true }, {
        insta::assert_json_snapshot!(to_bollard(&rich()));
    });
}

#[test]
fn apply_onto_keeps_what_moor_does_not_project() {
    let mut observed: ServiceSpec = serde_json::from_str(CLI_SPEC).unwrap();
    let task = observed.task_template.as_mut().unwrap();
    task.force_update = Some(7);
    task.placement.as_mut().unwrap().max_replicas = Some(2);
    task.container_spec.as_mut().unwrap().oom_score_adj = Some(100);
    observed.update_config.as_mut().unwrap().max_failure_ratio = Some(0.5);
    observed.networks = Some(vec![NetworkAttachmentConfig { target: Some("abc123".into()), ..Default::default() }]);

    let spec = rich();
    apply_onto(&mut observed, &spec);
    assert_eq!(from_bollard(&observed), spec, "the projected fields are moor's");
    let task = observed.task_template.as_ref().unwrap();
    assert_eq!(task.force_update, Some(7));
    assert_eq!(task.runtime.as_deref(), Some("container"));
    assert_eq!(task.placement.as_ref().unwrap().max_replicas, Some(2));
    let c = task.container_spec.as_ref().unwrap();
    assert_eq!(c.oom_score_adj, Some(100));
    assert_eq!(c.isolation, Some(bollard::models::TaskSpecContainerSpecIsolationEnum::DEFAULT));
    assert_eq!(observed.update_config.as_ref().unwrap().max_failure_ratio, Some(0.5));
    assert_eq!(observed.networks, None, "the deprecated networks would contradict the task's");
}

#[test]
fn a_rollback_config_never_asks_to_roll_back() {
    let mut spec = web();
    spec.rollback.failure_action = FailureAction::Rollback;
    let sent = to_bollard(&spec).rollback_config.unwrap().failure_action;
    assert_eq!(sent, Some(ServiceSpecRollbackConfigFailureActionEnum::PAUSE));
}

#[test]
fn a_healthcheck_bollard_cannot_read_comes_back_from_its_label() {
    let spec = rich();
    let sent = serde_json::to_value(to_bollard(&spec)).unwrap();
    // What Docker 20.10 answers: the healthcheck under `Healthcheck`, which bollard skips.
    let mut answered = sent.clone();
    let container = answered["TaskTemplate"]["ContainerSpec"].as_object_mut().unwrap();
    let health = container.remove("HealthCheck").unwrap();
    container.insert("Healthcheck".into(), health);
    let observed: ServiceSpec = serde_json::from_value(answered).unwrap();
    assert_eq!(observed.task_template.as_ref().unwrap().container_spec.as_ref().unwrap().health_check, None);
    let read = from_bollard(&observed);
    assert_eq!(read, spec, "the label gives it back, and is not shown among the labels");
    assert!(!read.labels.contains_key(HEALTHCHECK_LABEL));
    // No healthcheck, no label.
    assert!(!to_bollard(&web()).labels.unwrap().contains_key(HEALTHCHECK_LABEL));
}
