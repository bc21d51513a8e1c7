//! Translates a [`CreateRequest`] into Docker's create body. Pure, so it is unit-tested without
//! a daemon.
//!
//! Invariant: every field of [`ContainerSpec`](crate::manifest::ContainerSpec) reaches the body; a field that did not would make
//! the spec hash promise something the container does not have.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, Mount as DockerMount, MountTmpfsOptions,
    MountType, NetworkingConfig, PortBinding as DockerPortBinding, RestartPolicy, RestartPolicyNameEnum,
};

use super::CreateRequest;
use crate::manifest::model::{Mount, Protocol, Restart};

fn nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
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
    let mut exposed: Vec<String> = port_bindings.keys().cloned().collect();
    exposed.sort();

    let mounts = spec
        .mounts
        .iter()
        .map(|m| match m {
            Mount::Bind { source, target, read_only } => DockerMount {
                typ: Some(MountType::BIND),
                source: Some(source.clone()),
                target: Some(target.clone()),
                read_only: Some(*read_only),
                ..Default::default()
            },
            Mount::Volume { source, target, read_only } => DockerMount {
                typ: Some(MountType::VOLUME),
                source: Some(source.clone()),
                target: Some(target.clone()),
                read_only: Some(*read_only),
                ..Default::default()
            },
            Mount::Tmpfs { target, size } => DockerMount {
                typ: Some(MountType::TMPFS),
                target: Some(target.clone()),
                tmpfs_options: size
                    .map(|s| MountTmpfsOptions { size_bytes: i64::try_from(s).ok(), ..Default::default() }),
                ..Default::default()
            },
        })
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
        ..Default::default()
    });

    let first_network = spec.networks.first();
    let networking_config = first_network
        .map(|n| NetworkingConfig { endpoints_config: Some(HashMap::from([(n.clone(), endpoint(&req.service))])) });

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
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        healthcheck,
        stop_signal: spec.stop_signal.clone(),
        stop_timeout: Some(i64::try_from(spec.stop_timeout.as_secs()).unwrap_or(i64::MAX)),
        host_config: Some(HostConfig {
            port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
            mounts: Some(mounts),
            restart_policy: Some(restart_policy),
            auto_remove: Some(spec.auto_remove),
            memory: spec.resources.memory.and_then(|m| i64::try_from(m).ok()),
            nano_cpus: spec.resources.cpus.map(|c| (c * 1e9).round() as i64),
            pids_limit: spec.resources.pids,
            network_mode: first_network.cloned(),
            ..Default::default()
        }),
        networking_config,
        ..Default::default()
    }
}

/// The endpoint of a service on a network: its name is a DNS alias there, as in compose.
pub fn endpoint(service: &str) -> EndpointSettings {
    EndpointSettings { aliases: Some(vec![service.to_string()]), ..Default::default() }
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
}
