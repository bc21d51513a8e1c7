//! The plan: `plan(&Desired, &Observed) -> Plan`, pure data.
//!
//! Invariants:
//! - No I/O, no async, no clock, no randomness: the same inputs give the same plan, so every
//!   convergence rule is snapshot-tested here.
//! - Level-based: the plan asks "what must change so that the observed state is the desired
//!   one?", never "did my last call work?". A container Docker already removed is simply absent.
//! - Only owned containers (those in [`Observed`]) are ever acted on. A name held by another
//!   owner is a conflict, reported and never touched.
//! - Prune (removing what no manifest asks for) happens only when the load was complete and no
//!   prune guard holds it back against what runs ([`crate::manifest::PruneGuard::holds`]): an
//!   empty source removes nothing unless `--allow-empty` said so, nor does a source that places
//!   nothing on a node that runs containers.
//! - On a node ([`Desired::node`]), networks and volumes only services placed elsewhere use, and
//!   networks other nodes' containers are on ([`Observed::other_nodes_networks`]), are in use:
//!   never pruned here.
//! - A service the host policy refuses ([`Desired::refused`]) gets no action at all: it is not
//!   created, replaced, started or stopped, and, being declared, never pruned. The plan lists
//!   it in [`Plan::refused`].
//! - A job (`mode: job`) runs to completion once: its container is started when it was never
//!   started or failed (exit code not 0), left alone when it runs or exited 0, and created again
//!   only when its spec changed, or when its container is gone and no record of a successful run
//!   under this spec ([`Observed::jobs`]) says it completed.
//! - Any number of owned containers per service is accepted (crash leftovers): the best one is
//!   kept, the rest removed, and the survivor renamed to its proper name.
//! - Proper names come from [`crate::names`] for the observed instance. A kept container of a
//!   service that joins the instance's default network and is not on it is connected
//!   ([`Action::Connect`]), never recreated: the default network is not part of the spec hash.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::digest::short;
use crate::manifest::model::State;
use crate::manifest::{Desired, Problem, PruneGuard, Service};
use crate::names;
use crate::observe::{Observed, ObservedContainer, ObservedResource, RunState};
use crate::spec_hash::hash_canonical;

mod diff;
#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod jobs_tests;
mod joins;
#[cfg(test)]
mod tests;

pub use diff::{changes, fields, Change, Secret, Shown};

/// A container an action works on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub id: String,
    pub name: String,
}

impl From<&ObservedContainer> for Target {
    fn from(c: &ObservedContainer) -> Self {
        Target { id: c.id.clone(), name: c.name.clone() }
    }
}

/// One step on one container. A service's actions run in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Action {
    /// Create the container `name` for `replica`, and start it when `start`.
    Create {
        replica: u32,
        name: String,
        start: bool,
    },
    /// Replace `old` with a new container built from the desired spec (see `apply::replace`).
    Replace {
        replica: u32,
        name: String,
        old: Target,
        start: bool,
        changes: Vec<Change>,
    },
    Start {
        container: Target,
    },
    Stop {
        container: Target,
    },
    Remove {
        container: Target,
        reason: String,
    },
    /// Docker is already removing it; wait until it is gone.
    WaitRemoved {
        container: Target,
    },
    Rename {
        container: Target,
        to: String,
    },
    /// Attach the container to `network` with its service name as alias: a container made
    /// before the instance's default network existed joins it without being recreated.
    Connect {
        container: Target,
        network: String,
    },
}

/// The kind of an [`Action`]: what metrics count and logs name, and what decisions compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    Create,
    Replace,
    Start,
    Stop,
    Remove,
    WaitRemoved,
    Rename,
    Connect,
}

