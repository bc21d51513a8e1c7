//! Per service: tasks running out of desired, the update state, and the last task error, as
//! `moor status --backend swarm` shows them (`docs/swarm-design.md` section 7).
//!
//! Invariants:
//! - Running is counted from the tasks, never from `ServiceStatus.RunningTasks`: a task counts
//!   only with desired state `running`, state `running`, on a node that is `ready` (trap T6: a
//!   task on a down node still reads `running`).
//! - Desired is the replica count; for a global service, the number of ready nodes.
//! - The last error is the newest task (by timestamp) with a non-empty error; when no task has
//!   one and the service was rolled back or paused, the update's message (trap T3: a task that
//!   traps TERM ends `complete` with no error).
//! - Pure: no I/O, no clock.

use std::collections::BTreeSet;

use serde::Serialize;

use super::observe::SwarmObserved;
use super::spec::SwarmMode;
use crate::engine::swarm::{ObservedService, TaskInfo, UpdateState};

/// One service's line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmStatusRow {
    pub service: String,
    /// `replicated` or `global`.
    pub mode: String,
    pub desired: u64,
    pub running: u64,
    pub update: Option<UpdateState>,
    pub last_error: Option<String>,
}

impl SwarmStatusRow {
    /// Every task asked for runs, and no update is left paused or rolled back.
    pub fn healthy(&self) -> bool {
        self.running == self.desired && !self.update.is_some_and(UpdateState::failed)
    }
}

/// The task counts of one service: (running, desired).
pub fn counts(observed: &SwarmObserved, service: &ObservedService) -> (u64, u64) {
    let ready: BTreeSet<&str> = observed.nodes.iter().filter(|n| n.ready).map(|n| n.id.as_str()).collect();
    let running = observed
        .tasks_of(&service.id)
        .filter(|t| t.desired_state == "running" && t.state == "running" && ready.contains(t.node_id.as_str()))
        .count() as u64;
    let desired = match service.spec.mode {
        SwarmMode::Replicated { replicas } => replicas,
        // Swarm's own count, which knows the constraints and drained nodes; without it, every
        // ready node.
        SwarmMode::Global => service.desired_tasks.unwrap_or(ready.len() as u64),
    };
    (running, desired)
}

/// The newest task of `service` (by timestamp) with a non-empty error.
pub fn newest_task_error<'a>(observed: &'a SwarmObserved, service: &ObservedService) -> Option<&'a TaskInfo> {
    observed.tasks_of(&service.id).filter(|t| !t.error.is_empty()).max_by(|a, b| a.timestamp.cmp(&b.timestamp))
}

/// What went wrong last with `service`: its newest task error, else the message of an update
/// that ended badly or is being rolled back.
pub fn last_error(observed: &SwarmObserved, service: &ObservedService) -> Option<String> {
    if let Some(task) = newest_task_error(observed, service) {
        return Some(task.error.clone());
    }
    service
        .update
        .as_ref()
        .filter(|u| u.state.failed() || u.state == UpdateState::RollbackStarted)
        .filter(|u| !u.message.is_empty())
        .map(|u| u.message.clone())
}

/// One row per owned service, by name.
pub fn rows(observed: &SwarmObserved) -> Vec<SwarmStatusRow> {
    let mut rows: Vec<SwarmStatusRow> = observed
        .services
        .iter()
        .map(|service| {
            let (running, desired) = counts(observed, service);
            let mode = match service.spec.mode {
                SwarmMode::Replicated { .. } => "replicated",
                SwarmMode::Global => "global",
            };
            SwarmStatusRow {
                service: service.spec.name.clone(),
                mode: mode.into(),
                desired,
                running,
                update: service.update.as_ref().map(|u| u.state),
                last_error: last_error(observed, service),
            }
        })
        .collect();
    rows.sort_by(|a, b| a.service.cmp(&b.service));
    rows
}

/// 0 when every service runs all its tasks and no update is paused or rolled back, else 2.
pub fn exit_code(rows: &[SwarmStatusRow]) -> u8 {
    if rows.iter().all(SwarmStatusRow::healthy) {
        0
    } else {
        2
    }
}

/// The table of `moor status --backend swarm`, one line per service under a header.
pub fn status_text(rows: &[SwarmStatusRow]) -> String {
    let header = ["SERVICE", "MODE", "TASKS", "UPDATE", "LAST ERROR"].map(String::from);
    let lines: Vec<[String; 5]> = std::iter::once(header)
        .chain(rows.iter().map(|r| {
            [
                r.service.clone(),
                r.mode.clone(),
                format!("{}/{}", r.running, r.desired),
                r.update.map_or("-", UpdateState::as_str).to_string(),
                r.last_error.as_deref().map_or_else(|| "-".to_string(), one_line),
            ]
        }))
        .collect();
    let mut widths = [0usize; 4];
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for line in &lines {
        for (cell, width) in line.iter().zip(widths) {
            out.push_str(&format!("{cell:<width$}  "));
        }
        out.push_str(&line[4]);
        out.push('\n');
    }
    out
}

