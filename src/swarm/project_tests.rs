//! The projection of manifests into Swarm specs: a rich service as a whole (snapshot), and each
//! rule on its own (names, networks, labels, restart, update, secrets).

use std::path::Path;

use sha2::{Digest, Sha256};

use super::project::{data_name, desired, project, service_name, spec_hash};
use super::spec::{DataKind, FailureAction, RestartCondition, SwarmMode, SwarmNetwork, UpdateOrder};
use super::validate_tests::{load, service_yaml};
use crate::labels;
use crate::manifest::model::{FileKind, FileMount};
use crate::manifest::{load_str, Desired};
use crate::secrets::host_key::{content_digest, HostKey};
use crate::sensitive::Sensitive;

fn one(spec: &str) -> Desired {
    load(&service_yaml("app", spec))
}

const RICH: &str = "apiVersion: moor/v1
kind: Network
metadata: { name: front }
---
apiVersion: moor/v1
kind: Service
metadata:
  name: web
  labels: { team: shop, tier: front }
spec:
  image: registry.example/web:1.2
  entrypoint: [/bin/tini, --]
  command: sh -c 'httpd -f -p 8080'
  workingDir: /srv
  user: \"1000:1000\"
  hostname: web.internal
  env: { LOG_LEVEL: info, MODE: prod }
  ports: [\"18080:8080\", \"9090\", \"5353:53/udp\"]
  volumes:
    - data:/srv
    - /etc/ssl/certs:/certs:ro
    - { type: tmpfs, target: /tmp }
  networks:
    front: { aliases: [www] }
  restart: on-failure:3
  healthcheck:
    test: [CMD, wget, -q, -O, /dev/null, http://127.0.0.1:8080/]
    interval: 2s
    timeout: 1s
    retries: 3
    startPeriod: 1500ms
  resources: { memory: 64Mi, cpus: 0.5, pids: 100 }
  memReservation: 16Mi
  stopSignal: SIGQUIT
  stopTimeout: 5s
  replicas: 1
  update: { strategy: stop-first, healthTimeout: 20s, rollback: true }
  placement: { nodes: [n1], nodeSelector: { role: edge, disk: ssd } }
  init: true
  readOnly: true
  tty: true
  stdinOpen: true
  capAdd: [net_admin, SYS_TIME]
  capDrop: [all]
  sysctls: { net.core.somaxconn: 1024 }
  ulimits: { nofile: { soft: 1024, hard: 4096 } }
  groupAdd: [video]
  extraHosts: [\"db:10.0.0.5\", \"v6=[::1]\"]
  dns: [1.1.1.1]
  dnsSearch: example.org
  dnsOpt: [\"ndots:2\"]
  logging: { driver: json-file, options: { max-size: 10m } }
  platform: linux/amd64
";

#[test]
fn a_rich_service_projects_every_field() {
    let d = load(RICH);
    let spec = project(&d.services["web"], "shop", &d);
    insta::assert_yaml_snapshot!(spec);
}

#[test]
fn names_are_bare_in_the_default_instance_and_prefixed_elsewhere() {
    assert_eq!(service_name("default", "web"), "web");
    assert_eq!(service_name("shop", "web"), "shop_web");
    let d = one("");
    assert_eq!(project(&d.services["app"], "default", &d).name, "app");
    let swarm = desired(&d, "shop");
    assert_eq!(swarm.services.keys().collect::<Vec<_>>(), ["shop_app"]);
    assert_eq!(swarm.declared.iter().collect::<Vec<_>>(), ["shop_app"]);
}

#[test]
fn ownership_labels_are_on_the_service_never_on_its_tasks() {
    let d = load(
        "apiVersion: moor/v1\nkind: Service\nmetadata: { name: app, labels: { team: a } }\nspec:\n  image: busybox:1\n",
    );
    let spec = project(&d.services["app"], "shop", &d);
    assert_eq!(spec.labels[labels::INSTANCE], "shop");
    assert_eq!(spec.labels[labels::SERVICE], "app");
    assert_eq!(spec.labels[labels::BACKEND], labels::BACKEND_SWARM);
    assert_eq!(spec.labels["team"], "a");
    // Trap T1: the task containers carry the user's labels and the spec's hash, never an
    // ownership label.
    assert_eq!(spec.container_labels.keys().collect::<Vec<_>>(), [labels::SPEC_HASH, "team"]);
    let mut unstamped = spec.clone();
    unstamped.container_labels.remove(labels::SPEC_HASH);
    assert_eq!(spec.container_labels[labels::SPEC_HASH], spec_hash(&unstamped));
}

#[test]
fn a_service_without_networks_joins_the_default_overlay_which_is_then_created() {
    let d = one("");
    let swarm = desired(&d, "shop");
    assert_eq!(
        swarm.services["shop_app"].networks,
        [SwarmNetwork { target: "shop_default".into(), aliases: vec!["app".into()] }]
    );
    let net = &swarm.networks["shop_default"];
    assert_eq!((net.driver.as_str(), net.attachable), ("overlay", true));

    // Only when some service uses it: a service on a Network manifest does not.
    let d = load(&format!(
        "apiVersion: moor/v1\nkind: Network\nmetadata: {{ name: front }}\n---\n{}",
        service_yaml("app", "  networks: [front]\n")
    ));
    let swarm = desired(&d, "shop");
    assert_eq!(swarm.networks.keys().collect::<Vec<_>>(), ["front"]);
    assert_eq!((swarm.networks["front"].driver.as_str(), swarm.networks["front"].attachable), ("overlay", true));
    assert_eq!(
        swarm.services["shop_app"].networks,
        [SwarmNetwork { target: "front".into(), aliases: vec!["app".into()] }]
    );

    // `default` beside another network is the instance's default network.
    let d = load(&format!(
        "apiVersion: moor/v1\nkind: Network\nmetadata: {{ name: front }}\n---\n{}",
        service_yaml("app", "  networks: [front, default]\n")
    ));
    let swarm = desired(&d, "shop");
    let targets: Vec<&str> = swarm.services["shop_app"].networks.iter().map(|n| n.target.as_str()).collect();
    assert_eq!(targets, ["front", "shop_default"]);
    assert!(swarm.networks.contains_key("shop_default"));
}

#[test]
fn network_mode_host_is_a_host_attachment_and_no_default_network() {
    let swarm = desired(&one("  networkMode: host\n"), "default");
    assert_eq!(swarm.services["app"].networks, [SwarmNetwork { target: "host".into(), aliases: vec![] }]);
    assert!(swarm.networks.is_empty());
}

#[test]
fn stopped_is_zero_replicas_and_absent_is_neither_created_nor_declared() {
    let d = load(&format!(
        "{}---\n{}",
        service_yaml("a", "  state: stopped\n  replicas: 3\n"),
        service_yaml("b", "  state: absent\n")
    ));
    let swarm = desired(&d, "default");
    assert_eq!(swarm.services["a"].mode, SwarmMode::Replicated { replicas: 0 });
    assert!(!swarm.services.contains_key("b"));
    assert_eq!(swarm.declared.iter().collect::<Vec<_>>(), ["a"]);
    assert!(swarm.may_prune);
}

#[test]
fn restart_policies_map_to_swarm_conditions_with_the_daemons_delay() {
    for (restart, condition, max) in [
        ("no", RestartCondition::None, 0),
        ("always", RestartCondition::Any, 0),
        ("unless-stopped", RestartCondition::Any, 0),
        ("on-failure", RestartCondition::OnFailure, 0),
        ("on-failure:4", RestartCondition::OnFailure, 4),
    ] {
        let d = one(&format!("  restart: {restart}\n"));
        let r = project(&d.services["app"], "default", &d).restart;
        assert_eq!((r.condition, r.max_attempts, r.delay_ms), (condition, max, 5_000), "{restart}");
    }
    // Not written: Swarm's own `any`, so that a task of a node that went down is replaced.
    let d = one("");
    assert_eq!(project(&d.services["app"], "default", &d).restart.condition, RestartCondition::Any);
}

#[test]
fn update_strategy_order_monitor_and_failure_action() {
    let d = one("  update: { strategy: start-first, healthTimeout: 7s, rollback: false }\n");
    let spec = project(&d.services["app"], "default", &d);
    assert_eq!(
        (spec.update.order, spec.update.monitor_ms, spec.update.failure_action),
        (UpdateOrder::StartFirst, 7_000, FailureAction::Pause)
    );
    assert_eq!(
        (spec.rollback.order, spec.rollback.monitor_ms, spec.rollback.failure_action),
        (UpdateOrder::StartFirst, 7_000, FailureAction::Pause)
    );
    let d = one("  update: { rollback: true }\n");
    let spec = project(&d.services["app"], "default", &d);
    assert_eq!(spec.update.failure_action, FailureAction::Rollback);
    assert_eq!(spec.rollback.failure_action, FailureAction::Pause);
    assert_eq!((spec.update.parallelism, spec.update.order), (1, UpdateOrder::StopFirst));
}

#[test]
fn defaults_are_written_as_the_daemon_fills_them() {
    let d = one("");
    let spec = project(&d.services["app"], "default", &d);
    assert_eq!(spec.stop_grace_ms, 10_000);
    assert_eq!(spec.mode, SwarmMode::Replicated { replicas: 1 });
    assert!(spec.ports.is_empty() && spec.constraints.is_empty() && spec.limits.is_empty());
}

#[test]
fn refused_and_unresolved_services_are_declared_and_prune_follows_the_load() {
    let mut d = load(&format!("{}---\n{}", service_yaml("a", ""), service_yaml("b", "")));
    assert!(desired(&d, "default").may_prune);
    d.unresolved.insert("c".into());
    let swarm = desired(&d, "shop");
    assert_eq!(swarm.declared.iter().collect::<Vec<_>>(), ["shop_a", "shop_b", "shop_c"]);
    // Declared, so never pruned; the others may be, as on the docker backend.
    assert!(swarm.may_prune);
    d.complete = false;
    d.unresolved.clear();
    assert!(!desired(&d, "shop").may_prune);
}

/// A service with one secret file and one config file, resolved as the resolver would: the
/// files' digests in the spec, their values beside it.
fn with_files(value: &[u8], key: &HostKey) -> Desired {
    let mut d = load(&format!(
        "apiVersion: moor/v1\nkind: Secret\nmetadata: {{ name: db }}\nspec: {{ file: ./db.sops.yaml }}\n---\n{}",
        service_yaml("app", "  secrets: [{ secret: db, key: password, target: /run/secrets/db_password, uid: 1000, mode: \"0440\" }]\n  configs: [{ file: ./app.conf, target: /etc/app.conf }]\n")
    ));
    let s = d.services.get_mut("app").unwrap();
    s.container.files = vec![
        FileMount {
            target: "/etc/app.conf".into(),
            kind: FileKind::Config,
            digest: content_digest(b"port=1"),
            uid: None,
            gid: None,
            mode: 0o444,
        },
        FileMount {
            target: "/run/secrets/db_password".into(),
            kind: FileKind::Secret,
            digest: key.seal(value),
            uid: Some(1000),
            gid: None,
            mode: 0o440,
        },
    ];
    s.values.files.insert("/etc/app.conf".into(), Sensitive::new(b"port=1".to_vec()));
    s.values.files.insert("/run/secrets/db_password".into(), Sensitive::new(value.to_vec()));
    s.values.resolved = true;
    d
}

#[test]
fn secrets_and_configs_are_named_by_moors_digest_never_a_plain_hash() {
    let key = HostKey::from_bytes([7; 32]);
    let value = b"s3cret-v1";
    let d = with_files(value, &key);
    let swarm = desired(&d, "shop");
    let sealed = key.seal(value);
    let secret_name = format!("shop_db-{}", &sealed["hmac-sha256:".len()..][..16]);
    let spec = &swarm.services["shop_app"];
    assert_eq!(spec.secrets.len(), 1);
    let s = &spec.secrets[0];
    assert_eq!(
        (s.target.as_str(), s.name.as_str(), s.uid.as_str(), s.gid.as_str(), s.mode),
        ("/run/secrets/db_password", secret_name.as_str(), "1000", "0", 0o440)
    );
    // A config has no manifest name: it is named after its target's file name.
    let config_name = format!("shop_app.conf-{}", &content_digest(b"port=1")["sha256:".len()..][..16]);
    assert_eq!(spec.configs[0].name, config_name);

    let data = &swarm.data[&secret_name];
    assert_eq!(data.kind, DataKind::Secret);
    assert_eq!(data.data.expose(), value);
    assert_eq!(data.labels[labels::DATA_NAME], "db");
    assert_eq!(data.labels[labels::DIGEST], sealed);
    assert_eq!(data.labels[labels::INSTANCE], "shop");
    assert_eq!(data.labels[labels::BACKEND], labels::BACKEND_SWARM);
    assert_eq!(swarm.data[&config_name].kind, DataKind::Config);

    // No plain hash of the value appears in any name or label.
    let plain = hex::encode(Sha256::digest(value));
    for (name, data) in &swarm.data {
        assert!(!plain.contains(&name[name.len() - 16..]), "{name}");
        assert!(data.labels.values().all(|v| !v.contains(&plain[..16])), "{:?}", data.labels);
    }
    // A new value is a new name: Swarm's secrets are immutable.
    let rotated = desired(&with_files(b"s3cret-v2", &key), "shop");
    assert_ne!(rotated.services["shop_app"].secrets[0].name, secret_name);
    // The Debug of the projection never shows the value.
    assert!(!format!("{swarm:?}").contains("s3cret"));
}

#[test]
fn data_names_keep_to_swarms_charset_and_length() {
    let digest = format!("hmac-sha256:{}", "ab".repeat(32));
    assert_eq!(data_name("default", "db", &digest), "db-abababababababab");
    let long = data_name(&"i".repeat(60), "db", &digest);
    assert_eq!(long.len(), 64);
    assert!(long.ends_with("-abababababababab"));
    let odd = data_name("default", "my file@v1", &digest);
    assert_eq!(odd, "my_file_v1-abababababababab");
    let dots = data_name("default", ".hidden..", &digest);
    assert_eq!(dots, "hidden-abababababababab");
    for name in [long, odd, dots] {
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)), "{name}");
        assert!(name.starts_with(|c: char| c.is_ascii_alphanumeric()), "{name}");
    }
}

#[test]
fn a_disabled_healthcheck_turns_off_the_images_own() {
    let d = one("  healthcheck: { disable: true }\n");
    let spec = project(&d.services["app"], "default", &d);
    assert_eq!(spec.healthcheck.map(|h| h.test), Some(vec!["NONE".to_string()]));
}

#[test]
fn ports_are_host_mode_unless_written_ingress_where_replicas_may_share_one() {
    use super::spec::{PublishMode, SwarmPort};
    let d = one(concat!(
        "  replicas: 3\n",
        "  update: { strategy: start-first }\n",
        "  ports:\n",
        "    - { container: 80, host: 8080, mode: ingress }\n",
        "    - { container: 81, mode: ingress }\n",
        "    - { container: 82 }\n",
    ));
    let spec = project(&d.services["app"], "default", &d);
    let port = |target, published, mode| SwarmPort { target, published, protocol: "tcp".into(), mode };
    assert_eq!(
        spec.ports,
        [
            port(80, Some(8080), PublishMode::Ingress),
            port(81, None, PublishMode::Ingress),
            // No host port: where Docker would pick one, Swarm's routing mesh picks one.
            port(82, None, PublishMode::Ingress)
        ],
    );
    // Start-first is fine with ingress ports: no task holds a host port.
    assert!(crate::swarm::validate::validate(&d, "default").is_empty());

    let d = one("  ports: [\"8080:80\"]\n");
    assert_eq!(project(&d.services["app"], "default", &d).ports, [port(80, Some(8080), PublishMode::Host)]);
    // Replicas cannot share a host-mode port on one node: the loader refuses it as before.
    let loaded = load_str(Path::new("/m/s.yaml"), &service_yaml("app", "  replicas: 2\n  ports: [\"8080:80\"]\n"));
    assert!(loaded.problems.iter().any(|p| p.field == "spec.replicas"), "{:?}", loaded.problems);
}

#[test]
fn a_tmpfs_keeps_its_size_and_mode() {
    use super::spec::{SwarmMountKind, SwarmTmpfs};
    let d = one("  tmpfs: [\"/run:size=1m,mode=1777\", \"/tmp\"]\n");
    let spec = project(&d.services["app"], "default", &d);
    let tmpfs: Vec<(&str, Option<SwarmTmpfs>)> =
        spec.mounts.iter().filter(|m| m.kind == SwarmMountKind::Tmpfs).map(|m| (m.target.as_str(), m.tmpfs)).collect();
    assert_eq!(tmpfs, [("/run", Some(SwarmTmpfs { size_bytes: Some(1 << 20), mode: Some(0o1777) })), ("/tmp", None)],);
    assert!(crate::swarm::validate::validate(&d, "default").is_empty());
}
