//! The fake's own tests, on tokio's paused clock: each checks one piece of Docker's behaviour
//! that controller tests will lean on.

use futures_util::StreamExt;

use super::*;
use crate::labels;
use crate::manifest::model::{Healthcheck, Mount};
use crate::observe::Health;

const APP: &str = "sha256:aaaa";

fn spec() -> ContainerSpec {
    ContainerSpec::bare("app:1")
}

fn request(name: &str, instance: &str, spec: ContainerSpec) -> CreateRequest {
    let labels = BTreeMap::from([
        (labels::INSTANCE.to_string(), instance.to_string()),
        (labels::SERVICE.to_string(), name.to_string()),
    ]);
    CreateRequest {
        name: name.into(),
        image: spec.image.clone(),
        service: name.into(),
        spec,
        labels,
        provided: Default::default(),
    }
}

fn engine() -> FakeEngine {
    let engine = FakeEngine::new();
    engine.add_image("app:1", APP);
    engine
}

fn network(name: &str) -> Network {
    let labels = BTreeMap::from([("team".to_string(), "a".to_string())]);
    Network {
        name: name.into(),
        source: None,
        labels,
        driver: "bridge".into(),
        internal: false,
        options: BTreeMap::new(),
        attachable: false,
        enable_ipv6: false,
        ipam: None,
    }
}

fn volume(name: &str) -> Volume {
    Volume {
        name: name.into(),
        source: None,
        labels: BTreeMap::new(),
        driver: "local".into(),
        options: BTreeMap::new(),
    }
}

/// The next `n` actions of a stream, as `container:action`.
async fn actions(stream: &mut EventStream, n: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..n {
        // A bound, so that a missing event fails the test instead of hanging it.
        let next = tokio::time::timeout(Duration::from_secs(3600), stream.next()).await;
        let event = next.expect("no event within an hour").expect("the stream ended").expect("the stream failed");
        seen.push(format!("{}:{}", event.container, event.action));
    }
    seen
}

#[tokio::test(start_paused = true)]
async fn a_created_and_started_container_lists_and_inspects_with_its_labels_under_its_instance_only() {
    let engine = engine();
    let web = engine.create_container(&request("web", "a", spec())).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let other = engine.create_container(&request("db", "b", spec())).await.unwrap();
    assert_eq!(web.len(), 64);
    assert_ne!(web, other);
    engine.start(&web).await.unwrap();
    engine.start("web").await.unwrap(); // already running: 304, Ok

    let listed = engine.list_containers("a").await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let c = &listed[0];
    assert_eq!(
        (c.id.as_str(), c.name.as_str(), c.state, c.health),
        (web.as_str(), "web", RunState::Running, Health::None)
    );
    assert_eq!((c.image.as_str(), c.image_id.as_str(), c.service()), ("app:1", APP, Some("web")));
    let db = engine.list_containers("b").await.unwrap();
    assert_eq!(db.iter().map(|c| (c.name.as_str(), c.state)).collect::<Vec<_>>(), [("db", RunState::Created)]);
    assert!(db[0].created > c.created, "created must increase: {} then {}", c.created, db[0].created);

    for key in [web.as_str(), "web", &web[..12]] {
        let info = engine.inspect_container(key).await.unwrap().expect("inspect finds it");
        assert_eq!((info.id.as_str(), info.state, info.exit_code), (web.as_str(), RunState::Running, Some(0)));
        assert_eq!(info.labels.get(labels::INSTANCE).map(String::as_str), Some("a"));
    }
    assert_eq!(engine.inspect_container("nothing").await.unwrap(), None);
    let mut unknown_image = request("x", "a", spec());
    unknown_image.image = "nope:1".into();
    assert!(matches!(engine.create_container(&unknown_image).await, Err(EngineError::NotFound { .. })));
    assert!(matches!(engine.start("nothing").await, Err(EngineError::NotFound { .. })));
}

#[tokio::test(start_paused = true)]
async fn a_taken_name_answers_name_in_use_on_create_and_on_rename() {
    let engine = engine();
    let web = engine.create_container(&request("web", "a", spec())).await.unwrap();
    let taken = engine.create_container(&request("web", "a", spec())).await;
    assert_eq!(taken, Err(EngineError::NameInUse { name: "web".into() }));
    engine.create_foreign("db", BTreeMap::new()).unwrap();
    let taken = engine.create_container(&request("db", "a", spec())).await;
    assert_eq!(taken, Err(EngineError::NameInUse { name: "db".into() }));
    assert_eq!(engine.list_containers("a").await.unwrap().len(), 1, "a foreign container is not listed");

    assert_eq!(engine.rename(&web, "db").await, Err(EngineError::NameInUse { name: "db".into() }));
    engine.rename(&web, "web-old").await.unwrap();
    assert_eq!(engine.inspect_container("web-old").await.unwrap().map(|i| i.id), Some(web));
    assert_eq!(engine.inspect_container("web").await.unwrap(), None);
    engine.create_container(&request("web", "a", spec())).await.expect("the old name is free again");
}

