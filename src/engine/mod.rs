//! The one door to Docker: a narrow [`Engine`] trait, and its production implementation over
//! bollard in [`docker`], reaching the daemon that [`connect`] resolves (a socket, `tcp://` with
//! or without TLS, `ssh://` through [`ssh_bridge`]).
//!
//! Invariants:
//! - Every Docker call of moor goes through an `Engine`. The meaning of Docker's answers (the
//!   table in `docs/architecture.md`: 404, 409, 304) is decided once, in [`docker`], and callers only ever
//!   see [`EngineError`] for what is really an error:
//!   - stop and start answer `Ok` for 304 (already in that state) and stop for 404;
//!   - remove answers `Ok` for 404, and for a 409 "removal already in progress" once Docker's
//!     removal has finished;
//!   - inspect answers `Ok(None)` for 404.
//! - Every call ends: each has a deadline suited to it ([`deadlines`]), after which it answers
//!   [`EngineError::Timeout`]. Only the event stream, a followed log and a job's wait
//!   ([`Engine::run_to_exit`]) have none.
//! - The trait speaks moor's types, not bollard's, so that an in-memory fake can stand in for
//!   controller edge cases.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::manifest::{ContainerSpec, Network, Volume};
use crate::observe::{Health, ObservedContainer, ObservedResource, RunState};

pub mod api_version;
pub mod auth;
pub mod connect;
pub mod create_body;
pub mod deadlines;
pub mod docker;
pub mod fake;
pub mod log_lines;
pub mod network_body;
pub mod ssh_bridge;
pub mod swarm;
pub mod swarm_convert;
pub mod swarm_docker;
pub mod tls_diagnosis;
pub mod tls_transport;

pub use deadlines::Deadlines;
pub use docker::DockerEngine;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The daemon cannot be reached (connection refused, broken stream).
    #[error("Docker is unavailable: {0}")]
    Unavailable(String),
    /// Create answered 409: another container holds the name.
    #[error("container name {name:?} is already in use")]
    NameInUse { name: String },
    /// Start answered 409: the container is an auto-removing one that is going away. Holds
    /// Docker's message.
    #[error("Docker answered 409: {0}")]
    MarkedForRemoval(String),
    /// A 404 (with Docker's message), or something moor expected to exist.
    #[error("{what}")]
    NotFound { what: String },
    /// A network or volume that something still uses. Holds Docker's message.
    #[error("in use: {0}")]
    InUse(String),
    /// A network or volume of that name exists and another instance owns it: names of networks
    /// and volumes are the daemon's, not an instance's.
    #[error("{what} {name:?} belongs to instance {owner:?} (network and volume names are daemon-wide): give it another name in this instance's manifests")]
    Owned { what: &'static str, name: String, owner: String },
    /// The call did not end within its deadline ([`deadlines`]), or Docker's own wait ran out.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A Swarm update carried a version the service no longer has: someone changed it since it
    /// was observed. Nothing was overwritten; observe again.
    #[error("the service changed since it was observed (update out of sequence): {0}")]
    OutOfSequence(String),
    /// The daemon is not a swarm manager (503): `--backend swarm` needs one.
    #[error("this Docker daemon is not a swarm manager (run `docker swarm init`, or point --host at a manager): {0}")]
    NotSwarmManager(String),
    /// Any other answer of the API.
    #[error("Docker answered {status}: {message}")]
    Api { status: u16, message: String },
}

impl EngineError {
    /// The HTTP status, for the `moor_docker_errors_total{status}` metric.
    pub fn status_label(&self) -> String {
        match self {
            EngineError::Unavailable(_) => "unavailable".into(),
            EngineError::Timeout(_) => "timeout".into(),
            EngineError::NameInUse { .. }
            | EngineError::MarkedForRemoval(_)
            | EngineError::InUse(_)
            | EngineError::Owned { .. } => "409".into(),
            EngineError::NotFound { .. } => "404".into(),
            EngineError::OutOfSequence(_) => "out_of_sequence".into(),
            EngineError::NotSwarmManager(_) => "503".into(),
            EngineError::Api { status, .. } => status.to_string(),
        }
    }
}

