//! Swarm validation: every refused field is a problem located at its own line, a service Swarm
//! can run has none, and the single-host examples are refused where Swarm differs.

use std::path::Path;

use super::validate::validate;
use crate::manifest::model::Strategy;
use crate::manifest::{load_str, Desired, Problem};

/// The manifests of `yaml`, which must load without a problem (also for `project_tests`).
pub(super) fn load(yaml: &str) -> Desired {
    let loaded = load_str(Path::new("/m/s.yaml"), yaml);
    assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
    loaded.desired
}

/// A Service `name` on busybox with `spec` lines (each indented by two spaces).
pub(super) fn service_yaml(name: &str, spec: &str) -> String {
    format!("apiVersion: moor/v1\nkind: Service\nmetadata: {{ name: {name} }}\nspec:\n  image: busybox:1\n{spec}")
}

/// `field` of each problem, in order.
fn fields(problems: &[Problem]) -> Vec<&str> {
    problems.iter().map(|p| p.field.as_str()).collect()
}

/// The 1-based line of the first line of `text` that starts with `prefix`.
fn line_of(text: &str, prefix: &str) -> usize {
    text.lines().position(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix:?} not in the text")) + 1
}

#[test]
fn a_service_swarm_can_run_has_no_problem() {
    let d = load(&format!(
        "apiVersion: moor/v1\nkind: Network\nmetadata: {{ name: front }}\n---\napiVersion: moor/v1\nkind: Volume\nmetadata: {{ name: data }}\nspec: {{ driver: local }}\n---\n{}",
        service_yaml(
            "web",
            "  ports: [\"8080:80\", \"9090\"]\n  volumes: [\"data:/srv\", \"/etc/ssl:/ssl:ro\"]\n  networks: [front]\n  restart: always\n  healthcheck: { test: [CMD, \"true\"], interval: 2s }\n  resources: { memory: 64Mi, cpus: 0.5 }\n  capAdd: [NET_ADMIN]\n  placement: { nodes: [n1], nodeSelector: { role: edge } }\n"
        )
    ));
    assert_eq!(validate(&d, "default"), []);
}

/// Each field Swarm cannot express, one a line: `(key as written, field path)`.
const REFUSED: &[(&str, &str)] = &[
    ("  autoRemove:", "spec.autoRemove"),
    ("  dependsOn:", "spec.dependsOn"),
    ("  containerName:", "spec.containerName"),
    ("  privileged:", "spec.privileged"),
    ("  devices:", "spec.devices"),
    ("  pid:", "spec.pid"),
    ("  ipc:", "spec.ipc"),
    ("  userns:", "spec.userns"),
    ("  cgroup:", "spec.cgroup"),
    ("  cgroupParent:", "spec.cgroupParent"),
    ("  cpuShares:", "spec.cpuShares"),
    ("  cpusetCpus:", "spec.cpusetCpus"),
    ("  cpusetMems:", "spec.cpusetMems"),
    ("  oomKillDisable:", "spec.oomKillDisable"),
    ("  oomScoreAdj:", "spec.oomScoreAdj"),
    ("  shmSize:", "spec.shmSize"),
    ("  domainname:", "spec.domainname"),
    ("  runtime:", "spec.runtime"),
    ("  volumesFrom:", "spec.volumesFrom"),
    ("  expose:", "spec.expose"),
    ("  securityOpt:", "spec.securityOpt"),
    ("  macAddress:", "spec.macAddress"),
    ("  gpus:", "spec.gpus"),
    ("  annotations:", "spec.annotations"),
    ("  cpuQuota:", "spec.cpuQuota"),
    ("  cpuPeriod:", "spec.cpuPeriod"),
    ("  cpuRtPeriod:", "spec.cpuRtPeriod"),
    ("  cpuRtRuntime:", "spec.cpuRtRuntime"),
    ("  memSwappiness:", "spec.memSwappiness"),
    ("  memswapLimit:", "spec.memswapLimit"),
    ("  blkioConfig:", "spec.blkioConfig"),
    ("  storageOpt:", "spec.storageOpt"),
    ("  deviceCgroupRules:", "spec.deviceCgroupRules"),
    ("  uts:", "spec.uts"),
    ("  networkMode:", "spec.networkMode"),
    ("  platform:", "spec.platform"),
    ("  ports:", "spec.ports[0]"),
    ("    DB_URL:", "spec.env.DB_URL"),
    ("    API_TOKEN:", "spec.env.API_TOKEN"),
    ("  placement:", "spec.placement.nodes"),
    ("  healthcheck:", "spec.healthcheck.startInterval"),
];