#[tokio::test(start_paused = true)]
async fn a_stopped_auto_remove_container_shows_removing_until_its_removal_finishes() {
    let engine = engine();
    engine.set_removal_delay(Duration::from_secs(2));
    let mut events = engine.events("a");
    let id =
        engine.create_container(&request("job", "a", ContainerSpec { auto_remove: true, ..spec() })).await.unwrap();
    engine.start(&id).await.unwrap();
    engine.stop(&id, Duration::from_secs(10)).await.unwrap();

    let listed = engine.list_containers("a").await.unwrap();
    assert_eq!(listed.iter().map(|c| c.state).collect::<Vec<_>>(), [RunState::Removing]);
    assert_eq!(engine.inspect_container(&id).await.unwrap().map(|i| i.state), Some(RunState::Removing));
    assert!(matches!(engine.start(&id).await, Err(EngineError::MarkedForRemoval(_))));
    let taken = engine.create_container(&request("job", "a", spec())).await;
    assert_eq!(taken, Err(EngineError::NameInUse { name: "job".into() }), "a removing container holds its name");

    let before = Instant::now();
    engine.remove(&id).await.expect("remove waits for Docker's removal");
    assert_eq!(Instant::now() - before, Duration::from_secs(2));
    assert!(engine.list_containers("a").await.unwrap().is_empty());
    assert_eq!(engine.inspect_container(&id).await.unwrap(), None);
    let seen = actions(&mut events, 6).await;
    assert_eq!(seen, ["job:create", "job:start", "job:kill", "job:die", "job:stop", "job:destroy"]);
}

#[tokio::test(start_paused = true)]
async fn an_auto_remove_container_without_removal_delay_is_gone_when_stop_returns() {
    let engine = engine();
    let id =
        engine.create_container(&request("job", "a", ContainerSpec { auto_remove: true, ..spec() })).await.unwrap();
    engine.start(&id).await.unwrap();
    engine.stop(&id, Duration::from_secs(10)).await.unwrap();
    assert_eq!(engine.container("job"), None);
    engine.stop(&id, Duration::from_secs(10)).await.expect("stop of a gone container is Ok");
    engine.remove(&id).await.expect("remove of a gone container is Ok");
}

#[tokio::test(start_paused = true)]
async fn an_image_that_exits_after_a_delay_dies_on_the_event_stream_without_any_other_call() {
    let engine = engine();
    engine.set_behaviour(APP, Behaviour::ExitsAfter { after: Duration::from_secs(5), code: 3 });
    let mut events = engine.events("a");
    let id = engine.create_container(&request("job", "a", spec())).await.unwrap();
    let started = Instant::now();
    engine.start(&id).await.unwrap();
    assert_eq!(actions(&mut events, 2).await, ["job:create", "job:start"]);
    let calls_before: usize = [Op::Inspect, Op::ListContainers, Op::Ping].iter().map(|op| engine.calls(*op)).sum();

    assert_eq!(actions(&mut events, 1).await, ["job:die"]);
    assert_eq!(Instant::now() - started, Duration::from_secs(5), "it must die at its time, not before");
    let calls_after: usize = [Op::Inspect, Op::ListContainers, Op::Ping].iter().map(|op| engine.calls(*op)).sum();
    assert_eq!(calls_before, calls_after);
    let info = engine.inspect_container(&id).await.unwrap().unwrap();
    assert_eq!((info.state, info.exit_code), (RunState::Exited, Some(3)));

    // A second start runs it again for the same time.
    engine.start(&id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(4999)).await;
    assert_eq!(engine.container("job").map(|c| c.state), Some(RunState::Running));
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(engine.container("job").map(|c| c.state), Some(RunState::Exited));
}

