//! One observation of the swarm: what this instance owns, with the tasks and nodes that status
//! and apply's wait need.
//!
//! Invariants:
//! - One pass of list calls, in a fixed order: services, the tasks of those services (skipped
//!   when there is none), nodes, secrets, configs, networks. No write.
//! - Any failed call fails the whole observation: never a partial one, since a plan on partial
//!   knowledge could prune what it did not see.
//! - Only owned objects are listed (the engine filters by `moor.instance` and `moor.backend`), so
//!   nothing foreign can reach the plan.

use crate::engine::swarm::{NodeInfo, ObservedObject, ObservedService, SwarmEngine, TaskInfo};
use crate::engine::EngineResult;
use crate::swarm::spec::DataKind;

/// What one observation found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SwarmObserved {
    pub services: Vec<ObservedService>,
    pub tasks: Vec<TaskInfo>,
    pub nodes: Vec<NodeInfo>,
    pub secrets: Vec<ObservedObject>,
    pub configs: Vec<ObservedObject>,
    pub networks: Vec<ObservedObject>,
    /// Names of services that exist without this instance's labels, among those the manifests
    /// ask for ([`foreign`]): a conflict, never touched.
    pub foreign: std::collections::BTreeSet<String>,
}

impl SwarmObserved {
    /// The owned service of that Swarm name.
    pub fn service(&self, name: &str) -> Option<&ObservedService> {
        self.services.iter().find(|s| s.spec.name == name)
    }

    /// The tasks of service `id`.
    pub fn tasks_of(&self, id: &str) -> impl Iterator<Item = &TaskInfo> + '_ {
        let id = id.to_string();
        self.tasks.iter().filter(move |t| t.service_id == id)
    }

    /// The owned secrets or configs.
    pub fn data(&self, kind: DataKind) -> &[ObservedObject] {
        match kind {
            DataKind::Secret => &self.secrets,
            DataKind::Config => &self.configs,
        }
    }
}

/// One pass of list calls (services, then tasks of those services, nodes, secrets, configs,
/// networks). Any failure is the error: never a partial observation.
pub async fn observe<E: SwarmEngine>(engine: &E, instance: &str) -> EngineResult<SwarmObserved> {
    let services = engine.list_services(instance).await?;
    let ids: Vec<String> = services.iter().map(|s| s.id.clone()).collect();
    // No service, no task to ask for: an empty filter would list every task of the swarm.
    let tasks = if ids.is_empty() { Vec::new() } else { engine.list_tasks(&ids).await? };
    let nodes = engine.list_nodes().await?;
    let secrets = engine.list_data(DataKind::Secret, instance).await?;
    let configs = engine.list_data(DataKind::Config, instance).await?;
    let networks = engine.list_networks(instance).await?;
    Ok(SwarmObserved { services, tasks, nodes, secrets, configs, networks, foreign: Default::default() })
}

/// Asks, for each desired service this instance does not own, whether a service of that name
/// exists anyway (made by hand, or by another tool): one call per such name, so none on a pass
/// where every desired service exists.
pub async fn foreign<E: SwarmEngine>(
    engine: &E,
    desired: &crate::swarm::spec::SwarmDesired,
    observed: &mut SwarmObserved,
) -> EngineResult<()> {
    let missing: Vec<&String> = desired.services.keys().filter(|n| observed.service(n).is_none()).collect();
    for name in missing {
        if engine.service_exists(name).await? {
            observed.foreign.insert(name.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::fake::swarm::{FakeSwarm, SwarmOp};
    use crate::engine::EngineError;
    use crate::swarm::spec::SwarmSpec;
    use std::collections::BTreeMap;

    fn owned(name: &str, instance: &str) -> SwarmSpec {
        let labels = BTreeMap::from([
            ("moor.instance".to_string(), instance.to_string()),
            ("moor.backend".to_string(), "swarm".to_string()),
        ]);
        SwarmSpec { name: name.into(), labels, image: "busybox:1".into(), ..SwarmSpec::default() }
    }

    #[tokio::test(start_paused = true)]
    async fn lists_only_owned_services_with_their_tasks() {
        let swarm = FakeSwarm::new();
        swarm.add_service(owned("web", "default"));
        swarm.add_service(owned("other", "staging"));
        swarm.add_service(SwarmSpec { name: "foreign".into(), ..SwarmSpec::default() });
        let observed = observe(&swarm, "default").await.unwrap();
        let names: Vec<&str> = observed.services.iter().map(|s| s.spec.name.as_str()).collect();
        assert_eq!(names, ["web"]);
        let web = observed.service("web").unwrap();
        assert_eq!(observed.tasks_of(&web.id).count(), 1);
        assert_eq!(observed.tasks.len(), 1, "the other services' tasks are not listed");
        assert_eq!(observed.nodes.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn no_service_asks_for_no_task() {
        let swarm = FakeSwarm::new();
        observe(&swarm, "default").await.unwrap();
        assert_eq!(swarm.count(SwarmOp::ListTasks), 0);
        let ops: Vec<SwarmOp> = swarm.calls().iter().map(|c| c.op).collect();
        assert_eq!(
            ops,
            [SwarmOp::ListServices, SwarmOp::ListNodes, SwarmOp::ListData, SwarmOp::ListData, SwarmOp::ListNetworks]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn any_failed_list_fails_the_observation() {
        let swarm = FakeSwarm::new();
        swarm.fail_next(SwarmOp::ListNetworks, EngineError::Unavailable("gone".into()));
        let error = observe(&swarm, "default").await.unwrap_err();
        assert!(matches!(error, EngineError::Unavailable(_)), "{error:?}");
    }
}
