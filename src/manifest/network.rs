//! A Network manifest's address management (`spec.ipam`), `attachable` and `enableIpv6`, and the
//! conversion of a whole Network document.
//!
//! Invariants:
//! - Every address is parsed here, so Docker never sees a subnet it would refuse for its form:
//!   a gateway, an `ipRange` and each auxiliary address lie inside their pool's subnet, pools do
//!   not overlap, and an IPv6 pool needs `enableIpv6` (Docker API 1.41 refuses it otherwise).
//! - A network that already exists is never changed: Docker cannot change a network's
//!   addresses in place, and recreating one would disconnect every container on it. The plan
//!   creates a declared network only when it is missing (as compose does when the labels match).

use std::collections::BTreeMap;
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::model::{FieldProblem, Network, DEFAULTS};
use super::problem::FieldPath;
use super::raw;

/// `spec.ipam` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawIpam {
    /// IPAM driver (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// Address pools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<RawIpamPool>,
    /// IPAM driver options.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// One address pool of `spec.ipam.config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawIpamPool {
    /// The pool, in CIDR form: `172.28.0.0/16`, `fd00:28::/64`.
    pub subnet: String,
    /// The part of the subnet Docker hands out dynamically, in CIDR form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<String>,
    /// The gateway's address, inside the subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Addresses Docker must not hand out, by host name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aux_addresses: BTreeMap<String, String>,
}

/// Validated address management.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ipam {
    pub driver: String,
    pub pools: Vec<IpamPool>,
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IpamPool {
    pub subnet: Cidr,
    pub ip_range: Option<Cidr>,
    pub gateway: Option<IpAddr>,
    pub aux_addresses: BTreeMap<String, IpAddr>,
}

/// An address and a prefix length (`172.28.0.0/16`), parsed and compared by the `ipnet` crate;
/// written back as it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct Cidr(pub ipnet::IpNet);

impl From<Cidr> for String {
    fn from(c: Cidr) -> String {
        c.to_string()
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        text.parse::<ipnet::IpNet>()
            .map(Cidr)
            .map_err(|_| format!("{text:?} is not a subnet in CIDR form (`172.28.0.0/16`, `fd00:28::/64`)"))
    }

    pub fn addr(&self) -> IpAddr {
        self.0.addr()
    }

    pub fn prefix(&self) -> u8 {
        self.0.prefix_len()
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        self.0.contains(&addr)
    }

    fn overlaps(&self, other: &Cidr) -> bool {
        self.0.contains(&other.0.network()) || other.0.contains(&self.0.network())
    }
}

impl Ipam {
    /// Whether some pool of the address's family holds it: where Docker gives static addresses.
    pub fn holds(&self, addr: IpAddr) -> bool {
        self.pools.iter().any(|p| p.subnet.contains(addr))
    }

    /// Whether some pool is of the address's family (a static address outside every pool of
    /// its family is refused by Docker).
    pub fn has_family(&self, v4: bool) -> bool {
        self.pools.iter().any(|p| p.subnet.addr().is_ipv4() == v4)
    }
}

fn problem(path: FieldPath, message: String) -> FieldProblem {
    FieldProblem { path, on_key: false, message }
}

pub fn convert_network(doc: &raw::NetworkDoc) -> Result<Network, Vec<FieldProblem>> {
    let labels = super::model::metadata_labels(&doc.metadata)?;
    // Docker's own networks, and the name a service gives its instance's default network.
    if ["default", "bridge", "host", "none"].contains(&doc.metadata.name.as_str()) {
        let message = format!(
            "{:?} is taken: `bridge`, `host` and `none` are Docker's own networks, and a service's `networks: [default]` means its instance's default network",
            doc.metadata.name
        );
        return Err(vec![problem(FieldPath::parse("metadata.name"), message)]);
    }
    let spec = doc.spec.clone().unwrap_or(raw::NetworkSpec {
        driver: None,
        internal: None,
        options: BTreeMap::new(),
        attachable: None,
        enable_ipv6: None,
        ipam: None,
    });
    let enable_ipv6 = spec.enable_ipv6.unwrap_or(false);
    let ipam = match &spec.ipam {
        None => None,
        Some(raw) => Some(convert_ipam(raw, enable_ipv6)?),
    };
    Ok(Network {
        name: doc.metadata.name.clone(),
        source: None,
        labels,
        driver: spec.driver.unwrap_or_else(|| DEFAULTS.network_driver.to_string()),
        internal: spec.internal.unwrap_or(false),
        options: spec.options,
        attachable: spec.attachable.unwrap_or(false),
        enable_ipv6,
        ipam,
    })
}

