//! An in-memory [`Engine`]: Docker's semantics without Docker, for controller tests on tokio's
//! paused clock (`#[tokio::test(start_paused = true)]`).
//!
//! What it models:
//! - Images by reference and ID, a registry ([`FakeEngine::push`]) that `registry_digest` and
//!   `pull` read, and what a container of an image does once started ([`Behaviour`]).
//! - Containers through created, running, exited and removing, with the answers of the table in
//!   [`super::docker`]: start and stop answer `Ok` when already in that state, stop and remove
//!   `Ok` for an unknown container, inspect `Ok(None)`; create and rename answer
//!   [`EngineError::NameInUse`] for a taken name; start on a container being removed answers
//!   [`EngineError::MarkedForRemoval`], and remove waits for that removal and answers `Ok`.
//! - Auto-remove: a container with `spec.auto_remove` is deleted when it stops or exits, after
//!   [`FakeEngine::set_removal_delay`] during which it shows as [`RunState::Removing`].
//! - Health from the spec's healthcheck and the image's behaviour (never `starting`).
//! - Networks and volumes with their labels, and which containers use them.
//! - Container output: lines a test records ([`FakeEngine::write_log`]), read by `logs` (`logs.rs`).
//! - Events (`create`, `start`, `kill`, `die`, `stop`, `destroy`, `rename`) as Docker emits them,
//!   the daemon going away ([`FakeEngine::set_down`]), scripted errors ([`FakeEngine::fail_next`],
//!   and [`FakeEngine::fail_after`] for an answer lost after the call took effect), a slow daemon
//!   ([`FakeEngine::slow`]), a frozen one ([`FakeEngine::freeze`]: calls wait, the event stream
//!   stays open and quiet) and call counts ([`FakeEngine::calls`]).
//! - The deadlines of [`crate::engine::deadlines`], as [`super::DockerEngine`] applies them: a
//!   call that a slow or frozen fake keeps past its deadline answers [`EngineError::Timeout`]
//!   (stop's deadline is its timeout plus the margin). [`FakeEngine::set_deadlines`] changes them.
//! - Hand operations a test does from outside moor (`docker rm -f`, `docker stop`, a crash, a
//!   container moor does not own).
//!
//! What it does not model: restart policies (every container behaves as `restart: no`), ports,
//! real networking (joining a network is only recorded), exec, pause, OOM, `health_status`
//! events, resource limits, image layers or pull progress (a pull's idle deadline bounds the
//! whole fake pull), and a freeze of the log stream. While frozen, containers go on running and
//! exiting, and hand operations still act.
//!
//! Invariants:
//! - It speaks only the [`Engine`] trait's types ([`EngineError`], [`ContainerInfo`],
//!   [`ObservedContainer`], …), so anything a controller test sees could come from
//!   [`super::DockerEngine`].
//! - Time is tokio's: exits and removals are due at a [`tokio::time::Instant`] and are played
//!   lazily, in order, whenever anything looks at the world (every call, every snapshot, and an
//!   event stream that sleeps until the next one is due). It spawns no task or thread and never
//!   blocks; the state's mutex is never held across an `.await`.

mod logs;
pub mod swarm;
mod world;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use self::world::{unavailable, Emitted, Stopping, World};
use super::api_version::ApiVersion;
use super::deadlines::within;
use super::{
    ContainerEvent, ContainerInfo, CreateRequest, Deadlines, Engine, EngineError, EngineResult, EventStream, ImageInfo,
    LogLine, LogStream,
};
use crate::manifest::{ContainerSpec, Network, Volume};
use crate::observe::{ObservedContainer, ObservedResource, RunState};

/// How often a wait for a removal looks, as [`super::docker`] polls.
const REMOVAL_POLL: Duration = Duration::from_millis(20);
/// How long remove waits for a removal in progress, as [`super::docker`] does.
const REMOVAL_TIMEOUT: Duration = Duration::from_secs(30);
/// Events a stream may fall behind by before it loses the oldest.
const EVENT_BUFFER: usize = 4096;

/// One variant per [`Engine`] method, for [`FakeEngine::fail_next`], [`FakeEngine::slow`] and
/// [`FakeEngine::calls`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Ping,
    Events,
    ListContainers,
    ListNetworks,
    ListVolumes,
    Inspect,
    Image,
    RegistryDigest,
    Pull,
    Create,
    Start,
    Stop,
    Remove,
    WaitRemoved,
    /// A job's run to its exit (`run_to_exit`).
    Wait,
    Rename,
    ConnectNetwork,
    CreateNetwork,
    RemoveNetwork,
    CreateVolume,
    RemoveVolume,
    Logs,
}

