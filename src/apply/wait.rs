//! Waiting for a container to be ready: running, or healthy when it has a healthcheck.

use std::time::{Duration, Instant};

use crate::engine::Engine;
use crate::observe::Health;

const POLL: Duration = Duration::from_millis(50);

/// Waits until the container `id_or_name` runs and, when `healthy` is asked and it has a
/// healthcheck, reports healthy. Fails at once when it exits or turns unhealthy.
pub async fn until_ready<E: Engine>(
    engine: &E,
    id_or_name: &str,
    healthy: bool,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let info = engine.inspect_container(id_or_name).await.map_err(|e| e.to_string())?;
        let Some(info) = info else {
            return Err(format!("container {id_or_name} is gone"));
        };
        if !info.state.is_up() && info.state != crate::observe::RunState::Created {
            let code = info.exit_code.map(|c| format!(" with code {c}")).unwrap_or_default();
            return Err(format!("container {id_or_name} exited{code}"));
        }
        match (info.state.is_up(), healthy, info.health) {
            (true, false, _) | (true, true, Health::None) | (true, true, Health::Healthy) => return Ok(()),
            (_, true, Health::Unhealthy) => return Err(format!("container {id_or_name} is unhealthy")),
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "container {id_or_name} was not ready within {}",
                crate::manifest::units::format_duration(timeout)
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}
