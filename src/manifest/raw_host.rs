//! The raw types of the compose-parity fields of a Service (issue 13): the forms compose
//! accepts for them. As in [`super::raw`], nothing is parsed or defaulted here.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A command line: a list of arguments, or a string split into words as compose splits it
/// (POSIX shell quoting and backslashes; no variables, globs, operators or comments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum CommandLine {
    List(Vec<String>),
    Text(String),
}

/// One word or a list of them (compose's `dns` and `dns_search`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// A string or a whole number, as YAML reads it (`1024`, `"1"`, `audio`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Scalar {
    Integer(i64),
    String(String),
}

impl Scalar {
    pub fn text(&self) -> String {
        match self {
            Scalar::Integer(n) => n.to_string(),
            Scalar::String(s) => s.clone(),
        }
    }
}

/// Extra `/etc/hosts` entries: a list of `host:ip` (or `host=ip`; a host may repeat), or a
/// map of host to one IP or a list of them. An IP is an IPv4 or IPv6 address (brackets
/// allowed) or Docker's `host-gateway`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ExtraHosts {
    List(Vec<String>),
    Map(BTreeMap<String, OneOrMany>),
}

/// Kernel parameters: a map of name to value, or a list of `name=value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Sysctls {
    Map(BTreeMap<String, Scalar>),
    List(Vec<String>),
}

/// A resource limit: one number for both the soft and the hard limit, or `{ soft, hard }`.
/// `-1` means unlimited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Ulimit {
    Single(i64),
    Limits(UlimitLimits),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UlimitLimits {
    pub soft: i64,
    pub hard: i64,
}

/// The container's log driver and its options (compose's `logging`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Logging {
    /// A Docker log driver, for example `json-file`, `local`, `journald`, `syslog` or `none`
    /// (default: the daemon's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// The driver's options, for example `max-size: 10m`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, Scalar>,
}

/// The networks a service joins: a list of names, or a map of name to its settings there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Networks {
    List(Vec<String>),
    Map(BTreeMap<String, Option<NetworkAttachment>>),
}

impl Default for Networks {
    fn default() -> Self {
        Networks::List(Vec::new())
    }
}

impl Networks {
    pub fn is_empty(&self) -> bool {
        match self {
            Networks::List(l) => l.is_empty(),
            Networks::Map(m) => m.is_empty(),
        }
    }

    /// The names, as written (a map's in name order).
    pub fn names(&self) -> Vec<String> {
        match self {
            Networks::List(l) => l.clone(),
            Networks::Map(m) => m.keys().cloned().collect(),
        }
    }
}

/// A service's settings on one network (compose's long form of `networks`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkAttachment {
    /// More DNS names for the service on this network (its name always is one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// A static IPv4 address: Docker takes one only on a network with a configured subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    /// A static IPv6 address, as `ipv4Address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
}

/// A host device: `/dev/x[:/dev/y[:rwm]]`, or `{ source, target, permissions }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum DeviceEntry {
    Short(String),
    Long(DeviceLong),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceLong {
    /// The device on the host, such as `/dev/fuse`.
    pub source: String,
    /// The path in the container (default: the same as `source`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// cgroup permissions, some of `r`, `w` and `m` (default `rwm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<String>,
}

/// Block IO limits (compose's `blkio_config`; cgroup v1 with the CFQ or BFQ scheduler for the
/// weights).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlkioConfig {
    /// The relative block IO weight, 10 to 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i64>,
    /// The weight on one device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weight_device: Vec<BlkioWeight>,
    /// Bytes a second read from a device (a size such as `10mb`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_bps: Vec<BlkioRate>,
    /// Bytes a second written to a device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_bps: Vec<BlkioRate>,
    /// Read operations a second from a device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_iops: Vec<BlkioRate>,
    /// Write operations a second to a device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_iops: Vec<BlkioRate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlkioWeight {
    /// A block device on the host, such as `/dev/sda`.
    pub path: String,
    /// 10 to 1000.
    pub weight: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlkioRate {
    /// A block device on the host, such as `/dev/sda`.
    pub path: String,
    /// Bytes a second (a size such as `10mb`) for the bps fields, operations a second for iops.
    pub rate: Scalar,
}

/// GPUs: `all`, or a list of device requests (compose's `gpus`, and
/// `deploy.resources.reservations.devices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Gpus {
    All(String),
    List(Vec<GpuRequest>),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GpuRequest {
    /// The device driver, such as `nvidia` (default: chosen by the capabilities).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// How many devices: a number, or `all` (default: all, unless `deviceIds` names them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<Scalar>,
    /// The IDs of the devices (instead of `count`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_ids: Vec<String>,
    /// The capabilities the devices must all have (default `[gpu]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// Options for the driver.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}
