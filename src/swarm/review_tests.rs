//! Adversarial review of issue 15 (the Swarm backend): each test here showed a defect the
//! review found, as its doc comment tells (in the past it describes); all are fixed, and the
//! tests keep them fixed.

use std::collections::BTreeMap;
use std::path::Path;

use super::observe::SwarmObserved;
use super::plan::{changes, plan};
use super::project::desired;
use super::spec::{SwarmMode, SwarmSpec};
use super::status::{exit_code, rows};
use super::validate::validate;
use crate::engine::swarm::{NodeInfo, ObservedObject, ObservedService, TaskInfo};
use crate::manifest::{load_str, Desired, RefusalCause, Refused};

fn load(yaml: &str) -> Desired {
    let loaded = load_str(Path::new("/m/s.yaml"), yaml);
    assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
    loaded.desired
}

fn service_yaml(name: &str, spec: &str) -> String {
    format!("apiVersion: moor/v1\nkind: Service\nmetadata: {{ name: {name} }}\nspec:\n  image: busybox:1\n{spec}")
}

fn projected(spec: &str) -> SwarmSpec {
    let d = load(&service_yaml("app", spec));
    desired(&d, "default").services["app"].clone()
}

/// Fields whose change Swarm applies without replacing any task (replicas, service labels,
/// update and rollback settings: all outside `TaskTemplate`).
fn outside_task_template(field: &str) -> bool {
    ["mode", "labels.", "update.", "rollback."].iter().any(|p| field.starts_with(p))
}

/// Scaling a service must not touch its `TaskTemplate`: `docker service scale` adds a task and
/// replaces none. The projection stamps `moor.spec-hash`, a hash of the whole spec (replicas,
/// service labels and update settings included), on `ContainerSpec.Labels`, so every scale
/// changes the task template and Swarm replaces every running task (a full rolling restart).
#[test]
fn scaling_or_retuning_updates_leaves_the_task_template_alone() {
    let base = projected("  replicas: 2\n");
    for (what, spec) in [
        ("replicas", "  replicas: 3\n"),
        ("update settings", "  replicas: 2\n  update: { healthTimeout: 7s, parallelism: 2 }\n"),
    ] {
        let changed = projected(spec);
        let diff = changes(&base, &changed);
        assert!(!diff.is_empty(), "{what}: some change");
        let inside: Vec<&str> = diff.iter().map(|c| c.field.as_str()).filter(|f| !outside_task_template(f)).collect();
        assert!(inside.is_empty(), "{what} alone changes the task template: {inside:?}");
    }
}

fn node(id: &str, labels: &[(&str, &str)]) -> NodeInfo {
    NodeInfo {
        id: id.into(),
        hostname: id.into(),
        ready: true,
        labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

/// A global service runs one task on each node its constraints admit, not on every ready node
/// (Swarm's own `ServiceStatus.DesiredTasks`, which the design names as the desired count).
#[test]
fn a_global_service_desires_one_task_per_eligible_node() {
    let spec = SwarmSpec {
        name: "agent".into(),
        mode: SwarmMode::Global,
        constraints: vec!["node.labels.role==edge".into()],
        ..SwarmSpec::default()
    };
    let observed = SwarmObserved {
        // What Swarm reports for it: one eligible node.
        services: vec![ObservedService {
            id: "g".into(),
            version: 3,
            spec,
            update: None,
            previous: None,
            desired_tasks: Some(1),
        }],
        tasks: vec![TaskInfo {
            id: "t1".into(),
            service_id: "g".into(),
            slot: None,
            node_id: "n1".into(),
            desired_state: "running".into(),
            state: "running".into(),
            error: String::new(),
            message: String::new(),
            timestamp: "2026-11-30T10:00:00Z".into(),
            spec_hash: None,
        }],
        nodes: vec![node("n1", &[("role", "edge")]), node("n2", &[])],
        ..SwarmObserved::default()
    };
    let rows = rows(&observed);
    assert_eq!(
        (rows[0].running, rows[0].desired),
        (1, 1),
        "n2 has no role=edge label: Swarm runs no task there (and apply's wait for a create \
         of this service, which compares the same counts, times out as FAILED)"
    );
    assert_eq!(exit_code(&rows), 0);
}

/// A service refused for Swarm (or for the API) is declared and left as it runs; the docker
/// backend keeps the default network for it (`names::default_network_used`). The Swarm
/// projection only asks `default_network_wanted` (admitted services), so the plan prunes the
/// default overlay under a refused service that is still on it.
#[test]
fn the_default_network_of_a_refused_service_is_kept() {
    let mut d = load(&format!(
        "apiVersion: moor/v1\nkind: Network\nmetadata: {{ name: front }}\n---\n{}---\n{}",
        service_yaml("web", "  networks: [front]\n"),
        service_yaml("old", "")
    ));
    // What `cli::swarm::admit` does with a service Swarm cannot express.
    let old = d.services.remove("old").unwrap();
    d.refused.insert("old".into(), Refused { service: old, problems: Vec::new(), cause: RefusalCause::Swarm });
    let swarm = desired(&d, "default");
    assert!(swarm.may_prune, "a refusal leaves prune on (as for the docker backend)");

    let owned = BTreeMap::from([
        ("moor.instance".to_string(), "default".to_string()),
        ("moor.backend".to_string(), "swarm".to_string()),
    ]);
    let net = |id: &str, name: &str| ObservedObject { id: id.into(), name: name.into(), labels: owned.clone() };
    let mut running_old = projected("");
    running_old.name = "old".into();
    let observed = SwarmObserved {
        services: vec![ObservedService {
            id: "o".into(),
            version: 9,
            spec: running_old,
            update: None,
            previous: None,
            desired_tasks: None,
        }],
        networks: vec![net("n1", "default_default"), net("n2", "front")],
        ..SwarmObserved::default()
    };
    let p = plan(&swarm, &observed);
    let removed: Vec<&str> = p.networks_remove.iter().map(|n| n.name.as_str()).collect();
    assert!(removed.is_empty(), "the refused service `old` still runs on default_default: {removed:?}");
}

/// `update.watch: digest` follows a tag's new digest on the docker backend. On Swarm nothing
/// does: the plan treats a pinned observed image as equal to the tag, and no pass asks the
/// registry again, so the field is silently dropped (validation promises nothing is).
#[test]
fn image_watch_is_refused_where_located() {
    let d = load(&service_yaml("app", "  update: { watch: digest }\n"));
    let problems = validate(&d, "default");
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert!(fields.iter().any(|f| f.contains("watch")), "no located problem for update.watch: {fields:?}");
}

/// `ports: ["8080"]` publishes on a host port Docker picks, on the docker backend. The Swarm
/// projection drops a port without a host port, and validation says nothing: the issue asks for
/// ports "ingress or host mode", and nothing may be dropped silently.
#[test]
fn a_port_without_a_host_port_is_published_or_refused() {
    let d = load(&service_yaml("app", "  ports: [\"8080\"]\n"));
    let problems = validate(&d, "default");
    let ports = desired(&d, "default").services["app"].ports.clone();
    assert!(!ports.is_empty() || !problems.is_empty(), "port 8080 is neither published nor refused");
}
