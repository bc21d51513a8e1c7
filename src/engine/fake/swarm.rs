//! An in-memory [`SwarmEngine`]: a one-manager swarm without Docker, for tests of observe, apply
//! and status on tokio's paused clock (`#[tokio::test(start_paused = true)]`).
//!
//! What it models:
//! - Services with a `Version.Index` taken from one swarm-wide counter that grows on every write
//!   (as the raft index does: trap T9), so an update with a stale version answers
//!   [`EngineError::OutOfSequence`] and overwrites nothing. [`FakeSwarm::edit_service`] is a
//!   change by hand between observe and apply.
//! - A rollout per service, scripted with [`FakeSwarm::script`] before the write that starts it
//!   ([`Rollout`]): tasks that start after a while, an update that completes, rolls back (the
//!   spec goes back to the previous one and `PreviousSpec` is cleared, as swarmkit's updater
//!   does), pauses, or stays pending with a scheduler error such as "no suitable node".
//! - Tasks with the fields of [`TaskInfo`]; timestamps grow with the paused clock, so "the
//!   newest task" is well defined. Nodes, ready or down ([`FakeSwarm::add_node`]).
//! - Secrets, configs and overlay networks with their labels; removing one a service spec still
//!   names answers [`EngineError::InUse`], as the daemon does.
//! - Registry digests ([`FakeSwarm::push`]); an unknown reference answers an error, as a loaded
//!   image without a registry does.
//! - Scripted errors ([`FakeSwarm::fail_next`]) and a log of the calls in order
//!   ([`FakeSwarm::calls`]).
//!
//! What it does not model: deadlines, parallelism, health checks, restart policies, job modes.
//!
//! Invariants:
//! - It speaks only the [`SwarmEngine`] trait's types, so anything a test sees could come from
//!   the real engine.
//! - Time is tokio's: a scripted transition is due at a [`tokio::time::Instant`] and is played
//!   lazily whenever anything looks at the swarm. The mutex is never held across an `.await`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::engine::api_version::ApiVersion;
use crate::engine::swarm::{
    NodeInfo, ObservedObject, ObservedService, SwarmEngine, TaskInfo, UpdateState, UpdateStatus,
};
use crate::engine::{EngineError, EngineResult};
use crate::manifest::Network;
use crate::swarm::spec::{DataKind, SwarmData, SwarmMode, SwarmSpec};

/// One variant per [`SwarmEngine`] method, for [`FakeSwarm::fail_next`] and [`FakeSwarm::calls`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SwarmOp {
    Ping,
    ListServices,
    ListTasks,
    ListNodes,
    ListData,
    ListNetworks,
    RegistryDigest,
    ServiceExists,
    CreateService,
    UpdateService,
    RemoveService,
    CreateData,
    RemoveData,
    CreateNetwork,
    RemoveNetwork,
}

/// One call as the fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmCall {
    pub op: SwarmOp,
    /// What the call was about: a service, secret, config or network name (resolved from the ID
    /// when the fake knows it), an image reference, or empty for a list.
    pub target: String,
    /// The version an update carried.
    pub version: Option<u64>,
}

/// What the swarm does after the next create or update of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// Tasks run `after` the write; an update completes then.
    Converges { after: Duration },
    /// An update fails `after` the write: a new task fails with `task_error`, the spec goes back
    /// to the previous one (and `PreviousSpec` is cleared), `rollback_completed` with `message`.
    RollsBack { after: Duration, message: String, task_error: String },
    /// An update fails `after` the write and is paused: the spec stays the new one.
    Pauses { after: Duration, message: String, task_error: String },
    /// The new tasks never leave `pending`, with scheduler error `error`; an update stays
    /// `updating`.
    StaysPending { error: String },
}

impl Default for Rollout {
    fn default() -> Self {
        Rollout::Converges { after: Duration::from_secs(1) }
    }
}

