//! The test helpers for the end-to-end tests: a local registry that images are pushed to and
//! pulled from, and the typed errors of a pull that fails.

use std::time::Duration;

use rota_runtime::testing::{
    BUSYBOX_REPOSITORY, LocalRegistry, build_busybox_image, engine_or_skip, remove_image,
};
use rota_runtime::{CONTAINER_LOG, ContainerSpec, DockerError, Ending, START_LOG};

#[tokio::test]
async fn an_image_pushed_to_the_local_registry_is_pulled_and_run_and_a_missing_one_is_typed() {
    let Some(engine) = engine_or_skip("registry").await else {
        return;
    };
    let registry = tokio::task::spawn_blocking(LocalRegistry::start)
        .await
        .unwrap()
        .expect("docker-registry starts");
    let local = format!("{BUSYBOX_REPOSITORY}:2");
    build_busybox_image(&engine, &local).await.expect("builds");
    let remote = registry
        .push(&engine, &local, "rota-test/pushed", "2")
        .await
        .expect("pushes");
    assert_eq!(remote, format!("{}/rota-test/pushed:2", registry.address()));
    // Only the registry has it now: the run must pull it.
    remove_image(&engine, &remote).await.expect("untags");

    let tmp = tempfile::tempdir().unwrap();
    let log_dir = tmp.path().join("logs");
    let spec = ContainerSpec::new(&remote, &log_dir)
        .command(["sh", "-c", "echo \"image=$ROTA_TEST_IMAGE\""])
        .kill_grace(Duration::from_secs(1));
    let outcome = engine.start(spec).await.expect("starts").wait().await;
    assert_eq!(outcome.ending, Ending::Succeeded, "{outcome:?}");
    let output = std::fs::read_to_string(log_dir.join(CONTAINER_LOG)).unwrap();
    assert_eq!(output, "image=rota-test/busybox:2\n");
    let log = std::fs::read_to_string(log_dir.join(START_LOG)).unwrap();
    assert!(
        log.contains(&format!(" pull {remote} (timeout 10m"))
            || log.contains(&format!(" pull {remote} (timeout")),
        "{log}"
    );
    assert!(log.contains(&format!(" pulled {remote} in ")), "{log}");
    remove_image(&engine, &remote).await.expect("cleans up");

    // A tag the registry does not have.
    let missing = registry.image("rota-test/pushed", "no-such-tag");
    let err = engine
        .start(ContainerSpec::new(&missing, &log_dir))
        .await
        .unwrap_err();
    assert!(matches!(err, DockerError::ImageNotFound { .. }), "{err:?}");
    assert!(!err.is_transient());
    let log = std::fs::read_to_string(log_dir.join(START_LOG)).unwrap();
    assert!(
        log.contains(&format!(" start failed: image {missing} not found")),
        "{log}"
    );

    // A registry that is down.
    let address = registry.address();
    drop(registry);
    let gone = format!("{address}/rota-test/pushed:2");
    let err = engine
        .start(ContainerSpec::new(&gone, &log_dir))
        .await
        .unwrap_err();
    assert!(matches!(err, DockerError::PullFailed { .. }), "{err:?}");
    assert!(err.is_transient());
}
