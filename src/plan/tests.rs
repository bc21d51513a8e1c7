//! Snapshot tests of the convergence rules. Each builds a desired set from YAML and an observed
//! snapshot by hand, and records the plan.

use insta::assert_yaml_snapshot;

use super::fixtures::{built_from, desired, observed, resource, FRONT_AND_DATA, IMAGE_ID};
use super::*;
use crate::labels;
use crate::manifest::model::{FileKind, FileMount};
use crate::manifest::Desired;
use crate::observe::{ObservedContainer, RunState};

fn service(name: &str, extra: &str) -> String {
    format!("---\napiVersion: moor/v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  image: app:1\n  env: {{LOG_LEVEL: info}}\n{extra}\n")
}

/// A container of `svc`'s replica, built from `svc`'s spec when `current`, else from an older spec
/// (`LOG_LEVEL: debug`, image `app:0`).
fn container(d: &Desired, svc: &str, name: &str, replica: u32, state: RunState, current: bool) -> ObservedContainer {
    let mut spec = d.services[svc].container.clone();
    if !current {
        spec.env.insert("LOG_LEVEL".into(), "debug".into());
        spec.image = "app:0".into();
    }
    built_from(&spec, svc, name, replica, state)
}

#[test]
fn nothing_observed_creates_every_service_in_its_state() {
    let d = desired(
        &[service("web", ""), service("idle", "  state: stopped"), service("gone", "  state: absent")].concat(),
    );
    assert_yaml_snapshot!(plan(&d, &observed(vec![])));
}

#[test]
fn in_sync_is_an_empty_plan() {
    let d = desired(&[service("web", ""), service("idle", "  state: stopped")].concat());
    let o = observed(vec![
        container(&d, "web", "web", 1, RunState::Running, true),
        container(&d, "idle", "idle", 1, RunState::Exited, true),
    ]);
    let p = plan(&d, &o);
    assert!(p.is_empty(), "{p:#?}");
    assert_eq!(p.action_count(), 0);
}

#[test]
fn reformatting_a_manifest_keeps_it_in_sync() {
    let d = desired(&service("web", "  ports: [\"8080:80\", \"9090:90\"]\n  networks: [b, a]"));
    let o = observed(vec![container(&d, "web", "web", 1, RunState::Running, true)]);
    // The same service, written differently: other key order, flow style, lists reordered.
    let again = desired(
        "apiVersion: moor/v1\nkind: Service\nspec:\n  networks: [a, b]\n  ports:\n    - {container: 90, host: 9090}\n    - \"8080:80\"\n  env:\n    LOG_LEVEL: \"info\"\n  image: app:1\nmetadata:\n  name: web\n",
    );
    assert!(plan(&again, &o).is_empty(), "{:#?}", plan(&again, &o));
}

#[test]
fn exited_is_started_and_running_is_stopped() {
    let d = desired(&[service("web", ""), service("idle", "  state: stopped")].concat());
    let o = observed(vec![
        container(&d, "web", "web", 1, RunState::Exited, true),
        container(&d, "idle", "idle", 1, RunState::Running, true),
    ]);
    assert_yaml_snapshot!(plan(&d, &o));
}

#[test]
fn a_changed_spec_is_replaced_and_the_fields_are_named() {
    let d = desired(&service("web", ""));
    let o = observed(vec![container(&d, "web", "web", 1, RunState::Running, false)]);
    assert_yaml_snapshot!(plan(&d, &o));
}

#[test]
fn an_auto_removed_container_is_created_again() {
    // Docker deleted the `--rm` container when it stopped: it is simply absent.
    let d = desired(&service("job", "  autoRemove: true"));
    assert_yaml_snapshot!(plan(&d, &observed(vec![])));
}

#[test]
fn a_container_being_removed_is_waited_for_then_created() {
    let d = desired(&service("job", "  autoRemove: true"));
    let o = observed(vec![container(&d, "job", "job", 1, RunState::Removing, true)]);
    assert_yaml_snapshot!(plan(&d, &o));
}