#[derive(Debug, Clone)]
struct Service {
    id: String,
    version: u64,
    spec: SwarmSpec,
    previous: Option<SwarmSpec>,
    update: Option<UpdateStatus>,
    /// A scripted transition and when it is due.
    due: Option<(Instant, Rollout)>,
}

struct World {
    start: Instant,
    /// The raft index: every write takes the next one.
    index: u64,
    next_id: u64,
    services: BTreeMap<String, Service>,
    tasks: Vec<TaskInfo>,
    nodes: Vec<NodeInfo>,
    data: BTreeMap<(DataKind, String), ObservedObject>,
    networks: BTreeMap<String, ObservedObject>,
    digests: BTreeMap<String, String>,
    scripts: BTreeMap<String, Rollout>,
    faults: BTreeMap<SwarmOp, VecDeque<EngineError>>,
    calls: Vec<SwarmCall>,
}

/// The in-memory swarm. Clones share one swarm.
#[derive(Clone)]
pub struct FakeSwarm {
    world: Arc<Mutex<World>>,
}

impl Default for FakeSwarm {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeSwarm {
    /// A swarm of one ready node, `node-1`.
    pub fn new() -> Self {
        let world = World {
            start: Instant::now(),
            index: 10,
            next_id: 0,
            services: BTreeMap::new(),
            tasks: Vec::new(),
            nodes: vec![NodeInfo { id: "node-1".into(), hostname: "vm".into(), ready: true, labels: BTreeMap::new() }],
            data: BTreeMap::new(),
            networks: BTreeMap::new(),
            digests: BTreeMap::new(),
            scripts: BTreeMap::new(),
            faults: BTreeMap::new(),
            calls: Vec::new(),
        };
        FakeSwarm { world: Arc::new(Mutex::new(world)) }
    }

    /// Locks the swarm, plays what is due by now, and runs `f`.
    fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        let mut world = self.world.lock().unwrap_or_else(|e| e.into_inner());
        world.advance(Instant::now());
        f(&mut world)
    }

    /// Logs the call, then answers a queued error if there is one.
    fn enter(&self, op: SwarmOp, target: &str, version: Option<u64>) -> EngineResult<()> {
        self.with(|w| {
            w.calls.push(SwarmCall { op, target: target.to_string(), version });
            match w.faults.get_mut(&op).and_then(VecDeque::pop_front) {
                Some(error) => Err(error),
                None => Ok(()),
            }
        })
    }

    /// What the swarm does after the next create or update of service `name`.
    pub fn script(&self, name: &str, rollout: Rollout) {
        self.with(|w| w.scripts.insert(name.to_string(), rollout));
    }

