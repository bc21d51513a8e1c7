//! Placement: the nodes a Service runs on (`spec.placement`), and the node-scoped view of the
//! desired state that one agent works from ([`place`]).
//!
//! Invariants:
//! - A service without `placement` runs on every node (and on a single host, as before nodes).
//!   With it, every given condition must hold: the node's name is one of `nodes` (when given),
//!   and the node has each `nodeSelector` label with that value.
//! - [`place`] only takes out what is placed elsewhere: a service not placed on this node is, for
//!   this agent, as if undeclared (its containers of this node are pruned, under the prune
//!   rules: an incomplete load prunes nothing). Of a placed service only its dependencies on
//!   services placed elsewhere are dropped (not waited for: another node's containers are out
//!   of sight); its spec is never changed.
//! - A network or volume that only services placed elsewhere use is neither created nor pruned
//!   on this node ([`NodeScope`]): a volume is never removed because a service moved away.
//! - A source that declares services of which none is placed on this node holds prune back
//!   ([`PruneGuard::NothingPlaced`]) unless `--allow-empty`: a `nodeSelector` typo must not read
//!   as "remove everything here". The plan lets it hold only while this node runs containers.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::convert::Checker;
use super::problem::FieldPath;
use super::{Desired, Loaded, PruneGuard};
use crate::manifest::model::Mount;
use crate::node::{is_label_key, is_label_value, is_subdomain, Node};

/// Where the service runs, when not on every node: all given conditions must hold.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawPlacement {
    /// The names of the nodes it runs on (`moor run --node NAME`, by default the host name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<String>>,
    /// Labels the node must have, each with this value (`moor run --node-label KEY=VALUE`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
}

/// A converted `placement`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// `None`: any node name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<BTreeSet<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
}

impl Placement {
    /// Does every given condition hold on `node`?
    pub fn admits(&self, node: &Node) -> bool {
        self.nodes.as_ref().is_none_or(|nodes| nodes.contains(&node.name))
            && self.node_selector.iter().all(|(k, v)| node.labels.get(k) == Some(v))
    }
}

/// Converts `spec.placement`, reporting each bad name, key or value at its field.
pub(super) fn convert(raw: Option<&RawPlacement>, sp: &FieldPath, c: &mut Checker) -> Option<Placement> {
    let raw = raw?;
    let path = sp.key("placement");
    let nodes = raw.nodes.as_ref().map(|nodes| {
        if nodes.is_empty() {
            c.report(path.key("nodes"), "an empty list places the service on no node; use state: absent, or leave nodes out to run it on every node");
        }
        for (i, name) in nodes.iter().enumerate() {
            if !is_subdomain(name) {
                c.report(path.key("nodes").index(i), format!("node name {name:?} is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253)"));
            }
        }
        nodes.iter().cloned().collect()
    });
    for (key, value) in &raw.node_selector {
        if !is_label_key(key) {
            c.report_key(
                path.key("nodeSelector").key(key),
                format!("{key:?} is not a label key ([prefix/]name: letters, digits, '-', '_', '.', at most 63)"),
            );
        }
        if !is_label_value(value) {
            c.report(
                path.key("nodeSelector").key(key),
                format!("{value:?} is not a label value (letters, digits, '-', '_', '.', at most 63)"),
            );
        }
    }
    Some(Placement { nodes, node_selector: raw.node_selector.clone() })
}

/// The node a desired state was placed for ([`place`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeScope {
    /// The node's name: what `moor.node` says on the containers this agent makes, and the only
    /// value (besides none) of the containers it observes.
    pub name: String,
    /// Declared networks that only services placed elsewhere use: not created here, not pruned.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub kept_networks: BTreeSet<String>,
    /// Declared volumes that only services placed elsewhere use: not created here, not pruned.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub kept_volumes: BTreeSet<String>,
    /// Services declared but placed on other nodes: a container of one made before nodes (no
    /// `moor.node`) is theirs to adopt, not this node's to prune.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub placed_elsewhere: BTreeSet<String>,
}

