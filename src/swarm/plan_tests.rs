//! The plan from hand-built desired and observed swarms (no Docker, no projection).

use std::collections::{BTreeMap, BTreeSet};

use insta::{assert_snapshot, assert_yaml_snapshot};

use super::*;
use crate::engine::swarm::{ObservedObject, UpdateStatus};
use crate::manifest::Network;
use crate::sensitive::Sensitive;
use crate::swarm::spec::{SwarmData, SwarmFileRef, SwarmMode, SwarmPort};

pub(crate) fn labels(instance: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("moor.instance".to_string(), instance.to_string()),
        ("moor.backend".to_string(), "swarm".to_string()),
    ])
}

pub(crate) fn spec(name: &str) -> SwarmSpec {
    SwarmSpec {
        name: name.into(),
        labels: labels("default"),
        image: "registry.example/app:1".into(),
        env: BTreeMap::from([("LOG_LEVEL".to_string(), "info".to_string())]),
        ..SwarmSpec::default()
    }
}

/// `spec` with its `moor.spec-hash` container label, as the projection stamps it.
pub(crate) fn stamped(mut spec: SwarmSpec) -> SwarmSpec {
    spec.container_labels.remove(crate::labels::SPEC_HASH);
    let hash = crate::swarm::project::spec_hash(&spec);
    spec.container_labels.insert(crate::labels::SPEC_HASH.into(), hash);
    spec
}

pub(crate) fn network(name: &str) -> Network {
    Network {
        name: name.into(),
        source: None,
        labels: BTreeMap::new(),
        driver: "overlay".into(),
        internal: false,
        options: BTreeMap::new(),
        attachable: true,
        enable_ipv6: false,
        ipam: None,
    }
}

pub(crate) fn data(kind: DataKind, name: &str) -> SwarmData {
    SwarmData { kind, name: name.into(), labels: labels("default"), data: Sensitive::new(b"s3cret".to_vec()) }
}

pub(crate) fn secret_ref(target: &str, name: &str) -> SwarmFileRef {
    SwarmFileRef { target: target.into(), name: name.into(), uid: "0".into(), gid: "0".into(), mode: 0o400 }
}

pub(crate) fn desired(services: Vec<SwarmSpec>) -> SwarmDesired {
    let declared: BTreeSet<String> = services.iter().map(|s| s.name.clone()).collect();
    SwarmDesired {
        services: services.into_iter().map(|s| (s.name.clone(), s)).collect(),
        declared,
        may_prune: true,
        ..SwarmDesired::default()
    }
}

fn observed_service(id: &str, version: u64, spec: SwarmSpec) -> ObservedService {
    ObservedService { id: id.into(), version, spec, update: None, previous: None, desired_tasks: None }
}

fn object(id: &str, name: &str) -> ObservedObject {
    ObservedObject { id: id.into(), name: name.into(), labels: labels("default") }
}

/// A desired swarm of three services, a secret and a network, against an observed one that has
/// `api` with other env and port, an old service, an old secret and an old network.
fn mixed() -> (SwarmDesired, SwarmObserved) {
    let mut web = spec("web");
    web.secrets = vec![secret_ref("db_password", "db-password-0123456789abcdef")];
    let mut api = spec("api");
    api.ports =
        vec![SwarmPort { target: 8080, published: Some(18081), protocol: "tcp".into(), mode: Default::default() }];
    let mut d = desired(vec![web, api.clone(), spec("worker")]);
    d.data.insert("db-password-0123456789abcdef".into(), data(DataKind::Secret, "db-password-0123456789abcdef"));
    d.networks.insert("shop_default".into(), network("shop_default"));

    let mut old_api = api;
    old_api.env.insert("LOG_LEVEL".into(), "debug".into());
    old_api.env.insert("DRIFT".into(), "1".into());
    old_api.ports[0].published = Some(18080);
    let o = SwarmObserved {
        services: vec![
            observed_service("s-api", 41, old_api),
            observed_service("s-worker", 12, spec("worker")),
            observed_service("s-old", 7, spec("old")),
        ],
        secrets: vec![object("sec-old", "db-password-fedcba9876543210")],
        networks: vec![object("net-old", "shop_legacy")],
        ..SwarmObserved::default()
    };
    (d, o)
}

#[test]
fn a_mixed_plan_creates_updates_and_prunes() {
    let (d, o) = mixed();
    let p = plan(&d, &o);
    assert_yaml_snapshot!(p);
    assert_snapshot!("mixed_text", plan_text(&p));
    let update = p.services.iter().find(|a| a.name() == "api").unwrap();
    let ServiceAction::Update { version, changes, .. } = update else { panic!("{update:?}") };
    assert_eq!(*version, 41, "the version observed");
    let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["env.DRIFT", "env.LOG_LEVEL", "ports[0].published"]);
    assert!(p.services.iter().all(|a| a.name() != "worker"), "in sync: no action");
}

