//! What `moor plan`, `apply` and `status` print. Data only goes to stdout: the plan and report
//! text, the status table, or the same data as JSON or YAML. Apply's progress goes to stderr.
//!
//! Invariants: `-o json` and `-o yaml` serialise the same value; ANSI escapes appear only when
//! the caller asked for colour ([`colour_for_stdout`], [`progress::Mode`]).

use std::fmt::Write as _;
use std::io::IsTerminal as _;

use serde::Serialize;

use super::Output;
use crate::apply::{ApplyReport, ResourceDone};
use crate::manifest::Desired;
use crate::plan::Plan;

mod plan;
pub mod progress;
mod status;
#[cfg(test)]
mod tests;

pub use plan::{plan_text, Style};
pub use status::{source_text, status_rows, status_table, table, SourceStatusView, StatusRow};

use plan::{bucket, paint, write_action, write_refused, Counts, Mark};

/// Colour on stdout: only on a terminal, and never with `NO_COLOR` set to anything but empty
/// (no-color.org).
pub fn colour_for_stdout() -> bool {
    std::io::stdout().is_terminal() && no_color_unset()
}

pub fn no_color_unset() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Prints `value` as JSON or YAML, or `text()` for `-o text`.
pub fn print_data<T: Serialize>(output: Output, value: &T, text: impl FnOnce() -> String) -> anyhow::Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(value)?),
        // serde_yaml ends its document with a newline already.
        Output::Yaml => print!("{}", serde_yaml::to_string(value)?),
        Output::Text => print!("{}", text()),
    }
    Ok(())
}

/// What apply did, in the plan's style: the networks and volumes, each completed action (with
/// the fields a replace changed), each failure, then one line that sums it up.
pub fn apply_text(plan: &Plan, report: &ApplyReport, desired: &Desired, style: Style) -> String {
    let mut out = String::new();
    let mut counts = Counts::default();
    for r in &report.resources {
        let mark = match r.done {
            ResourceDone::Created => {
                counts.add(plan::Bucket::Create);
                Mark::Add
            }
            ResourceDone::Removed => {
                counts.add(plan::Bucket::Remove);
                Mark::Remove
            }
            ResourceDone::KeptInUse => Mark::Change,
        };
        let _ = writeln!(out, "{}", paint(mark, &r.to_string(), style.colour));
    }
    for e in &report.resource_errors {
        let _ = writeln!(out, "{}", paint(Mark::Alert, &format!("error: {e}"), style.colour));
    }
    for (name, result) in &report.services {
        let actions = plan.services.get(name).map(|sp| sp.actions.as_slice()).unwrap_or(&[]);
        for action in actions.iter().take(result.done.len()) {
            counts.add(bucket(action.kind()));
            write_action(&mut out, name, action, desired, Style { verbose: false, ..style });
        }
        if let Some(e) = &result.failure {
            let _ = writeln!(out, "{}", paint(Mark::Alert, &format!("{name}: FAILED: {e}"), style.colour));
        }
    }
    write_refused(&mut out, plan, style);
    if let Some(text) = plan::prune_suspended_text(plan) {
        let _ = writeln!(out, "{}", paint(Mark::Alert, &text, style.colour));
    }
    let failed = report.failed().count();
    if failed > 0 || !report.resource_errors.is_empty() || !plan.refused.is_empty() {
        let mut line = format!("{failed} service(s) failed");
        line.push_str(&plan::refused_counts(plan));
        let _ = writeln!(out, "{line}");
    } else if plan.is_empty() && !plan.prune_suspended {
        out.push_str("in sync: nothing to do\n");
    } else {
        let _ = writeln!(
            out,
            "converged: {} created, {} replaced, {} changed, {} removed",
            counts.create, counts.replace, counts.change, counts.remove
        );
    }
    out
}
