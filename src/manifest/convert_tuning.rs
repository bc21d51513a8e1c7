//! The conversion of a Service's resource tuning and namespace fields (issue 13): memory
//! reservation, CPU shares and sets, the OOM settings, the user and cgroup namespaces, and the
//! network mode, into [`HostOptions`]. As in [`super::convert_host`], each rule is one Docker
//! would enforce at create time (a 400 with a Go error), moved to load time so that it is located
//! and explained. What only the host can tell (whether the CPUs of a cpuset exist) is left to the
//! daemon.

use super::convert::{size_bytes, Checker};
use super::limits::MIN_MEMORY;
use super::model::{HostOptions, NetworkEndpoint};
use super::problem::FieldPath;
use super::raw;

/// The kernel's bounds of a cgroup v1 `cpu.shares`; Docker clamps outside them with a warning.
const CPU_SHARES: std::ops::RangeInclusive<i64> = 2..=262_144;

/// A cpuset list as the kernel takes it: `0-3,5`, each range ascending.
fn cpuset(text: &str, field: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.split(',').all(|part| {
            let (first, last) = part.split_once('-').unwrap_or((part, part));
            let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u32>().is_ok();
            number(first) && number(last) && first.parse::<u32>().ok() <= last.parse::<u32>().ok()
        });
    if ok {
        Ok(text.to_string())
    } else {
        Err(format!("{text:?} is not a {field} list: write numbers and ascending ranges, such as 0-3,5"))
    }
}

/// Converts the tuning fields of `spec` (at `sp`) into `host`; `memory` is the converted
/// `resources.memory`, which a reservation may not exceed.
pub(super) fn convert_tuning(
    spec: &raw::ServiceSpec,
    sp: &FieldPath,
    memory: Option<u64>,
    host: &mut HostOptions,
    c: &mut Checker,
) {
    host.mem_reservation = spec.mem_reservation.as_ref().and_then(|s| {
        let bytes = size_bytes(s).and_then(|b| match (b, memory) {
            (b, _) if b < MIN_MEMORY => Err(format!("{b} bytes is less than Docker's minimum memory reservation, 6Mi")),
            (b, Some(limit)) if b > limit => Err(format!(
                "a reservation of {b} bytes is above resources.memory ({limit} bytes): Docker refuses a limit below the reservation"
            )),
            (b, _) => Ok(b),
        });
        c.check(sp.key("memReservation"), bytes)
    });
    host.cpu_shares = spec.cpu_shares.and_then(|n| {
        let shares = if CPU_SHARES.contains(&n) {
            Ok(n)
        } else {
            Err(format!(
                "{n} is outside the kernel's 2 to 262144 (Docker would change it with a warning); the default weight is 1024"
            ))
        };
        c.check(sp.key("cpuShares"), shares)
    });
    host.cpuset_cpus = spec.cpuset_cpus.as_ref().and_then(|t| c.check(sp.key("cpusetCpus"), cpuset(t, "CPU")));
    host.cpuset_mems = spec.cpuset_mems.as_ref().and_then(|t| c.check(sp.key("cpusetMems"), cpuset(t, "memory node")));
    host.oom_score_adj = spec.oom_score_adj.and_then(|n| {
        let adj = if (-1000..=1000).contains(&n) {
            Ok(n)
        } else {
            Err(format!("{n} is outside -1000 to 1000, the range of the kernel's oom_score_adj"))
        };
        c.check(sp.key("oomScoreAdj"), adj)
    });
    host.oom_kill_disable = spec.oom_kill_disable.unwrap_or(false);
    if let Some(userns) = &spec.userns {
        match userns.as_str() {
            "host" => host.userns = Some(userns.clone()),
            _ => c.report(
                sp.key("userns"),
                format!(
                    "userns: {userns:?} is not supported; Docker takes only host, or leave it out for the daemon's"
                ),
            ),
        }
    }
    if let Some(cgroup) = &spec.cgroup {
        match cgroup.as_str() {
            "host" | "private" => host.cgroup = Some(cgroup.clone()),
            _ => c.report(
                sp.key("cgroup"),
                format!("cgroup: {cgroup:?} is not a cgroup namespace mode; use private or host"),
            ),
        }
    }
    if let raw::Networks::Map(map) = &spec.networks {
        for (name, attachment) in map {
            let Some(a) = attachment else { continue };
            let endpoint = network_endpoint(name, a, &sp.key("networks").key(name), c);
            if endpoint != NetworkEndpoint::default() {
                host.network_endpoints.insert(name.clone(), endpoint);
            }
        }
    }
    host.network_mode =
        spec.network_mode.as_deref().and_then(|m| c.check(sp.key("networkMode"), network_mode(spec, m)));
    if let Some(runtime) = &spec.runtime {
        // Which runtimes exist is the daemon's configuration: only the form is checked here.
        if runtime.is_empty() || runtime.contains(char::is_whitespace) {
            c.report(sp.key("runtime"), format!("{runtime:?} is not a runtime name such as runc"));
        } else {
            host.runtime = Some(runtime.clone());
        }
    }
    host.platform = spec.platform.as_ref().and_then(|p| c.check(sp.key("platform"), platform(p)));
    if let Some(parent) = &spec.cgroup_parent {
        if parent.trim().is_empty() || parent.contains(char::is_whitespace) {
            c.report(sp.key("cgroupParent"), format!("{parent:?} is not a cgroup path; leave it out for the daemon's"));
        } else {
            host.cgroup_parent = Some(parent.clone());
        }
    }
}

