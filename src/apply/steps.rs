//! The steps that actions and replacement share: resolving the image, creating a container with
//! moor's labels, removing one gracefully.
//!
//! Invariants:
//! - Every container moor creates carries the instance, service, replica, spec-hash and
//!   last-applied labels, with the hash computed from the image ID it is created from.
//! - This module calls nothing above it: [`super::actions`] and [`super::replace`] use it, never
//!   the other way round.

use std::collections::BTreeMap;
use std::time::Duration;

use tracing::info;

use super::outcome::{ActionError, ActionResult};
use super::progress::{Reporter, Step};
use crate::engine::{CreateRequest, Engine, EngineError, Provided};
use crate::labels;
use crate::manifest::model::{PullPolicy, State};
use crate::manifest::{ContainerSpec, Desired, Service};
use crate::observe::{Observed, ObservedContainer};
use crate::plan::Target;
use crate::secrets::store::FileStore;
use crate::spec_hash::{last_applied_label, parse_last_applied, spec_hash};

/// How long Docker may take to finish removing a container it is already removing.
pub const WAIT_REMOVED: Duration = Duration::from_secs(30);
/// The stop timeout for a container whose spec is unknown (Docker's own default).
const DEFAULT_STOP: Duration = Duration::from_secs(10);

pub struct Context<'a, E: Engine> {
    pub engine: &'a E,
    pub desired: &'a Desired,
    pub observed: &'a Observed,
    pub instance: &'a str,
    /// The steps of the service this context works for (`Reporter::none()` for nobody).
    pub progress: Reporter<'a>,
    /// Where secret and config files are written (see [`provide`]).
    pub store: Option<&'a FileStore>,
}

impl<E: Engine> Context<'_, E> {
    pub fn observed_container(&self, id: &str) -> Option<&ObservedContainer> {
        self.observed.containers.iter().find(|c| c.id == id)
    }

    /// The stop timeout of an observed container, from the spec it was built from.
    pub fn stop_timeout_of(&self, target: &Target) -> Duration {
        self.observed_container(&target.id)
            .and_then(|c| c.last_applied())
            .and_then(parse_last_applied)
            .map(|s| s.stop_timeout)
            .unwrap_or(DEFAULT_STOP)
    }
}

/// Stops the container with its own stop timeout, then removes it. An `--rm` container that
/// Docker deletes on stop is fine: the engine reports its removal as success.
pub async fn remove_gracefully<E: Engine>(ctx: &Context<'_, E>, container: &Target) -> ActionResult {
    ctx.progress.step(Step::Stopping);
    ctx.engine.stop(&container.id, ctx.stop_timeout_of(container)).await?;
    ctx.progress.step(Step::Removing);
    Ok(ctx.engine.remove(&container.id).await?)
}

/// The image a new container of `service` is created from, and the image ID its hash is made
/// with: the pinned ID when an update check or a rollback set one, else the reference resolved
/// as the pull policy says. `pull: always` goes through the registry digest check, so an
/// unchanged digest pulls nothing.
pub async fn resolve_image<E: Engine>(ctx: &Context<'_, E>, service: &Service) -> ActionResult<(String, String)> {
    let reference = &service.container.image;
    if let Some(id) = ctx.observed.pinned.get(&service.name) {
        return Ok((id.clone(), id.clone()));
    }
    let id = match service.pull {
        PullPolicy::Always => crate::images::check_and_pull(ctx.engine, reference).await?.image_id,
        PullPolicy::Missing | PullPolicy::Never => match ctx.engine.image(reference).await? {
            Some(image) => image.id,
            None if service.pull == PullPolicy::Never => return Err(ActionError::ImageMissing(reference.clone())),
            None => {
                info!(image = %reference, "pulling");
                ctx.progress.step(Step::Pulling);
                ctx.engine.pull(reference).await?;
                let image = ctx.engine.image(reference).await?;
                image.map(|i| i.id).ok_or_else(|| ActionError::ImageVanished(reference.clone()))?
            }
        },
    };
    Ok((reference.clone(), id))
}

/// moor's labels for a container of `service` built from `spec` and `image_id`. The spec's own
/// labels come first, so moor's always win.
pub fn container_labels(
    instance: &str,
    service: &str,
    replica: u32,
    spec: &ContainerSpec,
    image_id: &str,
) -> BTreeMap<String, String> {
    let mut labels = spec.labels.clone();
    labels.insert(labels::INSTANCE.into(), instance.into());
    labels.insert(labels::SERVICE.into(), service.into());
    labels.insert(labels::REPLICA.into(), replica.to_string());
    labels.insert(labels::SPEC_HASH.into(), spec_hash(spec, image_id));
    // The slim form: the hash above is still made of the full canonical JSON.
    labels.insert(labels::LAST_APPLIED.into(), last_applied_label(spec));
    labels
}