pub type EngineResult<T> = Result<T, EngineError>;

/// What an inspect tells beyond the list call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub state: RunState,
    pub health: Health,
    pub exit_code: Option<i64>,
    pub labels: BTreeMap<String, String>,
}

/// A container event of this instance, as the controller needs it: which service it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    pub service: Option<String>,
    pub action: String,
    pub container: String,
}

/// The event stream: it ends, or yields an error, when the daemon goes away.
pub type EventStream = Pin<Box<dyn futures_util::Stream<Item = EngineResult<ContainerEvent>> + Send>>;

/// The container event actions the controller reacts to. Docker also streams `exec_*` events
/// for every healthcheck run; asking only for these keeps the stream quiet.
pub const WATCHED_ACTIONS: &[&str] =
    &["create", "start", "die", "destroy", "stop", "kill", "oom", "pause", "unpause", "health_status", "rename"];

/// Which of a container's output streams a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    Stdout,
    Stderr,
}

/// One line of a container's output, without its line ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub source: LogSource,
    pub text: String,
}

/// A container's output, line by line: it ends when the output does (at once without `follow`,
/// when the container stops with it), or yields an error when the daemon goes away.
pub type LogStream = Pin<Box<dyn futures_util::Stream<Item = EngineResult<LogLine>> + Send>>;

/// What the daemon says of itself (`docker version`'s server part).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerVersion {
    pub version: String,
    /// The newest API version the daemon speaks.
    pub api_version: String,
    pub min_api_version: String,
    /// Such as `linux/amd64`.
    pub os_arch: String,
}

/// A local image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub id: String,
    /// `repo@sha256:…` for each registry the image came from or went to.
    pub repo_digests: Vec<String>,
}

impl ImageInfo {
    /// True when this image is the registry manifest `digest`.
    pub fn has_digest(&self, digest: &str) -> bool {
        self.repo_digests.iter().any(|d| d.rsplit_once('@').is_some_and(|(_, x)| x == digest))
    }

    /// The first registry digest of this image, if it has one.
    pub fn digest(&self) -> Option<&str> {
        self.repo_digests.first().and_then(|d| d.rsplit_once('@')).map(|(_, x)| x)
    }
}

/// Everything needed to create one container.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRequest {
    pub name: String,
    /// What to create from: the spec's reference, or an image ID when the service is pinned to
    /// one (after an update check or a rollback).
    pub image: String,
    /// The service name: a network alias, so that other services reach it by name.
    pub service: String,
    pub spec: ContainerSpec,
    /// All labels: the user's and moor's.
    pub labels: BTreeMap<String, String>,
    /// What the spec names but does not hold: its sealed env values and its files' host paths.
    pub provided: Provided,
}

/// The values behind a spec's `sealed_env` and the host files behind its `files`, given to
/// Docker at create and nowhere else (see `apply::steps::provide`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provided {
    /// The value of each name of `ContainerSpec::sealed_env`.
    pub env: BTreeMap<String, crate::sensitive::Sensitive<String>>,
    /// The host file bind-mounted read-only at each target of `ContainerSpec::files`.
    pub files: BTreeMap<String, std::path::PathBuf>,
}

impl Provided {
    /// Does it cover everything `spec` names? A container created without one of its secrets
    /// would run with a promise the spec hash makes and the container does not keep.
    pub fn covers(&self, spec: &ContainerSpec) -> bool {
        spec.sealed_env.keys().all(|k| self.env.contains_key(k))
            && spec.files.iter().all(|f| self.files.contains_key(&f.target))
    }
}

