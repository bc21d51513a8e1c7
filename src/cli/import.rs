//! `moor import`: compose files to manifests (the library's `import` module does the work).
//!
//! Exit codes: 0 everything translated, 2 something left out (listed on stderr, one line per
//! compose path), 1 an error (nothing written).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::import::{output, translate, Options};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Compose files, merged in this order (later files override earlier ones).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Folder for the manifests (default ./manifests). After `import`, `-o DIR` / `--output DIR`
    /// name it too (as in `kompose convert -o`); before it, `-o` is the global output format.
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

/// `moor import FILE.. -o DIR`: the issue, compose users and `kompose convert -o` all name the
/// folder with `-o`, but `-o` is moor's global output format, and clap cannot let one subcommand
/// take a global's short name: a different id with the same short fails clap's uniqueness
/// check, and the same id (which clap does let shadow the global) has clap carry the value
/// between parent and subcommand by id, mixing the format's type with the folder's (clap_builder
/// `Command::_propagate_global_args`, `ArgMatcher::propagate_globals`). Import writes no formatted data (stdout lists the files written),
/// so after the `import` word `-o`/`--output` can only mean the folder: the arguments are
/// rewritten to `--dir` before clap reads them. Before the subcommand, `-o` keeps its global
/// meaning; after `--`, nothing is rewritten. Which global options take a value (so that their
/// value is not mistaken for the subcommand) is read from clap's own definition, and short
/// options are read as clap reads them: `-o=DIR`, `-oDIR`, `-vo DIR` (a cluster) and `-dDIR`
/// (whose `o` is part of the folder).
pub(super) fn output_names_the_folder(args: Vec<OsString>) -> Vec<OsString> {
    use clap::CommandFactory;
    let mut command = super::Cli::command();
    command.build(); // the global options are then the subcommand's too
    let import = command.find_subcommand("import").expect("moor has an import subcommand");
    let global_long =
        |long: &str| command.get_arguments().any(|a| a.get_long() == Some(long) && a.get_action().takes_values());
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.into_iter();
    out.extend(iter.next()); // the program name
                             // Up to the subcommand: global options and their values pass through.
    let mut is_import = false;
    while let Some(arg) = iter.next() {
        let token = arg.to_string_lossy().into_owned();
        out.push(arg);
        let needs_value = match token.strip_prefix("--") {
            Some(long) => global_long(long),
            None if token.starts_with('-') => matches!(short_cluster(&command, &token), Cluster::ValueNext(_)),
            None => {
                is_import = token == "import";
                break;
            }
        };
        if needs_value {
            out.extend(iter.next());
        }
    }
    if !is_import {
        out.extend(iter);
        return out;
    }
    while let Some(arg) = iter.next() {
        let token = arg.to_string_lossy().into_owned();
        if token == "--" {
            out.push(arg);
            out.extend(iter);
            break;
        }
        if let Some(long) = token.strip_prefix("--") {
            match long.split_once('=') {
                Some(("output", dir)) => out.push(format!("--dir={dir}").into()),
                None if long == "output" => out.push("--dir".into()),
                None if import.get_arguments().any(|a| a.get_long() == Some(long) && a.get_action().takes_values()) => {
                    out.push(arg);
                    out.extend(iter.next());
                }
                _ => out.push(arg),
            }
            continue;
        }
        if !token.starts_with('-') || token == "-" {
            out.push(arg);
            continue;
        }
        // A cluster of short options, as clap reads it: flags, then at most one option that
        // takes a value (the rest of the token, an `=` dropped, or the next argument).
        match short_cluster(import, &token) {
            Cluster::Flags => out.push(arg),
            Cluster::ValueNext(at) if token[at..].starts_with('o') => {
                if at > 1 {
                    out.push(token[..at].to_string().into());
                }
                out.push("--dir".into());
            }
            Cluster::ValueNext(_) => {
                out.push(arg);
                out.extend(iter.next());
            }
            Cluster::ValueIn(at) if token[at..].starts_with('o') => {
                if at > 1 {
                    out.push(token[..at].to_string().into());
                }
                let dir = &token[at + 1..];
                out.push(format!("--dir={}", dir.strip_prefix('=').unwrap_or(dir)).into());
            }
            Cluster::ValueIn(_) => out.push(arg),
        }
    }
    out
}

