//! `moor run`: the controller, its endpoints, clean shutdown and systemd's notify protocol.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::listen::ListenArgs;
use super::policy::PolicyArgs;
use super::source::SourceArgs;
use super::Global;
use crate::controller::backoff::{self, Backoff};
use crate::controller::source::Source as _;
use crate::controller::status::Shared;
use crate::controller::{self, Config};
use crate::engine::DockerEngine;
use crate::git::source::{GitSource, Polling};
use crate::git::webhook::WebhookSecret;
use crate::http::GitHook;
use crate::manifest::units::parse_duration;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// How often the git remote is asked for the ref's commit (up to 10% sooner, at random).
    #[arg(long, default_value = "3m", value_parser = parse_poll, requires = "url", conflicts_with = "dir")]
    poll: Duration,
    /// Enables `POST /hooks/git` on --listen: a push webhook signed with the secret in this file
    /// (GitHub, Gitea, Forgejo, Gogs, GitLab) makes moor look at the remote at once.
    #[arg(long, value_name = "FILE", requires_all = ["url", "listen"], conflicts_with = "dir")]
    webhook_secret_file: Option<PathBuf>,
    /// Full resync period.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    interval: Duration,
    /// Services reconciled at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Serve /healthz, /readyz, /metrics and /status on this address, such as 127.0.0.1:9090.
    #[arg(long)]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    listen_args: ListenArgs,
    /// POST a JSON note of each image update here (https:// or http://; see the README).
    #[arg(long)]
    notify_url: Option<String>,
    /// How long in-flight reconciles may finish after SIGTERM or SIGINT.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    shutdown_timeout: Duration,
    // Read once, at start: a changed policy file takes effect at the next start.
    #[command(flatten)]
    policy: PolicyArgs,
    /// The node this agent runs as (also in /status, /metrics and logs).
    #[command(flatten)]
    node: super::node_args::NodeArgs,
}

/// A `--poll` interval: at least a second. `0s` (or a few milliseconds) would ask the remote
/// without pause, hundreds of times a second, which no git server should get from a host.
fn parse_poll(text: &str) -> Result<Duration, String> {
    let poll = parse_duration(text)?;
    if poll < Duration::from_secs(1) {
        return Err(format!("--poll {text:?} is under a second: the remote would be asked without pause"));
    }
    Ok(poll)
}

/// Cancels `token` on SIGTERM or SIGINT.
pub(super) fn on_signals(token: CancellationToken) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::spawn(tracing::Instrument::in_current_span(async move {
        tokio::select! {
            _ = term.recv() => info!("SIGTERM"),
            _ = int.recv() => info!("SIGINT"),
        }
        token.cancel();
    }));
    Ok(())
}

