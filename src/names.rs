//! The naming rule: which container names and which default network an instance uses. Every
//! place that names or finds a container (plan, apply, dependency waits, `networkMode:
//! service:`, rollback's rebuild) goes through this module, so the rule lives here once.
//!
//! Invariants:
//! - The default instance ([`DEFAULT_INSTANCE`]) keeps bare names: `db`, replicas `db-1`..
//!   `db-N`, exactly as the releases before instances were namespaced, so upgrading renames and
//!   recreates nothing there.
//! - Any other instance prefixes its names: `<instance>_db`, `<instance>_db-1`. A service name is
//!   a DNS-1123 label, which has no `_`, so a prefixed name never equals a bare one: two
//!   instances can each declare `db`.
//! - A `containerName` is taken exactly, in every instance (it is refused with replicas > 1).
//! - Each instance has a default network, `<instance>_default` (compose's `<project>_default`
//!   with the instance as the project; the default instance's is `default_default`), owned by
//!   the instance label like any moor network. A service that lists no network and sets no
//!   `networkMode` joins it, with its service name as DNS alias. The default network is never
//!   part of the spec (nor its hash): it is added to the create request, and a container made
//!   before it existed is connected to it, not recreated.

use crate::manifest::model::{ContainerSpec, Network, DEFAULTS};
use crate::manifest::{Desired, Service};

/// The instance `--instance` names by default.
pub const DEFAULT_INSTANCE: &str = "default";

/// The name of the container `base` (a service name, or `name-N` for a replica) in `instance`.
pub fn container_name(instance: &str, base: &str) -> String {
    if instance == DEFAULT_INSTANCE {
        base.to_string()
    } else {
        format!("{instance}_{base}")
    }
}

/// The container names of `service` in `instance`, one per replica: its `containerName`, the
/// service name, or `name-1` .. `name-N`, each prefixed by [`container_name`].
pub fn container_names(instance: &str, service: &Service) -> Vec<String> {
    if let Some(exact) = &service.container_name {
        return vec![exact.clone()];
    }
    service.container_names().iter().map(|base| container_name(instance, base)).collect()
}

/// The default network of `instance`.
pub fn default_network(instance: &str) -> String {
    format!("{instance}_default")
}

/// The default network as a Network to create: a bridge, labelled like every moor network.
pub fn default_network_spec(name: &str) -> Network {
    Network {
        name: name.to_string(),
        source: None,
        labels: Default::default(),
        driver: DEFAULTS.network_driver.to_string(),
        internal: false,
        options: Default::default(),
        attachable: false,
        enable_ipv6: false,
        ipam: None,
    }
}

/// The name a manifest gives the instance's default network beside others, as compose does
/// (`networks: [default, front]`); a Network manifest may not take it.
pub const DEFAULT_NETWORK_ALIAS: &str = "default";

/// Does a container of `spec` join the default network without naming it? Only when it names
/// no network and no network mode of its own (such a container of a release before default
/// networks is connected, not recreated).
pub fn joins_default_network(spec: &ContainerSpec) -> bool {
    spec.networks.is_empty() && spec.host.network_mode.is_none()
}

fn joins(s: &Service) -> bool {
    (joins_default_network(&s.container) || s.container.networks.iter().any(|n| n == DEFAULT_NETWORK_ALIAS))
        && s.state != crate::manifest::model::State::Absent
}

/// Does a service of `desired` that moor will run join the default network? Then it is created.
pub fn default_network_wanted(desired: &Desired) -> bool {
    desired.services.values().any(joins)
}

/// Does any declared service of `desired` (refused ones included: their containers are left as
/// they are, on it) join the default network? Then it is not pruned.
pub fn default_network_used(desired: &Desired) -> bool {
    default_network_wanted(desired) || desired.refused.values().any(|r| joins(&r.service))
}