const REFUSED_SPEC: &str = "  autoRemove: true
  dependsOn: [db]
  containerName: the-app
  privileged: true
  devices: [\"/dev/null:/dev/null\"]
  pid: host
  ipc: host
  userns: host
  cgroup: host
  cgroupParent: moor.slice
  cpuShares: 512
  cpusetCpus: \"0\"
  cpusetMems: \"0\"
  oomKillDisable: true
  oomScoreAdj: 100
  shmSize: 64Mi
  runtime: runc
  volumesFrom: [db]
  expose: [80]
  securityOpt: [\"no-new-privileges:true\"]
  macAddress: \"02:42:ac:11:00:02\"
  gpus: all
  annotations: { a: b }
  cpuQuota: 50000
  cpuPeriod: 100000
  cpuRtPeriod: 1000000
  cpuRtRuntime: 950000
  memSwappiness: 10
  memswapLimit: 256Mi
  blkioConfig: { weight: 300 }
  storageOpt: { size: 1G }
  deviceCgroupRules: [\"c 1:3 mr\"]
  uts: host
  platform: linux/arm64/v8
  ports: [\"127.0.0.1:8080:80\"]
  resources: { memory: 128Mi }
  env:
    DB_URL: { secret: db, key: url }
    API_TOKEN: x
  placement: { nodes: [n1, n2] }
  healthcheck: { test: [CMD, \"true\"], startInterval: 1s }
";

#[test]
fn every_refused_field_is_located_at_its_own_line() {
    let text = format!(
        "apiVersion: moor/v1\nkind: Secret\nmetadata: {{ name: db }}\nspec: {{ file: ./db.sops.yaml }}\n---\n{}---\n{}",
        service_yaml("db", "  domainname: example.org\n  networkMode: none\n"),
        service_yaml("app", REFUSED_SPEC)
    );
    let loaded = load_str(Path::new("/m/s.yaml"), &text);
    assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
    let problems = validate(&loaded.desired, "default");
    let got: Vec<(usize, &str)> = problems.iter().map(|p| (p.line.unwrap_or(0), p.field.as_str())).collect();
    let mut want: Vec<(usize, &str)> = REFUSED.iter().map(|(key, field)| (line_of(&text, key), *field)).collect();
    want.sort();
    assert_eq!(got, want);
    for p in &problems {
        assert_eq!(p.file, Path::new("/m/s.yaml"));
        assert!(p.column.is_some(), "{p}");
        assert!(p.message.contains(':'), "a message says why and what instead: {p}");
    }
}

#[test]
fn the_single_host_examples_are_refused_where_swarm_differs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
    let dir_of = |file: &str| dir.join(file);
    let loaded = crate::manifest::load_paths(std::slice::from_ref(&dir));
    assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
    let problems = validate(&loaded.desired, "default");
    let shown: Vec<String> = problems
        .iter()
        .map(|p| {
            let file = p.file.file_name().unwrap_or_default().to_string_lossy();
            assert!(p.column.is_some(), "{p}");
            format!("{file}:{} {}", p.line.unwrap_or(0), p.field)
        })
        .collect();
    // The worker's `autoRemove` and `dependsOn`, and besides them what the examples ask of one
    // host: a bridge network and a port bound to 127.0.0.1 (the tmpfs's size is carried).
    let read = |file: &str| std::fs::read_to_string(dir_of(file)).unwrap();
    let at = |file: &str, prefix: &str| format!("{file}:{}", line_of(&read(file), prefix));
    let want = [
        (at("network.yaml", "  driver: bridge"), "spec.driver"),
        (at("web.yaml", "  ports:"), "spec.ports[0]"),
        (at("worker.yaml", "  autoRemove:"), "spec.autoRemove"),
        (at("worker.yaml", "    web: healthy"), "spec.dependsOn"),
    ];
    let want: Vec<String> = want.iter().map(|(at, field)| format!("{at} {field}")).collect();
    assert_eq!(shown, want);
    let worker: Vec<&str> =
        problems.iter().filter(|p| p.file.ends_with("worker.yaml")).map(|p| p.message.as_str()).collect();
    assert!(worker[0].starts_with("Swarm owns its tasks' lifecycle"), "{}", worker[0]);
    assert!(worker[1].starts_with("Swarm starts services in no order"), "{}", worker[1]);
}

#[test]
fn a_local_network_driver_is_refused_only_when_written() {
    let net = |spec: &str| load(&format!("apiVersion: moor/v1\nkind: Network\nmetadata: {{ name: front }}\n{spec}"));
    for driver in ["bridge", "macvlan", "ipvlan"] {
        let problems = validate(&net(&format!("spec:\n  driver: {driver}\n")), "default");
        assert_eq!(fields(&problems), ["spec.driver"], "{driver}");
        assert_eq!((problems[0].line, problems[0].column), (Some(5), Some(11)), "{driver}");
        assert!(problems[0].message.contains("cannot span"), "{}", problems[0].message);
    }
    // Unwritten: the Swarm backend makes an overlay.
    assert_eq!(validate(&net(""), "default"), []);
    assert_eq!(validate(&net("spec: { internal: true }\n"), "default"), []);
    assert_eq!(validate(&net("spec: { driver: overlay }\n"), "default"), []);
}

#[test]
fn volume_drivers_and_options_are_refused() {
    let d = load("apiVersion: moor/v1\nkind: Volume\nmetadata: { name: data }\nspec:\n  driver: nfs\n  options: { o: addr=1.2.3.4 }\n");
    let problems = validate(&d, "default");
    assert_eq!(fields(&problems), ["spec.driver", "spec.options"]);
    assert_eq!(problems.iter().map(|p| p.line).collect::<Vec<_>>(), [Some(5), Some(6)]);
}

#[test]
fn a_service_name_with_its_prefix_must_be_a_dns_label_of_63() {
    let name = "a".repeat(58);
    let d = load(&service_yaml(&name, ""));
    assert_eq!(validate(&d, "default"), []);
    // `shop_` makes 63: still fine; `shops_` makes 64.
    assert_eq!(validate(&d, "shop"), []);
    let problems = validate(&d, "shops");
    assert_eq!(fields(&problems), ["metadata.name"]);
    assert_eq!(problems[0].line, Some(3));
    assert!(problems[0].message.contains("at most 63"), "{}", problems[0].message);
    let problems = validate(&load(&service_yaml("web", "")), "Shop.x");
    assert_eq!(fields(&problems), ["metadata.name"]);
}

#[test]
fn start_first_with_a_host_port_is_refused() {
    // The loader refuses this pair already; a service built otherwise is refused here too.
    let mut d = load(&service_yaml("web", "  ports: [\"8080:80\"]\n  update: { healthTimeout: 5s }\n"));
    d.services.get_mut("web").unwrap().update.strategy = Strategy::StartFirst;
    let problems = validate(&d, "default");
    assert_eq!(fields(&problems), ["spec.update.strategy"]);
    assert!(problems[0].message.contains("stop-first"), "{}", problems[0].message);
    // Without a host port start-first is fine.
    let d = load(&service_yaml("web", "  ports: [\"80\"]\n  update: { strategy: start-first }\n"));
    assert_eq!(validate(&d, "default"), []);
}

#[test]
fn jobs_env_files_and_mount_options_are_refused_at_their_field() {
    let d = load(&service_yaml(
        "app",
        "  mode: job\n  envFrom: [{ file: ./app.env }]\n  volumes:\n    - data:/data:nocopy\n    - /srv:/srv:z\n  tmpfs: [\"/run:size=1m\"]\n",
    ));
    let problems = validate(&d, "default");
    let got: Vec<(Option<usize>, &str)> = problems.iter().map(|p| (p.line, p.field.as_str())).collect();
    assert_eq!(
        got,
        [
            (Some(6), "spec.mode"),
            (Some(7), "spec.envFrom[0].file"),
            (Some(9), "spec.volumes[0]"),
            (Some(10), "spec.volumes[1]"),
        ]
    );
}

#[test]
fn a_static_address_on_a_network_is_refused() {
    let d = load(&format!(
        "apiVersion: moor/v1\nkind: Network\nmetadata: {{ name: shop }}\nspec: {{ ipam: {{ config: [{{ subnet: 10.5.0.0/24 }}] }} }}\n---\n{}",
        service_yaml("web", "  networks:\n    shop: { aliases: [www], ipv4Address: 10.5.0.5 }\n")
    ));
    let problems = validate(&d, "default");
    assert_eq!(fields(&problems), ["spec.networks.shop.ipv4Address"]);
    assert_eq!(problems[0].line, Some(12));
}
