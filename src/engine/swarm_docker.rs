//! [`SwarmEngine`] for [`DockerEngine`]: the Swarm calls over the same bollard client, each
//! under its deadline, with Swarm's answers decided once, in [`swarm_answer`].
//!
//! Invariants:
//! - Every call runs under one of the engine's [`super::Deadlines`] (`within`), and every error
//!   goes through [`swarm_answer`], which refines [`super::docker::classify`] for Swarm.
//! - Only services, secrets, configs and networks labelled `moor.instance=<instance>` and
//!   `moor.backend=swarm` are listed (several `label` filters are all-of: verified, design doc 5).
//! - `update_service` never writes over a version other than the one observed: it inspects
//!   first and answers [`EngineError::OutOfSequence`] itself on a mismatch, and the daemon
//!   answers the same for a change that lands between the inspect and the update.
//! - An update starts from the observed full spec and overwrites only the projected fields
//!   ([`swarm_convert::apply_onto`]).
//! - Secret data is encoded straight into the request body; it is never logged nor put in an
//!   error.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use bollard::errors::Error as BollardError;
use bollard::models::{ConfigSpec, LocalNodeState, NodeState, SecretSpec, ServiceSpec, ServiceUpdateStatusStateEnum};
use bollard::query_parameters::{
    InspectNetworkOptions, ListConfigsOptions, ListNetworksOptions, ListNodesOptions, ListSecretsOptions,
    ListServicesOptions, ListTasksOptions, UpdateServiceOptions,
};

use super::auth::credentials_within;
use super::deadlines::within;
use super::docker::classify;
use super::swarm::{NodeInfo, ObservedObject, ObservedService, SwarmEngine, TaskInfo, UpdateState, UpdateStatus};
use super::swarm_convert::{apply_onto, from_bollard, to_bollard};
use super::{api_version::ApiVersion, DockerEngine, Engine, EngineError, EngineResult};
use crate::labels;
use crate::manifest::Network;
use crate::swarm::spec::{DataKind, SwarmData, SwarmSpec};

/// What was asked, for [`swarm_answer`]: the same answer means different things to each.
#[derive(Debug, Clone, Copy)]
enum Call<'a> {
    Read,
    CreateService {
        name: &'a str,
    },
    UpdateService,
    /// A remove of a service, secret, config or network.
    Remove,
    /// A create of a secret or config, named by its content's digest.
    CreateData,
    CreateNetwork,
}

/// Swarm's answers to `call`, decided once. `Ok(())`: the answer means the call's aim holds
/// (what was to be removed is gone, what was to be created exists). Each wording was seen on
/// Docker 20.10.24 (API 1.41), on a namespaced test daemon:
/// - any call on a daemon without a swarm: 503 `This node is not a swarm manager. Use "docker
///   swarm init" or "docker swarm join" to connect this node to swarm and try again.`. A worker's
///   answer and an older daemon's "not part of a swarm" are matched too, unverified here (this
///   test daemon cannot be made a worker without a second node);
/// - an update with a stale version: 500 `rpc error: code = Unknown desc = update out of
///   sequence`;
/// - a remove of what is gone: 404 `service nope not found` (`secret …`, `config …`,
///   `network …` alike); but a swarm network removed a moment ago, asked by its ID: 500
///   `network i0mg… not found`;
/// - a remove of a secret or config a service names: 400 `rpc error: code = InvalidArgument
///   desc = secret 's1' is in use by the following service: web`; of a swarm network a service
///   names: 400 `rpc error: code = FailedPrecondition desc = network oiy8… is in use by service
///   81ec…`; of a network with containers on it: 403 (as for the docker backend);
/// - a create of a service whose name is taken: 409 `rpc error: code = AlreadyExists desc = name
///   conflicts with an existing object: service web already exists`;
/// - a create of a secret or config that exists: 409 `rpc error: code = AlreadyExists desc =
///   secret s1 already exists`; of a network: 409 `network with name n1 already exists`.
fn swarm_answer(call: Call<'_>, error: BollardError) -> EngineResult<()> {
    let BollardError::DockerResponseServerError { status_code, message } = &error else {
        return Err(classify(error));
    };
    let (status, lower) = (*status_code, message.to_lowercase());
    if status == 503 && (lower.contains("not a swarm manager") || lower.contains("not part of a swarm")) {
        return Err(EngineError::NotSwarmManager(message.clone()));
    }
    match call {
        Call::UpdateService if lower.contains("update out of sequence") => {
            Err(EngineError::OutOfSequence(message.clone()))
        }
        Call::Remove if status == 404 || (status == 500 && lower.ends_with("not found")) => Ok(()),
        Call::Remove if status == 403 || lower.contains("is in use by") => Err(EngineError::InUse(message.clone())),
        Call::CreateService { name } if status == 409 || lower.contains("name conflicts with an existing object") => {
            Err(EngineError::NameInUse { name: name.to_string() })
        }
        Call::CreateData if status == 409 || lower.contains("alreadyexists") => Ok(()),
        Call::CreateNetwork if status == 409 => Ok(()),
        _ => Err(classify(error)),
    }
}

