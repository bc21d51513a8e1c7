//! Image freshness: the registry check that `update.watch: digest` and `pull: always` share.
//!
//! Invariant: a pull happens only when the registry's digest for the tag is not among the local
//! image's RepoDigests. An unchanged digest costs one registry HEAD-like call through the daemon
//! and never a pull, so registry rate limits are not used up.

use serde::Serialize;

use crate::engine::{Engine, EngineError, EngineResult};

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub reference: String,
    pub registry_digest: String,
    /// The local image ID the reference now names.
    pub image_id: String,
    pub pulled: bool,
}

/// Asks the registry for `reference`'s digest; pulls only when the local image is not that
/// digest.
pub async fn check_and_pull<E: Engine>(engine: &E, reference: &str) -> EngineResult<Check> {
    let registry_digest = engine.registry_digest(reference).await?;
    pull_unless_local(engine, reference, registry_digest).await
}

/// Pulls `reference` unless the local image already is `registry_digest`.
pub async fn pull_unless_local<E: Engine>(engine: &E, reference: &str, registry_digest: String) -> EngineResult<Check> {
    if let Some(local) = engine.image(reference).await? {
        if local.has_digest(&registry_digest) {
            return Ok(Check { reference: reference.into(), registry_digest, image_id: local.id, pulled: false });
        }
    }
    tracing::info!(image = reference, digest = %registry_digest, "new digest in the registry; pulling");
    engine.pull(reference).await?;
    let local = engine
        .image(reference)
        .await?
        .ok_or_else(|| EngineError::NotFound { what: format!("image {reference} is missing after its pull") })?;
    Ok(Check { reference: reference.into(), registry_digest, image_id: local.id, pulled: true })
}
