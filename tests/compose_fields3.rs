//! The resource, device and namespace fields of issue 13 against the real daemon: applied, read
//! back with inspect; what the host policy refuses, refused at its field; `moor import` of their
//! compose forms. What this daemon cannot show (real-time periods without an RT budget, swap
//! limits without swap accounting, storage options on fuse-overlayfs, GPUs) is tested in the
//! request body (`engine::create_body`'s unit tests).

mod common;

use common::{docker, expect_code, image, TestEnv, SLEEPER};

fn path(env: &TestEnv) -> &str {
    env.manifests().to_str().unwrap()
}

/// A Service on the test image with `fields` (two-space indented), from line 10 of its file.
fn service(name: &str, fields: &str) -> String {
    format!(
        "apiVersion: moor/v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  image: {}\n  pull: never\n  command: sh -c \"{SLEEPER}\"\n  stopTimeout: 5s\n{fields}",
        common::IMAGE
    )
}

#[tokio::test]
async fn cpu_quota_swappiness_and_block_io_rates_reach_the_container() {
    image().await;
    let env = TestEnv::new("compose-res");
    let docker = docker().await;
    let name = env.name("app");
    // The root file system's disk: Docker needs a block device that exists.
    let fields = "  resources: { memory: 64Mi }
  cpuQuota: 50ms
  cpuPeriod: 100000
  memSwappiness: 10
  blkioConfig:
    deviceReadBps: [{ path: /dev/vda, rate: 10mb }]
    deviceWriteIops: [{ path: /dev/vda, rate: 100 }]
";
    env.write("app.yaml", &service(&name, fields));
    expect_code(env.moor(&["apply", path(&env)]), 0);

    let info = docker.inspect_container(&env.container(&name), None).await.unwrap();
    assert_eq!(info.state.as_ref().unwrap().running, Some(true), "{:?}", info.state);
    let host = info.host_config.clone().unwrap();
    assert_eq!((host.cpu_quota, host.cpu_period), (Some(50_000), Some(100_000)));
    assert_eq!(host.memory_swappiness, Some(10));
    let read = &host.blkio_device_read_bps.unwrap()[0];
    assert_eq!((read.path.as_deref(), read.rate), (Some("/dev/vda"), Some(10 << 20)));
    let write = &host.blkio_device_write_iops.unwrap()[0];
    assert_eq!((write.path.as_deref(), write.rate), (Some("/dev/vda"), Some(100)));
    // The kernel has the quota too.
    let quota = common::docker_cli(&["exec", &env.container(&name), "cat", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"]);
    assert_eq!(quota.trim(), "50000");

    // Nothing changed: nothing replaced.
    let id = info.id.unwrap();
    expect_code(env.moor(&["apply", path(&env)]), 0);
    assert_eq!(docker.inspect_container(&env.container(&name), None).await.unwrap().id.unwrap(), id);
}

#[tokio::test]
async fn device_rules_long_devices_and_the_host_uts_namespace_need_the_policy() {
    image().await;
    let env = TestEnv::new("compose-devrules");
    let docker = docker().await;
    let name = env.name("app");
    let fields = "  deviceCgroupRules: [\"c 1:3 mr\"]
  devices: [{ source: /dev/null, target: /dev/nothing, permissions: rw }]
  uts: host
";
    let file = env.write("app.yaml", &service(&name, fields));
    let stdout = expect_code(env.moor(&["apply", path(&env)]), 1);
    for line in [
        format!("{}:10:23: spec.deviceCgroupRules[0]: device cgroup rule \"c 1:3 mr\"", file.display()),
        format!("{}:11:13: spec.devices[0]: host device /dev/null is outside devices", file.display()),
        format!("{}:12:8: spec.uts: the host's uts namespace", file.display()),
    ] {
        assert!(stdout.contains(&line), "{line}\nin\n{stdout}");
    }
    assert!(docker.inspect_container(&env.container(&name), None).await.is_err(), "a refused service was created");

    let (_dir, policy) = common::policy_file("  devices: [/dev]\n  hostNamespaces: {uts: true}\n");
    expect_code(env.moor(&["apply", path(&env), "--policy", &policy]), 0);
    let info = docker.inspect_container(&env.container(&name), None).await.unwrap();
    assert_eq!(info.state.as_ref().unwrap().running, Some(true), "{:?}", info.state);
    let host = info.host_config.unwrap();
    assert_eq!(host.device_cgroup_rules.unwrap(), ["c 1:3 mr"]);
    assert_eq!(host.uts_mode.as_deref(), Some("host"));
    let d = &host.devices.unwrap()[0];
    assert_eq!(
        (d.path_on_host.as_deref(), d.path_in_container.as_deref(), d.cgroup_permissions.as_deref()),
        (Some("/dev/null"), Some("/dev/nothing"), Some("rw"))
    );
    // The host's hostname, seen from inside.
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(common::docker_cli(&["exec", &env.container(&name), "hostname"]).trim(), hostname.trim());
}

#[tokio::test]
async fn gpus_are_refused_by_the_default_policy_and_bad_values_at_their_field() {
    let env = TestEnv::new("compose-res-bad");
    let name = env.name("app");
    let file = env.write(
        "app.yaml",
        &service(&name, "  resources: { cpus: 0.5 }\n  cpuQuota: 50ms\n  memSwappiness: 200\n  gpus: all\n"),
    );
    let stdout = expect_code(env.moor(&["validate", path(&env)]), 1);
    for line in [
        format!("{}:11:13: spec.cpuQuota: cpuQuota and resources.cpus cannot both be set", file.display()),
        format!("{}:12:18: spec.memSwappiness: 200 is outside 0 to 100", file.display()),
    ] {
        assert!(stdout.contains(&line), "{line}\nin\n{stdout}");
    }
    env.write("app.yaml", &service(&name, "  gpus: [{ driver: nvidia, count: 1 }]\n"));
    let stdout = expect_code(env.moor(&["validate", path(&env)]), 1);
    assert!(
        stdout.contains("spec.gpus: GPUs are host devices the daemon's driver hands over; gpus is false"),
        "{stdout}"
    );
    let (_dir, policy) = common::policy_file("  gpus: true\n");
    expect_code(env.moor(&["validate", path(&env), "--policy", &policy]), 0);
}

#[test]
fn moor_import_translates_the_compose_forms() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("compose.yaml"),
        "services:
  app:
    image: busybox:1.36
    mem_limit: 64m
    cpu_quota: 50000
    cpu_period: 100ms
    cpu_rt_period: 1000000
    cpu_rt_runtime: 950ms
    mem_swappiness: 10
    memswap_limit: 128m
    blkio_config:
      weight: 300
      weight_device: [{ path: /dev/sda, weight: 400 }]
      device_read_bps: [{ path: /dev/sda, rate: 12mb }]
      device_write_iops: [{ path: /dev/sda, rate: 30 }]
    storage_opt: { size: 1G }
    device_cgroup_rules: ['c 1:3 mr']
    devices: [{ source: /dev/fuse, target: /dev/fuse, permissions: rwm }, '/dev/null']
    uts: host
    gpus: [{ driver: nvidia, device_ids: ['0'], capabilities: [gpu] }]
    annotations: ['com.example/a=b']
    mac_address: '02:42:AC:11:00:02'
    healthcheck: { test: 'true', start_interval: 2s }
  job:
    image: busybox:1.36
    deploy:
      resources:
        reservations:
          devices: [{ driver: nvidia, count: all, capabilities: [gpu, compute], options: { x: y } }]
",
    )
    .unwrap();
    let out = std::process::Command::new(common::moor_bin())
        .current_dir(dir)
        .args(["import", "compose.yaml"])
        .output()
        .unwrap();
    // Every key translates; what the default host policy refuses (devices, rules, uts, GPUs) is
    // reported, so the exit code is 2.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let left: Vec<&str> = stderr.lines().filter(|l| l.starts_with("not translated:")).collect();
    assert!(left.iter().all(|l| l.contains(": the default host policy refuses ")), "{stderr}");
    assert!(left.iter().any(|l| l.starts_with("not translated: services.job:") && l.contains("spec.gpus")), "{stderr}");
    // The loader (no host policy) takes the output as it is.
    let loaded = moor::manifest::load::load_paths(&[dir.join("manifests")]);
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    let app = &loaded.desired.services["app"].container;
    let r = &app.resource;
    assert_eq!((r.cpu_quota, r.cpu_period, r.cpu_rt_runtime), (Some(50_000), Some(100_000), Some(950_000)));
    assert_eq!((r.mem_swappiness, r.memswap_limit), (Some(10), Some(128 << 20)));
    assert_eq!(
        (r.blkio.weight, r.blkio.weight_device[0].rate, r.blkio.device_write_iops[0].rate),
        (Some(300), 400, 30)
    );
    assert_eq!(r.blkio.device_read_bps[0].rate, 12 << 20);
    assert_eq!(r.storage_opt["size"], "1G");
    assert_eq!(r.device_cgroup_rules, ["c 1:3 mr"]);
    assert_eq!(r.uts.as_deref(), Some("host"));
    assert_eq!(r.gpus[0].device_ids, ["0"]);
    assert_eq!(app.host.devices.len(), 2);
    assert_eq!(r.annotations["com.example/a"], "b");
    assert_eq!(r.mac_address.as_deref(), Some("02:42:ac:11:00:02"));
    assert_eq!(app.healthcheck.as_ref().unwrap().start_interval, Some(std::time::Duration::from_secs(2)));
    let job = &loaded.desired.services["job"].container.resource.gpus[0];
    assert_eq!((job.driver.as_deref(), job.count), (Some("nvidia"), Some(-1)));
    assert_eq!(job.capabilities, ["gpu", "compute"]);
    assert_eq!(job.options["x"], "y");
}

