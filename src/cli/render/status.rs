//! Status rows and tables (`moor status`).

use std::fmt::Write as _;

use serde::Serialize;

use crate::controller::updates::UpdateStatus;
use crate::digest::short;
use crate::manifest::Desired;
use crate::observe::{Health, Observed, ObservedContainer};
use crate::plan::Plan;

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

/// One row per declared service (refused ones too, with the policy's reason as their error), then
/// one per orphaned service that still has containers.
pub fn status_rows(desired: &Desired, observed: &Observed, plan: &Plan) -> Vec<StatusRow> {
    let by_service = observed.by_service();
    let mut rows = Vec::new();
    for (name, service) in &desired.services {
        let containers = by_service.get(name.as_str()).cloned().unwrap_or_default();
        let sp = plan.services.get(name);
        rows.push(StatusRow {
            service: name.clone(),
            desired: service.desired_summary(),
            observed: match service.is_job() {
                true => crate::observe::job_summary(&containers, observed.jobs.get(name)),
                false => crate::observe::summary(&containers),
            },
            in_sync: sp.is_none(),
            health: health_summary(&containers),
            image: service.container.image.clone(),
            last_error: sp.filter(|s| !s.conflicts.is_empty()).map(|s| crate::plan::conflicts_text(&s.conflicts)),
            update: None,
        });
    }
    for (name, refused) in &desired.refused {
        let containers = by_service.get(name.as_str()).cloned().unwrap_or_default();
        rows.push(StatusRow {
            service: name.clone(),
            desired: refused.service.desired_summary(),
            observed: crate::observe::summary(&containers),
            in_sync: false,
            health: health_summary(&containers),
            image: refused.service.container.image.clone(),
            last_error: Some(crate::policy::refused_text(refused)),
            update: None,
        });
    }
    rows.sort_by(|a, b| a.service.cmp(&b.service));
    for (name, containers) in &by_service {
        if desired.declares(name) {
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

/// Left-aligned columns, two spaces apart (also `moor status --fleet`'s).
pub fn table<const N: usize>(header: &[&str; N], cells: &[[String; N]]) -> String {
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

/// A controller's git source as `/status` reports it (`moor status --controller`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SourceStatusView {
    pub url: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub revision: Option<String>,
    pub subject: Option<String>,
    pub last_applied_revision: Option<String>,
    pub last_attempted_revision: Option<String>,
    pub last_fetch: Option<String>,
    pub verified_by: Option<String>,
    pub last_error: Option<String>,
}

/// The source lines above the status table.
pub fn source_text(s: &SourceStatusView) -> String {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut out = format!("SOURCE    {}@{}\n", s.url, s.reference);
    let _ = writeln!(out, "REVISION  {} {}", dash(&s.revision), s.subject.as_deref().unwrap_or(""));
    let _ = writeln!(out, "APPLIED   {}", dash(&s.last_applied_revision));
    if s.last_attempted_revision != s.revision {
        let _ = writeln!(out, "ATTEMPTED {}", dash(&s.last_attempted_revision));
    }
    let _ = writeln!(out, "FETCHED   {}", dash(&s.last_fetch));
    if let Some(signer) = &s.verified_by {
        let _ = writeln!(out, "SIGNED BY {signer}");
    }
    if let Some(error) = &s.last_error {
        let _ = writeln!(out, "ERROR     {error}");
    }
    out.push('\n');
    out
}