/// The Docker operations moor needs, and no more.
pub trait Engine: Send + Sync + 'static {
    /// Answers when the daemon answers.
    fn ping(&self) -> impl Future<Output = EngineResult<()>> + Send;
    /// The API version negotiated with the daemon: fields that need a newer one are not sent
    /// ([`api_version::admit`] refuses their services).
    fn api_version(&self) -> api_version::ApiVersion;
    /// Container events of `instance`, filtered to [`WATCHED_ACTIONS`].
    fn events(&self, instance: &str) -> EventStream;
    /// Owned containers: one list call filtered by `moor.instance=<instance>`.
    fn list_containers(&self, instance: &str) -> impl Future<Output = EngineResult<Vec<ObservedContainer>>> + Send;
    fn list_networks(&self, instance: &str) -> impl Future<Output = EngineResult<Vec<ObservedResource>>> + Send;
    fn list_volumes(&self, instance: &str) -> impl Future<Output = EngineResult<Vec<ObservedResource>>> + Send;
    /// `Ok(None)` when no such container exists.
    fn inspect_container(&self, id_or_name: &str) -> impl Future<Output = EngineResult<Option<ContainerInfo>>> + Send;
    /// The local image `reference` (a name or an ID), or `None` when it is not present.
    fn image(&self, reference: &str) -> impl Future<Output = EngineResult<Option<ImageInfo>>> + Send;
    /// The registry's current manifest digest for `reference`, asked through the daemon
    /// (`GET /distribution/{name}/json`): no pull, no rate limit used up.
    fn registry_digest(&self, reference: &str) -> impl Future<Output = EngineResult<String>> + Send;
    fn pull(&self, reference: &str) -> impl Future<Output = EngineResult<()>> + Send;
    /// Creates the container (joined to all its networks) and returns its ID.
    fn create_container(&self, request: &CreateRequest) -> impl Future<Output = EngineResult<String>> + Send;
    fn start(&self, id: &str) -> impl Future<Output = EngineResult<()>> + Send;
    fn stop(&self, id: &str, timeout: Duration) -> impl Future<Output = EngineResult<()>> + Send;
    /// Removes the container (force, keeping named volumes) and returns once it is gone.
    fn remove(&self, id: &str) -> impl Future<Output = EngineResult<()>> + Send;
    /// Runs a job's container to its end and returns its exit code. With `start`, Docker's wait
    /// (condition `next-exit`) is taken before the container is started, so that the code of an
    /// auto-removing container is not lost when Docker deletes it on exit; without, it waits for
    /// the running container to stop (`not-running`). No deadline in total: a job takes as long
    /// as it takes. `Ok(None)`: it ran, but was gone before the wait could tell its code. A
    /// start that fails is that error (`NotFound`, `MarkedForRemoval`, ...).
    fn run_to_exit(&self, id: &str, start: bool) -> impl Future<Output = EngineResult<Option<i64>>> + Send;
    /// Returns once the container no longer exists.
    fn wait_removed(&self, id: &str, timeout: Duration) -> impl Future<Output = EngineResult<()>> + Send;
    fn rename(&self, id: &str, name: &str) -> impl Future<Output = EngineResult<()>> + Send;
    /// Attaches the container to `network` with these DNS aliases (a container made before the
    /// instance's default network existed). One already attached is left as it is.
    fn connect_network(
        &self,
        id: &str,
        network: &str,
        aliases: &[String],
    ) -> impl Future<Output = EngineResult<()>> + Send;
    /// Creates the network; one that already exists is left as it is.
    fn create_network(&self, network: &Network, instance: &str) -> impl Future<Output = EngineResult<()>> + Send;
    fn remove_network(&self, name: &str) -> impl Future<Output = EngineResult<()>> + Send;
    fn create_volume(&self, volume: &Volume, instance: &str) -> impl Future<Output = EngineResult<()>> + Send;
    fn remove_volume(&self, name: &str) -> impl Future<Output = EngineResult<()>> + Send;
    /// The container's stdout and stderr merged in the order Docker recorded them, one item per
    /// line. `tail`: only the last N lines recorded so far; `follow`: then the lines written
    /// from now on, until the container stops. A container that does not exist yields
    /// [`EngineError::NotFound`].
    fn logs(&self, id: &str, follow: bool, tail: Option<u64>) -> LogStream;
}
