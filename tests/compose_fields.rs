//! The compose-parity fields (issue 13) against the real daemon: a service applied with them,
//! and the container read back with inspect.

mod common;

use common::{docker, expect_code, image, TestEnv, SLEEPER};

fn path(env: &TestEnv) -> &str {
    env.manifests().to_str().unwrap()
}

/// A Service on the test image with `fields` (two-space indented) and a string `command`.
fn service(name: &str, fields: &str) -> String {
    format!(
        "apiVersion: moor/v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  image: {}\n  pull: never\n  command: sh -c \"{SLEEPER}\"\n  stopTimeout: 5s\n{fields}",
        common::IMAGE
    )
}

const FIELDS: &str = "  entrypoint: /bin/busybox
  hostname: box
  domainname: example.org
  extraHosts: { db.local: 10.1.2.3 }
  dns: [10.0.0.53]
  dnsSearch: [example.org]
  dnsOpt: [\"ndots:2\"]
  init: true
  readOnly: true
  tty: true
  stdinOpen: true
  shmSize: 128Mi
  expose: [9000, \"53/udp\"]
  sysctls: [\"net.core.somaxconn=1024\"]
  ulimits: { nofile: { soft: 1024, hard: 2048 }, nproc: 512 }
  logging: { driver: local, options: { max-size: 5m } }
  groupAdd: [44]
  securityOpt: [\"no-new-privileges:true\"]
";

#[tokio::test]
async fn every_field_reaches_the_container_and_a_second_apply_keeps_it() {
    image().await;
    let env = TestEnv::new("compose-fields");
    let docker = docker().await;
    let name = env.name("app");
    env.write("app.yaml", &service(&name, FIELDS));
    expect_code(env.moor(&["apply", path(&env)]), 0);

    let info = docker.inspect_container(&env.container(&name), None).await.unwrap();
    assert_eq!(info.state.as_ref().unwrap().running, Some(true), "{:?}", info.state);
    let config = info.config.clone().unwrap();
    // The string command split as a shell splits it: the script is one argument.
    assert_eq!(config.cmd.unwrap(), ["sh", "-c", SLEEPER]);
    assert_eq!(config.entrypoint.unwrap(), ["/bin/busybox"]);
    assert_eq!(config.hostname.as_deref(), Some("box"));
    assert_eq!(config.domainname.as_deref(), Some("example.org"));
    assert_eq!((config.tty, config.open_stdin), (Some(true), Some(true)));
    let mut exposed = config.exposed_ports.unwrap();
    exposed.sort();
    assert_eq!(exposed, ["53/udp", "9000/tcp"]);

    let host = info.host_config.clone().unwrap();
    assert_eq!(host.extra_hosts.unwrap(), ["db.local:10.1.2.3"]);
    assert_eq!(host.dns.unwrap(), ["10.0.0.53"]);
    assert_eq!(host.dns_search.unwrap(), ["example.org"]);
    assert_eq!(host.dns_options.unwrap(), ["ndots:2"]);
    assert_eq!(host.init, Some(true));
    assert_eq!(host.readonly_rootfs, Some(true));
    assert_eq!(host.shm_size, Some(128 << 20));
    assert_eq!(host.sysctls.unwrap()["net.core.somaxconn"], "1024");
    let mut ulimits: Vec<_> =
        host.ulimits.unwrap().into_iter().map(|u| (u.name.unwrap(), u.soft.unwrap(), u.hard.unwrap())).collect();
    ulimits.sort();
    assert_eq!(ulimits, [("nofile".to_string(), 1024, 2048), ("nproc".to_string(), 512, 512)]);
    let log = host.log_config.unwrap();
    assert_eq!(log.typ.as_deref(), Some("local"));
    assert_eq!(log.config.unwrap()["max-size"], "5m");
    assert_eq!(host.group_add.unwrap(), ["44"]);
    assert_eq!(host.security_opt.unwrap(), ["no-new-privileges:true"]);

    // The container sees them too: the hosts entry and the read-only root.
    let hosts = common::docker_cli(&["exec", &env.container(&name), "cat", "/etc/hosts"]);
    assert!(hosts.contains("10.1.2.3\tdb.local"), "{hosts}");
    let write =
        std::process::Command::new("docker").args(["exec", &env.container(&name), "touch", "/x"]).output().unwrap();
    assert!(!write.status.success(), "the root filesystem is writable");

    // Nothing changed: the same container stays (its spec hash reads back the same).
    let id = info.id.unwrap();
    expect_code(env.moor(&["apply", path(&env)]), 0);
    assert_eq!(docker.inspect_container(&env.container(&name), None).await.unwrap().id.unwrap(), id);

    // A changed field replaces it.
    env.write("app.yaml", &service(&name, &FIELDS.replace("hostname: box", "hostname: box2")));
    expect_code(env.moor(&["apply", path(&env)]), 0);
    let after = docker.inspect_container(&env.container(&name), None).await.unwrap();
    assert_ne!(after.id.unwrap(), id);
    assert_eq!(after.config.unwrap().hostname.as_deref(), Some("box2"));
}

#[tokio::test]
async fn a_field_docker_would_refuse_is_refused_before_anything_is_created() {
    image().await;
    let env = TestEnv::new("compose-refused");
    let docker = docker().await;
    let name = env.name("app");
    env.write("app.yaml", &service(&name, "  ulimits: { nofile: { soft: 4096, hard: 1024 } }\n"));
    let out = env.moor(&["apply", path(&env)]);
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("spec.ulimits.nofile") && stderr.contains("above hard limit"), "{stderr}");
    assert!(docker.inspect_container(&env.container(&name), None).await.is_err(), "a container was created");
}

const POWERS: &str = "  privileged: true
  capAdd: [NET_ADMIN, CAP_SYS_PTRACE]
  capDrop: [MKNOD]
  devices: [\"/dev/null:/dev/moor-null:r\"]
  pid: host
  ipc: shareable
";

#[tokio::test]
async fn the_powerful_fields_are_refused_by_default_and_reach_the_container_when_the_policy_allows() {
    image().await;
    let env = TestEnv::new("compose-powers");
    let docker = docker().await;
    let name = env.name("app");
    let file = env.write("app.yaml", &service(&name, POWERS));

    // The default policy: refused at each field, nothing created.
    let stdout = expect_code(env.moor(&["apply", path(&env)]), 1);
    for line in [
        format!("{}:10:15: spec.privileged: a privileged container", file.display()),
        format!("{}:11:12: spec.capAdd[0]: capability NET_ADMIN", file.display()),
        format!("{}:11:23: spec.capAdd[1]: capability SYS_PTRACE", file.display()),
        format!("{}:13:13: spec.devices[0]: host device /dev/null is outside devices (none)", file.display()),
        format!("{}:14:8: spec.pid: the host's pid namespace", file.display()),
    ] {
        assert!(stdout.contains(&line), "{line}\nin\n{stdout}");
    }
    assert!(docker.inspect_container(&env.container(&name), None).await.is_err(), "a refused service was created");

    // A policy that allows them: the container gets each.
    let (_dir, policy) = common::policy_file(
        "  privileged: true\n  capabilities: [NET_ADMIN, SYS_PTRACE]\n  devices: [/dev/null]\n  hostNamespaces: {pid: true}\n",
    );
    let policy = policy.as_str();
    // Privileged first without starting: this test's daemon may itself run without every
    // capability (nested in a container), and runc then cannot start a privileged container;
    // what moor sends is what inspect shows either way.
    env.write("app.yaml", &service(&name, &format!("{POWERS}  state: stopped\n")));
    expect_code(env.moor(&["apply", path(&env), "--policy", policy]), 0);
    let host = docker.inspect_container(&env.container(&name), None).await.unwrap().host_config.unwrap();
    assert_eq!(host.privileged, Some(true));

    // The rest running.
    env.write("app.yaml", &service(&name, &POWERS.replace("  privileged: true\n", "")));
    expect_code(env.moor(&["apply", path(&env), "--policy", policy]), 0);
    let info = docker.inspect_container(&env.container(&name), None).await.unwrap();
    assert_eq!(info.state.unwrap().running, Some(true));
    let host = info.host_config.unwrap();
    assert_eq!(host.privileged, Some(false));
    assert_eq!(host.cap_add.unwrap(), ["NET_ADMIN", "SYS_PTRACE"]);
    assert_eq!(host.cap_drop.unwrap(), ["MKNOD"]);
    let device = &host.devices.unwrap()[0];
    assert_eq!(
        (device.path_on_host.as_deref(), device.path_in_container.as_deref(), device.cgroup_permissions.as_deref()),
        (Some("/dev/null"), Some("/dev/moor-null"), Some("r"))
    );
    assert_eq!(host.pid_mode.as_deref(), Some("host"));
    assert_eq!(host.ipc_mode.as_deref(), Some("shareable"));
}
