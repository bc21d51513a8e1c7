//! [`Engine`] over bollard: the only module that calls Docker, and the only place that reads
//! Docker's status codes.
//!
//! The table of Docker's answers (`docs/architecture.md`), implemented here once:
//!
//! | call                   | answer                               | meaning                        |
//! |------------------------|--------------------------------------|--------------------------------|
//! | remove / stop / inspect| 404                                  | already absent: success        |
//! | remove                 | 409 `removal ... already in progress`| wait until gone, then success  |
//! | start / stop           | 304                                  | already in that state: success |
//! | create                 | 409 `... is already in use`          | [`EngineError::NameInUse`]     |
//! | start                  | 409 `marked for removal`             | [`EngineError::MarkedForRemoval`] |
//! | any                    | 5xx, connection refused              | transient: retry with backoff  |
//! | any                    | no answer within the call's deadline | [`EngineError::Timeout`]       |
//!
//! Every call runs under its deadline from [`super::deadlines`] (the table there): a frozen
//! daemon costs a bounded wait, never a hang.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::errors::Error as BollardError;
use bollard::models::{NetworkConnectRequest, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateImageOptions, ListContainersOptions, ListNetworksOptions, ListVolumesOptions, LogsOptionsBuilder,
    RemoveContainerOptions, RenameContainerOptions, StopContainerOptions, WaitContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;

use super::auth::credentials_within;
use super::connect;
use super::create_body::{create_body, create_options, endpoint};
use super::deadlines::{idle_bounded, stalled, within, Deadlines, BOLLARD_BACKSTOP};
use super::ssh_bridge::{SshBridge, SshTarget};
use super::tls_diagnosis::{error_chain, tls_reason};
use super::{
    ContainerEvent, ContainerInfo, CreateRequest, Engine, EngineError, EngineResult, EventStream, ImageInfo, LogStream,
    ServerVersion, WATCHED_ACTIONS,
};
use crate::labels;
use crate::manifest::{Network, Volume};
use crate::observe::{Health, ObservedContainer, ObservedResource, RunState};

/// How often a removal in progress is polled. Docker finished one within 23–53 ms when measured.
const REMOVAL_POLL: Duration = Duration::from_millis(20);
/// How long Docker may take to finish a removal it started.
const REMOVAL_TIMEOUT: Duration = Duration::from_secs(30);

/// The production engine.
#[derive(Clone)]
pub struct DockerEngine {
    /// The `ssh://` bridge whose socket `docker` talks to; kept alive as long as the engine.
    _ssh: Option<Arc<SshBridge>>,
    docker: Docker,
    deadlines: Deadlines,
    /// Show pull progress (only on a terminal).
    progress: bool,
}

impl DockerEngine {
    /// Connects to `host` (or `DOCKER_HOST`, else the local socket) and negotiates the API
    /// version; it is never pinned, since the daemon here speaks 1.41. Negotiation reads the
    /// `Api-Version` header of `GET /_ping`, as the Docker CLI does: about 1 ms, where
    /// `GET /version` (bollard's `negotiate_version`) took about 10 ms on this daemon, a third
    /// of a no-op `moor apply`. A daemon that sends no such header gets `negotiate_version`.
    ///
    /// The first contact has the ping deadline: a daemon that does not answer is
    /// [`EngineError::Timeout`] after 5 s, never a hang.
    pub async fn connect(host: Option<&str>) -> EngineResult<Self> {
        Self::connect_with(host, Deadlines::DEFAULT).await
    }

    /// [`DockerEngine::connect`] with other deadlines (tests that must not wait the defaults).
    /// `host` is `--host`; the rest (`DOCKER_HOST`, contexts, TLS) comes from the environment,
    /// as [`connect::resolve`] reads it.
    pub async fn connect_with(host: Option<&str>, deadlines: Deadlines) -> EngineResult<Self> {
        let endpoint = connect::resolve(&connect::Sources::from_process(host))
            .map_err(|e| EngineError::Unavailable(e.to_string()))?;
        Self::connect_to(&endpoint, deadlines).await
    }

    /// Connects to a resolved endpoint. `ssh://` goes through an [`SshBridge`]'s local socket.
    /// Without TLS the version comes from `GET /_ping` (below);
    /// with TLS from bollard's `GET /version` over [`super::tls_transport`], within the ping deadline
    /// all the same (handshake included).
    pub async fn connect_to(endpoint: &connect::Endpoint, deadlines: Deadlines) -> EngineResult<Self> {
        let host = &endpoint.host;
        if let Some(tls) = &endpoint.tls {
            let docker = super::tls_transport::connect(host, tls, BOLLARD_BACKSTOP, bollard::API_DEFAULT_VERSION)
                .map_err(|e| EngineError::Unavailable(format!("{host} over TLS: {e}")))?;
            let docker =
                within(&format!("GET /version on {host} over TLS"), deadlines.ping, docker.negotiate_version()).await?;
            let docker = match docker {
                Ok(docker) => docker,
                // An answer of the daemon is the daemon's.
                Err(e @ BollardError::DockerResponseServerError { .. }) => return Err(classify(e)),
                // Anything before it (refused, handshake) is told with its causes, which bollard's
                // own message leaves out, and what they mean.
                Err(other) => {
                    let reason = match tls_reason(&other) {
                        Some(reason) => Some(reason),
                        None => super::tls_diagnosis::probe(host, tls, deadlines.ping).await,
                    };
                    return Err(EngineError::Unavailable(format!(
                        "{host} over TLS: {}{}",
                        error_chain(&other),
                        reason.map(|h| format!(" ({h})")).unwrap_or_default()
                    )));
                }
            };
            return Ok(DockerEngine { _ssh: None, docker, deadlines, progress: std::io::stderr().is_terminal() });
        }
        if let Some(target) = SshTarget::parse(host) {
            let bridge = SshBridge::start(&target).map_err(|e| EngineError::Unavailable(format!("{host}: {e}")))?;
            let local = connect::Endpoint { host: bridge.host(), tls: None, origin: endpoint.origin.clone() };
            // ssh's session setup counts: the read deadline, not the ping's.
            let slower = Deadlines { ping: deadlines.read, ..deadlines };
            return match Box::pin(Self::connect_to(&local, slower)).await {
                Ok(engine) => Ok(DockerEngine { _ssh: Some(Arc::new(bridge)), deadlines, ..engine }),
                Err(e) => {
                    // The same kind of error, told with the ssh host and what ssh said.
                    let ssh = bridge.last_error();
                    let tell = |inner: String| {
                        if ssh.is_empty() {
                            format!("{host} (ssh … docker system dial-stdio): {inner}")
                        } else {
                            format!("{host}: ssh said: {ssh} (ssh … docker system dial-stdio: {inner})")
                        }
                    };
                    Err(match e {
                        EngineError::Unavailable(inner) => EngineError::Unavailable(tell(inner)),
                        EngineError::Timeout(inner) => EngineError::Timeout(tell(inner)),
                        other => other,
                    })
                }
            };
        }
        let docker = match within(&format!("GET /_ping on {host}"), deadlines.ping, ping_api_version(host)).await?? {
            Some(server) => {
                let version =
                    if server < *bollard::API_DEFAULT_VERSION { server } else { *bollard::API_DEFAULT_VERSION };
                match host.strip_prefix("unix://") {
                    Some(path) => Docker::connect_with_socket(path, BOLLARD_BACKSTOP, &version),
                    None => Docker::connect_with_http(host, BOLLARD_BACKSTOP, &version),
                }
                .map_err(classify)?
            }
            None => {
                let docker = Docker::connect_with_host(host)
                    .map_err(classify)?
                    .with_timeout(Duration::from_secs(BOLLARD_BACKSTOP));
                within(&format!("GET /version on {host}"), deadlines.read, docker.negotiate_version())
                    .await?
                    .map_err(classify)?
            }
        };
        Ok(DockerEngine { _ssh: None, docker, deadlines, progress: std::io::stderr().is_terminal() })
    }

    /// The bollard client, for the Swarm calls (`super::swarm_docker`), which read Docker's
    /// answers through [`classify`] as every other call does.
    pub(super) fn client(&self) -> &Docker {
        &self.docker
    }

    pub(super) fn deadlines(&self) -> Deadlines {
        self.deadlines
    }

    /// The daemon's host name (`GET /info`'s `Name`, as `docker info` shows it): the default
    /// node of a daemon on another host.
    pub async fn daemon_name(&self) -> EngineResult<String> {
        let info = within("GET /info", self.deadlines.read, self.docker.info()).await?.map_err(classify)?;
        Ok(info.name.unwrap_or_default())
    }

    /// The daemon's own versions (`GET /version`), for `moor version`.
    pub async fn server_version(&self) -> EngineResult<ServerVersion> {
        let v = within("GET /version", self.deadlines.read, self.docker.version()).await?.map_err(classify)?;
        Ok(ServerVersion {
            version: v.version.unwrap_or_default(),
            api_version: v.api_version.unwrap_or_default(),
            min_api_version: v.min_api_version.unwrap_or_default(),
            os_arch: format!("{}/{}", v.os.unwrap_or_default(), v.arch.unwrap_or_default()),
        })
    }
}

/// The daemon's API version from the `Api-Version` header of `GET /_ping`, on a `unix://` or
/// `tcp://` host; `None` when the host is of another kind or the header is missing.
///
/// Kept by hand because it still wins by ~14x: against Docker 20.10 (API 1.41) on its unix socket,
/// medians of 50 runs in three debug-build runs, this function plus `connect_with_socket` took
/// 0.68–0.79 ms, bollard's `connect_with_socket_defaults()?.negotiate_version()` (`GET /version`)
/// 9.8–11.0 ms. The response head is parsed by `httparse` (hyper's parser); the body is unused.
async fn ping_api_version(host: &str) -> EngineResult<Option<bollard::ClientVersion>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const REQUEST: &[u8] = b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n";
    let unavailable = |e: std::io::Error| EngineError::Unavailable(format!("{host}: {e}"));
    let mut response = Vec::new();
    if let Some(path) = host.strip_prefix("unix://") {
        let mut s = tokio::net::UnixStream::connect(path).await.map_err(unavailable)?;
        s.write_all(REQUEST).await.map_err(unavailable)?;
        s.read_to_end(&mut response).await.map_err(unavailable)?;
    } else if let Some(addr) = host.strip_prefix("tcp://") {
        let mut s = tokio::net::TcpStream::connect(addr).await.map_err(unavailable)?;
        s.write_all(REQUEST).await.map_err(unavailable)?;
        s.read_to_end(&mut response).await.map_err(unavailable)?;
    } else {
        return Ok(None);
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut head = httparse::Response::new(&mut headers);
    // Incomplete or malformed: no version, as when the header is missing.
    if !matches!(head.parse(&response), Ok(httparse::Status::Complete(_))) {
        return Ok(None);
    }
    // Go's TLS server answers plain HTTP with a bare 400; a Docker daemon answers `_ping` 200.
    if head.code == Some(400) && host.starts_with("tcp://") {
        return Err(EngineError::Unavailable(format!(
            "{host} answered 400 to plain HTTP: it wants TLS; give --tls-ca, --tls-cert and --tls-key \
             (or DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH), or a context with TLS"
        )));
    }
    Ok(head.headers.iter().find(|h| h.name.eq_ignore_ascii_case("api-version")).and_then(|h| {
        let (major, minor) = std::str::from_utf8(h.value).ok()?.trim().split_once('.')?;
        Some(bollard::ClientVersion { major_version: major.parse().ok()?, minor_version: minor.parse().ok()? })
    }))
}

/// The kinds of 409 Docker answers. The API tells them apart only by its wording, so they are
/// read here, from [`CONFLICT_WORDING`], and nowhere else in moor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conflict {
    NameInUse,
    MarkedForRemoval,
    RemovalInProgress,
    InUse,
}

