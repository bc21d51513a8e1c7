//! `moor import`: compose files to manifests (the library's `import` module does the work).
//!
//! Exit codes: 0 everything translated, 2 something left out (listed on stderr, one line per
//! compose path), 1 an error (nothing written).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::import::{output, translate, Options};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Compose files, merged in this order (later files override earlier ones).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Folder for the manifests (default ./manifests). `-o` is the global output format.
    #[arg(short = 'd', long = "dir", value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Activate a compose profile (repeatable; COMPOSE_PROFILES works too).
    #[arg(long = "profile", value_name = "NAME")]
    pub profiles: Vec<String>,
    /// Replace existing files whose content differs.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let options = Options {
        files: args.files,
        out_dir: args.dir.unwrap_or_else(super::default_dir),
        profiles: args.profiles,
        environment: std::env::vars().collect(),
    };
    let imported = translate(&options)?;
    let written = output::write(&imported.files, &options.out_dir, args.force)?;
    for path in &written {
        println!("{}", path.display());
    }
    for note in &imported.report.advice {
        eprintln!("note: {note}");
    }
    for note in &imported.report.left_out {
        eprintln!("not translated: {note}");
    }
    Ok(if imported.report.complete() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}