/// An error on one line of the table: Docker's errors may hold newlines.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use insta::assert_snapshot;

    use super::*;
    use crate::engine::swarm::{NodeInfo, UpdateStatus};
    use crate::swarm::spec::SwarmSpec;

    fn service(id: &str, name: &str, mode: SwarmMode, update: Option<(UpdateState, &str)>) -> ObservedService {
        ObservedService {
            id: id.into(),
            version: 1,
            spec: SwarmSpec { name: name.into(), mode, ..SwarmSpec::default() },
            update: update.map(|(state, message)| UpdateStatus { state, message: message.into() }),
            previous: None,
            desired_tasks: None,
        }
    }

    fn task(service: &str, node: &str, desired: &str, state: &str, error: &str, timestamp: &str) -> TaskInfo {
        TaskInfo {
            id: format!("{service}-{timestamp}"),
            service_id: service.into(),
            slot: Some(1),
            node_id: node.into(),
            desired_state: desired.into(),
            state: state.into(),
            error: error.into(),
            message: String::new(),
            timestamp: timestamp.into(),
            spec_hash: None,
        }
    }

    fn node(id: &str, ready: bool) -> NodeInfo {
        NodeInfo { id: id.into(), hostname: id.into(), ready, labels: BTreeMap::new() }
    }

    fn replicated(n: u64) -> SwarmMode {
        SwarmMode::Replicated { replicas: n }
    }

    /// The three services of the design's table, and a global one.
    fn observed() -> SwarmObserved {
        SwarmObserved {
            services: vec![
                service("w", "web", replicated(2), Some((UpdateState::Completed, "update completed"))),
                service("a", "api", replicated(2), Some((UpdateState::RollbackCompleted, "rollback completed"))),
                service("e", "edge", replicated(1), None),
                service("g", "agent", SwarmMode::Global, None),
            ],
            tasks: vec![
                task("w", "n1", "running", "running", "", "2026-11-30T10:00:01Z"),
                task("w", "n2", "running", "running", "", "2026-11-30T10:00:01Z"),
                task("a", "n1", "running", "running", "", "2026-11-30T10:00:09Z"),
                task(
                    "a",
                    "n1",
                    "shutdown",
                    "failed",
                    "task: non-zero exit (137): dockerexec: unhealthy container",
                    "2026-11-30T10:00:05Z",
                ),
                task("a", "n1", "shutdown", "failed", "an older error", "2026-11-30T09:00:00Z"),
                task(
                    "e",
                    "",
                    "running",
                    "pending",
                    "no suitable node (scheduling constraints not satisfied on 1 node)",
                    "2026-11-30T10:00:02Z",
                ),
                task("g", "n1", "running", "running", "", "2026-11-30T10:00:01Z"),
                task("g", "n2", "running", "running", "", "2026-11-30T10:00:01Z"),
            ],
            nodes: vec![node("n1", true), node("n2", true), node("n3", false)],
            ..SwarmObserved::default()
        }
    }

    #[test]
    fn rows_count_tasks_and_name_the_newest_error() {
        let rows = rows(&observed());
        assert_snapshot!(status_text(&rows));
        let api = rows.iter().find(|r| r.service == "api").unwrap();
        assert_eq!((api.running, api.desired), (1, 2));
        assert_eq!(api.last_error.as_deref(), Some("task: non-zero exit (137): dockerexec: unhealthy container"));
        let agent = rows.iter().find(|r| r.service == "agent").unwrap();
        assert_eq!((agent.running, agent.desired), (2, 2), "global: one per ready node, n3 is down");
        assert_eq!(exit_code(&rows), 2);
    }

    #[test]
    fn a_task_on_a_down_node_is_not_running() {
        let mut o = observed();
        o.services.retain(|s| s.id == "w");
        assert_eq!(exit_code(&rows(&o)), 0, "both tasks on ready nodes");
        // n2 goes down: its task still reads running (trap T6), and is not counted.
        o.nodes[1].ready = false;
        let down = rows(&o);
        assert_eq!((down[0].running, down[0].desired), (1, 2));
        assert_eq!(exit_code(&down), 2);
        // The swarm starts a replacement on n1 (`service ls` would say 3/2).
        o.tasks.push(task("w", "n1", "running", "running", "", "2026-11-30T10:01:00Z"));
        let rescheduled = rows(&o);
        assert_eq!((rescheduled[0].running, rescheduled[0].desired), (2, 2));
        assert_eq!(exit_code(&rescheduled), 0);
    }

    #[test]
    fn a_rollback_without_a_task_error_shows_the_update_message() {
        let o = SwarmObserved {
            services: vec![service(
                "a",
                "api",
                replicated(1),
                Some((
                    UpdateState::RollbackCompleted,
                    "update rolled back due to failure or early termination of task x",
                )),
            )],
            tasks: vec![task("a", "n1", "running", "running", "", "2026-11-30T10:00:09Z")],
            nodes: vec![node("n1", true)],
            ..SwarmObserved::default()
        };
        let rows = rows(&o);
        assert_eq!(
            rows[0].last_error.as_deref(),
            Some("update rolled back due to failure or early termination of task x")
        );
        assert_eq!(exit_code(&rows), 2, "1/1 but rolled back");
    }

    #[test]
    fn a_completed_update_without_errors_shows_none_and_exits_0() {
        let o = SwarmObserved {
            services: vec![service("w", "web", replicated(1), Some((UpdateState::Completed, "update completed")))],
            tasks: vec![task("w", "n1", "running", "running", "", "2026-11-30T10:00:09Z")],
            nodes: vec![node("n1", true)],
            ..SwarmObserved::default()
        };
        let rows = rows(&o);
        assert_eq!(rows[0].last_error, None);
        assert_eq!(exit_code(&rows), 0);
        assert_eq!(exit_code(&[]), 0, "no service: nothing is wrong");
    }
}
