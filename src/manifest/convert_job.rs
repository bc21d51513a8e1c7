//! `mode: job`: the combinations a one-shot job cannot hold, refused at their field.
//!
//! Invariant: a job is one container that runs to completion and is judged by its exit code, so
//! whatever would restart it behind moor's back (a restart policy), run it more than once at a
//! time (replicas), or judge it by something else (a healthcheck, `state: stopped`, an image
//! watch's health-gated replacement) is a located problem, never silently ignored.

use super::convert::Checker;
use super::model::{Restart, State};
use super::problem::FieldPath;
use super::raw::{self, Mode, Watch};

/// Checks a job's fields; `restart` is the converted restart policy (when it converted).
pub(super) fn check_job(spec: &raw::ServiceSpec, sp: &FieldPath, restart: Option<Restart>, c: &mut Checker) {
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
        c.report(sp.key("replicas"), format!("replicas: {n} cannot be combined with mode: job: a job is one container run to completion"));
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