/// The conflicts Docker refuses (or settings it drops) with a network namespace that is not the
/// container's own; `mode` is as written.
fn network_mode(spec: &raw::ServiceSpec, mode: &str) -> Result<String, String> {
    let joined = match mode.split_once(':') {
        None if mode == "none" || mode == "host" => None,
        Some((kind @ ("container" | "service"), name)) if !name.is_empty() && !name.contains(char::is_whitespace) => {
            Some(kind)
        }
        _ => {
            return Err(format!(
                "networkMode: {mode:?} is not supported; use none, host, container:NAME or service:NAME"
            ))
        }
    };
    if !spec.networks.is_empty() {
        return Err(format!(
            "networkMode {mode} and networks cannot both be set: a container outside a network namespace of its own joins no networks (Docker refuses to connect it)"
        ));
    }
    if !spec.ports.is_empty() {
        let why = match joined {
            Some(_) => "the ports are the other container's, publish them there (Docker refuses them)",
            None if mode == "host" => "the container listens on the host's ports directly (Docker drops them)",
            None => "the container has no network to publish from (Docker drops them)",
        };
        return Err(format!("networkMode {mode} has no ports of its own: {why}; remove ports"));
    }
    if let Some(kind) = joined {
        // Docker's validateNetContainerMode: the other container owns these.
        let owned = [
            ("hostname", spec.hostname.is_some()),
            ("dns", spec.dns.is_some()),
            ("extraHosts", spec.extra_hosts.is_some()),
            ("expose", !spec.expose.is_empty()),
        ];
        if let Some((field, _)) = owned.iter().find(|(_, set)| *set) {
            return Err(format!(
                "networkMode {kind}:... shares the other container's network, hostname and resolver; set {field} there (Docker refuses it here)"
            ));
        }
    }
    Ok(mode.to_string())
}

/// `os[/arch[/variant]]` (containerd's platform specifier), lower-cased as Docker normalises it.
fn platform(text: &str) -> Result<String, String> {
    let lower = text.to_ascii_lowercase();
    let parts: Vec<&str> = lower.split('/').collect();
    let word = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if parts.len() <= 3 && parts.iter().all(word) {
        Ok(lower)
    } else {
        Err(format!("{text:?} is not a platform: write os[/arch[/variant]], such as linux/arm64 or linux/arm/v7"))
    }
}

/// Docker's own networks, where a service can have no aliases or static addresses.
const PREDEFINED_NETWORKS: &[&str] = &["bridge", "host", "none"];

