//! `moor validate`: every problem of every file, as `file:line:col: message` or JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{default_dir, Output};
use crate::manifest::load_paths;

pub fn run(paths: &[PathBuf], output: Output) -> anyhow::Result<ExitCode> {
    let paths = if paths.is_empty() { vec![default_dir()] } else { paths.to_vec() };
    let loaded = load_paths(&paths);
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&loaded.problems)?),
        Output::Yaml => print!("{}", serde_yaml::to_string(&loaded.problems)?),
        Output::Text => {
            for p in &loaded.problems {
                println!("{p}");
            }
            if loaded.problems.is_empty() {
                let d = &loaded.desired;
                eprintln!(
                    "{} file(s) valid: {} service(s), {} network(s), {} volume(s)",
                    loaded.files.len(),
                    d.services.len(),
                    d.networks.len(),
                    d.volumes.len()
                );
            } else {
                eprintln!("{} problem(s) in {} file(s)", loaded.problems.len(), loaded.files.len());
            }
        }
    }
    Ok(if loaded.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
