//! The translation, snapshot-tested on the examples of `manifests/`, a service using every lossy
//! field, and the Secrets fixture; and the proof that no secret value reaches an output.

use std::path::{Path, PathBuf};

use insta::assert_snapshot;

use super::{to_kubernetes, Exported};
use crate::manifest::{load_paths, load_str, Loaded};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn loaded_ok(loaded: Loaded) -> Loaded {
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    loaded
}

/// Every file and the report, as one text.
fn render(e: &Exported) -> String {
    let mut out = String::new();
    for f in &e.files {
        out.push_str(&format!("=== {}\n{}", f.name, f.content));
    }
    for n in &e.report.advice {
        out.push_str(&format!("note: {n}\n"));
    }
    for n in &e.report.left_out {
        out.push_str(&format!("not translated: {n}\n"));
    }
    out
}

#[test]
fn the_examples_export_to_deployments_services_and_claims() {
    let loaded = loaded_ok(load_paths(&[root().join("manifests")]));
    let e = to_kubernetes(&loaded.desired).unwrap();
    let names: Vec<&str> = e.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["data-pvc.yaml", "web-deployment.yaml", "web-service.yaml", "worker-deployment.yaml"]);
    // The worker's autoRemove and dependsOn, the web's host port and the network are lost.
    let lost: Vec<String> = e.report.left_out.iter().map(|n| n.path.clone()).collect();
    for path in
        ["Service/worker: spec.autoRemove", "Service/worker: spec.dependsOn", "Service/web: spec.ports", "Network/shop"]
    {
        assert!(lost.iter().any(|p| p == path), "{path} not reported: {lost:?}");
    }
    assert_snapshot!("examples", render(&e));
}

const LOSSY: &str = r#"
apiVersion: moor/v1
kind: Service
metadata: { name: lossy, labels: { team: a, "note": "not a label value!", "bad key!": x } }
spec:
  image: busybox
  containerName: the-lossy-one
  autoRemove: true
  user: nobody
  entrypoint: ["/bin/sh", "-c"]
  command: ["sleep 1000"]
  stopSignal: SIGINT
  ports: ["8080", "127.0.0.1:9090:90/udp"]
  expose: ["7070"]
  volumes:
    - /srv/data:/data:ro,rslave
    - { type: tmpfs, target: /run, size: 1Mi }
    - /anon
  devices: ["/dev/fuse:/dev/fuse"]
  ulimits: { nofile: 1024 }
  sysctls: { net.core.somaxconn: "1024" }
  privileged: true
  capAdd: [NET_ADMIN]
  ipc: shareable
  pid: host
  init: true
  hostname: lossy
  extraHosts: ["db:10.0.0.5", "cache:10.0.0.5"]
  dns: [1.1.1.1]
  dnsSearch: [example.com]
  groupAdd: ["100", "wheel"]
  shmSize: 64Mi
  platform: linux/arm64/v8
  resources: { memory: 1Gi, cpus: 1.5, pids: 10 }
  update: { watch: digest }
  placement: { nodes: [a, b], nodeSelector: { zone: eu } }
  dependsOn: { db: healthy }
  networks: [outside]
  healthcheck: { test: "exit 0", interval: 5s, startPeriod: 12s }
---
apiVersion: moor/v1
kind: Service
metadata: { name: db }
spec: { image: busybox, restart: always }
"#;

#[test]
fn every_lossy_field_is_reported_and_the_rest_translated() {
    let loaded = loaded_ok(load_str(Path::new("/m/lossy.yaml"), LOSSY));
    let e = to_kubernetes(&loaded.desired).unwrap();
    let lost: Vec<String> = e.report.left_out.iter().map(|n| n.path.clone()).collect();
    for field in [
        "containerName",
        "autoRemove",
        "user",
        "stopSignal",
        "ports",
        "volumes",
        "devices",
        "ulimits",
        "ipc",
        "init",
        "groupAdd",
        "platform",
        "resources.pids",
        "update.watch",
        "dependsOn",
        "networks",
    ] {
        let path = format!("Service/lossy: spec.{field}");
        assert!(lost.contains(&path), "{path} not reported: {lost:?}");
    }
    assert!(lost.iter().any(|p| p == "Service/lossy: metadata.labels.bad key!"), "{lost:?}");
    // Translated: never reported as lost.
    for field in ["privileged", "capAdd", "sysctls", "pid", "hostname", "extraHosts", "dns", "shmSize", "expose"] {
        let path = format!("Service/lossy: spec.{field}");
        assert!(!lost.contains(&path), "{path} reported, but it is translated");
    }
    assert_snapshot!("lossy", render(&e));
}

