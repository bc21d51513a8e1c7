//! The fake daemon's state and its state machine. [`super::FakeEngine`] locks it, brings it up to
//! tokio's current time with [`World::advance`], and calls one method per operation; nothing here
//! awaits or reads a clock.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;

use super::{Behaviour, FakeContainer, Op};
use crate::engine::{ContainerEvent, ContainerInfo, CreateRequest, Deadlines, EngineError, EngineResult, ImageInfo};
use crate::labels::{INSTANCE, SERVICE};
use crate::manifest::model::Mount;
use crate::manifest::{ContainerSpec, Network, Volume};
use crate::observe::{Health, ObservedContainer, ObservedResource, RunState};

/// The `created` of the first container (Unix seconds).
const EPOCH_SECONDS: i64 = 1_700_000_000;
/// Networks every daemon has: a container may join them without creating them.
const BUILTIN_NETWORKS: &[&str] = &["bridge", "host", "none"];
/// The exit code of a killed process: 128 + SIGKILL.
const KILLED: i64 = 137;

pub(super) fn unavailable() -> EngineError {
    EngineError::Unavailable("connection refused (the fake daemon is down)".into())
}

fn no_such_container(key: &str) -> EngineError {
    EngineError::NotFound { what: format!("Docker answered 404: No such container: {key}") }
}

/// An event as the daemon emits it, before a stream filters it.
#[derive(Debug, Clone)]
pub(super) struct Emitted {
    pub instance: Option<String>,
    /// The outages before it: a stream passes on only the events of its own connection.
    pub outages: u64,
    pub event: ContainerEvent,
}

/// What a stop left to do.
pub(super) enum Stopping {
    Done,
    /// The container ignores the signal: kill it by ID once the timeout has passed.
    Ignored(String),
}

struct Container {
    c: FakeContainer,
    /// While running: when it exits by itself, and with which code.
    exits_at: Option<(Instant, i64)>,
    /// While removing: when the removal finishes.
    gone_at: Option<Instant>,
}

impl Container {
    fn deadline(&self) -> Option<Instant> {
        match self.c.state {
            RunState::Running => self.exits_at.map(|(at, _)| at),
            RunState::Removing => self.gone_at,
            _ => None,
        }
    }
}

pub(super) struct World {
    pub down: bool,
    /// How many times the daemon went down.
    pub outages: u64,
    pub removal_delay: Duration,
    pub calls: BTreeMap<Op, usize>,
    pub faults: BTreeMap<Op, VecDeque<EngineError>>,
    /// Errors answered after the call took effect (a lost answer), per op.
    pub late_faults: BTreeMap<Op, VecDeque<EngineError>>,
    pub deadlines: Deadlines,
    pub slow: BTreeMap<Op, Duration>,
    pub behaviours: BTreeMap<String, Behaviour>,
    /// Local images: ID → repo digests.
    images: BTreeMap<String, Vec<String>>,
    /// Local references (normalized) → image ID.
    tags: BTreeMap<String, String>,
    /// The registry: reference (normalized) → (manifest digest, image ID).
    registry: BTreeMap<String, (String, String)>,
    containers: BTreeMap<String, Container>,
    networks: BTreeMap<String, BTreeMap<String, String>>,
    volumes: BTreeMap<String, BTreeMap<String, String>>,
    events: broadcast::Sender<Emitted>,
    epoch: Instant,
    now: Instant,
    made: u64,
    last_created: i64,
    /// The code of each container's last exit, kept after an auto-remove deleted it: what
    /// Docker's wait call answers (see `FakeEngine::run_to_exit`).
    pub exits: BTreeMap<String, i64>,
}

