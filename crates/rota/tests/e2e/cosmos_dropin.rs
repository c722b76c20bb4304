//! A Cosmos user's habits: event-driven apps called with params, parallelism, repair and
//! replay edge cases, and an import of a Cosmos database dump.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Dev, utc_in, wait_for};

#[test]
fn an_event_driven_app_called_twice_sees_each_calls_own_params() {
    let dev = Dev::start(&[]);
    dev.add(json!({
        "name": "ev", "queue": "q", "cores": 0.1, "mems": 10, "cron": "event-driven",
        "command": ["sh", "-c", "echo params=$ROTA_PARAMS"],
        "params": {"region": "eu", "day": "mon"}
    }));
    let out = dev.rota(&["start", "ev:q"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an event-driven app cannot be started"
    );
    let times = ["2026-01-01 10:00:00", "2026-01-01 11:00:00"];
    for (time, day) in times.iter().zip(["tue", "wed"]) {
        let call = dev.write(
            &format!("call-{day}.json"),
            &json!({"name": "ev", "queue": "q", "timestamp": time, "params": {"day": day}}),
        );
        let out = dev.rota_ok(&["call", &call]);
        assert!(
            out.contains(&format!("Application ev:q {time} called")),
            "{out}"
        );
    }
    for (time, day) in times.iter().zip(["tue", "wed"]) {
        dev.wait_state("ev:q", time, "succeeded");
        let log = dev.rota_ok(&["log", "ev:q", "--time", time]);
        assert!(
            log.contains(&format!("params={{\"day\":\"{day}\",\"region\":\"eu\"}}")),
            "{log}"
        );
    }
    // Replay keeps the call's params.
    dev.rota_ok(&["replay", "ev:q", "--time", times[0]]);
    wait_for("the replay", Duration::from_secs(30), || {
        let run = dev.rota_json(&["records", "ev:q", "--time", times[0]])[0].clone();
        (run["state"] == "succeeded" && run["attempts"] == 2).then_some(())
    });
    let log = dev.rota_ok(&["log", "ev:q", "--time", times[0]]);
    assert_eq!(log.matches("\"day\":\"tue\"").count(), 2, "{log}");
    // `trigger --params` does the same.
    dev.rota_ok(&[
        "trigger",
        "ev:q",
        "--time",
        "2026-01-01 12:00:00",
        "--params",
        "{\"day\":\"thu\"}",
    ]);
    dev.wait_state("ev:q", "2026-01-01 12:00:00", "succeeded");
    let log = dev.rota_ok(&["log", "ev:q", "--time", "2026-01-01 12:00:00"]);
    assert!(log.contains("\"day\":\"thu\""), "{log}");
}

#[test]
fn parallelism_2_is_never_exceeded_with_10_runs_due_at_once() {
    let dev = Dev::start(&["--cores", "16"]);
    let marks = dev.dir.join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    // Each run records its start and end; overlaps are counted from the marks afterwards.
    dev.add(json!({
        "name": "par", "queue": "q", "cores": 0.1, "mems": 10, "parallelism": 2,
        "command": ["sh", "-c", format!(
            "echo start $(date +%s%N) >> {0}/$ROTA_RUN_ID; sleep 0.3; echo end $(date +%s%N) >> {0}/$ROTA_RUN_ID",
            marks.display()
        )]
    }));
    for i in 0..10 {
        dev.rota_ok(&["trigger", "par:q", "--time", &utc_in(-100 + i)]);
    }
    let runs = wait_for("ten runs to succeed", Duration::from_secs(60), || {
        let runs = dev.records("par:q");
        (runs.len() == 10 && runs.iter().all(|r| r["state"] == "succeeded")).then_some(runs)
    });
    let mut events: Vec<(u128, i32)> = Vec::new();
    for run in &runs {
        let text = std::fs::read_to_string(marks.join(run["id"].to_string())).unwrap();
        for line in text.lines() {
            let (kind, at) = line.split_once(' ').unwrap();
            events.push((at.parse().unwrap(), if kind == "start" { 1 } else { -1 }));
        }
    }
    events.sort_by_key(|(at, delta)| (*at, *delta));
    let (mut now, mut most) = (0, 0);
    for (_, delta) in events {
        now += delta;
        most = most.max(now);
    }
    assert!(most <= 2, "{most} runs ran at once");
    assert_eq!(most, 2, "parallelism 2 lets two run together");
}

#[test]
fn repair_creates_a_missing_run_but_not_a_future_one_and_replay_skips_a_running_one() {
    let dev = Dev::start(&[]);
    dev.add(json!({
        "name": "minutely", "queue": "q", "cores": 0.1, "mems": 10,
        "command": ["sleep", "30"], "cron": "0 * * * * ?"
    }));
    // A range from 3 minutes ago to 3 minutes ahead: only the past fire times get runs.
    let repaired = dev.rota_json(&[
        "repair",
        "minutely:q",
        "--begin",
        &utc_in(-180),
        "--end",
        &utc_in(180),
    ]);
    let created = repaired["runs"].as_array().unwrap();
    assert_eq!(created.len(), 3, "{repaired}");
    let now = jiff::Timestamp::now();
    for run in created {
        let time: jiff::Timestamp = run["schedule_time"].as_str().unwrap().parse().unwrap();
        assert!(time <= now, "a future fire time was created: {time}");
    }
    let first = created[0]["schedule_time"].as_str().unwrap().to_string();
    dev.wait_state("minutely:q", &first, "running");
    let replayed = dev.rota_json(&["replay", "minutely:q", "--time", &first]);
    assert_eq!(replayed["runs"], json!([]));
    assert_eq!(
        replayed["skipped"][0]["reason"], "already running",
        "{replayed}"
    );
    dev.rota_ok(&[
        "kill",
        "minutely:q",
        "--begin",
        &utc_in(-180),
        "--end",
        &utc_in(0),
    ]);
}

const DUMP: &str = r#"-- MySQL dump 10.13  Distrib 5.7.26, for Linux (x86_64)
DROP TABLE IF EXISTS `applications`;
CREATE TABLE `applications` (
  `name` varchar(100) COLLATE utf8_bin NOT NULL,
  `queue` varchar(100) COLLATE utf8_bin NOT NULL,
  `user` varchar(15) DEFAULT NULL,
  `priority` int(11) DEFAULT NULL,
  `cores` int(11) DEFAULT NULL,
  `mems` int(11) DEFAULT NULL,
  `repository` varchar(500) DEFAULT NULL,
  `tag` varchar(100) DEFAULT NULL,
  `params` varchar(1000) NOT NULL,
  `cron` varchar(20) DEFAULT NULL,
  `timeout` int(11) DEFAULT NULL,
  UNIQUE KEY `name_queue` (`name`,`queue`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8 COLLATE=utf8_bin;
LOCK TABLES `applications` WRITE;
INSERT INTO `applications` VALUES ('hourly_import','hive','yurun',0,1,1024,'registry.example/dip/import','0.0.1','{\"table\":\"cdn\"}','0 0 * * * ?',3600),('daily_report','pinot','yurun',1,1,2048,'registry.example/dip/report','1.2','{}','0 0 1 * * ?',7200);
UNLOCK TABLES;
DROP TABLE IF EXISTS `dependencies`;
CREATE TABLE `dependencies` (
  `name` varchar(100) NOT NULL,
  `queue` varchar(100) NOT NULL,
  `depend_name` varchar(100) NOT NULL,
  `depend_queue` varchar(100) NOT NULL,
  `from_seconds` int(11) NOT NULL,
  `to_seconds` int(11) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8;
INSERT INTO `dependencies` VALUES ('daily_report','pinot','hourly_import','hive',86400,0);
DROP TABLE IF EXISTS `records`;
CREATE TABLE `records` (
  `name` varchar(100) NOT NULL,
  `queue` varchar(100) NOT NULL,
  `host` varchar(100) NOT NULL,
  `scheduletime` datetime NOT NULL,
  `updatetime` datetime NOT NULL,
  `state` int(11) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8;
INSERT INTO `records` VALUES ('hourly_import','hive','10.1.1.1','2019-04-02 00:00:00','2019-04-02 00:10:00',3),('hourly_import','hive','10.1.1.2','2019-04-02 01:00:00','2019-04-02 01:07:00',4),('hourly_import','hive','10.1.1.1','2019-04-02 02:00:00','2019-04-02 02:00:05',2),('daily_report','pinot','10.1.1.3','2019-04-02 01:00:00','2019-04-02 01:30:00',5),('gone_app','hive','10.1.1.3','2019-04-02 01:00:00','2019-04-02 01:30:00',3);
DROP TABLE IF EXISTS `QRTZ_TRIGGERS`;
CREATE TABLE `QRTZ_TRIGGERS` (
  `SCHED_NAME` varchar(120) NOT NULL,
  `TRIGGER_NAME` varchar(200) NOT NULL,
  `TRIGGER_GROUP` varchar(200) NOT NULL,
  `JOB_NAME` varchar(200) NOT NULL,
  `JOB_GROUP` varchar(200) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8;
INSERT INTO `QRTZ_TRIGGERS` VALUES ('cosmos','hourly_import','hive','hourly_import','hive');
"#;

#[test]
fn a_cosmos_dump_is_imported_with_apps_dependencies_schedules_and_history() {
    let dev = Dev::start(&["--time-zone", "Asia/Shanghai"]);
    let dump = dev.dir.join("cosmos.sql");
    std::fs::write(&dump, DUMP).unwrap();
    let out = dev.rota_ok(&["import", "cosmos", "--from", dump.to_str().unwrap()]);
    assert!(
        out.contains("apps: 2 added, 0 already there, 1 started; dependencies: 1 added; records: 4 imported, 1 left out"),
        "{out}"
    );
    assert!(out.contains("gone_app:hive"), "{out}");
    let apps: BTreeSet<String> = dev
        .rota_json(&["apps"])
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}:{}:{}",
                a["spec"]["name"], a["spec"]["queue"], a["scheduled"]
            )
        })
        .collect();
    assert_eq!(
        apps,
        BTreeSet::from([
            "\"daily_report\":\"pinot\":false".to_string(),
            "\"hourly_import\":\"hive\":true".to_string()
        ])
    );
    let depends = dev.rota_json(&["depend", "get", "daily_report:pinot"]);
    assert_eq!(depends[0]["dependName"], "hourly_import");
    assert_eq!(depends[0]["fromSeconds"], 86400);
    let records = dev.rota_json(&[
        "records",
        "hourly_import:hive",
        "--begin",
        "2019-04-02 00:00:00",
        "--end",
        "2019-04-02 23:59:59",
    ]);
    let states: Vec<(&str, &str)> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r: &Value| {
            (
                r["schedule_time"].as_str().unwrap(),
                r["state"].as_str().unwrap(),
            )
        })
        .collect();
    // Cosmos' times are in its server's zone (here Asia/Shanghai, UTC+8).
    assert_eq!(
        states,
        [
            ("2019-04-01T16:00:00Z", "succeeded"),
            ("2019-04-01T17:00:00Z", "failed"),
            ("2019-04-01T18:00:00Z", "lost"),
        ]
    );
    assert_eq!(records[0]["node"], "10.1.1.1");
    assert_eq!(records[0]["origin"], "imported");
    // Importing again changes nothing.
    let again = dev.rota_ok(&["import", "cosmos", dump.to_str().unwrap()]);
    assert!(again.contains("apps: 0 added, 2 already there"), "{again}");
    assert!(again.contains("records: 0 imported, 5 left out"), "{again}");
}

#[test]
fn cosmos_disk_space_counts_against_the_nodes_server_disk_space() {
    let dev = Dev::start(&["--cores", "8", "--disk-space", "100"]);
    dev.add(json!({
        "name": "disky", "queue": "q", "cores": 0.1, "mems": 10,
        "command": ["sh", "-c", "sleep 0.5"],
        "params": {"cosmos.app.disk.space": 60}
    }));
    dev.add(json!({
        "name": "huge", "queue": "q", "cores": 0.1, "mems": 10, "command": ["true"],
        "params": {"cosmos.app.disk.space": "200"}
    }));
    let (t1, t2) = (utc_in(-20), utc_in(-19));
    dev.rota_ok(&["trigger", "disky:q", "--time", &t1]);
    dev.rota_ok(&["trigger", "disky:q", "--time", &t2]);
    let first = dev.wait_state("disky:q", &t1, "succeeded");
    let second = dev.wait_state("disky:q", &t2, "succeeded");
    let ended: jiff::Timestamp = first["ended_at"].as_str().unwrap().parse().unwrap();
    let started: jiff::Timestamp = second["started_at"].as_str().unwrap().parse().unwrap();
    assert!(
        started >= ended,
        "two runs of 60 ran at once on a node of 100"
    );
    dev.rota_ok(&["trigger", "huge:q", "--time", &t1]);
    let rejected = dev.wait_state("huge:q", &t1, "rejected");
    assert!(
        rejected["reason"].as_str().unwrap().contains("disk.space"),
        "{rejected}"
    );
}

#[test]
fn a_node_with_labels_serves_only_its_queues() {
    use crate::harness::AgentProcess;
    let dev = Dev::start_server(&["--heartbeat-timeout", "5"]);
    let _a1 = AgentProcess::start_with(&dev, "a1", "2", &["--labels", "qa"]);
    let _a2 = AgentProcess::start_with(&dev, "a2", "2", &["--labels", "qb,qc"]);
    wait_for("two nodes", Duration::from_secs(30), || {
        (dev.rota_json(&["nodes"]).as_array()?.len() == 2).then_some(())
    });
    for queue in ["qa", "qb"] {
        dev.add(
            json!({"name": "job", "queue": queue, "cores": 0.1, "mems": 10, "command": ["true"]}),
        );
    }
    let times: Vec<String> = (0..4).map(|i| utc_in(-100 + i)).collect();
    for t in &times {
        dev.rota_ok(&["trigger", "job:qa", "--time", t]);
        dev.rota_ok(&["trigger", "job:qb", "--time", t]);
    }
    for (app, node) in [("job:qa", "a1"), ("job:qb", "a2")] {
        let runs = wait_for("the runs to succeed", Duration::from_secs(60), || {
            let runs = dev.records(app);
            (runs.len() == 4 && runs.iter().all(|r| r["state"] == "succeeded")).then_some(runs)
        });
        for run in runs {
            assert_eq!(run["node"], node, "{app} ran off its labelled node: {run}");
        }
    }
}
