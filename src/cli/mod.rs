//! The `moor` command line: a thin edge over the library.
//!
//! Invariants: data goes to stdout, logs and diagnostics to stderr; `anyhow` lives here only (the
//! binary's `main` calls [`main`]); every command maps its outcome to the documented exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod completions;
mod converge;
mod down;
mod git;
mod logs;
mod policy;
mod render;
mod run;
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
    /// Docker host, such as unix:///var/run/docker.sock or tcp://127.0.0.1:2375.
    #[arg(long, global = true, env = "DOCKER_HOST")]
    pub host: Option<String>,
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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests against the schema and the semantic rules.
    Validate {
        /// Files or folders (default ./manifests).
        paths: Vec<PathBuf>,
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
        /// Manifest folder (default ./manifests).
        #[arg(conflicts_with = "url")]
        dir: Option<PathBuf>,
        #[command(flatten)]
        git: git::GitArgs,
        #[command(flatten)]
        policy: policy::PolicyArgs,
    },
    /// Converge once and wait. Exit 0 converged, 1 when any service failed or was refused.
    Apply {
        /// Manifest folder (default ./manifests).
        #[arg(conflicts_with = "url")]
        dir: Option<PathBuf>,
        #[command(flatten)]
        git: git::GitArgs,
        #[command(flatten)]
        policy: policy::PolicyArgs,
        /// Only show the plan (same as `moor plan`).
        #[arg(long)]
        dry_run: bool,
        /// Services applied at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
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
        #[command(flatten)]
        policy: policy::PolicyArgs,
    },
    /// Remove every container and network of this instance, found by its labels (no manifests
    /// needed); volumes too with --volumes. Asks first; without a terminal, needs --yes.
    Down(down::DownArgs),
    /// Print a service's output, all replicas, each line prefixed with its container's name.
    Logs(logs::LogsArgs),
    /// Client version and git commit, and the daemon's version and the negotiated API version
    /// when a daemon answers.
    Version,
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
    let cli = Cli::parse();
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
    match cli.command {
        Command::Validate { paths, policy } => validate::run(&paths, &policy.load(&cli.global)?, cli.global.output),
        Command::Schema { policy: false } => {
            print!("{}", crate::manifest::schema::document_schema_text());
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema { policy: true } => {
            print!("{}", crate::policy::schema::policy_schema_text());
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan { dir, git, policy } => converge::plan(dir, &git, &policy.load(&cli.global)?, &cli.global),
        Command::Apply { dir, git, policy, dry_run: true, .. } => {
            converge::plan(dir, &git, &policy.load(&cli.global)?, &cli.global)
        }
        Command::Apply { dir, git, policy, concurrency, .. } => {
            converge::apply(dir, &git, &policy.load(&cli.global)?, concurrency, &cli.global)
        }
        Command::Status { dir, controller, policy } => {
            converge::status(dir, controller, &policy.load(&cli.global)?, &cli.global)
        }
        Command::Run(args) => run::run(args, &cli.global),
        Command::Down(args) => down::run(args, &cli.global),
        Command::Logs(args) => logs::run(args, &cli.global),
        Command::Version => version::run(&cli.global),
        Command::Completions { shell } => completions::completions(shell),
        Command::Man { command } => completions::man(command.as_deref()),
    }
}
