//! Replacing a container, as the design's "Replacing a container" says.
//!
//! stop-first (default): create the new container under a temporary name, stop the old one,
//! start the new one, wait until it is healthy (or running), remove the old one, rename the new
//! one. start-first: create, start and wait before the old one is stopped.
//!
//! Invariants:
//! - When create, start or the health wait fails, the new container is removed and the old one
//!   is brought back: started again, or, when Docker deleted it or is deleting it (`--rm`),
//!   created again from its `moor.last-applied` label and its old image ID. The service still
//!   reports the failure.
//! - The old container being gone at any step (Docker removed it) is never an error.
//! - moor may be killed at any step: the plan recognises the leftovers by their labels.

use tracing::{info, warn};

use super::actions::{self, remove_gracefully, ActionError, ActionResult, Context};
use super::wait;
use crate::engine::{CreateRequest, Engine, EngineError};
use crate::manifest::model::Strategy;
use crate::manifest::Service;
use crate::plan::{Action, Target};
use crate::spec_hash::parse_last_applied;

/// The temporary name of a replacement container.
pub fn temporary_name(name: &str) -> String {
    format!("{name}-moor-next")
}

pub async fn replace<E: Engine>(ctx: &Context<'_, E>, service: Option<&Service>, action: &Action) -> ActionResult {
    let Action::Replace { replica, name, old, start, changes } = action else {
        unreachable!("replace() is only called with Action::Replace");
    };
    let service = service.ok_or_else(|| ActionError::Failed("replace without a manifest".into()))?;
    let changed: Vec<String> = changes.iter().map(ToString::to_string).collect();
    info!(container = %name, changes = %changed.join(", "), "replacing");

    let temp = temporary_name(name);
    let new_id = actions::create(ctx, service, *replica, &temp).await?;
    let new = Target { id: new_id, name: temp };

    if !*start {
        // state: stopped — nothing to start or wait for.
        ctx.engine.remove(&old.id).await?;
        return Ok(ctx.engine.rename(&new.id, name).await?);
    }

    let start_first = service.update.strategy == Strategy::StartFirst;
    if !start_first {
        ctx.engine.stop(&old.id, ctx.stop_timeout_of(old)).await?;
    }
    let started = match ctx.engine.start(&new.id).await {
        Ok(()) => {
            let healthy = service.container.healthcheck.is_some();
            wait::until_ready(ctx.engine, &new.id, healthy, service.update.health_timeout).await
        }
        Err(e) => Err(e.to_string()),
    };
    if let Err(reason) = started {
        warn!(container = %name, %reason, "replacement failed; rolling back");
        let rollback = roll_back(ctx, &new, old, name, start_first).await;
        return Err(ActionError::Failed(match rollback {
            Ok(()) => {
                format!("replacement failed: {reason}; rolled back to the previous container")
            }
            Err(e) => format!("replacement failed: {reason}; rollback failed too: {e}"),
        }));
    }
    if start_first {
        remove_gracefully(ctx, old).await?;
    } else {
        ctx.engine.remove(&old.id).await?;
    }
    Ok(ctx.engine.rename(&new.id, name).await?)
}

/// Removes the failed new container and brings the old one back.
async fn roll_back<E: Engine>(
    ctx: &Context<'_, E>,
    new: &Target,
    old: &Target,
    name: &str,
    start_first: bool,
) -> ActionResult {
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
                ctx.engine.wait_removed(&old.id, actions::WAIT_REMOVED).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    // Docker deleted the old container when it stopped (`--rm`): build it again, exactly as it
    // was, from its labels and its image ID.
    let observed = ctx
        .observed_container(&old.id)
        .ok_or_else(|| ActionError::Failed(format!("the old container {} is gone and was never observed", old.name)))?;
    let spec = observed.last_applied().and_then(parse_last_applied).ok_or_else(|| {
        ActionError::Failed(format!("the old container {} is gone and its last-applied label is unreadable", old.name))
    })?;
    let request = CreateRequest {
        name: name.to_string(),
        // The old image by ID: its tag may name the new image by now.
        image: observed.image_id.clone(),
        service: observed.service().unwrap_or(name).to_string(),
        spec,
        labels: observed.labels.clone(),
    };
    let id = actions::create_request(ctx, &request).await?;
    Ok(ctx.engine.start(&id).await?)
}
