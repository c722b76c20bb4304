//! The scheduling core in the server: queue settings, why a run waits, and preemption for a
//! queue below its guaranteed minimum.

use std::time::Duration;

use serde_json::json;

use crate::harness::{Dev, utc_in, wait_for};

#[test]
fn queue_settings_show_in_queues_and_why_explains_a_waiting_run() {
    let dev = Dev::start(&["--cores", "1"]);
    let view = dev.rota_json(&[
        "queue",
        "set",
        "qa",
        "--weight",
        "3",
        "--quota-cores",
        "0.5",
    ]);
    assert_eq!(view["weight"], 3);
    assert_eq!(view["quota"]["cores"], 0.5);
    dev.add(json!({"name": "big", "queue": "qa", "cores": 1, "mems": 10, "command": ["true"]}));
    let t = utc_in(-10);
    dev.rota_ok(&["trigger", "big:qa", "--time", &t]);
    // One core would fit the node but not the queue's quota of half a core... which is
    // larger than the quota itself, so it can never run in this queue.
    let run = dev.wait_state("big:qa", &t, "rejected");
    assert!(run["reason"].as_str().unwrap().contains("quota"), "{run}");

    dev.add(
        json!({"name": "hold", "queue": "qb", "cores": 1, "mems": 10, "command": ["sleep", "30"]}),
    );
    dev.add(json!({"name": "wait", "queue": "qb", "cores": 1, "mems": 10, "command": ["true"]}));
    dev.rota_ok(&["trigger", "hold:qb", "--time", &t]);
    dev.wait_state("hold:qb", &t, "running");
    dev.rota_ok(&["trigger", "wait:qb", "--time", &t]);
    let waiting = dev.wait_state("wait:qb", &t, "queued");
    let why = wait_for("an explanation", Duration::from_secs(10), || {
        let why = dev.rota_ok(&["why", &waiting["id"].to_string()]);
        why.contains("core").then_some(why)
    });
    assert!(why.contains("no node has"), "{why}");
    let queues = dev.rota_ok(&["queues"]);
    assert!(
        queues.contains("WEIGHT") && queues.contains("SHARE"),
        "{queues}"
    );
    dev.rota_ok(&["kill", "hold:qb", "--time", &t]);
}

#[test]
fn a_queue_below_its_minimum_preempts_a_queue_above_its_share() {
    let dev = Dev::start(&["--cores", "2"]);
    dev.rota_ok(&[
        "queue",
        "set",
        "prod",
        "--min-cores",
        "1",
        "--preemption",
        "true",
    ]);
    dev.add(json!({"name": "filler", "queue": "batch", "cores": 1, "mems": 10, "command": ["sleep", "60"]}));
    dev.add(
        json!({"name": "urgent", "queue": "prod", "cores": 1, "mems": 10, "command": ["true"]}),
    );
    let times: Vec<String> = (0..2).map(|i| utc_in(-100 + i)).collect();
    for t in &times {
        dev.rota_ok(&["trigger", "filler:batch", "--time", t]);
        dev.wait_state("filler:batch", t, "running");
    }
    let t = utc_in(-10);
    dev.rota_ok(&["trigger", "urgent:prod", "--time", &t]);
    dev.wait_state("urgent:prod", &t, "succeeded");
    let evicted = wait_for("a preempted filler", Duration::from_secs(30), || {
        dev.records("filler:batch").into_iter().find(|r| {
            r["history"]
                .as_array()
                .is_some_and(|h| h.iter().any(|a| a["state"] == "preempted"))
        })
    });
    assert!(
        evicted["history"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("preempted for run"),
        "{evicted}"
    );
    dev.rota_ok(&[
        "kill",
        "filler:batch",
        "--begin",
        &times[0],
        "--end",
        &times[1],
    ]);
}
