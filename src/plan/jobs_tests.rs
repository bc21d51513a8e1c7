//! The convergence rules of jobs (`mode: job`): run once to completion, again only when the spec
//! changes, a failed one again; an auto-removed one known from its record.

use super::fixtures::{built_from, desired, observed, IMAGE_ID};
use super::*;
use crate::jobs::JobRecord;
use crate::manifest::Desired;
use crate::observe::{ObservedContainer, RunState};
use crate::spec_hash::hash_canonical;

fn job(extra: &str) -> Desired {
    desired(&format!(
        "apiVersion: moor/v1\nkind: Service\nmetadata: {{name: migrate}}\nspec:\n  image: app:1\n  mode: job\n{extra}\n"
    ))
}

fn exited(d: &Desired, code: Option<i64>) -> ObservedContainer {
    let mut c = built_from(&d.services["migrate"].container, "migrate", "migrate", 1, RunState::Exited);
    c.exit_code = code;
    c
}

fn kinds(p: &Plan) -> Vec<ActionKind> {
    p.services.get("migrate").map(|s| s.actions.iter().map(Action::kind).collect()).unwrap_or_default()
}

fn record(d: &Desired, exit_code: i64) -> JobRecord {
    JobRecord {
        spec_hash: hash_canonical(&d.services["migrate"].canonical, IMAGE_ID),
        image_id: IMAGE_ID.into(),
        exit_code,
        finished_at: 1,
    }
}

#[test]
fn a_job_never_run_is_created_and_started() {
    let d = job("");
    let p = plan(&d, &observed(vec![]));
    assert_eq!(p.services["migrate"].actions, vec![Action::Create { replica: 1, name: "migrate".into(), start: true }]);
}

#[test]
fn a_job_that_exited_0_is_done_and_not_restarted() {
    let d = job("");
    assert!(plan(&d, &observed(vec![exited(&d, Some(0))])).is_empty());
}

#[test]
fn a_running_job_is_left_to_finish() {
    let d = job("");
    let running = built_from(&d.services["migrate"].container, "migrate", "migrate", 1, RunState::Running);
    assert!(plan(&d, &observed(vec![running])).is_empty());
}

#[test]
fn a_failed_job_or_one_never_started_runs_again() {
    let d = job("");
    for c in [exited(&d, Some(3)), exited(&d, None)] {
        assert_eq!(kinds(&plan(&d, &observed(vec![c]))), vec![ActionKind::Start]);
    }
    let created = built_from(&d.services["migrate"].container, "migrate", "migrate", 1, RunState::Created);
    assert_eq!(kinds(&plan(&d, &observed(vec![created]))), vec![ActionKind::Start]);
}

#[test]
fn a_changed_job_spec_runs_it_again() {
    let before = job("");
    let after = job("  command: [migrate, --to, '2']");
    let p = plan(&after, &observed(vec![exited(&before, Some(0))]));
    assert_eq!(kinds(&p), vec![ActionKind::Replace]);
}

#[test]
fn an_auto_removed_job_is_known_from_its_record() {
    let d = job("  autoRemove: true");
    let mut o = observed(vec![]);
    o.jobs.insert("migrate".into(), record(&d, 0));
    assert!(plan(&d, &o).services.is_empty(), "a completed job is not run again");

    // A failed run, a run under another spec, or of another image: it runs.
    o.jobs.insert("migrate".into(), record(&d, 1));
    assert_eq!(kinds(&plan(&d, &o)), vec![ActionKind::Create]);
    let other = job("  autoRemove: true\n  command: [other]");
    o.jobs.insert("migrate".into(), record(&other, 0));
    assert_eq!(kinds(&plan(&d, &o)), vec![ActionKind::Create]);
    o.jobs.insert("migrate".into(), record(&d, 0));
    o.pinned.insert("migrate".into(), "sha256:2222".into());
    assert_eq!(kinds(&plan(&d, &o)), vec![ActionKind::Create]);
}

#[test]
fn a_service_that_exited_is_still_started() {
    // Not a job: the rule of jobs does not leak into services.
    let d = desired("apiVersion: moor/v1\nkind: Service\nmetadata: {name: migrate}\nspec:\n  image: app:1\n");
    assert_eq!(kinds(&plan(&d, &observed(vec![exited(&d, Some(0))]))), vec![ActionKind::Start]);
}

#[test]
fn restart_true_restarts_a_running_dependant_after_its_dependency_moves() {
    let yaml = |db_image: &str| {
        format!(
            "---\napiVersion: moor/v1\nkind: Service\nmetadata: {{name: db}}\nspec:\n  image: {db_image}\n---\napiVersion: moor/v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  image: app:1\n  dependsOn: {{ db: {{ condition: started, restart: true }}, cache: {{ required: false }} }}\n"
        )
    };
    let before = desired(&yaml("db:1"));
    let after = desired(&yaml("db:2"));
    assert!(!after.services["web"].depends_on.contains_key("cache"), "an optional dependency nobody declares");
    let running = |d: &Desired, svc: &str| built_from(&d.services[svc].container, svc, svc, 1, RunState::Running);
    let o = observed(vec![running(&before, "db"), running(&before, "web")]);
    assert!(plan(&before, &o).is_empty());
    let p = plan(&after, &o);
    let web: Vec<ActionKind> = p.services["web"].actions.iter().map(Action::kind).collect();
    assert_eq!(web, vec![ActionKind::Stop, ActionKind::Start]);
    assert_eq!(p.services["db"].actions.iter().map(Action::kind).collect::<Vec<_>>(), vec![ActionKind::Replace]);
}