/// `moor.instance=<instance>` and `moor.backend=swarm`: both must hold.
fn owned_filter(instance: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        vec![format!("{}={instance}", labels::INSTANCE), format!("{}={}", labels::BACKEND, labels::BACKEND_SWARM)],
    )])
}

fn update_status(status: Option<bollard::models::ServiceUpdateStatus>) -> Option<UpdateStatus> {
    let status = status?;
    let state = match status.state? {
        ServiceUpdateStatusStateEnum::UPDATING => UpdateState::Updating,
        ServiceUpdateStatusStateEnum::PAUSED => UpdateState::Paused,
        ServiceUpdateStatusStateEnum::COMPLETED => UpdateState::Completed,
        ServiceUpdateStatusStateEnum::ROLLBACK_STARTED => UpdateState::RollbackStarted,
        ServiceUpdateStatusStateEnum::ROLLBACK_PAUSED => UpdateState::RollbackPaused,
        ServiceUpdateStatusStateEnum::ROLLBACK_COMPLETED => UpdateState::RollbackCompleted,
        ServiceUpdateStatusStateEnum::EMPTY => return None,
    };
    Some(UpdateStatus { state, message: status.message.unwrap_or_default() })
}

fn object(id: Option<String>, name: Option<String>, labels: Option<HashMap<String, String>>) -> ObservedObject {
    ObservedObject {
        id: id.unwrap_or_default(),
        name: name.unwrap_or_default(),
        labels: labels.unwrap_or_default().into_iter().collect(),
    }
}

/// bollard 0.21's `UpdateServiceOptions.version` is an `i32`, Swarm's index a `u64` (trap T11).
fn version_param(id: &str, version: u64) -> EngineResult<i32> {
    i32::try_from(version).map_err(|_| EngineError::Api {
        status: 0,
        message: format!(
            "service {id} is at version {version}, beyond {}, the largest that bollard 0.21 can send (its update \
             version is an i32): moor cannot update it",
            i32::MAX
        ),
    })
}

impl DockerEngine {
    /// Fills in the `SecretID`/`ConfigID` of each reference: the daemon refuses a reference by
    /// name alone (400 "malformed secret reference", verified). One list call per kind, only
    /// when the spec names any.
    async fn fill_data_ids(&self, spec: &mut ServiceSpec) -> EngineResult<()> {
        let Some(c) = spec.task_template.as_mut().and_then(|t| t.container_spec.as_mut()) else { return Ok(()) };
        let secret_names: Vec<String> = c.secrets.iter().flatten().filter_map(|s| s.secret_name.clone()).collect();
        if !secret_names.is_empty() {
            let ids = self.data_ids(DataKind::Secret, secret_names).await?;
            for s in c.secrets.iter_mut().flatten() {
                s.secret_id = Some(known(&ids, "secret", s.secret_name.as_deref())?);
            }
        }
        let config_names: Vec<String> = c.configs.iter().flatten().filter_map(|s| s.config_name.clone()).collect();
        if !config_names.is_empty() {
            let ids = self.data_ids(DataKind::Config, config_names).await?;
            for s in c.configs.iter_mut().flatten() {
                s.config_id = Some(known(&ids, "config", s.config_name.as_deref())?);
            }
        }
        Ok(())
    }

