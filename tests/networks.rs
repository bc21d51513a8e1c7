//! A Network manifest's `ipam`, `attachable` and `enableIpv6` against the real daemon: the
//! network is created with them (read back with inspect), a service takes a static address from
//! its pool, and a second apply changes nothing.

mod common;

use common::{docker, expect_code, image, TestEnv, SLEEPER};

/// A /24 of 10.213.0.0/16 of this process's own, so that parallel test runs on one daemon do not
/// ask for the same pool (Docker refuses overlapping pools).
fn subnet() -> (String, String) {
    let third = std::process::id() % 250 + 1;
    (format!("10.213.{third}.0/24"), format!("10.213.{third}"))
}

#[tokio::test]
async fn a_network_gets_its_pool_and_a_service_its_static_address() {
    image().await;
    let env = TestEnv::new("net-ipam");
    let docker = docker().await;
    let (net, app) = (env.name("shop"), env.name("app"));
    let (cidr, prefix) = subnet();
    env.write(
        "net.yaml",
        &format!(
            "apiVersion: moor/v1\nkind: Network\nmetadata:\n  name: {net}\nspec:\n  attachable: true\n  enableIpv6: true\n  ipam:\n    config:\n      - subnet: {cidr}\n        ipRange: {prefix}.128/25\n        gateway: {prefix}.1\n        auxAddresses: {{ router: {prefix}.2 }}\n      - subnet: \"fd00:213:{:x}::/64\"\n",
            std::process::id() % 65000
        ),
    );
    env.write(
        "app.yaml",
        &format!(
            "apiVersion: moor/v1\nkind: Service\nmetadata:\n  name: {app}\nspec:\n  image: {}\n  pull: never\n  command: sh -c \"{SLEEPER}\"\n  stopTimeout: 5s\n  networks:\n    {net}: {{ ipv4Address: {prefix}.10 }}\n",
            common::IMAGE
        ),
    );
    let dir = env.manifests().to_str().unwrap();
    expect_code(env.moor(&["apply", dir]), 0);

    let network = docker.inspect_network(&net, None::<bollard::query_parameters::InspectNetworkOptions>).await.unwrap();
    assert_eq!((network.attachable, network.enable_ipv6), (Some(true), Some(true)));
    let pools = network.ipam.unwrap().config.unwrap();
    let v4 = pools.iter().find(|p| p.subnet.as_deref() == Some(cidr.as_str())).expect("the IPv4 pool");
    assert_eq!(v4.ip_range.as_deref(), Some(format!("{prefix}.128/25").as_str()));
    assert_eq!(v4.gateway.as_deref(), Some(format!("{prefix}.1").as_str()));
    assert_eq!(v4.auxiliary_addresses.as_ref().unwrap()["router"], format!("{prefix}.2"));
    assert!(pools.iter().any(|p| p.subnet.as_deref().is_some_and(|s| s.starts_with("fd00:213:"))), "{pools:?}");

    let info = docker.inspect_container(&env.container(&app), None).await.unwrap();
    let endpoint = info.network_settings.unwrap().networks.unwrap().remove(&net).expect("on the network");
    assert_eq!(endpoint.ip_address.as_deref(), Some(format!("{prefix}.10").as_str()));

    let id = info.id.unwrap();
    let out = expect_code(env.moor(&["apply", dir]), 0);
    assert_eq!(docker.inspect_container(&env.container(&app), None).await.unwrap().id.unwrap(), id, "{out}");
}

