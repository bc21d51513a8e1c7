//! The Swarm backend (`--backend swarm`): the same manifests as Swarm services, so that Swarm
//! reschedules, rolls and rolls back. See `docs/swarm-design.md` for the facts it rests on.
//!
//! Data flows as for the docker backend, with its own plan:
//!
//! ```text
//! Desired --validate (pure)--> problems, located       (what Swarm cannot express)
//! Desired --project (pure)---> SwarmSpec per service + SwarmData (secrets/configs by digest)
//! SwarmEngine --observe------> SwarmObserved (services with Version, tasks, nodes, data, networks)
//! (desired, observed) --plan (pure)--> SwarmPlan --apply--> SwarmEngine
//! SwarmObserved --status (pure)--> rows: tasks running/desired, update state, last task error
//! ```
//!
//! # Layout
//!
//! - [`spec`]: [`spec::SwarmSpec`], moor's projection of a Swarm service, and [`spec::SwarmData`].
//! - [`project`]: a manifest's service as a `SwarmSpec`; its secrets and configs as `SwarmData`.
//! - [`validate`]: what Swarm cannot express, as located problems.
//! - [`observe`]: one pass of list calls.
//! - [`plan`]: the pure diff, field by field, into a [`plan::SwarmPlan`].
//! - [`apply`]: carries a plan out, updates with the observed version, waits for Swarm's verdict.
//! - [`status`]: per service the task counts, update state and last task error.
//!
//! Invariants:
//! - Only objects labelled `moor.instance=<instance>` and `moor.backend=swarm` are ever changed
//!   or removed; ownership labels are on the service, never on its tasks' containers.
//! - An update always carries the version observed; a concurrent change is reported, never
//!   overwritten. A pass that finds nothing to change makes no write (an identical update would
//!   still bump the version: trap T9).
//! - Nothing is pruned on partial knowledge: an incomplete load, a failed observe or a refused
//!   service suspends prune, as for the docker backend.

pub mod apply;
pub mod observe;
pub mod plan;
mod plan_text;
pub mod project;
pub mod spec;
pub mod status;
pub mod validate;

#[cfg(test)]
mod project_tests;
#[cfg(test)]
mod review_tests;
#[cfg(test)]
mod validate_tests;
