//! A service that joins another's container (`service:NAME` in `networkMode`, `ipc`, `pid` or
//! `volumesFrom`) follows it. Docker resolves a join to the container's ID at create, so a
//! joiner whose target is made anew keeps a dead namespace (only `lo`, or no process table) and
//! would read as in sync. It is replaced when its target is created or replaced in this plan,
//! or when the `moor.joins` label it was made with names another ID than the target's
//! container now (level-based: a later pass repairs what an earlier one missed).
//!
//! Invariant: a container without the label (made before it) is replaced only when its target
//! moves in this plan, so upgrading replaces nothing.

use std::collections::BTreeMap;

use super::{Action, ActionKind, Change, Plan, ServicePlan};
use crate::digest::short;
use crate::labels;
use crate::manifest::model::State;
use crate::manifest::Desired;
use crate::names;
use crate::observe::ObservedContainer;

pub(super) fn replace_joiners(
    desired: &Desired,
    by_service: &BTreeMap<&str, Vec<&ObservedContainer>>,
    instance: &str,
    out: &mut Plan,
) {
    let made_anew =
        |sp: &ServicePlan| sp.actions.iter().any(|a| matches!(a.kind(), ActionKind::Create | ActionKind::Replace));
    // The container a target's first replica has now.
    let current = |target: &str| -> Option<&str> {
        let service = desired.services.get(target)?;
        let first = names::container_names(instance, service).into_iter().next()?;
        let owned = by_service.get(target)?;
        owned.iter().find(|c| c.name == first && !c.state.is_going()).map(|c| c.id.as_str())
    };
    for service in desired.services.values().filter(|s| s.state == State::Running && !s.is_job()) {
        let targets = names::join_targets(&service.container);
        if targets.is_empty() || out.services.contains_key(&service.name) {
            continue; // joins nothing, or is being converged anyway (a create joins anew)
        }
        let moving: Vec<&String> =
            targets.iter().filter(|t| out.services.get(t.as_str()).is_some_and(made_anew)).collect();
        let mut owned: Vec<&ObservedContainer> = by_service
            .get(service.name.as_str())
            .map(|cs| cs.iter().copied().filter(|c| !c.state.is_going() && c.replica() > 0).collect())
            .unwrap_or_default();
        owned.sort_by(|a, b| a.name.cmp(&b.name));
        let mut actions = Vec::new();
        for c in owned {
            let joined: BTreeMap<&str, &str> = c
                .labels
                .get(labels::JOINS)
                .map(|l| l.split(',').filter_map(|p| p.split_once('=')).collect())
                .unwrap_or_default();
            let change = if let Some(target) = moving.first() {
                Change {
                    field: format!("joins.{target}"),
                    from: joined.get(target.as_str()).map(|id| short(id)),
                    to: Some("(its new container)".into()),
                    secret: None,
                }
            } else {
                let stale = targets.iter().find_map(|t| match (joined.get(t.as_str()), current(t)) {
                    (Some(old), Some(now)) if *old != now => Some((t, short(old), short(now))),
                    _ => None,
                });
                let Some((target, old, now)) = stale else { continue };
                Change { field: format!("joins.{target}"), from: Some(old), to: Some(now), secret: None }
            };
            actions.push(Action::Replace {
                replica: c.replica(),
                name: c.name.clone(),
                old: c.into(),
                start: true,
                changes: vec![change],
            });
        }
        if !actions.is_empty() {
            out.services.insert(service.name.clone(), ServicePlan { actions, ..ServicePlan::default() });
        }
    }
}
