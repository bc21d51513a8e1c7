//! The plan on arbitrary desired and observed states: desired from the fuzzer's text through the
//! loader, observed built from the fuzzer's bytes (owned containers with any names, states,
//! labels, spec hashes and last-applied labels). The plan never panics and is deterministic.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use moor::observe::{Health, Observed, ObservedContainer, RunState};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    manifests: &'a str,
    containers: Vec<Container<'a>>,
}

#[derive(Debug, Arbitrary)]
struct Container<'a> {
    name: &'a str,
    service: &'a str,
    replica: &'a str,
    state: u8,
    health: u8,
    spec_hash: Option<&'a str>,
    last_applied: Option<&'a str>,
    image: &'a str,
    image_id: &'a str,
    created: i64,
}

fn observed(containers: &[Container]) -> Observed {
    use moor::labels;
    let states = [
        RunState::Created,
        RunState::Running,
        RunState::Paused,
        RunState::Restarting,
        RunState::Removing,
        RunState::Exited,
        RunState::Dead,
    ];
    let healths = [Health::None, Health::Starting, Health::Healthy, Health::Unhealthy];
    Observed {
        containers: containers
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut l = BTreeMap::from([
                    (labels::INSTANCE.to_string(), "fuzz".to_string()),
                    (labels::SERVICE.to_string(), c.service.to_string()),
                    (labels::REPLICA.to_string(), c.replica.to_string()),
                ]);
                if let Some(h) = c.spec_hash {
                    l.insert(labels::SPEC_HASH.to_string(), h.to_string());
                }
                if let Some(a) = c.last_applied {
                    l.insert(labels::LAST_APPLIED.to_string(), a.to_string());
                }
                ObservedContainer {
                    id: format!("id{i}"),
                    name: c.name.to_string(),
                    state: states[usize::from(c.state) % states.len()],
                    health: healths[usize::from(c.health) % healths.len()],
                    image: c.image.to_string(),
                    image_id: c.image_id.to_string(),
                    created: c.created,
                    exit_code: None,
                    labels: l,
                    networks: Vec::new(),
                }
            })
            .collect(),
        instance: "fuzz".to_string(),
        ..Observed::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary(&mut Unstructured::new(data)) else { return };
    let loaded = moor::manifest::load_str(std::path::Path::new("/fuzz/m.yaml"), input.manifests);
    let observed = observed(&input.containers);
    let plan = moor::plan::plan(&loaded.desired, &observed);
    let again = moor::plan::plan(&loaded.desired, &observed);
    assert_eq!(format!("{plan:?}"), format!("{again:?}"), "the plan is not deterministic");
});
