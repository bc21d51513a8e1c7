//! The Docker API version moor negotiated with the daemon, and the fields that need a newer one.
//!
//! Invariants:
//! - A field that needs a newer API than the one negotiated is never sent: an older daemon would
//!   drop it silently (or refuse the whole body). The service that asks for it is refused
//!   instead, at that field, naming the version it needs and the daemon's, and left as it runs,
//!   as a policy refusal leaves it ([`admit`] moves it to `Desired::refused`, so it is still
//!   declared: never pruned; its dependants wait and say why).
//! - [`required`] is pure and lists every such field; `create_body` may then send them all, since
//!   only admitted services reach it.

use std::fmt;
use std::path::PathBuf;

use crate::manifest::problem::FieldPath;
use crate::manifest::{Desired, Problem, RefusalCause, Refused, Service};

/// A Docker API version, `1.41`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

impl ApiVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        ApiVersion { major, minor }
    }

    /// `1.41`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (major, minor) = text.trim().split_once('.')?;
        Some(ApiVersion { major: major.parse().ok()?, minor: minor.parse().ok()? })
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// HostConfig.Annotations (Docker 24).
pub const ANNOTATIONS: ApiVersion = ApiVersion::new(1, 43);
/// HealthConfig.StartInterval and the endpoint's MacAddress (Docker 25).
pub const START_INTERVAL: ApiVersion = ApiVersion::new(1, 44);
pub const MAC_ADDRESS: ApiVersion = ApiVersion::new(1, 44);

/// A field of a service that needs API `needs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub field: FieldPath,
    pub needs: ApiVersion,
}

/// Every field of `service` that needs an API newer than 1.41, in manifest order.
pub fn required(service: &Service) -> Vec<Need> {
    let spec = FieldPath::root().key("spec");
    let c = &service.container;
    let mut out = Vec::new();
    if c.healthcheck.as_ref().is_some_and(|h| h.start_interval.is_some()) {
        out.push(Need { field: spec.key("healthcheck").key("startInterval"), needs: START_INTERVAL });
    }
    if !c.resource.annotations.is_empty() {
        out.push(Need { field: spec.key("annotations"), needs: ANNOTATIONS });
    }
    if c.resource.mac_address.is_some() {
        out.push(Need { field: spec.key("macAddress"), needs: MAC_ADDRESS });
    }
    out
}

/// The problems of `service` under a daemon that negotiated `negotiated`, located in its
/// manifest.
pub fn problems(service: &Service, negotiated: ApiVersion) -> Vec<Problem> {
    required(service)
        .into_iter()
        .filter(|n| n.needs > negotiated)
        .map(|n| {
            let (file, (line, column)) = match &service.source {
                Some(source) => (source.file.clone(), source.locate(&n.field)),
                None => (PathBuf::new(), (None, None)),
            };
            let message = format!(
                "needs Docker API {} or later, and this daemon speaks {negotiated}: moor does not send it, so the service is left as it runs",
                n.needs
            );
            Problem { file, line, column, field: n.field.to_string(), message }
        })
        .collect()
}

