//! `kill -9` of `rota dev` while runs are running and queued, then a restart on the same
//! data directory: everything is there, running runs are reconciled, cron resumes without
//! firing any schedule time twice.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use crate::harness::{Dev, group_alive, logged_pid, schedule_time, utc_in, wait_for};

#[test]
fn after_kill_9_and_restart_everything_is_there_and_cron_resumes_without_duplicates() {
    let mut dev = Dev::start(&["--cores", "2"]);
    dev.add(json!({
        "name": "tick", "queue": "cron", "cores": 0.1, "mems": 10,
        "command": ["true"], "cron": "* * * * * ?"
    }));
    dev.add(json!({
        "name": "long", "queue": "long", "cores": 1, "mems": 10, "command": ["sleep", "60"]
    }));
    dev.add(json!({
        "name": "big", "queue": "big", "cores": 1.5, "mems": 10, "command": ["true"]
    }));
    // A second version, to check that versions survive too.
    let v2 = dev.write(
        "long-v2.json",
        &json!({"name": "long", "queue": "long", "params": {"v": 2}}),
    );
    dev.rota_ok(&["update", &v2]);
    dev.rota_ok(&["start", "tick:cron"]);
    let t = utc_in(-30);
    dev.rota_ok(&["trigger", "long:long", "--time", &t]);
    dev.wait_state("long:long", &t, "running");
    let pid = wait_for("long's process", Duration::from_secs(10), || {
        let runs = dev.rota_json(&["records", "long:long", "--time", &t]);
        runs[0]["process"]["pid"].as_i64()
    });
    dev.rota_ok(&["trigger", "big:big", "--time", &t]);
    dev.wait_state("big:big", &t, "queued");
    wait_for("3 ticks", Duration::from_secs(30), || {
        (dev.records("tick:cron").len() >= 3).then_some(())
    });

    dev.kill9();
    assert!(
        group_alive(pid),
        "the run's process should outlive the crash"
    );

    dev.restart();
    let apps = dev.rota_json(&["apps"]);
    assert_eq!(apps.as_array().unwrap().len(), 3, "{apps}");
    let long = dev.rota_json(&["app", "long:long"]);
    assert_eq!(long["version"], 2);
    assert_eq!(long["spec"]["params"]["v"], 2);

    // The run that was running is reconciled: its process is stopped, it ends lost
    // (no retries), and the queued one runs once capacity allows.
    let lost = dev.wait_state("long:long", &t, "lost");
    assert!(
        lost["reason"].as_str().unwrap().contains("restarted"),
        "{lost}"
    );
    assert!(!group_alive(pid), "the orphan process was not stopped");
    dev.wait_state("big:big", &t, "succeeded");

    // Cron resumes: new ticks arrive and no schedule time exists twice; fire times missed
    // during the short downtime (under the misfire threshold) were run, so there is no gap.
    let restarted_at = jiff::Timestamp::now();
    let runs = wait_for("2 ticks after the restart", Duration::from_secs(30), || {
        let runs = dev.records("tick:cron");
        let after = runs
            .iter()
            .filter(|r| schedule_time(r) > restarted_at)
            .count();
        (after >= 2).then_some(runs)
    });
    let times: Vec<jiff::Timestamp> = runs.iter().map(schedule_time).collect();
    let unique: BTreeSet<_> = times.iter().collect();
    assert_eq!(
        unique.len(),
        times.len(),
        "a schedule time fired twice: {times:?}"
    );
    for pair in times.windows(2) {
        assert_eq!(
            pair[1].duration_since(pair[0]),
            jiff::SignedDuration::from_secs(1),
            "gap in {times:?}"
        );
    }
    let log = dev.rota_ok(&["log", "long:long", "--time", &t]);
    assert_eq!(logged_pid(&log), pid);
}
