//! Adversarial review r13 of issue 13 (compose parity, import): regression tests for the defects
//! the review found. Each failed on the commit it was written against (6254358 or, for the later
//! ones, the branch before its fix), except `user_working_dir_and_stop_signal_reach_the_container`,
//! which fills a gap in the coverage table's tests.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

mod common;

use common::{expect_code, image, TestEnv, IMAGE, SLEEPER};

/// `moor import compose.yaml [more] -d out` in `dir`, with `.env` written first when given.
fn import(dir: &Path, files: &[(&str, &str)], dotenv: Option<&str>) -> Output {
    for (name, text) in files {
        fs::write(dir.join(name), text).unwrap();
    }
    if let Some(text) = dotenv {
        fs::write(dir.join(".env"), text).unwrap();
    }
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).filter(|n| n.ends_with(".yaml")).collect();
    Command::new(common::moor_bin())
        .current_dir(dir)
        .arg("import")
        .args(&names)
        .args(["-d", "out"])
        .env_remove("COMPOSE_PROFILES")
        .env_remove("COMPOSE_PROJECT_NAME")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every file the import wrote, manifests and env files alike, as one text.
fn everything_written(dir: &Path) -> String {
    let mut all = String::new();
    for e in walk(&dir.join("out")) {
        all.push_str(&fs::read_to_string(e).unwrap_or_default());
    }
    all
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn validates(dir: &Path) {
    let out = Command::new(common::moor_bin()).arg("validate").arg(dir.join("out")).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
}

/// `moor import compose.yaml -d ../m` in `compose_dir` with the variable `var` set (exit 0),
/// then `moor apply` of `../m` in `env`'s instance (exit 0).
fn import_then_apply(env: &TestEnv, compose_dir: &std::path::Path, var: (&str, &str)) {
    let out = Command::new(common::moor_bin())
        .current_dir(compose_dir)
        .args(["import", "compose.yaml", "-d", "../m"])
        .env(var.0, var.1)
        .env_remove("COMPOSE_PROFILES")
        .env_remove("COMPOSE_PROJECT_NAME")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let manifests = env.dir.path().join("m");
    let state = env.dir.path().join("state");
    expect_code(env.moor(&["apply", manifests.to_str().unwrap(), "--state-dir", state.to_str().unwrap()]), 0);
}

/// Compose's secrets from the environment (`secrets: {x: {environment: VAR}}`) and external
/// ones are common in self-hosted files. The import failed on them with exit 1 ("secret is not
/// declared by any Secret manifest"), writing nothing; an environment secret must become a file
/// secret whose value is never in a manifest, an external one a reported left-out reference.
#[test]
fn environment_and_external_secrets_do_not_fail_the_import() {
    let tmp = tempfile::tempdir().unwrap();
    let compose = "services:
  db:
    image: postgres:16
    secrets:
      - db_password
      - source: api_key
        target: api.key
  app:
    image: example/app:1
    secrets: [api_key, tls_key]
secrets:
  db_password:
    file: ./db_password.txt
  api_key:
    environment: API_KEY
  tls_key:
    external: true
";
    fs::write(tmp.path().join("db_password.txt"), "filepw-2222").unwrap();
    let out = import(tmp.path(), &[("compose.yaml", compose)], Some("API_KEY=envkey-3333\n"));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("services.app.secrets[1]"), "the external secret's reference is reported:\n{err}");
    validates(tmp.path());
    let loaded = moor::manifest::load::load_paths(&[tmp.path().join("out")]);
    assert!(loaded.desired.secrets.contains_key("api-key"), "{:?}", loaded.desired.secrets.keys());
    // The value is in a private file beside the manifests, never in a manifest.
    for f in walk(&tmp.path().join("out")) {
        let text = fs::read_to_string(&f).unwrap();
        if f.extension().is_some_and(|e| e == "yaml") {
            assert!(!text.contains("envkey-3333"), "{} holds the secret:\n{text}", f.display());
        } else if text.contains("envkey-3333") {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600, "{}", f.display());
        }
    }
    assert!(everything_written(tmp.path()).contains("envkey-3333"), "the secret's value was lost");
    assert!(err.contains("sops"), "the report says to encrypt it:\n{err}");
}

