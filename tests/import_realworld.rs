//! `moor import` on compose files written after real projects (paperless-ngx, immich, nextcloud,
//! mastodon, awesome-compose, a home server, a migration job): each imports, says exactly what it
//! left out, and the folder it writes passes `moor validate` (under a host policy that allows
//! what those files ask of the host) and plans against the daemon.

use std::fs;
use std::path::{Path, PathBuf};

mod common;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compose/realworld").join(name)
}

/// What these files ask of the host, allowed.
const POLICY: &str = "  gpus: true\n  privileged: true\n  capabilities: [NET_ADMIN, SYS_TIME, SYS_NICE]\n  devices: [/dev]\n  hostNamespaces: { network: true }\n  bindMounts: { allow: [/] }\n";

/// Imports fixture `name` into `<copy>/out`; returns its exit code, the `not translated` lines
/// (without their reasons) and the output folder.
fn import(name: &str, tmp: &Path) -> (i32, Vec<String>, PathBuf) {
    let dir = tmp.join(name);
    common::copy_dir(&fixture(name), &dir);
    let out = assert_cmd::Command::cargo_bin("moor")
        .unwrap()
        .current_dir(&dir)
        .env_remove("COMPOSE_PROJECT_NAME")
        .args(["import", "compose.yaml", "-d", "out"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let left = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("not translated: "))
        .map(|l| l.split(": ").next().unwrap().to_string())
        .collect();
    assert!(dir.join("out").is_dir(), "{name}: nothing written:\n{stderr}");
    (out.status.code().unwrap(), left, dir.join("out"))
}

fn validate(name: &str, out: &Path, policy: &str) {
    let r = assert_cmd::Command::cargo_bin("moor")
        .unwrap()
        .args(["validate", "--policy", policy])
        .arg(out)
        .output()
        .unwrap();
    assert_eq!(
        r.status.code(),
        Some(0),
        "{name}:\n{}{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    );
}

#[test]
fn real_world_compose_files_import_into_manifests_that_validate() {
    let tmp = tempfile::tempdir().unwrap();
    let (_policy_dir, policy) = common::policy_file(POLICY);
    // Each file, with what compose has that moor does not (`build:`, which moor leaves to the
    // user's build step by design) and what the default host policy refuses.
    let cases: &[(&str, &[&str])] = &[
        ("paperless", &[]),
        // What the default host policy refuses is reported too (a GPU here), so exit 0 means
        // `moor validate` passes as it is.
        ("immich", &["services.immich-machine-learning"]),
        ("nextcloud", &["services.web.build"]),
        ("mastodon", &["services.web.build", "services.streaming.build", "services.sidekiq.build"]),
        ("nginx-golang-mysql", &["services.backend.build"]),
        (
            "homelab",
            &[
                "services.homeassistant",
                "services.homeassistant",
                "services.jellyfin",
                "services.jellyfin",
                "services.pihole",
                "services.pihole",
                "services.pihole",
            ],
        ),
        ("migrate", &[]),
    ];
    let mut failures = Vec::new();
    for (name, want) in cases {
        let (code, left, out) = import(name, tmp.path());
        let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        if left != want || code != if want.is_empty() { 0 } else { 2 } {
            failures.push(format!("{name}: exit {code}, left out {left:?}, wanted {want:?}"));
            continue;
        }
        validate(name, &out, &policy);
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn files_outside_the_output_folder_are_copied_into_it_privately() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, _, out) = import("paperless", tmp.path());
    let copied = out.join("files/docker-compose.env");
    let text = fs::read_to_string(&copied).unwrap();
    assert!(text.contains("PAPERLESS_SECRET_KEY="), "{text}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(fs::metadata(&copied).unwrap().permissions().mode() & 0o777, 0o600);
    let web = fs::read_to_string(out.join("webserver.yaml")).unwrap();
    assert!(web.contains("file: ./files/docker-compose.env"), "{web}");
    // The database password came from .env: it is in an env file, not in the manifest.
    let db = fs::read_to_string(out.join("db.yaml")).unwrap();
    assert!(!db.contains("paperless-db-pw"), "{db}");
}

#[test]
fn imported_real_world_stacks_plan_against_the_daemon() {
    let tmp = tempfile::tempdir().unwrap();
    let (_policy_dir, policy) = common::policy_file(POLICY);
    for name in ["paperless", "mastodon"] {
        let (_, _, out) = import(name, tmp.path());
        let env = common::TestEnv::new(&format!("import-rw-{name}"));
        let plan = common::expect_code(env.moor(&["plan", "--policy", &policy, out.to_str().unwrap()]), 2);
        let db = format!("+ create {}", env.container("db"));
        assert!(plan.contains(&db), "{name}:\n{plan}");
    }
}