#[test]
fn a_job_becomes_a_job_and_an_absent_service_nothing() {
    let text = "apiVersion: moor/v1\nkind: Service\nmetadata: { name: migrate }\nspec: { image: busybox, mode: job, command: [\"true\"] }\n---\napiVersion: moor/v1\nkind: Service\nmetadata: { name: gone }\nspec: { image: busybox, state: absent }\n---\napiVersion: moor/v1\nkind: Service\nmetadata: { name: idle }\nspec: { image: busybox, state: stopped, replicas: 2, restart: always }\n";
    let loaded = loaded_ok(load_str(Path::new("/m/job.yaml"), text));
    let e = to_kubernetes(&loaded.desired).unwrap();
    let names: Vec<&str> = e.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["idle-deployment.yaml", "migrate-job.yaml"]);
    assert!(e.files[0].content.contains("replicas: 0"), "stopped is no pod: {}", e.files[0].content);
    assert!(e.files[1].content.contains("kind: Job") && e.files[1].content.contains("restartPolicy: Never"));
    assert!(e.report.complete(), "{:?}", e.report.left_out);
}

#[test]
fn the_secrets_fixture_exports_references_only() {
    let loaded = loaded_ok(load_paths(&[root().join("tests/fixtures/secrets")]));
    let e = to_kubernetes(&loaded.desired).unwrap();
    let text = render(&e);
    // A plain value moor seals (its name looks secret) is a reference, never the value.
    assert!(!text.contains("fixture-plain-token"), "{text}");
    assert!(text.contains("secretKeyRef"), "{text}");
    assert_snapshot!("secrets_fixture", text);
}

#[test]
fn no_secret_value_reaches_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let values = ["pw-7d1f2c", "tok-93ab11", "env-55e0c4", "cert-a8f310", "conf-0b77de", "plain-c41d9e"];
    let [password, token, from_env, cert, conf, plain] = values;
    let files = [
        ("db.sops.yaml", format!("password: {password}\ntoken: {token}\n")),
        ("app.env", format!("SMTP_PASS={from_env}\n")),
        ("tls.pem", cert.to_string()),
        ("app.conf", conf.to_string()),
        (
            "m.yaml",
            format!(
                "apiVersion: moor/v1\nkind: Secret\nmetadata: {{ name: db }}\nspec: {{ file: ./db.sops.yaml }}\n---\napiVersion: moor/v1\nkind: Secret\nmetadata: {{ name: tls }}\nspec: {{ file: ./tls.pem }}\n---\napiVersion: moor/v1\nkind: Service\nmetadata: {{ name: app }}\nspec:\n  image: busybox\n  envFrom: [{{ file: ./app.env }}, {{ secret: db }}]\n  env:\n    DB_PASSWORD: {{ secret: db, key: password }}\n    SERVICE_TOKEN: {plain}\n  secrets: [tls, {{ secret: db, key: token, target: /run/t }}]\n  configs: [{{ file: ./app.conf, target: /etc/app.conf }}]\n"
            ),
        ),
    ];
    for (name, content) in &files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    let loaded = loaded_ok(load_paths(&[dir.path().to_path_buf()]));
    let e = to_kubernetes(&loaded.desired).unwrap();
    let text = render(&e);
    for v in values {
        assert!(!text.contains(v), "{v} in the output:\n{text}");
    }
    // Each is referenced instead.
    for reference in
        ["name: app-env-secrets", "key: SERVICE_TOKEN", "secretName: tls", "key: password", "name: app-conf"]
    {
        assert!(text.contains(reference), "{reference} missing:\n{text}");
    }
}
