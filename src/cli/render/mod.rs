//! Text and table output for plans, apply reports and status. Data only goes to stdout.

use std::fmt::Write as _;

use serde::Serialize;

use crate::apply::ApplyReport;
use crate::controller::updates::UpdateStatus;
use crate::digest::short;
use crate::manifest::Desired;
use crate::observe::{Health, Observed, ObservedContainer};
use crate::plan::{Action, Plan, ResourceAction};

fn action_line(action: &Action) -> String {
    match action {
        Action::Create { name, start, .. } => {
            format!("create {name}{}", if *start { "" } else { " (not started)" })
        }
        Action::Replace { name, changes, .. } => {
            let fields: Vec<String> = changes.iter().map(ToString::to_string).collect();
            format!("replace {name} ({})", fields.join(", "))
        }
        Action::Start { container } => format!("start {}", container.name),
        Action::Stop { container } => format!("stop {}", container.name),
        Action::Remove { container, reason } => format!("remove {} ({reason})", container.name),
        Action::WaitRemoved { container } => format!("wait until {} is removed", container.name),
        Action::Rename { container, to } => format!("rename {} to {to}", container.name),
    }
}

fn resource_lines(kind: &str, actions: &[ResourceAction], out: &mut String) {
    for a in actions {
        let _ = match a {
            ResourceAction::Create { name } => writeln!(out, "{kind} {name}: create"),
            ResourceAction::Remove { name } => {
                writeln!(out, "{kind} {name}: remove (no manifest, unused)")
            }
        };
    }
}

/// One line per action, `service: verb target (details)`, then prune and summary lines.
pub fn plan_text(plan: &Plan) -> String {
    let mut out = String::new();
    resource_lines("network", &plan.networks, &mut out);
    resource_lines("volume", &plan.volumes, &mut out);
    for (name, sp) in &plan.services {
        for conflict in &sp.conflicts {
            let _ = writeln!(out, "{name}: conflict: {conflict}");
        }
        for action in &sp.actions {
            let _ = writeln!(out, "{name}: {}", action_line(action));
        }
    }
    if plan.prune_suspended {
        let held = if plan.prune_held.is_empty() { "nothing held".to_string() } else { plan.prune_held.join(", ") };
        let _ = writeln!(out, "prune suspended: manifests failed to load ({held})");
    }
    if plan.is_empty() {
        out.push_str("in sync: nothing to do\n");
    } else {
        let _ = writeln!(out, "{} action(s) pending", plan.action_count());
    }
    out
}

pub fn apply_text(plan: &Plan, report: &ApplyReport) -> String {
    let mut out = String::new();
    for line in &report.resources {
        let _ = writeln!(out, "{line}");
    }
    for line in &report.resource_errors {
        let _ = writeln!(out, "error: {line}");
    }
    for (name, result) in &report.services {
        let actions = plan.services.get(name).map(|sp| sp.actions.as_slice()).unwrap_or(&[]);
        for line in actions.iter().take(result.done.len()).map(action_line) {
            let _ = writeln!(out, "{name}: {line}: done");
        }
        if let Some(e) = &result.failure {
            let _ = writeln!(out, "{name}: FAILED: {e}");
        }
    }
    if plan.prune_suspended {
        let _ = writeln!(out, "prune suspended: manifests failed to load");
    }
    let failed = report.failed().count();
    if failed > 0 || !report.resource_errors.is_empty() {
        let _ = writeln!(out, "{failed} service(s) failed");
    } else if plan.is_empty() {
        out.push_str("in sync: nothing to do\n");
    } else {
        let _ = writeln!(out, "converged: {} action(s)", plan.action_count());
    }
    out
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusRow {
    pub service: String,
    pub desired: String,
    pub observed: String,
    pub in_sync: bool,
    pub health: String,
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// For `update.watch: digest` services.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update: Option<UpdateStatus>,
}

fn health_summary(containers: &[&ObservedContainer]) -> String {
    let worst = containers.iter().map(|c| c.health).max_by_key(|h| match h {
        Health::None => 0,
        Health::Healthy => 1,
        Health::Starting => 2,
        Health::Unhealthy => 3,
    });
    match worst {
        None | Some(Health::None) => "-".into(),
        Some(h) => format!("{h:?}").to_lowercase(),
    }
}

/// One row per declared service, then one per orphaned service that still has containers.
pub fn status_rows(desired: &Desired, observed: &Observed, plan: &Plan) -> Vec<StatusRow> {
    let by_service = observed.by_service();
    let mut rows = Vec::new();
    for (name, service) in &desired.services {
        let containers = by_service.get(name.as_str()).cloned().unwrap_or_default();
        let sp = plan.services.get(name);
        rows.push(StatusRow {
            service: name.clone(),
            desired: service.desired_summary(),
            observed: crate::observe::summary(&containers),
            in_sync: sp.is_none(),
            health: health_summary(&containers),
            image: service.container.image.clone(),
            last_error: sp.filter(|s| !s.conflicts.is_empty()).map(|s| crate::plan::conflicts_text(&s.conflicts)),
            update: None,
        });
    }
    for (name, containers) in &by_service {
        if desired.services.contains_key(*name) {
            continue;
        }
        rows.push(StatusRow {
            service: name.to_string(),
            desired: "(no manifest)".into(),
            observed: crate::observe::summary(containers),
            in_sync: false,
            health: health_summary(containers),
            image: containers.first().map(|c| c.image.clone()).unwrap_or_default(),
            last_error: None,
            update: None,
        });
    }
    rows
}

pub fn status_table(rows: &[StatusRow]) -> String {
    let header = ["SERVICE", "DESIRED", "OBSERVED", "SYNC", "HEALTH", "IMAGE", "LAST ERROR"];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.service.clone(),
                r.desired.clone(),
                r.observed.clone(),
                if r.in_sync { "yes".into() } else { "no".into() },
                r.health.clone(),
                r.image.clone(),
                r.last_error.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut out = table(&header, &cells);
    let updates: Vec<[String; 5]> = rows
        .iter()
        .filter_map(|r| {
            let u = r.update.as_ref()?;
            let digest = |d: &Option<String>| d.as_deref().map(short).unwrap_or_else(|| "-".into());
            Some([
                r.service.clone(),
                digest(&u.running_digest),
                digest(&u.registry_digest),
                u.last_check.clone().unwrap_or_else(|| "-".into()),
                u.last_result.clone().unwrap_or_else(|| "-".into()),
            ])
        })
        .collect();
    if !updates.is_empty() {
        out.push('\n');
        out.push_str(&table(&["WATCHED", "RUNNING", "REGISTRY", "CHECKED", "LAST UPDATE"], &updates));
    }
    out
}

/// Left-aligned columns, two spaces apart.
fn table<const N: usize>(header: &[&str; N], cells: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    let mut line = |cols: Vec<&str>| {
        let text: Vec<String> = cols.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in cells {
        line(row.iter().map(String::as_str).collect());
    }
    out
}