/// How clap reads a token `-abc` of short options.
enum Cluster {
    /// Flags only (or a letter clap will refuse).
    Flags,
    /// The option at this byte offset takes a value: the next argument.
    ValueNext(usize),
    /// The option at this byte offset takes a value: the rest of the token.
    ValueIn(usize),
}

/// `command`'s reading of `token` (`-` then short options; globals are `command`'s too).
fn short_cluster(command: &clap::Command, token: &str) -> Cluster {
    for (at, c) in token.char_indices().skip(1) {
        let Some(arg) = command.get_arguments().find(|a| a.get_short() == Some(c)) else {
            return Cluster::Flags;
        };
        if arg.get_action().takes_values() {
            return if at + c.len_utf8() == token.len() { Cluster::ValueNext(at) } else { Cluster::ValueIn(at) };
        }
    }
    Cluster::Flags
}

#[cfg(test)]
mod tests {
    use super::output_names_the_folder;

    fn rewrite(line: &str) -> String {
        let args = line.split(' ').map(Into::into).collect();
        output_names_the_folder(args).iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn after_import_o_names_the_folder() {
        assert_eq!(rewrite("moor import a.yml -o deploy"), "moor import a.yml --dir deploy");
        assert_eq!(rewrite("moor import -o deploy a.yml b.yml"), "moor import --dir deploy a.yml b.yml");
        assert_eq!(rewrite("moor import a.yml --output deploy"), "moor import a.yml --dir deploy");
        assert_eq!(rewrite("moor import a.yml --output=deploy"), "moor import a.yml --dir=deploy");
        assert_eq!(rewrite("moor import a.yml -odeploy"), "moor import a.yml --dir=deploy");
    }

    #[test]
    fn global_options_before_the_subcommand_keep_their_meaning() {
        assert_eq!(rewrite("moor -o json import a.yml -o d"), "moor -o json import a.yml --dir d");
        // `import` as the value of a global option is not the subcommand.
        assert_eq!(rewrite("moor --instance import plan -o json"), "moor --instance import plan -o json");
        assert_eq!(rewrite("moor --instance=x import a.yml -o d"), "moor --instance=x import a.yml --dir d");
    }

    #[test]
    fn other_commands_and_after_double_dash_are_untouched() {
        assert_eq!(rewrite("moor status -o json"), "moor status -o json");
        assert_eq!(rewrite("moor import -- -o"), "moor import -- -o");
    }

    /// The folder and the global output format clap reads from the rewritten `line`.
    fn parsed(line: &str) -> (Option<std::path::PathBuf>, super::super::Output, u8) {
        use clap::Parser;
        let args = output_names_the_folder(line.split(' ').map(Into::into).collect());
        let cli = super::super::Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{line}: {e}"));
        match cli.command {
            super::super::Command::Import(args) => (args.dir, cli.global.output, cli.global.verbose),
            other => panic!("not import: {other:?}"),
        }
    }

    #[test]
    fn short_forms_clap_reads_as_o_name_the_folder_too() {
        use super::super::Output;
        let out = Some(std::path::PathBuf::from("out"));
        // clap reads `-o=out` as the value `out` (not `=out`).
        assert_eq!(parsed("moor import c.yml -o=out"), (out.clone(), Output::Text, 0));
        // `-vo out` is `-v -o out`: the -o after `import` is still the folder.
        assert_eq!(parsed("moor import c.yml -vo out"), (out.clone(), Output::Text, 1));
        assert_eq!(parsed("moor import c.yml -voout"), (out.clone(), Output::Text, 1));
        // Before the subcommand, `-vo json` is the global format, and its value is not the
        // subcommand: the -o after `import` is still the folder.
        assert_eq!(parsed("moor -vo json import c.yml -o out"), (out.clone(), Output::Json, 1));
        // `-d` takes a value: the `o` inside `-dout` is part of it.
        assert_eq!(parsed("moor import c.yml -dout"), (out, Output::Text, 0));
    }

    #[test]
    fn the_rewritten_line_parses_with_the_folder() {
        use clap::Parser;
        let args = output_names_the_folder(["moor", "import", "c.yml", "-o", "out"].map(Into::into).to_vec());
        let cli = super::super::Cli::try_parse_from(args).expect("parses");
        match cli.command {
            super::super::Command::Import(args) => assert_eq!(args.dir.as_deref(), Some(std::path::Path::new("out"))),
            other => panic!("not import: {other:?}"),
        }
    }
}
