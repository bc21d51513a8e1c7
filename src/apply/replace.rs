//! Replacing a container, as `docs/architecture.md` ("Replacing a container") says.
//!
//! stop-first (default): create the new container under a temporary name, stop the old one,
//! start the new one, wait until it is healthy (or running), remove the old one, rename the new
//! one. start-first: create, start and wait before the old one is stopped.
//!
//! Invariants:
//! - Any failure from the stop of the old container until the new one is ready (the stop
//!   itself, which may have stopped it although it failed or timed out; the start; the health
//!   wait) takes the rollback path. With `update.rollback` true (the default), the new
//!   container is removed and the old one is brought back: started again, or, when Docker
//!   deleted it or is deleting it (`--rm`), created again from its `moor.last-applied` label and
//!   its old image ID. The service still reports the failure ([`Rollback::Done`]).
//! - With `update.rollback: false` a start or health failure keeps the new container under the
//!   service's name and removes the old one ([`Rollback::Disabled`]); the failure is reported all
//!   the same. A failed stop is then an ordinary failure, retried with backoff: the new container
//!   was never tried, so there is nothing to keep, and the retry goes forward (the new container
//!   is the current one).
//! - Once the new container is ready, a failure (removing the old one, the rename) is an
//!   ordinary failure: the new container runs, and the next pass finishes the swap.
//! - The old container being gone at any step (Docker removed it) is never an error.
//! - moor may be killed at any step: the plan recognises the leftovers by their labels.
//! - This module uses [`super::steps`] only; it never calls back into [`super::actions`].

use tracing::{debug, info, warn};

use super::outcome::{ActionError, ActionResult, NotReady, ReplaceFailure, Rollback, Unrebuildable};
use super::progress::Step;
use super::steps::{create, create_request, remove_gracefully, Context, WAIT_REMOVED};
use super::wait;
use crate::engine::{CreateRequest, Engine, EngineError};
use crate::manifest::model::Strategy;
use crate::manifest::Service;
use crate::plan::{Change, Target};
use crate::spec_hash::parse_last_applied;

/// The temporary name of a replacement container.
pub fn temporary_name(name: &str) -> String {
    format!("{name}-moor-next")
}

/// One container to replace: the fields of `Action::Replace`.
pub struct Replacement<'a> {
    pub replica: u32,
    pub name: &'a str,
    pub old: &'a Target,
    pub start: bool,
    pub changes: &'a [Change],
}

pub async fn replace<E: Engine>(ctx: &Context<'_, E>, service: &Service, r: &Replacement<'_>) -> ActionResult {
    let (name, old) = (r.name, r.old);
    let changed: Vec<String> = r.changes.iter().map(ToString::to_string).collect();
    debug!(container = %name, changes = %changed.join(", "), "replacing");

    let temp = temporary_name(name);
    let new_id = create(ctx, service, r.replica, &temp).await?;
    let new = Target { id: new_id, name: temp };

    if !r.start {
        // state: stopped — nothing to start or wait for.
        ctx.progress.step(Step::Removing);
        ctx.engine.remove(&old.id).await?;
        return Ok(ctx.engine.rename(&new.id, name).await?);
    }

    let start_first = service.update.strategy == Strategy::StartFirst;
    let swap = Swap { new: &new, old, name, start_first };
    let stopped = if start_first {
        Ok(())
    } else {
        ctx.progress.step(Step::Stopping);
        match ctx.engine.stop(&old.id, ctx.stop_timeout_of(old)).await {
            Ok(()) => Ok(()),
            // Nothing was tried with the new container: go forward on the next pass.
            Err(e) if !service.update.rollback => return Err(e.into()),
            // The old container may be stopped already (a timeout says nothing of what Docker
            // did): bring it back.
            Err(error) => Err(NotReady::OldNotStopped { container: old.name.clone(), error }),
        }
    };
    let started = match stopped {
        Ok(()) => {
            ctx.progress.step(Step::Starting);
            match ctx.engine.start(&new.id).await {
                Ok(()) => {
                    let healthy = service.container.healthcheck.is_some();
                    let timeout = service.update.health_timeout;
                    wait::until_ready_reporting(ctx.engine, &new.id, healthy, timeout, ctx.progress).await
                }
                Err(e) => Err(NotReady::Engine(e)),
            }
        }
        Err(reason) => Err(reason),
    };
    if let Err(reason) = started {
        let rollback = if service.update.rollback {
            warn!(container = %name, %reason, "replacement failed; rolling back");
            match swap.roll_back(ctx).await {
                Ok(()) => Rollback::Done,
                Err(e) => Rollback::Failed(Box::new(e)),
            }
        } else {
            warn!(container = %name, %reason, "replacement failed; update.rollback is false, so the new container stays");
            swap.finish(ctx).await?;
            Rollback::Disabled
        };
        return Err(ActionError::Replacement(Box::new(ReplaceFailure { reason, rollback })));
    }
    swap.finish(ctx).await
}