impl World {
    pub fn new(events: broadcast::Sender<Emitted>) -> Self {
        let now = Instant::now();
        World {
            down: false,
            outages: 0,
            removal_delay: Duration::ZERO,
            calls: BTreeMap::new(),
            faults: BTreeMap::new(),
            late_faults: BTreeMap::new(),
            deadlines: Deadlines::DEFAULT,
            slow: BTreeMap::new(),
            behaviours: BTreeMap::new(),
            images: BTreeMap::new(),
            tags: BTreeMap::new(),
            registry: BTreeMap::new(),
            containers: BTreeMap::new(),
            networks: BTreeMap::new(),
            volumes: BTreeMap::new(),
            events,
            epoch: now,
            now,
            made: 0,
            last_created: EPOCH_SECONDS - 1,
            exits: BTreeMap::new(),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Emitted> {
        self.events.subscribe()
    }

    /// Counts a call of `op` and tells how long it must sleep first.
    pub fn count(&mut self, op: Op) -> Option<Duration> {
        *self.calls.entry(op).or_default() += 1;
        self.slow.get(&op).copied()
    }

    /// The answer of a call that does not reach the daemon, or a scripted one.
    pub fn gate(&mut self, op: Op) -> EngineResult<()> {
        if self.down {
            return Err(unavailable());
        }
        match self.faults.get_mut(&op).and_then(VecDeque::pop_front) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// The answer of a call that took effect: a scripted late error, or `Ok`.
    pub fn late(&mut self, op: Op) -> EngineResult<()> {
        match self.late_faults.get_mut(&op).and_then(VecDeque::pop_front) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Plays every exit and removal due by `now`, in the order of their times.
    pub fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now);
        let now = self.now;
        while let Some((at, id)) = self
            .containers
            .values()
            .filter_map(|c| Some((c.deadline()?, c.c.id.clone())))
            .filter(|(at, _)| *at <= now)
            .min()
        {
            match self.containers.get(&id).map(|c| (c.c.state, c.exits_at)) {
                Some((RunState::Running, Some((_, code)))) => self.exit(&id, code, at, &["die"]),
                _ => self.delete(&id),
            }
        }
    }

    /// When the next exit or removal is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.containers.values().filter_map(Container::deadline).min()
    }

    fn emit(&self, id: &str, action: &str) {
        let Some(c) = self.containers.get(id) else { return };
        let event = ContainerEvent {
            service: c.c.labels.get(SERVICE).cloned(),
            action: action.into(),
            container: c.c.name.clone(),
        };
        // No receiver is no error: nobody watches.
        let _ = self.events.send(Emitted { instance: c.c.labels.get(INSTANCE).cloned(), outages: self.outages, event });
    }

    /// A container by ID, name, or unique ID prefix, as Docker resolves them.
    pub fn find(&self, key: &str) -> Option<String> {
        if self.containers.contains_key(key) {
            return Some(key.to_string());
        }
        if let Some(c) = self.containers.values().find(|c| c.c.name == key) {
            return Some(c.c.id.clone());
        }
        let mut prefixed = self.containers.keys().filter(|id| !key.is_empty() && id.starts_with(key));
        match (prefixed.next(), prefixed.next()) {
            (Some(id), None) => Some(id.clone()),
            _ => None,
        }
    }

    pub fn state(&self, id: &str) -> Option<RunState> {
        self.containers.get(id).map(|c| c.c.state)
    }

    fn behaviour_of(&self, id: &str) -> Behaviour {
        self.containers.get(id).and_then(|c| self.behaviours.get(&c.c.image_id)).copied().unwrap_or_default()
    }

    fn health(&self, c: &Container) -> Health {
        let checked = c.c.spec.as_ref().and_then(|s| s.healthcheck.as_ref()).is_some_and(|h| h.test[..] != ["NONE"]);
        match (c.c.state, checked, self.behaviour_of(&c.c.id)) {
            (RunState::Running, true, Behaviour::Unhealthy) => Health::Unhealthy,
            (RunState::Running, true, _) => Health::Healthy,
            _ => Health::None,
        }
    }

    // Images and the registry.

    pub fn add_image(&mut self, reference: &str, id: &str) {
        self.images.entry(id.to_string()).or_default();
        self.tags.insert(normalize(reference), id.to_string());
    }

    pub fn push(&mut self, reference: &str, digest: &str, image_id: &str) {
        self.registry.insert(normalize(reference), (digest.to_string(), image_id.to_string()));
    }

    fn resolve_image(&self, reference: &str) -> Option<String> {
        if self.images.contains_key(reference) {
            return Some(reference.to_string());
        }
        let prefixed = format!("sha256:{reference}");
        if self.images.contains_key(&prefixed) {
            return Some(prefixed);
        }
        if let Some(id) = self.tags.get(&normalize(reference)) {
            return Some(id.clone());
        }
        self.images.iter().find(|(_, digests)| digests.iter().any(|d| d == reference)).map(|(id, _)| id.clone())
    }

    pub fn image(&self, reference: &str) -> Option<ImageInfo> {
        let id = self.resolve_image(reference)?;
        Some(ImageInfo { repo_digests: self.images.get(&id).cloned().unwrap_or_default(), id })
    }

    pub fn registry_digest(&self, reference: &str) -> EngineResult<String> {
        match self.registry.get(&normalize(reference)) {
            Some((digest, _)) => Ok(digest.clone()),
            None => Err(EngineError::NotFound { what: format!("Docker answered 404: manifest unknown: {reference}") }),
        }
    }

    pub fn pull(&mut self, reference: &str) -> EngineResult<()> {
        let key = normalize(reference);
        let Some((digest, id)) = self.registry.get(&key).cloned() else {
            return Err(EngineError::NotFound { what: format!("Docker answered 404: manifest unknown: {reference}") });
        };
        let repo_digest = format!("{}@{digest}", repository(reference));
        let digests = self.images.entry(id.clone()).or_default();
        if !digests.contains(&repo_digest) {
            digests.push(repo_digest);
        }
        self.tags.insert(key, id);
        Ok(())
    }

    // Containers.

    fn check_name_free(&self, name: &str) -> EngineResult<()> {
        match self.containers.values().any(|c| c.c.name == name) {
            true => Err(EngineError::NameInUse { name: name.to_string() }),
            false => Ok(()),
        }
    }

    pub fn create(&mut self, request: &CreateRequest) -> EngineResult<String> {
        let image_id = self.resolve_image(&request.image).ok_or_else(|| EngineError::NotFound {
            what: format!("Docker answered 404: No such image: {}", request.image),
        })?;
        self.check_name_free(&request.name)?;
        let missing = request
            .spec
            .networks
            .iter()
            .find(|n| !BUILTIN_NETWORKS.contains(&n.as_str()) && !self.networks.contains_key(n.as_str()));
        if let Some(network) = missing {
            return Err(EngineError::NotFound { what: format!("Docker answered 404: network {network} not found") });
        }
        for mount in &request.spec.mounts {
            if let Mount::Volume { source, .. } = mount {
                // Docker makes a missing named volume, without labels.
                self.volumes.entry(source.clone()).or_default();
            }
        }
        let spec = Some(request.spec.clone());
        Ok(self.insert(&request.name, &request.image, image_id, request.labels.clone(), spec))
    }

    pub fn create_foreign(&mut self, name: &str, labels: BTreeMap<String, String>) -> EngineResult<String> {
        self.check_name_free(name)?;
        Ok(self.insert(name, "foreign", String::new(), labels, None))
    }

    fn insert(
        &mut self,
        name: &str,
        image: &str,
        image_id: String,
        labels: BTreeMap<String, String>,
        spec: Option<ContainerSpec>,
    ) -> String {
        self.made += 1;
        let id = container_id(self.made);
        let elapsed = i64::try_from(self.now.duration_since(self.epoch).as_secs()).unwrap_or(i64::MAX);
        self.last_created = (self.last_created + 1).max(EPOCH_SECONDS.saturating_add(elapsed));
        let c = FakeContainer {
            id: id.clone(),
            name: name.to_string(),
            state: RunState::Created,
            exit_code: 0,
            image: image.to_string(),
            image_id,
            created: self.last_created,
            labels,
            spec,
        };
        self.containers.insert(id.clone(), Container { c, exits_at: None, gone_at: None });
        self.emit(&id, "create");
        id
    }

    pub fn start(&mut self, key: &str) -> EngineResult<()> {
        let id = self.find(key).ok_or_else(|| no_such_container(key))?;
        let (now, behaviour) = (self.now, self.behaviour_of(&id));
        let Some(c) = self.containers.get_mut(&id) else { return Err(no_such_container(key)) };
        match c.c.state {
            RunState::Removing => {
                return Err(EngineError::MarkedForRemoval(format!(
                    "container {id} is marked for removal and cannot be started"
                )))
            }
            RunState::Running => return Ok(()),
            _ => {}
        }
        c.c.state = RunState::Running;
        c.c.exit_code = 0;
        c.exits_at = match behaviour {
            Behaviour::ExitsAfter { after, code } => Some((now + after, code)),
            _ => None,
        };
        self.emit(&id, "start");
        // An exit after zero time happens now.
        self.advance(now);
        Ok(())
    }

    /// Marks a container exited, without events.
    fn terminate(&mut self, id: &str, code: i64) {
        if let Some(c) = self.containers.get_mut(id) {
            self.exits.insert(id.to_string(), code);
            c.c.state = RunState::Exited;
            c.c.exit_code = code;
            c.exits_at = None;
        }
    }

    /// The process ended at `at`: emits `actions`, then an auto-remove container goes away.
    fn exit(&mut self, id: &str, code: i64, at: Instant, actions: &[&str]) {
        self.terminate(id, code);
        for action in actions {
            self.emit(id, action);
        }
        let auto_remove = self.containers.get(id).and_then(|c| c.c.spec.as_ref()).is_some_and(|s| s.auto_remove);
        if auto_remove && self.removal_delay.is_zero() {
            self.delete(id);
        } else if let Some(c) = self.containers.get_mut(id).filter(|_| auto_remove) {
            c.c.state = RunState::Removing;
            c.gone_at = Some(at + self.removal_delay);
        }
    }

    fn delete(&mut self, id: &str) {
        self.emit(id, "destroy");
        self.containers.remove(id);
    }

    pub fn stop(&mut self, key: &str) -> Stopping {
        let Some(id) = self.find(key).filter(|id| self.state(id) == Some(RunState::Running)) else {
            return Stopping::Done;
        };
        if self.behaviour_of(&id) == Behaviour::IgnoresStop {
            self.emit(&id, "kill");
            return Stopping::Ignored(id);
        }
        self.exit(&id, 0, self.now, &["kill", "die", "stop"]);
        Stopping::Done
    }

    /// The end of a stop's timeout: a container still running is killed.
    pub fn kill_after_stop(&mut self, id: &str) {
        if self.state(id) == Some(RunState::Running) {
            self.exit(id, KILLED, self.now, &["kill", "die", "stop"]);
        }
    }

    /// A forced remove. Answers the container's ID when Docker is removing it already: the
    /// caller waits until it is gone.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let id = self.find(key)?;
        if self.state(&id) == Some(RunState::Removing) {
            return Some(id);
        }
        self.rm_f(&id);
        None
    }

