//! The pure diff of the desired swarm against the observed one: [`SwarmPlan`].
//!
//! Invariants:
//! - Pure: no I/O, no clock, no randomness; the same inputs give the same plan.
//! - A service is updated only when its projected fields differ (a no-op update would still bump
//!   the version: trap T9), and the update carries the version observed.
//! - An observed `ref@sha256:…` equals a desired `ref` without a digest (apply pins it, and a
//!   registry outage must not unpin); a desired image with its own digest must match exactly.
//! - A service whose last update failed (paused, rolled back, or being rolled back) is not
//!   updated again to the same spec: it is [`ServiceAction::Held`] and shown as failed. A
//!   different desired spec is a new attempt. Swarm clears `PreviousSpec` on an automatic
//!   rollback; the failed spec is then known from the task history, whose tasks carry the
//!   `moor.spec-hash` of the spec they were made from. A task history that no longer holds a
//!   task of the failed spec (Swarm keeps 5 per slot by default) allows one more attempt.
//! - Nothing is removed unless `desired.may_prune`; a service any manifest declares is never
//!   removed; only owned objects are observed, so only owned objects are removed.
//! - Secrets and configs are immutable and named by digest: they are created or removed, never
//!   updated. One still named by any desired service, or still to be created, is never removed.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::observe::SwarmObserved;
pub use super::plan_text::{plan_text, refused_text};
use super::spec::{DataKind, SwarmDesired, SwarmSpec};
use crate::engine::swarm::{ObservedService, UpdateState};
use crate::plan::{Change, Secret};
use crate::secrets::looks_secret;

/// What a pass would do to the swarm.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmPlan {
    /// Networks to create, by the name Docker knows them by (before any service).
    pub networks_create: Vec<String>,
    /// Secrets and configs to create (before any service).
    pub data_create: Vec<DataRef>,
    /// By service name.
    pub services: Vec<ServiceAction>,
    /// Owned secrets and configs no desired service names any longer (after the services).
    pub data_remove: Vec<DataRemove>,
    /// Owned networks no manifest asks for any longer (last).
    pub networks_remove: Vec<NetworkRemove>,
    /// `!desired.may_prune`: the load had problems or a guard, so nothing owned is removed this
    /// pass (and the plan is never "in sync").
    pub prune_suspended: bool,
    /// Services refused, with why (`SwarmDesired::refused`): left as they run; never "in sync".
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub refused: BTreeMap<String, Vec<crate::manifest::Problem>>,
}

/// What is done to one service.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum ServiceAction {
    Create {
        name: String,
        spec: SwarmSpec,
    },
    Update {
        id: String,
        name: String,
        /// The version observed: the update's concurrency token.
        version: u64,
        changes: Vec<Change>,
        spec: SwarmSpec,
    },
    /// Prune: owned, and no manifest declares it.
    Remove {
        id: String,
        name: String,
    },
    /// A service of this name exists without this instance's labels: never touched.
    Conflict {
        name: String,
    },
    /// The last update of this spec failed; it is not tried again by itself.
    Held {
        name: String,
        state: UpdateState,
        reason: String,
    },
}

impl ServiceAction {
    pub fn name(&self) -> &str {
        match self {
            ServiceAction::Create { name, .. }
            | ServiceAction::Update { name, .. }
            | ServiceAction::Remove { name, .. }
            | ServiceAction::Conflict { name }
            | ServiceAction::Held { name, .. } => name,
        }
    }
}

