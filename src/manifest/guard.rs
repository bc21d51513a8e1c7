//! The prune guard: a source that loads without a problem but holds no Service manifest is not
//! taken as "remove every service" unless the user said so (`--allow-empty`).
//!
//! An emptied folder (`rm m/*`), a folder moved away, or a checkout caught half-way look exactly
//! like a deliberate "run nothing": only the user can tell them apart, so the default is to keep
//! what runs (Argo CD's `allowEmpty` guard). Read problems (an unreadable, empty or dangling
//! file, a missing folder) are not this guard's business: they make the load incomplete, which
//! suspends prune on its own, with a located problem.
//!
//! Invariant: [`guard_empty`] only ever sets [`Desired::prune_guard`]; it never changes what is
//! desired, so the services, networks and volumes that are declared still converge.

use std::fmt;

use serde::Serialize;

use super::{Desired, Loaded};

/// Why prune is held back although every manifest loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum PruneGuard {
    /// The source (a folder, a git revision) declares no Service, and `--allow-empty` was not
    /// given. `source` names it as the user knows it.
    NoService { source: String },
    /// The source declares services but none is placed on this node (`spec.placement`), and
    /// `--allow-empty` was not given (see [`super::placement`]).
    NothingPlaced { node: String, labels: std::collections::BTreeMap<String, String>, declared: usize },
}

impl fmt::Display for PruneGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PruneGuard::NoService { source } => {
                write!(f, "no Service manifest in {source}: prune suspended (pass --allow-empty)")
            }
            PruneGuard::NothingPlaced { node, labels, declared } => {
                let labels = match labels.is_empty() {
                    true => "no labels".to_string(),
                    false => {
                        let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        format!("labels {}", pairs.join(", "))
                    }
                };
                write!(f, "no Service of the {declared} declared is placed on node {node} ({labels}): prune suspended (check placement, or pass --allow-empty)")
            }
        }
    }
}

/// Sets the prune guard of `loaded` when it loaded completely, declares no Service, and
/// `allow_empty` is false; clears it otherwise. `source` names the folder or revision.
pub fn guard_empty(loaded: &mut Loaded, source: &str, allow_empty: bool) {
    let d = &mut loaded.desired;
    let empty = d.complete && d.services.is_empty();
    d.prune_guard = (empty && !allow_empty).then(|| PruneGuard::NoService { source: source.to_string() });
}

impl PruneGuard {
    /// Does the guard hold against what runs? Nothing placed on a node holds prune back only
    /// while the node runs containers of the instance: with none, there is nothing to keep.
    pub fn holds(&self, observed: &crate::observe::Observed) -> bool {
        match self {
            PruneGuard::NoService { .. } => true,
            PruneGuard::NothingPlaced { .. } => !observed.containers.is_empty(),
        }
    }
}

impl Desired {
    /// True when prune may remove what no manifest declares: every manifest loaded, and no
    /// guard holds it back.
    pub fn may_prune(&self) -> bool {
        self.complete && self.prune_guard.is_none()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::manifest::load_str;

    const NETWORK: &str = "apiVersion: moor/v1\nkind: Network\nmetadata: {name: front}\n";
    const SERVICE: &str = "apiVersion: moor/v1\nkind: Service\nmetadata: {name: web}\nspec: {image: app:1}\n";

    #[test]
    fn no_service_is_guarded_unless_allowed() {
        let mut loaded = load_str(Path::new("m/net.yaml"), NETWORK);
        guard_empty(&mut loaded, "m", false);
        assert!(!loaded.desired.may_prune());
        assert_eq!(
            loaded.desired.prune_guard.as_ref().map(ToString::to_string).as_deref(),
            Some("no Service manifest in m: prune suspended (pass --allow-empty)")
        );
        assert_eq!(loaded.desired.networks.len(), 1, "what is declared is still desired");

        guard_empty(&mut loaded, "m", true);
        assert!(loaded.desired.may_prune());
    }

    #[test]
    fn a_service_or_an_incomplete_load_sets_no_guard() {
        let mut loaded = load_str(Path::new("m/web.yaml"), SERVICE);
        guard_empty(&mut loaded, "m", false);
        assert!(loaded.desired.prune_guard.is_none() && loaded.desired.may_prune());

        // A broken file: the load problem speaks, and prune is suspended by it.
        let mut broken = load_str(Path::new("m/web.yaml"), "apiVersion: moor/v1\nkind: Service\n");
        guard_empty(&mut broken, "m", false);
        assert!(broken.desired.prune_guard.is_none());
        assert!(!broken.desired.may_prune());
    }
}
