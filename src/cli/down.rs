//! `moor down`: removes everything of one instance, found by its labels alone.
//!
//! Invariants:
//! - What is removed comes from the engine's list calls filtered by `moor.instance=<instance>`
//!   (one list per kind); no manifest is read, and nothing without that label is ever touched.
//! - Containers go first (each stopped with its own `stopTimeout`, read from its
//!   `moor.last-applied` label, then removed), then networks, then volumes (only with
//!   `--volumes`), so that no network or volume is still in use by a container of the instance.
//! - Containers of another node (`moor.node`, see `crate::labels::NODE`) are never touched: an
//!   agent of another node on the same daemon keeps its own. While any is left, the instance's
//!   networks and volumes (which they may use) are left too.
//! - The containers' secret and config files under the state dir go once no container is left.
//! - Nothing is removed without consent: `--yes`, or a `y` typed at the prompt on a terminal.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::StreamExt;
use serde::Serialize;

use super::Global;
use crate::engine::{Engine, EngineResult};
use crate::manifest::model::DEFAULTS;
use crate::observe::ObservedContainer;
use crate::spec_hash::parse_last_applied;

/// Containers stopped and removed at once: the bound `moor apply` keeps by default, since Docker
/// 20.10's libnetwork can deadlock under many parallel removals on one network (moby#46661).
const CONCURRENCY: usize = 8;

#[derive(Debug, clap::Args)]
pub struct DownArgs {
    /// Also remove the instance's volumes, and the data in them.
    #[arg(long)]
    pub volumes: bool,
    /// Remove without asking (needed when stdin is not a terminal).
    #[arg(short, long)]
    pub yes: bool,
    /// The instance's state dir (default /var/lib/moor/INSTANCE): its containers' secret and
    /// config files are removed with them.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub node: super::node_args::NodeArgs,
}

/// What the list calls found of one instance.
#[derive(Debug, Default)]
pub struct Found {
    pub containers: Vec<ObservedContainer>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
    /// Containers of the instance that other nodes' agents made: left, with the networks and
    /// volumes they may use.
    pub other_nodes: usize,
}

impl Found {
    fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.networks.is_empty() && self.volumes.is_empty()
    }

    /// `3 containers, 1 network` (and volumes when asked for).
    fn summary(&self, volumes: bool) -> String {
        let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        let mut parts = vec![count(self.containers.len(), "container"), count(self.networks.len(), "network")];
        if volumes {
            parts.push(count(self.volumes.len(), "volume"));
        }
        parts.join(", ")
    }
}

/// What `moor down` removed, and what it could not.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub instance: String,
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
    pub errors: Vec<Failure>,
}

#[derive(Debug, Serialize)]
pub struct Failure {
    pub kind: &'static str,
    pub name: String,
    pub error: String,
}

/// One list call per kind; volumes only when they are to be removed. Of the containers, those
/// of `node` and of no node; no network or volume while another node's container is left.
pub async fn find<E: Engine>(engine: &E, instance: &str, node: Option<&str>, volumes: bool) -> EngineResult<Found> {
    let (mut containers, others): (Vec<_>, Vec<_>) = engine
        .list_containers(instance)
        .await?
        .into_iter()
        .partition(|c| node.is_none_or(|node| c.labels.get(crate::labels::NODE).is_none_or(|n| n == node)));
    containers.sort_by(|a, b| a.name.cmp(&b.name));
    let mut found = Found { containers, other_nodes: others.len(), ..Found::default() };
    if !others.is_empty() {
        return Ok(found);
    }
    found.networks = engine.list_networks(instance).await?.into_iter().map(|n| n.name).collect();
    found.networks.sort();
    if volumes {
        found.volumes = engine.list_volumes(instance).await?.into_iter().map(|v| v.name).collect();
        found.volumes.sort();
    }
    Ok(found)
}

/// The container's own stop timeout, as moor created it; the format's default otherwise.
fn stop_timeout(container: &ObservedContainer) -> Duration {
    container.last_applied().and_then(parse_last_applied).map_or(DEFAULTS.stop_timeout, |s| s.stop_timeout)
}

