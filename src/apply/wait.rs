//! Waiting for a container to be ready: running, or healthy when it has a healthcheck.

use std::time::Duration;

use tokio::time::Instant;

use super::outcome::NotReady;
use super::progress::{Reporter, Step};
use crate::engine::Engine;
use crate::observe::{Health, RunState};

const POLL: Duration = Duration::from_millis(50);

/// Waits until the container `id_or_name` runs and, when `healthy` is asked and it has a
/// healthcheck, reports healthy. Fails at once when it exits or turns unhealthy.
pub async fn until_ready<E: Engine>(
    engine: &E,
    id_or_name: &str,
    healthy: bool,
    timeout: Duration,
) -> Result<(), NotReady> {
    until_ready_reporting(engine, id_or_name, healthy, timeout, Reporter::none()).await
}

/// [`until_ready`], telling `progress` how long a health wait has lasted, about once a second.
pub async fn until_ready_reporting<E: Engine>(
    engine: &E,
    id_or_name: &str,
    healthy: bool,
    timeout: Duration,
    progress: Reporter<'_>,
) -> Result<(), NotReady> {
    let started = Instant::now();
    let deadline = started + timeout;
    // Whole seconds already reported; a poll every 50 ms must not flood the watcher.
    let mut reported: Option<u64> = None;
    loop {
        let info = engine.inspect_container(id_or_name).await.map_err(NotReady::Engine)?;
        let Some(info) = info else {
            return Err(NotReady::Gone(id_or_name.to_string()));
        };
        if !info.state.is_up() && info.state != RunState::Created {
            return Err(NotReady::Exited { container: id_or_name.to_string(), code: info.exit_code });
        }
        match (info.state.is_up(), healthy, info.health) {
            (true, false, _) | (true, true, Health::None) | (true, true, Health::Healthy) => return Ok(()),
            (_, true, Health::Unhealthy) => return Err(NotReady::Unhealthy(id_or_name.to_string())),
            _ => {}
        }
        let waited = started.elapsed();
        if healthy && progress.is_active() && reported != Some(waited.as_secs()) {
            reported = Some(waited.as_secs());
            progress.step(Step::WaitingHealth { waited: Duration::from_secs(waited.as_secs()), timeout });
        }
        if Instant::now() >= deadline {
            return Err(NotReady::Timeout { container: id_or_name.to_string(), within: timeout });
        }
        tokio::time::sleep(POLL).await;
    }
}
