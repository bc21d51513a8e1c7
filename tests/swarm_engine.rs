//! `SwarmEngine` for `DockerEngine` against a real swarm of one: each test has a daemon of its
//! own ([`common::swarm::SwarmDaemon`]), in its own network namespace. Creates are detached: a
//! test that needs a task running polls the tasks under a deadline.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::daemon::Daemon;
use common::swarm::{engine, NsRegistry, SwarmDaemon};
use common::{eventually, IMAGE, SLEEPER};
use moor::engine::swarm::SwarmEngine;
use moor::engine::{DockerEngine, EngineError};
use moor::manifest::Network;
use moor::sensitive::Sensitive;
use moor::swarm::spec::{
    DataKind, EndpointMode, FailureAction, PublishMode, RestartCondition, SwarmContainerOptions, SwarmData,
    SwarmFileRef, SwarmHealthcheck, SwarmMode, SwarmMount, SwarmMountKind, SwarmNetwork, SwarmPort, SwarmResources,
    SwarmRestart, SwarmSpec, SwarmUpdate, UpdateOrder,
};

const INSTANCE: &str = "t";
/// A create, to tasks running: 2 to 3 s here (design doc 9).
const CONVERGE: Duration = Duration::from_secs(30);

fn owned_labels(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = [("moor.instance", INSTANCE), ("moor.backend", "swarm")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    labels
}

fn overlay(name: &str) -> Network {
    Network {
        name: name.into(),
        source: None,
        labels: BTreeMap::new(),
        driver: "bridge".into(),
        internal: false,
        options: BTreeMap::new(),
        attachable: false,
        enable_ipv6: false,
        ipam: None,
    }
}

/// A service on `network` with a host-mode port: a published service must join an overlay, or
/// it listens nowhere (trap T2).
fn sleeper(name: &str, network: &str, port: u16) -> SwarmSpec {
    SwarmSpec {
        name: name.into(),
        labels: owned_labels(&[("moor.service", name)]),
        image: IMAGE.into(),
        args: Some(vec!["sh".into(), "-c".into(), SLEEPER.into()]),
        env: [("A".to_string(), "1".to_string())].into(),
        networks: vec![SwarmNetwork { target: network.into(), aliases: vec![name.into()] }],
        ports: vec![SwarmPort { target: 8080, published: Some(port), protocol: "tcp".into(), mode: PublishMode::Host }],
        stop_grace_ms: 1_000,
        ..Default::default()
    }
}

/// Observes service `id` and updates it to `spec` with the version observed; returns that
/// version. Swarm's allocator bumps a new service's version by itself soon after the create (its
/// VIPs and ports), so an `OutOfSequence` is answered by observing again, as apply does.
async fn update_observed(engine: &DockerEngine, id: &str, spec: &SwarmSpec) -> u64 {
    for _ in 0..5 {
        let observed = engine.list_services(INSTANCE).await.unwrap().into_iter().find(|s| s.id == id).unwrap();
        match engine.update_service(id, observed.version, spec).await {
            Ok(()) => return observed.version,
            Err(EngineError::OutOfSequence(_)) => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(e) => panic!("update of {id}: {e}"),
        }
    }
    panic!("service {id} kept changing under five updates");
}

/// Waits until `service` has a task running, and returns how many it has running.
async fn running(engine: &DockerEngine, service: &str) -> usize {
    eventually(CONVERGE, "a running task", || async {
        let tasks = engine.list_tasks(&[service.to_string()]).await.unwrap();
        let running = tasks.iter().filter(|t| t.desired_state == "running" && t.state == "running").count();
        (running > 0).then_some(running)
    })
    .await
}

#[tokio::test]
async fn a_service_lists_back_as_created_and_updates_carry_the_observed_version() {
    let swarm = SwarmDaemon::start("swarm-svc").await;
    let engine = engine(&swarm).await;
    engine.swarm_ping().await.unwrap();
    engine.create_network("t_net", &overlay("ignored"), INSTANCE).await.unwrap();
    engine.create_network("t_net", &overlay("ignored"), INSTANCE).await.expect("one that exists is Ok");
    let networks = engine.list_networks(INSTANCE).await.unwrap();
    assert_eq!(networks.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["t_net"]);
    assert_eq!(networks[0].labels.get("moor.backend").map(String::as_str), Some("swarm"));

    let spec = sleeper("web", "t_net", 18081);
    let id = engine.create_service(&spec).await.unwrap();
    assert_eq!(engine.create_service(&spec).await, Err(EngineError::NameInUse { name: "web".into() }));
    // The same settings through the CLI read back equal too (trap T12), and a service without
    // moor's labels is never listed.
    let cli = swarm.docker(&[
        "service",
        "create",
        "-d",
        "--name",
        "cli",
        "--label",
        "moor.instance=t",
        "--label",
        "moor.backend=swarm",
        "--label",
        "moor.service=cli",
        "--network",
        "name=t_net,alias=cli",
        "--publish",
        "mode=host,target=8080,published=18082",
        "--env",
        "A=1",
        "--stop-grace-period",
        "1s",
        IMAGE,
        "sh",
        "-c",
        SLEEPER,
    ]);
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    let foreign = swarm.docker(&[
        "service",
        "create",
        "-d",
        "--name",
        "foreign",
        "--label",
        "moor.instance=t",
        IMAGE,
        "sh",
        "-c",
        SLEEPER,
    ]);
    assert!(foreign.status.success(), "{}", String::from_utf8_lossy(&foreign.stderr));

    let listed = engine.list_services(INSTANCE).await.unwrap();
    let by_name: BTreeMap<&str, _> = listed.iter().map(|s| (s.spec.name.as_str(), s)).collect();
    assert_eq!(by_name.keys().copied().collect::<Vec<_>>(), ["cli", "web"], "only services with both labels");
    assert_eq!(by_name["web"].spec, spec);
    assert_eq!(by_name["web"].id, id);
    assert_eq!(by_name["cli"].spec, sleeper("cli", "t_net", 18082));
    assert_eq!(by_name["web"].update, None, "never updated");

    assert_eq!(running(&engine, &id).await, 1);
    let nodes = engine.list_nodes().await.unwrap();
    assert_eq!(nodes.len(), 1);
    assert!(nodes[0].ready, "{nodes:?}");

    // An update with the observed version is taken; the stale one then is refused and changes
    // nothing.
    let mut changed = spec.clone();
    changed.env.insert("B".into(), "2".into());
    let stale = update_observed(&engine, &id, &changed).await;
    let after = engine.list_services(INSTANCE).await.unwrap().into_iter().find(|s| s.id == id).unwrap();
    assert_eq!(after.spec, changed);
    assert!(after.version > stale);
    let mut other = spec.clone();
    other.env.insert("C".into(), "3".into());
    assert!(matches!(engine.update_service(&id, stale, &other).await, Err(EngineError::OutOfSequence(_))));
    let unchanged = engine.list_services(INSTANCE).await.unwrap().into_iter().find(|s| s.id == id).unwrap();
    // The version itself may have moved meanwhile: Swarm bumps it as the update it runs
    // progresses (design doc 2.2), so the spec is what tells.
    assert_eq!(unchanged.spec, changed);

    engine.remove_service(&id).await.unwrap();
    engine.remove_service(&id).await.expect("a service that is gone is removed");

    // A network name is the daemon's: another instance's create of it is refused.
    let owned = engine.create_network("t_net", &overlay("t_net"), "other").await;
    assert!(matches!(owned, Err(EngineError::Owned { ref owner, .. }) if owner == INSTANCE), "{owned:?}");
    // Kept while a service uses it, removed once none does.
    let net = &networks[0].id;
    let in_use = engine.remove_network(net).await;
    assert!(matches!(in_use, Err(EngineError::InUse(_))), "{in_use:?}");
    for name in ["cli", "foreign"] {
        let rm = swarm.docker(&["service", "rm", name]);
        assert!(rm.status.success(), "{}", String::from_utf8_lossy(&rm.stderr));
    }
    engine.remove_network(net).await.unwrap();
    engine.remove_network(net).await.expect("a network that is gone is removed");
    // The node's own copy of a swarm network outlives the cluster's for a moment (3.6 s here):
    // listed, and "not found" to a remove (a 500), until the node lets it go.
    eventually(Duration::from_secs(30), "the removed network to leave the list", || async {
        engine.list_networks(INSTANCE).await.unwrap().is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn secrets_are_listed_by_label_and_kept_while_in_use() {
    let swarm = SwarmDaemon::start("swarm-data").await;
    let engine = engine(&swarm).await;
    let data = |kind, name: &str, value: &str| SwarmData {
        kind,
        name: name.into(),
        labels: owned_labels(&[("moor.data", name)]),
        data: Sensitive::new(value.as_bytes().to_vec()),
    };
    let secret = data(DataKind::Secret, "db-0123456789abcdef", "s3cret-v1");
    engine.create_data(&secret).await.unwrap();
    engine.create_data(&secret).await.expect("the same name is the same content: Ok");
    engine.create_data(&data(DataKind::Config, "conf-0123456789abcdef", "port=1")).await.unwrap();
    let other = swarm.docker(&["secret", "create", "--label", "moor.instance=other", "other-secret", "/etc/hostname"]);
    assert!(other.status.success(), "{}", String::from_utf8_lossy(&other.stderr));

    let secrets = engine.list_data(DataKind::Secret, INSTANCE).await.unwrap();
    assert_eq!(secrets.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["db-0123456789abcdef"]);
    assert_eq!(secrets[0].labels, secret.labels);
    let configs = engine.list_data(DataKind::Config, INSTANCE).await.unwrap();
    assert_eq!(configs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["conf-0123456789abcdef"]);

    let file = |target: &str, name: &str, mode| SwarmFileRef {
        target: target.into(),
        name: name.into(),
        uid: "0".into(),
        gid: "0".into(),
        mode,
    };
    let spec = SwarmSpec {
        name: "withsec".into(),
        labels: owned_labels(&[]),
        image: IMAGE.into(),
        args: Some(vec!["sh".into(), "-c".into(), SLEEPER.into()]),
        secrets: vec![file("db_password", "db-0123456789abcdef", 0o400)],
        configs: vec![file("/etc/app.conf", "conf-0123456789abcdef", 0o444)],
        stop_grace_ms: 1_000,
        ..Default::default()
    };
    let id = engine.create_service(&spec).await.unwrap();
    let listed = engine.list_services(INSTANCE).await.unwrap();
    assert_eq!(listed.iter().map(|s| &s.spec).collect::<Vec<_>>(), [&spec]);
    running(&engine, &id).await;
    let in_task = swarm.docker(&["ps", "-q", "--filter", &format!("label=com.docker.swarm.service.id={id}")]);
    let container = String::from_utf8_lossy(&in_task.stdout).trim().to_string();
    let read = swarm.docker(&["exec", &container, "cat", "/run/secrets/db_password", "/etc/app.conf"]);
    assert_eq!(String::from_utf8_lossy(&read.stdout), "s3cret-v1port=1");

    assert!(matches!(engine.remove_data(DataKind::Secret, &secrets[0].id).await, Err(EngineError::InUse(_))));
    assert!(matches!(engine.remove_data(DataKind::Config, &configs[0].id).await, Err(EngineError::InUse(_))));
    engine.remove_service(&id).await.unwrap();
    engine.remove_data(DataKind::Secret, &secrets[0].id).await.unwrap();
    engine.remove_data(DataKind::Config, &configs[0].id).await.unwrap();
    engine.remove_data(DataKind::Secret, &secrets[0].id).await.expect("one that is gone is removed");
    assert_eq!(engine.list_data(DataKind::Secret, INSTANCE).await.unwrap(), []);
}

#[tokio::test]
async fn a_daemon_without_a_swarm_is_not_a_manager() {
    let daemon = Daemon::start("swarm-none");
    let engine = engine(&daemon).await;
    assert!(matches!(engine.swarm_ping().await, Err(EngineError::NotSwarmManager(_))));
    assert!(matches!(engine.list_services(INSTANCE).await, Err(EngineError::NotSwarmManager(_))));
}

#[tokio::test]
async fn the_registry_digest_of_a_pushed_image_pins_it() {
    let swarm = SwarmDaemon::start("swarm-digest").await;
    let registry = NsRegistry::start(&swarm).await;
    let reference = registry.push_test_image(&swarm, "moor-test/busybox:1");
    let engine = engine(&swarm).await;
    let digest = engine.registry_digest(&reference).await.unwrap();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
    let inspect = swarm.docker(&["image", "inspect", "-f", "{{json .RepoDigests}}", &reference]);
    assert!(String::from_utf8_lossy(&inspect.stdout).contains(&digest), "the pushed image's own digest");
    // The pinned reference is what a service is made with, and it stays as sent.
    let mut spec = sleeper("pinned", "t_net", 18083);
    spec.networks.clear();
    spec.ports.clear();
    spec.image = format!("{reference}@{digest}");
    let id = engine.create_service(&spec).await.unwrap();
    let listed = engine.list_services(INSTANCE).await.unwrap();
    assert_eq!(listed.iter().map(|s| (&s.id, &s.spec)).collect::<Vec<_>>(), [(&id, &spec)]);
    running(&engine, &id).await;
}

/// Every projected field set: the daemon keeps each as sent, and an update with the observed
/// version replaces them all.
fn rich(network: &str, secret: &str, config: &str) -> SwarmSpec {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let file = |target: &str, name: &str, mode| SwarmFileRef {
        target: target.into(),
        name: name.into(),
        uid: "0".into(),
        gid: "0".into(),
        mode,
    };
    let map = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    SwarmSpec {
        name: "rich".into(),
        labels: owned_labels(&[("team", "a")]),
        image: IMAGE.into(),
        command: Some(vec!["sh".into()]),
        args: Some(vec!["-c".into(), SLEEPER.into()]),
        env: map(&[("A", "1"), ("B", "x=y")]),
        container_labels: map(&[("app", "rich")]),
        working_dir: Some("/".into()),
        user: Some("0".into()),
        hostname: Some("rich-host".into()),
        mounts: vec![
            SwarmMount {
                kind: SwarmMountKind::Volume,
                source: "t_data".into(),
                target: "/data".into(),
                read_only: false,
                tmpfs: None,
            },
            SwarmMount {
                kind: SwarmMountKind::Bind,
                source: "/etc".into(),
                target: "/host-etc".into(),
                read_only: true,
                tmpfs: None,
            },
            SwarmMount {
                kind: SwarmMountKind::Tmpfs,
                source: String::new(),
                target: "/scratch".into(),
                read_only: false,
                tmpfs: Some(moor::swarm::spec::SwarmTmpfs { size_bytes: Some(16 << 20), mode: Some(0o1777) }),
            },
        ],
        networks: vec![SwarmNetwork { target: network.into(), aliases: vec!["r1".into(), "rich".into()] }],
        ports: vec![
            SwarmPort { target: 53, published: Some(15353), protocol: "udp".into(), mode: PublishMode::Ingress },
            SwarmPort { target: 8080, published: Some(18084), protocol: "tcp".into(), mode: PublishMode::Host },
        ],
        endpoint_mode: EndpointMode::Vip,
        healthcheck: Some(SwarmHealthcheck {
            test: vec!["CMD-SHELL".into(), "true".into()],
            interval_ms: Some(1_500),
            timeout_ms: Some(1_000),
            retries: Some(3),
            start_period_ms: Some(250),
        }),
        limits: SwarmResources { nano_cpus: Some(500_000_000), memory_bytes: Some(67_108_864), pids: Some(50) },
        reservations: SwarmResources { nano_cpus: Some(100_000_000), memory_bytes: Some(16_777_216), pids: None },
        restart: SwarmRestart { condition: RestartCondition::OnFailure, max_attempts: 3, delay_ms: 0 },
        mode: SwarmMode::Replicated { replicas: 1 },
        constraints: vec!["node.labels.role==edge".into(), "node.role==manager".into()],
        platforms: vec![format!("linux/{arch}")],
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
        secrets: vec![file("db_password", secret, 0o400)],
        configs: vec![file("/etc/app.conf", config, 0o444)],
        stop_signal: Some("SIGINT".into()),
        stop_grace_ms: 1_000,
        options: SwarmContainerOptions {
            init: Some(true),
            read_only: true,
            tty: true,
            open_stdin: true,
            cap_add: vec!["CAP_NET_ADMIN".into()],
            cap_drop: vec!["CAP_MKNOD".into()],
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

#[tokio::test]
async fn every_projected_field_reads_back_as_sent_and_is_replaced_by_an_update() {
    let swarm = SwarmDaemon::start("swarm-rich").await;
    let engine = engine(&swarm).await;
    engine.create_network("t_net", &overlay("t_net"), INSTANCE).await.unwrap();
    for kind in [DataKind::Secret, DataKind::Config] {
        let data = SwarmData {
            kind,
            name: "d-0123456789abcdef".into(),
            labels: owned_labels(&[]),
            data: Sensitive::new(b"x".to_vec()),
        };
        engine.create_data(&data).await.unwrap();
    }
    let spec = rich("t_net", "d-0123456789abcdef", "d-0123456789abcdef");
    let id = engine.create_service(&spec).await.unwrap();
    let listed = engine.list_services(INSTANCE).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].spec, spec);

    // Back to a plain service: every field moor sets is replaced, none is left over.
    let plain = SwarmSpec { name: "rich".into(), ..sleeper("rich", "t_net", 18084) };
    update_observed(&engine, &id, &plain).await;
    let after = engine.list_services(INSTANCE).await.unwrap();
    assert_eq!(after.iter().map(|s| &s.spec).collect::<Vec<_>>(), [&plain]);
}
