//! Cosmos' container contract end to end: `rota dev --docker-container-python start.py` runs
//! an image built for Cosmos (built here: a `python` that runs `/start.py`, both shell
//! scripts) with Cosmos' 13 arguments and mounts, and `rota log` shows the app's own
//! `start.log` and `container.log` first, then rota's kept beside them. An app with a
//! `command` on the same node keeps rota's contract. Skipped where no Docker engine answers.

use std::path::Path;

use serde_json::json;

use rota_runtime::testing::{build_cosmos_image, cosmos_image, engine_or_skip};

use crate::harness::{Dev, schedule_time, utc_in};

/// The app's params, keys in order (so that the JSON text is the same whatever the map's
/// order): a space and non-ASCII text.
const PARAMS_ENCODED: &str =
    "%7B%22city%22%3A%22%E5%8C%97%E4%BA%AC%22%2C%22msg%22%3A%22hello+world%22%7D";

fn read(dir: &Path, file: &str) -> String {
    let path = dir.join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// The byte offset of `needle` in `text` at or after `from`, or a panic showing `text`.
fn find_after(text: &str, needle: &str, from: usize) -> usize {
    match text[from..].find(needle) {
        Some(at) => from + at,
        None => panic!("{needle:?} after byte {from} in:\n{text}"),
    }
}

#[test]
fn a_cosmos_image_gets_cosmos_arguments_and_mounts_and_rota_log_shows_its_logs_first() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(engine) = rt.block_on(engine_or_skip("cosmos contract")) else {
        return;
    };
    let image = cosmos_image();
    rt.block_on(build_cosmos_image(&engine, &image))
        .expect("build the Cosmos test image");
    let (repository, tag) = image.split_once(':').unwrap();
    let container_tmp = tempfile::tempdir().unwrap();
    std::fs::write(container_tmp.path().join("from-the-host"), "").unwrap();
    let tmp_arg = container_tmp.path().display().to_string();
    let dev = Dev::start(&[
        "--docker-container-python",
        "start.py",
        "--docker-container-tmp",
        &tmp_arg,
    ]);

    // Cosmos' app JSON, unchanged: no `command`, no `contract`.
    dev.add(json!({
        "name": "video_metrics", "queue": "pinot", "user": "yurun", "priority": 3,
        "cores": 1, "mems": 64, "repository": repository, "tag": tag,
        "params": {"city": "北京", "msg": "hello world"},
        "cron": "0 */5 * * * ?", "timeout": 120
    }));
    let time = utc_in(-30);
    dev.rota_ok(&["trigger", "video_metrics:pinot", "--time", &time]);
    let run = dev.wait_state("video_metrics:pinot", &time, "succeeded");
    let millis = schedule_time(&run).as_millisecond().to_string();
    let view = dev.rota_json(&["log", "video_metrics:pinot", "--time", &time]);
    let log_dir = view["dir"].as_str().expect("the log dir").to_string();
    let dir = Path::new(&log_dir);

    // `python start.py` and Cosmos' 13 arguments, in Cosmos' order and encoding.
    let argv = read(dir, "args.txt");
    let argv: Vec<&str> = argv.lines().collect();
    let expected = [
        "start.py",
        "video_metrics",
        "pinot",
        "yurun",
        "3",
        "1",
        "64",
        repository,
        tag,
        PARAMS_ENCODED,
        "0+*%2F5+*+*+*+%3F",
        "120",
        &millis,
        &log_dir,
    ];
    assert_eq!(argv.len(), expected.len(), "{argv:?}");
    for (i, (got, want)) in argv.iter().zip(expected).enumerate() {
        assert_eq!(*got, want, "argument {i} of {argv:?}");
    }
    // The log dir is mounted at the same path (the app wrote args.txt at its 13th
    // argument, and the host reads it there); docker.container.tmp is /tmp.
    assert!(
        read(dir, "tmp.txt").lines().any(|l| l == "from-the-host"),
        "/tmp is --docker-container-tmp"
    );

    // `rota log`: the app's start.log and container.log, then rota's own beside them.
    let log = dev.rota_ok(&["log", "video_metrics:pinot", "--time", &time]);
    assert!(log.starts_with("start.log\n"), "{log}");
    let mut at = find_after(&log, "start.py argument 1: video_metrics\n", 0);
    at = find_after(
        &log,
        &format!("start.py argument 9: {PARAMS_ENCODED}\n"),
        at,
    );
    at = find_after(&log, "\ncontainer.log\n", at);
    at = find_after(&log, "start.py container.log: working\n", at);
    at = find_after(&log, "\nrota-start.log\n--- attempt 1 ---\n", at);
    at = find_after(&log, &format!(" mount={log_dir}:{log_dir}"), at);
    at = find_after(&log, " end succeeded: exit code 0\n", at);
    at = find_after(&log, "\nrota-container.log\n", at);
    find_after(&log, "start.py stdout: hello\n", at);
    find_after(&log, "start.py stderr: hello\n", at);
    let app_logs = &log[..log.find("\nrota-start.log\n").unwrap()];
    assert!(
        !app_logs.contains("create container"),
        "rota writes neither of the app's logs"
    );
    assert!(!app_logs.contains("stdout: hello"), "{app_logs}");
    assert!(
        view["rota"]["start_log"]
            .as_str()
            .unwrap()
            .contains(" end succeeded")
    );

    // On the same node, an app with a `command` keeps rota's contract.
    dev.add(json!({
        "name": "plain", "queue": "pinot", "cores": 1, "mems": 64,
        "repository": repository, "tag": tag,
        "command": ["sh", "-c", "echo plain app of $ROTA_APP"]
    }));
    dev.rota_ok(&["trigger", "plain:pinot", "--time", &time]);
    dev.wait_state("plain:pinot", &time, "succeeded");
    let log = dev.rota_ok(&["log", "plain:pinot", "--time", &time]);
    let container = find_after(&log, "\ncontainer.log\nplain app of plain\n", 0);
    assert!(log[..container].contains(" create container "), "{log}");
    assert!(!log.contains("rota-start.log"), "{log}");
}