/// What a container of an image does once started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behaviour {
    /// Runs until stopped, and stops with exit code 0.
    #[default]
    RunsForever,
    /// Exits by itself `after` each start, with `code`; `Duration::ZERO` exits at once.
    ExitsAfter { after: Duration, code: i64 },
    /// Runs, but fails its healthcheck: `Health::Unhealthy` when the spec has one.
    Unhealthy,
    /// Ignores the stop signal: a stop takes its whole timeout, then kills it (exit code 137).
    IgnoresStop,
}

/// A container as a test sees it from outside.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeContainer {
    pub id: String,
    pub name: String,
    pub state: RunState,
    /// 0 until it exits.
    pub exit_code: i64,
    /// What it was created from: a reference or an image ID.
    pub image: String,
    pub image_id: String,
    /// Unix seconds; each container's is greater than the one made before it.
    pub created: i64,
    pub labels: BTreeMap<String, String>,
    /// `None` for one made by [`FakeEngine::create_foreign`].
    pub spec: Option<ContainerSpec>,
}

/// The in-memory engine. Clones share one daemon.
#[derive(Clone)]
pub struct FakeEngine {
    shared: Arc<Shared>,
}

struct Shared {
    world: Mutex<World>,
    /// The outage count, to wake event streams when the daemon goes down.
    outages: watch::Sender<u64>,
    /// True while the daemon is frozen: calls and event streams wait for the thaw.
    frozen: watch::Sender<bool>,
    /// Each container's output by ID (`logs.rs`); apart from the world, which it never locks with.
    logs: Mutex<BTreeMap<String, Vec<LogLine>>>,
    /// The negotiated API version ([`FakeEngine::set_api_version`]); 1.41 as this machine's.
    api_version: Mutex<ApiVersion>,
}

