//! `Engine::connect_network` against the real daemon: Docker 20.10 answers 403 both when the
//! container is already on the network and when it forbids the connect (a container on the host
//! network); the engine tells them apart by looking at the container, not at the message.

mod common;

use common::{docker_cli, image, TestEnv, IMAGE};
use moor::engine::{DockerEngine, Engine};

/// Removes what the test made by hand (no instance label) when it ends, failed or not.
struct Made(Vec<(&'static str, String)>);

impl Drop for Made {
    fn drop(&mut self) {
        for (kind, name) in self.0.iter().rev() {
            match *kind {
                "network" => docker_cli(&["network", "rm", name]),
                _ => docker_cli(&["rm", "-f", name]),
            };
        }
    }
}

#[tokio::test]
async fn a_second_connect_is_done_and_a_forbidden_one_is_an_error() {
    image().await;
    let env = TestEnv::new("connect403");
    let (net, app, hostnet) = (env.name("net"), env.name("app"), env.name("hostnet"));
    let mut made = Made(Vec::new());
    docker_cli(&["network", "create", &net]);
    made.0.push(("network", net.clone()));
    let id = docker_cli(&["run", "-d", "--name", &app, IMAGE, "sleep", "100000"]).trim().to_string();
    made.0.push(("container", app.clone()));
    let host_id = docker_cli(&["run", "-d", "--name", &hostnet, "--network", "host", IMAGE, "sleep", "100000"])
        .trim()
        .to_string();
    made.0.push(("container", hostnet.clone()));
    assert!(!id.is_empty() && !host_id.is_empty());

    let engine = DockerEngine::connect(None).await.unwrap();
    engine.connect_network(&id, &net, &[]).await.unwrap();
    // Already attached: Docker's 403, and the container is on the network: done.
    engine.connect_network(&id, &net, &[]).await.unwrap();
    let on = docker_cli(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", &app]);
    assert!(on.contains(&format!("\"{net}\"")), "{on}");
    // On the host network Docker forbids it (403 too): an error, not a silent success.
    let err = engine.connect_network(&host_id, &net, &[]).await;
    assert!(err.is_err(), "a forbidden connect was taken for done");
}