#[test]
fn absent_removes_every_owned_container_of_the_service() {
    let d = desired(&service("web", "  state: absent"));
    let o = observed(vec![
        container(&d, "web", "web", 1, RunState::Running, true),
        container(&d, "web", "web-moor-next", 1, RunState::Created, false),
    ]);
    assert_yaml_snapshot!(plan(&d, &o));
}

#[test]
fn orphans_are_pruned_when_loading_was_complete() {
    let d = desired(&service("web", ""));
    let mut o = observed(vec![container(&d, "web", "web", 1, RunState::Running, true)]);
    let mut orphan = container(&d, "web", "old", 1, RunState::Running, true);
    orphan.labels.insert(labels::SERVICE.into(), "old".into());
    o.containers.push(orphan);
    assert_yaml_snapshot!("prune", plan(&d, &o));

    let mut incomplete = d.clone();
    incomplete.complete = false;
    let p = plan(&incomplete, &o);
    assert!(p.prune_suspended);
    assert!(p.services.is_empty(), "nothing may be pruned: {p:#?}");
    assert_eq!(p.prune_held, ["container old"]);
}

#[test]
fn a_source_without_a_service_prunes_nothing_unless_empty_is_allowed() {
    // `rm m/*` left only the Network manifest: the running services must not read as deleted.
    let was = desired(&[service("web", "  networks: [front]"), FRONT_AND_DATA.to_string()].concat());
    let o = Observed {
        containers: vec![container(&was, "web", "web", 1, RunState::Running, true)],
        networks: Some(vec![resource("front"), resource("old-net")]),
        volumes: Some(vec![resource("data")]),
        ..Observed::default()
    };
    let mut loaded = crate::manifest::load_str(std::path::Path::new("/m/net.yaml"), FRONT_AND_DATA);
    crate::manifest::guard_empty(&mut loaded, "/m", false);
    let guarded = plan(&loaded.desired, &o);
    assert!(guarded.prune_suspended && guarded.services.is_empty(), "{guarded:#?}");
    assert_yaml_snapshot!("no_service_guard", guarded);

    // With --allow-empty, the same source removes the service and the unused network.
    crate::manifest::guard_empty(&mut loaded, "/m", true);
    let allowed = plan(&loaded.desired, &o);
    assert!(!allowed.prune_suspended && allowed.prune_guard.is_none());
    assert!(allowed.services["web"].orphan, "{allowed:#?}");
    assert_eq!(allowed.networks, [ResourceAction::Remove { name: "old-net".into() }]);
}

#[test]
fn crash_leftovers_keep_the_best_and_rename_it() {
    // moor died mid-replace: the old container holds the name, the new one (current, running)
    // still has its temporary name.
    let d = desired(&service("web", ""));
    let mut fresh = container(&d, "web", "web-moor-next", 1, RunState::Running, true);
    fresh.created = 200;
    let o = observed(vec![container(&d, "web", "web", 1, RunState::Exited, false), fresh]);
    assert_yaml_snapshot!(plan(&d, &o));
}

#[test]
fn a_name_held_by_a_foreign_container_is_a_conflict() {
    let d = desired(&service("web", ""));
    let mut o = observed(vec![]);
    o.conflicts.insert("web".into(), "container 0123456789ab, which moor does not own".into());
    let p = plan(&d, &o);
    assert!(!p.is_empty());
    assert_yaml_snapshot!(p);
}

#[test]
fn replicas_scale_up_and_down() {
    let d = desired(&service("web", "  replicas: 3"));
    let o = observed(vec![
        container(&d, "web", "web-1", 1, RunState::Running, true),
        container(&d, "web", "web-4", 4, RunState::Running, true),
    ]);
    assert_yaml_snapshot!(plan(&d, &o));
}

