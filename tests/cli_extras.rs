//! The shipping extras: `--version`, `moor version`, completions, the man page, and the CI and
//! pre-commit recipes (they must parse, and say what the README promises).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{expect_code, moor_bin};

fn moor(args: &[&str]) -> std::process::Output {
    Command::new(moor_bin()).args(args).output().expect("run moor")
}

#[test]
fn version_flag_names_the_commit() {
    let out = expect_code(moor(&["--version"]), 0);
    let rest = out.trim().strip_prefix(&format!("moor {} (commit ", env!("CARGO_PKG_VERSION"))).expect(&out);
    let commit = rest.strip_suffix(')').expect(&out);
    // The short hash when built from git (as here), else `unknown`.
    assert!(commit == "unknown" || (commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit())), "{out}");
    let git = Command::new("git").args(["rev-parse", "--short=7", "HEAD"]).output().unwrap();
    if git.status.success() {
        assert_eq!(commit, String::from_utf8_lossy(&git.stdout).trim(), "the commit this binary was built from");
    }
}

#[test]
fn version_reports_the_daemon_and_the_negotiated_api() {
    let out = expect_code(moor(&["version", "-o", "json"]), 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["client"]["version"], env!("CARGO_PKG_VERSION"));
    let server = &v["server"];
    assert!(server["version"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
    let negotiated = server["negotiatedApiVersion"].as_str().expect("negotiated API version");
    let (major, minor) = negotiated.split_once('.').expect(negotiated);
    assert_eq!(major, "1");
    let daemon_max: u32 = server["apiVersion"].as_str().unwrap().split_once('.').unwrap().1.parse().unwrap();
    assert!(minor.parse::<u32>().unwrap() <= daemon_max, "moor never speaks a newer API than the daemon: {v}");

    let text = expect_code(moor(&["version"]), 0);
    assert!(text.contains(&format!("negotiated {negotiated}")), "{text}");
}

#[test]
fn version_without_a_daemon_still_answers() {
    let out = expect_code(moor(&["version", "--host", "unix:///nonexistent/docker.sock"]), 0);
    assert!(out.contains(&format!("Version:     {}", env!("CARGO_PKG_VERSION"))), "{out}");
    assert!(out.contains("the Docker daemon does not answer"), "{out}");
    let json = expect_code(moor(&["version", "-o", "json", "--host", "unix:///nonexistent/docker.sock"]), 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["server"].is_null() && v["serverError"].is_string(), "{v}");
}

#[test]
fn bash_completions_name_every_subcommand_and_parse() {
    let script = expect_code(moor(&["completions", "bash"]), 0);
    for sub in [
        "validate",
        "schema",
        "plan",
        "apply",
        "status",
        "run",
        "down",
        "logs",
        "import",
        "version",
        "completions",
        "man",
    ] {
        assert!(script.contains(sub), "{sub} missing from the bash completions");
    }
    let mut bash = Command::new("bash").arg("-n").stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    bash.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let checked = bash.wait_with_output().unwrap();
    assert!(checked.status.success(), "bash -n: {}", String::from_utf8_lossy(&checked.stderr));
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let script = expect_code(moor(&["completions", shell]), 0);
        assert!(script.contains("down") && script.contains("logs"), "{shell}");
    }
    assert_eq!(moor(&["completions", "tcsh"]).status.code(), Some(2), "an unknown shell is a usage error");
}

#[test]
fn the_man_page_is_roff_and_lists_the_subcommands() {
    let page = expect_code(moor(&["man"]), 0);
    assert!(page.lines().any(|l| l.starts_with(".TH moor 1")), "{page}");
    assert!(page.contains("moor\\-run(1)") && page.contains("moor\\-down(1)"), "{page}");
    let run = expect_code(moor(&["man", "run"]), 0);
    assert!(run.lines().any(|l| l.starts_with(".TH moor-run 1")), "{run}");
    assert!(run.contains("\\-\\-shutdown\\-timeout"), "run's own options: {run}");
    assert_eq!(moor(&["man", "nope"]).status.code(), Some(1));
}

fn yaml(path: &str) -> serde_yaml::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_pre_commit_hook_validates_the_whole_folder() {
    let hooks = yaml(".pre-commit-hooks.yaml");
    let hooks = hooks.as_sequence().expect("a list of hooks");
    let hook = hooks.iter().find(|h| h["id"] == "moor-validate").expect("hook moor-validate");
    assert_eq!(hook["entry"], "moor validate manifests");
    assert_eq!(hook["pass_filenames"], false, "cross-file rules need the whole folder");
    assert!(["rust", "system"].contains(&hook["language"].as_str().unwrap()));
    let files = hook["files"].as_str().unwrap();
    assert_eq!(files, r"\.(ya?ml)$");
    for hook in hooks {
        assert!(hook["name"].is_string() && hook["entry"].is_string() && hook["language"].is_string(), "{hook:?}");
    }
}

#[test]
fn the_example_workflow_validates_and_comments_the_plan() {
    let wf = yaml("docs/ci/github-actions.yml");
    let on = &wf["on"];
    assert!(on.get("push").is_some() && on.get("pull_request").is_some(), "{on:?}");
    let runs = |job: &str| -> String {
        let steps = wf["jobs"][job]["steps"].as_sequence().unwrap_or_else(|| panic!("job {job}"));
        steps.iter().filter_map(|s| s["run"].as_str()).collect::<Vec<_>>().join("\n")
    };
    assert!(runs("validate").contains("moor validate"));
    let plan = runs("plan");
    assert!(plan.contains("moor plan") && plan.contains("gh pr comment"), "{plan}");
    assert_eq!(wf["jobs"]["plan"]["permissions"]["pull-requests"], "write");
}
