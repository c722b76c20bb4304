//! The Cosmos app files of seed 000 are accepted unchanged, and so are its request files.

use serde_json::json;

use crate::harness::{Dev, examples_dir, wait_for};

#[test]
fn the_cosmos_add_and_update_files_are_accepted_unchanged() {
    // A node without a Docker engine (and no pull of the example's registry from here).
    let dev = Dev::start_with_env(&[], &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")]);
    let add = examples_dir().join("cosmos/add.json");
    let update = examples_dir().join("cosmos/update.json");
    let out = dev.rota_ok(&["add", add.to_str().unwrap()]);
    assert!(
        out.contains("Application video_client_upload_metrics:pinot added"),
        "{out}"
    );
    dev.rota_ok(&["start", "video_client_upload_metrics:pinot"]);
    let out = dev.rota_ok(&["update", update.to_str().unwrap()]);
    assert!(out.contains("updated (version 2)"), "{out}");
    let app = dev.rota_json(&["app", "video_client_upload_metrics:pinot"]);
    assert_eq!(
        app["spec"]["cron"], "0 45 16 * * ?",
        "update keeps the cron it leaves out"
    );
    assert_eq!(app["spec"]["params"], json!([]));
    assert_eq!(app["scheduled"], true);

    // The Cosmos records file works unchanged.
    let records = examples_dir().join("cosmos/records.json");
    let runs = dev.rota_json(&["records", records.to_str().unwrap()]);
    assert_eq!(runs, json!([]));

    // A Docker app on a node without the Docker runtime fails with a clear reason.
    let run = dev.rota_json(&["trigger", "video_client_upload_metrics:pinot"]);
    let time = run["schedule_time"].as_str().unwrap().to_string();
    let failed = wait_for(
        "the run to fail",
        std::time::Duration::from_secs(30),
        || {
            let runs = dev.rota_json(&[
                "records",
                "video_client_upload_metrics:pinot",
                "--time",
                &time,
            ]);
            (runs[0]["state"] == "failed").then(|| runs[0].clone())
        },
    );
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("no Docker runtime"),
        "{failed}"
    );
}

#[test]
fn cli_usage_errors_exit_2_and_refusals_exit_1() {
    let dev = Dev::start(&[]);
    let out = dev.rota(&["records", "not-a-key"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = dev.rota(&["bogus-verb"]);
    assert_eq!(out.status.code(), Some(2));
    let out = dev.rota(&["app", "missing:app"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("app missing:app does not exist"));
    let out = dev.rota(&["kill", "missing:app"]);
    assert_eq!(out.status.code(), Some(2), "kill needs a time or a range");
}