/// Docker's 409 wording (lowercased), most specific first: "… is already in use by container …"
/// (create), "… is marked for removal and cannot be started" (start), "removal of container … is
/// already in progress" (remove), "… in use" and "… has active endpoints" (networks, volumes).
const CONFLICT_WORDING: &[(&str, Conflict)] = &[
    ("is already in use", Conflict::NameInUse),
    ("marked for removal", Conflict::MarkedForRemoval),
    ("already in progress", Conflict::RemovalInProgress),
    ("in use", Conflict::InUse),
    ("active endpoints", Conflict::InUse),
];

fn conflict_kind(message: &str) -> Option<Conflict> {
    let lower = message.to_lowercase();
    CONFLICT_WORDING.iter().find(|(words, _)| lower.contains(words)).map(|(_, kind)| *kind)
}

/// Maps a bollard error to what it means. Per-call exceptions (404 on remove, 304 on start)
/// are handled by the callers below, which all live in this file.
pub fn classify(error: BollardError) -> EngineError {
    match error {
        BollardError::DockerResponseServerError { status_code, message } => {
            match (status_code, conflict_kind(&message)) {
                (404, _) => EngineError::NotFound { what: format!("Docker answered 404: {message}") },
                (409, Some(Conflict::NameInUse)) => {
                    let name = message.split('"').nth(1).unwrap_or_default().trim_start_matches('/').to_string();
                    EngineError::NameInUse { name }
                }
                (409, Some(Conflict::MarkedForRemoval)) => EngineError::MarkedForRemoval(message),
                (409, Some(Conflict::InUse)) => EngineError::InUse(message),
                _ => EngineError::Api { status: status_code, message },
            }
        }
        BollardError::RequestTimeoutError => EngineError::Timeout("Docker did not answer in time".into()),
        BollardError::DockerStreamError { error } => EngineError::Api { status: 500, message: error },
        other => EngineError::Unavailable(other.to_string()),
    }
}

