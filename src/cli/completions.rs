//! `moor completions SHELL` and `moor man`: both generated from the clap definitions in
//! [`super::Cli`], so they cannot drift from the real command line.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::CommandFactory;

use super::Cli;

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    clap_complete::generate(shell, &mut Cli::command(), "moor", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// The man page of `moor` (its SUBCOMMANDS section points to `moor-NAME(1)`), or with `command`
/// that subcommand's own page, `moor-NAME(1)`, as git ships them.
pub fn man(command: Option<&str>) -> anyhow::Result<ExitCode> {
    let mut cli = Cli::command();
    // Builds the tree: subcommands then carry their display name (`moor-run`), their `bin_name`
    // (`moor run`) and the global options.
    cli.build();
    let page = match command {
        None => cli,
        Some(name) => cli.find_subcommand(name).with_context(|| format!("no subcommand {name:?}"))?.clone(),
    };
    let mut out = Vec::new();
    let source = format!("moor {}", super::version::VERSION);
    clap_mangen::Man::new(page).source(source).render(&mut out).context("rendering the man page")?;
    std::io::Write::write_all(&mut std::io::stdout(), &out).context("writing the man page")?;
    Ok(ExitCode::SUCCESS)
}
