//! The converted resource, device and namespace fields of a Service (issue 13): CPU quotas and
//! real-time periods, swap, block IO, storage options, device cgroup rules, the UTS namespace and
//! GPU requests. They are flattened into [`super::model::ContainerSpec`] beside its `host`, and each is left out of
//! the canonical JSON when unset, so a spec without them keeps its spec hash.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

fn is_empty_blkio(b: &Blkio) -> bool {
    *b == Blkio::default()
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceOptions {
    /// Microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<i64>,
    /// Microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_period: Option<i64>,
    /// Microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_rt_period: Option<i64>,
    /// Microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_rt_runtime: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_swappiness: Option<i64>,
    /// Bytes of memory plus swap; -1 is unlimited swap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memswap_limit: Option<i64>,
    #[serde(default, skip_serializing_if = "is_empty_blkio")]
    pub blkio: Blkio,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub storage_opt: BTreeMap<String, String>,
    /// As written (normalised spacing), in the written order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uts: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<GpuRequest>,
    /// Docker API 1.43.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Lower case, colon-separated; Docker API 1.44 (the endpoint's MacAddress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
}

/// Block IO settings; device lists in the written order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weight_device: Vec<DeviceRate>,
    /// Bytes a second.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_bps: Vec<DeviceRate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_bps: Vec<DeviceRate>,
    /// Operations a second.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_iops: Vec<DeviceRate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_iops: Vec<DeviceRate>,
}

/// A block device and its weight or rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceRate {
    pub path: String,
    pub rate: i64,
}

/// A device request (Docker's DeviceRequest).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GpuRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// -1 is all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}
