//! `moor export kubernetes` end to end: the binary on the examples of `manifests/` and on the
//! Secrets fixture, its exit codes and report, all or nothing, and every file it writes checked
//! against the Kubernetes schemas by PyPI's `kubernetes-validate` (which ships them: no cluster,
//! no network). Without it the test fails: `python3 -m pip install kubernetes-validate`.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use assert_cmd::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn export(source: &Path, out: &Path) -> std::process::Output {
    Command::cargo_bin("moor")
        .unwrap()
        .args(["export", "kubernetes"])
        .arg(out)
        .arg("--source")
        .arg(source)
        .output()
        .unwrap()
}

/// The files of `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    out.sort();
    out
}

/// Runs `python3 -m kubernetes_validate --strict` (else the `kubernetes-validate` command) on
/// `paths`: every object must match its schema, with no unknown field.
fn validate(paths: &[PathBuf]) {
    let attempts: [(&str, &[&str]); 2] =
        [("python3", &["-m", "kubernetes_validate", "--strict"]), ("kubernetes-validate", &["--strict"])];
    for (program, args) in attempts {
        let Ok(out) = Process::new(program).args(args).args(paths).output() else { continue };
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        // No module, or a pyenv shim of a version without the package.
        if text.contains("No module named") || text.contains("command not found") {
            continue;
        }
        assert!(out.status.success(), "the export does not validate against the Kubernetes schemas:\n{text}");
        assert!(!text.contains("ERROR"), "{text}");
        assert_eq!(text.matches(" passed for resource ").count(), paths.len(), "one pass per file:\n{text}");
        return;
    }
    panic!("kubernetes-validate is missing: python3 -m pip install kubernetes-validate");
}

#[test]
fn the_examples_export_to_valid_kubernetes_objects_and_report_what_is_lost() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("k8s");
    let run = export(&root().join("manifests"), &dir);
    let stderr = String::from_utf8_lossy(&run.stderr);
    // autoRemove, dependsOn, the host port and the network have no counterpart: exit 2.
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    for lost in [
        "not translated: Service/worker: spec.autoRemove",
        "not translated: Service/worker: spec.dependsOn",
        "not translated: Service/web: spec.ports",
        "not translated: Network/shop",
    ] {
        assert!(stderr.contains(lost), "{lost} not reported:\n{stderr}");
    }
    let written = files(&dir);
    let names: Vec<&str> = written.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect();
    assert_eq!(names, ["data-pvc.yaml", "web-deployment.yaml", "web-service.yaml", "worker-deployment.yaml"]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(stdout.lines().count(), 4, "one line per file written:\n{stdout}");
    validate(&written);

    // Again into the same folder: the same content is left alone, and it is still exit 2.
    assert_eq!(export(&root().join("manifests"), &dir).status.code(), Some(2));
}

#[test]
fn the_secrets_fixture_exports_references_that_validate_and_no_value() {
    let out = tempfile::tempdir().unwrap();
    let run = export(&root().join("tests/fixtures/secrets"), out.path());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "file owners are lost:\n{stderr}");
    assert!(
        stderr.contains(
            "note: Secret/db: a moor Secret: no value is exported; create it with kubectl create secret generic db"
        ),
        "{stderr}"
    );
    let written = files(out.path());
    let mut everything = format!("{stderr}{}", String::from_utf8_lossy(&run.stdout));
    for f in &written {
        everything.push_str(&std::fs::read_to_string(f).unwrap());
    }
    // The manifest's plain value of API_TOKEN (sealed by moor) is not in any output.
    assert!(!everything.contains("fixture-plain-token"), "{everything}");
    validate(&written);
}

#[test]
fn invalid_manifests_write_nothing_and_exit_1() {
    let src = tempfile::tempdir().unwrap();
    std::fs::write(
        src.path().join("bad.yaml"),
        "apiVersion: moor/v1\nkind: Service\nmetadata: { name: Bad_Name }\nspec: { image: busybox }\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("k8s");
    let run = export(src.path(), &dir);
    assert_eq!(run.status.code(), Some(1), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(String::from_utf8_lossy(&run.stderr).contains("bad.yaml:3"), "the problem is located");
    assert!(!dir.exists(), "nothing written");
}

#[test]
fn a_file_with_other_content_is_not_replaced_without_force() {
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("web-service.yaml"), "mine\n").unwrap();
    let run = export(&root().join("manifests"), out.path());
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(files(out.path()).len(), 1, "all or nothing");
    let forced = Command::cargo_bin("moor")
        .unwrap()
        .args(["export", "kubernetes", "--force", "--source"])
        .arg(root().join("manifests"))
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(forced.status.code(), Some(2));
    assert_ne!(std::fs::read_to_string(out.path().join("web-service.yaml")).unwrap(), "mine\n");
}

/// Most of what the translation maps (probes, security, DNS, host aliases, sysctls, placement,
/// mounts of every kind, a Job, a stopped service) in one folder: it must still validate.
const MANY: &str = r#"apiVersion: moor/v1
kind: Service
metadata: { name: many, labels: { team: a, note: "not a label value!" } }
spec:
  image: busybox
  user: "1000:1000"
  entrypoint: ["/bin/sh", "-c"]
  command: ["sleep 1000"]
  ports: ["8080", "90/udp"]
  expose: ["7070"]
  volumes: ["/srv/data:/data:ro,rslave", "cache:/cache", "/anon", { type: tmpfs, target: /run, size: 1Mi }]
  sysctls: { net.core.somaxconn: "1024" }
  privileged: true
  readOnly: true
  capAdd: [NET_ADMIN]
  capDrop: [MKNOD]
  pid: host
  hostname: many
  extraHosts: ["db:10.0.0.5"]
  dns: [1.1.1.1]
  dnsSearch: [example.com]
  dnsOpt: ["ndots:2"]
  groupAdd: ["100"]
  shmSize: 64Mi
  platform: linux/arm64
  restart: always
  resources: { memory: 1Gi, cpus: 1.5 }
  update: { strategy: start-first, healthTimeout: 90s }
  placement: { nodes: [a, b], nodeSelector: { zone: eu } }
  healthcheck: { test: ["CMD-SHELL", "exit 0"], interval: 5s, startPeriod: 12s }
  env: { PLAIN: "1", SMTP_PASSWORD: hunter2-d81c }
---
apiVersion: moor/v1
kind: Service
metadata: { name: migrate }
spec: { image: busybox, mode: job, command: ["true"] }
---
apiVersion: moor/v1
kind: Service
metadata: { name: idle }
spec: { image: busybox, state: stopped, replicas: 2, restart: unless-stopped, placement: { nodes: [a] } }
"#;

#[test]
fn every_translated_field_validates() {
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("many.yaml"), MANY).unwrap();
    let out = tempfile::tempdir().unwrap();
    let run = export(src.path(), out.path());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "the bind and the host ports are lost:\n{stderr}");
    let written = files(out.path());
    assert_eq!(written.len(), 5, "{written:?}");
    for f in &written {
        assert!(!std::fs::read_to_string(f).unwrap().contains("hunter2-d81c"), "a sealed value in {}", f.display());
    }
    validate(&written);
}
