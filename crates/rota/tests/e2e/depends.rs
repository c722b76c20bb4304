//! Dependencies end to end: Cosmos time windows and Chronos parents, released by events.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Dev, wait_for};

/// A process app with no cron that succeeds, unless its schedule time matches `fail_at`.
fn app(name: &str, extra: Value) -> Value {
    let mut app = json!({
        "name": name, "queue": "q", "cores": 0.1, "mems": 10,
        "command": ["sh", "-c", "case \"$ROTA_SCHEDULE_TIME\" in $FAIL_AT) exit 1;; esac"],
        "env": {"FAIL_AT": "never"}
    });
    for (k, v) in extra.as_object().unwrap() {
        app[k] = v.clone();
    }
    app
}

fn window(name: &str, from: i64, to: i64) -> Value {
    json!([{"name": name, "queue": "q", "fromSeconds": from, "toSeconds": to}])
}

fn ts(run: &Value, field: &str) -> jiff::Timestamp {
    run[field].as_str().unwrap().parse().unwrap()
}

fn id(run: &Value) -> String {
    run["id"].to_string()
}

#[test]
fn a_chain_runs_in_dependency_order_and_why_names_what_is_missing() {
    let dev = Dev::start(&[]);
    dev.add(app("c", json!({})));
    dev.add(app("b", json!({"depends": window("c", 60, 0)})));
    dev.add(app("a", json!({"depends": window("b", 60, 0)})));
    let t = "2026-01-01 12:00:00";
    dev.rota_ok(&["trigger", "a:q", "--time", t]);
    let a = dev.wait_state("a:q", t, "pending");
    let why = dev.rota_ok(&["why", &id(&a)]);
    assert!(
        why.contains("waits for b:q") && why.contains("no run between"),
        "{why}"
    );
    dev.rota_ok(&["trigger", "b:q", "--time", t]);
    dev.wait_state("b:q", t, "pending");
    dev.rota_ok(&["trigger", "c:q", "--time", t]);
    let a = dev.wait_state("a:q", t, "succeeded");
    let b = dev.wait_state("b:q", t, "succeeded");
    let c = dev.wait_state("c:q", t, "succeeded");
    assert!(
        ts(&c, "ended_at") <= ts(&b, "started_at"),
        "b started before c ended"
    );
    assert!(
        ts(&b, "ended_at") <= ts(&a, "started_at"),
        "a started before b ended"
    );
}

#[test]
fn a_diamond_runs_its_bottom_after_both_branches() {
    let dev = Dev::start(&[]);
    dev.add(app("top", json!({})));
    dev.add(app("left", json!({"parents": ["top:q"]})));
    dev.add(app("right", json!({"parents": ["top:q"]})));
    dev.add(app("bottom", json!({"parents": ["left:q", "right:q"]})));
    let t = "2026-01-01 12:00:00";
    // Chronos parents: triggering the top creates the children's runs for the same time.
    dev.rota_ok(&["trigger", "top:q", "--time", t]);
    let bottom = dev.wait_state("bottom:q", t, "succeeded");
    assert_eq!(bottom["origin"], "parent");
    for side in ["left:q", "right:q"] {
        let run = dev.wait_state(side, t, "succeeded");
        assert!(
            ts(&run, "ended_at") <= ts(&bottom, "started_at"),
            "{side} ended after bottom started"
        );
    }
    let graph = dev.rota_ok(&["graph", "bottom:q", "--dot"]);
    assert!(graph.contains("\"left:q\" -> \"bottom:q\""), "{graph}");
    assert!(graph.contains("\"top:q\" -> \"right:q\""), "{graph}");
}

#[test]
fn a_window_spanning_midnight_needs_only_the_upstream_fire_times_inside_it() {
    let dev = Dev::start(&[]);
    dev.add(app(
        "half-hourly",
        json!({
            "cron": "0 0/30 * * * ?",
            "env": {"FAIL_AT": "*T23:30:00Z"}
        }),
    ));
    dev.add(app(
        "after-midnight",
        json!({"depends": window("half-hourly", 1800, 0)}),
    ));
    // The 23:30 run fails; it lies outside [23:45, 00:15], so it does not matter.
    dev.rota_ok(&["trigger", "half-hourly:q", "--time", "2026-01-01 23:30:00"]);
    dev.wait_state("half-hourly:q", "2026-01-01 23:30:00", "failed");
    let t = "2026-01-02 00:15:00";
    dev.rota_ok(&["trigger", "after-midnight:q", "--time", t]);
    let waiting = dev.wait_state("after-midnight:q", t, "pending");
    let why = dev.rota_json(&["why", &id(&waiting)]);
    assert_eq!(
        why["dependencies"][0]["waits"],
        json!([{"kind": "missing", "time": "2026-01-02T00:00:00Z"}])
    );
    dev.rota_ok(&["trigger", "half-hourly:q", "--time", "2026-01-02 00:00:00"]);
    dev.wait_state("after-midnight:q", t, "succeeded");
}