/// Moves every service that needs a newer API than `negotiated` from `desired.services` to
/// `desired.refused` (after any policy refusal, whose problems it keeps).
pub fn admit(negotiated: ApiVersion, mut desired: Desired) -> Desired {
    let refused: Vec<(String, Vec<Problem>)> = desired
        .services
        .values()
        .map(|s| (s.name.clone(), problems(s, negotiated)))
        .filter(|(_, p)| !p.is_empty())
        .collect();
    for (name, problems) in refused {
        if let Some(service) = desired.services.remove(&name) {
            desired.refused.insert(name, Refused { service, problems, cause: RefusalCause::DockerApi });
        }
    }
    desired
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(spec: &str) -> Desired {
        let yaml =
            format!("apiVersion: moor/v1\nkind: Service\nmetadata: {{ name: app }}\nspec:\n  image: busybox\n{spec}");
        let loaded = crate::manifest::load_str(std::path::Path::new("/m/s.yaml"), &yaml);
        assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
        loaded.desired
    }

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(ApiVersion::parse("1.41"), Some(ApiVersion::new(1, 41)));
        assert!(ApiVersion::parse("1.9").unwrap() < ApiVersion::parse("1.41").unwrap());
        assert_eq!(ApiVersion::parse("x"), None);
        assert_eq!(ApiVersion::new(1, 44).to_string(), "1.44");
    }

    #[test]
    fn newer_fields_are_refused_at_their_field_below_the_version_they_need() {
        let spec = "  healthcheck: { test: \"true\", startInterval: 1s }\n  annotations: { a: b }\n  macAddress: \"02:42:AC:11:00:02\"\n";
        let at_41 = admit(ApiVersion::new(1, 41), desired(spec));
        assert!(at_41.services.is_empty());
        let shown: Vec<String> = at_41.refused["app"].problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "/m/s.yaml:6:47: spec.healthcheck.startInterval: needs Docker API 1.44 or later, and this daemon speaks 1.41: moor does not send it, so the service is left as it runs",
                "/m/s.yaml:7:16: spec.annotations: needs Docker API 1.43 or later, and this daemon speaks 1.41: moor does not send it, so the service is left as it runs",
                "/m/s.yaml:8:15: spec.macAddress: needs Docker API 1.44 or later, and this daemon speaks 1.41: moor does not send it, so the service is left as it runs",
            ]
        );
        // 1.43 has annotations, not the others.
        let at_43 = admit(ApiVersion::new(1, 43), desired(spec));
        assert_eq!(at_43.refused["app"].problems.len(), 2);
        let at_44 = admit(ApiVersion::new(1, 44), desired(spec));
        assert!(at_44.refused.is_empty() && at_44.services.contains_key("app"));
        // A spec without them needs nothing.
        assert!(required(&desired("").services["app"]).is_empty());
    }

    /// Through the fake engine, as `moor apply` does: admitted at the version the engine
    /// negotiated, then reconciled.
    #[tokio::test]
    async fn the_fake_engine_creates_at_1_44_and_nothing_at_1_41() {
        use crate::engine::{fake::FakeEngine, Engine};
        let spec = "  healthcheck: { test: \"true\", startInterval: 2s }\n  annotations: { a: b }\n  macAddress: \"02:42:ac:11:00:02\"\n";
        let yaml =
            format!("apiVersion: moor/v1\nkind: Service\nmetadata: {{ name: app }}\nspec:\n  image: app:1\n{spec}");
        for (version, created) in [(ApiVersion::new(1, 41), false), (ApiVersion::new(1, 44), true)] {
            let engine = FakeEngine::new();
            engine.add_image("app:1", "sha256:aaaa");
            engine.set_api_version(version);
            let loaded = crate::manifest::load_str(std::path::Path::new("/m/s.yaml"), &yaml);
            let desired = admit(engine.api_version(), loaded.desired);
            let options = crate::apply::ApplyOptions::new("api-test", 1);
            crate::reconcile::reconcile_once(&engine, &desired, &options).await.unwrap();
            let containers = engine.containers();
            assert_eq!(containers.len(), usize::from(created), "at {version}: {containers:?}");
            let Some(container) = containers.first() else {
                assert!(desired.refused.contains_key("app"));
                continue;
            };
            let req = crate::engine::CreateRequest {
                name: container.name.clone(),
                image: container.image.clone(),
                service: "app".into(),
                spec: container.spec.clone().unwrap(),
                labels: Default::default(),
                provided: Default::default(),
            };
            let body = serde_json::to_value(crate::engine::create_body::create_body(&req)).unwrap();
            assert_eq!(body["Healthcheck"]["StartInterval"], 2_000_000_000u64);
            assert_eq!(body["HostConfig"]["Annotations"]["a"], "b");
            // The service lists no network: it joins its instance's default network, where the
            // MAC address goes.
            let endpoint = &body["NetworkingConfig"]["EndpointsConfig"]["api-test_default"];
            assert_eq!(endpoint["MacAddress"], "02:42:ac:11:00:02", "{body}");
        }
    }
}