impl ActionKind {
    /// The short verb of logs and of the `moor_actions_total{kind}` label.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Create => "create",
            ActionKind::Replace => "replace",
            ActionKind::Start => "start",
            ActionKind::Stop => "stop",
            ActionKind::Remove => "remove",
            ActionKind::WaitRemoved => "wait-removed",
            ActionKind::Rename => "rename",
            ActionKind::Connect => "connect",
        }
    }

    /// Actions that take a container away: they need no dependency to be up first.
    pub fn takes_away(self) -> bool {
        matches!(self, ActionKind::Remove | ActionKind::WaitRemoved)
    }
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Create { .. } => ActionKind::Create,
            Action::Replace { .. } => ActionKind::Replace,
            Action::Start { .. } => ActionKind::Start,
            Action::Stop { .. } => ActionKind::Stop,
            Action::Remove { .. } => ActionKind::Remove,
            Action::WaitRemoved { .. } => ActionKind::WaitRemoved,
            Action::Rename { .. } => ActionKind::Rename,
            Action::Connect { .. } => ActionKind::Connect,
        }
    }
}

/// A desired container name held by a container this instance does not own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NameConflict {
    pub name: String,
    /// Who holds it, such as `container 0123456789ab, which moor does not own`.
    pub holder: String,
}

impl std::fmt::Display for NameConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "container name {:?} is held by {}; moor never touches it", self.name, self.holder)
    }
}

/// What one service (or one orphaned service label) needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePlan {
    pub actions: Vec<Action>,
    /// Names the service needs that containers moor does not own hold: it cannot converge
    /// without help.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<NameConflict>,
    /// The service has no manifest: these actions are prune.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub orphan: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum ResourceAction {
    Create { name: String },
    Remove { name: String },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Keyed by service name. Services that need nothing are left out.
    pub services: BTreeMap<String, ServicePlan>,
    /// Created before any service is touched, removed after.
    pub networks: Vec<ResourceAction>,
    pub volumes: Vec<ResourceAction>,
    /// True when loading was incomplete, or a prune guard holds: nothing is pruned.
    pub prune_suspended: bool,
    /// The guard that suspends prune although every manifest loaded (no Service manifest
    /// without `--allow-empty`); `None` when prune is suspended only by load problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prune_guard: Option<PruneGuard>,
    /// What would have been pruned had loading been complete (containers, networks, volumes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prune_held: Vec<String>,
    /// Services the host policy refuses, with why: nothing is done to them (see
    /// [`Desired::refused`]).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub refused: BTreeMap<String, Vec<Problem>>,
    /// Those of `refused` refused for the daemon's Docker API rather than by the host policy.
    #[serde(skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub refused_by_api: std::collections::BTreeSet<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
            && self.volumes.is_empty()
            && self.services.values().all(|s| s.actions.is_empty() && s.conflicts.is_empty())
    }

    pub fn action_count(&self) -> usize {
        self.networks.len() + self.volumes.len() + self.services.values().map(|s| s.actions.len()).sum::<usize>()
    }
}

