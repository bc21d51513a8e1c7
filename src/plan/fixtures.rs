//! Test fixtures shared by the plan's snapshot tests and the CLI's plan-text snapshots: a
//! desired set from YAML, observed containers built from a spec, observed networks and volumes.

use std::collections::BTreeMap;
use std::path::Path;

use crate::labels;
use crate::manifest::{load_str, ContainerSpec, Desired};
use crate::observe::{Health, Observed, ObservedContainer, ObservedResource, RunState};
use crate::spec_hash::{last_applied_label, spec_hash};

/// The image ID every fixture container runs.
pub const IMAGE_ID: &str = "sha256:1111";

/// A Network `front` and a Volume `data`, to join to a service's YAML.
pub const FRONT_AND_DATA: &str = "---\napiVersion: moor/v1\nkind: Network\nmetadata: {name: front}\n---\napiVersion: moor/v1\nkind: Volume\nmetadata: {name: data}\n";

/// Loads `yaml`, which must be valid.
pub fn desired(yaml: &str) -> Desired {
    let loaded = load_str(Path::new("/m/test.yaml"), yaml);
    assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
    loaded.desired
}

/// A container of `svc`'s `replica` built from `spec`, as moor labels it (the slim label).
pub fn built_from(spec: &ContainerSpec, svc: &str, name: &str, replica: u32, state: RunState) -> ObservedContainer {
    let labels = BTreeMap::from([
        (labels::INSTANCE.to_string(), "test".to_string()),
        (labels::SERVICE.to_string(), svc.to_string()),
        (labels::REPLICA.to_string(), replica.to_string()),
        (labels::SPEC_HASH.to_string(), spec_hash(spec, IMAGE_ID)),
        (labels::LAST_APPLIED.to_string(), last_applied_label(spec)),
    ]);
    ObservedContainer {
        id: format!("id-{name}"),
        name: name.to_string(),
        state,
        health: Health::None,
        image: spec.image.clone(),
        image_id: IMAGE_ID.to_string(),
        created: 100,
        exit_code: None,
        labels,
        networks: attached(spec),
    }
}

pub fn observed(containers: Vec<ObservedContainer>) -> Observed {
    Observed { containers, ..Observed::default() }
}

/// An owned network or volume named `name`.
pub fn resource(name: &str) -> ObservedResource {
    ObservedResource { name: name.into(), labels: BTreeMap::new() }
}

/// The networks a container of `spec` in the default instance is on, as apply makes it.
pub fn attached(spec: &ContainerSpec) -> Vec<String> {
    let placed = crate::names::placed_spec(crate::names::DEFAULT_INSTANCE, &Desired::default(), spec);
    placed.networks
}