/// Narrows `loaded` to what is placed on `node` (see the module's invariants). Call it after
/// the empty-source guard; services refused by the policy are narrowed the same way.
pub fn place(loaded: &mut Loaded, node: &Node, allow_empty: bool) {
    let d = &mut loaded.desired;
    let declared = d.services.len() + d.refused.len();
    let here = |p: &Option<Placement>| p.as_ref().is_none_or(|p| p.admits(node));
    let elsewhere: Vec<super::Service> = {
        let (kept, gone): (BTreeMap<_, _>, BTreeMap<_, _>) =
            std::mem::take(&mut d.services).into_iter().partition(|(_, s)| here(&s.placement));
        d.services = kept;
        let (kept_refused, gone_refused): (BTreeMap<_, _>, BTreeMap<_, _>) =
            std::mem::take(&mut d.refused).into_iter().partition(|(_, r)| here(&r.service.placement));
        d.refused = kept_refused;
        gone.into_values().chain(gone_refused.into_values().map(|r| r.service)).collect()
    };
    // One agent cannot see another node's containers: a dependency placed only elsewhere is not
    // waited for (as compose on a swarm ignores `depends_on`), rather than failing forever.
    let gone: BTreeSet<&str> = elsewhere.iter().map(|s| s.name.as_str()).collect();
    // A join (`service:NAME`) needs that container on this node: a service joining one placed
    // only elsewhere cannot run here. It is left out as a problem at its spec, and nothing is
    // pruned while the problem stands (its container here, if any, stays).
    let mut problems = Vec::new();
    d.services.retain(|name, s| {
        let Some(target) = crate::names::join_targets(&s.container).into_iter().find(|t| gone.contains(t.as_str()))
        else {
            return true;
        };
        let path = FieldPath::root().key("spec");
        let (file, (line, column)) = match &s.source {
            Some(source) => (source.file.clone(), source.locate(&path)),
            None => (Default::default(), (None, None)),
        };
        let message = format!(
            "{name} joins service:{target}, which is not placed on node {}: a join needs both on one node (spec.placement)",
            node.name
        );
        problems.push(super::Problem { file, line, column, field: path.to_string(), message });
        false
    });
    if !problems.is_empty() {
        d.complete = false;
    }
    for s in d.services.values_mut().chain(d.refused.values_mut().map(|r| &mut r.service)) {
        s.depends_on.retain(|dep, _| !gone.contains(dep.as_str()));
        s.restart_with.retain(|dep| !gone.contains(dep.as_str()));
    }
    let (here_networks, here_volumes) = uses(d.services.values().chain(d.refused.values().map(|r| &r.service)));
    let (there_networks, there_volumes) = uses(elsewhere.iter());
    let kept_networks: BTreeSet<String> = there_networks.difference(&here_networks).cloned().collect();
    let kept_volumes: BTreeSet<String> = there_volumes.difference(&here_volumes).cloned().collect();
    d.networks.retain(|name, _| !kept_networks.contains(name));
    d.volumes.retain(|name, _| !kept_volumes.contains(name));
    let placed_elsewhere = gone.iter().map(|s| s.to_string()).collect();
    d.node = Some(NodeScope { name: node.name.clone(), kept_networks, kept_volumes, placed_elsewhere });
    let none_here = d.complete && declared > 0 && d.services.is_empty() && d.refused.is_empty();
    if none_here && !allow_empty && d.prune_guard.is_none() {
        d.prune_guard =
            Some(PruneGuard::NothingPlaced { node: node.name.clone(), labels: node.labels.clone(), declared });
    }
    loaded.problems.extend(problems);
}

/// The networks and volumes `services` use.
fn uses<'a>(services: impl Iterator<Item = &'a super::Service>) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut networks, mut volumes) = (BTreeSet::new(), BTreeSet::new());
    for s in services {
        networks.extend(s.container.networks.iter().cloned());
        for m in &s.container.mounts {
            if let Mount::Volume { source, .. } = m {
                volumes.insert(source.clone());
            }
        }
    }
    (networks, volumes)
}

