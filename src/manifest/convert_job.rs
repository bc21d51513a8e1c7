//! `mode: job`: the combinations a one-shot job cannot hold, refused at their field; and
//! `dependsOn` as written (its conditions, `completed` among them, and the long form's flags).
//!
//! Invariant: a job is one container that runs to completion and is judged by its exit code, so
//! whatever would restart it behind moor's back (a restart policy), run it more than once at a
//! time (replicas), or judge it by something else (a healthcheck, `state: stopped`, an image
//! watch's health-gated replacement) is a located problem, never silently ignored.

use std::collections::{BTreeMap, BTreeSet};

use super::convert::Checker;
use super::model::{Restart, State};
use super::problem::FieldPath;
use super::raw::{self, DependCondition, Mode, Watch};

/// The dependencies as written: each one's condition, those with `required: false`, and those
/// with `restart: true`.
pub(super) fn convert_depends(
    depends_on: Option<&raw::DependsOn>,
) -> (BTreeMap<String, DependCondition>, BTreeSet<String>, BTreeSet<String>) {
    let (mut conditions, mut optional, mut restart_with) = (BTreeMap::new(), BTreeSet::new(), BTreeSet::new());
    match depends_on {
        None => {}
        Some(raw::DependsOn::List(names)) => {
            conditions.extend(names.iter().map(|n| (n.clone(), DependCondition::Started)));
        }
        Some(raw::DependsOn::Map(map)) => {
            for (dep, d) in map {
                let (condition, long) = match d {
                    raw::Depend::Condition(c) => (*c, None),
                    raw::Depend::Long(l) => (l.condition.unwrap_or(DependCondition::Started), Some(l)),
                };
                conditions.insert(dep.clone(), condition);
                if long.and_then(|l| l.required) == Some(false) {
                    optional.insert(dep.clone());
                }
                if long.and_then(|l| l.restart) == Some(true) {
                    restart_with.insert(dep.clone());
                }
            }
        }
    }
    (conditions, optional, restart_with)
}

/// Checks a job's fields; `restart` is the converted restart policy (when it converted).
pub(super) fn check_job(spec: &raw::ServiceSpec, sp: &FieldPath, restart: Option<Restart>, c: &mut Checker) {
    if spec.mode == Some(Mode::Global) {
        if let Some(n) = spec.replicas.filter(|n| *n != 1) {
            c.report(
                sp.key("replicas"),
                format!("replicas: {n} cannot be combined with mode: global: a global service runs one task on every eligible node"),
            );
        }
        return;
    }
    if spec.mode != Some(Mode::Job) {
        return;
    }
    if let Some(r) = restart.filter(|r| *r != Restart::No) {
        c.report(
            sp.key("restart"),
            format!("{r} cannot be combined with mode: job: Docker would run the job again behind moor's back; a job runs once, and moor runs a failed one again itself (at the next apply, or after moor run's backoff); use restart: no"),
        );
    }
    if let Some(n) = spec.replicas.filter(|n| *n > 1) {
        c.report(
            sp.key("replicas"),
            format!("replicas: {n} cannot be combined with mode: job: a job is one container run to completion"),
        );
    }
    if spec.healthcheck.is_some() {
        c.report(
            sp.key("healthcheck"),
            "a job (mode: job) is judged by its exit code, not by a healthcheck; dependants wait for it with dependsOn: { name: completed }",
        );
    }
    if spec.state == Some(State::Stopped) {
        c.report(sp.key("state"), "stopped cannot hold for a job (mode: job): it runs to completion and then stops by itself; use state: absent to remove it");
    }
    if spec.update.as_ref().and_then(|u| u.watch) == Some(Watch::Digest) {
        c.report(
            sp.key("update").key("watch"),
            "digest cannot be combined with mode: job: an image watch replaces a running container through a health gate; a job picks up a new image with pull: always at the next apply",
        );
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::manifest::load_str;

    fn problems(yaml: &str) -> Vec<String> {
        let loaded = load_str(Path::new("/m/jobs.yaml"), yaml);
        loaded.problems.iter().map(ToString::to_string).collect()
    }

    fn job(extra: &str) -> String {
        format!("apiVersion: moor/v1\nkind: Service\nmetadata: {{name: migrate}}\nspec:\n  image: app:1\n  mode: job\n{extra}\n")
    }

    #[test]
    fn a_plain_job_is_valid_and_is_a_job() {
        let loaded = load_str(Path::new("/m/jobs.yaml"), &job("  restart: \"no\"\n  autoRemove: true"));
        assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
        assert!(loaded.desired.services["migrate"].is_job());
        assert_eq!(loaded.desired.services["migrate"].desired_summary(), "completed (job)");
    }

    #[test]
    fn what_a_job_cannot_hold_is_refused_at_its_field() {
        let cases = [
            ("  restart: always", "/m/jobs.yaml:7:12: spec.restart: always cannot be combined with mode: job"),
            ("  restart: on-failure", "/m/jobs.yaml:7:12: spec.restart: on-failure cannot be combined with mode: job"),
            ("  replicas: 2", "/m/jobs.yaml:7:13: spec.replicas: replicas: 2 cannot be combined with mode: job"),
            (
                "  healthcheck: {test: [CMD, 'true']}",
                "/m/jobs.yaml:7:16: spec.healthcheck: a job (mode: job) is judged",
            ),
            ("  state: stopped", "/m/jobs.yaml:7:10: spec.state: stopped cannot hold for a job"),
            (
                "  update: {watch: digest}",
                "/m/jobs.yaml:7:19: spec.update.watch: digest cannot be combined with mode: job",
            ),
        ];
        for (extra, start) in cases {
            let found = problems(&job(extra));
            assert!(found.len() == 1 && found[0].starts_with(start), "{extra}: {found:#?}");
        }
    }

    #[test]
    fn completed_is_for_jobs_and_healthy_is_not() {
        let app = |dep: &str| {
            format!("---\napiVersion: moor/v1\nkind: Service\nmetadata: {{name: app}}\nspec:\n  image: app:1\n  dependsOn: {{{dep}}}\n")
        };
        let db = "---\napiVersion: moor/v1\nkind: Service\nmetadata: {name: db}\nspec:\n  image: db:1\n";
        let ok = problems(&(job("") + &app("migrate: completed")));
        assert!(ok.is_empty(), "{ok:#?}");
        let found = problems(&(String::from(db) + &app("db: completed")));
        assert!(
            found.len() == 1 && found[0].contains("spec.dependsOn.db: completed needs \"db\" to be a job"),
            "{found:#?}"
        );
        let found = problems(&(job("") + &app("migrate: healthy")));
        assert!(found.len() == 1 && found[0].contains("spec.dependsOn.migrate: \"migrate\" is a job"), "{found:#?}");
    }
}