fn convert_ipam(raw: &RawIpam, enable_ipv6: bool) -> Result<Ipam, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let mut pools: Vec<IpamPool> = Vec::new();
    for (i, pool) in raw.config.iter().enumerate() {
        let at = FieldPath::parse("spec.ipam.config").index(i);
        let subnet = match Cidr::parse(&pool.subnet) {
            Ok(s) => s,
            Err(m) => {
                problems.push(problem(at.key("subnet"), m));
                continue;
            }
        };
        if subnet.addr().is_ipv6() && !enable_ipv6 {
            problems.push(problem(
                at.key("subnet"),
                format!("{subnet} is an IPv6 subnet: set `spec.enableIpv6: true`, which Docker needs for it"),
            ));
        }
        if let Some(other) = pools.iter().find(|p| p.subnet.overlaps(&subnet)) {
            problems.push(problem(
                at.key("subnet"),
                format!("{subnet} overlaps {}, another pool of this network", other.subnet),
            ));
        }
        let outside = |what: &str, shown: &str| format!("{what} {shown} is outside the subnet {subnet}");
        let ip_range = match pool.ip_range.as_deref().map(Cidr::parse) {
            None => None,
            Some(Err(m)) => {
                problems.push(problem(at.key("ipRange"), m));
                None
            }
            Some(Ok(r)) if !(subnet.contains(r.addr()) && r.prefix() >= subnet.prefix()) => {
                problems.push(problem(at.key("ipRange"), outside("the range", &r.to_string())));
                None
            }
            Some(Ok(r)) => Some(r),
        };
        let mut address = |field: FieldPath, text: &str| -> Option<IpAddr> {
            match text.parse::<IpAddr>() {
                Err(_) => problems.push(problem(field, format!("{text:?} is not an IP address"))),
                Ok(a) if !subnet.contains(a) => problems.push(problem(field, outside("the address", text))),
                Ok(a) => return Some(a),
            }
            None
        };
        let gateway = pool.gateway.as_deref().and_then(|g| address(at.key("gateway"), g));
        let aux_addresses = pool
            .aux_addresses
            .iter()
            .filter_map(|(host, a)| address(at.key("auxAddresses").key(host), a).map(|a| (host.clone(), a)))
            .collect();
        pools.push(IpamPool { subnet, ip_range, gateway, aux_addresses });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Ipam {
        driver: raw.driver.clone().unwrap_or_else(|| "default".to_string()),
        pools,
        options: raw.options.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(spec: &str) -> Result<Network, Vec<String>> {
        let yaml = format!("apiVersion: moor/v1\nmetadata: {{ name: shop }}\nspec:\n{spec}");
        let doc: raw::NetworkDoc = serde_yaml::from_str(&yaml).unwrap();
        convert_network(&doc).map_err(|ps| ps.iter().map(|p| format!("{}: {}", p.path, p.message)).collect())
    }

    #[test]
    fn docker_s_own_names_and_default_are_taken() {
        for name in ["default", "bridge", "host", "none"] {
            let doc: raw::NetworkDoc =
                serde_yaml::from_str(&format!("apiVersion: moor/v1\nmetadata: {{ name: {name} }}\n")).unwrap();
            let errs = convert_network(&doc).unwrap_err();
            assert!(errs[0].message.contains("is taken"), "{name}: {}", errs[0].message);
        }
    }

    #[test]
    fn cidr_containment() {
        let net = Cidr::parse("172.28.0.0/16").unwrap();
        assert!(net.contains("172.28.5.1".parse().unwrap()));
        assert!(!net.contains("172.29.0.1".parse().unwrap()));
        assert!(!net.contains("fd00::1".parse().unwrap()));
        let v6 = Cidr::parse("fd00:28::/64").unwrap();
        assert!(v6.contains("fd00:28::5".parse().unwrap()));
        assert!(!v6.contains("fd00:29::5".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        for bad in ["172.28.0.0", "172.28.0.0/33", "x/8", "fd00::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn ipam_is_converted_and_checked() {
        let n = network(
            "  attachable: true\n  enableIpv6: true\n  ipam:\n    config:\n      - subnet: 172.28.0.0/16\n        ipRange: 172.28.5.0/24\n        gateway: 172.28.5.254\n        auxAddresses: { router: 172.28.1.5 }\n      - subnet: fd00:28::/64\n",
        )
        .unwrap();
        assert!(n.attachable && n.enable_ipv6);
        let ipam = n.ipam.unwrap();
        assert_eq!(ipam.driver, "default");
        assert_eq!(ipam.pools.len(), 2);
        assert!(ipam.holds("172.28.9.9".parse().unwrap()) && ipam.holds("fd00:28::9".parse().unwrap()));
        assert!(!ipam.holds("10.0.0.1".parse().unwrap()));

        let errs = network(
            "  ipam:\n    config:\n      - subnet: 172.28.0.0/16\n        ipRange: 10.0.0.0/24\n        gateway: 172.29.0.1\n        auxAddresses: { a: nope }\n      - subnet: 172.28.3.0/24\n      - subnet: fd00::/64\n      - subnet: 300.1.1.1/8\n",
        )
        .unwrap_err();
        let want = [
            "spec.ipam.config[0].ipRange: the range 10.0.0.0/24 is outside the subnet 172.28.0.0/16",
            "spec.ipam.config[0].gateway: the address 172.29.0.1 is outside the subnet 172.28.0.0/16",
            "spec.ipam.config[0].auxAddresses.a: \"nope\" is not an IP address",
            "spec.ipam.config[1].subnet: 172.28.3.0/24 overlaps 172.28.0.0/16, another pool of this network",
            "spec.ipam.config[2].subnet: fd00::/64 is an IPv6 subnet: set `spec.enableIpv6: true`",
            "spec.ipam.config[3].subnet: \"300.1.1.1/8\" is not a subnet in CIDR form",
        ];
        assert_eq!(errs.len(), want.len(), "{errs:#?}");
        for (e, w) in errs.iter().zip(want) {
            assert!(e.starts_with(w), "{e}\nwanted {w}");
        }
    }
}