/// Compose's `.env` expands `${VAR}` in its own values (compose-go's dotenv): `DATA_DIR=${BASE}/data`
/// is `/srv/app/data`. The import took it literally and failed on the volume it makes.
#[test]
fn dotenv_values_expand_earlier_variables() {
    let tmp = tempfile::tempdir().unwrap();
    let compose = "services:\n  app:\n    image: example/app:1\n    environment:\n      DATA: ${DATA_DIR}\n      LIT: ${LITERAL}\n    volumes: [\"${DATA_DIR}:/data\"]\n";
    let dotenv = "BASE=/srv/app\nDATA_DIR=${BASE}/data\nLITERAL='${BASE}'\nQUOTED=\"$BASE/q\"\n";
    let out = import(tmp.path(), &[("compose.yaml", compose)], Some(dotenv));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let app = fs::read_to_string(tmp.path().join("out/app.yaml")).unwrap();
    assert!(app.contains("DATA: /srv/app/data"), "{app}");
    assert!(app.contains("/srv/app/data:/data"), "{app}");
    // Single quotes keep the text as it is, as in compose.
    assert!(app.contains("LIT: ${BASE}") || app.contains("LIT: '${BASE}'"), "{app}");

    // A `.env` value built from a secret-looking variable is as secret as it: never inline,
    // whether the compose file interpolates it or names it bare.
    let tmp = tempfile::tempdir().unwrap();
    let compose = "services:\n  app:\n    image: example/app:1\n    environment:\n      DATABASE_URL: ${DB_URL}\n";
    let dotenv = "DB_PASSWORD=pw-secret-7\nDB_URL=postgres://u:${DB_PASSWORD}@db/app\n";
    let out = import(tmp.path(), &[("compose.yaml", compose)], Some(dotenv));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let bare = "services:\n  app:\n    image: example/app:1\n    environment: [DB_URL, \"DATABASE_URL=${DB_URL}\"]\n";
    let tmp2 = tempfile::tempdir().unwrap();
    let out2 = import(tmp2.path(), &[("compose.yaml", bare)], Some(dotenv));
    assert_eq!(out2.status.code(), Some(0), "{}", stderr(&out2));
    for dir in [tmp.path(), tmp2.path()] {
        let manifest = fs::read_to_string(dir.join("out/app.yaml")).unwrap();
        assert!(!manifest.contains("pw-secret-7"), "{manifest}");
        assert!(everything_written(dir).contains("postgres://u:pw-secret-7@db/app"), "the value was lost");
    }
}

/// A service that only has `build:` with its own Dockerfile (and target): the line that says how
/// to build the image must build that Dockerfile, or the tag names another image. Its image name
/// is compose's `<project>-<service>`, the service name as compose has it (lowercased), not the
/// DNS-1123 manifest name.
#[test]
fn the_build_line_names_the_dockerfile_and_compose_image_name() {
    let tmp = tempfile::tempdir().unwrap();
    let compose = "name: shop\nservices:\n  db_migrate:\n    build:\n      context: ./api\n      dockerfile: Dockerfile.migrate\n      target: migrate\n";
    let out = import(tmp.path(), &[("compose.yaml", compose)], None);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("docker build -t shop-db_migrate -f ./api/Dockerfile.migrate --target migrate ./api"),
        "{err}"
    );
    let manifest = fs::read_to_string(tmp.path().join("out/db-migrate.yaml")).unwrap();
    assert!(manifest.contains("image: shop-db_migrate"), "{manifest}");
    validates(tmp.path());
}

/// In compose, `environment` wins over `env_file`. The import writes the `environment` values
/// from `.env` to an env file and lists it in `envFrom` before the service's `env_file`s, where
/// a later entry wins: the env_file's value reached the container. Read back from the container.
#[tokio::test]
async fn environment_from_dotenv_wins_over_env_file_as_in_compose() {
    image().await;
    let env = TestEnv::new("r13-envorder");
    let compose_dir = env.dir.path().join("compose");
    fs::create_dir_all(&compose_dir).unwrap();
    let compose = format!(
        "services:\n  app:\n    image: {IMAGE}\n    command: [\"sh\", \"-c\", \"{SLEEPER}\"]\n    env_file: app.env\n    environment:\n      DB_PASSWORD: ${{DB_PASSWORD}}\n"
    );
    fs::write(compose_dir.join("compose.yaml"), compose).unwrap();
    fs::write(compose_dir.join("app.env"), "DB_PASSWORD=from-env-file\nOTHER=kept\n").unwrap();
    import_then_apply(&env, &compose_dir, ("DB_PASSWORD", "from-environment"));
    let vars = common::docker_cli(&["inspect", "-f", "{{json .Config.Env}}", &env.container("app")]);
    assert!(vars.contains("\"DB_PASSWORD=from-environment\""), "{vars}");
    assert!(vars.contains("\"OTHER=kept\""), "{vars}");
}

