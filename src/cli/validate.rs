//! `moor validate`: every problem of every file, as `file:line:col: message` or JSON, the host
//! policy's refusals among them (the same policy `apply` and `run` use, so CI and hosts agree).

use std::path::PathBuf;
use std::process::ExitCode;

use super::{default_dir, Output};
use crate::manifest::load_paths;
use crate::policy::{refusals, Policy};

pub fn run(paths: &[PathBuf], policy: &Policy, output: Output) -> anyhow::Result<ExitCode> {
    let paths = if paths.is_empty() { vec![default_dir()] } else { paths.to_vec() };
    let mut loaded = load_paths(&paths);
    loaded.problems.extend(refusals(policy, &loaded.desired).into_values().flatten());
    loaded.problems.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
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