fn status_of(error: &BollardError) -> Option<u16> {
    match error {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

fn is_removal_in_progress(error: &BollardError) -> bool {
    matches!(error, BollardError::DockerResponseServerError { status_code: 409, message }
        if conflict_kind(message) == Some(Conflict::RemovalInProgress))
}

/// The health in the list call's status text, such as `Up 5 seconds (healthy)`: API 1.41's list
/// has no health field, only this wording.
fn health_from_status(status: &str) -> Health {
    const WORDING: &[(&str, Health)] =
        &[("(healthy)", Health::Healthy), ("(unhealthy)", Health::Unhealthy), ("(health: starting)", Health::Starting)];
    WORDING.iter().find(|(words, _)| status.contains(words)).map(|(_, h)| *h).unwrap_or(Health::None)
}

/// The exit code in the list call's status text, such as `Exited (3) 2 minutes ago`: API 1.41's
/// list has no exit code field.
fn exit_code_from_status(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    rest.split_once(')')?.0.parse().ok()
}
impl DockerEngine {
    /// Docker before API 1.44 keeps two networks of one name when two processes create it at
    /// once (two agents of one daemon), and every create and connect naming it is then
    /// "ambiguous". All but one are removed: the first made (then the lowest ID), which every
    /// process picks, so agents agree without talking. One that something already uses stays (the next
    /// pass tries again). Returns whether one network of the name is left.
    async fn dedupe_network(&self, name: &str) -> EngineResult<bool> {
        let ids = self.network_ids(name).await?;
        let mut left = ids.len();
        for id in ids.iter().skip(1) {
            match self.remove_network(id).await {
                Ok(()) => {
                    left -= 1;
                    tracing::info!(network = name, id = %crate::digest::short(id), "removed a second network of the same name");
                }
                Err(e) => tracing::warn!(network = name, error = %e, "a second network of the same name is kept"),
            }
        }
        Ok(left == 1)
    }

    /// The networks a container names: its network mode when that is a network's name, and
    /// the networks of its endpoints.
    async fn networks_of(&self, id: &str) -> EngineResult<Vec<String>> {
        let call = self.docker.inspect_container(id, None);
        let info = within("GET /containers/{id}/json", self.deadlines.read, call).await?.map_err(classify)?;
        let mode = info.host_config.and_then(|h| h.network_mode);
        let mut names: Vec<String> =
            info.network_settings.and_then(|n| n.networks).map(|n| n.into_keys().collect()).unwrap_or_default();
        names.extend(mode.filter(|m| is_network_name(m) && !names.contains(m)));
        Ok(names)
    }

    /// Waits (a few seconds at most) until each of `names` is held by one network at most, as
    /// another process stepping back leaves it, and dedupes what is still held twice after that.
    async fn wait_networks_single(&self, names: &[String]) -> EngineResult<()> {
        for name in names {
            let deadline = Instant::now() + NETWORK_SETTLE;
            while self.network_ids(name).await?.len() > 1 {
                if Instant::now() >= deadline {
                    self.dedupe_network(name).await?;
                    break;
                }
                tokio::time::sleep(REMOVAL_POLL * 5).await;
            }
        }
        Ok(())
    }

    /// The IDs of the networks named exactly `name`, the first made first (then the lowest ID),
    /// the order every process sees alike.
    async fn network_ids(&self, name: &str) -> EngineResult<Vec<String>> {
        let filters = HashMap::from([("name".to_string(), vec![name.to_string()])]);
        let options = ListNetworksOptions { filters: Some(filters) };
        let list = within("GET /networks", self.deadlines.read, self.docker.list_networks(Some(options)))
            .await?
            .map_err(classify)?;
        // The name filter matches substrings: only the exact name counts.
        let mut same: Vec<(Option<std::time::SystemTime>, String)> = list
            .into_iter()
            .filter(|n| n.name.as_deref() == Some(name))
            .filter_map(|n| {
                let created = n.created.map(|c| c.to_string()).and_then(|c| humantime::parse_rfc3339_weak(&c).ok());
                Some((created, n.id?))
            })
            .collect();
        same.sort_by(|a, b| (a.0.is_none(), a.0, &a.1).cmp(&(b.0.is_none(), b.0, &b.1)));
        Ok(same.into_iter().map(|(_, id)| id).collect())
    }
}

/// Whether a network mode names a network (not `host`, `none`, `bridge`, `default`, or a
/// `container:`/`service:` join).
fn is_network_name(mode: &str) -> bool {
    !matches!(mode, "host" | "none" | "bridge" | "default") && !mode.contains(':')
}

/// How often a create or start refused while a network was held twice is tried again.
const CREATE_RETRIES: u32 = 2;

/// How long a create waits for a network held twice to be held once again.
const NETWORK_SETTLE: Duration = Duration::from_secs(3);

/// How often `create_network` steps back from a network another process made at once.
const NETWORK_CREATE_ATTEMPTS: u32 = 5;

/// An existing network or volume is this instance's to use unless another instance's label is
/// on it (one without moor's label was made by hand or by compose: used as it is, as before).
fn owned_by(
    instance: &str,
    what: &'static str,
    name: &str,
    labels: Option<&HashMap<String, String>>,
) -> EngineResult<()> {
    match labels.and_then(|l| l.get(labels::INSTANCE)) {
        Some(owner) if owner != instance => {
            Err(EngineError::Owned { what, name: name.to_string(), owner: owner.clone() })
        }
        _ => Ok(()),
    }
}

/// Held while a network is looked up and created (see `create_network`).
static CREATING_NETWORKS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn label_filter(instance: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![format!("{}={instance}", labels::INSTANCE)])])
}