#[test]
fn networks_and_volumes_are_created_and_pruned_when_unused() {
    let d = desired(
        &[service("web", "  networks: [front]\n  volumes: [\"data:/data\"]"), FRONT_AND_DATA.to_string()].concat(),
    );
    let o = Observed {
        containers: vec![container(&d, "web", "web", 1, RunState::Running, true)],
        networks: Some(vec![resource("old-net")]),
        volumes: Some(vec![resource("data"), resource("old-vol")]),
        ..Observed::default()
    };
    assert_yaml_snapshot!(plan(&d, &o));
}

#[test]
fn a_pinned_image_replaces_a_container_of_the_same_spec() {
    // An update check found a new image behind the same tag.
    let d = desired(&service("web", ""));
    let mut o = observed(vec![container(&d, "web", "web", 1, RunState::Running, true)]);
    o.pinned.insert("web".into(), "sha256:2222".into());
    assert_yaml_snapshot!(plan(&d, &o));
    o.pinned.insert("web".into(), IMAGE_ID.into());
    assert!(plan(&d, &o).is_empty(), "pinned to what runs: nothing to do");
}

#[test]
fn plan_is_deterministic() {
    let d = desired(&[service("b", ""), service("a", "  replicas: 2")].concat());
    let o = observed(vec![
        container(&d, "a", "a-2", 2, RunState::Exited, false),
        container(&d, "b", "b", 1, RunState::Running, false),
    ]);
    let first = serde_json::to_string(&plan(&d, &o)).unwrap();
    let mut reversed = o.clone();
    reversed.containers.reverse();
    assert_eq!(first, serde_json::to_string(&plan(&d, &reversed)).unwrap());
}

/// `d` as the default host policy admits it.
fn admitted(d: Desired) -> Desired {
    crate::policy::admit(&crate::policy::Policy::default(), d)
}

#[test]
fn a_refused_service_with_a_running_container_gets_no_action() {
    // The manifest changed to a spec the policy refuses: the container built from the old spec
    // is neither replaced nor pruned, and the plan says why.
    let d = admitted(desired(&service("web", "  volumes: [\"/var/run/docker.sock:/var/run/docker.sock\"]")));
    assert!(d.services.is_empty() && d.refused.contains_key("web"), "{d:#?}");
    let old = desired(&service("web", ""));
    let o = observed(vec![container(&old, "web", "web", 1, RunState::Running, false)]);
    let p = plan(&d, &o);
    assert!(p.services.is_empty(), "nothing may be done to a refused service: {p:#?}");
    assert!(p.prune_held.is_empty() && !p.prune_suspended);
    assert_yaml_snapshot!(p);
}

#[test]
fn a_refused_new_service_is_not_created() {
    let d = admitted(desired(&[service("web", "  volumes: [\"/:/host\"]"), service("api", "")].concat()));
    let p = plan(&d, &observed(vec![]));
    assert_eq!(p.services.keys().collect::<Vec<_>>(), ["api"], "only the admitted service is created");
    assert_yaml_snapshot!(p);
}

#[test]
fn an_interrupted_replacement_is_made_again_through_the_health_gate() {
    // moor was killed after creating web's new container (from the desired spec, never started)
    // while the old one (an older spec) still runs.
    let d = desired(&service("web", ""));
    let o = observed(vec![
        container(&d, "web", "web", 1, RunState::Running, false),
        container(&d, "web", "web-moor-next", 1, RunState::Created, true),
    ]);
    let p = plan(&d, &o);
    let actions = &p.services["web"].actions;
    assert!(
        matches!(&actions[..], [Action::Remove { container, .. }, Action::Replace { old, .. }]
            if container.name == "web-moor-next" && old.name == "web"),
        "{actions:#?}"
    );
    assert_yaml_snapshot!(p);
}

/// A `hmac-sha256:` digest made of `byte`, as the resolver seals a value.
fn sealed(byte: &str) -> String {
    format!("hmac-sha256:{}", byte.repeat(32))
}

