//! Three servers replicated by Raft, with an agent: the leader is killed with `kill -9`, a
//! new one takes over, and cron neither repeats nor skips a schedule time.

use std::collections::BTreeSet;
use std::fs::File;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{AgentProcess, LogsOnPanic, rota_bin, schedule_time, wait_for};

/// A free loopback port, asked of the OS (the members must know each other's addresses
/// before they start).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One `rota server` of a cluster, restartable with the same arguments.
pub(crate) struct Member {
    pub(crate) url: String,
    pub(crate) child: Option<Child>,
    pub(crate) args: Vec<String>,
    pub(crate) log: std::path::PathBuf,
}

impl Member {
    pub(crate) fn start(&mut self) {
        let log = File::create(&self.log).unwrap();
        self.child = Some(
            Command::new(rota_bin())
                .arg("server")
                .args(&self.args)
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
    }

    pub(crate) fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub(crate) fn rota(servers: &str, args: &[&str]) -> std::process::Output {
    Command::new(rota_bin())
        .args(["--server", servers])
        .args(args)
        .output()
        .unwrap()
}

pub(crate) fn rota_json(servers: &str, args: &[&str]) -> Option<Value> {
    let out = rota(servers, &[args, &["--output", "json"]].concat());
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

pub(crate) fn leader(members: &[Member]) -> Option<u64> {
    members.iter().filter(|m| m.child.is_some()).find_map(|m| {
        let status = rota_json(&m.url, &["cluster", "status"])?;
        status["leader"].as_u64()
    })
}

/// The servers' and agents' logs, printed if the test fails.
fn cluster_logs(dir: &Path) -> LogsOnPanic {
    let names = ["server-1", "server-2", "server-3", "agent-n1", "agent-n2"];
    LogsOnPanic(names.iter().map(|n| dir.join(format!("{n}.log"))).collect())
}

pub(crate) fn start_cluster(dir: &Path) -> Vec<Member> {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let members_arg: Vec<String> = urls
        .iter()
        .enumerate()
        .map(|(i, u)| format!("{}={u}", i + 1))
        .collect();
    let mut members: Vec<Member> = (0..3)
        .map(|i| Member {
            url: urls[i].clone(),
            child: None,
            log: dir.join(format!("server-{}.log", i + 1)),
            args: vec![
                "--data".into(),
                dir.join(format!("server-{}", i + 1)).display().to_string(),
                "--listen".into(),
                format!("127.0.0.1:{}", ports[i]),
                "--time-zone".into(),
                "UTC".into(),
                "--heartbeat-timeout".into(),
                "5".into(),
                "--id".into(),
                (i + 1).to_string(),
                "--members".into(),
                members_arg.join(","),
            ],
        })
        .collect();
    for member in &mut members {
        member.start();
    }
    members
}

#[test]
fn a_killed_leader_is_replaced_and_cron_neither_repeats_nor_skips_a_schedule_time() {
    let temp = tempfile::tempdir().unwrap();
    let _logs = cluster_logs(temp.path());
    let mut members = start_cluster(temp.path());
    let all: String = members
        .iter()
        .map(|m| m.url.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let first = wait_for("a leader", Duration::from_secs(60), || leader(&members));
    assert!((1..=3).contains(&first));

    let _agent = AgentProcess::start_against(&all, temp.path(), "n1", "4", &[]);

    let app = temp.path().join("tick.json");
    std::fs::write(
        &app,
        serde_json::to_vec(
            &json!({"name": "tick", "queue": "q", "cores": 0.1, "mems": 10,
                                    "command": ["true"], "cron": "* * * * * ?"}),
        )
        .unwrap(),
    )
    .unwrap();
    wait_for("the app to be added", Duration::from_secs(30), || {
        rota(&all, &["add", app.to_str().unwrap()])
            .status
            .success()
            .then_some(())
    });
    wait_for("the app to start", Duration::from_secs(30), || {
        rota(&all, &["start", "tick:q"])
            .status
            .success()
            .then_some(())
    });
    let records = |servers: &str| -> Option<Vec<Value>> {
        rota_json(servers, &["records", "tick:q"])?
            .as_array()
            .cloned()
    };
    wait_for("3 ticks", Duration::from_secs(60), || {
        let done = records(&all)?
            .iter()
            .filter(|r| r["state"] == "succeeded")
            .count();
        (done >= 3).then_some(())
    });

    let old = first as usize - 1;
    members[old].kill9();
    let killed_at = jiff::Timestamp::now();
    let started = Instant::now();
    let survivors: String = members
        .iter()
        .filter(|m| m.child.is_some())
        .map(|m| m.url.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let next = wait_for("a new leader", Duration::from_secs(60), || {
        leader(&members).filter(|l| *l != first)
    });
    assert_ne!(next, first);
    wait_for(
        "a tick dispatched by the new leader",
        Duration::from_secs(60),
        || {
            let runs = records(&survivors)?;
            runs.iter()
                .any(|r| r["state"] == "succeeded" && schedule_time(r) > killed_at)
                .then_some(())
        },
    );
    println!(
        "failover: leader {first} killed, member {next} leads; first run after it succeeded {:?} later",
        started.elapsed()
    );
    wait_for("2 more ticks", Duration::from_secs(60), || {
        let after = records(&survivors)?
            .iter()
            .filter(|r| r["state"] == "succeeded" && schedule_time(r) > killed_at)
            .count();
        (after >= 2).then_some(())
    });
    rota(&survivors, &["stop", "tick:q"]);

    let runs = records(&survivors).unwrap();
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
            "a schedule time was skipped: {times:?}"
        );
    }

    // The killed member comes back and catches up.
    members[old].start();
    let count = runs.len();
    wait_for(
        "the old leader to catch up",
        Duration::from_secs(60),
        || {
            let theirs = records(&members[old].url)?;
            (theirs.len() >= count).then_some(())
        },
    );
}

/// The run intervals of every attempt of a run, with their nodes.
fn attempts(run: &Value) -> Vec<(String, jiff::Timestamp, jiff::Timestamp)> {
    let mut all: Vec<&Value> = run["history"].as_array().into_iter().flatten().collect();
    all.push(run);
    all.into_iter()
        .filter_map(|a| {
            let node = a["node"].as_str()?.to_string();
            let start = a["started_at"].as_str()?.parse().ok()?;
            let end = a["ended_at"].as_str()?.parse().ok()?;
            Some((node, start, end))
        })
        .collect()
}

#[test]
fn ten_leader_kills_lose_no_schedule_time_repeat_none_and_lose_no_acknowledged_write() {
    let temp = tempfile::tempdir().unwrap();
    let _logs = cluster_logs(temp.path());
    let mut members = start_cluster(temp.path());
    let all: String = members
        .iter()
        .map(|m| m.url.as_str())
        .collect::<Vec<_>>()
        .join(",");
    wait_for("a leader", Duration::from_secs(60), || leader(&members));
    let _agents: Vec<AgentProcess> = ["n1", "n2"]
        .iter()
        .map(|node| AgentProcess::start_against(&all, temp.path(), node, "4", &[]))
        .collect();
    for (name, queue) in [("a", "qa"), ("b", "qb")] {
        let app = temp.path().join(format!("{name}.json"));
        std::fs::write(
            &app,
            serde_json::to_vec(
                &json!({"name": name, "queue": queue, "cores": 0.1, "mems": 10,
                                        "command": ["true"], "cron": "* * * * * ?", "retries": 3,
                                        "retry_backoff": 1}),
            )
            .unwrap(),
        )
        .unwrap();
        wait_for("the app", Duration::from_secs(30), || {
            rota(&all, &["add", app.to_str().unwrap()])
                .status
                .success()
                .then_some(())
        });
        let key = format!("{name}:{queue}");
        wait_for("the start", Duration::from_secs(30), || {
            rota(&all, &["start", &key]).status.success().then_some(())
        });
    }
    let manual = temp.path().join("manual.json");
    std::fs::write(
        &manual,
        serde_json::to_vec(
            &json!({"name": "manual", "queue": "qa", "cores": 0.1, "mems": 10,
                                    "command": ["true"]}),
        )
        .unwrap(),
    )
    .unwrap();
    wait_for("the manual app", Duration::from_secs(30), || {
        rota(&all, &["add", manual.to_str().unwrap()])
            .status
            .success()
            .then_some(())
    });

    // Ten times: wait a moment that varies, kill the leader with SIGKILL, trigger a run at
    // once (the write waits for the next leader), wait for a new leader, bring the old one
    // back.
    let mut acknowledged: Vec<String> = Vec::new();
    let mut failovers: Vec<Duration> = Vec::new();
    let mut kills: Vec<jiff::Timestamp> = Vec::new();
    // (the schedule time of the run triggered at a kill, the kill)
    let mut at_kills: Vec<(String, jiff::Timestamp)> = Vec::new();
    for round in 0..10u64 {
        let pause = Duration::from_millis(300 + (round * 7919) % 1500);
        let settle = Instant::now();
        while settle.elapsed() < pause {
            let time = format!("2026-01-01 00:{:02}:{:02}", round, acknowledged.len() % 60);
            if rota(&all, &["trigger", "manual:qa", "--time", &time])
                .status
                .success()
            {
                acknowledged.push(time);
            }
        }
        let Some(old) = leader(&members) else {
            continue;
        };
        members[old as usize - 1].kill9();
        let killed = Instant::now();
        let kill = jiff::Timestamp::now();
        kills.push(kill);
        let at_kill = format!("2026-01-02 00:00:{round:02}");
        let trigger = std::thread::spawn({
            let (all, time) = (all.clone(), at_kill.clone());
            move || {
                rota(&all, &["trigger", "manual:qa", "--time", &time])
                    .status
                    .success()
            }
        });
        wait_for("a new leader", Duration::from_secs(60), || {
            leader(&members).filter(|l| *l != old)
        });
        failovers.push(killed.elapsed());
        if trigger.join().unwrap() {
            acknowledged.push(at_kill.clone());
            at_kills.push((at_kill, kill));
        }
        members[old as usize - 1].start();
    }
    let kills_done = jiff::Timestamp::now();
    wait_for("ticks after the last kill", Duration::from_secs(60), || {
        let runs = rota_json(&all, &["records", "a:qa"])?;
        let after = runs
            .as_array()?
            .iter()
            .filter(|r| r["state"] == "succeeded" && schedule_time(r) > kills_done)
            .count();
        (after >= 2).then_some(())
    });
    for key in ["a:qa", "b:qb"] {
        wait_for("the stop", Duration::from_secs(30), || {
            rota(&all, &["stop", key]).status.success().then_some(())
        });
    }
    print_percentiles(
        "leader elections (kill to a new leader seen by the CLI)",
        failovers,
    );

    // The checker: every schedule time of each cron app exactly once, no gap; no run ever
    // ran on two nodes at once; every acknowledged trigger is there.
    // (schedule time, first attempt started) of every cron run.
    let mut cron_starts: Vec<(jiff::Timestamp, jiff::Timestamp)> = Vec::new();
    for key in ["a:qa", "b:qb"] {
        let runs = wait_for("every run to end", Duration::from_secs(60), || {
            let runs = rota_json(&all, &["records", key])?.as_array()?.clone();
            runs.iter()
                .all(|r| !matches!(r["state"].as_str(), Some("queued" | "running" | "pending")))
                .then_some(runs)
        });
        let times: Vec<jiff::Timestamp> = runs.iter().map(schedule_time).collect();
        let unique: BTreeSet<_> = times.iter().collect();
        assert_eq!(
            unique.len(),
            times.len(),
            "{key}: a schedule time fired twice"
        );
        for pair in times.windows(2) {
            assert_eq!(
                pair[1].duration_since(pair[0]),
                jiff::SignedDuration::from_secs(1),
                "{key}: a schedule time was skipped between {} and {}",
                pair[0],
                pair[1]
            );
        }
        for run in &runs {
            let spans = attempts(run);
            if let Some((_, start, _)) = spans.first() {
                cron_starts.push((schedule_time(run), *start));
            }
            for (i, a) in spans.iter().enumerate() {
                for b in &spans[i + 1..] {
                    let overlap = a.1 < b.2 && b.1 < a.2;
                    assert!(
                        !(overlap && a.0 != b.0),
                        "{key}: run {} ran on two nodes at once",
                        run["id"]
                    );
                }
            }
        }
    }
    // Cron across the failovers: how late the first schedule time after each kill started.
    let cron_late: Vec<Duration> = kills
        .iter()
        .filter_map(|kill| {
            let (due, start) = cron_starts.iter().filter(|(due, _)| due > kill).min()?;
            start.duration_since(*due).try_into().ok()
        })
        .collect();
    print_percentiles(
        "cron lateness of the first schedule time after a kill (start minus schedule time)",
        cron_late,
    );
    let manual = wait_for("every manual run to end", Duration::from_secs(60), || {
        let runs = rota_json(&all, &["records", "manual:qa"])?
            .as_array()?
            .clone();
        runs.iter()
            .all(|r| !matches!(r["state"].as_str(), Some("queued" | "running" | "pending")))
            .then_some(runs)
    });
    // Failover: from each kill to the start of the run triggered at that moment, the next
    // run dispatched with work waiting.
    let to_dispatch: Vec<Duration> = at_kills
        .iter()
        .filter_map(|(time, kill)| {
            let rfc = format!("{}Z", time.replace(' ', "T"));
            let run = manual.iter().find(|r| r["schedule_time"] == rfc.as_str())?;
            let (_, start, _) = attempts(run).into_iter().next()?;
            start.duration_since(*kill).try_into().ok()
        })
        .collect();
    assert_eq!(
        to_dispatch.len(),
        at_kills.len(),
        "a run triggered at a kill never started"
    );
    println!(
        "writes sent at a kill (held by a follower until the next leader took them): {} of {} \
         acknowledged",
        at_kills.len(),
        kills.len()
    );
    print_percentiles(
        "failover (kill to the start of a run triggered at the kill; goal: p99 under 1 s)",
        to_dispatch,
    );
    let manual_runs: BTreeSet<String> = manual
        .iter()
        .map(|r| r["schedule_time"].as_str().unwrap().to_string())
        .collect();
    for time in &acknowledged {
        let rfc = format!("{}Z", time.replace(' ', "T"));
        assert!(
            manual_runs.contains(&rfc),
            "the acknowledged trigger at {time} was lost"
        );
    }
}

/// Prints p50, p99 and the maximum of `samples` under `what`.
fn print_percentiles(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let Some(max) = samples.last() else {
        println!("{what}: no samples");
        return;
    };
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{what}, {} kills: p50 {:?}, p99 {:?}, max {max:?}",
        samples.len(),
        p(0.5),
        p(0.99)
    );
}