    /// Name → ID of the secrets or configs of these names. The `name` filter matches by prefix
    /// (`names`, exact, exists for secrets only: configs answer 400 "Invalid filter 'names'"),
    /// so the caller looks names up exactly in the answer.
    async fn data_ids(&self, kind: DataKind, names: Vec<String>) -> EngineResult<BTreeMap<String, String>> {
        let filters = Some(HashMap::from([("name".to_string(), names)]));
        let read = self.deadlines().read;
        let found = match kind {
            DataKind::Secret => {
                let call = self.client().list_secrets(Some(ListSecretsOptions { filters }));
                match within("GET /secrets", read, call).await? {
                    Ok(list) => list.into_iter().map(|s| (s.spec.and_then(|s| s.name), s.id)).collect::<Vec<_>>(),
                    Err(e) => return swarm_answer(Call::Read, e).map(|()| BTreeMap::new()),
                }
            }
            DataKind::Config => {
                let call = self.client().list_configs(Some(ListConfigsOptions { filters }));
                match within("GET /configs", read, call).await? {
                    Ok(list) => list.into_iter().map(|s| (s.spec.and_then(|s| s.name), s.id)).collect(),
                    Err(e) => return swarm_answer(Call::Read, e).map(|()| BTreeMap::new()),
                }
            }
        };
        Ok(found.into_iter().filter_map(|(name, id)| Some((name?, id?))).collect())
    }

    /// Network ID → name of every network, to read back `TaskTemplate.Networks[].Target`.
    async fn network_names(&self) -> EngineResult<HashMap<String, String>> {
        let call = self.client().list_networks(None::<ListNetworksOptions>);
        match within("GET /networks", self.deadlines().read, call).await? {
            Ok(list) => Ok(list.into_iter().filter_map(|n| Some((n.id?, n.name?))).collect()),
            Err(e) => swarm_answer(Call::Read, e).map(|()| HashMap::new()),
        }
    }
}

fn known(ids: &BTreeMap<String, String>, what: &str, name: Option<&str>) -> EngineResult<String> {
    let name = name.unwrap_or_default();
    ids.get(name).cloned().ok_or_else(|| EngineError::NotFound { what: format!("{what} {name:?} does not exist") })
}

impl SwarmEngine for DockerEngine {
    async fn swarm_ping(&self) -> EngineResult<()> {
        let info = match within("GET /info", self.deadlines().ping, self.client().info()).await? {
            Ok(info) => info,
            Err(e) => return swarm_answer(Call::Read, e),
        };
        let swarm = info.swarm.unwrap_or_default();
        if swarm.control_available == Some(true) {
            return Ok(());
        }
        let state = swarm.local_node_state.unwrap_or(LocalNodeState::EMPTY);
        let why = if state == LocalNodeState::ACTIVE {
            "this node is a worker of its swarm".to_string()
        } else {
            format!("its swarm state is {:?}", state.to_string())
        };
        Err(EngineError::NotSwarmManager(why))
    }

    fn api_version(&self) -> ApiVersion {
        <Self as Engine>::api_version(self)
    }

    async fn list_services(&self, instance: &str) -> EngineResult<Vec<ObservedService>> {
        let options = ListServicesOptions { filters: Some(owned_filter(instance)), status: Some(true) };
        let list =
            match within("GET /services", self.deadlines().read, self.client().list_services(Some(options))).await? {
                Ok(list) => list,
                Err(e) => return swarm_answer(Call::Read, e).map(|()| Vec::new()),
            };
        let mut services: Vec<ObservedService> = list
            .into_iter()
            .map(|s| ObservedService {
                id: s.id.unwrap_or_default(),
                version: s.version.and_then(|v| v.index).unwrap_or(0),
                spec: from_bollard(&s.spec.unwrap_or_default()),
                // bollard's `Service` has no `PreviousSpec`: the plan learns which spec failed
                // from the task history instead (`TaskInfo::spec_hash`).
                previous: None,
                desired_tasks: s.service_status.as_ref().and_then(|st| st.desired_tasks),
                update: update_status(s.update_status),
            })
            .collect();
        // The daemon holds a service's networks by ID: one more list call, only when needed.
        if services.iter().any(|s| !s.spec.networks.is_empty()) {
            let names = self.network_names().await?;
            let specs = services.iter_mut().flat_map(|s| std::iter::once(&mut s.spec).chain(s.previous.as_mut()));
            for network in specs.flat_map(|spec| spec.networks.iter_mut()) {
                if let Some(name) = names.get(&network.target) {
                    network.target = name.clone();
                }
            }
        }
        Ok(services)
    }