#[tokio::test]
async fn a_bad_pool_or_an_address_outside_it_is_refused_and_not_created() {
    let env = TestEnv::new("net-ipam-bad");
    let docker = docker().await;
    let (bad, good, app) = (env.name("bad"), env.name("good"), env.name("app"));
    let third = std::process::id() % 250 + 1;
    let file = env.write(
        "all.yaml",
        &format!(
            "apiVersion: moor/v1\nkind: Network\nmetadata:\n  name: {bad}\nspec:\n  ipam:\n    config:\n      - subnet: 10.214.{third}.0/24\n        gateway: 10.215.0.1\n---\napiVersion: moor/v1\nkind: Network\nmetadata:\n  name: {good}\nspec:\n  ipam: {{ config: [{{ subnet: 10.216.{third}.0/24 }}] }}\n---\napiVersion: moor/v1\nkind: Service\nmetadata:\n  name: {app}\nspec:\n  image: {}\n  pull: never\n  command: sh -c \"{SLEEPER}\"\n  networks:\n    {good}: {{ ipv4Address: 10.9.0.10 }}\n",
            common::IMAGE
        ),
    );
    let dir = env.manifests().to_str().unwrap();
    let out = expect_code(env.moor(&["validate", dir]), 1);
    for want in [
        format!(
            "{}:9:18: spec.ipam.config[0].gateway: the address 10.215.0.1 is outside the subnet 10.214.{third}.0/24",
            file.display()
        ),
        format!("{}:27:37:", file.display()),
        format!("spec.networks.{good}.ipv4Address: 10.9.0.10 is outside every subnet of Network {good}"),
    ] {
        assert!(out.contains(&want), "{want}\nin\n{out}");
    }
    expect_code(env.moor(&["apply", dir]), 1);
    let inspect = docker.inspect_network(&bad, None::<bollard::query_parameters::InspectNetworkOptions>).await;
    assert!(inspect.is_err(), "a refused network was created");
    assert!(docker.inspect_container(&env.container(&app), None).await.is_err(), "a refused service was created");
}

#[tokio::test]
async fn a_port_range_publishes_each_port_and_the_long_form_takes_compose_names() {
    image().await;
    let env = TestEnv::new("net-ports");
    let docker = docker().await;
    let app = env.name("app");
    // Free host ports of this run: three in a row from a port the kernel just handed out.
    let base = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().min(60000);
    env.write(
        "app.yaml",
        &format!(
            "apiVersion: moor/v1\nkind: Service\nmetadata:\n  name: {app}\nspec:\n  image: {}\n  pull: never\n  command: sh -c \"{SLEEPER}\"\n  stopTimeout: 5s\n  ports:\n    - \"127.0.0.1:{}-{}:7000-7001\"\n    - {{ container: 7100, host: {}, hostIp: 127.0.0.1, name: admin, appProtocol: http, mode: host }}\n",
            common::IMAGE,
            base,
            base + 1,
            base + 2
        ),
    );
    let dir = env.manifests().to_str().unwrap();
    expect_code(env.moor(&["apply", dir]), 0);
    let info = docker.inspect_container(&env.container(&app), None).await.unwrap();
    let bindings = info.host_config.unwrap().port_bindings.unwrap();
    for (container, host) in [(7000, base), (7001, base + 1), (7100, base + 2)] {
        let b = &bindings[&format!("{container}/tcp")].as_ref().unwrap()[0];
        assert_eq!(b.host_port.as_deref(), Some(host.to_string().as_str()), "{container}: {bindings:?}");
        assert_eq!(b.host_ip.as_deref(), Some("127.0.0.1"));
    }
    let id = info.id.unwrap();
    expect_code(env.moor(&["apply", dir]), 0);
    assert_eq!(docker.inspect_container(&env.container(&app), None).await.unwrap().id.unwrap(), id);
    // Ranges of different lengths are refused where they are written.
    env.write("app.yaml", &format!("apiVersion: moor/v1\nkind: Service\nmetadata:\n  name: {app}\nspec:\n  image: {}\n  ports: [\"8000-8010:80\"]\n", common::IMAGE));
    let out = expect_code(env.moor(&["validate", dir]), 1);
    assert!(out.contains("spec.ports[0]: \"8000-8010:80\" maps 11 host port(s) to 1 container port(s)"), "{out}");
}