/// A file moor writes for a container.
fn file(target: &str, kind: FileKind, digest: String, mode: u32) -> FileMount {
    FileMount { target: target.into(), kind, digest, uid: None, gid: None, mode }
}

/// Changes `svc`'s container as the resolver would, and remakes its canonical JSON.
fn resolve(d: &mut Desired, svc: &str, change: impl FnOnce(&mut crate::manifest::ContainerSpec)) {
    let service = d.services.get_mut(svc).unwrap();
    change(&mut service.container);
    service.canonical = service.container.canonical_json();
}

/// The text of every value and digest the old and the new spec of the secret tests hold: none may
/// appear in a plan.
const NEVER_SHOWN: [&str; 5] = ["hunter2", "s3cret-old-token", "s3cret-new-token", "abababab", "efefefef"];

/// A container built by the release before secrets from `db`'s manifest: `DB_PASSWORD` in plain
/// `env`, a full `moor.last-applied` label, the hash of the full canonical JSON.
fn built_by_the_previous_release(d: &Desired) -> ObservedContainer {
    let old = &d.services["db"].container;
    let mut c = built_from(old, "db", "db", 1, RunState::Running);
    c.labels.insert(labels::LAST_APPLIED.into(), old.canonical_json());
    c
}

const DB: &str = "---\napiVersion: moor/v1\nkind: Service\nmetadata: {name: db}\nspec:\n  image: app:1\n  env: {DB_PASSWORD: hunter2, LOG_LEVEL: info}\n";

/// `db` as the resolver makes it of [`DB`]: the secret-looking plain key sealed.
fn db_sealed(legacy: bool) -> Desired {
    let mut d = desired(DB);
    let previous = d.services["db"].canonical.clone();
    resolve(&mut d, "db", |c| {
        c.env.remove("DB_PASSWORD");
        c.sealed_env.insert("DB_PASSWORD".into(), sealed("ab"));
    });
    if legacy {
        d.services.get_mut("db").unwrap().legacy_canonical = Some(previous);
    }
    d
}

#[test]
fn a_container_of_the_previous_release_is_current_by_its_legacy_hash() {
    let o = observed(vec![built_by_the_previous_release(&desired(DB))]);
    let p = plan(&db_sealed(true), &o);
    assert!(p.is_empty(), "the hash of the legacy canonical JSON matches: {p:#?}");
    let db = &db_sealed(true).services["db"];
    assert!(is_current(db, &o.containers[0]));
    // Built from the sealed spec itself: current too.
    let now = built_from(&db.container, "db", "db", 1, RunState::Running);
    assert!(is_current(db, &now));
    // Another image under the old hash is not current.
    let mut other = o.containers[0].clone();
    other.image_id = "sha256:2222".into();
    assert!(!is_current(db, &other));
    // Without a hash label nothing is current.
    let mut unlabelled = o.containers[0].clone();
    unlabelled.labels.remove(labels::SPEC_HASH);
    assert!(!is_current(db, &unlabelled));
}