    async fn list_tasks(&self, service_ids: &[String]) -> EngineResult<Vec<TaskInfo>> {
        // No filter at all would list every task of the swarm.
        if service_ids.is_empty() {
            return Ok(Vec::new());
        }
        let filters = HashMap::from([("service".to_string(), service_ids.to_vec())]);
        let call = self.client().list_tasks(Some(ListTasksOptions { filters: Some(filters) }));
        let list = match within("GET /tasks", self.deadlines().read, call).await? {
            Ok(list) => list,
            Err(e) => return swarm_answer(Call::Read, e).map(|()| Vec::new()),
        };
        Ok(list
            .into_iter()
            .map(|t| {
                let status = t.status.unwrap_or_default();
                TaskInfo {
                    id: t.id.unwrap_or_default(),
                    service_id: t.service_id.unwrap_or_default(),
                    // A global service's tasks have no slot (0 on the wire, or absent).
                    slot: t.slot.and_then(|s| u64::try_from(s).ok()).filter(|&s| s != 0),
                    node_id: t.node_id.unwrap_or_default(),
                    desired_state: t.desired_state.map(|s| s.to_string()).unwrap_or_default(),
                    state: status.state.map(|s| s.to_string()).unwrap_or_default(),
                    error: status.err.unwrap_or_default(),
                    message: status.message.unwrap_or_default(),
                    timestamp: status.timestamp.unwrap_or_default(),
                    spec_hash: t
                        .spec
                        .as_ref()
                        .and_then(|s| s.container_spec.as_ref())
                        .and_then(|c| c.labels.as_ref())
                        .and_then(|l| l.get(crate::labels::SPEC_HASH))
                        .cloned(),
                }
            })
            .collect())
    }

    async fn list_nodes(&self) -> EngineResult<Vec<NodeInfo>> {
        let call = self.client().list_nodes(None::<ListNodesOptions>);
        let list = match within("GET /nodes", self.deadlines().read, call).await? {
            Ok(list) => list,
            Err(e) => return swarm_answer(Call::Read, e).map(|()| Vec::new()),
        };
        Ok(list
            .into_iter()
            .map(|n| NodeInfo {
                id: n.id.unwrap_or_default(),
                hostname: n.description.and_then(|d| d.hostname).unwrap_or_default(),
                ready: n.status.and_then(|s| s.state) == Some(NodeState::READY),
                labels: n.spec.and_then(|s| s.labels).unwrap_or_default().into_iter().collect(),
            })
            .collect())
    }

    async fn list_data(&self, kind: DataKind, instance: &str) -> EngineResult<Vec<ObservedObject>> {
        let filters = Some(owned_filter(instance));
        let read = self.deadlines().read;
        let listed = match kind {
            DataKind::Secret => {
                let call = self.client().list_secrets(Some(ListSecretsOptions { filters }));
                within("GET /secrets", read, call).await?.map(|list| {
                    list.into_iter()
                        .map(|s| {
                            let spec = s.spec.unwrap_or_default();
                            object(s.id, spec.name, spec.labels)
                        })
                        .collect()
                })
            }
            DataKind::Config => {
                let call = self.client().list_configs(Some(ListConfigsOptions { filters }));
                within("GET /configs", read, call).await?.map(|list| {
                    list.into_iter()
                        .map(|c| {
                            let spec = c.spec.unwrap_or_default();
                            object(c.id, spec.name, spec.labels)
                        })
                        .collect()
                })
            }
        };
        listed.or_else(|e| swarm_answer(Call::Read, e).map(|()| Vec::new()))
    }

    async fn list_networks(&self, instance: &str) -> EngineResult<Vec<ObservedObject>> {
        let mut filters = owned_filter(instance);
        filters.insert("scope".into(), vec!["swarm".into()]);
        let call = self.client().list_networks(Some(ListNetworksOptions { filters: Some(filters) }));
        match within("GET /networks", self.deadlines().read, call).await? {
            Ok(list) => Ok(list.into_iter().map(|n| object(n.id, n.name, n.labels)).collect()),
            Err(e) => swarm_answer(Call::Read, e).map(|()| Vec::new()),
        }
    }

    async fn registry_digest(&self, reference: &str) -> EngineResult<String> {
        <Self as Engine>::registry_digest(self, reference).await
    }

