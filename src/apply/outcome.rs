//! What apply reports, as types: why an action failed, why a new container was not ready, how a
//! replacement ended. Text is made from these only at the edges (CLI, logs, `/status`), through
//! their `Display`; every decision matches on the variants.

use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::engine::EngineError;
use crate::manifest::model::DependCondition;
use crate::manifest::units::format_duration;
use crate::plan::{ActionKind, NameConflict};

/// Why a container did not become ready (running, or healthy when it has a healthcheck).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NotReady {
    #[error("container {0} is gone")]
    Gone(String),
    #[error("container {container} exited{}", code.map(|c| format!(" with code {c}")).unwrap_or_default())]
    Exited { container: String, code: Option<i64> },
    #[error("container {0} is unhealthy")]
    Unhealthy(String),
    #[error("container {container} was not ready within {}", format_duration(*within))]
    Timeout { container: String, within: Duration },
    /// Docker failed while starting or inspecting it.
    #[error(transparent)]
    Engine(EngineError),
    /// The stop of the old container failed or timed out, so the new one was never started.
    #[error("stopping the old container {container} failed: {error}")]
    OldNotStopped { container: String, error: EngineError },
}

/// How a failed replacement ended for the old container.
#[derive(Debug, Clone, PartialEq)]
pub enum Rollback {
    /// The new container was removed and the old one runs again.
    Done,
    /// Bringing the old container back failed too.
    Failed(Box<ActionError>),
    /// `update.rollback: false`: the new container was kept under the service's name and the
    /// old one removed.
    Disabled,
}

/// A health-gated replacement whose new container did not become ready.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplaceFailure {
    pub reason: NotReady,
    pub rollback: Rollback,
}

impl std::fmt::Display for ReplaceFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "replacement failed: {}", self.reason)?;
        match &self.rollback {
            Rollback::Done => f.write_str("; rolled back to the previous container"),
            Rollback::Failed(e) => write!(f, "; rollback failed too: {e}"),
            Rollback::Disabled => f.write_str("; the new container was left in place (update.rollback: false)"),
        }
    }
}

/// Why the old container of a failed replacement cannot be built again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unrebuildable {
    NeverObserved,
    UnreadableLabel,
    /// Its secret values are no longer kept under the state dir.
    SecretsGone,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("container name {name:?} is held by {holder}; moor never touches a container it does not own")]
    Conflict { name: String, holder: String },
    /// The name is held by a container of this instance that the plan did not see (it was made
    /// meanwhile): the next pass reconciles it.
    #[error("name {name:?} is held by container {container}, which this instance owns but did not observe; it will be reconciled on the next pass")]
    HeldByOwnUnobserved { name: String, container: String },
    /// Create found the name taken, and then nobody holding it: a race with a removal. The next
    /// pass creates it.
    #[error("name {0:?} was busy and is free again; retrying")]
    NameRace(String),
    #[error("image {0:?} is not present and the pull policy is never")]
    ImageMissing(String),
    #[error("image {0:?} is still missing after the pull")]
    ImageVanished(String),
    #[error("{0} without a manifest")]
    NoManifest(ActionKind),
    #[error("the old container {name} is gone and {}", match why {
        Unrebuildable::NeverObserved => "was never observed",
        Unrebuildable::UnreadableLabel => "its last-applied label is unreadable",
        Unrebuildable::SecretsGone => "its secret values are no longer kept under the state dir",
    })]
    Unrebuildable { name: String, why: Unrebuildable },
    #[error("{0}")]
    Replacement(Box<ReplaceFailure>),
    /// A service with secrets, env files or configs that were never resolved: a container
    /// created now would lack them.
    #[error("its secrets and configs were not resolved; nothing is created without them")]
    Unresolved,
    /// Its secret and config files could not be written, or a container's were not found.
    #[error("secret and config files: {0}")]
    Files(String),
    /// A job (`mode: job`) ran and exited with a code other than 0.
    #[error("the job failed: it exited with code {code}")]
    JobFailed { code: i64 },
    /// A job's container was gone before Docker's wait could tell its exit code.
    #[error("the job's container was gone before its exit code was known")]
    JobExitLost,
}

pub type ActionResult<T = ()> = Result<T, ActionError>;

