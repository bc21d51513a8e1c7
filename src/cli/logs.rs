//! `moor logs SERVICE [-f] [--tail N]`: a service's output across its replicas.
//!
//! Invariants:
//! - The containers are the instance's with `moor.service=SERVICE` (one list call); no manifest
//!   is read, so the logs of a service whose manifest is gone can still be read.
//! - Each line is printed whole with its container's name in front (`web-1 | …`), stdout and
//!   stderr merged as Docker recorded them. Without `-f` the containers come one after the other
//!   in name order; with `-f` lines are printed as they arrive from any of them.
//! - A container that disappears meanwhile ends its part quietly; losing the daemon is an error.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context as _;
use futures_util::StreamExt;
use serde::Serialize;

use super::{Global, Output};
use crate::engine::{Engine, EngineError, LogLine, LogSource};

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The service (its `metadata.name`).
    pub service: String,
    /// Keep printing new lines until SIGINT or SIGTERM, or until every container has stopped.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines of each container.
    #[arg(long, value_name = "N")]
    pub tail: Option<u64>,
}

/// One line as `-o json` prints it (one object per line).
#[derive(Serialize)]
struct JsonLine<'a> {
    container: &'a str,
    stream: LogSource,
    line: &'a str,
}

fn format(output: Output, container: &str, line: &LogLine) -> String {
    match output {
        Output::Text => format!("{container} | {}\n", line.text),
        Output::Json => {
            let json = JsonLine { container, stream: line.source, line: &line.text };
            serde_json::to_string(&json).map(|s| s + "\n").unwrap_or_default()
        }
        // One YAML document per line, so that a follow streams.
        Output::Yaml => {
            let json = JsonLine { container, stream: line.source, line: &line.text };
            serde_yaml::to_string(&json).map(|s| format!("---\n{s}")).unwrap_or_default()
        }
    }
}

/// What one line's outcome means for the command: go on, or stop (with the reason).
enum Next {
    Continue,
    /// The reader went away (`moor logs web | head`): stop quietly.
    Closed,
}

fn print(text: &str) -> anyhow::Result<Next> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => Ok(Next::Continue),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Next::Closed),
        Err(e) => Err(e).context("writing to stdout"),
    }
}

/// A line of a stream: printed; a container removed meanwhile (404) ends its part; any other
/// error ends the command.
fn take(output: Output, container: &str, item: Result<LogLine, EngineError>) -> anyhow::Result<Next> {
    match item {
        Ok(line) => print(&format(output, container, &line)),
        Err(EngineError::NotFound { .. }) => Ok(Next::Continue),
        Err(e) => Err(e).with_context(|| format!("reading the logs of {container}")),
    }
}

async fn stop_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

async fn logs<E: Engine>(engine: &E, args: &LogsArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let mut containers: Vec<_> = engine
        .list_containers(&global.instance)
        .await
        .context("listing containers")?
        .into_iter()
        .filter(|c| c.service() == Some(args.service.as_str()))
        .collect();
    anyhow::ensure!(
        !containers.is_empty(),
        "service {:?} has no container in instance {:?}",
        args.service,
        global.instance
    );
    containers.sort_by(|a, b| (a.replica(), &a.name).cmp(&(b.replica(), &b.name)));

    if !args.follow {
        for c in &containers {
            let mut lines = engine.logs(&c.id, false, args.tail);
            while let Some(item) = lines.next().await {
                if let Next::Closed = take(global.output, &c.name, item)? {
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }

    let streams = containers.iter().map(|c| {
        let name = c.name.clone();
        engine.logs(&c.id, true, args.tail).map(move |item| (name.clone(), item))
    });
    let mut merged = futures_util::stream::select_all(streams);
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            next = merged.next() => match next {
                Some((name, item)) => {
                    if let Next::Closed = take(global.output, &name, item)? {
                        return Ok(ExitCode::SUCCESS);
                    }
                }
                // Every container has stopped or gone.
                None => return Ok(ExitCode::SUCCESS),
            },
            signal = &mut stop => {
                signal.context("waiting for SIGINT")?;
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
}

pub fn run(args: LogsArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting tokio")?;
    runtime.block_on(async {
        let engine = global.docker().await.context("connecting to Docker")?;
        logs(&engine, &args, global).await
    })
}