#[tokio::test(start_paused = true)]
async fn an_image_that_exits_at_once_is_exited_when_start_returns() {
    let engine = engine();
    engine.set_behaviour(APP, Behaviour::ExitsAfter { after: Duration::ZERO, code: 1 });
    let id = engine.create_container(&request("job", "a", spec())).await.unwrap();
    engine.start(&id).await.unwrap();
    let listed = engine.list_containers("a").await.unwrap();
    assert_eq!(listed.iter().map(|c| c.state).collect::<Vec<_>>(), [RunState::Exited]);
    assert_eq!(engine.container(&id).map(|c| c.exit_code), Some(1));
}

#[tokio::test(start_paused = true)]
async fn an_unhealthy_image_is_unhealthy_only_when_its_spec_has_a_healthcheck() {
    let engine = engine();
    engine.add_image("sick:1", "sha256:5555");
    engine.set_behaviour("sha256:5555", Behaviour::Unhealthy);
    let check = Healthcheck {
        test: vec!["CMD".into(), "true".into()],
        interval: None,
        timeout: None,
        retries: None,
        start_period: None,
        start_interval: None,
    };
    let checked = ContainerSpec { healthcheck: Some(check), ..spec() };
    let cases = [
        ("sick-checked", "sick:1", true, Health::Unhealthy),
        ("sick-unchecked", "sick:1", false, Health::None),
        ("fine-checked", "app:1", true, Health::Healthy),
        ("fine-unchecked", "app:1", false, Health::None),
    ];
    for (name, image, with_check, _) in cases {
        let base = if with_check { checked.clone() } else { spec() };
        let id = engine.create_container(&request(name, "a", ContainerSpec { image: image.into(), ..base })).await;
        engine.start(&id.unwrap()).await.unwrap();
    }
    let listed = engine.list_containers("a").await.unwrap();
    for (name, _, _, health) in cases {
        let listed = listed.iter().find(|c| c.name == name).map(|c| c.health);
        assert_eq!(listed, Some(health), "{name} in the list");
        let inspected = engine.inspect_container(name).await.unwrap().map(|i| i.health);
        assert_eq!(inspected, Some(health), "{name} inspected");
    }
    engine.stop("sick-checked", Duration::from_secs(1)).await.unwrap();
    assert_eq!(engine.inspect_container("sick-checked").await.unwrap().map(|i| i.health), Some(Health::None));
}

#[tokio::test(start_paused = true)]
async fn a_daemon_that_goes_down_answers_unavailable_everywhere_and_breaks_open_event_streams() {
    let engine = engine();
    let mut events = engine.events("a");
    let id = engine.create_container(&request("web", "a", spec())).await.unwrap();
    engine.set_down(true);
    engine.docker_rm_f("web"); // removed while moor cannot see: the event is lost
    let unavailable = |r: EngineResult<()>| matches!(r, Err(EngineError::Unavailable(_)));
    let net = network("n");
    assert!(unavailable(engine.ping().await));
    assert!(unavailable(engine.list_containers("a").await.map(drop)));
    assert!(unavailable(engine.list_networks("a").await.map(drop)));
    assert!(unavailable(engine.list_volumes("a").await.map(drop)));
    assert!(unavailable(engine.inspect_container(&id).await.map(drop)));
    assert!(unavailable(engine.image("app:1").await.map(drop)));
    assert!(unavailable(engine.registry_digest("app:1").await.map(drop)));
    assert!(unavailable(engine.pull("app:1").await));
    assert!(unavailable(engine.create_container(&request("db", "a", spec())).await.map(drop)));
    assert!(unavailable(engine.start(&id).await));
    assert!(unavailable(engine.stop(&id, Duration::from_secs(1)).await));
    assert!(unavailable(engine.remove(&id).await));
    assert!(unavailable(engine.wait_removed(&id, Duration::from_secs(1)).await));
    assert!(unavailable(engine.rename(&id, "x").await));
    assert!(unavailable(engine.create_network(&net, "a").await));
    assert!(unavailable(engine.remove_network("n").await));
    assert!(unavailable(engine.create_volume(&volume("v"), "a").await));
    assert!(unavailable(engine.remove_volume("v").await));

    // What happened before the outage arrives, then the break, then the end.
    assert_eq!(actions(&mut events, 1).await, ["web:create"]);
    assert!(matches!(events.next().await, Some(Err(EngineError::Unavailable(_)))));
    assert!(events.next().await.is_none());
    let mut opened_while_down = engine.events("a");
    assert!(matches!(opened_while_down.next().await, Some(Err(EngineError::Unavailable(_)))));
    assert!(opened_while_down.next().await.is_none());

    engine.set_down(false);
    engine.ping().await.unwrap();
    assert!(engine.image("app:1").await.unwrap().is_some(), "the state outlives the outage");
    assert!(engine.list_containers("a").await.unwrap().is_empty(), "the removal during the outage holds");
    let mut events = engine.events("a");
    engine.create_container(&request("db", "a", spec())).await.unwrap();
    assert_eq!(actions(&mut events, 1).await, ["db:create"]);
}