/// Why a dependency held a service back.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DependencyFailure {
    #[error("failed to converge")]
    DidNotConverge,
    #[error("has no manifest")]
    NoManifest,
    /// The host policy refuses it: it is not created or changed, so it cannot be waited for.
    #[error("is refused by the host policy")]
    Refused,
    /// A field of it needs a newer Docker API than the daemon's: it is left as it runs.
    #[error("is refused: a field of it needs a newer Docker API than the daemon speaks (see its problems)")]
    RefusedByApi,
    /// Declared, but its secrets, env files or configs could not be read.
    #[error("could not be resolved: its secrets, env files or configs cannot be read (see the problems)")]
    Unresolved,
    #[error("is not {}: {reason}", match condition { DependCondition::Started => "started", DependCondition::Healthy => "healthy", DependCondition::Completed => "completed" })]
    NotReady { condition: DependCondition, reason: NotReady },
    /// The job this service waits for (`completed`) exited with a code other than 0.
    #[error("is a job that failed: it exited with code {code}")]
    JobFailed { code: i64 },
    /// The job this service waits for has not completed, and its exit is not known.
    #[error("is a job that has not completed{}", .0.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    JobNotCompleted(Option<NotReady>),
}

/// Why one service did not converge.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ServiceFailure {
    /// Names held by containers moor does not own, known before acting.
    #[error("{}", crate::plan::conflicts_text(.0))]
    Conflicts(Vec<NameConflict>),
    #[error("dependency {dep:?} {reason}")]
    Dependency { dep: String, reason: DependencyFailure },
    /// The action `kind` failed; the ones before it completed.
    #[error("{error}")]
    Action { kind: ActionKind, error: ActionError },
    /// `pull: always`: the registry check before the plan failed.
    #[error("checking the image in its registry: {0}")]
    ImageCheck(EngineError),
}

/// What happened to one service.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceResult {
    /// The kinds of the actions that completed, in order.
    pub done: Vec<ActionKind>,
    #[serde(rename = "error", skip_serializing_if = "Option::is_none", serialize_with = "as_text")]
    pub failure: Option<ServiceFailure>,
}

fn as_text<S: Serializer, T: std::fmt::Display>(value: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceKind {
    Network,
    Volume,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ResourceDone {
    Created,
    Removed,
    /// Prune found it still in use (perhaps by a container moor does not own): kept.
    KeptInUse,
}

/// A network or volume action that completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceResult {
    pub kind: ResourceKind,
    pub name: String,
    pub done: ResourceDone,
}

impl ResourceResult {
    /// `network shop`, `volume data`.
    pub fn subject(&self) -> String {
        format!("{} {}", kind_text(self.kind), self.name)
    }
}

impl std::fmt::Display for ResourceResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let done = match self.done {
            ResourceDone::Created => "created",
            ResourceDone::Removed => "removed",
            ResourceDone::KeptInUse => "kept, still in use",
        };
        write!(f, "{} {}: {done}", kind_text(self.kind), self.name)
    }
}

fn kind_text(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Network => "network",
        ResourceKind::Volume => "volume",
    }
}

/// A network or volume action that failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} {name}: {error}", kind_text(*kind))]
pub struct ResourceError {
    pub kind: ResourceKind,
    pub name: String,
    pub error: EngineError,
}

impl Serialize for ResourceError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replacement_failure_says_how_the_old_container_ended() {
        let reason = NotReady::Unhealthy("abc".into());
        let text = |rollback| ReplaceFailure { reason: reason.clone(), rollback }.to_string();
        assert_eq!(
            text(Rollback::Done),
            "replacement failed: container abc is unhealthy; rolled back to the previous container"
        );
        assert_eq!(
            text(Rollback::Disabled),
            "replacement failed: container abc is unhealthy; the new container was left in place (update.rollback: false)"
        );
        let failed = Rollback::Failed(Box::new(ActionError::ImageMissing("x".into())));
        assert_eq!(
            text(failed),
            "replacement failed: container abc is unhealthy; rollback failed too: image \"x\" is not present and the pull policy is never"
        );
        let exited = NotReady::Exited { container: "c".into(), code: Some(3) };
        assert_eq!(exited.to_string(), "container c exited with code 3");
    }

    #[test]
    fn a_service_result_serializes_its_failure_as_text() {
        let result = ServiceResult {
            done: vec![ActionKind::Create],
            failure: Some(ServiceFailure::Dependency { dep: "db".into(), reason: DependencyFailure::NoManifest }),
        };
        let json = serde_json::to_value(&result).unwrap();
        assert_eq!(json, serde_json::json!({"done": ["create"], "error": "dependency \"db\" has no manifest"}));
    }
}