/// The spec a container of `service` is created from in `instance`: its own, plus the default
/// network when it lists none, and each `service:NAME` of `networkMode`, `ipc`, `pid` and
/// `volumesFrom` turned into the container that service's first replica has in this instance.
/// The spec hash is made of the service's own spec, never of this one.
pub fn placed_spec(instance: &str, desired: &Desired, spec: &ContainerSpec) -> ContainerSpec {
    let mut spec = spec.clone();
    if joins_default_network(&spec) {
        spec.networks = vec![default_network(instance)];
    } else if spec.networks.iter().any(|n| n == DEFAULT_NETWORK_ALIAS) {
        // `default` beside other networks: the instance's default network, aliases included.
        let real = default_network(instance);
        for n in &mut spec.networks {
            if n == DEFAULT_NETWORK_ALIAS {
                n.clone_from(&real);
            }
        }
        if let Some(endpoint) = spec.host.network_endpoints.remove(DEFAULT_NETWORK_ALIAS) {
            spec.host.network_endpoints.insert(real, endpoint);
        }
    }
    let first = |target: &str| match desired.services.get(target) {
        Some(s) => container_names(instance, s).into_iter().next().unwrap_or_else(|| container_name(instance, target)),
        None => container_name(instance, target),
    };
    // `networkMode`, `ipc`, `pid`: `service:NAME` -> `container:FIRST`.
    for mode in [&mut spec.host.network_mode, &mut spec.host.ipc, &mut spec.host.pid] {
        if let Some((target, _)) = mode.as_deref().and_then(service_join) {
            *mode = Some(format!("container:{}", first(target)));
        }
    }
    // `volumesFrom`: `service:NAME[:ro|rw]` -> `FIRST[:ro|rw]` (Docker's form of a container).
    for entry in &mut spec.host.volumes_from {
        if let Some((target, mode)) = service_join(entry) {
            *entry = match mode {
                Some(m) => format!("{}:{m}", first(target)),
                None => first(target),
            };
        }
    }
    spec
}

/// `service:NAME[:MODE]` as the service and the mode; `None` for anything else (a
/// `container:` join, `host`, an outside container's name). The one reading of that form.
pub fn service_join(value: &str) -> Option<(&str, Option<&str>)> {
    let rest = value.strip_prefix("service:")?;
    Some(rest.split_once(':').map_or((rest, None), |(t, m)| (t, Some(m))))
}