    async fn create_service(&self, spec: &SwarmSpec) -> EngineResult<String> {
        let mut body = to_bollard(spec);
        self.fill_data_ids(&mut body).await?;
        // The nodes pull with these credentials, if the image's registry needs any.
        let credentials = credentials_within(&spec.image).await;
        let call = self.client().create_service(body, credentials);
        match within("POST /services/create", self.deadlines().write, call).await? {
            Ok(created) => {
                for warning in created.warnings.iter().flatten() {
                    tracing::warn!(service = %spec.name, "{warning}");
                }
                Ok(created.id.unwrap_or_default())
            }
            Err(e) => swarm_answer(Call::CreateService { name: &spec.name }, e).map(|()| String::new()),
        }
    }

    async fn update_service(&self, id: &str, version: u64, spec: &SwarmSpec) -> EngineResult<()> {
        let inspect = self.client().inspect_service(id, None);
        let observed = match within("GET /services/{id}", self.deadlines().read, inspect).await? {
            Ok(observed) => observed,
            Err(e) => return swarm_answer(Call::Read, e),
        };
        let now = observed.version.and_then(|v| v.index).unwrap_or(0);
        if now != version {
            return Err(EngineError::OutOfSequence(format!(
                "service {id} is at version {now}, it was observed at {version}"
            )));
        }
        let mut body = observed.spec.unwrap_or_default();
        apply_onto(&mut body, spec);
        self.fill_data_ids(&mut body).await?;
        let options = UpdateServiceOptions { version: version_param(id, version)?, ..Default::default() };
        let credentials = credentials_within(&spec.image).await;
        let call = self.client().update_service(id, body, options, credentials);
        match within("POST /services/{id}/update", self.deadlines().write, call).await? {
            Ok(answer) => {
                for warning in answer.warnings.iter().flatten() {
                    tracing::warn!(service = %spec.name, "{warning}");
                }
                Ok(())
            }
            Err(e) => swarm_answer(Call::UpdateService, e),
        }
    }

    async fn service_exists(&self, name: &str) -> EngineResult<bool> {
        let call = self.client().inspect_service(name, None);
        match within("GET /services/{name}", self.deadlines().read, call).await? {
            Ok(_) => Ok(true),
            Err(e) => match classify(e) {
                EngineError::NotFound { .. } => Ok(false),
                other => Err(other),
            },
        }
    }

    async fn remove_service(&self, id: &str) -> EngineResult<()> {
        let call = self.client().delete_service(id);
        within("DELETE /services/{id}", self.deadlines().write, call).await?.or_else(|e| swarm_answer(Call::Remove, e))
    }

    async fn create_data(&self, data: &SwarmData) -> EngineResult<()> {
        let encoded = base64::engine::general_purpose::STANDARD.encode(data.data.expose());
        let labels = Some(data.labels.clone().into_iter().collect());
        let write = self.deadlines().write;
        let created = match data.kind {
            DataKind::Secret => {
                let spec =
                    SecretSpec { name: Some(data.name.clone()), labels, data: Some(encoded), ..Default::default() };
                within("POST /secrets/create", write, self.client().create_secret(spec)).await?.map(|_| ())
            }
            DataKind::Config => {
                let spec =
                    ConfigSpec { name: Some(data.name.clone()), labels, data: Some(encoded), ..Default::default() };
                within("POST /configs/create", write, self.client().create_config(spec)).await?.map(|_| ())
            }
        };
        created.or_else(|e| swarm_answer(Call::CreateData, e))
    }

    async fn remove_data(&self, kind: DataKind, id: &str) -> EngineResult<()> {
        let write = self.deadlines().write;
        let removed = match kind {
            DataKind::Secret => within("DELETE /secrets/{id}", write, self.client().delete_secret(id)).await?,
            DataKind::Config => within("DELETE /configs/{id}", write, self.client().delete_config(id)).await?,
        };
        removed.or_else(|e| swarm_answer(Call::Remove, e))
    }

