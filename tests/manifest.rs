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
        if path.ends_with("data") {
            continue; // what the Secrets of the fixtures name, not manifests
        }
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
        .filter(|e| !e.as_ref().unwrap().path().ends_with("data"))
        .map(|e| expectations(&e.unwrap().path()).len())
        .sum::<usize>();
    // The folder scan is not recursive: only the top-level fixture files count.
    assert_eq!(problems.len(), text_count);
    let first = &problems[0];
    for key in ["file", "line", "column", "field", "message"] {
        assert!(first.get(key).is_some(), "{key} missing in {first}");
    }
}

/// 10,000 documents with one located problem each. Locating once indexed the whole file per
/// problem: 2,000 of them took a minute, 10,000 would take half an hour. The bound is far above
/// the linear time (2.5 to 3.5 s in a debug build on a busy 2-core machine, nearly all of it the
/// load itself) and far below the quadratic one: a guard against that regression, not a
/// benchmark (`load_10000_problems` in `benches/pure.rs` is that).
#[test]
fn ten_thousand_problems_are_located_in_linear_time() {
    let n = 10_000;
    let text: String = (0..n)
        .map(|i| format!("---\napiVersion: moor/v1\nkind: Service\nmetadata: {{ name: svc-{i} }}\nspec: {{ image: busybox, dependsOn: [gone-{i}] }}\n"))
        .collect();
    let started = std::time::Instant::now();
    let loaded = moor::manifest::load_str(Path::new("/m/all.yaml"), &text);
    let took = started.elapsed();
    assert_eq!(loaded.problems.len(), n);
    let last = &loaded.problems[n - 1];
    assert_eq!((last.line, last.column), (Some(5 * n - 1), Some(19)), "{last}");
    assert!(last.message.contains(&format!("\"gone-{}\"", n - 1)), "{last}");
    assert!(took < std::time::Duration::from_secs(10), "10,000 problems took {took:?}");

    // Duplicate names: each problem names the first definition's place too.
    let text: String =
        (0..n).map(|i| format!("---\napiVersion: moor/v1\nkind: Volume\nmetadata: {{ name: v{} }}\n", i % 2)).collect();
    let started = std::time::Instant::now();
    let loaded = moor::manifest::load_str(Path::new("/m/all.yaml"), &text);
    let took = started.elapsed();
    assert_eq!(loaded.problems.len(), n - 2);
    assert!(loaded.problems[0].message.ends_with("already defined at /m/all.yaml:4:19"), "{}", loaded.problems[0]);
    assert!(took < std::time::Duration::from_secs(10), "{} duplicate names took {took:?}", n - 2);
}

fn moor_validate(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::cargo_bin("moor")
        .unwrap()
        .arg("validate")
        .args(args)
        // A FIFO or a device read by mistake would block or grow without end: fail instead.
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

const WEB: &str = "apiVersion: moor/v1\nkind: Service\nmetadata: { name: web }\nspec:\n  image: busybox\n";

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", path.display());
}