    /// Queues `error` as the answer of the next call of `op` (first in, first out); the call has
    /// no effect.
    pub fn fail_next(&self, op: SwarmOp, error: EngineError) {
        self.with(|w| w.faults.entry(op).or_default().push_back(error));
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<SwarmCall> {
        self.with(|w| w.calls.clone())
    }

    /// How many calls of `op` were made.
    pub fn count(&self, op: SwarmOp) -> usize {
        self.with(|w| w.calls.iter().filter(|c| c.op == op).count())
    }

    /// Makes the registry answer `digest` (`sha256:…`) for `reference`.
    pub fn push(&self, reference: &str, digest: &str) {
        self.with(|w| w.digests.insert(reference.to_string(), digest.to_string()));
    }

    /// Adds a node.
    pub fn add_node(&self, id: &str, ready: bool) {
        self.with(|w| w.nodes.push(NodeInfo { id: id.into(), hostname: id.into(), ready, labels: BTreeMap::new() }));
    }

    /// A service made by hand (no rollout: its tasks run at once); its ID.
    pub fn add_service(&self, spec: SwarmSpec) -> String {
        self.with(|w| {
            let id = w.create(spec);
            let service = &w.services[&id];
            let (spec, node) = (service.spec.clone(), w.nodes.first().map(|n| n.id.clone()).unwrap_or_default());
            for slot in 1..=w.task_count(&spec) {
                w.add_task(&id, slot, &node, "running", "", "started");
            }
            id
        })
    }

    /// Changes service `name` by hand (`docker service update`): its version moves on.
    pub fn edit_service(&self, name: &str, edit: impl FnOnce(&mut SwarmSpec)) {
        self.with(|w| {
            let index = w.bump();
            if let Some(service) = w.services.values_mut().find(|s| s.spec.name == name) {
                edit(&mut service.spec);
                service.version = index;
            }
        });
    }

    /// The service of that name as the swarm holds it.
    pub fn service(&self, name: &str) -> Option<ObservedService> {
        self.with(|w| w.services.values().find(|s| s.spec.name == name).map(Service::observed))
    }

    /// The previous spec of service `name` (`PreviousSpec`).
    pub fn previous(&self, name: &str) -> Option<SwarmSpec> {
        self.with(|w| w.services.values().find(|s| s.spec.name == name).and_then(|s| s.previous.clone()))
    }

    /// A secret, config or network made by hand, with these labels; its ID.
    pub fn add_data(&self, kind: DataKind, name: &str, labels: BTreeMap<String, String>) -> String {
        self.with(|w| {
            let id = w.new_id("data");
            w.data.insert((kind, name.to_string()), ObservedObject { id: id.clone(), name: name.into(), labels });
            id
        })
    }

    pub fn add_network(&self, name: &str, labels: BTreeMap<String, String>) -> String {
        self.with(|w| {
            let id = w.new_id("net");
            w.networks.insert(name.to_string(), ObservedObject { id: id.clone(), name: name.into(), labels });
            id
        })
    }

    /// The names of the secrets (or configs) that exist.
    pub fn data_names(&self, kind: DataKind) -> Vec<String> {
        self.with(|w| w.data.keys().filter(|(k, _)| *k == kind).map(|(_, n)| n.clone()).collect())
    }

    pub fn network_names(&self) -> Vec<String> {
        self.with(|w| w.networks.keys().cloned().collect())
    }

    /// Every task of service `name`.
    pub fn tasks(&self, name: &str) -> Vec<TaskInfo> {
        self.with(|w| {
            let id = w.services.values().find(|s| s.spec.name == name).map(|s| s.id.clone()).unwrap_or_default();
            w.tasks.iter().filter(|t| t.service_id == id).cloned().collect()
        })
    }
}

impl Service {
    fn observed(&self) -> ObservedService {
        ObservedService {
            id: self.id.clone(),
            version: self.version,
            spec: self.spec.clone(),
            update: self.update.clone(),
            previous: self.previous.clone(),
            desired_tasks: None,
        }
    }
}

fn labelled(labels: &BTreeMap<String, String>, key: &str, value: &str) -> bool {
    labels.get(key).is_some_and(|v| v == value)
}

impl World {
    fn bump(&mut self) -> u64 {
        self.index += 1;
        self.index
    }

    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    /// `Status.Timestamp` now, as RFC 3339 that sorts as it reads.
    fn timestamp(&self) -> String {
        let ms = Instant::now().duration_since(self.start).as_millis();
        let (s, ms) = (ms / 1000, ms % 1000);
        format!("2026-11-30T{:02}:{:02}:{:02}.{ms:03}Z", 10 + s / 3600, (s / 60) % 60, s % 60)
    }

    fn task_count(&self, spec: &SwarmSpec) -> u64 {
        match spec.mode {
            SwarmMode::Replicated { replicas } => replicas,
            SwarmMode::Global => self.nodes.iter().filter(|n| n.ready).count() as u64,
        }
    }