/// The two containers of a replacement that started its new one.
struct Swap<'a> {
    new: &'a Target,
    old: &'a Target,
    /// The service's container name, which the survivor ends up with.
    name: &'a str,
    /// The old container was never stopped.
    start_first: bool,
}

impl Swap<'_> {
    /// Removes the old container and gives the new one its name.
    async fn finish<E: Engine>(&self, ctx: &Context<'_, E>) -> ActionResult {
        let Swap { new, old, name, start_first } = *self;
        if start_first {
            remove_gracefully(ctx, old).await?;
        } else {
            ctx.progress.step(Step::Removing);
            ctx.engine.remove(&old.id).await?;
        }
        Ok(ctx.engine.rename(&new.id, name).await?)
    }

    /// Removes the failed new container and brings the old one back.
    async fn roll_back<E: Engine>(&self, ctx: &Context<'_, E>) -> ActionResult {
        let Swap { new, old, name, start_first } = *self;
        ctx.engine.remove(&new.id).await?;
        if start_first {
            return Ok(()); // the old one never stopped
        }
        if ctx.engine.inspect_container(&old.id).await?.is_some() {
            match ctx.engine.start(&old.id).await {
                Ok(()) => return Ok(()),
                // Docker was still deleting it (`--rm`) when inspect answered: once it is gone, it
                // is built again below.
                Err(EngineError::MarkedForRemoval(_)) | Err(EngineError::NotFound { .. }) => {
                    ctx.engine.wait_removed(&old.id, WAIT_REMOVED).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        // Docker deleted the old container when it stopped (`--rm`): build it again, exactly as it
        // was, from its labels and its image ID.
        let unrebuildable = |why| ActionError::Unrebuildable { name: old.name.clone(), why };
        let observed = ctx.observed_container(&old.id).ok_or_else(|| unrebuildable(Unrebuildable::NeverObserved))?;
        let spec = observed
            .last_applied()
            .and_then(parse_last_applied)
            .ok_or_else(|| unrebuildable(Unrebuildable::UnreadableLabel))?;
        let service = observed.service().unwrap_or(name).to_string();
        // Its secret values come back from the files kept under the state dir, never from the
        // label (which holds only their digests).
        let provided = super::steps::provided_again(ctx, &service, &spec)
            .ok_or_else(|| unrebuildable(Unrebuildable::SecretsGone))?;
        let request = CreateRequest {
            name: name.to_string(),
            // The old image by ID: its tag may name the new image by now.
            image: observed.image_id.clone(),
            service,
            spec: crate::names::placed_spec(ctx.instance, ctx.desired, &spec),
            labels: observed.labels.clone(),
            provided,
        };
        let id = create_request(ctx, &request).await?;
        info!(container = %name, "rolled back to the previous container");
        Ok(ctx.engine.start(&id).await?)
    }
}