/// The services whose containers `spec` joins (`service:NAME` in `networkMode`, `ipc`, `pid`,
/// `volumesFrom`), each once, sorted.
pub fn join_targets(spec: &ContainerSpec) -> Vec<String> {
    let host = &spec.host;
    let mut out: Vec<String> = [&host.network_mode, &host.ipc, &host.pid]
        .into_iter()
        .filter_map(|m| m.as_deref())
        .chain(host.volumes_from.iter().map(String::as_str))
        .filter_map(|v| service_join(v).map(|(target, _)| target.to_string()))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_beside_other_networks_is_the_instance_s_default_network() {
        let yaml = "apiVersion: moor/v1\nkind: Service\nmetadata: {name: app}\nspec:\n  image: app:1\n  networks:\n    default: { aliases: [edge] }\n    front:\n";
        let loaded = crate::manifest::load_str(std::path::Path::new("/m/s.yaml"), yaml);
        assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
        assert!(default_network_wanted(&loaded.desired));
        let app = &loaded.desired.services["app"];
        let placed = placed_spec("shop", &loaded.desired, &app.container);
        let mut networks = placed.networks.clone();
        networks.sort();
        assert_eq!(networks, ["front", "shop_default"]);
        assert_eq!(placed.host.network_endpoints["shop_default"].aliases, ["edge"]);
        assert!(!placed.host.network_endpoints.contains_key("default"));
    }

    #[test]
    fn the_default_instance_keeps_bare_names_and_others_prefix_them() {
        assert_eq!(container_name("default", "db"), "db");
        assert_eq!(container_name("default", "db-2"), "db-2");
        assert_eq!(container_name("shop", "db"), "shop_db");
        assert_eq!(container_name("shop", "db-2"), "shop_db-2");
        assert_eq!(default_network("default"), "default_default");
        assert_eq!(default_network("shop"), "shop_default");
    }

    fn service(name: &str, extra: &str) -> String {
        format!("---\napiVersion: moor/v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  image: app:1\n{extra}")
    }

    fn problems(yaml: &str) -> Vec<String> {
        let loaded = crate::manifest::load_str(std::path::Path::new("/m/s.yaml"), yaml);
        loaded.problems.iter().map(|p| p.to_string().replace("/m/s.yaml:", "")).collect()
    }

    #[test]
    fn container_name_is_exact_in_every_instance() {
        let loaded = crate::manifest::load_str(
            std::path::Path::new("/m/s.yaml"),
            &service("web", "  containerName: Legacy.web_1\n"),
        );
        assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
        let web = &loaded.desired.services["web"];
        assert_eq!(container_names("default", web), ["Legacy.web_1"]);
        assert_eq!(container_names("shop", web), ["Legacy.web_1"]);
        let plain = crate::manifest::load_str(std::path::Path::new("/m/s.yaml"), &service("db", "  replicas: 2\n"));
        assert_eq!(container_names("shop", &plain.desired.services["db"]), ["shop_db-1", "shop_db-2"]);
        assert_eq!(container_names("default", &plain.desired.services["db"]), ["db-1", "db-2"]);
    }

    #[test]
    fn the_placed_spec_joins_the_default_network_or_the_instances_container_of_a_service() {
        let yaml = [
            service("db", "  replicas: 2\n"),
            service("app", "  networkMode: service:db\n"),
            service("api", "  networks: [bridge]\n"),
        ]
        .concat();
        let desired = crate::manifest::load_str(std::path::Path::new("/m/s.yaml"), &yaml).desired;
        let placed = |instance: &str, name: &str| placed_spec(instance, &desired, &desired.services[name].container);
        assert_eq!(placed("shop", "db").networks, ["shop_default"]);
        assert_eq!(placed("default", "db").networks, ["default_default"]);
        assert_eq!(placed("shop", "app").host.network_mode.as_deref(), Some("container:shop_db-1"));
        assert_eq!(placed("default", "app").host.network_mode.as_deref(), Some("container:db-1"));
        assert!(placed("shop", "app").networks.is_empty(), "a network mode joins no network");
        assert_eq!(placed("shop", "api").networks, ["bridge"]);
        // The spec, and so its hash, is untouched.
        assert!(desired.services["db"].container.networks.is_empty());
    }

    #[test]
    fn a_bad_or_clashing_container_name_is_a_located_problem() {
        assert_eq!(
            problems(&service("web", "  containerName: -web\n")),
            ["7:18: spec.containerName: \"-web\" is not a Docker container name: a letter or digit, then letters, digits, '_', '.' or '-'"]
        );
        let many = problems(&service("web", "  containerName: web1\n  replicas: 2\n"));
        assert!(
            many.len() == 1
                && many[0].starts_with("7:18: spec.containerName: containerName names one container, and replicas: 2"),
            "{many:#?}"
        );
        // Another service's own name, in the default instance or prefixed by any other.
        for taken in ["db-1", "db-2", "shop_db-1"] {
            let yaml =
                [service("db", "  replicas: 2\n"), service("web", &format!("  containerName: {taken}\n"))].concat();
            let found = problems(&yaml);
            assert_eq!(found.len(), 1, "{taken}: {found:#?}");
            assert!(
                found[0].contains("spec.containerName: container name") && found[0].contains("service \"db\""),
                "{found:#?}"
            );
        }
        let twice = [service("a", "  containerName: same\n"), service("b", "  containerName: same\n")].concat();
        let found = problems(&twice);
        assert!(found.len() == 1 && found[0].contains("is also the containerName of service \"a\""), "{found:#?}");
    }
}