#[test]
fn without_a_legacy_hash_a_sealed_plain_secret_is_one_change_that_shows_no_value() {
    let o = observed(vec![built_by_the_previous_release(&desired(DB))]);
    let p = plan(&db_sealed(false), &o);
    let Action::Replace { changes, .. } = &p.services["db"].actions[0] else { panic!("{p:#?}") };
    assert_eq!(
        changes,
        &[Change { field: "env.DB_PASSWORD".into(), from: None, to: None, secret: Some(Secret::NowSealed) }]
    );
    let json = serde_json::to_string(&p).unwrap();
    assert!(json.contains(r#"{"field":"env.DB_PASSWORD","secret":"nowSealed"}"#), "{json}");
    assert!(!json.contains("hunter2") && !json.contains("abababab"), "{json}");
}

#[test]
fn both_label_forms_give_the_same_changes_and_none_for_defaults() {
    let d = desired(&service("web", "  stopTimeout: 10s"));
    let spec = &d.services["web"].container;
    assert_eq!(changes(Some(&spec.canonical_json()), spec), []);
    assert_eq!(changes(Some(&crate::spec_hash::last_applied_label(spec)), spec), []);
    let mut old = spec.clone();
    old.stop_timeout = std::time::Duration::from_secs(3);
    old.auto_remove = true;
    let expected = [
        Change { field: "autoRemove".into(), from: Some("true".into()), to: Some("false".into()), secret: None },
        Change { field: "stopTimeout".into(), from: Some("3s".into()), to: Some("10s".into()), secret: None },
    ];
    assert_eq!(changes(Some(&old.canonical_json()), spec), expected);
    assert_eq!(changes(Some(&crate::spec_hash::last_applied_label(&old)), spec), expected);
}

#[test]
fn secrets_are_named_never_shown() {
    let mut d = desired(&service("app", ""));
    resolve(&mut d, "app", |c| {
        // Plain on both sides (a desired spec the resolver has not sealed): still never shown.
        c.env.insert("API_TOKEN".into(), "s3cret-new-token".into());
        c.sealed_env.insert("DB_PASSWORD".into(), sealed("ab"));
        c.sealed_env.insert("ADDED".into(), sealed("12"));
        c.sealed_env.insert("SAME".into(), sealed("34"));
        c.files = vec![
            file("/etc/app/app.yaml", FileKind::Config, format!("sha256:{}", "cd".repeat(32)), 0o444),
            file("/run/secrets/tls.key", FileKind::Secret, sealed("ef"), 0o400),
        ];
    });
    // Built before: DB_PASSWORD plain (the previous release), API_TOKEN plain, another sealed
    // value of SAME and a removed sealed one, another config and secret file content, another
    // secret file mode.
    let mut old = d.services["app"].container.clone();
    old.env.insert("LOG_LEVEL".into(), "debug".into());
    old.env.insert("API_TOKEN".into(), "s3cret-old-token".into());
    old.sealed_env.remove("DB_PASSWORD");
    old.env.insert("DB_PASSWORD".into(), "hunter2".into());
    old.sealed_env.remove("ADDED");
    old.sealed_env.insert("SAME".into(), sealed("56"));
    old.sealed_env.insert("GONE".into(), sealed("78"));
    old.files = vec![
        file("/etc/app/app.yaml", FileKind::Config, format!("sha256:{}", "00".repeat(32)), 0o444),
        file("/run/secrets/old.key", FileKind::Secret, sealed("99"), 0o400),
        file("/run/secrets/tls.key", FileKind::Secret, sealed("aa"), 0o440),
    ];
    let o = observed(vec![built_from(&old, "app", "app", 1, RunState::Running)]);
    let p = plan(&d, &o);
    let json = serde_json::to_string(&p).unwrap();
    for value in NEVER_SHOWN.iter().chain(&["12121212", "34343434", "56565656", "78787878", "99999999", "aaaaaaaa"]) {
        assert!(!json.contains(value), "{value} in {json}");
    }
    assert_yaml_snapshot!(p);
    // A new container's fields: secrets marked, config digests shortened.
    let shown: Vec<String> = fields(&d.services["app"].container).iter().map(|(k, v)| format!("{k}: {v}")).collect();
    for value in NEVER_SHOWN {
        assert!(!shown.iter().any(|l| l.contains(value)), "{value} in {shown:#?}");
    }
    for line in [
        "env.API_TOKEN: (secret)",
        "env.DB_PASSWORD: (secret)",
        "env.LOG_LEVEL: info",
        "secret file /run/secrets/tls.key: (secret)",
        "secret file /run/secrets/tls.key mode: 0400",
        "config file /etc/app/app.yaml: sha256:cdcdcdcdcdcd",
    ] {
        assert!(shown.contains(&line.to_string()), "{line} not in {shown:#?}");
    }
}