/// What the daemon refuses at create (a relative working directory, an unknown stop signal) or
/// runc at start (a sysctl outside the container's namespaces, a `net.*` one on the host
/// network) passed `moor validate`, and failed only at apply.
#[test]
fn values_docker_refuses_are_refused_at_their_field() {
    let tmp = tempfile::tempdir().unwrap();
    let service = |name: &str, line: &str| {
        format!("apiVersion: moor/v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  image: {IMAGE}\n{line}\n")
    };
    let cases = [
        ("a", "  workingDir: relative/dir", "spec.workingDir"),
        ("b", "  stopSignal: SIGNOPE", "spec.stopSignal"),
        ("c", "  sysctls: { kernel.foo: \"1\" }", "spec.sysctls.kernel.foo"),
        ("d", "  networks: [host]\n  sysctls: [\"net.core.somaxconn=1024\"]", "spec.sysctls[0]"),
        ("e", "  sysctls: { kernel.hostname: x }", "spec.sysctls.kernel.hostname"),
    ];
    for (name, line, _) in &cases {
        fs::write(tmp.path().join(format!("{name}.yaml")), service(name, line)).unwrap();
    }
    // What Docker takes still loads.
    fs::write(
        tmp.path().join("ok.yaml"),
        service(
            "ok",
            "  workingDir: /srv\n  stopSignal: SIGUSR1\n  sysctls: { kernel.shmmax: \"100000\", net.core.somaxconn: \"1024\", fs.mqueue.msg_max: \"20\", kernel.domainname: x }",
        ),
    )
    .unwrap();
    let out = Command::new(common::moor_bin()).arg("validate").arg(tmp.path()).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{text}");
    for (name, _, field) in &cases {
        let at = format!("{name}.yaml:");
        assert!(text.lines().any(|l| l.contains(&at) && l.contains(&format!(" {field}: "))), "{field} in\n{text}");
    }
    assert!(!text.contains("ok.yaml"), "{text}");
}

/// `:cached` / `:delegated` / `:consistent` (Docker Desktop's consistency, which compose takes
/// and Docker on Linux ignores) are common in development files: the import failed on them
/// (exit 1, "unknown mount option"). They are left out with an advice line; other options stay.
#[test]
fn volume_consistency_options_are_left_out_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let compose = "services:\n  app:\n    image: node:20\n    volumes:\n      - ./src:/app/src:cached\n      - ./data:/data:ro,delegated\n      - cache:/cache:consistent\n      - { type: bind, source: ./conf, target: /conf, consistency: cached }\nvolumes:\n  cache: {}\n";
    for dir in ["src", "data", "conf"] {
        fs::create_dir_all(tmp.path().join(dir)).unwrap();
    }
    let out = import(tmp.path(), &[("compose.yaml", compose)], None);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("services.app.volumes[0]: the consistency"), "{err}");
    assert!(err.contains("services.app.volumes[3].consistency"), "{err}");
    validates(tmp.path());
    let app = fs::read_to_string(tmp.path().join("out/app.yaml")).unwrap();
    assert!(app.contains("/data:/data:ro\n"), "{app}");
    assert!(app.contains("cache:/cache\n"), "{app}");
    assert!(!app.contains("cached") && !app.contains("delegated") && !app.contains("consistent"), "{app}");
}

/// Compose sends `deploy.resources.reservations.memory` as the container's memory reservation
/// and `deploy.restart_policy` as its restart policy (winning over `restart`), outside Swarm too;
/// the import left both out. What Docker's policy cannot hold (`delay`, `window`) is reported.
#[test]
fn deploy_reservations_memory_and_restart_policy_are_translated() {
    let tmp = tempfile::tempdir().unwrap();
    let compose = "services:\n  web:\n    image: nginx:1.27\n    restart: always\n    deploy:\n      resources:\n        limits: { memory: 50M }\n        reservations: { memory: 20M }\n      restart_policy: { condition: on-failure, max_attempts: 3, delay: 5s }\n  worker:\n    image: nginx:1.27\n    deploy:\n      restart_policy: { condition: any }\n";
    let out = import(tmp.path(), &[("compose.yaml", compose)], None);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("services.web.deploy.restart_policy.delay"), "{err}");
    assert!(!err.contains("reservations.memory") && !err.contains("restart_policy:"), "{err}");
    validates(tmp.path());
    let loaded = moor::manifest::load::load_paths(&[tmp.path().join("out")]);
    let web = fs::read_to_string(tmp.path().join("out/web.yaml")).unwrap();
    assert!(web.contains("memReservation: 20M") && web.contains("restart: on-failure:3"), "{web}");
    let worker = fs::read_to_string(tmp.path().join("out/worker.yaml")).unwrap();
    assert!(worker.contains("restart: always"), "{worker}");
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
}

