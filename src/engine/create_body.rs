//! Translates a [`CreateRequest`] into Docker's create body. Pure, so it is unit-tested without
//! a daemon.
//!
//! Invariant: every field of [`ContainerSpec`](crate::manifest::ContainerSpec) reaches the body; a field that did not would make
//! the spec hash promise something the container does not have.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, DeviceMapping, DeviceRequest, EndpointIpamConfig, EndpointSettings, HealthConfig, HostConfig,
    HostConfigCgroupnsModeEnum, HostConfigLogConfig, Mount as DockerMount, MountBindOptions,
    MountBindOptionsPropagationEnum, MountTmpfsOptions, MountType, MountVolumeOptions, NetworkingConfig,
    PortBinding as DockerPortBinding, ResourcesBlkioWeightDevice, ResourcesUlimits, RestartPolicy,
    RestartPolicyNameEnum, ThrottleDevice,
};

use super::CreateRequest;
use crate::manifest::model::{Mount, Protocol, Restart};
use crate::manifest::model_resources::{DeviceRate, ResourceOptions};
use crate::manifest::ContainerSpec;
use bollard::query_parameters::CreateContainerOptions;

fn nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn some_vec(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

fn protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// The body for `POST /containers/create`. Only the first network is joined here: API 1.41
/// accepts one endpoint at create, so the others are connected before start.
pub fn create_body(req: &CreateRequest) -> ContainerCreateBody {
    let spec = &req.spec;
    let mut port_bindings: HashMap<String, Option<Vec<DockerPortBinding>>> = HashMap::new();
    for p in &spec.ports {
        let key = format!("{}/{}", p.container, protocol(p.protocol));
        let binding = DockerPortBinding {
            host_ip: p.host_ip.clone(),
            host_port: Some(p.host.map(|h| h.to_string()).unwrap_or_default()),
        };
        port_bindings.entry(key).or_default().get_or_insert_with(Vec::new).push(binding);
    }
    let host = &spec.host;
    let mut exposed: Vec<String> = port_bindings.keys().cloned().chain(host.expose.iter().cloned()).collect();
    exposed.sort();
    exposed.dedup();

    // A bind that asks for SELinux relabelling or for its host path to be created goes in
    // `Binds`: Docker's Mounts API has no field for the first and refuses a missing source.
    let (binds, mounts): (Vec<&Mount>, Vec<&Mount>) = spec.mounts.iter().partition(
        |m| matches!(m, Mount::Bind { selinux, create_host_path, .. } if selinux.is_some() || *create_host_path),
    );
    let binds: Vec<String> = binds.into_iter().filter_map(bind_text).collect();
    let mounts = mounts
        .into_iter()
        .map(docker_mount)
        .chain(spec.files.iter().filter_map(|f| {
            // `Provided::covers` is checked before any create: a missing source cannot get here.
            let source = req.provided.files.get(&f.target)?;
            Some(DockerMount {
                typ: Some(MountType::BIND),
                source: Some(source.display().to_string()),
                target: Some(f.target.clone()),
                read_only: Some(true),
                ..Default::default()
            })
        }))
        .collect();

    let restart_policy = match spec.restart {
        Restart::No => RestartPolicy { name: Some(RestartPolicyNameEnum::NO), maximum_retry_count: None },
        Restart::Always => RestartPolicy { name: Some(RestartPolicyNameEnum::ALWAYS), maximum_retry_count: None },
        Restart::UnlessStopped => {
            RestartPolicy { name: Some(RestartPolicyNameEnum::UNLESS_STOPPED), maximum_retry_count: None }
        }
        Restart::OnFailure(n) => {
            RestartPolicy { name: Some(RestartPolicyNameEnum::ON_FAILURE), maximum_retry_count: n.map(i64::from) }
        }
    };

    let healthcheck = spec.healthcheck.as_ref().map(|h| HealthConfig {
        test: Some(h.test.clone()),
        interval: h.interval.map(nanos),
        timeout: h.timeout.map(nanos),
        retries: h.retries.map(i64::from),
        start_period: h.start_period.map(nanos),
        start_interval: h.start_interval.map(nanos),
    });

    let first_network = spec.networks.first();
    let networking_config = first_network.map(|n| NetworkingConfig {
        endpoints_config: Some(HashMap::from([(n.clone(), endpoint(&req.service, spec, n))])),
    });
    // Without networks the container joins Docker's default bridge: a MAC address goes on that
    // endpoint (bollard 0.21's body has no container-level MacAddress; API 1.44 reads it there).
    let networking_config = networking_config.or_else(|| {
        spec.resource.mac_address.as_ref().map(|mac| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                "bridge".to_string(),
                EndpointSettings { mac_address: Some(mac.clone()), ..Default::default() },
            )])),
        })
    });

    ContainerCreateBody {
        image: Some(req.image.clone()),
        cmd: spec.command.clone(),
        entrypoint: spec.entrypoint.clone(),
        working_dir: spec.working_dir.clone(),
        user: spec.user.clone(),
        env: Some(
            spec.env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .chain(req.provided.env.iter().map(|(k, v)| format!("{k}={}", v.expose())))
                .collect(),
        ),
        labels: Some(req.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        hostname: host.hostname.clone(),
        domainname: host.domainname.clone(),
        // Unset stays unset, so a spec without them sends the body of the release before them.
        tty: host.tty.then_some(true),
        open_stdin: host.stdin_open.then_some(true),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        healthcheck,
        stop_signal: spec.stop_signal.clone(),
        stop_timeout: Some(i64::try_from(spec.stop_timeout.as_secs()).unwrap_or(i64::MAX)),
        host_config: Some(with_resources(
            &spec.resource,
            HostConfig {
                port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
                mounts: Some(mounts),
                restart_policy: Some(restart_policy),
                auto_remove: Some(spec.auto_remove),
                memory: spec.resources.memory.and_then(|m| i64::try_from(m).ok()),
                nano_cpus: spec.resources.cpus.map(|c| (c * 1e9).round() as i64),
                pids_limit: spec.resources.pids,
                // Validation keeps `networks` empty when a network mode is set.
                network_mode: host.network_mode.clone().or_else(|| first_network.cloned()),
                extra_hosts: some_vec(&host.extra_hosts),
                dns: some_vec(&host.dns),
                dns_search: some_vec(&host.dns_search),
                dns_options: some_vec(&host.dns_opt),
                init: host.init,
                readonly_rootfs: host.read_only.then_some(true),
                shm_size: host.shm_size.and_then(|s| i64::try_from(s).ok()),
                sysctls: (!host.sysctls.is_empty())
                    .then(|| host.sysctls.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
                ulimits: (!host.ulimits.is_empty()).then(|| {
                    host.ulimits
                        .iter()
                        .map(|(name, u)| ResourcesUlimits {
                            name: Some(name.clone()),
                            soft: Some(u.soft),
                            hard: Some(u.hard),
                        })
                        .collect()
                }),
                log_config: host.logging.as_ref().map(|l| HostConfigLogConfig {
                    typ: l.driver.clone(),
                    config: (!l.options.is_empty())
                        .then(|| l.options.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
                }),
                group_add: some_vec(&host.group_add),
                security_opt: some_vec(&host.security_opt),
                privileged: host.privileged.then_some(true),
                cap_add: some_vec(&host.cap_add),
                cap_drop: some_vec(&host.cap_drop),
                devices: (!host.devices.is_empty()).then(|| {
                    host.devices
                        .iter()
                        .map(|d| DeviceMapping {
                            path_on_host: Some(d.host.clone()),
                            path_in_container: Some(d.container.clone()),
                            cgroup_permissions: Some(d.permissions.clone()),
                        })
                        .collect()
                }),
                binds: (!binds.is_empty()).then_some(binds),
                volumes_from: some_vec(&host.volumes_from),
                pid_mode: host.pid.clone(),
                ipc_mode: host.ipc.clone(),
                memory_reservation: host.mem_reservation.and_then(|m| i64::try_from(m).ok()),
                cpu_shares: host.cpu_shares,
                cpuset_cpus: host.cpuset_cpus.clone(),
                cpuset_mems: host.cpuset_mems.clone(),
                oom_score_adj: host.oom_score_adj,
                oom_kill_disable: host.oom_kill_disable.then_some(true),
                userns_mode: host.userns.clone(),
                cgroupns_mode: host.cgroup.as_deref().map(cgroupns_mode),
                cgroup_parent: host.cgroup_parent.clone(),
                runtime: host.runtime.clone(),
                ..Default::default()
            },
        )),
        networking_config,
        ..Default::default()
    }
}

/// Adds the resource, device and namespace fields (`model_resources`) to `hc`; unset ones stay
/// unset, so a spec without them sends the body of the release before them.
fn with_resources(r: &ResourceOptions, mut hc: HostConfig) -> HostConfig {
    let throttle = |list: &[DeviceRate]| {
        (!list.is_empty())
            .then(|| list.iter().map(|d| ThrottleDevice { path: Some(d.path.clone()), rate: Some(d.rate) }).collect())
    };
    hc.cpu_quota = r.cpu_quota;
    hc.cpu_period = r.cpu_period;
    hc.cpu_realtime_period = r.cpu_rt_period;
    hc.cpu_realtime_runtime = r.cpu_rt_runtime;
    hc.memory_swappiness = r.mem_swappiness;
    hc.memory_swap = r.memswap_limit;
    hc.blkio_weight = r.blkio.weight;
    hc.blkio_weight_device = (!r.blkio.weight_device.is_empty()).then(|| {
        r.blkio
            .weight_device
            .iter()
            .map(|d| ResourcesBlkioWeightDevice { path: Some(d.path.clone()), weight: usize::try_from(d.rate).ok() })
            .collect()
    });
    hc.blkio_device_read_bps = throttle(&r.blkio.device_read_bps);
    hc.blkio_device_write_bps = throttle(&r.blkio.device_write_bps);
    hc.blkio_device_read_iops = throttle(&r.blkio.device_read_iops);
    hc.blkio_device_write_iops = throttle(&r.blkio.device_write_iops);
    hc.storage_opt =
        (!r.storage_opt.is_empty()).then(|| r.storage_opt.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    hc.device_cgroup_rules = some_vec(&r.device_cgroup_rules);
    hc.uts_mode = r.uts.clone();
    hc.annotations =
        (!r.annotations.is_empty()).then(|| r.annotations.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    hc.device_requests = (!r.gpus.is_empty()).then(|| {
        r.gpus
            .iter()
            .map(|g| DeviceRequest {
                driver: Some(g.driver.clone().unwrap_or_default()),
                count: g.count,
                device_ids: some_vec(&g.device_ids),
                // Docker's capabilities are an OR of ANDs; a request's list is one AND.
                capabilities: Some(vec![g.capabilities.clone()]),
                options: (!g.options.is_empty())
                    .then(|| g.options.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            })
            .collect()
    });
    hc
}

/// A mount in Docker's Mounts form.
fn docker_mount(m: &Mount) -> DockerMount {
    let volume_options =
        |nocopy: bool| nocopy.then(|| MountVolumeOptions { no_copy: Some(true), ..Default::default() });
    match m {
        Mount::Bind { source, target, read_only, propagation, .. } => DockerMount {
            typ: Some(MountType::BIND),
            source: Some(source.clone()),
            target: Some(target.clone()),
            read_only: Some(*read_only),
            bind_options: propagation
                .as_deref()
                .map(|p| MountBindOptions { propagation: Some(propagation_enum(p)), ..Default::default() }),
            ..Default::default()
        },
        Mount::Volume { source, target, read_only, nocopy } => DockerMount {
            typ: Some(MountType::VOLUME),
            source: Some(source.clone()),
            target: Some(target.clone()),
            read_only: Some(*read_only),
            volume_options: volume_options(*nocopy),
            ..Default::default()
        },
        // No source: Docker makes a volume with a random name for this container.
        Mount::Anonymous { target, read_only, nocopy } => DockerMount {
            typ: Some(MountType::VOLUME),
            target: Some(target.clone()),
            read_only: Some(*read_only),
            volume_options: volume_options(*nocopy),
            ..Default::default()
        },
        Mount::Tmpfs { target, size, mode } => DockerMount {
            typ: Some(MountType::TMPFS),
            target: Some(target.clone()),
            tmpfs_options: (size.is_some() || mode.is_some()).then(|| MountTmpfsOptions {
                size_bytes: size.and_then(|s| i64::try_from(s).ok()),
                mode: mode.map(i64::from),
                ..Default::default()
            }),
            ..Default::default()
        },
    }
}

/// A bind in Docker's `Binds` form, `source:target:ro,z,rslave`.
fn bind_text(m: &Mount) -> Option<String> {
    let Mount::Bind { source, target, read_only, propagation, selinux, .. } = m else { return None };
    let options: Vec<&str> = [Some(if *read_only { "ro" } else { "rw" }), selinux.as_deref(), propagation.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    Some(format!("{source}:{target}:{}", options.join(",")))
}

fn propagation_enum(p: &str) -> MountBindOptionsPropagationEnum {
    match p {
        "private" => MountBindOptionsPropagationEnum::PRIVATE,
        "shared" => MountBindOptionsPropagationEnum::SHARED,
        "rshared" => MountBindOptionsPropagationEnum::RSHARED,
        "slave" => MountBindOptionsPropagationEnum::SLAVE,
        "rslave" => MountBindOptionsPropagationEnum::RSLAVE,
        _ => MountBindOptionsPropagationEnum::RPRIVATE,
    }
}

/// The query of the create call: the container's name, and the platform of the image (a query
/// parameter, not part of the body; empty is the daemon's own).
pub fn create_options(req: &CreateRequest) -> CreateContainerOptions {
    let platform = req.spec.host.platform.clone().unwrap_or_default();
    CreateContainerOptions { name: Some(req.name.clone()), platform }
}

fn cgroupns_mode(mode: &str) -> HostConfigCgroupnsModeEnum {
    match mode {
        "host" => HostConfigCgroupnsModeEnum::HOST,
        _ => HostConfigCgroupnsModeEnum::PRIVATE,
    }
}

/// The endpoint of a service on a network: its name is a DNS alias there, as in compose, and
/// so are the aliases its spec gives that network; a static address is the endpoint's IPAM
/// config.
pub fn endpoint(service: &str, spec: &ContainerSpec, network: &str) -> EndpointSettings {
    let settings = spec.host.network_endpoints.get(network);
    let mut aliases = vec![service.to_string()];
    aliases.extend(settings.iter().flat_map(|s| s.aliases.iter().filter(|a| *a != service).cloned()));
    let ipam_config =
        settings.filter(|s| s.ipv4_address.is_some() || s.ipv6_address.is_some()).map(|s| EndpointIpamConfig {
            ipv4_address: s.ipv4_address.clone(),
            ipv6_address: s.ipv6_address.clone(),
            ..Default::default()
        });
    // The MAC address is the first network's (the one joined at create), as Docker's CLI gives it.
    let mac_address =
        spec.resource.mac_address.clone().filter(|_| spec.networks.first().map(String::as_str) == Some(network));
    EndpointSettings { aliases: Some(aliases), ipam_config, mac_address, ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn every_field_of_the_web_example_reaches_the_body() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/web.yaml");
        let loaded = crate::manifest::load_paths(&[path]);
        let web = &loaded.desired.services["web"];
        let req = CreateRequest {
            name: "web".into(),
            image: web.container.image.clone(),
            service: "web".into(),
            spec: web.container.clone(),
            labels: [("moor.instance".to_string(), "x".to_string())].into(),
            provided: Default::default(),
        };
        // Through a serde_json::Value, whose maps are sorted, so HashMap order cannot leak in.
        let body = serde_json::to_value(create_body(&req)).unwrap();
        insta::assert_json_snapshot!(body);
    }

    #[test]
    fn sealed_env_values_and_secret_files_reach_the_body() {
        use crate::manifest::model::{FileKind, FileMount};
        use crate::sensitive::Sensitive;
        let mut spec = crate::manifest::ContainerSpec::bare("app:1");
        spec.env.insert("LOG_LEVEL".into(), "info".into());
        spec.sealed_env.insert("DB_PASSWORD".into(), "hmac-sha256:00".into());
        spec.files.push(FileMount {
            target: "/run/secrets/db".into(),
            kind: FileKind::Secret,
            digest: "hmac-sha256:11".into(),
            uid: None,
            gid: None,
            mode: 0o400,
        });
        let mut provided = crate::engine::Provided::default();
        provided.env.insert("DB_PASSWORD".into(), Sensitive::new("hunter2".into()));
        provided.files.insert("/run/secrets/db".into(), "/var/lib/moor/x/secrets/app/f".into());
        assert!(provided.covers(&spec));
        let req = CreateRequest {
            name: "app".into(),
            image: "app:1".into(),
            service: "app".into(),
            spec: spec.clone(),
            labels: Default::default(),
            provided,
        };
        let body = create_body(&req);
        assert_eq!(body.env.unwrap(), vec!["LOG_LEVEL=info".to_string(), "DB_PASSWORD=hunter2".to_string()]);
        let mount = &body.host_config.unwrap().mounts.unwrap()[0];
        assert_eq!(mount.source.as_deref(), Some("/var/lib/moor/x/secrets/app/f"));
        assert_eq!(mount.target.as_deref(), Some("/run/secrets/db"));
        assert_eq!(mount.read_only, Some(true));
        assert!(!crate::engine::Provided::default().covers(&spec));
        assert!(!format!("{req:?}").contains("hunter2"));
    }

    #[test]
    fn the_compose_parity_fields_reach_the_body_and_unset_ones_stay_out() {
        use crate::manifest::model::{Logging, Ulimit};
        let request = |spec: crate::manifest::ContainerSpec| CreateRequest {
            name: "app".into(),
            image: "app:1".into(),
            service: "app".into(),
            spec,
            labels: Default::default(),
            provided: Default::default(),
        };
        let bare = serde_json::to_value(create_body(&request(crate::manifest::ContainerSpec::bare("app:1")))).unwrap();
        // No platform: the daemon's own (an empty query parameter, as before the field).
        assert_eq!(create_options(&request(crate::manifest::ContainerSpec::bare("app:1"))).platform, "");
        for key in ["Hostname", "Domainname", "Tty", "OpenStdin"] {
            assert!(bare.get(key).is_none(), "{key} in {bare}");
        }
        for key in [
            "ExtraHosts",
            "Dns",
            "Init",
            "ReadonlyRootfs",
            "ShmSize",
            "Sysctls",
            "Ulimits",
            "LogConfig",
            "GroupAdd",
            "SecurityOpt",
            "MemoryReservation",
            "CpuShares",
            "CpusetCpus",
            "CpusetMems",
            "OomScoreAdj",
            "OomKillDisable",
            "UsernsMode",
            "CgroupnsMode",
            "CgroupParent",
            "Runtime",
        ] {
            assert!(bare["HostConfig"].get(key).is_none(), "{key} in {bare}");
        }

        let mut spec = crate::manifest::ContainerSpec::bare("app:1");
        let h = &mut spec.host;
        h.hostname = Some("box".into());
        h.tty = true;
        h.stdin_open = true;
        h.read_only = true;
        h.init = Some(false);
        h.shm_size = Some(1 << 20);
        h.expose = vec!["53/udp".into()];
        h.dns = vec!["1.1.1.1".into()];
        h.privileged = true;
        h.cap_add = vec!["NET_ADMIN".into()];
        h.pid = Some("host".into());
        h.mem_reservation = Some(64 << 20);
        h.cpu_shares = Some(512);
        h.cpuset_cpus = Some("0-1".into());
        h.cpuset_mems = Some("0".into());
        h.oom_score_adj = Some(-5);
        h.oom_kill_disable = true;
        h.userns = Some("host".into());
        h.cgroup = Some("private".into());
        h.cgroup_parent = Some("/moor".into());
        h.network_mode = Some("container:db".into());
        h.runtime = Some("nvidia".into());
        h.platform = Some("linux/arm64".into());
        h.network_endpoints.insert(
            "shop".into(),
            crate::manifest::model::NetworkEndpoint {
                aliases: vec!["api".into(), "app".into()],
                ipv4_address: Some("10.5.0.5".into()),
                ipv6_address: None,
            },
        );
        h.devices.push(crate::manifest::model::Device {
            host: "/dev/fuse".into(),
            container: "/dev/f".into(),
            permissions: "rw".into(),
        });
        h.ulimits.insert("nofile".into(), Ulimit { soft: 1, hard: 2 });
        h.logging = Some(Logging { driver: Some("local".into()), options: [("max-size".into(), "1m".into())].into() });
        spec.ports.push(crate::manifest::model::PortBinding {
            container: 80,
            protocol: Protocol::Tcp,
            host: None,
            host_ip: None,
        });
        // The endpoint on a network: the service name first, the spec's aliases, the address.
        let shop = endpoint("app", &spec, "shop");
        assert_eq!(shop.aliases.unwrap(), ["app", "api"]);
        assert_eq!(shop.ipam_config.unwrap().ipv4_address.as_deref(), Some("10.5.0.5"));
        assert!(endpoint("app", &spec, "other").ipam_config.is_none());
        let options = create_options(&request(spec.clone()));
        assert_eq!((options.name.as_deref(), options.platform.as_str()), (Some("app"), "linux/arm64"));
        let body = create_body(&request(spec));
        assert_eq!(body.hostname.as_deref(), Some("box"));
        assert_eq!((body.tty, body.open_stdin), (Some(true), Some(true)));
        assert_eq!(body.exposed_ports.unwrap(), ["53/udp", "80/tcp"]);
        let hc = body.host_config.unwrap();
        assert_eq!((hc.readonly_rootfs, hc.init, hc.shm_size), (Some(true), Some(false), Some(1 << 20)));
        assert_eq!(hc.dns.unwrap(), ["1.1.1.1"]);
        assert_eq!((hc.privileged, hc.pid_mode.as_deref()), (Some(true), Some("host")));
        assert_eq!(hc.cap_add.unwrap(), ["NET_ADMIN"]);
        assert_eq!((hc.memory_reservation, hc.cpu_shares, hc.oom_score_adj), (Some(64 << 20), Some(512), Some(-5)));
        assert_eq!((hc.cpuset_cpus.as_deref(), hc.cpuset_mems.as_deref()), (Some("0-1"), Some("0")));
        assert_eq!((hc.oom_kill_disable, hc.userns_mode.as_deref()), (Some(true), Some("host")));
        assert_eq!(hc.cgroupns_mode, Some(HostConfigCgroupnsModeEnum::PRIVATE));
        assert_eq!(hc.cgroup_parent.as_deref(), Some("/moor"));
        assert_eq!(hc.network_mode.as_deref(), Some("container:db"));
        assert_eq!(hc.runtime.as_deref(), Some("nvidia"));
        let d = &hc.devices.unwrap()[0];
        assert_eq!(
            (d.path_on_host.as_deref(), d.path_in_container.as_deref(), d.cgroup_permissions.as_deref()),
            (Some("/dev/fuse"), Some("/dev/f"), Some("rw"))
        );
        let u = &hc.ulimits.unwrap()[0];
        assert_eq!((u.name.as_deref(), u.soft, u.hard), (Some("nofile"), Some(1), Some(2)));
        let log = hc.log_config.unwrap();
        assert_eq!(log.typ.as_deref(), Some("local"));
        assert_eq!(log.config.unwrap()["max-size"], "1m");
    }

    #[test]
    fn the_resource_fields_reach_the_body_and_unset_ones_stay_out() {
        use crate::manifest::model_resources::{DeviceRate, GpuRequest};
        let request = |spec: crate::manifest::ContainerSpec| CreateRequest {
            name: "app".into(),
            image: "app:1".into(),
            service: "app".into(),
            spec,
            labels: Default::default(),
            provided: Default::default(),
        };
        let bare = serde_json::to_value(create_body(&request(crate::manifest::ContainerSpec::bare("app:1")))).unwrap();
        for key in [
            "CpuQuota",
            "CpuPeriod",
            "CpuRealtimePeriod",
            "CpuRealtimeRuntime",
            "MemorySwappiness",
            "MemorySwap",
            "BlkioWeight",
            "BlkioWeightDevice",
            "BlkioDeviceReadBps",
            "BlkioDeviceWriteIOps",
            "StorageOpt",
            "DeviceCgroupRules",
            "UTSMode",
            "DeviceRequests",
        ] {
            assert!(bare["HostConfig"].get(key).is_none(), "{key} in {bare}");
        }

        let mut spec = crate::manifest::ContainerSpec::bare("app:1");
        let r = &mut spec.resource;
        (r.cpu_quota, r.cpu_period, r.cpu_rt_period, r.cpu_rt_runtime) =
            (Some(50_000), Some(100_000), Some(1_000_000), Some(950_000));
        (r.mem_swappiness, r.memswap_limit) = (Some(0), Some(-1));
        r.blkio.weight = Some(300);
        r.blkio.weight_device = vec![DeviceRate { path: "/dev/sda".into(), rate: 400 }];
        r.blkio.device_read_bps = vec![DeviceRate { path: "/dev/sda".into(), rate: 1 << 20 }];
        r.blkio.device_write_iops = vec![DeviceRate { path: "/dev/sdb".into(), rate: 50 }];
        r.storage_opt.insert("size".into(), "1G".into());
        r.device_cgroup_rules = vec!["c 1:3 mr".into()];
        r.uts = Some("host".into());
        r.gpus = vec![
            GpuRequest { count: Some(-1), capabilities: vec!["gpu".into()], ..Default::default() },
            GpuRequest {
                driver: Some("nvidia".into()),
                device_ids: vec!["0".into(), "1".into()],
                capabilities: vec!["gpu".into(), "utility".into()],
                options: [("k".to_string(), "v".to_string())].into(),
                ..Default::default()
            },
        ];
        let body = serde_json::to_value(create_body(&request(spec))).unwrap();
        let hc = &body["HostConfig"];
        let want = serde_json::json!({
            "CpuQuota": 50000, "CpuPeriod": 100000, "CpuRealtimePeriod": 1000000, "CpuRealtimeRuntime": 950000,
            "MemorySwappiness": 0, "MemorySwap": -1, "BlkioWeight": 300,
            "BlkioWeightDevice": [{"Path": "/dev/sda", "Weight": 400}],
            "BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1048576}],
            "BlkioDeviceWriteIOps": [{"Path": "/dev/sdb", "Rate": 50}],
            "StorageOpt": {"size": "1G"}, "DeviceCgroupRules": ["c 1:3 mr"], "UTSMode": "host",
            "DeviceRequests": [
                {"Driver": "", "Count": -1, "Capabilities": [["gpu"]]},
                {"Driver": "nvidia", "DeviceIDs": ["0", "1"], "Capabilities": [["gpu", "utility"]], "Options": {"k": "v"}},
            ],
        });
        for (key, value) in want.as_object().unwrap() {
            assert_eq!(&hc[key], value, "{key} in {hc}");
        }
    }

    #[test]
    fn the_fields_of_newer_apis_reach_the_body() {
        let request = |spec: crate::manifest::ContainerSpec| CreateRequest {
            name: "app".into(),
            image: "app:1".into(),
            service: "app".into(),
            spec,
            labels: Default::default(),
            provided: Default::default(),
        };
        let mut spec = crate::manifest::ContainerSpec::bare("app:1");
        spec.healthcheck = Some(crate::manifest::model::Healthcheck {
            test: vec!["CMD-SHELL".into(), "true".into()],
            interval: None,
            timeout: None,
            retries: None,
            start_period: None,
            start_interval: Some(std::time::Duration::from_millis(500)),
        });
        spec.resource.annotations.insert("com.example/a".into(), "b".into());
        spec.resource.mac_address = Some("02:42:ac:11:00:02".into());
        // Without networks, the MAC address is the default bridge's endpoint's.
        let body = serde_json::to_value(create_body(&request(spec.clone()))).unwrap();
        assert_eq!(body["Healthcheck"]["StartInterval"], 500_000_000);
        assert_eq!(body["HostConfig"]["Annotations"]["com.example/a"], "b");
        assert_eq!(body["NetworkingConfig"]["EndpointsConfig"]["bridge"]["MacAddress"], "02:42:ac:11:00:02");
        // With networks, the first one's: the one joined at create.
        spec.networks = vec!["front".into(), "back".into()];
        let body = serde_json::to_value(create_body(&request(spec.clone()))).unwrap();
        assert_eq!(body["NetworkingConfig"]["EndpointsConfig"]["front"]["MacAddress"], "02:42:ac:11:00:02");
        assert!(endpoint("app", &spec, "back").mac_address.is_none());
        let bare = serde_json::to_value(create_body(&request(crate::manifest::ContainerSpec::bare("app:1")))).unwrap();
        assert!(bare.get("NetworkingConfig").is_none() && bare["HostConfig"].get("Annotations").is_none(), "{bare}");
    }

    #[test]
    fn mount_options_reach_the_body_and_relabelled_binds_go_in_binds() {
        let mut spec = crate::manifest::ContainerSpec::bare("app:1");
        let bind = |target: &str, selinux: Option<&str>, create_host_path| Mount::Bind {
            source: "/srv/x".into(),
            target: target.into(),
            read_only: true,
            propagation: Some("rslave".into()),
            selinux: selinux.map(str::to_string),
            create_host_path,
        };
        spec.mounts = vec![
            bind("/a", Some("Z"), false),
            bind("/b", None, true),
            bind("/c", None, false),
            Mount::Anonymous { target: "/d".into(), read_only: false, nocopy: true },
            Mount::Tmpfs { target: "/e".into(), size: None, mode: Some(0o1777) },
        ];
        spec.host.volumes_from = vec!["db-1:ro".into()];
        let req = CreateRequest {
            name: "app".into(),
            image: "app:1".into(),
            service: "app".into(),
            spec,
            labels: Default::default(),
            provided: Default::default(),
        };
        let hc = create_body(&req).host_config.unwrap();
        assert_eq!(hc.binds.unwrap(), ["/srv/x:/a:ro,Z,rslave", "/srv/x:/b:ro,rslave"]);
        assert_eq!(hc.volumes_from.unwrap(), ["db-1:ro"]);
        let mounts = hc.mounts.unwrap();
        assert_eq!(mounts.len(), 3);
        let propagation = mounts[0].bind_options.as_ref().and_then(|b| b.propagation);
        assert_eq!(propagation, Some(MountBindOptionsPropagationEnum::RSLAVE));
        assert_eq!((mounts[1].source.as_deref(), mounts[1].typ), (None, Some(MountType::VOLUME)));
        assert_eq!(mounts[1].volume_options.as_ref().and_then(|v| v.no_copy), Some(true));
        assert_eq!(mounts[2].tmpfs_options.as_ref().and_then(|t| t.mode), Some(0o1777));
        assert_eq!(mounts[2].tmpfs_options.as_ref().and_then(|t| t.size_bytes), None);
    }
}
