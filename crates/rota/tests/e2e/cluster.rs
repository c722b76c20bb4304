//! A server with remote agents as separate processes: runs spread over the nodes, a node
//! that stops answering loses its runs to the other node, drained nodes take no new runs.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{AgentProcess, Dev, utc_in, wait_for};

fn nodes_ready(dev: &Dev, n: usize) {
    wait_for(&format!("{n} ready nodes"), Duration::from_secs(30), || {
        let nodes = dev.rota_json(&["nodes"]);
        let ready = nodes
            .as_array()?
            .iter()
            .filter(|n| n["state"] == "ready")
            .count();
        (ready == n).then_some(())
    });
}

fn run_at(dev: &Dev, app: &str, time: &str) -> Value {
    dev.rota_json(&["records", app, "--time", time])[0].clone()
}

#[test]
fn runs_spread_over_two_agents_and_a_drained_node_takes_no_new_runs() {
    let dev = Dev::start_server(&["--heartbeat-timeout", "3"]);
    let _a1 = AgentProcess::start(&dev, "a1", "1");
    let _a2 = AgentProcess::start(&dev, "a2", "1");
    nodes_ready(&dev, 2);
    dev.add(json!({"name": "job", "queue": "q", "cores": 1, "mems": 10,
                   "command": ["sh", "-c", "sleep 0.5"]}));
    let times: Vec<String> = (0..4).map(|i| utc_in(-100 + i)).collect();
    for t in &times {
        dev.rota_ok(&["trigger", "job:q", "--time", t]);
    }
    let runs = wait_for("four runs to succeed", Duration::from_secs(60), || {
        let runs = dev.records("job:q");
        (runs.len() == 4 && runs.iter().all(|r| r["state"] == "succeeded")).then_some(runs)
    });
    let used: BTreeSet<&str> = runs.iter().map(|r| r["node"].as_str().unwrap()).collect();
    assert_eq!(used, BTreeSet::from(["a1", "a2"]), "{runs:?}");

    dev.rota_ok(&["node", "drain", "a1"]);
    let later: Vec<String> = (0..3).map(|i| utc_in(-50 + i)).collect();
    for t in &later {
        dev.rota_ok(&["trigger", "job:q", "--time", t]);
    }
    for t in &later {
        wait_for("the run on a2", Duration::from_secs(60), || {
            let run = run_at(&dev, "job:q", t);
            (run["state"] == "succeeded").then_some(())
        });
        assert_eq!(run_at(&dev, "job:q", t)["node"], "a2");
    }
    let table = dev.rota_ok(&["nodes"]);
    assert!(table.contains("draining"), "{table}");
}

#[test]
fn an_agent_killed_mid_run_loses_its_run_to_the_other_agent_without_duplicates() {
    let dev = Dev::start_server(&["--heartbeat-timeout", "2"]);
    let mut a1 = AgentProcess::start(&dev, "a1", "1");
    nodes_ready(&dev, 1);
    dev.add(
        json!({"name": "slow", "queue": "q", "cores": 1, "mems": 10, "retries": 1,
                   "retry_backoff": 1, "command": ["sh", "-c", "sleep 2"]}),
    );
    let t = utc_in(-10);
    dev.rota_ok(&["trigger", "slow:q", "--time", &t]);
    wait_for("the run to start on a1", Duration::from_secs(30), || {
        let run = run_at(&dev, "slow:q", &t);
        (run["state"] == "running" && run["process"]["pid"].is_i64()).then_some(())
    });
    a1.kill9();
    let _a2 = AgentProcess::start(&dev, "a2", "1");
    let done = wait_for(
        "the retry to succeed on a2",
        Duration::from_secs(60),
        || {
            let run = run_at(&dev, "slow:q", &t);
            (run["state"] == "succeeded").then_some(run)
        },
    );
    assert_eq!(done["node"], "a2", "{done}");
    assert_eq!(done["attempts"], 2, "{done}");
    assert_eq!(done["history"][0]["state"], "lost", "{done}");
    // a1 comes back: nothing of that run runs again, and the record stays as it is.
    a1.restart();
    nodes_ready(&dev, 2);
    let after = run_at(&dev, "slow:q", &t);
    assert_eq!(after["attempts"], 2);
    assert_eq!(after["state"], "succeeded");
}
