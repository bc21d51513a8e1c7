//! Upgrading from the release before secrets and the slim label (985dc89) replaces nothing.
//!
//! `tests/fixtures/upgrade/CASE.yaml` are representative manifests; `CASE.labels.json` the labels
//! that release's binary wrote on their containers, recorded once with
//! `scripts/upgrade-fixture.py` (see its header). Each test creates containers carrying exactly
//! those labels, with the test's own service name and instance and `moor.spec-hash` recomputed
//! with the old formula for this machine's test image (sha256 of the old canonical text, "\n",
//! the image ID, computed here and not with moor's function), then asserts that `moor apply`
//! recreates nothing (the same container IDs).
//!
//! The tests run in an instance of their own, not the default one: there a container of the
//! previous release has a bare name, which this release renames to `<instance>_<name>` (Docker's
//! rename, no recreate), and it listed no network, so it is connected to the instance's default
//! network. In the default instance names stay bare and only the connect happens (see the plan's
//! and the fake engine's tests: `plan::tests`, `apply::tests`).

mod common;

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use common::{docker, docker_cli, expect_code, image, owned, TestEnv, IMAGE, SLEEPER};

/// What the old binary wrote for one case.
struct Recorded {
    /// The name `__NAME__` stood for when the old binary hashed the labels.
    service: String,
    image_id: String,
    /// Container name (with `__NAME__`) and its labels.
    containers: Vec<(String, BTreeMap<String, String>)>,
}

