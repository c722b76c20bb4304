//! Membership changes and follower write forwarding: three servers replicated by Raft, a
//! fourth that joins with `--join` and catches up once `rota cluster add` adds it, the
//! leader removed with `rota cluster remove` and replaced, and writes sent to a follower's
//! URL alone that succeed and are read back from that follower at once.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Dev, LogsOnPanic, wait_for};
use crate::raft::{Member, free_port, leader, rota, rota_json, start_cluster};

/// Writes an app's JSON file and returns its path.
fn app_file(dir: &Path, name: &str) -> String {
    let path = dir.join(format!("{name}.json"));
    let app = json!({"name": name, "queue": "q", "cores": 0.1, "mems": 10, "command": ["true"]});
    std::fs::write(&path, serde_json::to_vec(&app).unwrap()).unwrap();
    path.display().to_string()
}

/// POSTs JSON to one server with plain HTTP/1.1 and returns the status it answered: what
/// a client that knows only that server sees, with no 421 to follow.
fn post_status(url: &str, path: &str, body: &Value) -> u16 {
    let address = url.trim_start_matches("http://");
    let body = serde_json::to_vec(body).unwrap();
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(&body).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(servers: &str, args: &[&str]) -> String {
    let out = rota(servers, args);
    assert!(
        out.status.success(),
        "rota {args:?} failed: {}",
        stderr(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The alive members' URLs, comma-separated.
fn alive(members: &[Member]) -> String {
    members
        .iter()
        .filter(|m| m.child.is_some())
        .map(|m| m.url.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn member_ids(status: &Value) -> Vec<(u64, bool)> {
    status["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["id"].as_u64().unwrap(), m["voter"].as_bool().unwrap()))
        .collect()
}

#[test]
fn a_joining_member_catches_up_a_removed_leader_is_replaced_and_followers_forward_writes() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let _logs = LogsOnPanic(
        (1..=4)
            .map(|i| dir.join(format!("server-{i}.log")))
            .collect(),
    );
    let mut members = start_cluster(dir);
    wait_for("a leader", Duration::from_secs(60), || leader(&members));
    let all = alive(&members);
    let before = app_file(dir, "before");
    wait_for("the first write", Duration::from_secs(30), || {
        rota(&all, &["add", &before]).status.success().then_some(())
    });

    // A fourth server joins: it makes no cluster of its own and waits to be added.
    let port = free_port();
    let mut fourth = Member {
        url: format!("http://127.0.0.1:{port}"),
        child: None,
        log: dir.join("server-4.log"),
        args: [
            "--data",
            &dir.join("server-4").display().to_string(),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--time-zone",
            "UTC",
            "--id",
            "4",
            "--join",
        ]
        .map(String::from)
        .to_vec(),
    };
    fourth.start();
    let waiting = wait_for("the joining server", Duration::from_secs(30), || {
        rota_json(&fourth.url, &["cluster", "status"])
    });
    assert_eq!(waiting["members"], json!([]), "{waiting}");
    assert_eq!(waiting["leader"], Value::Null, "{waiting}");
    let url = fourth.url.clone();
    members.push(fourth);

    let bad = rota(&all, &["cluster", "add", "5", "not-a-url"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("`url`"), "{}", stderr(&bad));
    let wrong_id = rota(&all, &["cluster", "add", "5", &url]);
    assert_eq!(wrong_id.status.code(), Some(1));
    assert!(
        stderr(&wrong_id).contains("is member 4, not 5"),
        "{}",
        stderr(&wrong_id)
    );

    let added = rota(&all, &["cluster", "add", "4", &url]);
    assert!(added.status.success(), "{}", stderr(&added));
    assert!(String::from_utf8_lossy(&added.stdout).contains("member 4 added"));
    assert!(stderr(&added).contains("catches up"), "{}", stderr(&added));
    // Adding it again changes nothing; the answer is the cluster's status.
    let status = rota_json(&all, &["cluster", "add", "4", &url]).unwrap();
    assert_eq!(
        member_ids(&status),
        vec![(1, true), (2, true), (3, true), (4, true)],
        "{status}"
    );
    wait_for(
        "the new member to catch up",
        Duration::from_secs(30),
        || rota_json(&url, &["app", "before:q"]).map(|_| ()),
    );
    let joined = rota_json(&url, &["cluster", "status"]).unwrap();
    assert_eq!(joined["role"], "follower", "{joined}");

    let missing = rota(&all, &["cluster", "remove", "99"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("no member 99"),
        "{}",
        stderr(&missing)
    );

    // The leader itself is removed: another voter takes over and writes go on.
    let old = leader(&members).unwrap();
    let removed = ok(&alive(&members), &["cluster", "remove", &old.to_string()]);
    assert!(
        removed.contains(&format!("member {old} removed")),
        "{removed}"
    );
    members[old as usize - 1].kill9();
    let rest = alive(&members);
    let next = wait_for("a new leader", Duration::from_secs(60), || {
        leader(&members).filter(|l| *l != old)
    });
    let status = wait_for("the new leader's status", Duration::from_secs(30), || {
        let status = rota_json(&members[next as usize - 1].url, &["cluster", "status"])?;
        (status["role"] == "leader").then_some(status)
    });
    let ids: Vec<u64> = member_ids(&status).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 3, "{status}");
    assert!(!ids.contains(&old), "{status}");
    assert_eq!(status["followers"].as_array().unwrap().len(), 2, "{status}");
    let after = app_file(dir, "after");
    wait_for("a write after the removal", Duration::from_secs(30), || {
        rota(&rest, &["add", &after]).status.success().then_some(())
    });

    // A follower's URL alone: the write is forwarded, and a read there sees it at once.
    let follower = members
        .iter()
        .enumerate()
        .find(|(i, m)| m.child.is_some() && *i as u64 + 1 != next)
        .map(|(_, m)| m.url.clone())
        .unwrap();
    let app = json!({"name": "forwarded", "queue": "q", "cores": 0.1, "mems": 10,
                     "command": ["true"]});
    assert_eq!(post_status(&follower, "/v1/apps", &app), 201);
    ok(&follower, &["app", "forwarded:q"]);
    let by_cli = app_file(dir, "by-cli");
    ok(&follower, &["add", &by_cli]);
    ok(&follower, &["app", "by-cli:q"]);
    ok(
        &follower,
        &["trigger", "by-cli:q", "--time", "2026-01-01 00:00:00"],
    );
    let records = rota_json(&follower, &["records", "by-cli:q"]).unwrap();
    assert_eq!(records.as_array().unwrap().len(), 1, "{records}");
}

#[test]
fn cluster_add_and_remove_against_rota_dev_say_it_is_not_a_replicated_cluster() {
    let dev = Dev::start(&[]);
    for args in [
        &["cluster", "add", "2", "http://127.0.0.1:9"][..],
        &["cluster", "remove", "2"][..],
    ] {
        let out = dev.rota(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&out).contains("not a replicated cluster"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}
