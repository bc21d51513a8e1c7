//! Faults Docker cannot be made to produce on demand, injected by an [`Engine`] wrapper around
//! the real daemon: the daemon going away, and a start that fails halfway through a replace.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use moor::apply::{ActionError, ApplyOptions, Rollback, ServiceFailure};
use moor::controller::status::Shared;
use moor::controller::{self, Config};
use moor::engine::{
    ContainerInfo, CreateRequest, DockerEngine, Engine, EngineError, EngineResult, EventStream, ImageInfo, LogStream,
};
use moor::manifest::{load_paths, Network, Volume};
use moor::observe::{ObservedContainer, ObservedResource};
use moor::reconcile::reconcile_once;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use common::{docker, eventually, image, owned, running_env, service_yaml, TestEnv};

/// The real engine, plus switches: `down` makes every call fail as if the daemon were gone;
/// `fail_start_named` makes starting a container whose name contains it fail; `inspect_lags`
/// makes inspect still show a container it saw before and Docker has removed since, as an
/// inspect that answered just before an `--rm` container's removal finished.
struct Faulty {
    inner: DockerEngine,
    down: watch::Sender<bool>,
    calls: AtomicUsize,
    fail_start_named: Mutex<Option<String>>,
    created: Mutex<Vec<(String, String)>>,
    inspect_lags: AtomicBool,
    /// Every container a list showed, as inspect would have described it then.
    seen: Mutex<HashMap<String, ContainerInfo>>,
}

