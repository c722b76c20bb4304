//! An every-second app runs once per schedule time, its logs can be read, and stop stops it.

use std::time::Duration;

use serde_json::json;

use crate::harness::{Dev, schedule_time, wait_for};

#[test]
fn an_every_second_app_runs_each_schedule_time_once_until_it_is_stopped() {
    let dev = Dev::start(&[]);
    dev.add(json!({
        "name": "tick", "queue": "q", "cores": 0.1, "mems": 10,
        "command": ["sh", "-c", "echo tick $ROTA_SCHEDULE_TIME $ROTA_PARAMS"],
        "params": {"k": "v"},
        "cron": "* * * * * ?"
    }));
    dev.rota_ok(&["start", "tick:q"]);
    wait_for("5 succeeded runs", Duration::from_secs(30), || {
        let done = dev
            .records("tick:q")
            .iter()
            .filter(|r| r["state"] == "succeeded")
            .count();
        (done >= 5).then_some(())
    });
    dev.rota_ok(&["stop", "tick:q"]);
    let stopped = dev.rota_json(&["app", "tick:q"]);
    assert_eq!(stopped["scheduled"], false);
    assert!(stopped["next_fire_time"].is_null());

    // Every run ends succeeded; the schedule times are consecutive seconds: no gap, no duplicate.
    let runs = wait_for("every run to end", Duration::from_secs(30), || {
        let runs = dev.records("tick:q");
        runs.iter()
            .all(|r| r["state"] == "succeeded")
            .then_some(runs)
    });
    let times: Vec<jiff::Timestamp> = runs.iter().map(schedule_time).collect();
    for pair in times.windows(2) {
        assert_eq!(
            pair[1].duration_since(pair[0]),
            jiff::SignedDuration::from_secs(1),
            "schedule times {times:?}"
        );
    }
    for run in &runs {
        for field in [
            "id",
            "name",
            "queue",
            "schedule_time",
            "state",
            "attempts",
            "exit_code",
            "started_at",
            "ended_at",
        ] {
            assert!(
                run.get(field).is_some(),
                "records JSON lacks `{field}`: {run}"
            );
        }
        assert_eq!(run["attempts"], 1);
        assert_eq!(run["exit_code"], 0);
    }

    // `log` prints the run's own output and what the runtime did.
    let first = runs[0]["schedule_time"].as_str().unwrap();
    let log = dev.rota_ok(&["log", "tick:q", "--time", first]);
    assert!(
        log.contains(&format!("tick {first} {{\"k\":\"v\"}}")),
        "{log}"
    );
    assert!(
        log.contains("start.log") && log.contains("exit code=0"),
        "{log}"
    );

    // After stop, no new schedule time fires: another every-second app proves time passed.
    let last = *times.last().unwrap();
    dev.add(json!({
        "name": "witness", "queue": "q", "cores": 0.1, "mems": 10,
        "command": ["true"], "cron": "* * * * * ?"
    }));
    dev.rota_ok(&["start", "witness:q"]);
    wait_for(
        "the witness to run 3 times",
        Duration::from_secs(30),
        || (dev.records("witness:q").len() >= 3).then_some(()),
    );
    let after: Vec<jiff::Timestamp> = dev.records("tick:q").iter().map(schedule_time).collect();
    assert_eq!(after.last(), Some(&last), "tick fired after it was stopped");
}

#[test]
fn queued_and_running_list_active_runs_as_json() {
    let dev = Dev::start(&["--cores", "1"]);
    dev.add(json!({
        "name": "hold", "queue": "a", "cores": 1, "mems": 10, "command": ["sleep", "30"]
    }));
    dev.add(json!({
        "name": "wait", "queue": "b", "cores": 1, "mems": 10, "command": ["true"]
    }));
    let t1 = crate::harness::utc_in(-10);
    dev.rota_ok(&["trigger", "hold:a", "--time", &t1]);
    dev.wait_state("hold:a", &t1, "running");
    dev.rota_ok(&["trigger", "wait:b", "--time", &t1]);
    let running = dev.rota_json(&["running", "a"]);
    assert_eq!(running.as_array().unwrap().len(), 1);
    assert_eq!(running[0]["name"], "hold");
    let queued = dev.rota_json(&["queued"]);
    assert_eq!(queued.as_array().unwrap().len(), 1);
    assert_eq!(queued[0]["name"], "wait");
    assert_eq!(queued[0]["state"], "queued");
    let table = dev.rota_ok(&["queued"]);
    assert!(table.starts_with("MID"), "{table}");
    let id = queued[0]["id"].to_string();
    dev.rota_ok(&["delete-queued", &id]);
    dev.wait_state("wait:b", &t1, "killed");
    dev.rota_ok(&["kill", "hold:a", "--time", &t1]);
    dev.wait_state("hold:a", &t1, "killed");
}