fn recorded(case: &str) -> Recorded {
    let path = format!("{}/tests/fixtures/upgrade/{case}.labels.json", env!("CARGO_MANIFEST_DIR"));
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(json["release"], "moor 0.1.0 (commit 985dc89)", "{path}: recorded with another release");
    assert_eq!(json["image"], IMAGE);
    let containers = json["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), serde_json::from_value(c["labels"].clone()).unwrap()))
        .collect();
    Recorded {
        service: json["service"].as_str().unwrap().to_string(),
        image_id: json["imageId"].as_str().unwrap().to_string(),
        containers,
    }
}

/// The previous release's `moor.spec-hash`: `sha256:` and the hex of sha256(canonical, "\n",
/// image ID). Written out here so that a change to moor's own function cannot hide a
/// difference.
fn old_hash(canonical: &str, image_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(canonical.as_bytes());
    hasher.update(b"\n");
    hasher.update(image_id.as_bytes());
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// Writes `case`'s manifest for the service `name` and creates its containers as the previous
/// release left them (running; `--rm` when the spec says `autoRemove`). Returns their IDs by name.
async fn as_the_previous_release_left_it(env: &TestEnv, case: &str, name: &str) -> BTreeMap<String, String> {
    let image_id = image().await;
    let dir = format!("{}/tests/fixtures/upgrade", env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(format!("{dir}/{case}.yaml")).unwrap();
    env.write(&format!("{case}.yaml"), &manifest.replace("__NAME__", name));
    let rec = recorded(case);
    assert!(!rec.containers.is_empty(), "{case}: nothing recorded");
    for (container, labels) in &rec.containers {
        let old_text = &labels["moor.last-applied"];
        // The recording is the old formula's: its hash is the text's over the recorded image.
        let as_recorded = old_text.replace("__NAME__", &rec.service);
        assert_eq!(labels["moor.spec-hash"], old_hash(&as_recorded, &rec.image_id), "{case}: the old formula");
        let mut labels = labels.clone();
        let last_applied = old_text.replace("__NAME__", name);
        labels.insert("moor.spec-hash".into(), old_hash(&last_applied, image_id));
        labels.insert("moor.last-applied".into(), last_applied.clone());
        labels.insert("moor.instance".into(), env.instance.clone());
        labels.insert("moor.service".into(), name.to_string());
        let container = container.replace("__NAME__", name);
        let mut args = vec!["run".to_string(), "-d".into(), "--name".into(), container.clone()];
        let spec: Value = serde_json::from_str(&last_applied).unwrap();
        if spec["autoRemove"] == true {
            args.push("--rm".into());
        }
        for (k, v) in &labels {
            args.extend(["--label".into(), format!("{k}={v}")]);
        }
        args.extend([IMAGE.into(), "sh".into(), "-c".into(), SLEEPER.into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert!(!docker_cli(&args).trim().is_empty(), "docker run {container}");
    }
    let ids = owned(&docker().await, &env.instance).await;
    assert_eq!(ids.len(), rec.containers.len(), "{ids:?}");
    ids
}

/// `moor plan` renames and connects, and creates or replaces no container; `moor apply` keeps
/// the same containers, now under this instance's names and on its default network (with the
/// service name as alias); the next plan is in sync.
async fn upgrade_replaces_nothing(case: &str) {
    let env = TestEnv::new(&format!("upgrade-{case}"));
    let name = env.name(case);
    let before = as_the_previous_release_left_it(&env, case, &name).await;
    let dir = env.manifests().to_str().unwrap().to_string();
    // The state dir holds the key that seals secret-looking values: the test's own.
    let state = tempfile::tempdir().unwrap();
    let state = state.path().to_str().unwrap();
    let network = format!("{}_default", env.instance);
    let plan = expect_code(env.moor(&["plan", &dir, "--state-dir", state]), 2);
    let mut expected = format!("+ network {network}\n");
    for old in before.keys() {
        expected += &format!("~ rename {old} → {}\n~ connect {old} to network {network}\n", env.container(old));
    }
    let changes = 2 * before.len();
    expected += &format!("1 to create, 0 to replace, {changes} to change, 0 to remove\n");
    assert_eq!(plan, expected);
    expect_code(env.moor(&["apply", &dir, "--state-dir", state]), 0);
    let after = owned(&docker().await, &env.instance).await;
    let renamed: BTreeMap<String, String> = before.iter().map(|(n, id)| (env.container(n), id.clone())).collect();
    assert_eq!(after, renamed, "apply replaced a container");
    for container in after.keys() {
        let aliases = docker_cli(&[
            "inspect",
            "-f",
            &format!("{{{{json (index .NetworkSettings.Networks \"{network}\").Aliases}}}}"),
            container,
        ]);
        assert!(aliases.contains(&format!("\"{name}\"")), "{container} on {network}: {aliases}");
    }
    assert_eq!(expect_code(env.moor(&["plan", &dir, "--state-dir", state]), 0), "in sync: nothing to do\n");
}

#[tokio::test]
async fn ports_healthcheck_labels_and_restart_replace_nothing() {
    upgrade_replaces_nothing("web").await;
}

#[tokio::test]
async fn mounts_resources_and_stop_settings_replace_nothing() {
    upgrade_replaces_nothing("store").await;
}

#[tokio::test]
async fn two_replicas_replace_nothing() {
    upgrade_replaces_nothing("pool").await;
}

#[tokio::test]
async fn auto_remove_replaces_nothing() {
    upgrade_replaces_nothing("job").await;
}

/// `DB_PASSWORD` in plain `env`: the previous release hashed its value. The resolver now seals
/// the key (a digest in the spec, so a new spec hash) and keeps the old canonical JSON as
/// `Service::legacy_canonical`, whose hash `plan::is_current` accepts: the container the previous
/// release made is still current.
#[tokio::test]
async fn a_secret_looking_plain_key_replaces_nothing() {
    upgrade_replaces_nothing("db").await;
}

/// A real change on a container of the previous release: the diff reads its full label (one
/// changed field, no default read as a change), and the new container carries the slim label.
#[tokio::test]
async fn a_change_reads_the_old_label_and_writes_the_slim_one() {
    let env = TestEnv::new("upgrade-change");
    let name = env.name("web");
    as_the_previous_release_left_it(&env, "web", &name).await;
    let file = env.manifests().join("web.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("LOG_LEVEL: info", "LOG_LEVEL: debug")).unwrap();
    let dir = env.manifests().to_str().unwrap().to_string();
    let plan = expect_code(env.moor(&["plan", &dir]), 2);
    let container = env.container(&name);
    assert_eq!(
        plan,
        format!(
            "+ network {}_default\n~ replace {container}\n    ~ env.LOG_LEVEL: \"info\" → \"debug\"\n1 to create, 1 to replace, 0 to change, 0 to remove\n",
            env.instance
        )
    );
    expect_code(env.moor(&["apply", &dir]), 0);
    let old = &recorded("web").containers[0].1["moor.last-applied"];
    let info = docker().await.inspect_container(&container, None).await.unwrap();
    let labels = info.config.unwrap().labels.unwrap();
    let slim = &labels["moor.last-applied"];
    let full: Value = serde_json::from_str(old).unwrap();
    let mut expected = full.as_object().unwrap().clone();
    // The defaults are left out; the rest is the old label with the new value.
    for key in ["autoRemove", "mounts", "networks", "resources", "stopTimeout"] {
        expected.remove(key);
    }
    expected["env"]["LOG_LEVEL"] = "debug".into();
    assert_eq!(serde_json::from_str::<Value>(slim).unwrap(), Value::Object(expected), "{slim}");
    assert!(slim.len() < old.len(), "{slim}");
    assert_eq!(expect_code(env.moor(&["plan", &dir]), 0), "in sync: nothing to do\n");
}