/// Connects to Docker, waiting with backoff while it does not answer. `None` on shutdown, at
/// once: each attempt has the ping deadline, and is raced with the token all the same, so that
/// SIGTERM ends `moor run` even while a frozen daemon holds the first contact.
async fn connect(global: &Global, shared: &Shared, token: &CancellationToken) -> Option<DockerEngine> {
    let mut retry = Backoff::new(backoff::DAEMON);
    loop {
        let attempt = tokio::select! {
            _ = token.cancelled() => return None,
            attempt = global.docker() => attempt,
        };
        match attempt {
            Ok(engine) => {
                shared.set_docker_ok(true);
                return Some(engine);
            }
            Err(e) => {
                let delay = retry.next_delay();
                warn!(error = %e, retry_in = ?delay, "Docker does not answer");
                tokio::select! {
                    _ = token.cancelled() => return None,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// The git source and its webhook, with `--git`. The token file, the allowed signers and the
/// webhook secret are read now: a bad one stops `moor run` at once.
fn git_source(
    args: &RunArgs,
    global: &Global,
    shared: &Arc<Shared>,
    policy: &crate::policy::Policy,
) -> anyhow::Result<Option<(GitSource, Option<GitHook>)>> {
    let git = &args.source.git;
    let Some(url) = &git.url else {
        return Ok(None);
    };
    let state_dir = git.state_dir(&global.instance);
    let shown = state_dir.join("current");
    let mut settings = git.settings(url, state_dir, shown, args.source.allow_empty)?;
    settings.read_paths = policy.read_paths.clone();
    let hook = match &args.webhook_secret_file {
        Some(file) => {
            Some(GitHook { secret: WebhookSecret::load(file)?, trigger: Arc::new(tokio::sync::Notify::new()) })
        }
        None => None,
    };
    let polling = Polling {
        interval: args.poll,
        hook: hook.as_ref().map(|h| h.trigger.clone()),
        notifier: controller::notifier(args.notify_url.as_deref(), shared),
    };
    Ok(Some((GitSource::new(settings, polling, shared.clone()), hook)))
}

pub fn run(args: RunArgs, global: &Global) -> anyhow::Result<ExitCode> {
    // A broken policy stops moor before it starts: never a controller without one.
    let policy = args.policy.load(global)?;
    if global.backend == super::Backend::Swarm {
        anyhow::ensure!(
            args.listen.is_none() && args.webhook_secret_file.is_none() && args.notify_url.is_none(),
            "--listen, --webhook-secret-file and --notify-url are not served with --backend swarm yet: \
             `moor status --backend swarm` shows the swarm's state"
        );
        return super::swarm::run(&args.source, &policy, args.interval, global);
    }
    // A context that cannot be read is told by the first connection, as without nodes.
    let node = match global.endpoint() {
        Ok(endpoint) => args.node.for_agent(&endpoint.host)?,
        Err(_) => args.node.node()?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    // Every log line of the agent names its node: the span is entered around everything the
    // agent runs (the listener, the reconciles, the shutdown; what it spawns takes it along),
    // so that a fleet's logs can be merged.
    let agent = tracing::info_span!("agent", node = %node.name);
    let _agent = agent.enter();
    let result = runtime.block_on(async {
        let token = CancellationToken::new();
        on_signals(token.clone())?;
        let shared = Arc::new(Shared::default());
        shared.set_node(&node);
        shared.set_instance(&global.instance);
        let (git, hook) = match git_source(&args, global, &shared, &policy)? {
            Some((source, hook)) => (Some(source), hook),
            None => (None, None),
        };
        let server = match args.listen {
            Some(addr) => Some(
                crate::http::serve(addr, shared.clone(), hook, args.listen_args.options(addr)?, token.clone())
                    .await
                    .with_context(|| format!("listening on {addr}"))?,
            ),
            None => None,
        };
        let state_dir = args.source.git.state_dir(&global.instance);
        // The manifests' folder, or the git source's `current` link (resolved at each read).
        let root = match &git {
            Some(_) => state_dir.join("current"),
            None => std::path::absolute(args.source.dir()).unwrap_or_else(|_| args.source.dir()),
        };
        let resolver =
            super::secrets::resolver(root.clone(), root, &policy, &state_dir, super::secrets::KeyUse::Create);
        let config = Config {
            dir: args.source.dir(),
            instance: global.instance.clone(),
            interval: args.interval,
            concurrency: args.concurrency,
            shutdown_timeout: args.shutdown_timeout,
            notify_url: args.notify_url,
            allow_empty: args.source.allow_empty,
            policy,
            resolver: Some(Arc::new(resolver)),
            store: Some(Arc::new(crate::secrets::store::FileStore::new(state_dir))),
            node: Some(node.clone()),
        };
        match &git {
            Some(source) => info!(git = %source.describe(), instance = %config.instance, node = %node.name, "moor run"),
            None => info!(dir = %config.dir.display(), instance = %config.instance, node = %node.name, "moor run"),
        }
        // Under systemd (`Type=notify`), readiness, shutdown and watchdog pings go to NOTIFY_SOCKET;
        // elsewhere `supervise` only runs the work.
        let work = async {
            if let Some(engine) = connect(global, &shared, &token).await {
                match git {
                    Some(source) => {
                        controller::run_with_source(Arc::new(engine), source, config, shared.clone(), token.clone())
                            .await
                    }
                    None => controller::run(Arc::new(engine), config, shared.clone(), token.clone()).await,
                }
            }
        };
        crate::systemd::supervise(work, &shared, &token).await;
        token.cancel();
        if let Some(server) = server {
            let _ = server.await;
        }
        info!("stopped; managed containers keep running");
        Ok(ExitCode::SUCCESS)
    });
    // Dropping the runtime would wait for every blocking task, and a git sync blocked on a remote
    // that stalls ends only at its own timeout (30 s over http, a minute over ssh). Everything
    // else is done by now; an abandoned sync leaves the state dir as a crash does (it is written
    // for that: `.tmp` folders and renames).
    runtime.shutdown_background();
    result
}
