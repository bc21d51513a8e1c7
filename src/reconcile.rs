//! One reconcile pass for `moor apply`: observe (with the registry checks of `pull: always`),
//! plan, apply. The controller shares [`observe`]; its worker plans and applies one service's
//! part itself (`controller::worker`).
//!
//! Invariants: level-based (each pass observes afresh); a failed observe means no plan and no
//! action at all.

use futures_util::future::join_all;

use crate::apply::{apply, ApplyOptions, ApplyReport, ServiceFailure};
use crate::engine::{Engine, EngineResult};
use crate::images::check_and_pull;
use crate::manifest::model::{PullPolicy, State};
use crate::manifest::Desired;
use crate::observe::Observed;
use crate::plan::{plan, Plan};

/// Observes what this instance owns (of this node's, when `desired` was placed on one): one container list call, plus one network list and one
/// volume list only when manifests declare networks or volumes. Networks are listed too when no
/// service joins the default network (which may exist, unused, to be pruned), or when one does
/// and no container is on it yet (it may exist or not); in the steady state a container on it
/// says it exists, so a no-op pass stays one list call.
pub async fn observe<E: Engine>(engine: &E, instance: &str, desired: &Desired) -> EngineResult<Observed> {
    let mut containers = engine.list_containers(instance).await?;
    // An agent sees only its own node's containers, and those of no node (made before nodes:
    // adopted as they are, never recreated for the label; see `crate::labels::NODE`).
    let mut other_nodes_networks = std::collections::BTreeSet::new();
    let mut conflicts = std::collections::BTreeMap::new();
    if let Some(node) = desired.node_name() {
        // One of no node whose service is placed on another node is that node's to adopt.
        let elsewhere = desired.node.as_ref().map(|n| &n.placed_elsewhere);
        let mine = |c: &crate::observe::ObservedContainer| match c.labels.get(crate::labels::NODE) {
            Some(n) => n == node,
            None => !c.service().is_some_and(|s| elsewhere.is_some_and(|e| e.contains(s))),
        };
        let (mine, others): (Vec<_>, Vec<_>) = containers.into_iter().partition(|c| mine(c));
        containers = mine;
        // Their names are held: a service of this node wanting one is in conflict (as the
        // create would find), never promised a create.
        for c in &others {
            if let Some(n) = c.labels.get(crate::labels::NODE) {
                let short = &c.id[..c.id.len().min(12)];
                conflicts.insert(c.name.clone(), format!("container {short} of node {n:?} of this instance"));
            }
        }
        other_nodes_networks = others.into_iter().flat_map(|c| c.networks).collect();
    }
    let default = crate::names::default_network(instance);
    let default_known =
        crate::names::default_network_used(desired) && containers.iter().any(|c| c.networks.contains(&default));
    let networks = match desired.networks.is_empty() && default_known {
        true => None,
        false => Some(engine.list_networks(instance).await?),
    };
    let volumes = match desired.volumes.is_empty() {
        true => None,
        false => Some(engine.list_volumes(instance).await?),
    };
    Ok(Observed {
        instance: instance.to_string(),
        containers,
        networks,
        volumes,
        other_nodes_networks,
        conflicts,
        ..Observed::default()
    })
}

/// The outcome of one pass.
#[derive(Debug, Clone)]
pub struct Pass {
    pub observed: Observed,
    pub plan: Plan,
    pub report: ApplyReport,
}

/// Removes the secret and config files of services no manifest declares any more (a service
/// pruned after Docker had already removed its containers has no action to collect them after).
/// Only in this one-pass apply, with prune allowed: the controller's reconciles run concurrently
/// over snapshots of the manifests, so one could remove the folder of a service another is
/// creating; there `apply` collects per service after its actions, and `moor down` the rest.
fn collect_undeclared_files(desired: &Desired, plan: &Plan, options: &ApplyOptions) {
    let Some(store) = options.store.as_deref().filter(|_| !plan.prune_suspended) else { return };
    let declared: std::collections::BTreeSet<String> =
        desired.services.keys().chain(desired.refused.keys()).chain(desired.unresolved.iter()).cloned().collect();
    match store.gc_services(&declared) {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "files of services no manifest declares were removed"),
        Err(error) => tracing::warn!(%error, "files of undeclared services could not be collected"),
    }
}