/// This daemon negotiates API 1.41: the fields of newer APIs refuse their service at the field,
/// which is left as it runs; a dependant waits and says why.
#[tokio::test]
async fn fields_of_a_newer_api_refuse_the_service_which_is_left_as_it_runs() {
    image().await;
    let env = TestEnv::new("compose-api");
    let docker = docker().await;
    let (app, web) = (env.name("app"), env.name("web"));
    env.write("app.yaml", &service(&app, ""));
    expect_code(env.moor(&["apply", path(&env)]), 0);
    let id = docker.inspect_container(&env.container(&app), None).await.unwrap().id.unwrap();

    let fields = "  healthcheck: { test: \"true\", startInterval: 1s }\n  annotations: { a: b }\n  macAddress: \"02:42:ac:11:00:02\"\n";
    let file = env.write("app.yaml", &service(&app, fields));
    env.write("web.yaml", &service(&web, &format!("  dependsOn: [{app}]\n")));
    let out = env.moor(&["apply", path(&env)]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = expect_code(out, 1);
    for line in [
        format!(
            "{}:10:47: spec.healthcheck.startInterval: needs Docker API 1.44 or later, and this daemon speaks 1.41",
            file.display()
        ),
        format!(
            "{}:11:16: spec.annotations: needs Docker API 1.43 or later, and this daemon speaks 1.41",
            file.display()
        ),
        format!(
            "{}:12:15: spec.macAddress: needs Docker API 1.44 or later, and this daemon speaks 1.41",
            file.display()
        ),
    ] {
        assert!(stdout.contains(&line), "{line}\nin\n{stdout}");
    }
    // Left as it runs: the same container, still running.
    let info = docker.inspect_container(&env.container(&app), None).await.unwrap();
    assert_eq!((info.id.unwrap(), info.state.unwrap().running), (id, Some(true)));
    assert!(stdout.contains(&format!("{app}: refused for the daemon's Docker API, left as it is")), "{stdout}");
    assert!(stdout.contains("1 service(s) failed, 1 refused for the daemon's Docker API"), "{stdout}");
    // The dependant is not started, and says why.
    let why = format!("{web}: FAILED: dependency \"{app}\" is refused: a field of it needs a newer Docker API");
    assert!(stdout.contains(&why), "{why}\nin\n{stdout}");
    assert!(stderr.contains(&format!("{web}: failed")), "{stderr}");
    assert!(
        docker.inspect_container(&env.container(&web), None).await.is_err(),
        "a dependant of a refused service was created"
    );
}
