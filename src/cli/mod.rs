//! The `moor` command line: a thin edge over the library.
//!
//! Invariants: data goes to stdout, logs and diagnostics to stderr; `anyhow` lives here only (the
//! binary's `main` calls [`main`]); every command maps its outcome to the documented exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::engine::{connect, DockerEngine, EngineError, EngineResult};

mod completions;
mod converge;
mod dashboard;
mod down;
mod export;
mod fleet;
mod git;
mod import;
mod listen;
mod logs;
mod node_args;
mod policy;
mod render;
mod run;
mod secrets;
mod source;
mod swarm;
mod validate;
mod version;

/// moor keeps a Docker Engine in the state that a folder of YAML manifests describes.
#[derive(Debug, Parser)]
#[command(name = "moor", version = version::VERSION, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Name of this moor instance; several instances can share one daemon.
    #[arg(long, global = true, env = "MOOR_INSTANCE", default_value = "default")]
    pub instance: String,
    /// Docker host, such as unix:///var/run/docker.sock or tcp://10.0.0.5:2376 [env: DOCKER_HOST,
    /// read after --context, as the Docker CLI does].
    #[arg(long, global = true)]
    pub host: Option<String>,
    /// Docker context (from `docker context create`) [env: DOCKER_CONTEXT; else the Docker
    /// config's currentContext].
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// TLS: the CA that signed the daemon's certificate (default: ca.pem in DOCKER_CERT_PATH). Any
    /// --tls-* option, or DOCKER_TLS_VERIFY, turns TLS on for --host/DOCKER_HOST.
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// TLS: this client's certificate (default: cert.pem in DOCKER_CERT_PATH).
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// TLS: this client's key (default: key.pem in DOCKER_CERT_PATH).
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// What runs the services: `docker` (containers, this daemon) or `swarm` (Swarm services,
    /// through a swarm manager: plan, apply, run and status).
    #[arg(long, global = true, env = "MOOR_BACKEND", value_enum, default_value_t = Backend::Docker)]
    pub backend: Backend,
    /// Output format for data written to stdout.
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More logs (-v info, -vv debug, -vvv trace; `moor run` logs info without -v).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl Global {
    /// The Docker daemon these options and the environment name (`engine::connect`).
    pub fn endpoint(&self) -> Result<connect::Endpoint, connect::EndpointError> {
        connect::resolve(&connect::Sources {
            host: self.host.clone(),
            context: self.context.clone(),
            tls_ca: self.tls_ca.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            env: connect::Env::from_process(),
        })
    }

    /// Connects to [`Global::endpoint`]; a bad context or a missing TLS file is an
    /// `Unavailable` naming it.
    pub async fn docker(&self) -> EngineResult<DockerEngine> {
        let endpoint = self.endpoint().map_err(|e| EngineError::Unavailable(e.to_string()))?;
        DockerEngine::connect_to(&endpoint, crate::engine::Deadlines::DEFAULT).await
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// Containers on one Docker daemon.
    Docker,
    /// Services of a Docker Swarm (`docs/swarm-design.md`).
    Swarm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
    /// The same data as `json`, as YAML.
    Yaml,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

// Parsed once at start and matched once: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests against the schema and the semantic rules. Exit 0 valid, 1 not. A folder
    /// without any Service manifest is not, unless --allow-empty (apply would prune nothing from
    /// it); files named one by one need no Service among them.
    Validate {
        /// Files or folders (default ./manifests).
        paths: Vec<PathBuf>,
        /// Accept a folder without any Service manifest (what `apply --allow-empty` accepts).
        #[arg(long)]
        allow_empty: bool,
        #[command(flatten)]
        policy: policy::PolicyArgs,
    },
    /// Print the JSON schema of a manifest document, or with --policy of a host policy file.
    Schema {
        /// The schema of the host policy file instead.
        #[arg(long)]
        policy: bool,
    },
    /// Show what `apply` would do, field by field. Exit 0 in sync, 2 changes pending, 1 error.
    Plan {
        #[command(flatten)]
        source: source::SourceArgs,
        #[command(flatten)]
        policy: policy::PolicyArgs,
        #[command(flatten)]
        node: node_args::NodeArgs,
    },
    /// Converge once and wait. Exit 0 converged, 1 when any service failed or was refused.
    Apply {
        #[command(flatten)]
        source: source::SourceArgs,
        #[command(flatten)]
        policy: policy::PolicyArgs,
        #[command(flatten)]
        node: node_args::NodeArgs,
        /// Only show the plan (same as `moor plan`).
        #[arg(long)]
        dry_run: bool,
        /// Services applied at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// `--backend swarm`: how long apply waits for Swarm to finish what it changed (tasks
        /// running, updates completed) before it reports what is still pending.
        #[arg(long, default_value = "5m", value_parser = crate::manifest::units::parse_duration)]
        wait_timeout: std::time::Duration,
    },
    /// The controller: converge continuously on interval, Docker events and manifest changes.
    /// Runs until SIGTERM or SIGINT, then exits 0; managed containers keep running.
    Run(run::RunArgs),
    /// One row per service: desired, observed, in sync, health, image. Exit 0 all in sync, 2 not.
    Status {
        /// Manifest folder (default ./manifests).
        dir: Option<PathBuf>,
        /// Read last errors and update results from a running `moor run --listen`, such as
        /// http://127.0.0.1:9090. Without it, watched services get a live registry check.
        #[arg(long)]
        controller: Option<String>,
        /// The token of the controller's listener (its --listen-token-file); with --fleet, of
        /// every agent's.
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Read many agents' `moor run --listen` URLs instead (comma-separated, repeatable):
        /// one table with a NODE column; exit 0 when every node is in sync on one revision, 2
        /// when not, 1 when a node cannot be read.
        #[arg(long, value_delimiter = ',', value_name = "URL", conflicts_with_all = ["dir", "controller", "state_dir"])]
        fleet: Vec<String>,
        /// A file listing agents' URLs, one per line (`#` comments), as --fleet.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["dir", "controller", "state_dir"])]
        fleet_file: Option<PathBuf>,
        /// Where moor keeps its state: the key that seals secret digests (default
        /// /var/lib/moor/INSTANCE).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        #[command(flatten)]
        policy: policy::PolicyArgs,
        #[command(flatten)]
        node: node_args::NodeArgs,
    },
    /// Remove every container and network of this instance, found by its labels (no manifests
    /// needed); volumes too with --volumes. Asks first; without a terminal, needs --yes.
    Down(down::DownArgs),
    /// Print a service's output, all replicas, each line prefixed with its container's name.
    Logs(logs::LogsArgs),
    /// Client version and git commit, and the daemon's version and the negotiated API version
    /// when a daemon answers.
    Version,
    /// Write manifests from compose files: one per service, network, volume and file secret.
    /// What has no moor counterpart is listed on stderr. Exit 0 all translated, 2 something
    /// left out, 1 error (nothing written).
    Import(import::ImportArgs),
    /// Write the manifests as another platform's objects, one-way: `moor export kubernetes DIR`.
    /// Secrets are references only, never values. What has no counterpart is listed on stderr.
    /// Exit 0 all translated, 2 something left out, 1 error (nothing written).
    #[command(subcommand)]
    Export(export::ExportTarget),
    /// Serve one read-only page over many agents (`moor run --listen` URLs), live: a NODE
    /// column, each node's revision, nodes that do not answer shown as such.
    Dashboard(dashboard::DashboardArgs),
    /// Print a shell completion script: `moor completions bash > /etc/bash_completion.d/moor`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `moor man | man -l -`; `moor man run` prints `moor-run(1)`.
    Man {
        /// A subcommand, for its own page.
        command: Option<String>,
    },
}

/// The default manifest folder.
pub fn default_dir() -> PathBuf {
    PathBuf::from("manifests")
}

/// Logs on stderr. `daemon` (for `moor run`) starts one level lower: a daemon that changes things
/// says what it changed (one line per action) without `-v`. Colour only on a terminal, and never
/// with `NO_COLOR` set (no-color.org).
fn init_logging(global: &Global, daemon: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let levels = ["warn", "info", "debug", "trace"];
    let level = levels[(global.verbose as usize + usize::from(daemon)).min(levels.len() - 1)];
    let filter = EnvFilter::try_from_env("MOOR_LOG").unwrap_or_else(|_| EnvFilter::new(format!("moor={level},warn")));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    let _ = match global.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse_from(import::output_names_the_folder(std::env::args_os().collect()));
    init_logging(&cli.global, matches!(cli.command, Command::Run(_)));
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("moor: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if cli.global.backend == Backend::Swarm {
        return run_swarm(cli);
    }
    match cli.command {
        Command::Validate { paths, allow_empty, policy } => {
            validate::run(&paths, allow_empty, &policy.load(&cli.global)?, cli.global.output, None)
        }
        Command::Schema { policy: false } => {
            print!("{}", crate::manifest::schema::document_schema_text());
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema { policy: true } => {
            print!("{}", crate::policy::schema::policy_schema_text());
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan { source, policy, node } => {
            converge::plan(&source, &policy.load(&cli.global)?, &node, &cli.global)
        }
        Command::Apply { source, policy, node, dry_run: true, .. } => {
            converge::plan(&source, &policy.load(&cli.global)?, &node, &cli.global)
        }
        Command::Apply { source, policy, node, concurrency, .. } => {
            converge::apply(&source, &policy.load(&cli.global)?, &node, concurrency, &cli.global)
        }
        Command::Status { fleet, fleet_file, token_file, .. } if !fleet.is_empty() || fleet_file.is_some() => {
            fleet::status(&fleet, fleet_file.as_deref(), token_file.as_ref(), &cli.global)
        }
        Command::Status { dir, controller, token_file, state_dir, policy, node, .. } => {
            anyhow::ensure!(controller.is_some() || token_file.is_none(), "--token-file needs --controller or --fleet");
            let status = converge::StatusArgs { dir, controller, token_file, state_dir, node };
            converge::status(status, &policy.load(&cli.global)?, &cli.global)
        }
        Command::Run(args) => run::run(args, &cli.global),
        Command::Down(args) => down::run(args, &cli.global),
        Command::Logs(args) => logs::run(args, &cli.global),
        Command::Import(args) => import::run(args),
        Command::Export(target) => export::run(target),
        Command::Dashboard(args) => dashboard::run(args),
        Command::Version => version::run(&cli.global),
        Command::Completions { shell } => completions::completions(shell),
        Command::Man { command } => completions::man(command.as_deref()),
    }
}

/// The commands of `--backend swarm`; the others have no Swarm meaning and say so.
fn run_swarm(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    match cli.command {
        Command::Validate { paths, allow_empty, policy } => {
            validate::run(&paths, allow_empty, &policy.load(global)?, global.output, Some(&global.instance))
        }
        Command::Plan { source, policy, .. } | Command::Apply { source, policy, dry_run: true, .. } => {
            swarm::plan(&source, &policy.load(global)?, global)
        }
        Command::Apply { source, policy, wait_timeout, .. } => {
            swarm::apply(&source, &policy.load(global)?, wait_timeout, global)
        }
        Command::Status { fleet, fleet_file, controller, .. } => {
            anyhow::ensure!(
                fleet.is_empty() && fleet_file.is_none() && controller.is_none(),
                "--fleet and --controller read `moor run` agents of the docker backend: `moor status --backend swarm` asks the swarm manager itself"
            );
            swarm::status(global)
        }
        Command::Run(args) => run::run(args, global),
        Command::Down(args) => swarm::down(args.yes, global),
        command @ (Command::Schema { .. }
        | Command::Import(_)
        | Command::Export(_)
        | Command::Version
        | Command::Completions { .. }
        | Command::Man { .. }) => run(Cli { command, global: Global { backend: Backend::Docker, ..cli.global } }),
        Command::Logs(_) | Command::Dashboard(_) => anyhow::bail!(
            "`moor logs` and `moor dashboard` work with the docker backend only: use `docker service logs` on a manager"
        ),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::{git, Cli};

    #[test]
    fn git_flags_are_refused_beside_a_folder_and_without_git() {
        // (`--allow-empty` is for folders and git alike.)
        let flags: [&[&str]; 6] = [
            &["--ref", "main"],
            &["--path", "deploy"],
            &["--verify-commits", "/signers"],
            &["--git-ssh-key", "/k"],
            &["--poll", "1m"],
            &["--webhook-secret-file", "/h", "--listen", "127.0.0.1:9090"],
        ];
        for flag in flags {
            for command in ["run", "plan", "apply"] {
                if command != "run" && ["--poll", "--webhook-secret-file"].contains(&flag[0]) {
                    continue;
                }
                for folder in [&["manifests"][..], &[][..]] {
                    let args = [&["moor", command][..], flag, folder].concat();
                    assert!(Cli::try_parse_from(&args).is_err(), "accepted: {args:?}");
                }
                let with_git = [&["moor", command, "--git", "file:///r"][..], flag].concat();
                assert!(Cli::try_parse_from(&with_git).is_ok(), "refused: {with_git:?}");
            }
        }
        assert!(Cli::try_parse_from(["moor", "run", "--git-token-file", "/t", "manifests"]).is_ok());
        // The state dir holds secrets' digest key and files for folders too.
        assert!(Cli::try_parse_from(["moor", "apply", "--state-dir", "/s", "manifests"]).is_ok());
        assert!(Cli::try_parse_from(["moor", "run", "manifests"]).is_ok(), "the default --poll is no conflict");
        assert!(Cli::try_parse_from(["moor", "run", "--allow-empty", "manifests"]).is_ok());
    }

    #[test]
    fn a_path_outside_the_repository_is_refused_at_start() {
        let settings = |path: &str| {
            let args = git::GitArgs { path: Some(path.into()), ..git_args() };
            args.settings("file:///r", "/s".into(), "/s/current".into(), false).map(|s| s.path)
        };
        for outside in ["/deploy", "../deploy", "deploy/../../x"] {
            assert!(settings(outside).is_err(), "{outside}");
        }
        assert_eq!(settings("./deploy/prod/").unwrap(), std::path::Path::new("./deploy/prod/"));
    }

    fn git_args() -> git::GitArgs {
        git::GitArgs {
            url: Some("file:///r".into()),
            reference: None,
            path: None,
            state_dir: None,
            verify_commits: None,
            git_token_file: None,
            git_ssh_key: None,
        }
    }

    #[test]
    fn every_command_that_works_as_a_node_takes_the_same_node_flags() {
        for command in ["plan", "apply", "status", "down", "run"] {
            let args = ["moor", command, "--node", "edge-1", "--node-label", "role=edge", "--node-label", "zone=eu"];
            assert!(Cli::try_parse_from(args).is_ok(), "{command}");
        }
        assert!(Cli::try_parse_from(["moor", "validate", "--node", "a"]).is_err(), "validate places nothing");
        let Cli { command: super::Command::Plan { node, .. }, .. } =
            Cli::try_parse_from(["moor", "plan", "--node", "a", "--node-label", "role=edge"]).unwrap()
        else {
            panic!("not plan")
        };
        let node = node.node().unwrap();
        assert_eq!((node.name.as_str(), node.labels["role"].as_str()), ("a", "edge"));
    }

    #[test]
    fn a_poll_under_a_second_is_refused() {
        for poll in ["0s", "0", "500ms"] {
            assert!(Cli::try_parse_from(["moor", "run", "--git", "file:///r", "--poll", poll]).is_err(), "{poll}");
        }
        assert!(Cli::try_parse_from(["moor", "run", "--git", "file:///r", "--poll", "1s"]).is_ok());
    }
}