    fn add_task(&mut self, service_id: &str, slot: u64, node: &str, state: &str, error: &str, message: &str) {
        let id = self.new_id("task");
        let timestamp = self.timestamp();
        // Made from the service's spec as it is now, as Swarm's task carries its spec's labels.
        let spec_hash = self
            .services
            .values()
            .find(|s| s.id == service_id)
            .and_then(|s| s.spec.container_labels.get(crate::labels::SPEC_HASH).cloned());
        self.tasks.push(TaskInfo {
            id,
            service_id: service_id.to_string(),
            slot: Some(slot),
            node_id: node.to_string(),
            desired_state: "running".into(),
            state: state.into(),
            error: error.into(),
            message: message.into(),
            timestamp,
            spec_hash,
        });
    }

    /// Shuts down the live tasks of a service (an update replaces them).
    fn shut_down(&mut self, service_id: &str) {
        let timestamp = self.timestamp();
        for task in self.tasks.iter_mut().filter(|t| t.service_id == service_id && t.desired_state == "running") {
            task.desired_state = "shutdown".into();
            task.state = "shutdown".into();
            task.message = "shutdown".into();
            task.timestamp = timestamp.clone();
        }
    }

    fn create(&mut self, spec: SwarmSpec) -> String {
        let id = self.new_id("svc");
        let version = self.bump();
        let service = Service { id: id.clone(), version, spec, previous: None, update: None, due: None };
        self.services.insert(id.clone(), service);
        id
    }

    /// Starts the scripted rollout of a service just written: new tasks pending, the
    /// transition due later.
    fn start_rollout(&mut self, id: &str, is_update: bool) {
        let name = self.services[id].spec.name.clone();
        let rollout = self.scripts.remove(&name).unwrap_or_default();
        let count = self.task_count(&self.services[id].spec);
        let node = self.nodes.iter().find(|n| n.ready).map(|n| n.id.clone()).unwrap_or_default();
        if is_update {
            self.services.get_mut(id).expect("written").update =
                Some(UpdateStatus { state: UpdateState::Updating, message: "update in progress".into() });
        }
        match &rollout {
            Rollout::StaysPending { error } => {
                for slot in 1..=count {
                    self.add_task(id, slot, "", "pending", error, "pending task scheduling");
                }
            }
            Rollout::Converges { after } | Rollout::RollsBack { after, .. } | Rollout::Pauses { after, .. } => {
                if !is_update {
                    for slot in 1..=count {
                        self.add_task(id, slot, &node, "pending", "", "pending task scheduling");
                    }
                }
                let at = Instant::now() + *after;
                self.services.get_mut(id).expect("written").due = Some((at, rollout));
            }
        }
    }

    /// Plays every transition due by `now`.
    fn advance(&mut self, now: Instant) {
        let due: Vec<(String, Rollout)> = self
            .services
            .values_mut()
            .filter(|s| s.due.as_ref().is_some_and(|(at, _)| *at <= now))
            .filter_map(|s| s.due.take().map(|(_, r)| (s.id.clone(), r)))
            .collect();
        for (id, rollout) in due {
            self.play(&id, rollout);
        }
    }

    fn play(&mut self, id: &str, rollout: Rollout) {
        let updating = self.services[id].update.is_some();
        let count = self.task_count(&self.services[id].spec);
        let node = self.nodes.iter().find(|n| n.ready).map(|n| n.id.clone()).unwrap_or_default();
        let (state, message) = match rollout {
            Rollout::Converges { .. } => {
                if updating {
                    self.shut_down(id);
                    for slot in 1..=count {
                        self.add_task(id, slot, &node, "running", "", "started");
                    }
                } else {
                    let timestamp = self.timestamp();
                    for task in self.tasks.iter_mut().filter(|t| t.service_id == id && t.state == "pending") {
                        task.state = "running".into();
                        task.message = "started".into();
                        task.timestamp = timestamp.clone();
                    }
                }
                (UpdateState::Completed, "update completed".to_string())
            }
            Rollout::RollsBack { message, task_error, .. } => {
                self.add_failed_task(id, &node, &task_error);
                let service = self.services.get_mut(id).expect("rolled out");
                if let Some(previous) = service.previous.take() {
                    service.spec = previous;
                }
                (UpdateState::RollbackCompleted, message)
            }
            Rollout::Pauses { message, task_error, .. } => {
                self.add_failed_task(id, &node, &task_error);
                (UpdateState::Paused, message)
            }
            Rollout::StaysPending { .. } => return,
        };
        let index = self.bump();
        let service = self.services.get_mut(id).expect("rolled out");
        service.version = index;
        if updating {
            service.update = Some(UpdateStatus { state, message });
        }
    }