#[test]
fn identical_specs_give_an_empty_plan() {
    let d = desired(vec![spec("web")]);
    let o = SwarmObserved { services: vec![observed_service("s1", 3, spec("web"))], ..SwarmObserved::default() };
    let p = plan(&d, &o);
    assert!(p.is_empty(), "{p:?}");
    assert_eq!(plan_text(&p), "in sync: nothing to do\n");
}

#[test]
fn an_observed_pinned_image_equals_the_desired_reference() {
    let d = desired(vec![spec("web")]);
    let mut pinned = spec("web");
    pinned.image = "registry.example/app:1@sha256:2445138ace2c".into();
    let o = SwarmObserved { services: vec![observed_service("s1", 3, pinned.clone())], ..SwarmObserved::default() };
    assert!(plan(&d, &o).is_empty(), "apply pins: the pinned image is what was asked for");

    // A desired digest must match exactly.
    let mut other = spec("web");
    other.image = "registry.example/app:1@sha256:ffff".into();
    let p = plan(&desired(vec![other]), &o);
    let [ServiceAction::Update { changes, .. }] = p.services.as_slice() else { panic!("{p:?}") };
    assert_eq!(changes[0].field, "image");
    assert_eq!(changes[0].from.as_deref(), Some("registry.example/app:1@sha256:2445138ace2c"));

    // Another tag is a change even when pinned.
    let mut tag2 = spec("web");
    tag2.image = "registry.example/app:2".into();
    assert_eq!(plan(&desired(vec![tag2]), &o).services.len(), 1);
}

#[test]
fn prune_is_suspended_when_the_load_is_not_complete() {
    let (mut d, o) = mixed();
    d.may_prune = false;
    let p = plan(&d, &o);
    assert!(p.prune_suspended);
    assert!(p.data_remove.is_empty() && p.networks_remove.is_empty());
    assert!(!p.services.iter().any(|a| matches!(a, ServiceAction::Remove { .. })), "{p:?}");
    assert!(plan_text(&p).contains("prune suspended"));
}

#[test]
fn a_declared_service_is_never_removed() {
    // `old` is declared but refused this pass (not among the services to run): it is kept, and
    // so is the secret it names.
    let mut old = spec("old");
    old.secrets = vec![secret_ref("token", "token-aaaa")];
    let mut d = desired(vec![spec("web")]);
    d.declared.insert("old".into());
    let o = SwarmObserved {
        services: vec![observed_service("s1", 3, spec("web")), observed_service("s2", 4, old)],
        secrets: vec![object("sec", "token-aaaa")],
        ..SwarmObserved::default()
    };
    let p = plan(&d, &o);
    assert!(p.is_empty(), "{p:?}");
    assert!(!p.prune_suspended);
}

#[test]
fn only_observed_services_can_be_removed() {
    // Observe lists owned services only: a foreign one of any name never reaches the plan, so
    // the plan removes exactly the owned ones no manifest declares.
    let d = desired(vec![]);
    let o = SwarmObserved { services: vec![observed_service("s9", 3, spec("mine"))], ..SwarmObserved::default() };
    let p = plan(&d, &o);
    assert_eq!(p.services, [ServiceAction::Remove { id: "s9".into(), name: "mine".into() }]);
}

#[test]
fn data_still_named_is_kept_and_new_data_is_created() {
    let mut web = spec("web");
    web.secrets = vec![secret_ref("a", "a-1111")];
    web.configs = vec![secret_ref("/etc/app.conf", "conf-2222")];
    let mut d = desired(vec![web.clone()]);
    d.data.insert("a-1111".into(), data(DataKind::Secret, "a-1111"));
    d.data.insert("conf-2222".into(), data(DataKind::Config, "conf-2222"));
    let o = SwarmObserved {
        services: vec![observed_service("s1", 3, web)],
        secrets: vec![object("x", "a-1111")],
        configs: vec![object("y", "conf-0000")],
        ..SwarmObserved::default()
    };
    let p = plan(&d, &o);
    assert_eq!(p.data_create, [DataRef { kind: DataKind::Config, name: "conf-2222".into() }]);
    assert_eq!(p.data_remove, [DataRemove { kind: DataKind::Config, id: "y".into(), name: "conf-0000".into() }]);
}

fn failed(spec: SwarmSpec, state: UpdateState, previous: Option<SwarmSpec>) -> SwarmObserved {
    let mut service = observed_service("s1", 90, spec);
    service.update = Some(UpdateStatus { state, message: "update rolled back due to failure".into() });
    service.previous = previous;
    SwarmObserved { services: vec![service], ..SwarmObserved::default() }
}

