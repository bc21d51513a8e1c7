//! The body of `POST /networks/create` for a Network manifest (pure, so the request is tested
//! without a daemon).

use std::collections::HashMap;

use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};

use crate::labels;
use crate::manifest::Network;

/// `EnableIPv4` (API 1.47) is never sent: Docker's default (on) is what every older daemon does.
pub fn network_request(network: &Network, instance: &str) -> NetworkCreateRequest {
    let mut labels: HashMap<String, String> = network.labels.clone().into_iter().collect();
    labels.insert(labels::INSTANCE.into(), instance.into());
    let ipam = network.ipam.as_ref().map(|ipam| Ipam {
        driver: Some(ipam.driver.clone()),
        config: Some(
            ipam.pools
                .iter()
                .map(|p| IpamConfig {
                    subnet: Some(p.subnet.to_string()),
                    ip_range: p.ip_range.map(|r| r.to_string()),
                    gateway: p.gateway.map(|g| g.to_string()),
                    auxiliary_addresses: (!p.aux_addresses.is_empty())
                        .then(|| p.aux_addresses.iter().map(|(k, v)| (k.clone(), v.to_string())).collect()),
                })
                .collect(),
        ),
        options: (!ipam.options.is_empty()).then(|| ipam.options.clone().into_iter().collect()),
    });
    NetworkCreateRequest {
        name: network.name.clone(),
        driver: Some(network.driver.clone()),
        internal: Some(network.internal),
        attachable: network.attachable.then_some(true),
        enable_ipv6: network.enable_ipv6.then_some(true),
        ipam,
        options: Some(network.options.clone().into_iter().collect()),
        labels: Some(labels),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipam_attachable_and_ipv6_reach_the_request() {
        let yaml = "apiVersion: moor/v1\nmetadata: { name: shop, labels: { team: a } }\nspec:\n  attachable: true\n  enableIpv6: true\n  ipam:\n    driver: default\n    options: { o: v }\n    config:\n      - { subnet: 10.7.0.0/16, ipRange: 10.7.1.0/24, gateway: 10.7.0.1, auxAddresses: { r: 10.7.0.9 } }\n      - { subnet: \"fd00:7::/64\" }\n";
        let doc: crate::manifest::raw::NetworkDoc = serde_yaml::from_str(yaml).unwrap();
        let network = crate::manifest::network::convert_network(&doc).unwrap();
        let body = serde_json::to_value(network_request(&network, "blue")).unwrap();
        assert_eq!(body["Attachable"], true);
        assert_eq!(body["EnableIPv6"], true);
        assert_eq!(body["Labels"]["moor.instance"], "blue");
        assert_eq!(body["Labels"]["team"], "a");
        assert_eq!(body["IPAM"]["Driver"], "default");
        assert_eq!(body["IPAM"]["Options"]["o"], "v");
        let pools = body["IPAM"]["Config"].as_array().unwrap();
        assert_eq!(pools[0]["Subnet"], "10.7.0.0/16");
        assert_eq!(pools[0]["IPRange"], "10.7.1.0/24");
        assert_eq!(pools[0]["Gateway"], "10.7.0.1");
        assert_eq!(pools[0]["AuxiliaryAddresses"]["r"], "10.7.0.9");
        assert_eq!(pools[1]["Subnet"], "fd00:7::/64");
        assert!(body.get("EnableIPv4").is_none_or(|v| v.is_null()), "{body}");

        // Without ipam, Docker picks the subnet; the flags are left out (Docker's defaults).
        let plain: crate::manifest::raw::NetworkDoc =
            serde_yaml::from_str("apiVersion: moor/v1\nmetadata: { name: plain }\n").unwrap();
        let body =
            serde_json::to_value(network_request(&crate::manifest::network::convert_network(&plain).unwrap(), "x"))
                .unwrap();
        assert!(
            body.get("IPAM").is_none_or(|v| v.is_null()) && body.get("Attachable").is_none_or(|v| v.is_null()),
            "{body}"
        );
    }
}