    fn add_failed_task(&mut self, id: &str, node: &str, error: &str) {
        self.add_task(id, 1, node, "failed", error, "started");
        let task = self.tasks.last_mut().expect("just added");
        task.desired_state = "shutdown".into();
    }

    fn in_use(&self, name: &str, kind: DataKind) -> Option<String> {
        self.services
            .values()
            .find(|s| {
                let refs = match kind {
                    DataKind::Secret => &s.spec.secrets,
                    DataKind::Config => &s.spec.configs,
                };
                refs.iter().any(|r| r.name == name)
            })
            .map(|s| s.spec.name.clone())
    }
}

impl SwarmEngine for FakeSwarm {
    async fn swarm_ping(&self) -> EngineResult<()> {
        self.enter(SwarmOp::Ping, "", None)
    }

    fn api_version(&self) -> ApiVersion {
        ApiVersion::new(1, 41)
    }

    async fn list_services(&self, instance: &str) -> EngineResult<Vec<ObservedService>> {
        self.enter(SwarmOp::ListServices, "", None)?;
        Ok(self.with(|w| {
            w.services
                .values()
                .filter(|s| {
                    labelled(&s.spec.labels, "moor.instance", instance)
                        && labelled(&s.spec.labels, "moor.backend", "swarm")
                })
                .map(Service::observed)
                .collect()
        }))
    }

    async fn list_tasks(&self, service_ids: &[String]) -> EngineResult<Vec<TaskInfo>> {
        self.enter(SwarmOp::ListTasks, "", None)?;
        Ok(self.with(|w| w.tasks.iter().filter(|t| service_ids.contains(&t.service_id)).cloned().collect()))
    }

    async fn list_nodes(&self) -> EngineResult<Vec<NodeInfo>> {
        self.enter(SwarmOp::ListNodes, "", None)?;
        Ok(self.with(|w| w.nodes.clone()))
    }

    async fn list_data(&self, kind: DataKind, instance: &str) -> EngineResult<Vec<ObservedObject>> {
        self.enter(SwarmOp::ListData, "", None)?;
        Ok(self.with(|w| {
            w.data
                .iter()
                .filter(|((k, _), o)| *k == kind && labelled(&o.labels, "moor.instance", instance))
                .map(|(_, o)| o.clone())
                .collect()
        }))
    }

    async fn list_networks(&self, instance: &str) -> EngineResult<Vec<ObservedObject>> {
        self.enter(SwarmOp::ListNetworks, "", None)?;
        Ok(self.with(|w| {
            w.networks
                .values()
                .filter(|o| {
                    labelled(&o.labels, "moor.instance", instance) && labelled(&o.labels, "moor.backend", "swarm")
                })
                .cloned()
                .collect()
        }))
    }

    async fn registry_digest(&self, reference: &str) -> EngineResult<String> {
        self.enter(SwarmOp::RegistryDigest, reference, None)?;
        self.with(|w| w.digests.get(reference).cloned())
            .ok_or_else(|| EngineError::Api { status: 500, message: format!("no registry holds {reference}") })
    }

    async fn create_service(&self, spec: &SwarmSpec) -> EngineResult<String> {
        self.enter(SwarmOp::CreateService, &spec.name, None)?;
        self.with(|w| {
            if w.services.values().any(|s| s.spec.name == spec.name) {
                return Err(EngineError::NameInUse { name: spec.name.clone() });
            }
            let id = w.create(spec.clone());
            w.start_rollout(&id, false);
            Ok(id)
        })
    }