#[tokio::test(start_paused = true)]
async fn a_queued_fault_answers_the_next_call_of_its_operation_only_in_order() {
    let engine = engine();
    let id = engine.create_container(&request("web", "a", spec())).await.unwrap();
    let boom = EngineError::Api { status: 500, message: "boom".into() };
    engine.fail_next(Op::Start, boom.clone());
    engine.fail_next(Op::Start, EngineError::Timeout("slow".into()));
    engine.ping().await.expect("another operation is not affected");
    assert_eq!(engine.start(&id).await, Err(boom));
    assert_eq!(engine.container("web").map(|c| c.state), Some(RunState::Created), "a failed start changes nothing");
    assert_eq!(engine.start(&id).await, Err(EngineError::Timeout("slow".into())));
    engine.start(&id).await.expect("the queue is empty");
    assert_eq!(engine.container("web").map(|c| c.state), Some(RunState::Running));

    engine.fail_next(Op::Events, EngineError::Api { status: 500, message: "events".into() });
    let mut events = engine.events("a");
    assert!(matches!(events.next().await, Some(Err(EngineError::Api { status: 500, .. }))));
    assert!(events.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn calls_are_counted_per_operation_including_failed_ones() {
    let engine = engine();
    engine.list_containers("a").await.unwrap();
    engine.fail_next(Op::ListContainers, EngineError::Api { status: 500, message: "x".into() });
    engine.list_containers("a").await.unwrap_err();
    engine.set_down(true);
    engine.list_containers("a").await.unwrap_err();
    let _stream = engine.events("a");
    assert_eq!(engine.calls(Op::ListContainers), 3);
    assert_eq!(engine.calls(Op::Events), 1);
    assert_eq!(engine.calls(Op::Inspect), 0);
}

#[tokio::test(start_paused = true)]
async fn a_slow_operation_sleeps_on_every_call_and_others_do_not() {
    let engine = engine();
    engine.slow(Op::Ping, Duration::from_secs(3));
    for _ in 0..2 {
        let before = Instant::now();
        engine.ping().await.unwrap();
        assert_eq!(Instant::now() - before, Duration::from_secs(3));
    }
    let before = Instant::now();
    engine.list_containers("a").await.unwrap();
    assert_eq!(Instant::now(), before);
}

#[tokio::test(start_paused = true)]
async fn a_pull_points_the_local_reference_at_the_pushed_image_with_its_repo_digest() {
    let engine = engine();
    engine.push("app:1", "sha256:d2", "sha256:bbbb");
    assert_eq!(engine.registry_digest("app:1").await.unwrap(), "sha256:d2");
    assert_eq!(engine.image("app:1").await.unwrap().map(|i| i.id), Some(APP.into()), "no pull yet");
    engine.pull("app:1").await.unwrap();
    let pulled = engine.image("app:1").await.unwrap().expect("pulled");
    assert_eq!(pulled.id, "sha256:bbbb");
    assert_eq!(pulled.repo_digests, ["app@sha256:d2"]);
    assert!(pulled.has_digest("sha256:d2"));
    assert_eq!(engine.image("sha256:bbbb").await.unwrap().map(|i| i.id), Some("sha256:bbbb".into()));
    assert_eq!(engine.image("app@sha256:d2").await.unwrap().map(|i| i.id), Some("sha256:bbbb".into()));
    assert!(engine.image(APP).await.unwrap().is_some(), "the old image stays, by ID");
    assert_eq!(engine.image("nope:1").await.unwrap(), None);
    assert!(matches!(engine.registry_digest("nope:1").await, Err(EngineError::NotFound { .. })));
    assert!(matches!(engine.pull("nope:1").await, Err(EngineError::NotFound { .. })));

    engine.add_image("plain", "sha256:cccc");
    assert_eq!(engine.image("plain:latest").await.unwrap().map(|i| i.id), Some("sha256:cccc".into()));
}

#[tokio::test(start_paused = true)]
async fn a_network_or_volume_in_use_cannot_be_removed_until_its_containers_are_gone() {
    let engine = engine();
    let mounted = Mount::Volume { source: "data".into(), target: "/data".into(), read_only: false, nocopy: false };
    let uses = ContainerSpec { networks: vec!["net".into()], mounts: vec![mounted], ..spec() };
    let missing = engine.create_container(&request("web", "a", uses.clone())).await;
    assert!(matches!(missing, Err(EngineError::NotFound { .. })), "the network must exist first: {missing:?}");
    engine.create_network(&network("net"), "a").await.unwrap();
    engine.create_network(&network("net"), "b").await.expect("an existing network is Ok, and left as it is");
    engine.create_volume(&volume("data"), "a").await.unwrap();
    let nets = engine.list_networks("a").await.unwrap();
    assert_eq!(nets.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["net"]);
    assert_eq!(nets[0].labels.get("team").map(String::as_str), Some("a"));
    assert!(engine.list_networks("b").await.unwrap().is_empty());
    assert_eq!(engine.list_volumes("a").await.unwrap().len(), 1);

    let id = engine.create_container(&request("web", "a", uses)).await.unwrap();
    assert!(matches!(engine.remove_network("net").await, Err(EngineError::InUse(_))));
    assert!(matches!(engine.remove_volume("data").await, Err(EngineError::InUse(_))));
    engine.remove(&id).await.unwrap();
    engine.remove_network("net").await.unwrap();
    engine.remove_volume("data").await.unwrap();
    assert!(engine.networks().is_empty() && engine.volumes().is_empty());
    engine.remove_network("net").await.expect("an unknown network is Ok");
    engine.remove_volume("data").await.expect("an unknown volume is Ok");
}

#[tokio::test(start_paused = true)]
async fn removes_stops_and_hand_operations_emit_the_events_docker_does() {
    let engine = engine();
    let mut events = engine.events("a");
    for name in ["one", "two", "three", "four"] {
        let id = engine.create_container(&request(name, "a", spec())).await.unwrap();
        engine.start(&id).await.unwrap();
    }
    engine.create_container(&request("five", "a", spec())).await.unwrap();
    actions(&mut events, 9).await;

    engine.remove("one").await.unwrap();
    assert_eq!(actions(&mut events, 3).await, ["one:kill", "one:die", "one:destroy"]);
    engine.remove("five").await.unwrap();
    assert_eq!(actions(&mut events, 1).await, ["five:destroy"]);
    assert!(engine.crash("two", 139));
    assert_eq!(actions(&mut events, 1).await, ["two:die"]);
    assert_eq!(engine.container("two").map(|c| (c.state, c.exit_code)), Some((RunState::Exited, 139)));
    assert!(!engine.crash("two", 1), "an exited container cannot crash");
    assert!(engine.docker_stop("three"));
    assert_eq!(actions(&mut events, 3).await, ["three:kill", "three:die", "three:stop"]);
    assert!(engine.docker_rm_f("four"));
    assert_eq!(actions(&mut events, 3).await, ["four:kill", "four:die", "four:destroy"]);
    assert!(!engine.docker_rm_f("four"));
    engine.rename("two", "deux").await.unwrap();
    assert_eq!(actions(&mut events, 1).await, ["deux:rename"]);
    assert_eq!(engine.containers().iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["deux", "three"]);
}

#[tokio::test(start_paused = true)]
async fn a_container_that_ignores_stop_is_killed_when_the_timeout_ends() {
    let engine = engine();
    engine.set_behaviour(APP, Behaviour::IgnoresStop);
    let id = engine.create_container(&request("web", "a", spec())).await.unwrap();
    engine.start(&id).await.unwrap();
    let before = Instant::now();
    engine.stop(&id, Duration::from_secs(7)).await.unwrap();
    assert_eq!(Instant::now() - before, Duration::from_secs(7));
    assert_eq!(engine.container(&id).map(|c| (c.state, c.exit_code)), Some((RunState::Exited, 137)));
}

#[tokio::test(start_paused = true)]
async fn wait_removed_times_out_while_the_container_exists_and_returns_once_it_is_gone() {
    let engine = engine();
    let id = engine.create_container(&request("web", "a", spec())).await.unwrap();
    let waited = engine.wait_removed(&id, Duration::from_secs(2)).await;
    assert!(matches!(waited, Err(EngineError::Timeout(_))), "{waited:?}");

    let remover = engine.clone();
    let removal = async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        remover.docker_rm_f("web");
    };
    let before = Instant::now();
    let (waited, ()) = tokio::join!(engine.wait_removed(&id, Duration::from_secs(5)), removal);
    waited.unwrap();
    assert!(Instant::now() - before < Duration::from_millis(1100), "it returns soon after the removal");
}

#[tokio::test(start_paused = true)]
async fn a_stop_may_take_its_whole_stop_timeout_past_every_flat_deadline() {
    // `stopTimeout: 150s` on a container that ignores SIGTERM: Docker kills it after 150 s and
    // only then answers. The stop's deadline is 150 s + the margin, so it is not cut short.
    let engine = engine();
    engine.set_behaviour(APP, Behaviour::IgnoresStop);
    let id = engine.create_container(&request("web", "a", spec())).await.unwrap();
    engine.start(&id).await.unwrap();
    let before = Instant::now();
    engine.stop(&id, Duration::from_secs(150)).await.unwrap();
    assert_eq!(Instant::now() - before, Duration::from_secs(150));
    assert!(Instant::now() - before > Deadlines::DEFAULT.write, "longer than any flat deadline");
    assert_eq!(engine.container(&id).map(|c| (c.state, c.exit_code)), Some((RunState::Exited, 137)));
}

#[tokio::test(start_paused = true)]
async fn a_frozen_daemon_answers_each_call_with_a_timeout_at_its_own_deadline() {
    let engine = engine();
    let id = engine.create_container(&request("web", "a", spec())).await.unwrap();
    engine.start(&id).await.unwrap();
    engine.freeze(true);
    let d = Deadlines::DEFAULT;
    let timed = |what: &str, result: EngineResult<()>, before: Instant, deadline: Duration| {
        assert!(matches!(result, Err(EngineError::Timeout(_))), "{what}: {result:?}");
        assert_eq!(Instant::now() - before, deadline, "{what}");
    };
    let before = Instant::now();
    timed("ping", engine.ping().await, before, d.ping);
    let before = Instant::now();
    timed("list", engine.list_containers("a").await.map(drop), before, d.read);
    let before = Instant::now();
    timed("start", engine.start(&id).await, before, d.write);
    let before = Instant::now();
    timed("stop", engine.stop(&id, Duration::from_secs(150)).await, before, Duration::from_secs(180));
    let before = Instant::now();
    timed("remove", engine.remove(&id).await, before, d.margin);
    assert_eq!(engine.container(&id).map(|c| c.state), Some(RunState::Running), "nothing took effect");

    // Deadlines of a test's choosing.
    engine.set_deadlines(Deadlines { ping: Duration::from_millis(300), margin: Duration::from_secs(1), ..d });
    let before = Instant::now();
    timed("short ping", engine.ping().await, before, Duration::from_millis(300));
    let before = Instant::now();
    timed("short stop", engine.stop(&id, Duration::from_secs(2)).await, before, Duration::from_secs(3));

    // A call waiting at the thaw goes on and answers.
    let thawer = engine.clone();
    let thaw = async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        thawer.freeze(false);
    };
    let (listed, ()) = tokio::join!(engine.list_containers("a"), thaw);
    assert_eq!(listed.unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_frozen_daemon_keeps_its_event_stream_open_and_quiet_until_the_thaw() {
    let engine = engine();
    let mut events = engine.events("a");
    engine.freeze(true);
    // Exits still happen while dockerd is frozen; Docker tells of them after the thaw.
    let id = engine.create_foreign("web", BTreeMap::from([(labels::INSTANCE.to_string(), "a".to_string())])).unwrap();
    let quiet = tokio::time::timeout(Duration::from_secs(600), events.next()).await;
    assert!(quiet.is_err(), "an event or an end while frozen: {quiet:?}");
    engine.freeze(false);
    let event = events.next().await.expect("open").expect("no error");
    assert_eq!((event.container.as_str(), event.action.as_str()), ("web", "create"));
    assert_eq!(engine.container("web").map(|c| c.id), Some(id));
}

#[tokio::test(start_paused = true)]
async fn a_lost_answer_fails_the_call_after_it_took_effect() {
    let engine = engine();
    let id = engine.create_container(&request("web", "a", spec())).await.unwrap();
    engine.start(&id).await.unwrap();
    engine.fail_after(Op::Stop, EngineError::Timeout("lost".into()));
    let stopped = engine.stop(&id, Duration::from_secs(10)).await;
    assert_eq!(stopped, Err(EngineError::Timeout("lost".into())));
    assert_eq!(engine.container(&id).map(|c| c.state), Some(RunState::Exited), "the stop took effect");
    engine.start(&id).await.unwrap();
    engine.stop(&id, Duration::from_secs(10)).await.unwrap();
}
