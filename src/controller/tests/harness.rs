//! A controller on the in-memory [`FakeEngine`] and an in-memory manifest [`Source`], on tokio's
//! paused clock: what takes minutes on a daemon takes milliseconds here, and waits are measured
//! in virtual time.

use std::any::Any;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::controller::source::Source;
use crate::controller::status::{ServiceStatus, Shared};
use crate::controller::triggers::Trigger;
use crate::controller::{run_with_source, Config};
use crate::engine::fake::{FakeContainer, FakeEngine};
use crate::manifest::{load_texts, Loaded};
use crate::observe::RunState;
use crate::policy::Policy;

/// The default instance: its containers keep bare names (`crate::names`), as the tests name them.
pub const INSTANCE: &str = crate::names::DEFAULT_INSTANCE;
/// The resync period of every test controller.
pub const INTERVAL: Duration = Duration::from_secs(30);

/// Manifest files in memory; a change tells the controller as a file watch would.
#[derive(Clone, Default)]
pub struct Manifests {
    files: Arc<Mutex<BTreeMap<String, String>>>,
    tx: Arc<Mutex<Option<UnboundedSender<Trigger>>>>,
}

impl Manifests {
    pub fn set(&self, file: &str, text: &str) {
        self.files.lock().unwrap().insert(file.to_string(), text.to_string());
        self.changed();
    }

    pub fn remove(&self, file: &str) {
        self.files.lock().unwrap().remove(file);
        self.changed();
    }

    /// Changes a file without telling the controller: a watch gone blind.
    pub fn set_unseen(&self, file: &str, text: &str) {
        self.files.lock().unwrap().insert(file.to_string(), text.to_string());
    }

    fn changed(&self) {
        if let Some(tx) = self.tx.lock().unwrap().as_ref() {
            let _ = tx.send(Trigger::Manifests);
        }
    }
}

impl Source for Manifests {
    fn load(&mut self) -> Loaded {
        let files = self.files.lock().unwrap();
        let texts: Vec<(PathBuf, String)> =
            files.iter().map(|(name, text)| (PathBuf::from("/memory").join(name), text.clone())).collect();
        load_texts(&texts)
    }

    fn watch(&mut self, tx: UnboundedSender<Trigger>) -> Option<Box<dyn Any + Send>> {
        *self.tx.lock().unwrap() = Some(tx);
        Some(Box::new(()))
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}

/// A Service manifest named `name` on image `app:1`, plus `extra` spec lines (indented by two).
pub fn service(name: &str, extra: &str) -> String {
    format!("apiVersion: moor/v1\nkind: Service\nmetadata: {{ name: {name} }}\nspec:\n  image: app:1\n{extra}")
}

pub struct Harness {
    pub engine: Arc<FakeEngine>,
    pub shared: Arc<Shared>,
    pub manifests: Manifests,
    /// `--allow-empty`, read by [`Harness::start`].
    pub allow_empty: bool,
    token: CancellationToken,
    task: Option<JoinHandle<()>>,
    /// The host policy the controller admits each load through (the default unless set).
    pub policy: Policy,
}

impl Harness {
    /// A fake daemon with images `app:1` .. `app:3` (IDs `sha256:app1` ..), and the manifests.
    pub fn new(files: &[(&str, &str)]) -> Harness {
        let engine = Arc::new(FakeEngine::new());
        for n in 1..=3 {
            engine.add_image(&format!("app:{n}"), &format!("sha256:app{n}"));
        }
        let manifests = Manifests::default();
        for (file, text) in files {
            manifests.files.lock().unwrap().insert(file.to_string(), text.to_string());
        }
        Harness {
            engine,
            shared: Arc::default(),
            manifests,
            allow_empty: false,
            token: CancellationToken::new(),
            task: None,
            policy: Policy::default(),
        }
    }

    /// Starts the controller. Its log goes to the test's captured output (shown when it fails).
    pub fn start(mut self) -> Harness {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("moor=debug"))
            .with_test_writer()
            .try_init();
        let config = Config {
            dir: PathBuf::from("/memory"),
            instance: INSTANCE.into(),
            interval: INTERVAL,
            concurrency: 4,
            shutdown_timeout: Duration::from_secs(10),
            notify_url: None,
            allow_empty: self.allow_empty,
            policy: self.policy.clone(),
            resolver: None,
            store: None,
            node: None,
        };
        let run = run_with_source(
            self.engine.clone(),
            self.manifests.clone(),
            config,
            self.shared.clone(),
            self.token.clone(),
        );
        self.task = Some(tokio::spawn(run));
        self
    }

    /// Stops the controller and waits for it.
    pub async fn stop(&mut self) {
        self.token.cancel();
        if let Some(task) = self.task.take() {
            task.await.expect("the controller panicked");
        }
    }

    /// Polls `check` every 10 ms of virtual time until it holds; panics after `max`. Returns the
    /// virtual time it took.
    pub async fn until(&self, what: &str, max: Duration, mut check: impl FnMut(&Harness) -> bool) -> Duration {
        let started = Instant::now();
        loop {
            if check(self) {
                return started.elapsed();
            }
            assert!(started.elapsed() < max, "not within {max:?} (virtual): {what}\n{:#?}", self.shared.status());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Lets `d` of virtual time pass.
    pub async fn wait(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }

    /// The value of a `/metrics` series, such as `moor_reconcile_total{result="error"}`; 0 when
    /// absent.
    pub fn metric(&self, series: &str) -> f64 {
        let text = self.shared.metrics.text();
        text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0.0)
    }

    pub fn status(&self, service: &str) -> ServiceStatus {
        self.shared.status().services.get(service).cloned().unwrap_or_default()
    }

    /// The owned container named `name`, if it exists and runs.
    pub fn running(&self, name: &str) -> Option<FakeContainer> {
        self.engine.container(name).filter(|c| c.state == RunState::Running && c.labels.contains_key("moor.instance"))
    }

    /// Every container this test's instance owns.
    pub fn owned(&self) -> Vec<FakeContainer> {
        let mine = |c: &FakeContainer| c.labels.get("moor.instance").is_some_and(|i| i == INSTANCE);
        self.engine.containers().into_iter().filter(mine).collect()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.token.cancel();
    }
}