/// Observes, plans and applies once. Services with `pull: always` first go through the
/// registry digest check (pulling only a new digest), and are pinned to the image it found, so
/// a new image behind the same tag replaces their containers.
pub async fn reconcile_once<E: Engine>(engine: &E, desired: &Desired, options: &ApplyOptions) -> EngineResult<Pass> {
    let mut observed = observe(engine, &options.instance, desired).await?;
    if let Some(store) = &options.store {
        observed.jobs = crate::jobs::load(store.state_dir(), &options.instance, desired);
    }
    let always = desired.services.values().filter(|s| s.pull == PullPolicy::Always && s.state != State::Absent);
    let checks =
        join_all(always.map(|s| async move { (s.name.clone(), check_and_pull(engine, &s.container.image).await) }));
    let mut check_errors = Vec::new();
    for (name, result) in checks.await {
        match result {
            Ok(check) => {
                observed.pinned.insert(name, check.image_id);
            }
            Err(e) => check_errors.push((name, ServiceFailure::ImageCheck(e))),
        }
    }
    let plan = plan(desired, &observed);
    let mut report = apply(engine, desired, &observed, &plan, options).await;
    collect_undeclared_files(desired, &plan, options);
    for (name, failure) in check_errors {
        report.services.entry(name).or_default().failure.get_or_insert(failure);
    }
    Ok(Pass { observed, plan, report })
}

#[cfg(test)]
mod tests {
    //! Upgrading to namespaced names and the default network, on the fake engine: nothing is
    //! recreated, and a no-op pass afterwards is one list call.

    use super::*;
    use crate::apply::steps::container_labels;
    use crate::engine::fake::{FakeEngine, Op};
    use crate::engine::CreateRequest;
    use crate::plan::Action;

    const IMAGE_ID: &str = "sha256:aaaa";
    const WEB: &str = "apiVersion: moor/v1\nkind: Service\nmetadata: {name: web}\nspec: {image: app:1}\n";

    const OPS: [Op; 14] = [
        Op::ListContainers,
        Op::ListNetworks,
        Op::ListVolumes,
        Op::Inspect,
        Op::Image,
        Op::Pull,
        Op::Create,
        Op::Start,
        Op::Stop,
        Op::Remove,
        Op::Rename,
        Op::ConnectNetwork,
        Op::CreateNetwork,
        Op::RemoveNetwork,
    ];

    fn calls(engine: &FakeEngine) -> Vec<usize> {
        OPS.iter().map(|op| engine.calls(*op)).collect()
    }

    /// `web` as the release before instance names left it in `instance`: named `name`, on
    /// Docker's `bridge`, with the labels this release would write for the same spec.
    async fn left_by_the_previous_release(
        engine: &FakeEngine,
        desired: &Desired,
        instance: &str,
        name: &str,
    ) -> String {
        let spec = desired.services["web"].container.clone();
        let request = CreateRequest {
            name: name.into(),
            image: "app:1".into(),
            service: "web".into(),
            labels: container_labels(instance, "web", 1, &spec, IMAGE_ID),
            spec,
            provided: Default::default(),
        };
        let id = engine.create_container(&request).await.unwrap();
        engine.start(&id).await.unwrap();
        id
    }

    async fn upgrade(instance: &str, old_name: &str) -> (FakeEngine, Pass, String) {
        let engine = FakeEngine::new();
        engine.add_image("app:1", IMAGE_ID);
        let desired = crate::manifest::load_str(std::path::Path::new("/m/web.yaml"), WEB).desired;
        let id = left_by_the_previous_release(&engine, &desired, instance, old_name).await;
        let options = ApplyOptions::new(instance, 2);
        let pass = reconcile_once(&engine, &desired, &options).await.unwrap();
        assert!(pass.report.services.values().all(|s| s.failure.is_none()), "{:#?}", pass.report);
        // Nothing created or replaced: the same container, now on the default network.
        let containers = engine.containers();
        assert_eq!(containers.len(), 1);
        assert_eq!(containers[0].id, id);
        let networks = &containers[0].spec.as_ref().unwrap().networks;
        assert!(networks.contains(&crate::names::default_network(instance)), "{networks:?}");
        // The next pass is a no-op of exactly one list call.
        let before = calls(&engine);
        let again = reconcile_once(&engine, &desired, &options).await.unwrap();
        assert!(again.plan.is_empty(), "{:#?}", again.plan);
        let delta: Vec<usize> = calls(&engine).iter().zip(&before).map(|(a, b)| a - b).collect();
        let mut one_list = vec![0; OPS.len()];
        one_list[0] = 1;
        assert_eq!(delta, one_list, "calls per op of a no-op pass: {OPS:?}");
        (engine, pass, id)
    }