    async fn update_service(&self, id: &str, version: u64, spec: &SwarmSpec) -> EngineResult<()> {
        self.enter(SwarmOp::UpdateService, &spec.name, Some(version))?;
        self.with(|w| {
            let current = w.services.get(id).ok_or_else(|| EngineError::NotFound { what: format!("service {id}") })?;
            if current.version != version {
                return Err(EngineError::OutOfSequence("update out of sequence".into()));
            }
            let index = w.bump();
            let service = w.services.get_mut(id).expect("found above");
            service.previous = Some(std::mem::replace(&mut service.spec, spec.clone()));
            service.version = index;
            service.due = None;
            w.start_rollout(id, true);
            Ok(())
        })
    }

    async fn service_exists(&self, name: &str) -> EngineResult<bool> {
        self.enter(SwarmOp::ServiceExists, name, None)?;
        Ok(self.with(|w| w.services.values().any(|s| s.spec.name == name)))
    }

    async fn remove_service(&self, id: &str) -> EngineResult<()> {
        let name = self.with(|w| w.services.get(id).map(|s| s.spec.name.clone())).unwrap_or_else(|| id.to_string());
        self.enter(SwarmOp::RemoveService, &name, None)?;
        self.with(|w| {
            w.services.remove(id);
            w.tasks.retain(|t| t.service_id != id);
            w.bump();
        });
        Ok(())
    }

    async fn create_data(&self, data: &SwarmData) -> EngineResult<()> {
        self.enter(SwarmOp::CreateData, &data.name, None)?;
        self.with(|w| {
            let key = (data.kind, data.name.clone());
            if !w.data.contains_key(&key) {
                let id = w.new_id("data");
                w.data.insert(key, ObservedObject { id, name: data.name.clone(), labels: data.labels.clone() });
                w.bump();
            }
        });
        Ok(())
    }

    async fn remove_data(&self, kind: DataKind, id: &str) -> EngineResult<()> {
        let name = self
            .with(|w| w.data.values().find(|o| o.id == id).map(|o| o.name.clone()))
            .unwrap_or_else(|| id.to_string());
        self.enter(SwarmOp::RemoveData, &name, None)?;
        self.with(|w| {
            if let Some(service) = w.in_use(&name, kind) {
                let what = if kind == DataKind::Secret { "secret" } else { "config" };
                return Err(EngineError::InUse(format!(
                    "{what} '{name}' is in use by the following service: {service}"
                )));
            }
            w.data.retain(|_, o| o.id != id);
            w.bump();
            Ok(())
        })
    }

    async fn create_network(&self, name: &str, _network: &Network, instance: &str) -> EngineResult<()> {
        self.enter(SwarmOp::CreateNetwork, name, None)?;
        self.with(|w| {
            if !w.networks.contains_key(name) {
                let id = w.new_id("net");
                let labels = BTreeMap::from([
                    ("moor.instance".to_string(), instance.to_string()),
                    ("moor.backend".to_string(), "swarm".to_string()),
                ]);
                w.networks.insert(name.to_string(), ObservedObject { id, name: name.into(), labels });
                w.bump();
            }
        });
        Ok(())
    }

    async fn remove_network(&self, id: &str) -> EngineResult<()> {
        let name = self
            .with(|w| w.networks.values().find(|o| o.id == id).map(|o| o.name.clone()))
            .unwrap_or_else(|| id.to_string());
        self.enter(SwarmOp::RemoveNetwork, &name, None)?;
        self.with(|w| {
            if let Some(service) = w.services.values().find(|s| s.spec.networks.iter().any(|n| n.target == name)) {
                return Err(EngineError::InUse(format!("network {name} is in use by service {}", service.spec.name)));
            }
            w.networks.retain(|_, o| o.id != id);
            w.bump();
            Ok(())
        })
    }
}

#[cfg(test)]
#[path = "swarm_tests.rs"]
mod tests;
