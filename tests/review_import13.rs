//! Adversarial review of issue 13's `moor import`: failing regression tests (no daemon needed).

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

mod common;

fn import(dir: &Path, compose: &str, env_file: Option<&str>) -> Output {
    fs::write(dir.join("compose.yaml"), compose).unwrap();
    if let Some(text) = env_file {
        fs::write(dir.join(".env"), text).unwrap();
    }
    Command::new(common::moor_bin())
        .current_dir(dir)
        .args(["import", "compose.yaml", "-d", "out"])
        .env_remove("COMPOSE_PROFILES")
        .env_remove("COMPOSE_PROJECT_NAME")
        .output()
        .unwrap()
}

fn written(dir: &Path) -> String {
    let mut all = String::new();
    for e in fs::read_dir(dir.join("out")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            all.push_str(&fs::read_to_string(p).unwrap());
        }
    }
    all
}

/// paperless-ngx's `PAPERLESS_DBPASS`, `SMTP_PASS`, `MYSQL_PWD`: secret-looking names that
/// `looks_secret` misses, so their values from `.env` are written inline, with exit 0 and no note.
#[test]
fn a_password_from_env_named_pass_or_pwd_is_not_written_inline() {
    let tmp = tempfile::tempdir().unwrap();
    let out = import(
        tmp.path(),
        "services:\n  web:\n    image: nginx\n    environment:\n      PAPERLESS_DBPASS: ${PAPERLESS_DBPASS}\n      SMTP_PASS: ${SMTP_PASS}\n      MYSQL_PWD: ${MYSQL_PWD}\n",
        Some("PAPERLESS_DBPASS=pl-secret-1\nSMTP_PASS=smtp-secret-2\nMYSQL_PWD=pwd-secret-3\n"),
    );
    assert!(out.status.code().is_some_and(|c| c == 0 || c == 2), "{out:?}");
    let text = written(tmp.path());
    for secret in ["pl-secret-1", "smtp-secret-2", "pwd-secret-3"] {
        assert!(!text.contains(secret), "{secret} written into a manifest:\n{text}");
    }
}

/// A compose service renamed to DNS-1123 (`my_db` -> `my-db`) is renamed in `network_mode` and
/// `depends_on`, but not in `volumes_from` and `ipc`: the import fails (exit 1) on a valid file.
#[test]
fn a_renamed_service_is_renamed_in_volumes_from_and_ipc_joins() {
    let tmp = tempfile::tempdir().unwrap();
    let out = import(
        tmp.path(),
        "services:\n  my_db:\n    image: postgres\n    ipc: shareable\n  app:\n    image: nginx\n    volumes_from: [my_db]\n    ipc: \"service:my_db\"\n",
        None,
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
}

/// Compose's `default` network is the project's default network. Written as `networks: [default]`
/// it reaches Docker as its `default` network mode, the `bridge` (no DNS, and aliases refused at
/// create), so the service is cut off from the services that list no network.
#[test]
fn compose_default_network_is_not_written_as_a_network_named_default() {
    let tmp = tempfile::tempdir().unwrap();
    import(
        tmp.path(),
        "services:\n  db:\n    image: postgres\n  app:\n    image: nginx\n    networks: [default, front]\nnetworks:\n  front: {}\n",
        None,
    );
    // `default` in a manifest's networks is the instance's default network (where db is), not
    // Docker's `default` network mode (the bridge).
    let loaded = moor::manifest::load::load_paths(&[tmp.path().join("out")]);
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let app = &loaded.desired.services["app"];
    let placed = moor::names::placed_spec("shop", &loaded.desired, &app.container);
    assert!(placed.networks.contains(&"shop_default".to_string()), "{:?}", placed.networks);
    assert!(!placed.networks.contains(&"default".to_string()), "{:?}", placed.networks);
}