/// Removes what [`find`] found, in the order of the module's invariants. Every removal is tried;
/// failures are collected, not fatal.
pub async fn remove<E: Engine>(engine: &E, instance: &str, found: Found) -> Report {
    let mut report = Report { instance: instance.to_string(), ..Default::default() };
    let results: Vec<(String, EngineResult<()>)> = futures_util::stream::iter(found.containers)
        .map(|c| async move {
            // A failed stop does not keep the container: remove is forced and kills it.
            if let Err(e) = engine.stop(&c.id, stop_timeout(&c)).await {
                tracing::warn!(container = %c.name, "stop failed, removing anyway: {e}");
            }
            (c.name, engine.remove(&c.id).await)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (name, result) in results {
        match result {
            Ok(()) => report.containers.push(name),
            Err(e) => report.errors.push(Failure { kind: "container", name, error: e.to_string() }),
        }
    }
    report.containers.sort();
    for name in found.networks {
        match engine.remove_network(&name).await {
            Ok(()) => report.networks.push(name),
            Err(e) => report.errors.push(Failure { kind: "network", name, error: e.to_string() }),
        }
    }
    for name in found.volumes {
        match engine.remove_volume(&name).await {
            Ok(()) => report.volumes.push(name),
            Err(e) => report.errors.push(Failure { kind: "volume", name, error: e.to_string() }),
        }
    }
    report
}

/// `--yes`, or a yes typed at the terminal; an error when there is no terminal to ask on.
pub(super) fn consent(yes: bool, question: &str) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("refusing to {question:?} without --yes: stdin is not a terminal to ask on");
    }
    confirm(question)
}

/// Asks on the terminal; anything but `y` or `yes` is a no.
fn confirm(question: &str) -> anyhow::Result<bool> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).context("reading the answer")?;
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}