/// `labels` with `moor.node` when `desired` was placed on a node (outside the spec hash).
fn node_labels(desired: &Desired, mut labels: BTreeMap<String, String>) -> BTreeMap<String, String> {
    if let Some(node) = desired.node_name() {
        labels.insert(labels::NODE.into(), node.into());
    }
    labels
}

/// Creates (does not start) a container of `service` named `name`. Returns its ID.
pub async fn create<E: Engine>(
    ctx: &Context<'_, E>,
    service: &Service,
    replica: u32,
    name: &str,
) -> ActionResult<String> {
    Ok(create_from(ctx, service, replica, name).await?.0)
}

/// [`create`], returning the container's ID and the image ID it was made from (what its spec
/// hash was made with).
pub async fn create_from<E: Engine>(
    ctx: &Context<'_, E>,
    service: &Service,
    replica: u32,
    name: &str,
) -> ActionResult<(String, String)> {
    let (image, image_id) = resolve_image(ctx, service).await?;
    ctx.progress.step(Step::Creating);
    let mut labels =
        node_labels(ctx.desired, container_labels(ctx.instance, &service.name, replica, &service.container, &image_id));
    if let Some(joins) = joined_ids(ctx, &service.container).await? {
        labels.insert(labels::JOINS.into(), joins);
    }
    let request = CreateRequest {
        name: name.to_string(),
        image,
        service: service.name.clone(),
        // The default network and the instance's name of a `service:` network mode are added
        // here, outside the spec its hash is made of.
        spec: crate::names::placed_spec(ctx.instance, ctx.desired, &service.container),
        labels,
        provided: provide(ctx, service)?,
    };
    Ok((create_request(ctx, &request).await?, image_id))
}

/// `NAME=<container ID>,...` of the containers a container of `spec` joins (`service:NAME`),
/// as they are now: started before it (the join is an implied dependency). `None` when it joins
/// none; a target that does not exist is left out (Docker then refuses the create).
async fn joined_ids<E: Engine>(ctx: &Context<'_, E>, spec: &ContainerSpec) -> ActionResult<Option<String>> {
    let targets = crate::names::join_targets(spec);
    if targets.is_empty() {
        return Ok(None);
    }
    let mut parts = Vec::new();
    for target in targets {
        let Some(service) = ctx.desired.services.get(&target) else { continue };
        let Some(first) = crate::names::container_names(ctx.instance, service).into_iter().next() else { continue };
        if let Some(info) = ctx.engine.inspect_container(&first).await? {
            parts.push(format!("{target}={}", info.id));
        }
    }
    Ok(Some(parts.join(",")))
}

/// Runs a job's container `id` (made from `image_id`) to its end and records the run under the
/// state dir ([`crate::jobs`]) when there is one. An exit code other than 0 is a failure.
pub async fn run_job<E: Engine>(ctx: &Context<'_, E>, service: &Service, id: &str, image_id: &str) -> ActionResult {
    ctx.progress.step(Step::Starting);
    let Some(code) = ctx.engine.run_to_exit(id, true).await? else {
        return Err(ActionError::JobExitLost);
    };
    info!(code, "job exited");
    if let Some(store) = ctx.store {
        let record = crate::jobs::JobRecord {
            spec_hash: crate::spec_hash::hash_canonical(&service.canonical, image_id),
            image_id: image_id.to_string(),
            exit_code: code,
            finished_at: crate::jobs::now_unix(),
        };
        // Not fatal: without the record an autoRemove job only runs again at the next apply.
        if let Err(error) = crate::jobs::write(store.state_dir(), ctx.instance, &service.name, &record) {
            tracing::warn!(%error, "the job's run could not be recorded");
        }
    }
    match code {
        0 => Ok(()),
        code => Err(ActionError::JobFailed { code }),
    }
}

