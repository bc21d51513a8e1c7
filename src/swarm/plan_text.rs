//! A [`SwarmPlan`] as `moor plan --backend swarm` prints it: one line per action, in the order
//! apply works (networks and data created, services, then what is pruned), the changes of an
//! update indented under it, and a summary line.
//!
//! Invariants:
//! - No secret value is printed: secret fields are shown as the diff marks them
//!   ([`crate::plan::diff::Secret`]), and secrets and configs only by name (which holds a keyed
//!   digest, never a plain hash).
//! - Plain text, no colour: the CLI styles it if it wants.

use std::fmt::Write;

use super::plan::{ServiceAction, SwarmPlan};
use super::spec::{DataKind, SwarmMode};

fn kind_word(kind: DataKind) -> &'static str {
    match kind {
        DataKind::Secret => "secret",
        DataKind::Config => "config",
    }
}

/// The human text of a plan.
pub fn plan_text(plan: &SwarmPlan) -> String {
    let mut out = String::new();
    for name in &plan.networks_create {
        let _ = writeln!(out, "+ network {name}: create (overlay)");
    }
    for data in &plan.data_create {
        let _ = writeln!(out, "+ {} {}: create", kind_word(data.kind), data.name);
    }
    let (mut creates, mut updates, mut removes, mut held) = (0, 0, 0, 0);
    for action in &plan.services {
        match action {
            ServiceAction::Create { name, spec } => {
                creates += 1;
                let mode = match spec.mode {
                    SwarmMode::Replicated { replicas } => format!("{replicas} replica(s)"),
                    SwarmMode::Global => "global".to_string(),
                };
                let _ = writeln!(out, "+ service {name}: create ({}, {mode})", spec.image);
            }
            ServiceAction::Update { name, version, changes, .. } => {
                updates += 1;
                let _ = writeln!(out, "~ service {name}: update (rolling, at version {version})");
                for change in changes {
                    let _ = writeln!(out, "    {change}");
                }
            }
            ServiceAction::Remove { name, .. } => {
                removes += 1;
                let _ = writeln!(out, "- service {name}: remove (no manifest declares it)");
            }
            ServiceAction::Conflict { name } => {
                held += 1;
                let _ = writeln!(
                    out,
                    "! service {name}: a service of this name exists without this instance's labels; moor never touches it: remove or rename it, or rename this one"
                );
            }
            ServiceAction::Held { name, state, reason } => {
                held += 1;
                let _ = writeln!(out, "! service {name}: failed ({}): {reason}", state.as_str());
            }
        }
    }
    for data in &plan.data_remove {
        let _ = writeln!(out, "- {} {}: remove (no service names it)", kind_word(data.kind), data.name);
    }
    for network in &plan.networks_remove {
        let _ = writeln!(out, "- network {}: remove (no manifest asks for it)", network.name);
    }
    if plan.prune_suspended {
        out.push_str("! prune suspended: the manifests did not load cleanly, so nothing owned is removed this pass\n");
    }
    out.push_str(&refused_text(plan));
    if plan.is_empty() && !plan.prune_suspended && plan.refused.is_empty() {
        out.push_str("in sync: nothing to do\n");
        return out;
    }
    let _ = writeln!(
        out,
        "services: {creates} to create, {updates} to update, {removes} to remove, {held} failed; \
         secrets/configs: {} to create, {} to remove; networks: {} to create, {} to remove",
        plan.data_create.len(),
        plan.data_remove.len(),
        plan.networks_create.len(),
        plan.networks_remove.len(),
    );
    out
}

/// One line per refused service and per reason: `! service NAME refused, left as it runs: …`.
pub fn refused_text(plan: &SwarmPlan) -> String {
    let mut out = String::new();
    for (name, problems) in &plan.refused {
        for problem in problems {
            let _ = writeln!(out, "! service {name} refused, left as it runs: {problem}");
        }
    }
    out
}
