//! `repair` re-runs only unsuccessful runs and creates missing fire times; `replay` re-runs
//! every ended run; attempts are kept.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Dev, utc_in, wait_for};

fn by_time<'a>(runs: &'a [Value], time: &str) -> &'a Value {
    let rfc = format!("{}Z", time.replace(' ', "T"));
    runs.iter()
        .find(|r| r["schedule_time"] == rfc.as_str())
        .unwrap_or_else(|| panic!("no run at {time} in {runs:?}"))
}

#[test]
fn repair_reruns_only_unsuccessful_runs_and_replay_reruns_all_keeping_attempts() {
    let dev = Dev::start(&[]);
    let mode = dev.dir.join("mode");
    let set_mode = |m: &str| std::fs::write(&mode, m).unwrap();
    dev.add(json!({
        "name": "job", "queue": "q", "cores": 0.1, "mems": 10, "timeout": 2,
        "command": ["sh", "-c", format!(
            "case $(cat {}) in ok) exit 0;; fail) exit 1;; *) sleep 30;; esac",
            mode.display()
        )]
    }));
    let times: Vec<String> = (0..4).map(|i| utc_in(-100 + i)).collect();
    set_mode("ok");
    dev.rota_ok(&["trigger", "job:q", "--time", &times[0]]);
    dev.wait_state("job:q", &times[0], "succeeded");
    set_mode("fail");
    dev.rota_ok(&["trigger", "job:q", "--time", &times[1]]);
    dev.wait_state("job:q", &times[1], "failed");
    set_mode("sleep");
    dev.rota_ok(&["trigger", "job:q", "--time", &times[2]]);
    dev.wait_state("job:q", &times[2], "timed_out");
    dev.rota_ok(&["trigger", "job:q", "--time", &times[3]]);
    dev.wait_state("job:q", &times[3], "running");
    wait_for("the process to start", Duration::from_secs(10), || {
        let runs = dev.rota_json(&["records", "job:q", "--time", &times[3]]);
        runs[0]["process"]["pid"].as_i64()
    });
    dev.rota_ok(&["kill", "job:q", "--time", &times[3]]);
    dev.wait_state("job:q", &times[3], "killed");

    set_mode("ok");
    let range = ["--begin", &times[0], "--end", &times[3]];
    let repaired = dev.rota_json(&[&["repair", "job:q"][..], &range[..]].concat());
    assert_eq!(repaired["runs"].as_array().unwrap().len(), 3, "{repaired}");
    assert_eq!(
        repaired["skipped"].as_array().unwrap().len(),
        1,
        "{repaired}"
    );
    let runs = wait_for(
        "the repaired runs to succeed",
        Duration::from_secs(30),
        || {
            let runs = dev.records("job:q");
            runs.iter()
                .all(|r| r["state"] == "succeeded")
                .then_some(runs)
        },
    );
    assert_eq!(by_time(&runs, &times[0])["attempts"], 1);
    for time in &times[1..] {
        let run = by_time(&runs, time);
        assert_eq!(run["attempts"], 2, "{run}");
        assert_eq!(run["history"].as_array().unwrap().len(), 1, "{run}");
    }
    assert_eq!(by_time(&runs, &times[1])["history"][0]["state"], "failed");
    assert_eq!(
        by_time(&runs, &times[2])["history"][0]["state"],
        "timed_out"
    );
    assert_eq!(by_time(&runs, &times[3])["history"][0]["state"], "killed");

    let replayed = dev.rota_json(&[&["replay", "job:q"][..], &range[..]].concat());
    assert_eq!(replayed["runs"].as_array().unwrap().len(), 4, "{replayed}");
    let runs = wait_for(
        "the replayed runs to succeed",
        Duration::from_secs(30),
        || {
            let runs = dev.records("job:q");
            let rerun = runs
                .iter()
                .all(|r| r["state"] == "succeeded" && r["attempts"].as_u64() >= Some(2));
            rerun.then_some(runs)
        },
    );
    assert_eq!(by_time(&runs, &times[0])["attempts"], 2);
    for time in &times[1..] {
        assert_eq!(by_time(&runs, time)["attempts"], 3);
    }
}

#[test]
fn repair_creates_the_runs_a_stopped_apps_cron_says_should_exist() {
    let dev = Dev::start(&[]);
    dev.add(json!({
        "name": "hourly", "queue": "q", "cores": 0.1, "mems": 10,
        "command": ["true"], "cron": "0 0 * * * ?"
    }));
    let repaired = dev.rota_json(&[
        "repair",
        "hourly:q",
        "--begin",
        &utc_in(-3 * 3600),
        "--end",
        &utc_in(0),
    ]);
    assert_eq!(repaired["runs"].as_array().unwrap().len(), 3, "{repaired}");
    let runs = wait_for("three runs to succeed", Duration::from_secs(30), || {
        let runs = dev.records("hourly:q");
        (runs.len() == 3 && runs.iter().all(|r| r["state"] == "succeeded")).then_some(runs)
    });
    for run in &runs {
        assert!(
            run["schedule_time"].as_str().unwrap().ends_with(":00:00Z"),
            "{run}"
        );
        assert_eq!(run["origin"], "repair");
    }
}
