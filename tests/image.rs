//! The container image (`Containerfile`, `scripts/image.sh`) built from the debug binary that
//! `cargo test` already built, then run against the host's daemon through its socket, as the
//! README shows. Needs a Docker Engine on the local socket.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{docker_cli, eventually, expect_code, image, moor_bin, running_env, service_yaml, TestEnv};

const SOCKET: &str = "/var/run/docker.sock";

/// An image tag removed when dropped, even after a failed assertion. By tag, not by ID: an image
/// built from the same binary elsewhere (say `scripts/image.sh --binary target/debug/moor`) can
/// share this one's ID and must keep its own tag.
struct Built(String);

impl Drop for Built {
    fn drop(&mut self) {
        docker_cli(&["rmi", &self.0]);
    }
}

fn build(tag: &str) -> Built {
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/image.sh"))
        .args(["--binary", moor_bin(), "--tag", tag])
        .output()
        .expect("run scripts/image.sh");
    let built = Built(tag.to_string());
    let stdout = expect_code(out, 0);
    assert!(stdout.starts_with(&format!("{tag} ")), "image.sh names the image: {stdout}");
    built
}

/// The socket's group, which a non-root container needs (`--group-add`).
fn socket_gid() -> String {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(SOCKET).expect("the Docker socket").gid().to_string()
}

/// `docker run --rm` of the image with the socket and the test's folder at /manifests.
const NODE: &str = "image-test-node";

fn run(env: &TestEnv, tag: &str, group: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("docker");
    // Inside a container the host name is the container's: the node is named, as the README's
    // container recipe says, so that the host's moor (below) sees the containers as its node's.
    cmd.args(["run", "--rm", "-e", &format!("MOOR_NODE={NODE}"), "-v", &format!("{SOCKET}:{SOCKET}")]);
    cmd.args(["-v", &format!("{}:/manifests:ro", env.manifests().display())]);
    if let Some(gid) = group {
        cmd.args(["--group-add", gid]);
    }
    cmd.arg(tag).args(args).output().expect("docker run")
}

#[tokio::test]
async fn the_image_validates_and_applies_against_the_host_daemon() {
    image().await;
    let env = TestEnv::new("image");
    let tag = format!("moor-test/moor:{}", env.name("image"));
    let _built = build(&tag);

    let user = docker_cli(&["image", "inspect", "-f", "{{.Config.User}}", &tag]);
    assert_eq!(user.trim(), "65532:65532", "the image runs as a numeric non-root user");

    let name = env.name("imgsvc");
    env.write("svc.yaml", &service_yaml(&name, ""));
    let gid = socket_gid();
    expect_code(run(&env, &tag, Some(&gid), &["validate", "/manifests"]), 0);

    // Without the socket's group the non-root user cannot reach Docker: the error names the cause.
    let denied = run(&env, &tag, None, &["apply", "/manifests", "--instance", &env.instance]);
    assert_eq!(denied.status.code(), Some(1), "apply without the socket's group must fail");
    let stderr = String::from_utf8_lossy(&denied.stderr).to_lowercase();
    assert!(stderr.contains("permission denied"), "stderr: {stderr}");

    expect_code(run(&env, &tag, Some(&gid), &["apply", "/manifests", "--instance", &env.instance]), 0);
    let docker = common::docker().await;
    eventually(Duration::from_secs(10), "the service applied from the image to run", || async {
        running_env(&docker, &env.container(&name)).await.filter(|(running, _)| *running)
    })
    .await;

    // The container was made by the image's moor, under the test's instance: status agrees.
    env.set_env("MOOR_NODE", NODE);
    let out = env.moor(&["status", env.manifests().to_str().unwrap()]);
    expect_code(out, 0);
}