impl Desired {
    /// The node's name this desired state was placed for, when it was.
    pub fn node_name(&self) -> Option<&str> {
        self.node.as_ref().map(|n| n.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::manifest::load_texts;

    fn node(name: &str, labels: &[&str]) -> Node {
        Node::new(Some(name), &labels.iter().map(|l| l.to_string()).collect::<Vec<_>>()).unwrap()
    }

    const FOLDER: &[(&str, &str)] = &[
        (
            "/m/edge.yaml",
            "apiVersion: moor/v1\nkind: Service\nmetadata: {name: edge}\nspec:\n  image: app:1\n  placement: {nodeSelector: {role: edge}}\n  volumes: [{type: volume, source: data, target: /d}]\n",
        ),
        (
            "/m/pinned.yaml",
            "apiVersion: moor/v1\nkind: Service\nmetadata: {name: pinned}\nspec:\n  image: app:1\n  placement: {nodes: [a], nodeSelector: {role: edge}}\n",
        ),
        (
            "/m/front.yaml",
            "apiVersion: moor/v1\nkind: Service\nmetadata: {name: front}\nspec:\n  image: app:1\n  dependsOn: [pinned, all]\n  placement: {nodes: [b, c]}\n",
        ),
        ("/m/all.yaml", "apiVersion: moor/v1\nkind: Service\nmetadata: {name: all}\nspec: {image: app:1}\n"),
        ("/m/data.yaml", "apiVersion: moor/v1\nkind: Volume\nmetadata: {name: data}\n"),
    ];

    fn loaded() -> Loaded {
        let texts: Vec<(std::path::PathBuf, String)> =
            FOLDER.iter().map(|(p, t)| (Path::new(p).to_path_buf(), t.to_string())).collect();
        let loaded = load_texts(&texts);
        assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
        loaded
    }

    fn placed(n: &Node) -> (Vec<String>, Desired) {
        let mut l = loaded();
        place(&mut l, n, false);
        (l.desired.services.keys().cloned().collect(), l.desired)
    }

    #[test]
    fn every_given_condition_must_hold() {
        assert_eq!(placed(&node("a", &["role=edge"])).0, ["all", "edge", "pinned"]);
        let (names, b) = placed(&node("b", &["role=edge"]));
        assert_eq!(names, ["all", "edge", "front"]);
        let deps: Vec<&String> = b.services["front"].depends_on.keys().collect();
        assert_eq!(deps, ["all"], "a dependency placed elsewhere is not waited for");
        assert_eq!(placed(&node("a", &[])).0, ["all"]);
        assert_eq!(placed(&node("c", &[])).0, ["all", "front"]);
        assert_eq!(placed(&node("a", &["role=core"])).0, ["all"]);
    }

    #[test]
    fn a_volume_only_services_elsewhere_use_is_kept_neither_created_nor_pruned() {
        let (_, here) = placed(&node("b", &["role=edge"]));
        assert!(here.volumes.contains_key("data"));
        assert!(here.node.as_ref().unwrap().kept_volumes.is_empty());
        let (_, there) = placed(&node("c", &[]));
        assert!(!there.volumes.contains_key("data"), "not created where no service uses it");
        assert_eq!(there.node.unwrap().kept_volumes, BTreeSet::from(["data".to_string()]));
    }

    #[test]
    fn nothing_placed_here_is_guarded_unless_allowed() {
        let mut l = loaded();
        l.desired.services.remove("all");
        let mut allowed = loaded();
        allowed.desired.services.remove("all");
        let n = node("d", &["role=core", "zone=eu"]);
        place(&mut l, &n, false);
        assert!(l.desired.services.is_empty());
        assert_eq!(
            l.desired.prune_guard.as_ref().map(ToString::to_string).as_deref(),
            Some("no Service of the 3 declared is placed on node d (labels role=core, zone=eu): prune suspended (check placement, or pass --allow-empty)")
        );
        place(&mut allowed, &n, true);
        assert!(allowed.desired.prune_guard.is_none());

        // The plan lets the guard hold only while this node runs something to keep.
        let idle = crate::plan::plan(&l.desired, &crate::observe::Observed::default());
        assert!(!idle.prune_suspended && idle.prune_guard.is_none(), "{idle:#?}");
        let mut running = crate::observe::Observed::default();
        running.containers.push(running_container("edge"));
        let held = crate::plan::plan(&l.desired, &running);
        assert!(held.prune_suspended && held.services.is_empty(), "{held:#?}");
        assert_eq!(held.prune_held, ["container edge"]);
    }

    /// A running container of service `name` (no node label: made before nodes).
    fn running_container(name: &str) -> crate::observe::ObservedContainer {
        crate::observe::ObservedContainer {
            id: "c1".into(),
            name: name.into(),
            state: crate::observe::RunState::Running,
            health: crate::observe::Health::None,
            image: "app:1".into(),
            image_id: "sha256:a".into(),
            created: 0,
            exit_code: None,
            labels: [(crate::labels::SERVICE.to_string(), name.to_string())].into(),
            networks: Vec::new(),
        }
    }

    /// `moor plan --node a` is how a pull request is reviewed per node: a service moved to
    /// another node is removed here for that reason, not because "no manifest declares" it.
    #[test]
    fn a_service_placed_elsewhere_is_removed_saying_so() {
        let mut l = loaded();
        place(&mut l, &node("a", &[]), false);
        let mut observed = crate::observe::Observed::default();
        observed.containers.push(running_container("front"));
        let plan = crate::plan::plan(&l.desired, &observed);
        let reasons: Vec<String> = plan.services["front"]
            .actions
            .iter()
            .filter_map(|a| match a {
                crate::plan::Action::Remove { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(reasons, ["placed on other nodes (spec.placement), not on a"], "{plan:#?}");
    }

    /// A join (`service:db`) needs db's container on this node: a service joining one placed
    /// only elsewhere cannot run here. It is a located problem (nothing pruned while it
    /// stands), never a create that Docker refuses with "No such container".
    #[test]
    fn a_join_of_a_service_placed_elsewhere_is_a_located_problem() {
        let texts = [
            ("/m/db.yaml", "apiVersion: moor/v1\nkind: Service\nmetadata: {name: db}\nspec: {image: app:1, placement: {nodes: [b]}}\n"),
            ("/m/web.yaml", "apiVersion: moor/v1\nkind: Service\nmetadata: {name: web}\nspec:\n  image: app:1\n  networkMode: service:db\n"),
            ("/m/all.yaml", "apiVersion: moor/v1\nkind: Service\nmetadata: {name: all}\nspec: {image: app:1}\n"),
        ];
        let texts: Vec<_> = texts.iter().map(|(p, t)| (Path::new(p).to_path_buf(), t.to_string())).collect();
        let mut on_b = load_texts(&texts);
        assert!(on_b.problems.is_empty(), "{:?}", on_b.problems);
        place(&mut on_b, &node("b", &[]), false);
        assert!(on_b.problems.is_empty() && on_b.desired.services.contains_key("web"), "{:?}", on_b.problems);
        let mut on_a = load_texts(&texts);
        place(&mut on_a, &node("a", &[]), false);
        let names: Vec<&String> = on_a.desired.services.keys().collect();
        assert_eq!(names, ["all"]);
        assert!(!on_a.desired.complete, "nothing is pruned while the problem stands");
        let problems: Vec<String> = on_a.problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("/m/web.yaml:"), "{problems:?}");
        assert!(problems[0].contains("service:db") && problems[0].contains("node a"), "{problems:?}");
    }

    #[test]
    fn bad_names_keys_and_values_are_located() {
        let text = "apiVersion: moor/v1\nkind: Service\nmetadata: {name: web}\nspec:\n  image: app:1\n  placement:\n    nodes: [Edge_1]\n    nodeSelector: {\"-x\": ok, role: \"a b\"}\n";
        let l = load_texts(&[(Path::new("/m/web.yaml").to_path_buf(), text.to_string())]);
        let problems: Vec<String> = l.problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(
            problems[0].starts_with("/m/web.yaml:7:13: spec.placement.nodes[0]: node name \"Edge_1\""),
            "{problems:#?}"
        );
        assert!(problems.iter().any(|p| p.contains("\"-x\" is not a label key")), "{problems:#?}");
        assert!(problems.iter().any(|p| p.contains("\"a b\" is not a label value")), "{problems:#?}");
        let empty = text.replace("[Edge_1]", "[]").replace("{\"-x\": ok, role: \"a b\"}", "{}");
        let l = load_texts(&[(Path::new("/m/web.yaml").to_path_buf(), empty)]);
        assert_eq!(l.problems.len(), 1, "{:?}", l.problems);
    }

    #[test]
    fn a_network_another_nodes_containers_are_on_is_never_pruned_here() {
        let texts = [
            (
                "/m/web.yaml",
                "apiVersion: moor/v1\nkind: Service\nmetadata: {name: web}\nspec: {image: app:1, networks: [front]}\n",
            ),
            ("/m/front.yaml", "apiVersion: moor/v1\nkind: Network\nmetadata: {name: front}\n"),
        ];
        let texts: Vec<_> = texts.iter().map(|(p, t)| (Path::new(p).to_path_buf(), t.to_string())).collect();
        let mut l = load_texts(&texts);
        place(&mut l, &node("a", &[]), false);
        let resource = |name: &str| crate::observe::ObservedResource { name: name.into(), labels: BTreeMap::new() };
        let mut observed = crate::observe::Observed {
            networks: Some(vec![resource("front"), resource("default_default")]),
            ..Default::default()
        };
        let alone = crate::plan::plan(&l.desired, &observed);
        assert_eq!(alone.networks, [crate::plan::ResourceAction::Remove { name: "default_default".into() }]);
        observed.other_nodes_networks.insert("default_default".into());
        let shared = crate::plan::plan(&l.desired, &observed);
        assert!(shared.networks.is_empty(), "{shared:#?}");
    }
}