pub fn run(args: DownArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting tokio")?;
    runtime.block_on(async {
        args.node.check()?;
        let engine = global.docker().await.context("connecting to Docker")?;
        let instance = &global.instance;
        let endpoint = global.endpoint().map(|e| e.host).unwrap_or_default();
        let node = args.node.resolve(&engine, &endpoint).await?;
        let found =
            find(&engine, instance, Some(&node.name), args.volumes).await.context("listing the instance's objects")?;
        if found.other_nodes > 0 {
            eprintln!(
                "moor: {} container(s) of other nodes than {} are left, and the instance's networks and volumes with them",
                found.other_nodes, node.name
            );
        }
        if !found.is_empty() && !args.yes {
            let what = format!("{} of instance {instance}", found.summary(args.volumes));
            if !std::io::stdin().is_terminal() {
                anyhow::bail!("refusing to remove {what} without --yes: stdin is not a terminal to ask on");
            }
            if !confirm(&format!("Remove {what}?"))? {
                eprintln!("moor: nothing removed");
                return Ok(ExitCode::from(1));
            }
        }
        let report = remove(&engine, instance, found).await;
        if !report.errors.iter().any(|f| f.kind == "container") {
            // No container is left to use them (the key that seals digests stays, as the git
            // source's snapshots do: they belong to the state dir, not to the containers).
            let state_dir =
                args.state_dir.clone().unwrap_or_else(|| std::path::Path::new("/var/lib/moor").join(instance));
            // A stack taken down runs its jobs again when it comes back up.
            if let Err(e) = crate::jobs::forget(&state_dir, instance) {
                eprintln!("moor: could not remove the job records: {e}");
            }
            let store = crate::secrets::store::FileStore::new(state_dir);
            if let Err(e) = store.gc_services(&Default::default()) {
                eprintln!("moor: could not remove the secret and config files: {e}");
            }
        }
        super::render::print_data(global.output, &report, || text(&report))?;
        for f in &report.errors {
            eprintln!("moor: could not remove {} {}: {}", f.kind, f.name, f.error);
        }
        Ok(if report.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
    })
}

fn text(report: &Report) -> String {
    let kinds = [("container", &report.containers), ("network", &report.networks), ("volume", &report.volumes)];
    let mut out: String =
        kinds.iter().flat_map(|(kind, names)| names.iter().map(move |n| format!("removed {kind} {n}\n"))).collect();
    if out.is_empty() && report.errors.is_empty() {
        out = format!("nothing to remove for instance {}\n", report.instance);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::engine::fake::{Behaviour, FakeEngine};
    use crate::engine::CreateRequest;
    use crate::labels;
    use crate::manifest::{ContainerSpec, Network, Volume};

    fn spec(stop_timeout: Duration) -> ContainerSpec {
        ContainerSpec { stop_timeout, ..ContainerSpec::bare("app:1") }
    }

    async fn run_container(engine: &FakeEngine, name: &str, instance: &str, stop_timeout: Duration) {
        run_on_node(engine, name, instance, stop_timeout, None).await;
    }

    async fn run_on_node(engine: &FakeEngine, name: &str, instance: &str, stop_timeout: Duration, node: Option<&str>) {
        let spec = spec(stop_timeout);
        let mut labels = BTreeMap::from([
            (labels::INSTANCE.to_string(), instance.to_string()),
            (labels::SERVICE.to_string(), name.to_string()),
            (labels::LAST_APPLIED.to_string(), spec.canonical_json()),
        ]);
        if let Some(node) = node {
            labels.insert(labels::NODE.to_string(), node.to_string());
        }
        let request = CreateRequest {
            name: name.into(),
            image: "app:1".into(),
            service: name.into(),
            spec,
            labels,
            provided: Default::default(),
        };
        let id = engine.create_container(&request).await.unwrap();
        engine.start(&id).await.unwrap();
    }

    fn network(name: &str) -> Network {
        let (labels, options) = (BTreeMap::new(), BTreeMap::new());
        Network {
            name: name.into(),
            source: None,
            labels,
            driver: "bridge".into(),
            internal: false,
            options,
            attachable: false,
            enable_ipv6: false,
            ipam: None,
        }
    }

    fn volume(name: &str) -> Volume {
        let (labels, options) = (BTreeMap::new(), BTreeMap::new());
        Volume { name: name.into(), source: None, labels, driver: "local".into(), options }
    }

    #[tokio::test(start_paused = true)]
    async fn down_of_a_node_leaves_other_nodes_containers_and_the_shared_networks_and_volumes() {
        let engine = FakeEngine::new();
        engine.add_image("app:1", "sha256:aaaa");
        let second = Duration::from_secs(1);
        run_on_node(&engine, "web", "i", second, Some("a")).await;
        run_on_node(&engine, "old", "i", second, None).await;
        run_on_node(&engine, "api", "i", second, Some("b")).await;
        engine.create_network(&network("net"), "i").await.unwrap();
        engine.create_volume(&volume("vol"), "i").await.unwrap();
        let found = find(&engine, "i", Some("a"), true).await.unwrap();
        let names: Vec<&str> = found.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["old", "web"], "a's own and the one of no node");
        assert_eq!((found.other_nodes, found.networks.len(), found.volumes.len()), (1, 0, 0));
        remove(&engine, "i", found).await;
        let left: Vec<String> = engine.containers().into_iter().map(|c| c.name).collect();
        assert_eq!(left, ["api"]);
        // Once b's is gone too, b's down takes the networks and volumes.
        let found = find(&engine, "i", Some("b"), true).await.unwrap();
        assert_eq!((found.containers.len(), found.networks.len(), found.volumes.len()), (1, 1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn down_removes_only_the_instance_and_volumes_only_when_asked() {
        let engine = FakeEngine::new();
        engine.add_image("app:1", "sha256:aaaa");
        run_container(&engine, "web-1", "a", Duration::from_secs(3)).await;
        run_container(&engine, "web-2", "a", Duration::from_secs(3)).await;
        run_container(&engine, "other", "b", Duration::from_secs(3)).await;
        engine.create_foreign("foreign", BTreeMap::new()).unwrap();
        engine.create_network(&network("net-a"), "a").await.unwrap();
        engine.create_network(&network("net-b"), "b").await.unwrap();
        engine.create_volume(&volume("vol-a"), "a").await.unwrap();

        let found = find(&engine, "a", None, false).await.unwrap();
        assert_eq!(found.summary(false), "2 containers, 1 network");
        let report = remove(&engine, "a", found).await;
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(report.containers, ["web-1", "web-2"]);
        assert_eq!(report.networks, ["net-a"]);
        assert!(report.volumes.is_empty());

        let names: Vec<String> = engine.containers().into_iter().map(|c| c.name).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.contains(&"other".to_string()) && names.contains(&"foreign".to_string()), "{names:?}");
        let networks: Vec<String> = engine.networks().into_iter().map(|n| n.name).collect();
        assert!(networks.contains(&"net-b".to_string()) && !networks.contains(&"net-a".to_string()));
        assert!(engine.volumes().iter().any(|v| v.name == "vol-a"), "volumes stay without --volumes");

        let found = find(&engine, "a", None, true).await.unwrap();
        assert_eq!(found.summary(true), "0 containers, 0 networks, 1 volume");
        let report = remove(&engine, "a", found).await;
        assert_eq!(report.volumes, ["vol-a"]);
        assert!(!engine.volumes().iter().any(|v| v.name == "vol-a"));
    }

    #[tokio::test(start_paused = true)]
    async fn each_container_is_stopped_with_its_own_timeout() {
        let engine = FakeEngine::new();
        engine.add_image("app:1", "sha256:aaaa");
        engine.set_behaviour("sha256:aaaa", Behaviour::IgnoresStop);
        run_container(&engine, "slow", "a", Duration::from_secs(7)).await;
        let started = tokio::time::Instant::now();
        let report = remove(&engine, "a", find(&engine, "a", None, false).await.unwrap()).await;
        assert_eq!(report.containers, ["slow"]);
        // A container that ignores SIGTERM takes its whole timeout: 7 s, not the default 10 s.
        assert_eq!(started.elapsed().as_secs(), 7);
    }
}
