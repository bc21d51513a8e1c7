//! The harness itself, against the real daemon: build the scratch image, run a container, remove
//! it.

mod common;

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use common::{docker, image, TestEnv, SLEEPER};

#[tokio::test]
async fn scratch_busybox_image_runs_and_stops_promptly() {
    let env = TestEnv::new("smoke");
    let docker = docker().await;
    let image_id = image().await;
    assert!(image_id.starts_with("sha256:"), "{image_id}");

    let name = env.name("smoke");
    let labels = [("moor.instance".to_string(), env.instance.clone())].into();
    let body = ContainerCreateBody {
        image: Some(common::IMAGE.into()),
        cmd: Some(vec!["sh".into(), "-c".into(), SLEEPER.into()]),
        labels: Some(labels),
        ..Default::default()
    };
    let created = docker
        .create_container(Some(CreateContainerOptionsBuilder::default().name(&name).build()), body)
        .await
        .unwrap();
    docker.start_container(&created.id, None).await.unwrap();
    let state = docker.inspect_container(&name, None).await.unwrap().state.unwrap();
    assert_eq!(state.running, Some(true));

    // The trap makes SIGTERM end the container at once, far inside the default 10 s timeout.
    let started = std::time::Instant::now();
    docker.stop_container(&name, None).await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "stop took {:?}", started.elapsed());

    docker.remove_container(&name, Some(RemoveContainerOptionsBuilder::default().force(true).build())).await.unwrap();
    let gone = docker.inspect_container(&name, None).await;
    assert!(matches!(gone, Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })));
}