impl Faulty {
    async fn new() -> Self {
        Faulty {
            inner: DockerEngine::connect(None).await.unwrap(),
            down: watch::channel(false).0,
            calls: AtomicUsize::new(0),
            fail_start_named: Mutex::new(None),
            created: Mutex::new(Vec::new()),
            inspect_lags: AtomicBool::new(false),
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn gate(&self) -> EngineResult<()> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if *self.down.borrow() {
            Err(EngineError::Unavailable("connection refused (injected)".into()))
        } else {
            Ok(())
        }
    }
}

impl Engine for Faulty {
    fn api_version(&self) -> moor::engine::api_version::ApiVersion {
        self.inner.api_version()
    }
    async fn ping(&self) -> EngineResult<()> {
        self.gate()?;
        self.inner.ping().await
    }
    fn events(&self, instance: &str) -> EventStream {
        if self.gate().is_err() {
            return Box::pin(futures_util::stream::once(async {
                Err(EngineError::Unavailable("connection refused (injected)".into()))
            }));
        }
        // The stream breaks when the daemon "goes away".
        let mut down = self.down.subscribe();
        let gone = async move {
            let _ = down.wait_for(|d| *d).await;
        };
        Box::pin(self.inner.events(instance).take_until(gone))
    }
    async fn list_containers(&self, instance: &str) -> EngineResult<Vec<ObservedContainer>> {
        self.gate()?;
        let list = self.inner.list_containers(instance).await?;
        let mut seen = self.seen.lock().unwrap();
        for c in &list {
            let info = ContainerInfo {
                id: c.id.clone(),
                name: c.name.clone(),
                state: c.state,
                health: c.health,
                exit_code: None,
                labels: c.labels.clone(),
            };
            seen.insert(c.id.clone(), info);
        }
        Ok(list)
    }
    async fn list_networks(&self, instance: &str) -> EngineResult<Vec<ObservedResource>> {
        self.gate()?;
        self.inner.list_networks(instance).await
    }
    async fn list_volumes(&self, instance: &str) -> EngineResult<Vec<ObservedResource>> {
        self.gate()?;
        self.inner.list_volumes(instance).await
    }
    async fn inspect_container(&self, id: &str) -> EngineResult<Option<ContainerInfo>> {
        self.gate()?;
        match self.inner.inspect_container(id).await? {
            None if self.inspect_lags.load(Ordering::Relaxed) => Ok(self.seen.lock().unwrap().get(id).cloned()),
            info => Ok(info),
        }
    }
    async fn image(&self, reference: &str) -> EngineResult<Option<ImageInfo>> {
        self.gate()?;
        self.inner.image(reference).await
    }
    async fn registry_digest(&self, reference: &str) -> EngineResult<String> {
        self.gate()?;
        self.inner.registry_digest(reference).await
    }
    async fn pull(&self, reference: &str) -> EngineResult<()> {
        self.gate()?;
        self.inner.pull(reference).await
    }
    async fn create_container(&self, request: &CreateRequest) -> EngineResult<String> {
        self.gate()?;
        let id = self.inner.create_container(request).await?;
        self.created.lock().unwrap().push((id.clone(), request.name.clone()));
        Ok(id)
    }
    async fn start(&self, id: &str) -> EngineResult<()> {
        self.gate()?;
        let name = self.created.lock().unwrap().iter().find(|(i, _)| i == id).map(|(_, n)| n.clone());
        let fail = self.fail_start_named.lock().unwrap().clone();
        if let (Some(name), Some(fail)) = (name, fail) {
            if name.contains(&fail) {
                return Err(EngineError::Api { status: 500, message: "start failed (injected)".into() });
            }
        }
        self.inner.start(id).await
    }
    async fn stop(&self, id: &str, timeout: Duration) -> EngineResult<()> {
        self.gate()?;
        self.inner.stop(id, timeout).await
    }
    async fn remove(&self, id: &str) -> EngineResult<()> {
        self.gate()?;
        self.inner.remove(id).await
    }
    async fn run_to_exit(&self, id: &str, start: bool) -> EngineResult<Option<i64>> {
        self.gate()?;
        self.inner.run_to_exit(id, start).await
    }
    async fn wait_removed(&self, id: &str, timeout: Duration) -> EngineResult<()> {
        self.gate()?;
        self.inner.wait_removed(id, timeout).await
    }
    async fn rename(&self, id: &str, name: &str) -> EngineResult<()> {
        self.gate()?;
        self.inner.rename(id, name).await
    }
    async fn connect_network(&self, id: &str, network: &str, aliases: &[String]) -> EngineResult<()> {
        self.gate()?;
        self.inner.connect_network(id, network, aliases).await
    }
    async fn create_network(&self, network: &Network, instance: &str) -> EngineResult<()> {
        self.gate()?;
        self.inner.create_network(network, instance).await
    }
    async fn remove_network(&self, name: &str) -> EngineResult<()> {
        self.gate()?;
        self.inner.remove_network(name).await
    }
    async fn create_volume(&self, volume: &Volume, instance: &str) -> EngineResult<()> {
        self.gate()?;
        self.inner.create_volume(volume, instance).await
    }
    async fn remove_volume(&self, name: &str) -> EngineResult<()> {
        self.gate()?;
        self.inner.remove_volume(name).await
    }
    fn logs(&self, id: &str, follow: bool, tail: Option<u64>) -> LogStream {
        match self.gate() {
            Ok(()) => self.inner.logs(id, follow, tail),
            Err(e) => Box::pin(futures_util::stream::once(async { Err(e) })),
        }
    }
}

#[tokio::test]
async fn losing_the_daemon_backs_off_without_exiting_and_resyncs_on_return() {
    image().await;
    let env = TestEnv::new("outage");
    let docker = docker().await;
    let web = env.name("web");
    env.write("web.yaml", &service_yaml(&web, ""));
    let engine = Arc::new(Faulty::new().await);
    let shared = Arc::new(Shared::default());
    let token = CancellationToken::new();
    let config = Config {
        dir: env.manifests().to_path_buf(),
        instance: env.instance.clone(),
        interval: Duration::from_secs(60),
        concurrency: 4,
        shutdown_timeout: Duration::from_secs(10),
        notify_url: None,
        allow_empty: false,
        policy: moor::policy::Policy::default(),
        resolver: None,
        store: None,
        node: None,
    };
    let run = tokio::spawn(controller::run(engine.clone(), config, shared.clone(), token.clone()));
    eventually(Duration::from_secs(20), "first converge", || async {
        running_env(&docker, &env.container(&web)).await.filter(|r| r.0)
    })
    .await;
    assert!(shared.is_ready());

    engine.down.send_replace(true);
    eventually(Duration::from_secs(10), "the outage noticed", || async { (!shared.status().docker).then_some(()) })
        .await;
    assert!(!shared.is_ready(), "/readyz must fail while Docker is away");
    // Events are lost while Docker is away: this removal is only seen by the resync.
    common::docker_cli(&["rm", "-f", &env.container(&web)]);
    // No hot loop. Three callers keep trying while Docker is away, each on its own backoff or period: the
    // event follower (0.8 s doubling), the resync (the daemon backoff) and the liveness ping
    // (every 3 s). Over 8 s that is a handful of calls each; a hot loop makes thousands.
    let before = engine.calls.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let attempts = engine.calls.load(Ordering::Relaxed) - before;
    assert!((3..=30).contains(&attempts), "{attempts} attempts in 8 s while Docker is away");
    assert!(!run.is_finished(), "the controller exited while Docker was away");

    engine.down.send_replace(false);
    eventually(Duration::from_secs(60), "resynced after the daemon came back", || async {
        running_env(&docker, &env.container(&web)).await.filter(|r| r.0)
    })
    .await;
    eventually(Duration::from_secs(10), "ready again", || async { shared.is_ready().then_some(()) }).await;
    token.cancel();
    tokio::time::timeout(Duration::from_secs(15), run).await.expect("shutdown in time").unwrap();
    assert_eq!(
        running_env(&docker, &env.container(&web)).await.map(|r| r.0),
        Some(true),
        "shutdown stopped a container"
    );
}

/// A replacement whose new container fails to start: the new one is removed and the old one
/// comes back, even an `--rm` one that Docker deleted when it was stopped, or was still deleting
/// when the rollback looked (a lagging inspect, `lags`).
#[tokio::test]
async fn a_failed_replacement_rolls_back_even_for_an_auto_remove_container() {
    image().await;
    for (auto_remove, lags) in [(false, false), (true, false), (true, true)] {
        let env = TestEnv::new(match (auto_remove, lags) {
            (false, _) => "roll",
            (true, false) => "rollrm",
            (true, true) => "rolllag",
        });
        let docker = docker().await;
        let svc = env.name("svc");
        let extra = if auto_remove { "  autoRemove: true\n" } else { "" };
        env.write("svc.yaml", &service_yaml(&svc, &format!("{extra}  env: {{ V: \"1\" }}\n")));
        let engine = Faulty::new().await;
        engine.inspect_lags.store(lags, Ordering::Relaxed);
        let options = ApplyOptions::new(env.instance.clone(), 8);
        let load = |dir: &Path| load_paths(&[dir.to_path_buf()]).desired;
        let pass = reconcile_once(&engine, &load(env.manifests()), &options).await.unwrap();
        assert!(pass.report.is_success(), "{:?}", pass.report);

        env.write("svc.yaml", &service_yaml(&svc, &format!("{extra}  env: {{ V: \"2\" }}\n")));
        *engine.fail_start_named.lock().unwrap() = Some("moor-next".into());
        let started = Instant::now();
        let pass = reconcile_once(&engine, &load(env.manifests()), &options).await.unwrap();
        let failure = pass.report.services[&svc].failure.clone().expect("the replacement must fail");
        let ServiceFailure::Action { error: ActionError::Replacement(replacement), .. } = &failure else {
            panic!("not a failed replacement: {failure}");
        };
        assert_eq!(replacement.rollback, Rollback::Done, "{failure}");
        let now = owned(&docker, &env.instance).await;
        assert_eq!(
            now.keys().collect::<Vec<_>>(),
            [&env.container(&svc)],
            "auto_remove={auto_remove} lags={lags}: {now:?}"
        );
        let (running, vars) = running_env(&docker, &env.container(&svc)).await.unwrap();
        assert!(running && vars.contains(&"V=1".to_string()), "auto_remove={auto_remove} lags={lags}: {vars:?}");
        assert!(started.elapsed() < Duration::from_secs(30));

        // Once starts work again, the update goes through.
        *engine.fail_start_named.lock().unwrap() = None;
        let pass = reconcile_once(&engine, &load(env.manifests()), &options).await.unwrap();
        assert!(pass.report.is_success(), "{:?}", pass.report);
        let (_, vars) = running_env(&docker, &env.container(&svc)).await.unwrap();
        assert!(vars.contains(&"V=2".to_string()), "{vars:?}");
    }
}