/// All of a service's name conflicts on one line.
pub fn conflicts_text(conflicts: &[NameConflict]) -> String {
    conflicts.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// Is `c` built from the desired spec? Its hash label must equal the hash of the desired spec
/// (as canonical JSON) and the image the container runs, or the hash of the service's
/// `legacy_canonical`: what the release before secrets made of the same manifest (a
/// secret-looking plain `env` value it hashed in plain text, now sealed), so that upgrading
/// replaces nothing.
fn is_current(service: &Service, c: &ObservedContainer) -> bool {
    let Some(hash) = c.spec_hash() else {
        return false;
    };
    let matches = |canonical: &str| hash == hash_canonical(canonical, &c.image_id);
    matches(&service.canonical) || service.legacy_canonical.as_deref().is_some_and(matches)
}

/// Computes what must change so that `observed` becomes `desired`.
pub fn plan(desired: &Desired, observed: &Observed) -> Plan {
    // A guard that does not hold against what runs (nothing placed on a node that runs nothing)
    // keeps nothing back.
    let guard = desired.prune_guard.clone().filter(|g| g.holds(observed));
    let mut out = Plan { prune_suspended: !desired.complete || guard.is_some(), prune_guard: guard, ..Plan::default() };
    let by_service = observed.by_service();
    let default_network = names::default_network(&observed.instance);
    let place = Placement { instance: &observed.instance, default_network: &default_network };

    for service in desired.services.values() {
        let owned = by_service.get(service.name.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        let sp = plan_service(service, &place, owned, observed);
        if !sp.actions.is_empty() || !sp.conflicts.is_empty() {
            out.services.insert(service.name.clone(), sp);
        }
    }

    restart_with_dependencies(desired, &by_service, &mut out);
    joins::replace_joiners(desired, &by_service, &observed.instance, &mut out);

    // A refused service is declared: its containers are left exactly as they are.
    out.refused = desired.refused.iter().map(|(name, r)| (name.clone(), r.problems.clone())).collect();
    out.refused_by_api = desired
        .refused
        .iter()
        .filter(|(_, r)| r.cause == crate::manifest::RefusalCause::DockerApi)
        .map(|(name, _)| name.clone())
        .collect();
    for (name, owned) in &by_service {
        if desired.declares(name) {
            continue;
        }
        let mut sorted = owned.clone();
        sorted.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        if out.prune_suspended {
            out.prune_held.extend(sorted.iter().map(|c| format!("container {}", c.name)));
            continue;
        }
        // Declared but placed on other nodes: what a per-node review must read as such.
        let reason = match &desired.node {
            Some(node) if node.placed_elsewhere.contains(*name) => {
                format!("placed on other nodes (spec.placement), not on {}", node.name)
            }
            _ => "no manifest declares this service".to_string(),
        };
        let actions = sorted.iter().map(|c| remove_or_wait(c, &reason)).collect();
        let key = if name.is_empty() { "(unlabelled)" } else { name };
        out.services.insert(key.to_string(), ServicePlan { actions, conflicts: Vec::new(), orphan: true });
    }

    let declared = || desired.services.values().chain(desired.refused.values().map(|r| &r.service));
    let mut used_networks: BTreeSet<&str> =
        declared().flat_map(|s| s.container.networks.iter().map(String::as_str)).collect();
    // The default network is desired while a service joins it. Not listed (no Network
    // manifest), it is known to exist when a container is on it: no create call then, so a
    // no-op apply stays one list call.
    let default_used = names::default_network_used(desired);
    let default_exists =
        observed.networks.is_none() && observed.containers.iter().any(|c| c.networks.contains(&default_network));
    if default_used {
        used_networks.insert(&default_network);
    }
    // Declared, but used only by services placed on other nodes: kept as they are here.
    let kept = desired.node.as_ref();
    used_networks.extend(kept.into_iter().flat_map(|n| n.kept_networks.iter().map(String::as_str)));
    // Another node's agent on this daemon has containers on these: in use, never pruned here.
    used_networks.extend(observed.other_nodes_networks.iter().map(String::as_str));
    let mut desired_networks: BTreeSet<&String> = desired.networks.keys().collect();
    if names::default_network_wanted(desired) && !default_exists {
        desired_networks.insert(&default_network);
    }
    let used_volumes: BTreeSet<&str> = declared()
        .flat_map(|s| s.container.mounts.iter())
        .filter_map(|m| match m {
            crate::manifest::model::Mount::Volume { source, .. } => Some(source.as_str()),
            _ => None,
        })
        .chain(kept.into_iter().flat_map(|n| n.kept_volumes.iter().map(String::as_str)))
        .collect();
    out.networks = plan_resources(
        desired_networks.into_iter(),
        observed.networks.as_deref(),
        &used_networks,
        "network",
        &mut out.prune_held,
        out.prune_suspended,
    );
    out.volumes = plan_resources(
        desired.volumes.keys(),
        observed.volumes.as_deref(),
        &used_volumes,
        "volume",
        &mut out.prune_held,
        out.prune_suspended,
    );
    out
}

/// `dependsOn: { db: { restart: true } }` (compose's `restart: true`): a running service that
/// needs nothing itself is stopped and started again after a dependency gets a container
/// created, replaced or started in this plan (the start waits for the dependency, as any does).
fn restart_with_dependencies(desired: &Desired, by_service: &BTreeMap<&str, Vec<&ObservedContainer>>, out: &mut Plan) {
    let brings_up = |sp: &ServicePlan| {
        sp.actions.iter().any(|a| matches!(a.kind(), ActionKind::Create | ActionKind::Replace | ActionKind::Start))
    };
    for service in desired.services.values().filter(|s| s.state == State::Running && !s.is_job()) {
        let moved = service.restart_with.iter().any(|d| out.services.get(d).is_some_and(brings_up));
        if !moved || out.services.contains_key(&service.name) {
            continue; // nothing moved, or it is being converged anyway
        }
        let mut running: Vec<&ObservedContainer> = by_service
            .get(service.name.as_str())
            .map(|cs| cs.iter().copied().filter(|c| c.state.is_up()).collect())
            .unwrap_or_default();
        running.sort_by(|a, b| a.name.cmp(&b.name));
        let actions: Vec<Action> = running
            .iter()
            .flat_map(|c| [Action::Stop { container: (*c).into() }, Action::Start { container: (*c).into() }])
            .collect();
        if !actions.is_empty() {
            out.services.insert(service.name.clone(), ServicePlan { actions, ..ServicePlan::default() });
        }
    }
}

fn remove_or_wait(c: &ObservedContainer, reason: &str) -> Action {
    if c.state == RunState::Removing {
        Action::WaitRemoved { container: c.into() }
    } else {
        Action::Remove { container: c.into(), reason: reason.to_string() }
    }
}

/// What names a service's containers, and the network a service without networks joins.
struct Placement<'a> {
    instance: &'a str,
    default_network: &'a str,
}

fn plan_service(
    service: &Service,
    place: &Placement<'_>,
    owned: &[&ObservedContainer],
    observed: &Observed,
) -> ServicePlan {
    let (conflicts, pinned) = (&observed.conflicts, &observed.pinned);
    let mut sp = ServicePlan::default();
    let mut owned: Vec<&ObservedContainer> = owned.to_vec();
    owned.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));

    if service.state == State::Absent {
        sp.actions = owned.iter().map(|c| remove_or_wait(c, "state: absent")).collect();
        return sp;
    }

    let names = names::container_names(place.instance, service);
    // Containers on their way out are absent already; a dead one still needs its removal.
    for c in owned.iter().filter(|c| c.state.is_going()) {
        sp.actions.push(remove_or_wait(c, "dead"));
    }
    let live: Vec<&ObservedContainer> = owned.iter().copied().filter(|c| !c.state.is_going()).collect();
    for c in live.iter().filter(|c| c.replica() == 0 || c.replica() as usize > names.len()) {
        sp.actions.push(Action::Remove { container: (*c).into(), reason: "replica no longer desired".into() });
    }

    let start = service.state == State::Running;
    debug_assert_eq!(service.canonical, service.container.canonical_json(), "stale canonical JSON of {}", service.name);
    let pinned = pinned.get(&service.name);
    for (i, name) in names.iter().enumerate() {
        let replica = i as u32 + 1;
        let mut candidates: Vec<(bool, &ObservedContainer)> = live
            .iter()
            .filter(|c| c.replica() == replica)
            .map(|c| (is_current(service, c) && pinned.is_none_or(|id| *id == c.image_id), *c))
            .collect();
        // Best first: built from the desired spec, then up, then already named right, then newest.
        candidates.sort_by_key(|(current, c)| {
            std::cmp::Reverse((*current, c.state.is_up(), &c.name == name, c.created, c.id.clone()))
        });
        // An interrupted replacement (moor stopped between creating the new container and its
        // health gate): the new one exists but is not up while the old one still runs. Taking
        // the new one as it is would start it without the gate and remove the healthy old one;
        // it is removed instead, and the old one replaced again, health gate and rollback
        // included.
        if start && !service.is_job() {
            if let [(true, new), ..] = candidates.as_slice() {
                if !new.state.is_up() {
                    if let Some(at) = candidates.iter().position(|(current, c)| !current && c.state.is_up()) {
                        let new = *new;
                        let reason = "an interrupted replacement, made again through the health gate".into();
                        sp.actions.push(Action::Remove { container: new.into(), reason });
                        let old = candidates.remove(at);
                        candidates.remove(0);
                        candidates.insert(0, old);
                    }
                }
            }
        }
        let mut rest = candidates.iter();
        let best = rest.next().copied();
        for (_, extra) in rest {
            sp.actions.push(Action::Remove { container: (*extra).into(), reason: "duplicate of this replica".into() });
        }
        let holds_name = best.is_some_and(|(_, b)| &b.name == name);
        if let (false, Some(holder)) = (holds_name, conflicts.get(name)) {
            sp.conflicts.push(NameConflict { name: name.clone(), holder: holder.clone() });
            continue;
        }
        let Some((current, best)) = best else {
            // A job whose container is gone (autoRemove) but whose record says it completed
            // under this spec and image: it is done, and is not run again.
            let completed = observed.jobs.get(&service.name).is_some_and(|r| {
                r.succeeded()
                    && r.spec_hash == hash_canonical(&service.canonical, &r.image_id)
                    && pinned.is_none_or(|id| *id == r.image_id)
            });
            if !(service.is_job() && completed) {
                sp.actions.push(Action::Create { replica, name: name.clone(), start });
            }
            continue;
        };
        if !current {
            let mut changes = changes(best.last_applied(), &service.container);
            if let Some(id) = pinned.filter(|id| **id != best.image_id) {
                // The spec may be the same: the image behind its tag changed.
                changes.push(Change {
                    field: "imageId".into(),
                    from: Some(short(&best.image_id)),
                    to: Some(short(id)),
                    secret: None,
                });
            }
            if changes.is_empty() {
                changes.push(Change::spec_hash_only());
            }
            sp.actions.push(Action::Replace { replica, name: name.clone(), old: best.into(), start, changes });
            continue;
        }
        if !holds_name {
            sp.actions.push(Action::Rename { container: best.into(), to: name.clone() });
        }
        if !service.is_job()
            && names::joins_default_network(&service.container)
            && !best.networks.iter().any(|n| n == place.default_network)
        {
            sp.actions.push(Action::Connect { container: best.into(), network: place.default_network.to_string() });
        }
        if service.is_job() {
            // A job runs to completion once: one that runs goes on, one that exited 0 is done,
            // one never started or failed (a non-zero or unknown code) runs (again).
            let done = best.state.is_up() || best.state == RunState::Paused || best.exit_code == Some(0);
            if start && !done {
                sp.actions.push(Action::Start { container: best.into() });
            }
            continue;
        }
        match (service.state, best.state.is_up() || best.state == RunState::Paused) {
            (State::Running, false) => sp.actions.push(Action::Start { container: best.into() }),
            (State::Stopped, true) => sp.actions.push(Action::Stop { container: best.into() }),
            _ => {}
        }
    }
    sp
}

fn plan_resources<'a>(
    desired: impl Iterator<Item = &'a String>,
    observed: Option<&[ObservedResource]>,
    used: &BTreeSet<&str>,
    kind: &str,
    held: &mut Vec<String>,
    prune_suspended: bool,
) -> Vec<ResourceAction> {
    let desired: BTreeSet<&str> = desired.map(String::as_str).collect();
    let Some(observed) = observed else {
        // Not listed: nothing is known about what exists, so create what is declared (Docker
        // answers 409 when it exists) and prune nothing.
        return desired.iter().map(|n| ResourceAction::Create { name: n.to_string() }).collect();
    };
    let existing: BTreeSet<&str> = observed.iter().map(|r| r.name.as_str()).collect();
    let mut actions: Vec<ResourceAction> =
        desired.difference(&existing).map(|n| ResourceAction::Create { name: n.to_string() }).collect();
    for orphan in existing.difference(&desired) {
        if used.contains(orphan) {
            continue; // a service still names it
        }
        if prune_suspended {
            held.push(format!("{kind} {orphan}"));
        } else {
            actions.push(ResourceAction::Remove { name: orphan.to_string() });
        }
    }
    actions
}
