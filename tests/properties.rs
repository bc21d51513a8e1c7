//! Properties of converging, on the in-memory engine: for random desired states and random
//! starting points (a previous desired state applied, then containers removed, stopped or
//! crashed by hand, and containers moor does not own), one `apply` converges, so that the next
//! plan is empty but for names foreign containers hold; and no container without this
//! instance's label is ever touched.

use std::collections::BTreeMap;
use std::path::Path;

use moor::apply::ApplyOptions;
use moor::engine::fake::FakeEngine;
use moor::manifest::{load_str, Desired};
use moor::plan::plan;
use moor::reconcile::{observe, reconcile_once};
use proptest::prelude::*;

/// The default instance, whose names are bare: the foreign containers below hold desired names.
const INSTANCE: &str = moor::names::DEFAULT_INSTANCE;
const NAMES: [&str; 4] = ["a", "b", "c", "d"];

#[derive(Debug, Clone)]
struct Svc {
    replicas: u32,
    env: u8,
    image: u8,
    auto_remove: bool,
    state: &'static str,
}

fn svc() -> impl Strategy<Value = Svc> {
    (1u32..=3, 0u8..3, 0u8..2, any::<bool>(), prop_oneof![Just("running"), Just("stopped"), Just("absent")]).prop_map(
        |(replicas, env, image, auto_remove, state)| Svc {
            replicas,
            env,
            image,
            // Docker deletes a stopped `--rm` container: `stopped` and `autoRemove` do not go
            // together, and the loader says so.
            auto_remove: auto_remove && state != "stopped",
            state,
        },
    )
}

/// Up to one service per name.
fn desired() -> impl Strategy<Value = BTreeMap<&'static str, Svc>> {
    proptest::collection::vec(proptest::option::of(svc()), NAMES.len())
        .prop_map(|v| NAMES.iter().zip(v).filter_map(|(n, s)| s.map(|s| (*n, s))).collect())
}

#[derive(Debug, Clone)]
enum Meddle {
    RmF(usize),
    Stop(usize),
    Crash(usize),
}

fn meddling() -> impl Strategy<Value = Vec<Meddle>> {
    proptest::collection::vec(
        prop_oneof![
            (0usize..8).prop_map(Meddle::RmF),
            (0usize..8).prop_map(Meddle::Stop),
            (0usize..8).prop_map(Meddle::Crash)
        ],
        0..4,
    )
}

/// Foreign containers: names that may collide with a service's (`a`, `b-2`) or not (`x`).
fn foreign() -> impl Strategy<Value = Vec<&'static str>> {
    proptest::sample::subsequence(vec!["a", "b-2", "x"], 0..=2)
}

fn yaml(services: &BTreeMap<&'static str, Svc>) -> String {
    services
        .iter()
        .map(|(name, s)| {
            format!(
                "apiVersion: moor/v1\nkind: Service\nmetadata: {{ name: {name} }}\nspec:\n  image: app:{}\n  state: {}\n  replicas: {}\n  autoRemove: {}\n  env: {{ V: \"{}\" }}\n",
                s.image, s.state, s.replicas, s.auto_remove, s.env
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The desired state of `services`; none at all is an empty, complete state (what `--allow-empty`
/// lets through: an empty file is a problem of its own).
fn desired_of(services: &BTreeMap<&'static str, Svc>) -> Desired {
    if services.is_empty() {
        return Desired { complete: true, ..Desired::default() };
    }
    let loaded = load_str(Path::new("/memory/m.yaml"), &yaml(services));
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    loaded.desired
}

async fn apply(engine: &FakeEngine, services: &BTreeMap<&'static str, Svc>) {
    reconcile_once(engine, &desired_of(services), &ApplyOptions::new(INSTANCE, 4)).await.expect("the fake answers");
}

fn check(
    before: BTreeMap<&'static str, Svc>,
    meddle: Vec<Meddle>,
    foreigners: Vec<&'static str>,
    after: BTreeMap<&'static str, Svc>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
    runtime.block_on(async {
        let engine = FakeEngine::new();
        engine.add_image("app:0", "sha256:0000");
        engine.add_image("app:1", "sha256:1111");
        apply(&engine, &before).await;
        let owned: Vec<String> = engine.containers().into_iter().map(|c| c.name).collect();
        for m in &meddle {
            let pick = |i: &usize| owned.get(*i % owned.len().max(1)).cloned();
            match m {
                Meddle::RmF(i) => pick(i).map(|n| engine.docker_rm_f(&n)),
                Meddle::Stop(i) => pick(i).map(|n| engine.docker_stop(&n)),
                Meddle::Crash(i) => pick(i).map(|n| engine.crash(&n, 1)),
            };
        }
        let mut theirs = BTreeMap::new();
        for name in &foreigners {
            if let Ok(id) = engine.create_foreign(name, BTreeMap::from([("owner".to_string(), "someone".to_string())])) {
                theirs.insert(id, *name);
            }
        }
        let foreign_before: Vec<_> = engine.containers().into_iter().filter(|c| theirs.contains_key(&c.id)).collect();

        apply(&engine, &after).await;

        let desired = desired_of(&after);
        let observed = observe(&engine, INSTANCE, &desired).await.unwrap();
        let again = plan(&desired, &observed);
        // What one apply cannot do: create a container under a name a foreign container holds, or
        // rename one to it (`moor apply` learns of it from Docker's 409, reports the service
        // failed and stops that service's remaining steps, such as later replicas).
        let held: Vec<&str> = theirs.values().copied().collect();
        for (name, sp) in &again.services {
            let explained = sp.actions.iter().any(|a| {
                let a = serde_json::to_value(a).unwrap();
                let wants = |field: &str| held.contains(&a[field].as_str().unwrap_or_default());
                (a["action"] == "create" && wants("name")) || (a["action"] == "rename" && wants("to"))
            });
            assert!(
                explained,
                "{name} still has actions after one apply and no foreign container explains them: {sp:?}\nbefore {before:?}\nmeddle {meddle:?}\nforeign {foreigners:?}\nafter {after:?}"
            );
        }
        assert!(again.networks.is_empty() && again.volumes.is_empty());
        let foreign_after: Vec<_> = engine.containers().into_iter().filter(|c| theirs.contains_key(&c.id)).collect();
        assert_eq!(
            foreign_before.iter().map(|c| (&c.id, &c.name, c.state)).collect::<Vec<_>>(),
            foreign_after.iter().map(|c| (&c.id, &c.name, c.state)).collect::<Vec<_>>(),
            "a foreign container was touched"
        );
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn one_apply_converges_and_never_touches_foreign_containers(
        before in desired(),
        meddle in meddling(),
        foreigners in foreign(),
        after in desired(),
    ) {
        check(before, meddle, foreigners, after);
    }
}