fn network_endpoint(network: &str, a: &raw::NetworkAttachment, path: &FieldPath, c: &mut Checker) -> NetworkEndpoint {
    let set = !a.aliases.is_empty() || a.ipv4_address.is_some() || a.ipv6_address.is_some();
    if set && PREDEFINED_NETWORKS.contains(&network) {
        c.report(
            path.clone(),
            format!("Docker's {network} network takes no aliases or static addresses (only user-defined networks do)"),
        );
    }
    let mut aliases = a.aliases.clone();
    for (i, alias) in aliases.iter().enumerate() {
        if alias.is_empty() || alias.contains(char::is_whitespace) {
            c.report(path.key("aliases").index(i), format!("{alias:?} is not a DNS name"));
        }
    }
    aliases.sort();
    aliases.dedup();
    let address = |text: &Option<String>, field: &str, v4: bool, c: &mut Checker| {
        let text = text.as_ref()?;
        let ok =
            if v4 { text.parse::<std::net::Ipv4Addr>().is_ok() } else { text.parse::<std::net::Ipv6Addr>().is_ok() };
        let family = if v4 { "IPv4" } else { "IPv6" };
        let result =
            if ok { Ok(text.clone()) } else { Err(format!("{text:?} is not an {family} address (no prefix length)")) };
        c.check(path.key(field), result)
    };
    NetworkEndpoint {
        aliases,
        ipv4_address: address(&a.ipv4_address, "ipv4Address", true, c),
        ipv6_address: address(&a.ipv6_address, "ipv6Address", false, c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpusets_are_ascending_number_lists() {
        for good in ["0", "0-3", "0,2", "0-1,3-5"] {
            assert_eq!(cpuset(good, "CPU").as_deref(), Ok(good));
        }
        for bad in ["", "a", "3-1", "0,", "-1", "0--2", " 0", "1.5"] {
            assert!(cpuset(bad, "CPU").unwrap_err().contains("ascending ranges"), "{bad:?} accepted");
        }
    }

    fn service(spec: &str) -> String {
        format!("apiVersion: moor/v1\nkind: Service\nmetadata: {{ name: app }}\nspec:\n  image: busybox\n{spec}")
    }

    /// `line:column: field: message` of every problem, in order.
    fn problems(spec: &str) -> Vec<String> {
        let loaded = crate::manifest::load_str(std::path::Path::new("/m/s.yaml"), &service(spec));
        let p = loaded.problems.iter();
        p.map(|p| format!("{}:{}: {}: {}", p.line.unwrap_or(0), p.column.unwrap_or(0), p.field, p.message)).collect()
    }

    #[test]
    fn each_field_converts_and_a_spec_without_them_keeps_its_json() {
        let yaml = service(
            "  memReservation: 64Mi\n  resources: { memory: 128Mi }\n  cpuShares: 512\n  cpusetCpus: \"0-1\"\n  cpusetMems: \"0\"\n  oomScoreAdj: -500\n  oomKillDisable: true\n  userns: host\n  cgroup: private\n  cgroupParent: /moor\n",
        );
        let loaded = crate::manifest::load_str(std::path::Path::new("/m/s.yaml"), &yaml);
        assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
        let spec = loaded.desired.services.into_values().next().unwrap().container;
        let h = &spec.host;
        assert_eq!((h.mem_reservation, h.cpu_shares, h.oom_score_adj), (Some(64 << 20), Some(512), Some(-500)));
        assert_eq!((h.cpuset_cpus.as_deref(), h.cpuset_mems.as_deref()), (Some("0-1"), Some("0")));
        assert!(h.oom_kill_disable);
        assert_eq!((h.userns.as_deref(), h.cgroup.as_deref()), (Some("host"), Some("private")));
        assert_eq!(h.cgroup_parent.as_deref(), Some("/moor"));
        // The label reads back what was asked for.
        let label = crate::spec_hash::last_applied_label(&spec);
        assert_eq!(crate::spec_hash::parse_last_applied(&label), Some(spec));

        let plain = crate::manifest::load_str(std::path::Path::new("/m/s.yaml"), &service(""));
        let json = plain.desired.services.into_values().next().unwrap().container.canonical_json();
        for key in ["memReservation", "cpuShares", "cpusetCpus", "oomScoreAdj", "oomKillDisable", "userns", "cgroup"] {
            assert!(!json.contains(&format!("\"{key}")), "{key} in {json}");
        }
    }

    #[test]
    fn docker_rules_are_located_and_explained() {
        let got = problems(
            "  memReservation: 256Mi\n  resources: { memory: 128Mi }\n  cpuShares: 1\n  cpusetCpus: \"3-1\"\n  cpusetMems: x\n  oomScoreAdj: 1001\n  userns: private\n  cgroup: shared\n  cgroupParent: \"\"\n",
        );
        let want = [
            "6:19: spec.memReservation: a reservation of 268435456 bytes is above resources.memory (134217728 bytes)",
            "8:14: spec.cpuShares: 1 is outside the kernel's 2 to 262144",
            "9:15: spec.cpusetCpus: \"3-1\" is not a CPU list",
            "10:15: spec.cpusetMems: \"x\" is not a memory node list",
            "11:16: spec.oomScoreAdj: 1001 is outside -1000 to 1000",
            "12:11: spec.userns: userns: \"private\" is not supported; Docker takes only host",
            "13:11: spec.cgroup: cgroup: \"shared\" is not a cgroup namespace mode",
            "14:17: spec.cgroupParent: \"\" is not a cgroup path",
        ];
        assert_eq!(got.len(), want.len(), "{got:#?}");
        for (g, w) in got.iter().zip(want) {
            assert!(g.starts_with(w), "{g}\nwanted {w}\nall: {got:#?}");
        }
        assert!(problems("  memReservation: 1Mi\n")[0].contains("minimum memory reservation, 6Mi"));
    }

    #[test]
    fn network_modes_convert_and_the_conflicts_docker_refuses_are_located() {
        let two =
            "apiVersion: moor/v1\nkind: Service\nmetadata: { name: db, }\nspec: { image: busybox, replicas: 2 }\n---\n";
        let yaml = format!("{two}{}", service("  networkMode: service:db\n"));
        let loaded = crate::manifest::load_str(std::path::Path::new("/m/s.yaml"), &yaml);
        assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
        let app = &loaded.desired.services["app"];
        // The first replica's container, started first.
        assert_eq!(app.container.host.network_mode.as_deref(), Some("service:db"), "resolved per instance at create");
        assert_eq!(app.depends_on["db"], crate::manifest::raw::DependCondition::Started);
        // The resolved spec is what its canonical JSON (the spec hash) says.
        assert_eq!(app.canonical, app.container.canonical_json());
        for mode in ["none", "host", "container:other"] {
            let loaded = crate::manifest::load_str(
                std::path::Path::new("/m/s.yaml"),
                &service(&format!("  networkMode: \"{mode}\"\n")),
            );
            let app = &loaded.desired.services["app"];
            assert_eq!(app.container.host.network_mode.as_deref(), Some(mode));
            assert!(app.depends_on.is_empty());
        }

        let cases = [
            ("  networkMode: bridge\n", "6:16: spec.networkMode: networkMode: \"bridge\" is not supported"),
            ("  networkMode: \"service:\"\n", "6:16: spec.networkMode: networkMode: \"service:\" is not supported"),
            ("  networkMode: none\n  networks: [shop]\n", "6:16: spec.networkMode: networkMode none and networks cannot both be set"),
            ("  networkMode: host\n  ports: [\"80:80\"]\n", "6:16: spec.networkMode: networkMode host has no ports of its own: the container listens on the host's ports directly"),
            ("  networkMode: container:db\n  ports: [\"80\"]\n", "6:16: spec.networkMode: networkMode container:db has no ports of its own: the ports are the other container's"),
            ("  networkMode: container:db\n  hostname: x\n", "6:16: spec.networkMode: networkMode container:... shares the other container's network, hostname and resolver; set hostname there"),
            ("  networkMode: service:db\n  expose: [80]\n", "6:16: spec.networkMode: networkMode service:... shares"),
            ("  networkMode: service:nothing\n", "6:16: spec.networkMode: networkMode names service \"nothing\", which no Service manifest declares"),
            ("  networkMode: service:app\n", "6:16: spec.networkMode: service \"app\" cannot join its own network namespace"),
        ];
        for (spec, want) in cases {
            let got = problems(spec);
            assert!(got.len() == 1 && got[0].starts_with(want), "{spec}\nwanted {want}\ngot {got:#?}");
        }
    }

    #[test]
    fn the_long_form_of_networks_converts_and_the_list_form_keeps_its_json() {
        let spec_of = |networks: &str| {
            let loaded = crate::manifest::load_str(std::path::Path::new("/m/s.yaml"), &service(networks));
            assert!(loaded.problems.is_empty(), "{networks}\n{:#?}", loaded.problems);
            loaded.desired.services.into_values().next().unwrap().container
        };
        let list = spec_of("  networks: [shop, back]\n");
        for same in ["  networks: { shop: , back: }\n", "  networks: { shop: {}, back: { aliases: [] } }\n"] {
            assert_eq!(spec_of(same).canonical_json(), list.canonical_json(), "{same}");
        }
        let long = spec_of(
            "  networks:\n    shop: { aliases: [web, api, web], ipv4Address: 10.5.0.5, ipv6Address: \"fd00::5\" }\n    back:\n",
        );
        assert_eq!(long.networks, ["back", "shop"]);
        let shop = &long.host.network_endpoints["shop"];
        assert_eq!(shop.aliases, ["api", "web"]);
        assert_eq!((shop.ipv4_address.as_deref(), shop.ipv6_address.as_deref()), (Some("10.5.0.5"), Some("fd00::5")));
        assert!(!long.host.network_endpoints.contains_key("back"));
        let label = crate::spec_hash::last_applied_label(&long);
        assert_eq!(crate::spec_hash::parse_last_applied(&label), Some(long));

        let got = problems(
            "  networks:\n    bridge: { aliases: [x] }\n    shop: { aliases: [\"a b\"], ipv4Address: \"10.5.0.0/24\", ipv6Address: 10.5.0.5 }\n",
        );
        let want = [
            "7:13: spec.networks.bridge: Docker's bridge network takes no aliases or static addresses",
            "8:23: spec.networks.shop.aliases[0]: \"a b\" is not a DNS name",
            "8:44: spec.networks.shop.ipv4Address: \"10.5.0.0/24\" is not an IPv4 address",
            "8:72: spec.networks.shop.ipv6Address: \"10.5.0.5\" is not an IPv6 address",
        ];
        assert_eq!(got.len(), want.len(), "{got:#?}");
        for (g, w) in got.iter().zip(want) {
            assert!(g.starts_with(w), "{g}\nwanted {w}\nall: {got:#?}");
        }
        // A Network manifest without a subnet: Docker would refuse a static address on it.
        let net = "apiVersion: moor/v1\nkind: Network\nmetadata: { name: shop }\n---\n";
        let yaml = format!("{net}{}", service("  networks: { shop: { ipv4Address: 10.5.0.5 } }\n"));
        let loaded = crate::manifest::load_str(std::path::Path::new("/m/s.yaml"), &yaml);
        let messages: Vec<_> = loaded.problems.iter().map(|p| format!("{}: {}", p.field, p.message)).collect();
        assert_eq!(messages.len(), 1, "{messages:#?}");
        assert!(
            messages[0].starts_with("spec.networks.shop.ipv4Address: Network shop has no IPv4 subnet"),
            "{messages:#?}"
        );
        // With a pool: an address inside it is taken, one outside is refused.
        let net = "apiVersion: moor/v1\nkind: Network\nmetadata: { name: shop }\nspec: { ipam: { config: [{ subnet: 10.5.0.0/24 }] } }\n---\n";
        for (addr, ok) in [("10.5.0.5", true), ("10.6.0.5", false)] {
            let yaml = format!("{net}{}", service(&format!("  networks: {{ shop: {{ ipv4Address: {addr} }} }}\n")));
            let loaded = crate::manifest::load_str(std::path::Path::new("/m/s.yaml"), &yaml);
            let messages: Vec<_> = loaded.problems.iter().map(|p| format!("{}: {}", p.field, p.message)).collect();
            assert_eq!(messages.is_empty(), ok, "{addr}: {messages:#?}");
            if !ok {
                assert!(messages[0].contains("10.6.0.5 is outside every subnet of Network shop"), "{messages:#?}");
            }
        }
    }

    #[test]
    fn runtime_and_platform_are_checked_for_form_only() {
        let loaded = crate::manifest::load_str(
            std::path::Path::new("/m/s.yaml"),
            &service("  runtime: nvidia\n  platform: Linux/ARM64/v8\n"),
        );
        assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
        let h = loaded.desired.services.into_values().next().unwrap().container.host;
        assert_eq!((h.runtime.as_deref(), h.platform.as_deref()), (Some("nvidia"), Some("linux/arm64/v8")));
        let got = problems("  runtime: \"run c\"\n  platform: linux//amd64\n");
        assert_eq!(got.len(), 2, "{got:#?}");
        assert!(got[0].starts_with("6:12: spec.runtime: \"run c\" is not a runtime name"), "{got:#?}");
        assert!(got[1].starts_with("7:13: spec.platform: \"linux//amd64\" is not a platform"), "{got:#?}");
        for bad in ["", "a/b/c/d", "linux/amd 64"] {
            assert!(platform(bad).is_err(), "{bad:?} accepted");
        }
    }
}
