//! The fake swarm answers as the daemon does (`docs/swarm-design.md` section 2).

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::swarm::spec::SwarmFileRef;

fn owned(name: &str) -> SwarmSpec {
    let labels = BTreeMap::from([
        ("moor.instance".to_string(), "default".to_string()),
        ("moor.backend".to_string(), "swarm".to_string()),
    ]);
    SwarmSpec { name: name.into(), labels, image: "app:1".into(), ..SwarmSpec::default() }
}

#[tokio::test(start_paused = true)]
async fn every_write_moves_the_version_and_a_stale_one_is_refused() {
    let swarm = FakeSwarm::new();
    let id = swarm.create_service(&owned("web")).await.unwrap();
    let v1 = swarm.service("web").unwrap().version;
    swarm.create_data(&crate::swarm::plan::tests::data(DataKind::Secret, "s-1")).await.unwrap();
    let mut changed = owned("web");
    changed.env.insert("A".into(), "1".into());
    swarm.update_service(&id, v1, &changed).await.unwrap();
    let v2 = swarm.service("web").unwrap().version;
    assert!(v2 > v1 + 1, "the secret's create took an index in between: {v1} -> {v2}");

    // The same spec again still moves the version (trap T9).
    swarm.update_service(&id, v2, &changed).await.unwrap();
    let v3 = swarm.service("web").unwrap().version;
    assert!(v3 > v2);

    let mut other = changed.clone();
    other.env.insert("A".into(), "2".into());
    let error = swarm.update_service(&id, v2, &other).await.unwrap_err();
    assert!(matches!(error, EngineError::OutOfSequence(_)), "{error:?}");
    assert_eq!(swarm.service("web").unwrap().spec, changed, "nothing overwritten");
    assert_eq!(swarm.previous("web"), Some(changed), "PreviousSpec is the spec before the last update");
}

#[tokio::test(start_paused = true)]
async fn a_rollback_restores_the_previous_spec_and_clears_it() {
    let swarm = FakeSwarm::new();
    let id = swarm.add_service(owned("api"));
    let version = swarm.service("api").unwrap().version;
    swarm.script(
        "api",
        Rollout::RollsBack { after: Duration::from_secs(2), message: "rolled back".into(), task_error: "boom".into() },
    );
    let mut broken = owned("api");
    broken.image = "app:2".into();
    swarm.update_service(&id, version, &broken).await.unwrap();
    assert_eq!(swarm.service("api").unwrap().update.unwrap().state, UpdateState::Updating);

    tokio::time::sleep(Duration::from_secs(2)).await;
    let service = swarm.service("api").unwrap();
    assert_eq!(service.spec, owned("api"));
    assert_eq!(service.previous, None, "swarmkit clears PreviousSpec on an automatic rollback");
    assert_eq!(
        service.update.unwrap(),
        UpdateStatus { state: UpdateState::RollbackCompleted, message: "rolled back".into() }
    );
    let errors: Vec<String> = swarm.tasks("api").into_iter().filter(|t| t.state == "failed").map(|t| t.error).collect();
    assert_eq!(errors, ["boom"]);
}

#[tokio::test(start_paused = true)]
async fn data_in_use_is_refused_and_lists_are_filtered_by_owner() {
    let swarm = FakeSwarm::new();
    let mut web = owned("web");
    web.secrets =
        vec![SwarmFileRef { target: "pw".into(), name: "pw-1".into(), uid: "0".into(), gid: "0".into(), mode: 0o400 }];
    let id = swarm.add_service(web.clone());
    let secret = swarm.add_data(DataKind::Secret, "pw-1", web.labels.clone());
    swarm.add_data(DataKind::Secret, "foreign", BTreeMap::new());
    swarm.add_service(SwarmSpec { name: "foreign".into(), ..SwarmSpec::default() });

    let error = swarm.remove_data(DataKind::Secret, &secret).await.unwrap_err();
    assert!(matches!(error, EngineError::InUse(_)), "{error:?}");

    let listed = swarm.list_data(DataKind::Secret, "default").await.unwrap();
    assert_eq!(listed.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["pw-1"]);
    let services = swarm.list_services("default").await.unwrap();
    assert_eq!(services.iter().map(|s| s.spec.name.as_str()).collect::<Vec<_>>(), ["web"]);

    swarm.remove_service(&id).await.unwrap();
    swarm.remove_data(DataKind::Secret, &secret).await.unwrap();
    assert_eq!(swarm.data_names(DataKind::Secret), ["foreign"]);
}
