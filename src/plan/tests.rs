//! Snapshot tests of the convergence rules. Each builds a desired set from YAML and an observed
//! snapshot by hand, and records the plan.

use insta::assert_yaml_snapshot;

use super::fixtures::{built_from, desired, observed, resource, FRONT_AND_DATA, IMAGE_ID};
use super::*;
use crate::labels;
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