    #[tokio::test(start_paused = true)]
    async fn the_default_instance_keeps_its_names_and_connects_old_containers_to_the_default_network() {
        let (engine, pass, id) = upgrade("default", "web").await;
        let actions = &pass.plan.services["web"].actions;
        let expected = Action::Connect {
            container: crate::plan::Target { id: id.clone(), name: "web".into() },
            network: "default_default".into(),
        };
        assert_eq!(actions, &vec![expected]);
        assert_eq!(engine.containers()[0].name, "web");
        assert!(engine.networks().iter().any(|n| n.name == "default_default"), "the default network was made");
    }

    #[tokio::test(start_paused = true)]
    async fn another_instance_renames_a_bare_named_container_instead_of_recreating_it() {
        let (engine, pass, id) = upgrade("shop", "web").await;
        let kinds: Vec<_> = pass.plan.services["web"].actions.iter().map(Action::kind).collect();
        assert_eq!(kinds, [crate::plan::ActionKind::Rename, crate::plan::ActionKind::Connect]);
        assert_eq!(engine.containers()[0].name, "shop_web");
        assert_eq!(engine.containers()[0].id, id);
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_service_is_created_on_the_default_network_and_its_hash_leaves_the_network_out() {
        let engine = FakeEngine::new();
        engine.add_image("app:1", IMAGE_ID);
        let desired = crate::manifest::load_str(std::path::Path::new("/m/web.yaml"), WEB).desired;
        reconcile_once(&engine, &desired, &ApplyOptions::new("shop", 2)).await.unwrap();
        let web = engine.container("shop_web").expect("created under the instance's name");
        assert_eq!(web.spec.as_ref().unwrap().networks, ["shop_default"]);
        let hash = crate::spec_hash::spec_hash(&desired.services["web"].container, IMAGE_ID);
        assert_eq!(web.labels[crate::labels::SPEC_HASH], hash, "the hash of the spec without the network");
    }

    /// The release before nodes wrote no `moor.node`: an agent with a node adopts such a
    /// container as it is (no recreate for the label), a no-op pass is one list call, and a
    /// container of another node is never seen, so never pruned.
    #[tokio::test(start_paused = true)]
    async fn a_container_without_a_node_is_adopted_and_another_nodes_is_left_alone() {
        let engine = FakeEngine::new();
        engine.add_image("app:1", IMAGE_ID);
        let mut loaded = crate::manifest::load_str(std::path::Path::new("/m/web.yaml"), WEB);
        let a = crate::node::Node::new(Some("a"), &[]).unwrap();
        crate::manifest::placement::place(&mut loaded, &a, false);
        let desired = loaded.desired;
        let id = left_by_the_previous_release(&engine, &desired, "shop", "shop_web").await;
        let mut other = container_labels("shop", "api", 1, &desired.services["web"].container, IMAGE_ID);
        other.insert(crate::labels::NODE.into(), "b".into());
        let spec = desired.services["web"].container.clone();
        let request = CreateRequest {
            name: "shop_api".into(),
            image: "app:1".into(),
            service: "api".into(),
            labels: other,
            spec,
            provided: Default::default(),
        };
        let b_id = engine.create_container(&request).await.unwrap();
        let options = ApplyOptions::new("shop", 2);
        let pass = reconcile_once(&engine, &desired, &options).await.unwrap();
        assert!(pass.observed.containers.iter().all(|c| c.id == id), "b's container is not observed");
        assert!(!pass.plan.services.contains_key("api"), "b's api is not pruned: {:#?}", pass.plan);
        let kinds: Vec<_> =
            pass.plan.services.get("web").map(|s| s.actions.iter().map(Action::kind).collect()).unwrap_or_default();
        assert_eq!(kinds, [crate::plan::ActionKind::Connect], "adopted, connected, not recreated");
        let ids: Vec<String> = engine.containers().iter().map(|c| c.id.clone()).collect();
        assert!(ids.contains(&id) && ids.contains(&b_id) && ids.len() == 2, "{ids:?}");
        let again = reconcile_once(&engine, &desired, &options).await.unwrap();
        assert!(again.plan.is_empty(), "{:#?}", again.plan);
    }
}
