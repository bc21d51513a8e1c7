//! `moor import` on the compose corpus of `tests/fixtures/compose/`: exit codes, the report on
//! stderr, the files written, and that they pass `moor validate` and the loader.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

mod common;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/compose").join(name)
}

/// A copy of fixture folder `name` in a fresh temporary folder (imports write beside it).
fn copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let to = tmp.path().join(name);
    common::copy_dir(&fixture(name), &to);
    (tmp, to)
}

fn moor() -> Command {
    let mut cmd = Command::cargo_bin("moor").unwrap();
    for var in ["API_TOKEN", "DB_PASSWORD", "DB_USER", "BUSYBOX_TAG", "COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME"] {
        cmd.env_remove(var);
    }
    cmd
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn import_full(dir: &Path, extra: &[&str]) -> Run {
    run(moor().current_dir(dir).args(["import", "compose.yaml", "override.yaml", "-d", "config"]).args(extra))
}

/// `moor import compose.yaml -o out` in a fresh folder holding `compose` as compose.yaml.
fn import_inline(compose: &str) -> (tempfile::TempDir, Run) {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("compose.yaml"), compose).unwrap();
    let r = run(moor().current_dir(tmp.path()).args(["import", "compose.yaml", "-o", "out"]));
    (tmp, r)
}

fn validate(dir: &Path) {
    let r = run(moor().arg("validate").arg(dir));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let loaded = moor::manifest::load::load_paths(&[dir.to_path_buf()]);
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
}

