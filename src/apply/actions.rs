//! Single actions: create, start, stop, remove, wait, rename, and replace (a step of its own in
//! [`super::replace`]). This is the top of apply's call graph: it calls [`super::replace`] and
//! [`super::steps`], and nothing calls back into it.

use tracing::debug;

use super::outcome::{ActionError, ActionResult};
use super::progress::Step;
use super::replace::{replace, Replacement};
use super::steps::{create, create_from, remove_gracefully, run_job, Context, WAIT_REMOVED};
use crate::engine::{Engine, EngineError};
use crate::manifest::Service;
use crate::plan::Action;

/// Runs one action of `service` (`None` for an orphan being pruned).
pub async fn run<E: Engine>(ctx: &Context<'_, E>, service: Option<&Service>, action: &Action) -> ActionResult {
    let engine = ctx.engine;
    let with_manifest = || service.ok_or(ActionError::NoManifest(action.kind()));
    match action {
        Action::Create { replica, name, start } if service.is_some_and(Service::is_job) => {
            let service = with_manifest()?;
            let (id, image_id) = create_from(ctx, service, *replica, name).await?;
            match start {
                true => run_job(ctx, service, &id, &image_id).await,
                false => Ok(()),
            }
        }
        // A job is not replaced through the health gate: its old run is over, so it is removed
        // and the new spec runs to its end.
        Action::Replace { replica, name, old, start, .. } if service.is_some_and(Service::is_job) => {
            let service = with_manifest()?;
            remove_gracefully(ctx, old).await?;
            let (id, image_id) = create_from(ctx, service, *replica, name).await?;
            match start {
                true => run_job(ctx, service, &id, &image_id).await,
                false => Ok(()),
            }
        }
        Action::Start { container } if service.is_some_and(Service::is_job) => {
            let service = with_manifest()?;
            let observed = ctx.observed_container(&container.id);
            let image_id = observed.map(|c| c.image_id.clone()).unwrap_or_default();
            match run_job(ctx, service, &container.id, &image_id).await {
                // An auto-removing job Docker is deleting: it is absent, so make a new one.
                Err(ActionError::Engine(EngineError::MarkedForRemoval(_) | EngineError::NotFound { .. })) => {
                    engine.wait_removed(&container.id, WAIT_REMOVED).await?;
                    let replica = observed.map(|c| c.replica()).unwrap_or(1);
                    let (id, image_id) = create_from(ctx, service, replica, &container.name).await?;
                    run_job(ctx, service, &id, &image_id).await
                }
                other => other,
            }
        }
        Action::Create { replica, name, start } => {
            let id = create(ctx, with_manifest()?, *replica, name).await?;
            if *start {
                ctx.progress.step(Step::Starting);
                engine.start(&id).await?;
            }
            Ok(())
        }
        Action::Replace { replica, name, old, start, changes } => {
            let replacement = Replacement { replica: *replica, name, old, start: *start, changes };
            replace(ctx, with_manifest()?, &replacement).await
        }
        Action::Start { container } => {
            let service = with_manifest()?;
            ctx.progress.step(Step::Starting);
            match engine.start(&container.id).await {
                Ok(()) => Ok(()),
                // An auto-removing container that exited is on its way out, or already gone:
                // it is absent, so make a new one.
                Err(EngineError::MarkedForRemoval(_)) | Err(EngineError::NotFound { .. }) => {
                    engine.wait_removed(&container.id, WAIT_REMOVED).await?;
                    let replica = ctx.observed_container(&container.id).map(|c| c.replica()).unwrap_or(1);
                    let id = create(ctx, service, replica, &container.name).await?;
                    ctx.progress.step(Step::Starting);
                    engine.start(&id).await.map_err(Into::into)
                }
                Err(e) => Err(e.into()),
            }
        }
        Action::Stop { container } => {
            let timeout = service.map(|s| s.container.stop_timeout).unwrap_or_else(|| ctx.stop_timeout_of(container));
            ctx.progress.step(Step::Stopping);
            Ok(engine.stop(&container.id, timeout).await?)
        }
        Action::Remove { container, reason } => {
            debug!(container = %container.name, reason = %reason, "removing");
            remove_gracefully(ctx, container).await
        }
        Action::WaitRemoved { container } => {
            ctx.progress.step(Step::Removing);
            Ok(engine.wait_removed(&container.id, WAIT_REMOVED).await?)
        }
        Action::Rename { container, to } => Ok(engine.rename(&container.id, to).await?),
        Action::Connect { container, network } => {
            let aliases = service.map(|s| vec![s.name.clone()]).unwrap_or_default();
            Ok(engine.connect_network(&container.id, network, &aliases).await?)
        }
    }
}
