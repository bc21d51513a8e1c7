//! The result of one service reconcile, as a type: what the decision after it matches on.
//! Text is made from it only for logs and `/status`, through `Display`.

use std::time::Duration;

use crate::apply::{ActionError, DependencyFailure, NotReady, ResourceError, Rollback, ServiceFailure};
use crate::engine::EngineError;
use crate::plan::{ActionKind, NameConflict};

/// How one reconcile of one key ended.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReconcileOutcome {
    /// Nothing needed doing, or every action succeeded.
    #[error("converged")]
    Converged,
    /// Converged by replacing the running image with the pinned one (`update.watch`).
    #[error("converged to a new image")]
    UpdateApplied,
    #[error("observing Docker: {0}")]
    ObserveFailed(EngineError),
    #[error("{error}")]
    ActionFailed { action: ActionKind, error: ActionError },
    /// Names held by containers moor does not own: known from an earlier 409, or learned now.
    #[error("{}", crate::plan::conflicts_text(.0))]
    NameConflict(Vec<NameConflict>),
    #[error("replacement failed: {reason}; rolled back to the previous container")]
    RolledBack { reason: NotReady },
    #[error("replacement failed: {reason}; rollback failed too: {error}")]
    RollbackFailed { reason: NotReady, error: ActionError },
    /// `update.rollback: false`: the new container stays although it did not become ready.
    #[error("replacement failed: {reason}; the new container was left in place (update.rollback: false)")]
    ReplacementKept { reason: NotReady },
    #[error("dependency {dep:?} {reason}")]
    DependencyFailed { dep: String, reason: DependencyFailure },
    #[error("checking the image in its registry: {0}")]
    ImageCheckFailed(EngineError),
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    ResourcesFailed(Vec<ResourceError>),
}

impl ReconcileOutcome {
    pub fn is_success(&self) -> bool {
        matches!(self, ReconcileOutcome::Converged | ReconcileOutcome::UpdateApplied)
    }

    /// The Docker error behind a failure, for `moor_docker_errors_total{status}`.
    pub fn engine_error(&self) -> Option<&EngineError> {
        match self {
            ReconcileOutcome::ObserveFailed(e) | ReconcileOutcome::ImageCheckFailed(e) => Some(e),
            ReconcileOutcome::ActionFailed { error: ActionError::Engine(e), .. } => Some(e),
            _ => None,
        }
    }
}

impl From<ServiceFailure> for ReconcileOutcome {
    fn from(failure: ServiceFailure) -> Self {
        match failure {
            ServiceFailure::Conflicts(list) => ReconcileOutcome::NameConflict(list),
            ServiceFailure::Dependency { dep, reason } => ReconcileOutcome::DependencyFailed { dep, reason },
            ServiceFailure::ImageCheck(e) => ReconcileOutcome::ImageCheckFailed(e),
            ServiceFailure::Action { error: ActionError::Conflict { name, holder }, .. } => {
                ReconcileOutcome::NameConflict(vec![NameConflict { name, holder }])
            }
            ServiceFailure::Action { error: ActionError::Replacement(failure), .. } => {
                let failure = *failure;
                match failure.rollback {
                    Rollback::Done => ReconcileOutcome::RolledBack { reason: failure.reason },
                    Rollback::Failed(error) => {
                        ReconcileOutcome::RollbackFailed { reason: failure.reason, error: *error }
                    }
                    Rollback::Disabled => ReconcileOutcome::ReplacementKept { reason: failure.reason },
                }
            }
            ServiceFailure::Action { kind, error } => ReconcileOutcome::ActionFailed { action: kind, error },
        }
    }
}

/// One finished reconcile of `key`, as the worker reports it to the controller.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconciled {
    pub key: String,
    pub outcome: ReconcileOutcome,
    /// The actions that completed, also when a later one failed.
    pub done: Vec<ActionKind>,
    /// Networks and volumes created or pruned.
    pub resources_done: usize,
    /// Those pruned, as `network shop`.
    pub pruned: Vec<String>,
    pub duration: Duration,
    /// How the service's containers look: after this reconcile when it acted and succeeded
    /// (listed again), else as it found them. For status.
    pub seen: Option<crate::observe::Seen>,
    /// The image ID the service's first container ran before this reconcile acted.
    pub image_before: Option<String>,
    /// The image ID an `update.watch` pin made this reconcile run, part of what it converged to.
    pub pin: Option<String>,
}

impl Reconciled {
    /// A reconcile of `key` that ended with `outcome` and did nothing else: for tests and for
    /// the failure paths of the worker.
    pub fn bare(key: &str, outcome: ReconcileOutcome) -> Self {
        Reconciled {
            key: key.to_string(),
            outcome,
            done: Vec::new(),
            resources_done: 0,
            pruned: Vec::new(),
            duration: Duration::ZERO,
            seen: None,
            image_before: None,
            pin: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::ReplaceFailure;

    #[test]
    fn a_replacement_failure_becomes_the_outcome_its_rollback_says() {
        let reason = NotReady::Unhealthy("web-moor-next".into());
        let failure = |rollback| ServiceFailure::Action {
            kind: ActionKind::Replace,
            error: ActionError::Replacement(Box::new(ReplaceFailure { reason: reason.clone(), rollback })),
        };
        assert_eq!(
            ReconcileOutcome::from(failure(Rollback::Done)),
            ReconcileOutcome::RolledBack { reason: reason.clone() }
        );
        assert_eq!(
            ReconcileOutcome::from(failure(Rollback::Disabled)),
            ReconcileOutcome::ReplacementKept { reason: reason.clone() }
        );
        let error = ActionError::ImageMissing("x".into());
        assert_eq!(
            ReconcileOutcome::from(failure(Rollback::Failed(Box::new(error.clone())))),
            ReconcileOutcome::RollbackFailed { reason, error }
        );
    }

    #[test]
    fn a_conflict_learned_on_create_is_a_name_conflict() {
        let failure = ServiceFailure::Action {
            kind: ActionKind::Create,
            error: ActionError::Conflict { name: "web".into(), holder: "container abc".into() },
        };
        let outcome = ReconcileOutcome::from(failure);
        assert_eq!(
            outcome,
            ReconcileOutcome::NameConflict(vec![NameConflict { name: "web".into(), holder: "container abc".into() }])
        );
        assert_eq!(outcome.to_string(), "container name \"web\" is held by container abc; moor never touches it");
    }

    #[test]
    fn only_docker_errors_are_counted_as_docker_errors() {
        let unavailable = EngineError::Unavailable("gone".into());
        assert_eq!(ReconcileOutcome::ObserveFailed(unavailable.clone()).engine_error(), Some(&unavailable));
        let action = ReconcileOutcome::ActionFailed {
            action: ActionKind::Start,
            error: ActionError::Engine(unavailable.clone()),
        };
        assert_eq!(action.engine_error(), Some(&unavailable));
        assert_eq!(ReconcileOutcome::NameConflict(vec![]).engine_error(), None);
    }
}
