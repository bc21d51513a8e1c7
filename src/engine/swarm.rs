//! The door to a Swarm manager: the [`SwarmEngine`] trait, beside [`super::Engine`] and sharing
//! its error type and deadlines. Containers, renames and `moor.last-applied` have no place here:
//! Swarm rolls, waits for health and rolls back by itself.
//!
//! Invariants (as for [`super::Engine`]):
//! - Every Swarm call of moor goes through a `SwarmEngine`; the meaning of the daemon's answers
//!   is decided once, in the bollard implementation (`super::swarm_docker`):
//!   - `update_service` with a stale version answers [`EngineError::OutOfSequence`], never
//!     overwrites: the caller re-observes;
//!   - a remove of what is gone (404) is `Ok`; a secret, config or network still in use is
//!     [`EngineError::InUse`];
//!   - a create whose name is taken is [`EngineError::NameInUse`];
//!   - a daemon that is not a swarm manager is [`EngineError::NotSwarmManager`].
//! - Every call has a deadline.
//! - The trait speaks moor's types ([`crate::swarm::spec`]), so the in-memory fake
//!   (`super::fake::swarm`) can stand in for it.

use std::collections::BTreeMap;
use std::future::Future;

use super::{api_version::ApiVersion, EngineResult};
use crate::manifest::Network;
use crate::swarm::spec::{DataKind, SwarmData, SwarmSpec};

/// A service this instance owns, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedService {
    pub id: String,
    /// `Version.Index`: the concurrency token an update must carry.
    pub version: u64,
    /// The spec read back through moor's projection.
    pub spec: SwarmSpec,
    /// `UpdateStatus`, `None` when the service was never updated.
    pub update: Option<UpdateStatus>,
    /// `PreviousSpec` read back through the same projection: after a paused update or a manual
    /// rollback, the spec on the other side of it. swarmkit clears it when it rolls back by
    /// itself (`rollback_completed` after `failure_action: rollback`).
    pub previous: Option<SwarmSpec>,
    /// `ServiceStatus.DesiredTasks`: for a global service, the tasks its constraints allow on
    /// the swarm's nodes. `None` when the daemon did not say.
    pub desired_tasks: Option<u64>,
}

/// `UpdateStatus` of a service.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateStatus {
    pub state: UpdateState,
    pub message: String,
}

/// `UpdateStatus.State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateState {
    Updating,
    Paused,
    Completed,
    RollbackStarted,
    RollbackPaused,
    RollbackCompleted,
}

impl UpdateState {
    /// Still moving: the swarm has not finished with the last update.
    pub fn in_progress(self) -> bool {
        matches!(self, UpdateState::Updating | UpdateState::RollbackStarted)
    }

    /// Ended without the spec asked for running: paused, or rolled back.
    pub fn failed(self) -> bool {
        matches!(self, UpdateState::Paused | UpdateState::RollbackPaused | UpdateState::RollbackCompleted)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UpdateState::Updating => "updating",
            UpdateState::Paused => "paused",
            UpdateState::Completed => "completed",
            UpdateState::RollbackStarted => "rollback_started",
            UpdateState::RollbackPaused => "rollback_paused",
            UpdateState::RollbackCompleted => "rollback_completed",
        }
    }
}

/// One task of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    pub id: String,
    pub service_id: String,
    /// `None` for a global service's task.
    pub slot: Option<u64>,
    /// Empty while not assigned.
    pub node_id: String,
    /// `DesiredState`: `running`, `shutdown`, …
    pub desired_state: String,
    /// `Status.State`: `pending`, `running`, `failed`, `rejected`, `complete`, …
    pub state: String,
    /// `Status.Err`, empty when none.
    pub error: String,
    /// `Status.Message`.
    pub message: String,
    /// `Status.Timestamp` as RFC 3339, for "the newest task".
    pub timestamp: String,
    /// The `moor.spec-hash` of the spec the task was made from (a label of its container, so
    /// it outlives the spec in the task history): which spec failed, after Swarm rolled it back.
    pub spec_hash: Option<String>,
}

/// A node of the swarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub id: String,
    pub hostname: String,
    /// `Status.State == ready`: a task on a node that is not ready is not counted as running
    /// (trap T6: `service ls` counts it).
    pub ready: bool,
    pub labels: BTreeMap<String, String>,
}

/// A secret, config or network this instance owns, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedObject {
    pub id: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// The Swarm operations moor needs, and no more.
pub trait SwarmEngine: Send + Sync + 'static {
    /// Answers when the daemon is a reachable swarm manager; [`super::EngineError::NotSwarmManager`]
    /// otherwise.
    fn swarm_ping(&self) -> impl Future<Output = EngineResult<()>> + Send;
    fn api_version(&self) -> ApiVersion;
    /// Services labelled `moor.instance=<instance>` and `moor.backend=swarm` (one list call,
    /// with `status=true` for the task counts).
    fn list_services(&self, instance: &str) -> impl Future<Output = EngineResult<Vec<ObservedService>>> + Send;
    /// The tasks of these services (one call).
    fn list_tasks(&self, service_ids: &[String]) -> impl Future<Output = EngineResult<Vec<TaskInfo>>> + Send;
    fn list_nodes(&self) -> impl Future<Output = EngineResult<Vec<NodeInfo>>> + Send;
    /// Secrets or configs labelled `moor.instance=<instance>`.
    fn list_data(
        &self,
        kind: DataKind,
        instance: &str,
    ) -> impl Future<Output = EngineResult<Vec<ObservedObject>>> + Send;
    /// Swarm-scoped networks labelled `moor.instance=<instance>` and `moor.backend=swarm`.
    fn list_networks(&self, instance: &str) -> impl Future<Output = EngineResult<Vec<ObservedObject>>> + Send;
    /// The registry's manifest digest of `reference`, for pinning (`GET /distribution/…/json`).
    fn registry_digest(&self, reference: &str) -> impl Future<Output = EngineResult<String>> + Send;
    /// Does a service of this name exist, owned or not (`GET /services/{name}`)? For the plan to
    /// tell a conflict before apply meets it.
    fn service_exists(&self, name: &str) -> impl Future<Output = EngineResult<bool>> + Send;
    /// Creates the service; its ID.
    fn create_service(&self, spec: &SwarmSpec) -> impl Future<Output = EngineResult<String>> + Send;
    /// Updates service `id`, observed at `version`, to `spec`: the observed full spec with the
    /// projected fields replaced, so what moor does not project is kept.
    fn update_service(&self, id: &str, version: u64, spec: &SwarmSpec)
        -> impl Future<Output = EngineResult<()>> + Send;
    fn remove_service(&self, id: &str) -> impl Future<Output = EngineResult<()>> + Send;
    /// Creates the secret or config; one of that name that exists already is `Ok` (its name
    /// holds its digest, so it holds the same data).
    fn create_data(&self, data: &SwarmData) -> impl Future<Output = EngineResult<()>> + Send;
    fn remove_data(&self, kind: DataKind, id: &str) -> impl Future<Output = EngineResult<()>> + Send;
    /// Creates an attachable overlay network named `name` for a Network manifest, labelled as
    /// this instance's (`moor.backend=swarm`). One that exists already is `Ok`.
    fn create_network(
        &self,
        name: &str,
        network: &Network,
        instance: &str,
    ) -> impl Future<Output = EngineResult<()>> + Send;
    fn remove_network(&self, id: &str) -> impl Future<Output = EngineResult<()>> + Send;
}