fn to_btree(map: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    map.unwrap_or_default().into_iter().collect()
}

/// Splits `repo:tag` (or `repo@digest`) for the pull call; a reference without either is `latest`.
fn split_reference(reference: &str) -> (String, String) {
    if let Some((repo, digest)) = reference.split_once('@') {
        return (repo.to_string(), digest.to_string());
    }
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (reference.to_string(), "latest".to_string()),
    }
}

impl Engine for DockerEngine {
    /// As negotiated in [`DockerEngine::connect`]: the lower of the daemon's and bollard's.
    fn api_version(&self) -> super::api_version::ApiVersion {
        let v = self.docker.client_version();
        let n = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
        super::api_version::ApiVersion::new(n(v.major_version), n(v.minor_version))
    }

    async fn ping(&self) -> EngineResult<()> {
        within("GET /_ping", self.deadlines.ping, self.docker.ping()).await?.map(|_| ()).map_err(classify)
    }

    fn events(&self, instance: &str) -> EventStream {
        let mut filters = label_filter(instance);
        filters.insert("type".into(), vec!["container".into()]);
        filters.insert("event".into(), WATCHED_ACTIONS.iter().map(|a| a.to_string()).collect());
        let options = bollard::query_parameters::EventsOptions { filters: Some(filters), ..Default::default() };
        Box::pin(self.docker.events(Some(options)).map(|item| {
            let event = item.map_err(classify)?;
            let actor = event.actor.unwrap_or_default();
            let attributes = actor.attributes.unwrap_or_default();
            Ok(ContainerEvent {
                service: attributes.get(labels::SERVICE).cloned(),
                action: event.action.unwrap_or_default(),
                container: attributes.get("name").cloned().unwrap_or_else(|| actor.id.unwrap_or_default()),
            })
        }))
    }

