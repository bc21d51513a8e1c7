//! The manifest layer end to end: fixtures, examples, defaults, the schema. No Docker needed.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use moor::manifest::{load_paths, schema};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid")
}

/// The `# expect: L:C: field: message` lines of a fixture file (a prefix; `…` skips text).
fn expectations(file: &Path) -> Vec<String> {
    fs::read_to_string(file).unwrap().lines().filter_map(|l| l.strip_prefix("# expect: ")).map(str::to_string).collect()
}

/// `want` is a prefix of `got`, where `…` in `want` stands for any text.
fn matches(got: &str, want: &str) -> bool {
    let mut parts = want.split('…');
    let Some(first) = parts.next() else {
        return true;
    };
    let Some(mut rest) = got.strip_prefix(first) else {
        return false;
    };
    for part in parts {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// One invalid fixture per rule: each must give exactly its expected problems, at the expected
/// line and column, with the expected message.
#[test]
fn every_invalid_fixture_reports_its_problems_where_they_are() {
    let mut checked = 0;
    for entry in fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        let files: Vec<PathBuf> = if path.is_dir() {
            fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()).collect()
        } else {
            vec![path.clone()]
        };
        let loaded = load_paths(std::slice::from_ref(&path));
        let mut expected = 0;
        for file in &files {
            for want in expectations(file) {
                expected += 1;
                let found = loaded.problems.iter().any(|p| {
                    let got = format!("{}:{}: {}: {}", p.line.unwrap_or(0), p.column.unwrap_or(0), p.field, p.message);
                    let got = got.replace(": : ", ": ");
                    p.file.ends_with(file.file_name().unwrap()) && matches(&got, &want)
                });
                assert!(found, "{}: expected `{want}`, got {:#?}", file.display(), loaded.problems);
            }
        }
        assert!(expected > 0, "{} has no `# expect:` line", path.display());
        assert_eq!(loaded.problems.len(), expected, "{}: {:#?}", path.display(), loaded.problems);
        assert!(!loaded.desired.complete, "{}: an invalid load must not be complete", path.display());
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} fixtures found");
}

#[test]
fn the_examples_are_valid_and_complete() {
    let loaded = load_paths(&[Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests")]);
    assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
    assert!(loaded.desired.complete);
    let d = &loaded.desired;
    assert!(d.services.contains_key("web") && d.services.contains_key("worker"));
    assert!(d.networks.contains_key("shop") && d.volumes.contains_key("data"));
    assert!(d.services["worker"].container.auto_remove);
}

/// The web example after every default is applied.
#[test]
fn defaults_are_applied_in_one_place() {
    let loaded = load_paths(&[Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/web.yaml")]);
    insta::assert_yaml_snapshot!("web_after_defaults", loaded.desired.services["web"]);
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn relative_bind_paths_resolve_against_the_manifest_folder() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("svc");
    fs::create_dir(&sub).unwrap();
    let file = write(
        &sub,
        "web.yaml",
        "apiVersion: moor/v1\nkind: Service\nmetadata: {name: web}\nspec:\n  image: x\n  volumes: [\"./conf:/etc/web:ro\", \"../shared:/shared\"]\n",
    );
    // Load through a relative path from another working directory, as a user would.
    let loaded = load_paths(&[file]);
    assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
    let mounts = serde_json::to_value(&loaded.desired.services["web"].container.mounts).unwrap();
    let base = std::path::absolute(dir.path()).unwrap();
    assert_eq!(mounts[0]["source"], base.join("svc/conf").to_string_lossy().as_ref());
    assert_eq!(mounts[0]["readOnly"], true);
    assert_eq!(mounts[1]["source"], base.join("shared").to_string_lossy().as_ref());
}

#[test]
fn multi_document_files_and_folder_scan_rules() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "all.yml",
        "apiVersion: moor/v1\nkind: Network\nmetadata: {name: net}\n---\napiVersion: moor/v1\nkind: Volume\nmetadata: {name: vol}\n---\n",
    );
    // Dotfiles (editor swap and lock files) and other extensions are not manifests.
    write(dir.path(), ".web.yaml.swp", "not yaml: [");
    write(dir.path(), ".#web.yaml", "not yaml: [");
    write(dir.path(), "README.md", "# notes");
    let loaded = load_paths(&[dir.path().to_path_buf()]);
    assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
    assert_eq!(loaded.files.len(), 1);
    assert!(loaded.desired.networks.contains_key("net") && loaded.desired.volumes.contains_key("vol"));
}

#[test]
fn a_missing_folder_is_a_problem_not_an_empty_set() {
    let loaded = load_paths(&[PathBuf::from("/nonexistent/moor-manifests")]);
    assert_eq!(loaded.problems.len(), 1);
    assert!(!loaded.desired.complete, "prune must be suspended when the folder cannot be read");
}

#[test]
fn committed_schema_is_fresh() {
    let committed = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/moor.schema.json")).unwrap();
    assert!(
        committed == schema::document_schema_text(),
        "schema/moor.schema.json is stale: run `cargo run -- schema > schema/moor.schema.json`"
    );
}

#[test]
fn cli_schema_prints_the_committed_schema() {
    let out = Command::cargo_bin("moor").unwrap().arg("schema").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), schema::document_schema_text());
}

#[test]
fn cli_validate_exit_codes_and_text_output() {
    let root = env!("CARGO_MANIFEST_DIR");
    Command::cargo_bin("moor").unwrap().current_dir(root).arg("validate").assert().success();
    let out = Command::cargo_bin("moor")
        .unwrap()
        .current_dir(root)
        .args(["validate", "manifests", "tests/fixtures/invalid/unknown-field.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "tests/fixtures/invalid/unknown-field.yaml:8:3: spec.imagePullPolicy: unknown field \"imagePullPolicy\"",
            "tests/fixtures/invalid/unknown-field.yaml:9:28: spec.ports[0].hostPort: unknown field \"hostPort\"",
        ]
    );
}

#[test]
fn cli_validate_json_lists_every_problem() {
    let out = Command::cargo_bin("moor")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["validate", "-o", "json", "tests/fixtures/invalid"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let problems: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let text_count = fs::read_dir(fixtures())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_file())
        .map(|e| expectations(&e.unwrap().path()).len())
        .sum::<usize>();
    // The folder scan is not recursive: only the top-level fixture files count.
    assert_eq!(problems.len(), text_count);
    let first = &problems[0];
    for key in ["file", "line", "column", "field", "message"] {
        assert!(first.get(key).is_some(), "{key} missing in {first}");
    }
}
