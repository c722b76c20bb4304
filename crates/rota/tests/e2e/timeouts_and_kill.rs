//! Timeouts stop the whole process group; `kill` ends a run `killed`.

use serde_json::json;

use crate::harness::{Dev, group_alive, logged_pid, utc_in};

#[test]
fn a_run_past_its_timeout_ends_timed_out_and_its_process_group_is_gone() {
    let dev = Dev::start(&[]);
    dev.add(json!({
        "name": "slow", "queue": "q", "cores": 0.1, "mems": 10, "timeout": 1,
        "command": ["sh", "-c", "sleep 30 & sleep 30"]
    }));
    let t = utc_in(0);
    dev.rota_ok(&["trigger", "slow:q", "--time", &t]);
    let run = dev.wait_state("slow:q", &t, "timed_out");
    assert!(
        run["reason"].as_str().unwrap().contains("timed out"),
        "{run}"
    );
    let log = dev.rota_ok(&["log", "slow:q", "--time", &t]);
    let pid = logged_pid(&log);
    assert!(
        !group_alive(pid),
        "process group {pid} outlived the timeout"
    );
}

#[test]
fn kill_ends_a_running_run_killed_and_accepts_a_cosmos_kill_file() {
    let dev = Dev::start(&[]);
    dev.add(json!({
        "name": "long", "queue": "q", "cores": 0.1, "mems": 10,
        "command": ["sleep", "30"]
    }));
    let t = utc_in(-5);
    dev.rota_ok(&["trigger", "long:q", "--time", &t]);
    let running = dev.wait_state("long:q", &t, "running");
    crate::harness::wait_for(
        "the process to start",
        std::time::Duration::from_secs(10),
        || {
            let runs = dev.rota_json(&["records", "long:q", "--time", &t]);
            runs[0]["process"]["pid"].as_i64()
        },
    );
    let kill_file = dev.write(
        "kill.json",
        &json!({"name": "long", "queue": "q", "scheduleTime": t}),
    );
    dev.rota_ok(&["kill", &kill_file]);
    let killed = dev.wait_state("long:q", &t, "killed");
    assert_eq!(killed["id"], running["id"]);
    let log = dev.rota_ok(&["log", "long:q", "--time", &t]);
    assert!(!group_alive(logged_pid(&log)));

    // Killing an ended run is refused politely: it is reported, not an error.
    let again = dev.rota_ok(&["kill", "long:q", "--time", &t]);
    assert!(again.contains("already killed"), "{again}");
}