#[test]
fn a_rolled_back_spec_is_held_not_updated_again() {
    let mut new = spec("web");
    new.env.insert("BROKEN".into(), "1".into());
    // A manual rollback (or one Swarm kept the previous spec of): the failed spec is known.
    let o = failed(spec("web"), UpdateState::RollbackCompleted, Some(new.clone()));
    let p = plan(&desired(vec![new.clone()]), &o);
    let [ServiceAction::Held { state, reason, .. }] = p.services.as_slice() else { panic!("{p:?}") };
    assert_eq!(*state, UpdateState::RollbackCompleted);
    assert!(reason.contains("update rolled back due to failure"), "{reason}");
    assert!(!p.is_empty(), "a held service is not in sync");
    assert!(plan_text(&p).contains("! service web: failed (rollback_completed)"));

    // A new spec is a new attempt.
    let mut newer = new.clone();
    newer.env.insert("BROKEN".into(), "0".into());
    let p = plan(&desired(vec![newer]), &o);
    assert!(matches!(p.services.as_slice(), [ServiceAction::Update { .. }]), "{p:?}");

    // The manifest reverted to what Swarm rolled back to: in sync.
    assert!(plan(&desired(vec![spec("web")]), &o).is_empty());
}

#[test]
fn after_an_automatic_rollback_the_task_history_tells_which_spec_failed() {
    // Swarm clears PreviousSpec when it rolls back by itself (and bollard cannot read it): the
    // failed spec is known from the `moor.spec-hash` of its tasks.
    let mut broken = spec("web");
    broken.env.insert("BROKEN".into(), "1".into());
    let broken = stamped(broken);
    let mut o = failed(stamped(spec("web")), UpdateState::RollbackCompleted, None);
    let failed_task = crate::engine::swarm::TaskInfo {
        id: "t1".into(),
        service_id: "s1".into(),
        slot: Some(1),
        node_id: "n1".into(),
        desired_state: "shutdown".into(),
        state: "failed".into(),
        error: "task: non-zero exit (137): dockerexec: unhealthy container".into(),
        message: String::new(),
        timestamp: "2026-11-30T10:00:00Z".into(),
        spec_hash: broken.container_labels.get(crate::labels::SPEC_HASH).cloned(),
    };
    o.tasks.push(failed_task);
    let p = plan(&desired(vec![broken.clone()]), &o);
    let [ServiceAction::Held { reason, .. }] = p.services.as_slice() else { panic!("{p:?}") };
    assert!(reason.contains("change the spec to try again"), "{reason}");

    // A fixed spec (no task was made from it) is a new attempt.
    let mut fixed = spec("web");
    fixed.env.insert("FIXED".into(), "1".into());
    let p = plan(&desired(vec![stamped(fixed)]), &o);
    assert!(matches!(p.services.as_slice(), [ServiceAction::Update { .. }]), "{p:?}");
}

#[test]
fn a_paused_update_of_the_same_spec_is_held() {
    let mut new = spec("web");
    new.env.insert("BROKEN".into(), "1".into());
    // Paused: Swarm keeps the new spec, which is the desired one.
    let o = failed(new.clone(), UpdateState::Paused, Some(spec("web")));
    let p = plan(&desired(vec![new]), &o);
    assert!(matches!(p.services.as_slice(), [ServiceAction::Held { state: UpdateState::Paused, .. }]), "{p:?}");
    // A fixed spec goes through.
    let p = plan(&desired(vec![spec("web")]), &o);
    assert!(matches!(p.services.as_slice(), [ServiceAction::Update { .. }]), "{p:?}");
}

#[test]
fn secret_looking_env_values_are_not_shown() {
    let mut new = spec("web");
    new.env.insert("DB_PASSWORD".into(), "hunter2".into());
    let o = SwarmObserved { services: vec![observed_service("s1", 3, spec("web"))], ..SwarmObserved::default() };
    let p = plan(&desired(vec![new]), &o);
    let text = plan_text(&p);
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("env.DB_PASSWORD: (secret added)"), "{text}");
    let json = serde_json::to_string(&p.services[0]).unwrap();
    let ServiceAction::Update { changes, .. } = &p.services[0] else { panic!() };
    assert!(changes.iter().all(|c| c.from.is_none() && c.to.is_none()));
    // The full spec of an update is in the JSON plan, as it is for a create.
    assert!(json.contains("\"changes\""));
}

#[test]
fn a_global_service_and_scalar_lists_flatten_as_named() {
    let mut new = spec("agent");
    new.mode = SwarmMode::Global;
    new.args = Some(vec!["sleep".into(), "1".into()]);
    let o = SwarmObserved { services: vec![observed_service("s1", 3, spec("agent"))], ..SwarmObserved::default() };
    let p = plan(&desired(vec![new]), &o);
    let ServiceAction::Update { changes, .. } = &p.services[0] else { panic!("{p:?}") };
    let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        ["args: (none) -> [\"sleep\",\"1\"]", "mode: (none) -> global", "mode.replicated.replicas: 1 -> (none)"]
    );
}