#[test]
fn the_cosmos_example_a_daily_app_needs_every_hourly_run_of_the_previous_day() {
    let dev = Dev::start(&[]);
    dev.add(app("hourly", json!({"cron": "0 0 * * * ?"})));
    dev.add(app("daily", json!({"cron": "0 0 1 * * ?"})));
    let file = dev.write(
        "depend.json",
        &json!({"name": "daily", "queue": "q", "dependName": "hourly", "dependQueue": "q",
                "fromSeconds": 86400, "toSeconds": 0}),
    );
    let out = dev.rota_ok(&["depend", "add", &file]);
    assert!(
        out.contains("Dependency (daily:q, hourly:q) added"),
        "{out}"
    );
    let got = dev.rota_json(&["depend", "get", "daily:q"]);
    assert_eq!(got[0]["fromSeconds"], 86400);
    let t = "2026-03-10 01:00:00";
    dev.rota_ok(&["trigger", "daily:q", "--time", t]);
    let daily = dev.wait_state("daily:q", t, "pending");
    let why = dev.rota_json(&["why", &id(&daily)]);
    assert_eq!(
        why["dependencies"][0]["waits"].as_array().unwrap().len(),
        20,
        "{why}"
    );
    // The window [03-09 01:00, 03-10 01:00] holds 25 hourly fire times (both ends count).
    let repaired = dev.rota_json(&[
        "repair",
        "hourly:q",
        "--begin",
        "2026-03-09 01:00:00",
        "--end",
        t,
    ]);
    assert_eq!(repaired["runs"].as_array().unwrap().len(), 25);
    let daily = dev.wait_state("daily:q", t, "succeeded");
    let hourly = dev.records("hourly:q");
    assert_eq!(hourly.len(), 25);
    for run in &hourly {
        assert!(ts(run, "ended_at") <= ts(&daily, "started_at"));
    }
}

#[test]
fn an_upstream_failure_repaired_lets_the_dependent_run() {
    let dev = Dev::start(&[]);
    let flag = dev.dir.join("ok");
    dev.add(app(
        "up",
        json!({
            "command": ["sh", "-c", format!("test -e {}", flag.display())]
        }),
    ));
    dev.add(app("down", json!({"depends": window("up", 0, 0)})));
    let t = "2026-01-01 12:00:00";
    dev.rota_ok(&["trigger", "down:q", "--time", t]);
    dev.rota_ok(&["trigger", "up:q", "--time", t]);
    let up = dev.wait_state("up:q", t, "failed");
    let down = dev.wait_state("down:q", t, "pending");
    let why = dev.rota_json(&["why", &id(&down)]);
    assert_eq!(
        why["dependencies"][0]["waits"][0]["state"], "failed",
        "{why}"
    );
    assert_eq!(why["dependencies"][0]["waits"][0]["run"], up["id"]);
    std::fs::write(&flag, "").unwrap();
    dev.rota_ok(&["repair", "up:q", "--time", t]);
    dev.wait_state("down:q", t, "succeeded");
}

#[test]
fn a_cascading_replay_reruns_the_dependents_in_order_and_dry_run_changes_nothing() {
    let dev = Dev::start(&[]);
    dev.add(app("c", json!({})));
    dev.add(app("b", json!({"depends": window("c", 60, 0)})));
    dev.add(app("a", json!({"depends": window("b", 60, 0)})));
    let t = "2026-01-01 12:00:00";
    for name in ["c:q", "b:q", "a:q"] {
        dev.rota_ok(&["trigger", name, "--time", t]);
    }
    dev.wait_state("a:q", t, "succeeded");
    let plan = dev.rota_json(&["replay", "c:q", "--time", t, "--cascade", "--dry-run"]);
    let apps: Vec<&str> = plan["planned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["app"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(apps, ["c", "b", "a"], "{plan}");
    assert_eq!(
        dev.wait_state("a:q", t, "succeeded")["attempts"],
        1,
        "dry run changed nothing"
    );

    let replayed = dev.rota_json(&["replay", "c:q", "--time", t, "--cascade"]);
    assert_eq!(replayed["runs"].as_array().unwrap().len(), 3);
    let runs = wait_for("the second attempts", Duration::from_secs(30), || {
        let runs: Vec<Value> = ["c:q", "b:q", "a:q"]
            .iter()
            .map(|app| dev.rota_json(&["records", app, "--time", t])[0].clone())
            .collect();
        runs.iter()
            .all(|r| r["state"] == "succeeded" && r["attempts"] == 2)
            .then_some(runs)
    });
    assert!(ts(&runs[0], "ended_at") <= ts(&runs[1], "started_at"));
    assert!(ts(&runs[1], "ended_at") <= ts(&runs[2], "started_at"));
}

#[test]
fn a_cycle_is_refused_with_the_cycle_and_a_needed_app_is_kept_unless_forced() {
    let dev = Dev::start(&[]);
    dev.add(app("x", json!({})));
    dev.add(app("y", json!({"depends": window("x", 60, 0)})));
    let file = dev.write(
        "cycle.json",
        &json!({"name": "x", "queue": "q", "dependName": "y", "dependQueue": "q",
                "fromSeconds": 60, "toSeconds": 0}),
    );
    let out = dev.rota(&["depend", "add", &file]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cycle: x:q -> y:q -> x:q"), "{err}");

    let out = dev.rota(&["remove", "x:q"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needed by y:q"));
    dev.rota_ok(&["remove", "x:q", "--force"]);
    assert_eq!(dev.rota_json(&["depend", "get", "y:q"]), json!([]));
}

#[test]
fn pending_runs_survive_a_restart_and_are_released_after_it() {
    let mut dev = Dev::start(&[]);
    dev.add(app("up", json!({})));
    dev.add(app("down", json!({"depends": window("up", 3600, 0)})));
    let t = "2026-01-01 12:00:00";
    dev.rota_ok(&["trigger", "down:q", "--time", t]);
    let before = dev.wait_state("down:q", t, "pending");
    dev.kill9();
    dev.restart();
    let after = dev.wait_state("down:q", t, "pending");
    assert_eq!(before["id"], after["id"]);
    assert_eq!(
        dev.rota_json(&["depend", "get", "down:q"])[0]["dependName"],
        "up"
    );
    dev.rota_ok(&["trigger", "up:q", "--time", "2026-01-01 11:30:00"]);
    dev.wait_state("down:q", t, "succeeded");
}
