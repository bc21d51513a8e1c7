use super::*;
use crate::manifest::model_resources::{DeviceRate, GpuRequest};

fn service(spec: &str) -> String {
    format!("apiVersion: moor/v1\nkind: Service\nmetadata: {{ name: app }}\nspec:\n  image: busybox\n{spec}")
}

fn load(spec: &str) -> crate::manifest::load::Loaded {
    crate::manifest::load_str(std::path::Path::new("/m/s.yaml"), &service(spec))
}

/// `line:column: field: message` of every problem, in order.
fn problems(spec: &str) -> Vec<String> {
    let p = load(spec).problems;
    p.iter().map(|p| format!("{}:{}: {}: {}", p.line.unwrap_or(0), p.column.unwrap_or(0), p.field, p.message)).collect()
}

fn assert_problems(spec: &str, want: &[&str]) {
    let got = problems(spec);
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (g, w) in got.iter().zip(want) {
        assert!(g.starts_with(w), "{g}\nwanted {w}\nall: {got:#?}");
    }
}

#[test]
fn each_field_converts_and_a_spec_without_them_keeps_its_json() {
    let loaded = load(
        "  resources: { memory: 64Mi }
  cpuQuota: 50ms
  cpuPeriod: 100000
  cpuRtPeriod: \"1s\"
  cpuRtRuntime: 950000
  memSwappiness: 10
  memswapLimit: 128Mi
  blkioConfig:
    weight: 300
    weightDevice: [{ path: /dev/sda, weight: 400 }]
    deviceReadBps: [{ path: /dev/sda, rate: 10mb }]
    deviceWriteBps: [{ path: /dev/sda, rate: 1024 }]
    deviceReadIops: [{ path: /dev/sda, rate: 100 }]
    deviceWriteIops: [{ path: /dev/sdb, rate: 50 }]
  storageOpt: { size: 1G }
  deviceCgroupRules: [\"c 1:3  mr\", \"a *:* rwm\"]
  uts: host
  gpus: [{ driver: nvidia, count: 2, capabilities: [gpu, utility], options: { a: b } }, { deviceIds: [\"0\"] }]
  devices: [{ source: /dev/fuse }, { source: /dev/null, target: /dev/n, permissions: r }, /dev/zero]
",
    );
    assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
    let spec = loaded.desired.services.into_values().next().unwrap().container;
    let r = &spec.resource;
    assert_eq!((r.cpu_quota, r.cpu_period), (Some(50_000), Some(100_000)));
    assert_eq!((r.cpu_rt_period, r.cpu_rt_runtime), (Some(1_000_000), Some(950_000)));
    assert_eq!((r.mem_swappiness, r.memswap_limit), (Some(10), Some(128 << 20)));
    assert_eq!(r.blkio.weight, Some(300));
    assert_eq!(r.blkio.weight_device, [DeviceRate { path: "/dev/sda".into(), rate: 400 }]);
    assert_eq!(r.blkio.device_read_bps, [DeviceRate { path: "/dev/sda".into(), rate: 10 << 20 }]);
    assert_eq!(r.blkio.device_write_bps[0].rate, 1024);
    assert_eq!((r.blkio.device_read_iops[0].rate, r.blkio.device_write_iops[0].rate), (100, 50));
    assert_eq!(r.storage_opt["size"], "1G");
    assert_eq!(r.device_cgroup_rules, ["c 1:3 mr", "a *:* rwm"]);
    assert_eq!(r.uts.as_deref(), Some("host"));
    assert_eq!(
        r.gpus,
        [
            GpuRequest {
                driver: Some("nvidia".into()),
                count: Some(2),
                device_ids: vec![],
                capabilities: vec!["gpu".into(), "utility".into()],
                options: [("a".to_string(), "b".to_string())].into(),
            },
            GpuRequest { device_ids: vec!["0".into()], capabilities: vec!["gpu".into()], ..Default::default() },
        ]
    );
    let devices: Vec<_> =
        spec.host.devices.iter().map(|d| format!("{}:{}:{}", d.host, d.container, d.permissions)).collect();
    assert_eq!(devices, ["/dev/fuse:/dev/fuse:rwm", "/dev/null:/dev/n:r", "/dev/zero:/dev/zero:rwm"]);
    // The label reads back what was asked for.
    let label = crate::spec_hash::last_applied_label(&spec);
    assert_eq!(crate::spec_hash::parse_last_applied(&label), Some(spec));

    let plain = load("").desired.services.into_values().next().unwrap().container;
    assert_eq!(plain.resource, ResourceOptions::default());
    let json = plain.canonical_json();
    for key in ["cpu", "mem", "blkio", "storageOpt", "deviceCgroupRules", "uts", "gpus"] {
        assert!(!json.contains(&format!("\"{key}")), "{key} in {json}");
    }
}

#[test]
fn gpus_all_is_every_gpu_and_memswap_may_be_unlimited() {
    let loaded = load("  gpus: all\n  resources: { memory: 64Mi }\n  memswapLimit: -1\n  cpuQuota: \"25000\"\n");
    assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
    let r = loaded.desired.services.into_values().next().unwrap().container.resource;
    assert_eq!(r.gpus, [GpuRequest { count: Some(-1), capabilities: vec!["gpu".into()], ..Default::default() }]);
    assert_eq!((r.memswap_limit, r.cpu_quota), (Some(-1), Some(25_000)));
}

#[test]
fn docker_rules_are_located_and_explained() {
    assert_problems(
        "  resources: { memory: 128Mi, cpus: 0.5 }
  cpuQuota: 500
  cpuPeriod: 2s
  cpuRtPeriod: 100
  cpuRtRuntime: 200
  memSwappiness: 101
  memswapLimit: 64Mi
  uts: private
",
        &[
            "7:13: spec.cpuQuota: 500 is below 1000: Docker's CFS quota is at least 1ms",
            "8:14: spec.cpuPeriod: 2000000 is outside 1000 to 1000000",
            "10:17: spec.cpuRtRuntime: a real-time runtime of 200µs is above its period of 100µs",
            "11:18: spec.memSwappiness: 101 is outside 0 to 100",
            "12:17: spec.memswapLimit: 67108864 bytes is below resources.memory (134217728 bytes)",
            "13:8: spec.uts: uts: \"private\" is not supported",
        ],
    );
    assert_problems(
        "  resources: { cpus: 0.5 }\n  cpuQuota: 50ms\n  cpuPeriod: 100ms\n",
        &[
            "7:13: spec.cpuQuota: cpuQuota and resources.cpus cannot both be set",
            "8:14: spec.cpuPeriod: cpuPeriod and resources.cpus cannot both be set",
        ],
    );
    assert_problems(
        "  memswapLimit: 1g\n  hostname: h\n  uts: host\n",
        &[
            "6:17: spec.memswapLimit: memswapLimit needs resources.memory",
            "8:8: spec.uts: uts: host takes the host's hostname",
        ],
    );
}

#[test]
fn blkio_devices_rules_and_gpus_are_checked_at_their_entries() {
    assert_problems(
        "  blkioConfig:
    weight: 5
    weightDevice: [{ path: sda, weight: 2000 }]
    deviceReadBps: [{ path: /dev/sda, rate: fast }]
    deviceWriteIops: [{ path: /dev/sda, rate: 1k }]
  deviceCgroupRules: [\"c 1:3 mr\", \"x 1:3 r\", \"c 1 r\", \"c 1:3 rwx\"]
  storageOpt: { \" \": x }
",
        &[
            "7:13: spec.blkioConfig.weight: 5 is outside 10 to 1000",
            "8:28: spec.blkioConfig.weightDevice[0].path: \"sda\" is not a block device path",
            "8:41: spec.blkioConfig.weightDevice[0].weight: 2000 is outside 10 to 1000",
            "9:45: spec.blkioConfig.deviceReadBps[0].rate: invalid size \"fast\"",
            "10:47: spec.blkioConfig.deviceWriteIops[0].rate: \"1k\" is not a number of operations a second",
            "11:35: spec.deviceCgroupRules[1]: \"x 1:3 r\" is not a device cgroup rule",
            "11:46: spec.deviceCgroupRules[2]: \"c 1 r\" is not a device cgroup rule",
            "11:55: spec.deviceCgroupRules[3]: \"c 1:3 rwx\" is not a device cgroup rule",
            "12:17: spec.storageOpt. : \" \" is not a storage option name",
        ],
    );
    assert_problems(
        "  gpus: [{ count: 0 }, { count: 1, deviceIds: [\"0\"] }]\n  devices: [{ source: /dev/a, permissions: x }]\n",
        &[
            "6:10: spec.gpus[0]: count \"0\" is not a number of devices from 1, or all",
            "6:24: spec.gpus[1]: count and deviceIds cannot both be set",
            "7:13: spec.devices[0]: invalid device permissions \"x\"",
        ],
    );
    assert_problems("  gpus: some\n", &["6:9: spec.gpus: gpus: \"some\" is not supported"]);
}

#[test]
fn annotations_and_mac_addresses_convert_and_bad_ones_are_located() {
    let loaded = load(
        "  annotations: { com.example/a: b, n: 1 }\n  storageOpt: { size: 10 }\n  macAddress: 02-42-AC-11-00-02\n",
    );
    assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
    let r = loaded.desired.services.into_values().next().unwrap().container.resource;
    assert_eq!((r.annotations["com.example/a"].as_str(), r.annotations["n"].as_str()), ("b", "1"));
    // YAML numbers are taken as their text, as compose takes them.
    assert_eq!(r.storage_opt["size"], "10");
    assert_eq!(r.mac_address.as_deref(), Some("02:42:ac:11:00:02"));
    assert_problems(
        "  macAddress: 01:00:5e:00:00:01\n",
        &["6:15: spec.macAddress: \"01:00:5e:00:00:01\" is a multicast address"],
    );
    assert_problems("  macAddress: \"02:42\"\n", &["6:15: spec.macAddress: \"02:42\" is not a MAC address"]);
    assert_problems(
        "  macAddress: \"02:42:ac:11:00:02\"\n  networkMode: none\n",
        &["6:15: spec.macAddress: networkMode none has no network of its own"],
    );
}