    /// `docker rm -f`: true when there was such a container.
    pub fn rm_f(&mut self, key: &str) -> bool {
        let Some(id) = self.find(key) else { return false };
        if self.state(&id) == Some(RunState::Running) {
            self.terminate(&id, KILLED);
            self.emit(&id, "kill");
            self.emit(&id, "die");
        }
        self.delete(&id);
        true
    }

    /// `docker stop`, without waiting for a container that ignores the signal: true when it was
    /// running.
    pub fn stop_now(&mut self, key: &str) -> bool {
        let Some(id) = self.find(key).filter(|id| self.state(id) == Some(RunState::Running)) else { return false };
        let code = if self.behaviour_of(&id) == Behaviour::IgnoresStop { KILLED } else { 0 };
        self.exit(&id, code, self.now, &["kill", "die", "stop"]);
        true
    }

    /// The process exits with `code`: true when it was running.
    pub fn crash(&mut self, key: &str, code: i64) -> bool {
        let Some(id) = self.find(key).filter(|id| self.state(id) == Some(RunState::Running)) else { return false };
        self.exit(&id, code, self.now, &["die"]);
        true
    }

    pub fn rename(&mut self, key: &str, name: &str) -> EngineResult<()> {
        let id = self.find(key).ok_or_else(|| no_such_container(key))?;
        if let Some(holder) = self.containers.values().find(|c| c.c.name == name) {
            return Err(match holder.c.id == id {
                true => EngineError::Api {
                    status: 400,
                    message: "Renaming a container with the same name as its current name".into(),
                },
                false => EngineError::NameInUse { name: name.to_string() },
            });
        }
        if let Some(c) = self.containers.get_mut(&id) {
            c.c.name = name.to_string();
        }
        self.emit(&id, "rename");
        Ok(())
    }