    async fn list_containers(&self, instance: &str) -> EngineResult<Vec<ObservedContainer>> {
        let options = ListContainersOptions { all: true, filters: Some(label_filter(instance)), ..Default::default() };
        let list = within("GET /containers/json", self.deadlines.read, self.docker.list_containers(Some(options)))
            .await?
            .map_err(classify)?;
        Ok(list
            .into_iter()
            .map(|c| {
                let status = c.status.unwrap_or_default();
                ObservedContainer {
                    id: c.id.unwrap_or_default(),
                    name: c
                        .names
                        .and_then(|n| n.into_iter().next())
                        .map(|n| n.trim_start_matches('/').to_string())
                        .unwrap_or_default(),
                    state: RunState::parse(&c.state.map(|s| s.to_string()).unwrap_or_default()),
                    health: health_from_status(&status),
                    image: c.image.unwrap_or_default(),
                    image_id: c.image_id.unwrap_or_default(),
                    created: c.created.unwrap_or_default(),
                    exit_code: exit_code_from_status(&status),
                    labels: to_btree(c.labels),
                    networks: c
                        .network_settings
                        .and_then(|n| n.networks)
                        .map(|n| n.into_keys().collect())
                        .unwrap_or_default(),
                }
            })
            .collect())
    }

    async fn list_networks(&self, instance: &str) -> EngineResult<Vec<ObservedResource>> {
        let options = ListNetworksOptions { filters: Some(label_filter(instance)) };
        let list = within("GET /networks", self.deadlines.read, self.docker.list_networks(Some(options)))
            .await?
            .map_err(classify)?;
        Ok(list
            .into_iter()
            .map(|n| ObservedResource { name: n.name.unwrap_or_default(), labels: to_btree(n.labels) })
            // The Swarm backend's overlays carry the instance label too; they are its own, never
            // this backend's to prune.
            .filter(|n| n.labels.get(labels::BACKEND).is_none_or(|b| b != labels::BACKEND_SWARM))
            .collect())
    }