    async fn create_network(&self, name: &str, network: &Network, instance: &str) -> EngineResult<()> {
        let named = Network { name: name.to_string(), ..network.clone() };
        let mut request = super::network_body::network_request(&named, instance);
        // A Network manifest's driver is for the docker backend; a swarm's networks span its
        // nodes, so they are overlays, attachable so a plain container can join them too.
        request.driver = Some("overlay".into());
        request.attachable = Some(true);
        request.labels.get_or_insert_with(HashMap::new).insert(labels::BACKEND.into(), labels::BACKEND_SWARM.into());
        let call = self.client().create_network(request);
        match within("POST /networks/create", self.deadlines().write, call).await? {
            Ok(_) => Ok(()),
            Err(e) => {
                swarm_answer(Call::CreateNetwork, e)?;
                // It exists: fine if it is this instance's, else the name is another's.
                let inspect = self.client().inspect_network(name, None::<InspectNetworkOptions>);
                let existing = within("GET /networks/{id}", self.deadlines().read, inspect)
                    .await?
                    .or_else(|e| swarm_answer(Call::Read, e).map(|()| Default::default()))?;
                let owner = existing.labels.unwrap_or_default().get(labels::INSTANCE).cloned().unwrap_or_default();
                if owner == instance {
                    Ok(())
                } else {
                    Err(EngineError::Owned { what: "network", name: name.to_string(), owner })
                }
            }
        }
    }

    async fn remove_network(&self, id: &str) -> EngineResult<()> {
        let call = self.client().remove_network(id);
        within("DELETE /networks/{id}", self.deadlines().write, call).await?.or_else(|e| swarm_answer(Call::Remove, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(status_code: u16, message: &str) -> BollardError {
        BollardError::DockerResponseServerError { status_code, message: message.into() }
    }

    /// The wordings of `swarm_answer`'s doc, as the daemon sent them.
    #[test]
    fn swarm_answers_are_decided_by_call() {
        let not_manager = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";
        assert!(matches!(swarm_answer(Call::Read, server(503, not_manager)), Err(EngineError::NotSwarmManager(_))));
        let stale = "rpc error: code = Unknown desc = update out of sequence";
        assert!(matches!(swarm_answer(Call::UpdateService, server(500, stale)), Err(EngineError::OutOfSequence(_))));
        assert_eq!(swarm_answer(Call::Remove, server(404, "secret nope not found")), Ok(()));
        assert_eq!(swarm_answer(Call::Remove, server(500, "network i0mg4czuhp5k not found")), Ok(()));
        assert!(matches!(
            swarm_answer(Call::Read, server(500, "network i0mg not found")),
            Err(EngineError::Api { .. })
        ));
        assert!(matches!(
            swarm_answer(Call::Read, server(404, "service nope not found")),
            Err(EngineError::NotFound { .. })
        ));
        let in_use = "rpc error: code = InvalidArgument desc = secret 's1' is in use by the following service: web";
        assert!(matches!(swarm_answer(Call::Remove, server(400, in_use)), Err(EngineError::InUse(_))));
        let net_in_use = "rpc error: code = FailedPrecondition desc = network oiy8 is in use by service 81ec";
        assert!(matches!(swarm_answer(Call::Remove, server(400, net_in_use)), Err(EngineError::InUse(_))));
        let taken =
            "rpc error: code = AlreadyExists desc = name conflicts with an existing object: service web already exists";
        assert_eq!(
            swarm_answer(Call::CreateService { name: "web" }, server(409, taken)),
            Err(EngineError::NameInUse { name: "web".into() })
        );
        let exists = "rpc error: code = AlreadyExists desc = secret s1 already exists";
        assert_eq!(swarm_answer(Call::CreateData, server(409, exists)), Ok(()));
        assert_eq!(swarm_answer(Call::CreateNetwork, server(409, "network with name n1 already exists")), Ok(()));
        // A bad request stays one.
        let bad = "rpc error: code = InvalidArgument desc = malformed secret reference";
        assert!(matches!(
            swarm_answer(Call::CreateService { name: "web" }, server(400, bad)),
            Err(EngineError::Api { status: 400, .. })
        ));
    }

    #[test]
    fn a_version_past_i32_is_refused_clearly() {
        assert_eq!(version_param("s", 174), Ok(174));
        let err = version_param("s", u64::from(u32::MAX)).unwrap_err();
        assert!(err.to_string().contains("i32"), "{err}");
    }

    #[test]
    fn owned_means_both_labels() {
        let filter = owned_filter("blue");
        assert_eq!(filter["label"], ["moor.instance=blue", "moor.backend=swarm"]);
    }
}