    pub fn exists(&self, key: &str) -> bool {
        self.find(key).is_some()
    }

    pub fn inspect(&self, key: &str) -> Option<ContainerInfo> {
        let c = self.containers.get(&self.find(key)?)?;
        Some(ContainerInfo {
            id: c.c.id.clone(),
            name: c.c.name.clone(),
            state: c.c.state,
            health: self.health(c),
            exit_code: Some(c.c.exit_code),
            labels: c.c.labels.clone(),
        })
    }

    /// The containers of `instance`, newest first as Docker lists them.
    pub fn list(&self, instance: &str) -> Vec<ObservedContainer> {
        let mut list: Vec<ObservedContainer> = self
            .containers
            .values()
            .filter(|c| c.c.labels.get(INSTANCE).is_some_and(|i| i == instance))
            .map(|c| ObservedContainer {
                id: c.c.id.clone(),
                name: c.c.name.clone(),
                state: c.c.state,
                health: self.health(c),
                image: c.c.image.clone(),
                image_id: c.c.image_id.clone(),
                created: c.c.created,
                exit_code: (c.c.state == RunState::Exited).then_some(c.c.exit_code),
                labels: c.c.labels.clone(),
                networks: attached(&c.c),
            })
            .collect();
        list.sort_by_key(|c| std::cmp::Reverse(c.created));
        list
    }