    async fn list_volumes(&self, instance: &str) -> EngineResult<Vec<ObservedResource>> {
        let options = ListVolumesOptions { filters: Some(label_filter(instance)) };
        let list = within("GET /volumes", self.deadlines.read, self.docker.list_volumes(Some(options)))
            .await?
            .map_err(classify)?;
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| ObservedResource { name: v.name, labels: v.labels.into_iter().collect() })
            .collect())
    }

    async fn inspect_container(&self, id_or_name: &str) -> EngineResult<Option<ContainerInfo>> {
        let call = self.docker.inspect_container(id_or_name, None);
        let info = match within("GET /containers/{id}/json", self.deadlines.read, call).await? {
            Ok(info) => info,
            Err(e) if status_of(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(classify(e)),
        };
        let state = info.state.unwrap_or_default();
        let health = match state.health.as_ref().and_then(|h| h.status).map(|s| s.to_string()) {
            Some(s) if s == "healthy" => Health::Healthy,
            Some(s) if s == "unhealthy" => Health::Unhealthy,
            Some(s) if s == "starting" => Health::Starting,
            _ => Health::None,
        };
        Ok(Some(ContainerInfo {
            id: info.id.unwrap_or_default(),
            name: info.name.unwrap_or_default().trim_start_matches('/').to_string(),
            state: RunState::parse(&state.status.map(|s| s.to_string()).unwrap_or_default()),
            health,
            exit_code: state.exit_code,
            labels: to_btree(info.config.and_then(|c| c.labels)),
        }))
    }

    async fn image(&self, reference: &str) -> EngineResult<Option<ImageInfo>> {
        match within("GET /images/{name}/json", self.deadlines.read, self.docker.inspect_image(reference)).await? {
            Ok(image) => Ok(Some(ImageInfo {
                id: image.id.unwrap_or_default(),
                repo_digests: image.repo_digests.unwrap_or_default(),
            })),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(classify(e)),
        }
    }

    async fn registry_digest(&self, reference: &str) -> EngineResult<String> {
        let credentials = credentials_within(reference).await;
        let call = self.docker.inspect_registry_image(reference, credentials);
        let inspect =
            within("GET /distribution/{name}/json", self.deadlines.registry, call).await?.map_err(classify)?;
        Ok(inspect.descriptor.digest.unwrap_or_default())
    }

    async fn pull(&self, reference: &str) -> EngineResult<()> {
        let (repo, tag) = split_reference(reference);
        let options = CreateImageOptions { from_image: Some(repo), tag: Some(tag), ..Default::default() };
        let bar = self.progress.then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_message(format!("pulling {reference}"));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let credentials = credentials_within(reference).await;
        let mut stream = self.docker.create_image(Some(options), None, credentials);
        let mut result = Ok(());
        // No deadline in total (a large image takes as long as it takes), but one per message:
        // Docker reports progress several times a second while a pull moves.
        loop {
            let item = match tokio::time::timeout(self.deadlines.pull_idle, stream.next()).await {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(_) => {
                    result = Err(stalled(&format!("pulling {reference}"), self.deadlines.pull_idle));
                    break;
                }
            };
            match item {
                Ok(info) => {
                    if let (Some(bar), Some(status)) = (&bar, info.status) {
                        let id = info.id.unwrap_or_default();
                        bar.set_message(format!("pulling {reference}: {id} {status}"));
                    }
                }
                Err(e) => {
                    result = Err(classify(e));
                    break;
                }
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        result
    }

    async fn create_container(&self, request: &CreateRequest) -> EngineResult<String> {
        let body = create_body(request);
        // The networks the create names: its endpoints, and the network mode when that is a
        // network's name (not `host`, `none`, `bridge` or `container:`/`service:` joins).
        let mode = body.host_config.as_ref().and_then(|h| h.network_mode.clone());
        let named_mode = mode.filter(|m| is_network_name(m));
        let mut networks: Vec<String> = body
            .networking_config
            .as_ref()
            .and_then(|n| n.endpoints_config.as_ref())
            .map(|e| e.keys().cloned().collect())
            .unwrap_or_default();
        networks.extend(named_mode.filter(|m| !networks.contains(m)));
        let mut retries = 0;
        let created = loop {
            let call = self.docker.create_container(Some(create_options(request)), body.clone());
            match within("POST /containers/create", self.deadlines.write, call).await? {
                Ok(created) => break created,
                // A network of the request held twice for a moment (another agent made it at
                // the same time and is stepping back: see `create_network`) makes Docker
                // refuse the create with a 400, which may be over by the time we look. So a
                // 400 of a create that names networks is tried again when each is held once
                // (twice at most): a create that is wrong in itself only fails the same way again.
                Err(e) if retries < CREATE_RETRIES && status_of(&e) == Some(400) && !networks.is_empty() => {
                    tracing::debug!(container = %request.name, error = %e, "create refused (400): trying again once its networks are each held once");
                    self.wait_networks_single(&networks).await?;
                    // Docker's own name lookup may lag its list for a moment.
                    tokio::time::sleep(REMOVAL_POLL * 5 * (retries + 1)).await;
                    retries += 1;
                }
                Err(e) => {
                    return Err(match classify(e) {
                        // Docker's message names the holder by ID; the caller wants our name.
                        EngineError::NameInUse { .. } => EngineError::NameInUse { name: request.name.clone() },
                        other => other,
                    });
                }
            }
        };
        for network in request.spec.networks.iter().skip(1) {
            let connect = NetworkConnectRequest {
                container: created.id.clone(),
                endpoint_config: Some(endpoint(&request.service, &request.spec, network)),
            };
            let call = self.docker.connect_network(network, connect);
            let connected = within("POST /networks/{id}/connect", self.deadlines.write, call)
                .await
                .and_then(|a| a.map_err(classify));
            if let Err(e) = connected {
                // Leave nothing half-made behind.
                let _ = self.remove(&created.id).await;
                return Err(e);
            }
        }
        Ok(created.id)
    }

    async fn start(&self, id: &str) -> EngineResult<()> {
        let mut retries = 0;
        loop {
            let call = self.docker.start_container(id, None);
            match within("POST /containers/{id}/start", self.deadlines.write, call).await? {
                Ok(()) => return Ok(()),
                Err(e) if status_of(&e) == Some(304) => return Ok(()),
                // Docker resolves a container's networks by name at its start: one held twice
                // for a moment (see `create_network`) refuses it with a 400. Tried again once
                // each of its networks is held once, as `create_container` does.
                Err(e) if retries < CREATE_RETRIES && status_of(&e) == Some(400) => {
                    let networks = self.networks_of(id).await?;
                    if networks.is_empty() {
                        return Err(classify(e));
                    }
                    tracing::debug!(container = %id, error = %e, "start refused (400): trying again once its networks are each held once");
                    self.wait_networks_single(&networks).await?;
                    tokio::time::sleep(REMOVAL_POLL * 5 * (retries + 1)).await;
                    retries += 1;
                }
                Err(e) => return Err(classify(e)),
            }
        }
    }

    async fn stop(&self, id: &str, timeout: Duration) -> EngineResult<()> {
        let t = i32::try_from(timeout.as_secs()).unwrap_or(i32::MAX);
        let options = StopContainerOptions { t: Some(t), signal: None };
        // Docker answers once the container is down, which may take the whole stop timeout: the
        // deadline grows with it rather than being flat.
        let call = self.docker.stop_container(id, Some(options));
        match within("POST /containers/{id}/stop", self.deadlines.stop(timeout), call).await? {
            Ok(()) => Ok(()),
            // 304: already stopped. 404: already gone (an auto-removed container that exited).
            Err(e) if matches!(status_of(&e), Some(304) | Some(404)) => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }

    async fn remove(&self, id: &str) -> EngineResult<()> {
        let options = RemoveContainerOptions { force: true, v: false, ..Default::default() };
        let call = self.docker.remove_container(id, Some(options));
        match within("DELETE /containers/{id}", self.deadlines.remove(), call).await? {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => {
                tracing::debug!(container = id, "remove: 404, already absent");
                Ok(())
            }
            // Docker is removing it already (an `--rm` container that just stopped): the work
            // is done once Docker finishes.
            Err(e) if is_removal_in_progress(&e) => {
                tracing::debug!(container = id, "remove: 409 removal already in progress; waiting for Docker");
                self.wait_removed(id, REMOVAL_TIMEOUT).await
            }
            Err(e) => Err(classify(e)),
        }
    }

    async fn run_to_exit(&self, id: &str, start: bool) -> EngineResult<Option<i64>> {
        let condition = if start { "next-exit" } else { "not-running" };
        let options = WaitContainerOptions { condition: condition.to_string() };
        let (docker, key) = (self.docker.clone(), id.to_string());
        // The wait runs on its own connection, sent before the start: Docker registers its
        // waiter as the request arrives, and a start takes far longer (namespaces, mounts) than
        // that. Should the wait still arrive after an auto-removed container is gone, it answers
        // 404 and the caller reports the exit code as lost.
        let waiter = tokio::spawn(async move { docker.wait_container(&key, Some(options)).next().await });
        if start {
            // A round trip of the daemon's own, so that the wait's request is on its way first.
            self.inspect_container(id).await?;
            if let Err(error) = self.start(id).await {
                waiter.abort();
                return Err(error);
            }
        }
        let answer = waiter.await.map_err(|e| EngineError::Unavailable(format!("the wait for {id} ended: {e}")))?;
        match answer {
            Some(Ok(response)) => Ok(Some(response.status_code)),
            // bollard turns a non-zero exit into an error that carries the code.
            Some(Err(BollardError::DockerContainerWaitError { code, .. })) => Ok(Some(code)),
            Some(Err(e)) if status_of(&e) == Some(404) => Ok(None),
            Some(Err(e)) => Err(classify(e)),
            None => Err(EngineError::Unavailable(format!("the wait for {id} ended without an answer"))),
        }
    }

    async fn wait_removed(&self, id: &str, timeout: Duration) -> EngineResult<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let call = self.docker.inspect_container(id, None);
            match within("GET /containers/{id}/json", self.deadlines.read, call).await? {
                Err(e) if status_of(&e) == Some(404) => return Ok(()),
                Err(e) => return Err(classify(e)),
                Ok(_) if Instant::now() >= deadline => {
                    return Err(EngineError::Timeout(format!("container {id} was not removed within {timeout:?}")))
                }
                Ok(_) => tokio::time::sleep(REMOVAL_POLL).await,
            }
        }
    }

    async fn rename(&self, id: &str, name: &str) -> EngineResult<()> {
        let options = RenameContainerOptions { name: name.to_string() };
        let call = self.docker.rename_container(id, options);
        within("POST /containers/{id}/rename", self.deadlines.write, call).await?.map_err(classify)
    }

    async fn connect_network(&self, id: &str, network: &str, aliases: &[String]) -> EngineResult<()> {
        let connect = NetworkConnectRequest {
            container: id.to_string(),
            endpoint_config: Some(bollard::models::EndpointSettings {
                aliases: Some(aliases.to_vec()),
                ..Default::default()
            }),
        };
        let call = self.docker.connect_network(network, connect);
        match within("POST /networks/{id}/connect", self.deadlines.write, call).await? {
            Ok(()) => Ok(()),
            // Docker 20.10 answers 403 both for "already attached" and for a connect it forbids
            // (a container on the host network): the container is re-observed rather than the
            // message read.
            Err(e) if status_of(&e) == Some(403) => {
                let inspect = self.docker.inspect_container(id, None);
                let info =
                    within("GET /containers/{id}/json", self.deadlines.read, inspect).await?.map_err(classify)?;
                let attached = info
                    .network_settings
                    .and_then(|s| s.networks)
                    .is_some_and(|networks| networks.contains_key(network));
                if attached {
                    Ok(())
                } else {
                    Err(classify(e))
                }
            }
            Err(e) => Err(classify(e)),
        }
    }

    async fn create_network(&self, network: &Network, instance: &str) -> EngineResult<()> {
        let request = super::network_body::network_request(network, instance);
        // Docker before API 1.44 makes a second network of the same name unless asked to check
        // (a field bollard no longer has), and a name held twice is then "ambiguous" to every
        // create and connect. The controller creates a service's networks from each service's
        // reconcile at once, so creations are serialized here and one that exists is left alone.
        let _one_at_a_time = CREATING_NETWORKS.lock().await;
        // Another process (another node's agent on this daemon) may create it at the same
        // moment; the lock above is this process's only. Whoever sees a second network of the
        // name beside the one it just made removes its own, which nothing uses yet: the other
        // process may already have put a container on its one. Both may see both and both
        // step back: then the name is free again and each tries anew after a random pause.
        for attempt in 0..NETWORK_CREATE_ATTEMPTS {
            let inspect =
                self.docker.inspect_network(&network.name, None::<bollard::query_parameters::InspectNetworkOptions>);
            match within("GET /networks/{id}", self.deadlines.read, inspect).await? {
                Ok(existing) => return owned_by(instance, "network", &network.name, existing.labels.as_ref()),
                Err(e) if status_of(&e) == Some(404) => {}
                // Held twice already (left so by an earlier race): one is kept.
                Err(e) => {
                    if self.dedupe_network(&network.name).await? {
                        return Ok(());
                    }
                    return Err(classify(e));
                }
            }
            let create = self.docker.create_network(request.clone());
            let mine = match within("POST /networks/create", self.deadlines.write, create).await? {
                Ok(created) => created.id,
                Err(e) if status_of(&e) == Some(409) => continue,
                Err(e) => return Err(classify(e)),
            };
            if self.network_ids(&network.name).await?.iter().all(|id| *id == mine) {
                return Ok(());
            }
            tracing::info!(network = %network.name, attempt, "another process made the same network at once: stepping back");
            self.remove_network(&mine).await?;
            tokio::time::sleep(Duration::from_millis(fastrand::u64(20..200))).await;
        }
        // Still contended: the next reconcile tries again; a leftover second one is deduped then.
        self.dedupe_network(&network.name).await.map(|_| ())
    }

    async fn remove_network(&self, name: &str) -> EngineResult<()> {
        match within("DELETE /networks/{id}", self.deadlines.write, self.docker.remove_network(name)).await? {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            // Docker 20.10 answers 403 for "network has active endpoints".
            Err(BollardError::DockerResponseServerError { status_code: 403, message }) => {
                Err(EngineError::InUse(message))
            }
            Err(e) => Err(classify(e)),
        }
    }

    async fn create_volume(&self, volume: &Volume, instance: &str) -> EngineResult<()> {
        let mut labels: HashMap<String, String> = volume.labels.clone().into_iter().collect();
        labels.insert(labels::INSTANCE.into(), instance.into());
        let request = VolumeCreateRequest {
            name: Some(volume.name.clone()),
            driver: Some(volume.driver.clone()),
            driver_opts: Some(volume.options.clone().into_iter().collect()),
            labels: Some(labels),
            ..Default::default()
        };
        // Docker answers a create of an existing name with that volume: another instance's
        // would be shared without a word.
        match within("GET /volumes/{name}", self.deadlines.read, self.docker.inspect_volume(&volume.name)).await? {
            Ok(existing) => return owned_by(instance, "volume", &volume.name, Some(&existing.labels)),
            Err(e) if status_of(&e) == Some(404) => {}
            Err(e) => return Err(classify(e)),
        }
        let call = self.docker.create_volume(request);
        within("POST /volumes/create", self.deadlines.write, call).await?.map(|_| ()).map_err(classify)
    }

    async fn remove_volume(&self, name: &str) -> EngineResult<()> {
        let call = self.docker.remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>);
        match within("DELETE /volumes/{name}", self.deadlines.write, call).await? {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }

    fn logs(&self, id: &str, follow: bool, tail: Option<u64>) -> LogStream {
        let tail = tail.map_or_else(|| "all".to_string(), |n| n.to_string());
        let options = LogsOptionsBuilder::new().follow(follow).stdout(true).stderr(true).tail(&tail).build();
        let lines = super::log_lines::from_docker(self.docker.logs(id, Some(options)));
        // A follow is quiet while the container is: no deadline (Ctrl-C ends it). Without
        // follow, Docker sends what it has at once.
        if follow {
            lines
        } else {
            idle_bounded(lines, format!("GET /containers/{id}/logs"), self.deadlines.read)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(status_code: u16, message: &str) -> BollardError {
        BollardError::DockerResponseServerError { status_code, message: message.into() }
    }

    #[test]
    fn docker_answers_are_classified() {
        assert_eq!(
            classify(server(409, "Conflict. The container name \"/web\" is already in use by container \"abc\".")),
            EngineError::NameInUse { name: "web".into() }
        );
        assert!(matches!(
            classify(server(409, "container is marked for removal and cannot be started")),
            EngineError::MarkedForRemoval(_)
        ));
        assert!(matches!(classify(server(404, "No such container: x")), EngineError::NotFound { .. }));
        assert_eq!(classify(server(500, "boom")), EngineError::Api { status: 500, message: "boom".into() });
        assert_eq!(classify(server(400, "bad")), EngineError::Api { status: 400, message: "bad".into() });
        assert!(is_removal_in_progress(&server(409, "removal of container abc is already in progress")));
    }

    #[test]
    fn health_is_read_from_the_list_status_text() {
        assert_eq!(health_from_status("Up 3 seconds (healthy)"), Health::Healthy);
        assert_eq!(health_from_status("Up 3 seconds (unhealthy)"), Health::Unhealthy);
        assert_eq!(health_from_status("Up 1 second (health: starting)"), Health::Starting);
        assert_eq!(health_from_status("Exited (0) 2 minutes ago"), Health::None);
        assert_eq!(exit_code_from_status("Exited (0) 2 minutes ago"), Some(0));
        assert_eq!(exit_code_from_status("Exited (137) 1 second ago"), Some(137));
        assert_eq!(exit_code_from_status("Up 3 seconds (healthy)"), None);
        assert_eq!(exit_code_from_status("Created"), None);
    }

    #[test]
    fn a_network_in_use_is_not_a_name_conflict() {
        assert!(matches!(classify(server(409, "network web has active endpoints")), EngineError::InUse(_)));
        assert!(matches!(classify(server(409, "remove data: volume is in use - [abc]")), EngineError::InUse(_)));
    }

    #[test]
    fn references_split_into_repo_and_tag() {
        assert_eq!(split_reference("127.0.0.1:5000/app:1"), ("127.0.0.1:5000/app".into(), "1".into()));
        assert_eq!(split_reference("127.0.0.1:5000/app"), ("127.0.0.1:5000/app".into(), "latest".into()));
        assert_eq!(split_reference("app@sha256:ab"), ("app".into(), "sha256:ab".into()));
    }
}