/// A secret or config to create: its entry in `desired.data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataRef {
    pub kind: DataKind,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataRemove {
    pub kind: DataKind,
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkRemove {
    pub id: String,
    pub name: String,
}

impl SwarmPlan {
    /// Nothing to do and nothing held: the swarm is as desired.
    pub fn is_empty(&self) -> bool {
        self.networks_create.is_empty()
            && self.data_create.is_empty()
            && self.services.is_empty()
            && self.data_remove.is_empty()
            && self.networks_remove.is_empty()
    }

    /// Services held after a failed update, and those in conflict with a foreign service: what
    /// makes a plan fail.
    pub fn held(&self) -> impl Iterator<Item = &ServiceAction> {
        self.services.iter().filter(|a| matches!(a, ServiceAction::Held { .. } | ServiceAction::Conflict { .. }))
    }
}

/// The plan from `observed` to `desired`.
pub fn plan(desired: &SwarmDesired, observed: &SwarmObserved) -> SwarmPlan {
    let mut out =
        SwarmPlan { prune_suspended: !desired.may_prune, refused: desired.refused.clone(), ..SwarmPlan::default() };

    let observed_networks: BTreeSet<&str> = observed.networks.iter().map(|n| n.name.as_str()).collect();
    out.networks_create =
        desired.networks.keys().filter(|n| !observed_networks.contains(n.as_str())).cloned().collect();

    for (name, data) in &desired.data {
        if !observed.data(data.kind).iter().any(|o| &o.name == name) {
            out.data_create.push(DataRef { kind: data.kind, name: name.clone() });
        }
    }

    for (name, spec) in &desired.services {
        match observed.service(name) {
            None if observed.foreign.contains(name) => {
                out.services.push(ServiceAction::Conflict { name: name.clone() })
            }
            None => out.services.push(ServiceAction::Create { name: name.clone(), spec: spec.clone() }),
            Some(service) => out.services.extend(service_action(spec, service, observed)),
        }
    }
    for service in &observed.services {
        let name = &service.spec.name;
        if desired.services.contains_key(name) || desired.declared.contains(name) {
            continue;
        }
        if desired.may_prune {
            out.services.push(ServiceAction::Remove { id: service.id.clone(), name: name.clone() });
        }
    }
    out.services.sort_by(|a, b| a.name().cmp(b.name()));

    // Named by a desired service, or to exist: kept. An owned object of a declared but refused
    // service is kept too: its spec is not known this pass.
    let named: BTreeSet<(DataKind, &str)> = desired
        .services
        .values()
        .flat_map(|s| {
            let secrets = s.secrets.iter().map(|r| (DataKind::Secret, r.name.as_str()));
            secrets.chain(s.configs.iter().map(|r| (DataKind::Config, r.name.as_str())))
        })
        .chain(desired.data.values().map(|d| (d.kind, d.name.as_str())))
        .collect();
    let refused_in_use: BTreeSet<&str> = observed
        .services
        .iter()
        .filter(|s| desired.declared.contains(&s.spec.name) && !desired.services.contains_key(&s.spec.name))
        .flat_map(|s| s.spec.secrets.iter().chain(&s.spec.configs).map(|r| r.name.as_str()))
        .collect();
    for kind in [DataKind::Secret, DataKind::Config] {
        for object in observed.data(kind) {
            if named.contains(&(kind, object.name.as_str())) || refused_in_use.contains(object.name.as_str()) {
                continue;
            }
            if desired.may_prune {
                out.data_remove.push(DataRemove { kind, id: object.id.clone(), name: object.name.clone() });
            }
        }
    }

    for network in &observed.networks {
        if desired.networks.contains_key(&network.name) {
            continue;
        }
        if desired.may_prune {
            out.networks_remove.push(NetworkRemove { id: network.id.clone(), name: network.name.clone() });
        }
    }
    out
}

/// Did the task end by itself? Failed, rejected, or exited (`complete`, which is also how a
/// TERM-trapping task killed as unhealthy ends: trap T3). A task Swarm stopped, as a manual
/// `docker service rollback` stops the new spec's tasks, reads `shutdown`: that spec did not
/// fail, and the rollback is drift to repair.
fn task_failed(task: &crate::engine::swarm::TaskInfo) -> bool {
    !task.error.is_empty() || matches!(task.state.as_str(), "failed" | "rejected" | "complete")
}

/// Update, hold, or nothing, for a service that exists.
fn service_action(desired: &SwarmSpec, observed: &ObservedService, swarm: &SwarmObserved) -> Option<ServiceAction> {
    let diff = changes(&observed.spec, desired);
    let name = desired.name.clone();
    // Rolled back to what is desired (the manifest was reverted): nothing to hold.
    let rolled_back_to_desired = diff.is_empty();
    if let Some(update) = observed.update.as_ref().filter(|u| match u.state {
        UpdateState::Paused => true,
        UpdateState::RollbackStarted | UpdateState::RollbackPaused | UpdateState::RollbackCompleted => {
            !rolled_back_to_desired
        }
        UpdateState::Updating | UpdateState::Completed => false,
    }) {
        let state = update.state;
        let outcome = match update.message.as_str() {
            "" => state.as_str().to_string(),
            message => format!("{}: {message}", state.as_str()),
        };
        // Was the desired spec the one that failed? Paused: the current spec is the failed one
        // (Swarm keeps it). Rolled back: the previous spec when Swarm still has it (a manual
        // rollback); after an automatic rollback Swarm clears it, and the task history tells:
        // a task keeps the `moor.spec-hash` of the spec it was made from.
        let failed_desired = match state {
            UpdateState::Paused => changes(&observed.spec, desired).is_empty(),
            _ => match &observed.previous {
                Some(previous) => changes(previous, desired).is_empty(),
                None => {
                    let hash = desired.container_labels.get(crate::labels::SPEC_HASH);
                    hash.is_some_and(|h| {
                        swarm.tasks_of(&observed.id).any(|t| t.spec_hash.as_ref() == Some(h) && task_failed(t))
                    })
                }
            },
        };
        if failed_desired {
            let reason = format!("the last update to this spec failed ({outcome}); change the spec to try again");
            return Some(ServiceAction::Held { name, state, reason });
        }
        // A different spec from the one that failed: a new attempt.
    }
    if diff.is_empty() {
        return None;
    }
    Some(ServiceAction::Update {
        id: observed.id.clone(),
        name,
        version: observed.version,
        changes: diff,
        spec: desired.clone(),
    })
}

/// Whether observed image `observed` is what desired `desired` asks for: exactly, or pinned
/// from a desired reference without a digest.
pub fn image_matches(desired: &str, observed: &str) -> bool {
    desired == observed || (!desired.contains('@') && observed.split_once('@').is_some_and(|(r, _)| r == desired))
}

/// The changes from `observed` to `desired`, field by field; none when they are the same.
pub fn changes(observed: &SwarmSpec, desired: &SwarmSpec) -> Vec<Change> {
    let mut observed = observed.clone();
    if image_matches(&desired.image, &observed.image) {
        observed.image = desired.image.clone();
    }
    let (a, b) = (flat(&observed), flat(desired));
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut out = Vec::new();
    for key in keys {
        let (from, to) = (a.get(key), b.get(key));
        if from == to {
            continue;
        }
        if is_secret_field(key) {
            let secret = match (from, to) {
                (None, _) => Secret::Added,
                (_, None) => Secret::Removed,
                _ => Secret::Changed,
            };
            out.push(Change { field: key.clone(), from: None, to: None, secret: Some(secret) });
        } else {
            out.push(Change { field: key.clone(), from: from.cloned(), to: to.cloned(), secret: None });
        }
    }
    out
}

/// A field whose value the plan must not show: an env value or a free-form option whose name
/// looks secret (Swarm shows env values to anyone who can inspect the service, but a plan is
/// also printed in CI logs).
fn is_secret_field(key: &str) -> bool {
    ["env.", "labels.", "containerLabels.", "options.logOptions."]
        .iter()
        .find_map(|prefix| key.strip_prefix(prefix))
        .is_some_and(looks_secret)
}

/// A spec as `path -> text`: objects by dotted key, lists of objects by index
/// (`ports[0].published`), lists of scalars whole.
fn flat(spec: &SwarmSpec) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    flatten("", &serde_json::to_value(spec).expect("a SwarmSpec serializes"), &mut out);
    out
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    let join = |key: &str| if prefix.is_empty() { key.to_string() } else { format!("{prefix}.{key}") };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&join(k), v, out);
            }
        }
        Value::Array(items) if items.iter().any(|v| v.is_object() || v.is_array()) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
pub(crate) mod tests;