impl Shared {
    /// Locks the world, plays what is due by now, and runs `f`.
    fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        let mut world = self.world.lock().unwrap_or_else(|e| e.into_inner());
        world.advance(Instant::now());
        f(&mut world)
    }

    fn logs(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<LogLine>>> {
        self.logs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for FakeEngine {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeEngine {
    pub fn new() -> Self {
        let events = broadcast::channel(EVENT_BUFFER).0;
        let shared = Shared {
            world: Mutex::new(World::new(events)),
            outages: watch::channel(0).0,
            frozen: watch::channel(false).0,
            logs: Mutex::new(BTreeMap::new()),
            api_version: Mutex::new(ApiVersion::new(1, 41)),
        };
        FakeEngine { shared: Arc::new(shared) }
    }

    fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        self.shared.with(f)
    }

    /// The start of every call: counts it, sleeps when the op is slow, waits while the daemon
    /// is frozen, then fails when the daemon is down or an error is queued for it.
    async fn enter(&self, op: Op) -> EngineResult<()> {
        if let Some(delay) = self.with(|w| w.count(op)) {
            tokio::time::sleep(delay).await;
        }
        self.thawed().await;
        self.with(|w| w.gate(op))
    }

    /// Returns once the daemon is not frozen.
    async fn thawed(&self) {
        let mut frozen = self.shared.frozen.subscribe();
        // The sender lives as long as `self`: the wait ends only with a thaw.
        let _ = frozen.wait_for(|f| !*f).await;
    }

    fn deadlines(&self) -> Deadlines {
        self.with(|w| w.deadlines)
    }

    /// One call of `op` as [`super::DockerEngine`] makes it: within `deadline`, enter, take
    /// effect on the world with `body`, then answer (a scripted late error, or the value).
    async fn call<T>(
        &self,
        op: Op,
        deadline: Duration,
        body: impl FnOnce(&mut World) -> EngineResult<T>,
    ) -> EngineResult<T> {
        within(&format!("{op:?}"), deadline, async {
            self.enter(op).await?;
            let value = self.with(body)?;
            self.with(|w| w.late(op))?;
            Ok(value)
        })
        .await?
    }

    /// Polls until no container answers to `key`; each look has the read deadline, as
    /// [`super::DockerEngine`]'s inspects do.
    async fn wait_gone(&self, key: &str, timeout: Duration) -> EngineResult<()> {
        let deadline = Instant::now() + timeout;
        let read = self.deadlines().read;
        loop {
            within("Inspect", read, self.thawed()).await?;
            if !self.with(|w| if w.down { Err(unavailable()) } else { Ok(w.exists(key)) })? {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(EngineError::Timeout(format!("container {key} was not removed within {timeout:?}")));
            }
            tokio::time::sleep(REMOVAL_POLL).await;
        }
    }

    /// A local image `reference` with ID `id` (`sha256:…`), as after a build or a pull.
    pub fn add_image(&self, reference: &str, id: &str) {
        self.with(|w| w.add_image(reference, id));
    }

    /// Makes the registry hold `image_id` as `reference`, with manifest `digest`. The local
    /// image is left as it is until a pull.
    pub fn push(&self, reference: &str, digest: &str, image_id: &str) {
        self.with(|w| w.push(reference, digest, image_id));
    }

    /// What containers of `image_id` do from their next start on (health changes at once).
    pub fn set_behaviour(&self, image_id: &str, behaviour: Behaviour) {
        self.with(|w| w.behaviours.insert(image_id.to_string(), behaviour));
    }

    /// How long an auto-remove container stays [`RunState::Removing`] after it stops.
    pub fn set_removal_delay(&self, delay: Duration) {
        self.with(|w| w.removal_delay = delay);
    }

    /// Takes the daemon down (every call answers [`EngineError::Unavailable`], every open event
    /// stream yields one such error and ends) or brings it back with its state intact.
    /// Containers keep running and exiting meanwhile.
    /// The API version the fake daemon negotiates from now on.
    pub fn set_api_version(&self, version: ApiVersion) {
        *self.shared.api_version.lock().unwrap_or_else(|e| e.into_inner()) = version;
    }

    pub fn set_down(&self, down: bool) {
        self.with(|w| {
            if down && !w.down {
                w.outages += 1;
                self.shared.outages.send_replace(w.outages);
            }
            w.down = down;
        });
    }

    /// Queues `error` as the answer of the next call of `op` (first in, first out). A call
    /// while the daemon is down leaves the queue as it is.
    pub fn fail_next(&self, op: Op, error: EngineError) {
        self.with(|w| w.faults.entry(op).or_default().push_back(error));
    }

    /// Queues `error` as the answer of the next call of `op` that takes effect: the container
    /// is stopped, started, created …, and the call answers `error` at once, as when Docker did
    /// the work but its answer was lost to a timeout.
    pub fn fail_after(&self, op: Op, error: EngineError) {
        self.with(|w| w.late_faults.entry(op).or_default().push_back(error));
    }

    /// Freezes the daemon (`kill -STOP`) or thaws it. While frozen, every call waits, and
    /// answers [`EngineError::Timeout`] when its deadline passes first; open event streams stay
    /// open and pass nothing on until the thaw. Calls still waiting at the thaw go on.
    pub fn freeze(&self, frozen: bool) {
        self.shared.frozen.send_replace(frozen);
    }

    /// The deadlines calls answer [`EngineError::Timeout`] after ([`Deadlines::DEFAULT`] at
    /// first).
    pub fn set_deadlines(&self, deadlines: Deadlines) {
        self.with(|w| w.deadlines = deadlines);
    }

    /// Makes every call of `op` sleep `delay` first; `Duration::ZERO` makes it fast again.
    pub fn slow(&self, op: Op, delay: Duration) {
        self.with(|w| w.slow.insert(op, delay));
    }

    /// The calls of `op` so far, failed ones included.
    pub fn calls(&self, op: Op) -> usize {
        self.with(|w| w.calls.get(&op).copied().unwrap_or(0))
    }

    /// `docker rm -f name`: true when there was such a container.
    pub fn docker_rm_f(&self, name: &str) -> bool {
        self.with(|w| w.rm_f(name))
    }

    /// `docker stop name` (an auto-remove container then goes away): true when it was running.
    pub fn docker_stop(&self, name: &str) -> bool {
        self.with(|w| w.stop_now(name))
    }

    /// The container's process exits with `code` (`die`): true when it was running.
    pub fn crash(&self, name: &str, code: i64) -> bool {
        self.with(|w| w.crash(name, code))
    }

    /// A created container that moor did not make (with `labels`, often none): it holds the
    /// name. Answers its ID, or [`EngineError::NameInUse`].
    pub fn create_foreign(&self, name: &str, labels: BTreeMap<String, String>) -> EngineResult<String> {
        self.with(|w| w.create_foreign(name, labels))
    }

    /// Every container, by name, owned or not.
    pub fn containers(&self) -> Vec<FakeContainer> {
        self.with(|w| w.snapshot())
    }

    /// The container of that name (or ID).
    pub fn container(&self, name: &str) -> Option<FakeContainer> {
        self.with(|w| w.container(name))
    }

    /// Every network, owned or not.
    pub fn networks(&self) -> Vec<ObservedResource> {
        self.with(|w| w.resources(false, None))
    }

    /// Every volume, owned or not (including those a create made for a mount).
    pub fn volumes(&self) -> Vec<ObservedResource> {
        self.with(|w| w.resources(true, None))
    }
}

/// An open event stream: one connection to the daemon.
struct Watcher {
    shared: Arc<Shared>,
    rx: broadcast::Receiver<Emitted>,
    outages: watch::Receiver<u64>,
    /// The outage count when it opened: any later outage breaks it.
    opened: u64,
    /// A frozen daemon passes nothing on until it thaws.
    frozen: watch::Receiver<bool>,
    instance: String,
    slow: Option<Duration>,
    /// An error to yield first, ending the stream (down at opening, or a scripted fault).
    first: Option<EngineError>,
    done: bool,
}

impl Watcher {
    fn pass(&self, emitted: Emitted) -> Option<ContainerEvent> {
        let ours = emitted.outages == self.opened && emitted.instance.as_deref() == Some(self.instance.as_str());
        ours.then_some(emitted.event)
    }

    /// Returns once the daemon is not frozen.
    async fn thawed(&mut self) {
        let _ = self.frozen.wait_for(|f| !*f).await;
    }

    async fn next(mut self) -> Option<(EngineResult<ContainerEvent>, Self)> {
        if self.done {
            return None;
        }
        self.thawed().await;
        if let Some(delay) = self.slow.take() {
            tokio::time::sleep(delay).await;
        }
        if let Some(error) = self.first.take() {
            self.done = true;
            return Some((Err(error), self));
        }
        loop {
            // Play what is due (which may emit), then pass on what was emitted.
            let next = self.shared.with(|w| w.next_deadline());
            loop {
                match self.rx.try_recv() {
                    Ok(emitted) => {
                        if let Some(event) = self.pass(emitted) {
                            self.thawed().await;
                            return Some((Ok(event), self));
                        }
                    }
                    Err(TryRecvError::Lagged(_)) => {}
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Closed) => return None,
                }
            }
            if *self.outages.borrow() != self.opened {
                self.done = true;
                return Some((Err(unavailable()), self));
            }
            let due = async move {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let received = tokio::select! {
                received = self.rx.recv() => Some(received),
                _ = self.outages.changed() => None,
                () = due => None,
            };
            match received {
                Some(Ok(emitted)) => {
                    if let Some(event) = self.pass(emitted) {
                        self.thawed().await;
                        return Some((Ok(event), self));
                    }
                }
                Some(Err(RecvError::Closed)) => return None,
                Some(Err(RecvError::Lagged(_))) | None => {}
            }
        }
    }
}

impl Engine for FakeEngine {
    fn api_version(&self) -> ApiVersion {
        *self.shared.api_version.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn ping(&self) -> EngineResult<()> {
        self.call(Op::Ping, self.deadlines().ping, |_| Ok(())).await
    }

    fn events(&self, instance: &str) -> EventStream {
        let (rx, opened, slow, first) = self.with(|w| {
            let slow = w.count(Op::Events);
            (w.subscribe(), w.outages, slow, w.gate(Op::Events).err())
        });
        let watcher = Watcher {
            shared: self.shared.clone(),
            rx,
            outages: self.shared.outages.subscribe(),
            opened,
            frozen: self.shared.frozen.subscribe(),
            instance: instance.to_string(),
            slow,
            first,
            done: false,
        };
        Box::pin(futures_util::stream::unfold(watcher, Watcher::next))
    }

    async fn list_containers(&self, instance: &str) -> EngineResult<Vec<ObservedContainer>> {
        self.call(Op::ListContainers, self.deadlines().read, |w| Ok(w.list(instance))).await
    }

    async fn list_networks(&self, instance: &str) -> EngineResult<Vec<ObservedResource>> {
        self.call(Op::ListNetworks, self.deadlines().read, |w| Ok(w.resources(false, Some(instance)))).await
    }

    async fn list_volumes(&self, instance: &str) -> EngineResult<Vec<ObservedResource>> {
        self.call(Op::ListVolumes, self.deadlines().read, |w| Ok(w.resources(true, Some(instance)))).await
    }

    async fn inspect_container(&self, id_or_name: &str) -> EngineResult<Option<ContainerInfo>> {
        self.call(Op::Inspect, self.deadlines().read, |w| Ok(w.inspect(id_or_name))).await
    }

    async fn image(&self, reference: &str) -> EngineResult<Option<ImageInfo>> {
        self.call(Op::Image, self.deadlines().read, |w| Ok(w.image(reference))).await
    }

    async fn registry_digest(&self, reference: &str) -> EngineResult<String> {
        self.call(Op::RegistryDigest, self.deadlines().registry, |w| w.registry_digest(reference)).await
    }

    async fn pull(&self, reference: &str) -> EngineResult<()> {
        // No progress messages here: the idle deadline bounds the whole pull.
        self.call(Op::Pull, self.deadlines().pull_idle, |w| w.pull(reference)).await
    }

    async fn create_container(&self, request: &CreateRequest) -> EngineResult<String> {
        self.call(Op::Create, self.deadlines().write, |w| w.create(request)).await
    }

    async fn start(&self, id: &str) -> EngineResult<()> {
        self.call(Op::Start, self.deadlines().write, |w| w.start(id)).await
    }

    async fn stop(&self, id: &str, timeout: Duration) -> EngineResult<()> {
        within("Stop", self.deadlines().stop(timeout), async {
            self.enter(Op::Stop).await?;
            if let Stopping::Ignored(id) = self.with(|w| w.stop(id)) {
                tokio::time::sleep(timeout).await;
                self.with(|w| w.kill_after_stop(&id));
            }
            self.with(|w| w.late(Op::Stop))
        })
        .await?
    }

    async fn remove(&self, id: &str) -> EngineResult<()> {
        let removing = within("Remove", self.deadlines().remove(), async {
            self.enter(Op::Remove).await?;
            Ok(self.with(|w| w.remove(id)))
        })
        .await??;
        // Docker's 409 "removal already in progress": done once Docker finishes.
        if let Some(id) = removing {
            self.wait_gone(&id, REMOVAL_TIMEOUT).await?;
        }
        self.with(|w| w.late(Op::Remove))
    }

    async fn run_to_exit(&self, id: &str, start: bool) -> EngineResult<Option<i64>> {
        within("Wait", self.deadlines().write, self.enter(Op::Wait)).await??;
        let id = self
            .with(|w| w.find(id))
            .ok_or_else(|| EngineError::NotFound { what: format!("no such container: {id}") })?;
        if start {
            self.with(|w| {
                w.exits.remove(&id);
                w.start(&id)
            })?;
        }
        loop {
            let (exit, state) = self.with(|w| (w.exits.get(&id).copied(), w.state(&id)));
            match (exit, state) {
                (Some(code), state) if state != Some(RunState::Running) => return Ok(Some(code)),
                (None, None) => return Ok(None),
                _ => tokio::time::sleep(REMOVAL_POLL).await,
            }
        }
    }

    async fn wait_removed(&self, id: &str, timeout: Duration) -> EngineResult<()> {
        within("WaitRemoved", self.deadlines().read, self.enter(Op::WaitRemoved)).await??;
        self.wait_gone(id, timeout).await
    }

    async fn rename(&self, id: &str, name: &str) -> EngineResult<()> {
        self.call(Op::Rename, self.deadlines().write, |w| w.rename(id, name)).await
    }

    async fn connect_network(&self, id: &str, network: &str, aliases: &[String]) -> EngineResult<()> {
        self.call(Op::ConnectNetwork, self.deadlines().write, |w| w.connect_network(id, network, aliases)).await
    }

    async fn create_network(&self, network: &Network, instance: &str) -> EngineResult<()> {
        self.call(Op::CreateNetwork, self.deadlines().write, |w| {
            w.create_network(network, instance);
            Ok(())
        })
        .await
    }

    async fn remove_network(&self, name: &str) -> EngineResult<()> {
        self.call(Op::RemoveNetwork, self.deadlines().write, |w| w.remove_network(name)).await
    }

    async fn create_volume(&self, volume: &Volume, instance: &str) -> EngineResult<()> {
        self.call(Op::CreateVolume, self.deadlines().write, |w| {
            w.create_volume(volume, instance);
            Ok(())
        })
        .await
    }

    async fn remove_volume(&self, name: &str) -> EngineResult<()> {
        self.call(Op::RemoveVolume, self.deadlines().write, |w| w.remove_volume(name)).await
    }

    fn logs(&self, id: &str, follow: bool, tail: Option<u64>) -> LogStream {
        self.log_stream(id, follow, tail)
    }
}