    /// Every container, by name.
    pub fn snapshot(&self) -> Vec<FakeContainer> {
        let mut all: Vec<FakeContainer> = self.containers.values().map(|c| c.c.clone()).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    pub fn container(&self, key: &str) -> Option<FakeContainer> {
        self.containers.get(&self.find(key)?).map(|c| c.c.clone())
    }

    // Networks and volumes.

    fn users(&self, uses: impl Fn(&ContainerSpec) -> bool) -> Vec<String> {
        self.containers.values().filter(|c| c.c.spec.as_ref().is_some_and(&uses)).map(|c| c.c.name.clone()).collect()
    }

    pub fn connect_network(&mut self, key: &str, network: &str, _aliases: &[String]) -> EngineResult<()> {
        let id = self.find(key).ok_or_else(|| no_such_container(key))?;
        if !BUILTIN_NETWORKS.contains(&network) && !self.networks.contains_key(network) {
            return Err(EngineError::NotFound { what: format!("Docker answered 404: network {network} not found") });
        }
        let c = self.containers.get_mut(&id).expect("found");
        let mut spec = c.c.spec.clone().unwrap_or_else(|| ContainerSpec::bare(&c.c.image));
        if !spec.networks.iter().any(|n| n == network) {
            // Docker keeps the network it started on (`bridge` for a spec without one).
            if spec.networks.is_empty() && spec.host.network_mode.is_none() {
                spec.networks.push("bridge".into());
            }
            spec.networks.push(network.to_string());
        }
        c.c.spec = Some(spec);
        Ok(())
    }

    pub fn create_network(&mut self, network: &Network, instance: &str) {
        let mut labels = network.labels.clone();
        labels.insert(INSTANCE.into(), instance.into());
        self.networks.entry(network.name.clone()).or_insert(labels);
    }

    pub fn remove_network(&mut self, name: &str) -> EngineResult<()> {
        let users = self.users(|s| s.networks.iter().any(|n| n == name));
        if !users.is_empty() {
            let users = users.join(", ");
            return Err(EngineError::InUse(format!("network {name} has active endpoints ({users})")));
        }
        self.networks.remove(name);
        Ok(())
    }

    pub fn create_volume(&mut self, volume: &Volume, instance: &str) {
        let mut labels = volume.labels.clone();
        labels.insert(INSTANCE.into(), instance.into());
        self.volumes.entry(volume.name.clone()).or_insert(labels);
    }

    pub fn remove_volume(&mut self, name: &str) -> EngineResult<()> {
        let users =
            self.users(|s| s.mounts.iter().any(|m| matches!(m, Mount::Volume { source, .. } if source == name)));
        if !users.is_empty() {
            return Err(EngineError::InUse(format!("remove {name}: volume is in use - [{}]", users.join(", "))));
        }
        self.volumes.remove(name);
        Ok(())
    }

    /// Networks (or volumes), all or those of `instance`.
    pub fn resources(&self, volumes: bool, instance: Option<&str>) -> Vec<ObservedResource> {
        let map = if volumes { &self.volumes } else { &self.networks };
        map.iter()
            .filter(|(_, labels)| instance.is_none_or(|i| labels.get(INSTANCE).is_some_and(|l| l == i)))
            .map(|(name, labels)| ObservedResource { name: name.clone(), labels: labels.clone() })
            .collect()
    }
}

/// `app` is `app:latest`, as Docker reads it.
fn normalize(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    if reference.contains('@') || last.contains(':') {
        reference.to_string()
    } else {
        format!("{reference}:latest")
    }
}

/// The repository of `repo:tag` or `repo@digest`.
fn repository(reference: &str) -> &str {
    if let Some((repo, _)) = reference.split_once('@') {
        return repo;
    }
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => reference,
    }
}

/// 64 hex digits, different for each `n`, the same on every run.
fn container_id(n: u64) -> String {
    fn mix(x: u64) -> u64 {
        let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    (0..4).map(|k| format!("{:016x}", mix(n.wrapping_mul(4).wrapping_add(k)))).collect()
}

/// The networks a container is on, as Docker's list shows them: its spec's, or `bridge` for a
/// spec with neither networks nor a network mode.
fn attached(c: &FakeContainer) -> Vec<String> {
    match &c.spec {
        Some(spec) if spec.host.network_mode.is_some() => Vec::new(),
        Some(spec) if !spec.networks.is_empty() => spec.networks.clone(),
        _ => vec!["bridge".into()],
    }
}