/// Compose's `configs` (a file, inline `content`, or a variable) mounted into a service: moor
/// has `configs` of files, but the import left every config out. A file outside the output
/// folder is copied into it (configs are read inside the manifest source); inline content and
/// a variable's value become files there. The container gets them (read back from it).
#[tokio::test]
async fn compose_configs_become_config_files_in_the_container() {
    image().await;
    let env = TestEnv::new("r13-configs");
    let compose_dir = env.dir.path().join("compose");
    fs::create_dir_all(&compose_dir).unwrap();
    let compose = format!(
        "services:
  app:
    image: {IMAGE}
    command: [\"sh\", \"-c\", \"{SLEEPER}\"]
    configs:
      - app_conf
      - source: inline_conf
        target: /etc/app/inline.conf
        mode: 0440
      - source: from_env
        target: etc/from-env.txt
configs:
  app_conf:
    file: ./app.json
  inline_conf:
    content: |
      listen 8080
  from_env:
    environment: GREETING
"
    );
    fs::write(compose_dir.join("compose.yaml"), compose).unwrap();
    fs::write(compose_dir.join("app.json"), "{\"a\": 1}\n").unwrap();
    import_then_apply(&env, &compose_dir, ("GREETING", "hello"));
    let container = env.container("app");
    let cat = |path: &str| common::docker_cli(&["exec", &container, "cat", path]);
    assert_eq!(cat("/app_conf"), "{\"a\": 1}\n");
    assert_eq!(cat("/etc/app/inline.conf"), "listen 8080\n");
    assert_eq!(cat("/etc/from-env.txt"), "hello");
    let mode = common::docker_cli(&["exec", &container, "stat", "-c", "%a", "/etc/app/inline.conf"]);
    assert_eq!(mode.trim(), "440");
}

/// `user`, `working_dir` and `stop_signal` are "full" in docs/compose-coverage.md, but no test
/// read them back from a container of the Docker backend.
#[tokio::test]
async fn user_working_dir_and_stop_signal_reach_the_container() {
    image().await;
    let env = TestEnv::new("r13-user");
    env.write(
        "app.yaml",
        &common::service_yaml("app", "  user: \"1000:1000\"\n  workingDir: /tmp\n  stopSignal: SIGUSR1\n"),
    );
    expect_code(env.moor(&["apply", env.manifests().to_str().unwrap()]), 0);
    let container = env.container("app");
    let got = common::docker_cli(&[
        "inspect",
        "-f",
        "{{.Config.User}} {{.Config.WorkingDir}} {{.Config.StopSignal}}",
        &container,
    ]);
    assert_eq!(got.trim(), "1000:1000 /tmp SIGUSR1");
    assert_eq!(common::docker_cli(&["exec", &container, "id", "-u"]).trim(), "1000");
    assert_eq!(common::docker_cli(&["exec", &container, "pwd"]).trim(), "/tmp");
}

/// Compose merges `env_file` (and `dns`, `tmpfs`, ...) given as one path in both files as a
/// list of both, and `depends_on`/`networks` in list form in one file and map form in the other
/// as one map (compose-go's merge rules). The import kept only the later file's value, silently
/// dropping the base's env file and dependency.
#[test]
fn merging_keeps_both_files_env_files_and_dependencies() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir_all(tmp.path().join("common")).unwrap();
    fs::write(tmp.path().join("common/base.env"), "LOG_FORMAT=json\n").unwrap();
    fs::write(tmp.path().join("local.env"), "A=1\n").unwrap();
    fs::write(
        tmp.path().join("common/base.yaml"),
        "services:\n  base:\n    image: alpine:3.20\n    env_file: ./base.env\n    dns: 10.0.0.53\n",
    )
    .unwrap();
    let compose = "services:\n  worker:\n    extends: { file: common/base.yaml, service: base }\n    env_file: ./local.env\n    dns: 10.0.0.54\n    depends_on: [db]\n    networks: [back]\n  db:\n    image: postgres:16\n  cache:\n    image: redis:7\nnetworks:\n  back: {}\n  front: {}\n";
    let over = "services:\n  worker:\n    depends_on: { cache: { condition: service_started } }\n    networks: { front: { aliases: [w] } }\n";
    let out = import(tmp.path(), &[("compose.yaml", compose), ("override.yaml", over)], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    validates(tmp.path());
    let loaded = moor::manifest::load::load_paths(&[tmp.path().join("out")]);
    let worker = fs::read_to_string(tmp.path().join("out/worker.yaml")).unwrap();
    let (base, local) = (worker.find("files/base.env"), worker.find("files/local.env"));
    assert!(base.is_some() && local.is_some() && base < local, "both env files, the base's first:\n{worker}");
    let spec = &loaded.desired.services["worker"].container;
    assert_eq!(spec.host.dns, ["10.0.0.53", "10.0.0.54"], "{worker}");
    let deps = &loaded.desired.services["worker"].depends_on;
    assert!(deps.contains_key("db") && deps.contains_key("cache"), "{worker}");
    assert!(spec.networks.contains(&"back".to_string()) && spec.networks.contains(&"front".to_string()), "{worker}");
}