#[test]
fn full_stack_merges_interpolates_and_hides_secret_values() {
    let (_tmp, dir) = copy("full");
    let r = import_full(&dir, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let out = dir.join("config");
    let web = fs::read_to_string(out.join("web.yaml")).unwrap();
    assert!(web.starts_with("# yaml-language-server: $schema="), "{web}");
    // extends (image from base, interpolated with the .env value), the override's command and
    // LOG_LEVEL, `$$` as `$`, the list forms of labels and environment.
    for want in [
        "image: busybox:1.36",
        "- '8081'",
        "restart: unless-stopped",
        "LOG_LEVEL: debug",
        "GREETING: hello $USER",
        "team: shop",
    ] {
        assert!(web.contains(want), "{want} missing in:\n{web}");
    }
    // Short and long syntax of ports, volumes, secrets; depends_on with its condition.
    for want in [
        "127.0.0.1:8080:8080",
        "container: 9090",
        "host: 19090",
        "127.0.0.1:8081:8081",
        "data:/srv",
        "- .:/etc/app:ro",
        "size: 16m",
        "target: /run/secrets/pw",
        "db: healthy",
        "file: ./app.env",
    ] {
        assert!(web.contains(want), "{want} missing in:\n{web}");
    }
    // Values from .env for secret-looking keys are in 0600 env files, never in a manifest.
    let yaml: String = ["web.yaml", "db.yaml"].iter().map(|f| fs::read_to_string(out.join(f)).unwrap()).collect();
    assert!(!yaml.contains("tok-from-dotenv") && !yaml.contains("pw-from-dotenv"), "{yaml}");
    assert!(web.contains("file: ./web.env"));
    assert_eq!(fs::read_to_string(out.join("web.env")).unwrap(), "API_TOKEN=tok-from-dotenv\n");
    assert_eq!(fs::read_to_string(out.join("db.env")).unwrap(), "POSTGRES_PASSWORD=pw-from-dotenv\n");
    assert_eq!(fs::metadata(out.join("web.env")).unwrap().permissions().mode() & 0o777, 0o600);
    // A literal in the file is not from .env: it stays inline.
    assert!(web.contains("PLAIN_KEY: literal-not-from-env"));
    assert!(r.stderr.contains("sops --encrypt --age"), "{}", r.stderr);
    assert!(!r.stderr.contains("tok-from-dotenv"), "{}", r.stderr);
    // The report: one line per item, by compose path.
    assert!(r.stderr.lines().any(|l| l.starts_with("not translated: x-common:")), "{}", r.stderr);
    // Profiles: `debug` is not active; `base` only exists to be extended.
    assert!(!out.join("debug.yaml").exists() && !out.join("base.yaml").exists());
    assert!(r.stderr.contains("services.debug: skipped"), "{}", r.stderr);
    let secret = fs::read_to_string(out.join("secret-db-password.yaml")).unwrap();
    assert!(secret.contains("kind: Secret") && secret.contains("file: ./db_password.txt"), "{secret}");
    for f in ["network-front.yaml", "volume-data.yaml", "db.yaml"] {
        assert!(r.stdout.contains(f), "{}", r.stdout);
    }
    validate(&out);
}

#[test]
fn profiles_and_the_environment_override_dotenv() {
    let (_tmp, dir) = copy("full");
    let r = import_full(&dir, &["--profile", "debug"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(dir.join("config/debug.yaml").exists());
    let r = run(moor().current_dir(&dir).env("API_TOKEN", "from-env").args([
        "import",
        "compose.yaml",
        "-d",
        "other",
        "--profile",
        "debug",
    ]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(fs::read_to_string(dir.join("other/web.env")).unwrap(), "API_TOKEN=from-env\n");
}

#[test]
fn a_required_variable_stops_the_import_and_nothing_is_written() {
    let (_tmp, dir) = copy("full");
    fs::write(dir.join(".env"), "API_TOKEN=t\n").unwrap();
    let r = import_full(&dir, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("services.db.environment.POSTGRES_PASSWORD"), "{}", r.stderr);
    assert!(r.stderr.contains("set DB_PASSWORD in .env"), "{}", r.stderr);
    assert!(!dir.join("config/web.yaml").exists());
}

#[test]
fn build_only_services_get_the_compose_image_name() {
    let (_tmp, dir) = copy("build");
    // `-o DIR` after `import` names the folder (the global `-o` is the output format).
    let r = run(moor().current_dir(&dir).args(["import", "compose.yaml", "-o", "out"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    let app = fs::read_to_string(dir.join("out/app.yaml")).unwrap();
    assert!(app.contains("image: build-app") && app.contains("pull: never"), "{app}");
    assert!(r.stderr.contains("services.app.build: not translated (moor runs images): build and tag it, `docker build -t build-app ./app`"), "{}", r.stderr);
    assert!(r.stderr.contains("services.app.x-custom: extension not translated"), "{}", r.stderr);
    assert!(r.stderr.contains("services.tool.build:"), "{}", r.stderr);
    assert!(fs::read_to_string(dir.join("out/tool.yaml")).unwrap().contains("image: example/tool:2"));
    validate(&dir.join("out"));
    let r = run(moor().current_dir(&dir).env("COMPOSE_PROJECT_NAME", "shop").args([
        "import",
        "compose.yaml",
        "-d",
        "named",
    ]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(fs::read_to_string(dir.join("named/app.yaml")).unwrap().contains("image: shop-app"));
}

#[test]
fn everything_translated_exits_0_and_existing_files_are_kept() {
    let (_tmp, dir) = copy("simple");
    let r = run(moor().current_dir(&dir).args(["import", "compose.yaml"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    validate(&dir.join("manifests"));
    let worker = fs::read_to_string(dir.join("manifests/worker.yaml")).unwrap();
    for want in ["pull: missing", "replicas: 2", "memory: 64m", "pids: 50", "- NONE", "stopTimeout: 5s"] {
        assert!(worker.contains(want), "{want} missing in:\n{worker}");
    }
    // The same content again is fine; other content needs --force.
    assert_eq!(run(moor().current_dir(&dir).args(["import", "compose.yaml"])).code, 0);
    fs::write(dir.join("manifests/cache.yaml"), "# mine\n").unwrap();
    let r = run(moor().current_dir(&dir).args(["import", "compose.yaml"]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert_eq!(fs::read_to_string(dir.join("manifests/cache.yaml")).unwrap(), "# mine\n");
    assert_eq!(run(moor().current_dir(&dir).args(["import", "compose.yaml", "--force"])).code, 0);
    assert!(fs::read_to_string(dir.join("manifests/cache.yaml")).unwrap().contains("redis:7"));
}

#[test]
fn a_bad_file_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(moor().current_dir(tmp.path()).arg("import").arg(fixture("bad.yaml")));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("bad.yaml") && r.stderr.contains("line"), "{}", r.stderr);
    assert!(!tmp.path().join("manifests").exists());
}

#[test]
fn what_has_no_counterpart_is_reported_by_path() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("misc");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("secret.txt"), "x\n").unwrap();
    fs::create_dir_all(dir.join("base")).unwrap();
    fs::write(dir.join("base/other.yaml"), "services:\n  x:\n    working_dir: /srv\n    user: '1000'\n").unwrap();
    fs::write(
        dir.join("compose.yaml"),
        "services:\n  app:\n    image: busybox:1.36\n    container_name: my-app\n    network_mode: host\n\
         \x20   ports: ['8000-8001:8000-8001']\n    volumes: [/data]\n    extends: {file: base/other.yaml, service: x}\n\
         \x20   environment: [FROM_ENV, SESSION_KEY, MISSING_ONE, 'URL=${UNSET_VAR}', 'DB_URL=pg://u:${DB_PASSWORD}@db']\n\
         \x20   command: [run, --password, '${DB_PASSWORD}']\n    secrets: [s]\n    x-custom: 1\n\
         secrets:\n  s:\n    file: ./secret.txt\n",
    )
    .unwrap();
    let r = run(moor()
        .current_dir(&dir)
        .env("FROM_ENV", "plain")
        .env("SESSION_KEY", "hidden-value")
        .env("DB_PASSWORD", "pw")
        .args(["import", "compose.yaml"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    for want in [
        "not translated: services.app.x-custom:",
        "note: services.app.environment.MISSING_ONE: not set",
        "note: services.app.environment.URL: variable UNSET_VAR is not set",
        "not translated: services.app.command[2]: holds the value of a secret-looking variable",
    ] {
        assert!(r.stderr.contains(want), "{want} missing in:\n{}", r.stderr);
    }
    assert!(!r.stderr.contains("hidden-value"), "{}", r.stderr);
    let out = dir.join("manifests");
    let app = fs::read_to_string(out.join("app.yaml")).unwrap();
    assert!(app.contains("- host") && app.contains("FROM_ENV: plain") && !app.contains("hidden-value"), "{app}");
    // `extends` from another file, in another folder.
    assert!(app.contains("workingDir: /srv") && app.contains("user: '1000'"), "{app}");
    // Port ranges are moor's too.
    assert!(app.contains("8000-8001:8000-8001"), "{app}");
    // An anonymous volume is a moor one too.
    assert!(app.contains("- /data"), "{app}");
    assert!(app.contains("containerName: my-app") && !r.stderr.contains("container_name"), "{app}");
    assert_eq!(fs::read_to_string(out.join("app.env")).unwrap(), "SESSION_KEY=hidden-value\nDB_URL=pg://u:pw@db\n");
    assert!(!app.contains("DB_URL"), "{app}");
    // The secret file is outside the output folder: copied into its files/ (0600), with a note.
    let secret = fs::read_to_string(out.join("secret-s.yaml")).unwrap();
    assert!(secret.contains("file: ./files/secret.txt"), "{secret}");
    assert_eq!(fs::read_to_string(out.join("files/secret.txt")).unwrap(), "x\n");
    assert_eq!(fs::metadata(out.join("files/secret.txt")).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(r.stderr.contains("secrets.s.file: ./secret.txt copied into the output folder"), "{}", r.stderr);
    // The loader (no host policy) takes the output as it is.
    let loaded = moor::manifest::load::load_paths(&[out]);
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
}

#[test]
fn imported_manifests_plan_against_the_daemon() {
    let (_tmp, dir) = copy("simple");
    assert_eq!(run(moor().current_dir(&dir).args(["import", "compose.yaml"])).code, 0);
    let env = common::TestEnv::new("import-plan");
    let out = dir.join("manifests");
    let plan = common::expect_code(env.moor(&["plan", out.to_str().unwrap()]), 2);
    let (cache, worker) = (env.container("cache"), env.container("worker"));
    assert!(plan.contains(&format!("+ create {cache}")) && plan.contains(&format!("+ create {worker}")), "{plan}");
}

#[test]
fn tuning_network_modes_ipam_and_interpolated_numbers_translate() {
    let (_tmp, dir) = copy("tuning");
    let r = run(moor().current_dir(&dir).args(["import", "compose.yaml"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    let out = dir.join("manifests");
    let read = |f: &str| fs::read_to_string(out.join(f)).unwrap();
    let db = read("db.yaml");
    for want in [
        "cpuShares: 512",
        "cpusetCpus: '0'",
        "memReservation: 64m",
        "oomScoreAdj: 100",
        "oomKillDisable: false",
        "init: true",
        "runtime: runc",
        "platform: linux/amd64",
        "cgroup: private",
        "- database",
        "ipv4Address: 10.77.0.10",
    ] {
        assert!(db.contains(want), "{want} missing in:\n{db}");
    }
    assert!(read("sidecar.yaml").contains("networkMode: service:db"));
    let worker = read("worker.yaml");
    assert!(worker.contains("networkMode: none") && worker.contains("replicas: 2"), "{worker}");
    let net = read("network-back.yaml");
    for want in [
        "attachable: true",
        "subnet: 10.77.0.0/24",
        "gateway: 10.77.0.1",
        "ipRange: 10.77.0.128/25",
        "router: 10.77.0.2",
    ] {
        assert!(net.contains(want), "{want} missing in:\n{net}");
    }
    // Left out, by path; nothing else.
    let left: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with("not translated:")).collect();
    assert_eq!(left.len(), 1, "{}", r.stderr);
    assert!(left[0].starts_with("not translated: services.db.networks.back.priority:"), "{}", r.stderr);
    validate(&out);
}

#[test]
fn completed_dependencies_and_replicated_jobs_become_jobs() {
    let (_tmp, dir) = copy("jobs");
    let r = run(moor().current_dir(&dir).args(["import", "compose.yaml"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    validate(&dir.join("manifests"));
    let app = fs::read_to_string(dir.join("manifests/app.yaml")).unwrap();
    for want in ["migrate: completed", "seed: completed", "required: false", "restart: true"] {
        assert!(app.contains(want), "{want} missing in:\n{app}");
    }
    for job in ["migrate", "seed"] {
        let text = fs::read_to_string(dir.join(format!("manifests/{job}.yaml"))).unwrap();
        assert!(text.contains("mode: job"), "{text}");
    }
    let migrate = fs::read_to_string(dir.join("manifests/migrate.yaml")).unwrap();
    assert!(!migrate.contains("restart") && !migrate.contains("healthcheck"), "{migrate}");
    for line in ["services.migrate.restart", "services.migrate.healthcheck"] {
        assert!(r.stderr.contains(line), "{line} not reported in:\n{}", r.stderr);
    }
    assert!(!r.stderr.contains("depends_on"), "{}", r.stderr);
}

#[test]
fn compose_forms_import_into_manifests_that_load() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("forms");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("compose.yaml"),
        "services:\n  db:\n    image: busybox:1.36\n    ipc: shareable\n    labels: [tier=db]\n\
         \x20   volumes:\n      - /data\n      - ~/conf:/etc/db:ro,z\n      - {type: volume, target: /cache, volume: {nocopy: true}}\n\
         \x20     - {type: bind, source: ./x, target: /x, bind: {propagation: rslave, create_host_path: true}}\n\
         \x20     - {type: tmpfs, target: /t, tmpfs: {size: 1m, mode: 1777}}\n\
         \x20 app:\n    image: busybox:1.36\n    environment: [A=1, B=two]\n    expose: ['8000-8002']\n\
         \x20   extra_hosts: {db.local: [10.0.0.1, '[::1]']}\n    stop_grace_period: 1m30s\n\
         \x20   tmpfs: [/run, '/tmp:size=1m']\n    ipc: service:db\n    pid: service:db\n    volumes_from: ['db:ro']\n\
         \x20   env_file: [{path: ./local.env, required: false}]\n    label_file: ./app.labels\n",
    )
    .unwrap();
    let r = run(moor().current_dir(&dir).env("HOME", "/home/op").args(["import", "compose.yaml"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = dir.join("manifests");
    let loaded = moor::manifest::load::load_paths(&[out]);
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let db = &loaded.desired.services["db"].container;
    assert_eq!(db.mounts.len(), 5, "{:?}", db.mounts);
    assert_eq!(db.labels["tier"], "db");
    let app = &loaded.desired.services["app"].container;
    assert_eq!(app.env["B"], "two");
    assert_eq!(app.host.expose.len(), 3);
    assert_eq!(app.host.extra_hosts, ["db.local:10.0.0.1", "db.local:::1"]);
    assert_eq!(app.stop_timeout, std::time::Duration::from_secs(90));
    // Joins keep `service:db` (placed per instance at create).
    assert_eq!((app.host.ipc.as_deref(), app.host.pid.as_deref()), (Some("service:db"), Some("service:db")));
    assert_eq!(app.host.volumes_from, ["service:db:ro"]);
    assert_eq!(app.mounts.len(), 2);
    let manifest = fs::read_to_string(dir.join("manifests/app.yaml")).unwrap();
    assert!(manifest.contains("required: false"), "{manifest}");
    assert!(manifest.contains("labelFile:") && manifest.contains("app.labels"), "{manifest}");
}

/// `healthcheck.start_interval` is translated, and the report says at once that an older daemon
/// refuses it (moor sends it only at Docker API 1.44), rather than leaving it to `apply`.
#[test]
fn start_interval_is_translated_with_the_api_it_needs() {
    let (tmp, r) = import_inline("services:\n  web:\n    image: nginx:1.27\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n      start_period: 30s\n      start_interval: 2s\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let web = fs::read_to_string(tmp.path().join("out/web.yaml")).unwrap();
    assert!(web.contains("startInterval: 2s"), "{web}");
    assert!(r.stderr.contains("note: services.web.healthcheck.start_interval: needs Docker API 1.44"), "{}", r.stderr);
}

/// A compose volume with `name:` is that very Docker volume (compose does not prefix it): the
/// manifest takes the name, so the data is taken over, and every mount follows; a name that
/// is not DNS-1123 is reported and the compose key names the volume.
#[test]
fn a_volume_name_is_the_docker_volume_compose_uses() {
    let (tmp, r) = import_inline("name: shop\nservices:\n  db:\n    image: postgres:16\n    volumes:\n      - pgdata:/var/lib/postgresql/data\n      - type: volume\n        source: cache\n        target: /cache\n      - logs:/logs\nvolumes:\n  pgdata:\n    name: shop-pg-data\n  cache:\n    name: Cache_Vol\n  logs: {}\n");
    assert_eq!(r.code, 2, "{}", r.stderr);
    let db = fs::read_to_string(tmp.path().join("out/db.yaml")).unwrap();
    assert!(db.contains("shop-pg-data:/var/lib/postgresql/data") && db.contains("source: cache"), "{db}");
    let volume = fs::read_to_string(tmp.path().join("out/volume-shop-pg-data.yaml")).unwrap();
    assert!(volume.contains("name: shop-pg-data"), "{volume}");
    assert!(tmp.path().join("out/volume-cache.yaml").exists());
    assert!(
        r.stderr.contains("not translated: volumes.cache.name: \"Cache_Vol\" is not a DNS-1123 name"),
        "{}",
        r.stderr
    );
    // Compose's own prefixed name is advised only where compose prefixes it.
    assert!(r.stderr.contains("shop_logs") && !r.stderr.contains("shop_pgdata"), "{}", r.stderr);
    validate(&tmp.path().join("out"));
}

/// Two compose volumes whose `name:` is the same are one Docker volume to compose: the import
/// writes one Volume manifest for it and mounts it at both places (it failed: the manifests it
/// wrote held the Volume twice and did not validate, exit 1).
#[test]
fn two_volumes_with_one_name_are_one_volume() {
    let (tmp, r) = import_inline("name: shop\nservices:\n  db:\n    image: postgres:16\n    volumes:\n      - a:/a\n      - b:/b\nvolumes:\n  a:\n    name: shared\n  b:\n    name: shared\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let db = fs::read_to_string(tmp.path().join("out/db.yaml")).unwrap();
    assert!(db.contains("shared:/a") && db.contains("shared:/b"), "{db}");
    assert!(fs::read_to_string(tmp.path().join("out/volume-shared.yaml")).unwrap().contains("name: shared"));
    validate(&tmp.path().join("out"));
}

/// An external volume is not compose's to name: it is mounted by its `name:` as given, or by
/// its key when it has none (compose prefixes neither), even when that is not DNS-1123 (it
/// failed: `volumes.legacy` named shop_legacy_data was mounted as `legacy`, a new empty volume).
#[test]
fn external_volumes_are_mounted_by_the_name_compose_uses() {
    let (tmp, r) = import_inline("name: shop\nservices:\n  db:\n    image: postgres:16\n    volumes:\n      - legacy:/legacy\n      - type: volume\n        source: old_data\n        target: /old\nvolumes:\n  legacy:\n    external: true\n    name: shop_legacy_data\n  old_data:\n    external: true\n");
    assert_eq!(r.code, 2, "{}", r.stderr);
    let db = fs::read_to_string(tmp.path().join("out/db.yaml")).unwrap();
    assert!(db.contains("shop_legacy_data:/legacy") && db.contains("source: old_data"), "{db}");
    validate(&tmp.path().join("out"));
}

/// A volume key that becomes the `name:` of another volume is two volumes to compose (the key
/// is prefixed, the name is not): one manifest can only be one, so it is reported (exit 2).
#[test]
fn a_key_meeting_another_volume_name_is_reported() {
    let (tmp, r) = import_inline("name: shop\nservices:\n  db:\n    image: postgres:16\n    volumes:\n      - a:/a\n      - shared:/b\nvolumes:\n  a:\n    name: shared\n  shared: {}\n");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("not translated: volumes.shared: named shared as volumes.a is"), "{}", r.stderr);
    validate(&tmp.path().join("out"));
}

/// `disable: true` drops the whole healthcheck, start_interval with it: no advice about the API
/// start_interval needs is given for a field that is not written.
#[test]
fn a_disabled_healthcheck_gives_no_start_interval_advice() {
    let (tmp, r) = import_inline("services:\n  web:\n    image: busybox\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n      start_interval: 2s\n      disable: true\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let web = fs::read_to_string(tmp.path().join("out/web.yaml")).unwrap();
    assert!(web.contains("NONE") && !web.contains("startInterval"), "{web}");
    assert!(!r.stderr.contains("start_interval"), "{}", r.stderr);
}
