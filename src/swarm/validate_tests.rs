//! Swarm validation: every refused field is a problem located at its own line, a service Swarm
//! can run has none, and the single-host examples are refused where Swarm differs.

use std::path::Path;

use super::validate::validate;
use crate::manifest::model::Strategy;
use crate::manifest::{load_str, Desired, Problem};

fn load(yaml: &str) -> Desired {
    let loaded = load_str(Path::new("/m/s.yaml"), yaml);
    assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
    loaded.desired
}

fn service_yaml(name: &str, spec: &str) -> String {
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