#[test]
fn cli_validate_refuses_what_is_not_a_regular_file_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.yaml");
    mkfifo(&fifo);
    // Named directly: nobody writes to it, so a read would block for ever.
    let (code, stdout, _) = moor_validate(&[fifo.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(stdout.contains("pipe.yaml: a FIFO is not a regular file"), "{stdout}");

    // In a folder scan, beside a valid file and a dangling symlink; a symlink to a regular file
    // is followed.
    write(dir.path(), "web.yaml", WEB);
    std::os::unix::fs::symlink(dir.path().join("gone.yaml"), dir.path().join("dangling.yaml")).unwrap();
    let real = tempfile::tempdir().unwrap();
    let worker = write(real.path(), "worker.yaml", &WEB.replace("name: web", "name: worker"));
    std::os::unix::fs::symlink(&worker, dir.path().join("worker.yaml")).unwrap();
    let (code, stdout, _) = moor_validate(&[dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(1));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines
        .iter()
        .any(|l| l.ends_with("dangling.yaml: a symlink to ") || l.contains("gone.yaml, which does not exist")));
    assert!(lines.iter().any(|l| l.contains("pipe.yaml: a FIFO is not a regular file")));
    let loaded = load_paths(&[dir.path().to_path_buf()]);
    assert!(loaded.desired.services.contains_key("web") && loaded.desired.services.contains_key("worker"));
    assert!(!loaded.desired.complete, "prune must be suspended");

    let (code, stdout, _) = moor_validate(&["/dev/zero"]);
    assert_eq!(code, Some(1));
    assert_eq!(stdout, "/dev/zero: a device is not a regular file; only regular files are read as manifests\n");
}

#[test]
fn cli_validate_refuses_a_file_over_4_mib_and_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut big = WEB.to_string();
    big.push_str(&"# padding\n".repeat(420_000));
    let big = write(dir.path(), "big.yaml", &big);
    let (code, stdout, _) = moor_validate(&[big.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(stdout.contains("big.yaml: larger than 4 MiB, the limit for a manifest file"), "{stdout}");

    let empty = write(dir.path(), "empty.yaml", "");
    let (code, stdout, _) = moor_validate(&[empty.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(stdout.contains("empty.yaml: no document in this file"), "{stdout}");
}

#[test]
fn cli_validate_accepts_a_byte_order_mark_and_keeps_positions() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.yaml", &format!("\u{feff}---\n{WEB}"));
    let (code, _, stderr) = moor_validate(&[good.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    let bad = write(dir.path(), "bad.yaml", &format!("\u{feff}{WEB}  replicas: x\n"));
    let (code, stdout, _) = moor_validate(&[bad.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(stdout.ends_with("bad.yaml:6:13: spec.replicas: must be an integer, not a string\n"), "{stdout}");
}

/// What YAML reads one way and JSON another, and values Docker would refuse or drop: each a
/// located problem, none a silent misreading.
#[test]
fn cli_validate_reports_misreadings_and_bounds_where_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{WEB}  image: busybox:2\n  env: {{ TOKEN: !!binary aGVsbG8=, \"A=B\": c }}\n  resources: {{ memory: 18446744073709551615, cpus: .inf }}\n  update: {{ watch: digest, interval: 0s }}\n---\n{}  ports: [{{ container: 99999999999 }}]\n",
        WEB.replace("name: web", "name: api")
    );
    let file = write(dir.path(), "web.yaml", &text);
    let (code, stdout, _) = moor_validate(&[file.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    let got: Vec<&str> = stdout.lines().map(|l| l.split_once("web.yaml:").unwrap().1).collect();
    let want = [
        "6:3: spec.image: duplicate key \"image\" (first at line 5, column 3)",
        "7:26: spec.env.TOKEN: YAML tags such as !!binary are not accepted",
        "7:36: spec.env.A=B: environment variable name \"A=B\" must not contain '='",
        "8:24: spec.resources.memory: 18446744073709551615 bytes is more than Docker accepts",
        "8:52: spec.resources.cpus: must be a finite number",
        "9:38: spec.update.interval: an interval of 0s would be a hot loop",
        "16:24: spec.ports[0].container: must be 1-65535",
    ];
    assert_eq!(got.len(), want.len(), "{stdout}");
    for (got, want) in got.iter().zip(want) {
        assert!(got.starts_with(want), "expected `{want}`, got `{got}`");
    }
}

#[test]
fn cli_validate_warns_of_a_short_registry_check_interval_and_passes() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "web.yaml", &format!("{WEB}  update: {{ watch: digest, interval: 5s }}\n"));
    let (code, stdout, stderr) = moor_validate(&[file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stderr.contains("warning: ")
            && stderr.contains("web.yaml:6:38: spec.update.interval: registry checks every 5s")
    );
}

/// A type error under `env` (or anywhere) says what the field must be, never what it holds.
#[test]
fn cli_validate_never_echoes_a_value() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{WEB}  env: {{ DB_PASSWORD: [s3cret-value], OTHER: {{ k: s3cret-value }} }}\n  command: [{{ s3cret-value: 1 }}]\n  replicas: s3cret-value\n  state: s3cret-value\n  restart: s3cret-value\n"
    );
    let file = write(dir.path(), "web.yaml", &text);
    for output in ["text", "json"] {
        let (code, stdout, stderr) = moor_validate(&["-o", output, file.to_str().unwrap()]);
        assert_eq!(code, Some(1));
        assert!(stdout.contains("spec.env.DB_PASSWORD"), "{stdout}");
        assert!(!stdout.contains("s3cret") && !stderr.contains("s3cret"), "{stdout}{stderr}");
    }
    let (_, stdout, _) = moor_validate(&[file.to_str().unwrap()]);
    assert!(stdout.contains(
        "spec.env.DB_PASSWORD: must be a string, an integer, a number, true or false, or a mapping, not a list"
    ));
}

/// A document with a duplicate key, a tag or a value JSON cannot hold is reported and not taken,
/// even when the rest of it is valid; the documents after it are still read.
#[test]
fn a_misread_document_is_never_taken_and_the_next_one_is_read() {
    let next = WEB.replace("name: web", "name: next");
    for bad in [
        format!("{WEB}  image: busybox:2\n"),
        format!("{WEB}  user: !!str nobody\n"),
        format!("{WEB}  resources: {{ cpus: .nan }}\n"),
        format!("{WEB}  replicas: 99999999999999999999999\n"),
    ] {
        let loaded = moor::manifest::load_str(Path::new("/m/web.yaml"), &format!("{bad}---\n{next}"));
        assert_eq!(loaded.problems.len(), 1, "{bad}: {:#?}", loaded.problems);
        assert!(!loaded.desired.services.contains_key("web"), "{bad}: taken");
        assert!(loaded.desired.services.contains_key("next"), "{bad}: the next document was not read");
        assert!(!loaded.desired.complete);
    }
}

/// A service written without Secrets, env files or configs has, byte for byte, the canonical
/// JSON (so the spec hash) of the release before them: upgrading moor must replace no container.
#[test]
fn canonical_json_of_a_service_without_secrets_is_unchanged() {
    let text = "\
apiVersion: moor/v1
kind: Service
metadata: { name: web, labels: { team: shop } }
spec:
  image: app:1
  command: [serve, --port, \"80\"]
  entrypoint: [/app]
  workingDir: /srv
  user: \"1000\"
  env: { LOG_LEVEL: info, PORT: 80, RATIO: 0.5, DEBUG: false }
  ports: [\"8080:80\", { container: 90, host: 9090, protocol: udp, hostIp: 127.0.0.1 }]
  volumes: [\"data:/data\", \"./conf:/etc/app:ro\", { type: tmpfs, target: /tmp, size: 1Mi }]
  networks: [front, back]
  restart: on-failure:3
  healthcheck: { test: [CMD, /app, health], interval: 10s, timeout: 2s, retries: 3, startPeriod: 1s }
  resources: { memory: 64Mi, cpus: 0.5, pids: 100 }
  stopSignal: SIGINT
  stopTimeout: 7s
";
    let loaded = moor::manifest::load_str(Path::new("/m/web.yaml"), text);
    assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
    let web = &loaded.desired.services["web"];
    assert_eq!(web.canonical, web.container.canonical_json());
    assert_eq!(
        web.canonical,
        r#"{"autoRemove":false,"command":["serve","--port","80"],"entrypoint":["/app"],"env":{"DEBUG":"false","LOG_LEVEL":"info","PORT":"80","RATIO":"0.5"},"healthcheck":{"interval":"10s","retries":3,"startPeriod":"1s","test":["CMD","/app","health"],"timeout":"2s"},"image":"app:1","labels":{"team":"shop"},"mounts":[{"readOnly":false,"source":"data","target":"/data","type":"volume"},{"readOnly":true,"source":"/m/conf","target":"/etc/app","type":"bind"},{"size":1048576,"target":"/tmp","type":"tmpfs"}],"networks":["back","front"],"ports":[{"container":80,"host":8080,"protocol":"tcp"},{"container":90,"host":9090,"hostIp":"127.0.0.1","protocol":"udp"}],"resources":{"cpus":0.5,"memory":67108864,"pids":100},"restart":"on-failure:3","stopSignal":"SIGINT","stopTimeout":"7s","user":"1000","workingDir":"/srv"}"#
    );
    assert!(web.refs.is_empty());
}

fn secrets_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/secrets")
}

/// What a service asks of Secrets, env files and configs, one line each, for a snapshot.
fn refs_summary(desired: &moor::manifest::Desired) -> String {
    use moor::manifest::refs::EnvFrom;
    let mut out = Vec::new();
    for s in desired.secrets.values() {
        let file = &s.file;
        out.push(format!("Secret {}: {} ({:?}, written {:?})", s.name, file.path.display(), file.format, file.written));
    }
    for service in desired.services.values() {
        let refs = &service.refs;
        for e in &refs.env_from {
            out.push(match e {
                EnvFrom::Secret { secret, field } => format!("{}: envFrom secret {secret} at {field}", service.name),
                EnvFrom::File { file, field, .. } => {
                    format!("{}: envFrom file {} ({:?}) at {field}", service.name, file.path.display(), file.format)
                }
            });
        }
        for (name, r) in &refs.env {
            out.push(format!("{}: env {name} = secret {} key {} at {}", service.name, r.secret, r.key, r.field));
        }
        for s in &refs.secrets {
            let o = &s.owner;
            out.push(format!(
                "{}: secret {} key {:?} at {} uid {:?} gid {:?} mode {:04o}, field {}",
                service.name, s.secret, s.key, s.target, o.uid, o.gid, o.mode, s.field
            ));
        }
        for c in &refs.configs {
            let o = &c.owner;
            out.push(format!(
                "{}: config {} ({:?}) at {} uid {:?} gid {:?} mode {:04o}, field {}",
                service.name,
                c.file.path.display(),
                c.file.format,
                c.target,
                o.uid,
                o.gid,
                o.mode,
                c.field
            ));
        }
        let plain: Vec<&String> = service.container.env.keys().collect();
        out.push(format!("{}: plain env {plain:?}", service.name));
    }
    out.join("\n")
}

/// A Secret manifest and a service using every new field: references with their defaults,
/// absolute paths and fields; SOPS files beside the manifests are not read as manifests; the
/// plain env key that looks secret is a warning that never quotes its value.
#[test]
fn secrets_env_files_and_configs_load_into_references() {
    let loaded = moor::manifest::load_dir_as(&secrets_fixture(), Path::new("/m"));
    assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
    assert!(loaded.desired.complete);
    assert_eq!(loaded.files, [Path::new("/m/app.yaml"), Path::new("/m/secrets.yaml")]);
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        ["/m/app.yaml:15:5: spec.env.API_TOKEN: API_TOKEN looks like a secret: move it into a Secret and reference it with { secret, key }; its value is kept out of labels and output meanwhile"]
    );
    // The reference is not a plain env value: it is not in the container's env.
    let app = &loaded.desired.services["app"];
    assert!(!app.container.env.contains_key("DB_PASSWORD"));
    insta::assert_snapshot!("secret_refs", refs_summary(&loaded.desired));
}

#[test]
fn cli_validate_passes_secrets_and_warns_without_the_value() {
    let (code, stdout, stderr) = moor_validate(&[secrets_fixture().to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stderr.contains("app.yaml:15:5: spec.env.API_TOKEN: API_TOKEN looks like a secret"), "{stderr}");
    assert!(!stdout.contains("fixture-plain-token") && !stderr.contains("fixture-plain-token"), "{stdout}{stderr}");
}