/// What a container of `service` is given besides its spec: its sealed env values, and its secret
/// and config files, written under the state dir (content-addressed: a file already there is the
/// same content and is not rewritten). The env values are kept there too, never mounted, so that
/// a container Docker deleted (`--rm`) can be built again at rollback.
pub fn provide<E: Engine>(ctx: &Context<'_, E>, service: &Service) -> ActionResult<Provided> {
    let spec = &service.container;
    if !service.refs.is_empty() && !service.values.resolved {
        return Err(ActionError::Unresolved);
    }
    let mut provided = Provided { env: service.values.env.clone(), files: BTreeMap::new() };
    if spec.sealed_env.is_empty() && spec.files.is_empty() {
        return Ok(provided);
    }
    let store = ctx.store.ok_or_else(|| ActionError::Files("no state dir to keep them in".into()))?;
    let files = |e: crate::secrets::store::StoreError| ActionError::Files(e.to_string());
    for file in &spec.files {
        let content = service.values.files.get(&file.target).ok_or(ActionError::Unresolved)?;
        let path = store.ensure(&service.name, file, content.expose()).map_err(files)?;
        provided.files.insert(file.target.clone(), path);
    }
    if !spec.sealed_env.is_empty() {
        store.ensure_env(&service.name, &spec.sealed_env, &service.values.env).map_err(files)?;
    }
    if !provided.covers(spec) {
        return Err(ActionError::Unresolved);
    }
    Ok(provided)
}

/// What a container built from `spec` (an old one's, read from its label) was given: its sealed
/// env values and files as kept under the state dir. For the rebuild of a container Docker
/// deleted.
pub fn provided_again<E: Engine>(ctx: &Context<'_, E>, service: &str, spec: &ContainerSpec) -> Option<Provided> {
    if spec.sealed_env.is_empty() && spec.files.is_empty() {
        return Some(Provided::default());
    }
    let store = ctx.store?;
    let env = match spec.sealed_env.is_empty() {
        true => BTreeMap::new(),
        false => store.read_env(service, &spec.sealed_env).ok()?,
    };
    let mut files = BTreeMap::new();
    for file in &spec.files {
        let path = store.path_of(service, file);
        if !path.is_file() {
            return None;
        }
        files.insert(file.target.clone(), path);
    }
    let provided = Provided { env, files };
    provided.covers(spec).then_some(provided)
}

/// Removes the secret and config files of `service` that no container of it uses any more, nor
/// its desired spec: after its actions, from a fresh list (an old container a rollback kept, or
/// built again, still names its files). Nothing is removed when a container's label cannot be
/// read, or Docker cannot be listed: an unknown user keeps its files.
pub async fn collect_files<E: Engine>(ctx: &Context<'_, E>, service: &str) {
    let Some(store) = ctx.store else { return };
    if !store.has_files(service) {
        return;
    }
    let containers = match ctx.engine.list_containers(ctx.instance).await {
        Ok(containers) => containers,
        Err(error) => return tracing::debug!(%error, "files not collected: Docker was not listed"),
    };
    let mut specs = Vec::new();
    for c in containers.iter().filter(|c| c.service() == Some(service)) {
        match c.last_applied().and_then(parse_last_applied) {
            Some(spec) => specs.push(spec),
            None => return,
        }
    }
    // An absent service's spec names files no container will use.
    let desired = ctx.desired.services.get(service).filter(|s| s.state != State::Absent).map(|s| &s.container);
    let keep: Vec<&ContainerSpec> = specs.iter().chain(desired).collect();
    match store.gc(service, &keep) {
        Ok(0) => {}
        Ok(removed) => info!(removed, "secret and config files no container uses were removed"),
        Err(error) => tracing::warn!(%error, "secret and config files could not be collected"),
    }
}

/// Creates from a ready request, turning a 409 name conflict into a precise report: whose
/// container holds the name.
pub async fn create_request<E: Engine>(ctx: &Context<'_, E>, request: &CreateRequest) -> ActionResult<String> {
    match ctx.engine.create_container(request).await {
        Ok(id) => Ok(id),
        Err(EngineError::NameInUse { .. }) => {
            // Re-observe the holder of the name: it decides between a conflict and a race.
            let holder = ctx.engine.inspect_container(&request.name).await?;
            let Some(holder) = holder else {
                return Err(ActionError::NameRace(request.name.clone()));
            };
            let short = holder.id[..holder.id.len().min(12)].to_string();
            // Another node's agent of this instance on the same daemon: never this one's.
            let other_node = match ctx.desired.node_name() {
                Some(mine) => holder.labels.get(labels::NODE).filter(|n| n.as_str() != mine),
                None => None,
            };
            let who = match (holder.labels.get(labels::INSTANCE), other_node) {
                (Some(i), Some(node)) if i == ctx.instance => {
                    format!("container {short} of node {node:?} of this instance")
                }
                (Some(i), _) if i == ctx.instance => {
                    return Err(ActionError::HeldByOwnUnobserved { name: request.name.clone(), container: short })
                }
                (Some(other), _) => format!("container {short} of moor instance {other:?}"),
                (None, _) => format!("container {short}, which moor does not own"),
            };
            Err(ActionError::Conflict { name: request.name.clone(), holder: who })
        }
        Err(e) => Err(e.into()),
    }
}
