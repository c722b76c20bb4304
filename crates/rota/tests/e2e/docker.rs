//! Docker apps end to end: a hot update to a new image tag from a local registry, and a
//! rollback, with nothing restarted. Skipped where no Docker engine answers.

use serde_json::json;

use rota_runtime::testing::{LocalRegistry, build_busybox_image, engine_or_skip};

use crate::harness::{Dev, utc_in};

#[test]
fn a_hot_update_to_a_new_tag_runs_the_next_run_on_it_and_rollback_returns() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(engine) = rt.block_on(engine_or_skip("hot update")) else {
        return;
    };
    for tag in ["1", "2"] {
        rt.block_on(build_busybox_image(
            &engine,
            &format!("rota-test/busybox:{tag}"),
        ))
        .expect("build the test image");
    }
    let registry = LocalRegistry::start().expect("a local registry (scripts/ci-deps.sh)");
    let repository = "rota-e2e/hot";
    rt.block_on(registry.push(&engine, "rota-test/busybox:1", repository, "1"))
        .expect("push tag 1");

    let dev = Dev::start(&[]);
    dev.add(json!({
        "name": "hot", "queue": "q", "cores": 0.5, "mems": 64,
        "repository": format!("{}/{repository}", registry.address()), "tag": "1",
        "command": ["sh", "-c", "echo image=$ROTA_TEST_IMAGE params=$ROTA_PARAMS"],
        "params": {"v": 1}
    }));
    let t1 = utc_in(-30);
    dev.rota_ok(&["trigger", "hot:q", "--time", &t1]);
    dev.wait_state("hot:q", &t1, "succeeded");
    let log = dev.rota_ok(&["log", "hot:q", "--time", &t1]);
    assert!(
        log.contains("image=rota-test/busybox:1 params={\"v\":1}"),
        "{log}"
    );

    // Tag 2 is pushed and the app updated while rota keeps running.
    rt.block_on(registry.push(&engine, "rota-test/busybox:2", repository, "2"))
        .expect("push tag 2");
    let update = dev.write(
        "hot-v2.json",
        &json!({"name": "hot", "queue": "q", "tag": "2", "params": {"v": 2}}),
    );
    dev.rota_ok(&["update", &update]);
    let t2 = utc_in(-20);
    dev.rota_ok(&["trigger", "hot:q", "--time", &t2]);
    dev.wait_state("hot:q", &t2, "succeeded");
    let log = dev.rota_ok(&["log", "hot:q", "--time", &t2]);
    assert!(
        log.contains("image=rota-test/busybox:2 params={\"v\":2}"),
        "{log}"
    );
    let versions = dev.rota_ok(&["app", "hot:q", "--versions"]);
    assert!(versions.contains("tag: \"1\" -> \"2\""), "{versions}");

    // Rollback makes version 3 equal to version 1.
    let out = dev.rota_ok(&["rollback", "hot:q", "1"]);
    assert!(out.contains("now version 3"), "{out}");
    let t3 = utc_in(-10);
    dev.rota_ok(&["trigger", "hot:q", "--time", &t3]);
    dev.wait_state("hot:q", &t3, "succeeded");
    let log = dev.rota_ok(&["log", "hot:q", "--time", &t3]);
    assert!(log.contains("image=rota-test/busybox:1"), "{log}");
}
