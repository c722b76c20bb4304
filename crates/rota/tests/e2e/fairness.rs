//! Two queues with equal demand on a node that fits only part of it: the less-used queue
//! is served first, and both progress.

use std::time::Duration;

use serde_json::json;

use crate::harness::{Dev, utc_in, wait_for};

#[test]
fn the_less_used_queue_is_served_first_and_both_progress() {
    let dev = Dev::start(&["--cores", "2"]);
    for (name, queue) in [("long-a", "qa"), ("block", "qc")] {
        dev.add(json!({
            "name": name, "queue": queue, "cores": 1, "mems": 10, "command": ["sleep", "30"]
        }));
    }
    for (name, queue) in [("work-a", "qa"), ("work-b", "qb")] {
        dev.add(json!({
            "name": name, "queue": queue, "cores": 1, "mems": 10,
            "command": ["sh", "-c", "sleep 0.2"]
        }));
    }
    let t0 = utc_in(-100);
    dev.rota_ok(&["trigger", "long-a:qa", "--time", &t0]);
    dev.rota_ok(&["trigger", "block:qc", "--time", &t0]);
    dev.wait_state("long-a:qa", &t0, "running");
    dev.wait_state("block:qc", &t0, "running");
    // The node is full: three runs wait in each of qa and qb.
    let times: Vec<String> = (0..3).map(|i| utc_in(-50 + i)).collect();
    for time in &times {
        dev.rota_ok(&["trigger", "work-a:qa", "--time", time]);
        dev.rota_ok(&["trigger", "work-b:qb", "--time", time]);
    }
    assert_eq!(dev.rota_json(&["queued"]).as_array().unwrap().len(), 6);
    let queues = dev.rota_json(&["queues"]);
    let qa = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "qa")
        .unwrap();
    assert_eq!(qa["queued"], 3);
    assert_eq!(qa["cores_used"], 1.0);

    // One core frees: qa already uses one, qb none, so qb is served until it catches up.
    dev.rota_ok(&["kill", "block:qc", "--time", &t0]);
    let (a, b) = wait_for("all six runs to succeed", Duration::from_secs(60), || {
        let a = dev.records("work-a:qa");
        let b = dev.records("work-b:qb");
        let done = |runs: &Vec<serde_json::Value>| {
            runs.len() == 3 && runs.iter().all(|r| r["state"] == "succeeded")
        };
        (done(&a) && done(&b)).then_some((a, b))
    });
    let started = |r: &serde_json::Value| -> jiff::Timestamp {
        r["started_at"].as_str().unwrap().parse().unwrap()
    };
    let last_b = b.iter().map(started).max().unwrap();
    let first_a = a.iter().map(started).min().unwrap();
    assert!(
        last_b <= first_a,
        "qb (less used) should be served before qa: qb's last start {last_b}, qa's first {first_a}"
    );
    dev.rota_ok(&["kill", "long-a:qa", "--time", &t0]);
}
