//! A smoke run of `rota bench`: the harness starts its own `rota dev` (or three `rota server`
//! members), drives it, prints its figures beside their goals and writes them as JSON. No
//! figure is checked against its goal: speed is measured by the benchmarks, never asserted by
//! tests (DESIGN §8).

use std::process::Command;

use serde_json::Value;

use crate::harness::rota_bin;

#[test]
fn a_tiny_e2e_benchmark_prints_its_figures_and_writes_them_as_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("e2e.json");
    let out = Command::new(rota_bin())
        .args([
            "bench",
            "e2e",
            "--runs",
            "50",
            "--apps",
            "5",
            "--clients",
            "8",
        ])
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run rota bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rota bench e2e failed ({}): {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "e2e: runs per second, first submit to last recorded: ",
        "(goal ≥ 2,000 runs/s)",
        "e2e: submit to process start: p50 ",
        "e2e: submit to recorded succeeded (polled): p50 ",
        "e2e: note: 50 runs recorded (50 succeeded)",
    ] {
        assert!(stdout.contains(line), "no `{line}` in:\n{stdout}");
    }
    let figures: Value = serde_json::from_slice(&std::fs::read(&json).expect("the JSON file"))
        .expect("JSON figures");
    assert_eq!(figures["bench"], "e2e");
    let names: Vec<&str> = figures["figures"]
        .as_array()
        .expect("figures")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(names.contains(&"submit to process start"), "{names:?}");
}

#[test]
fn a_tiny_commits_benchmark_runs_three_servers_and_prints_its_figures() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("commits.json");
    let out = Command::new(rota_bin())
        .args([
            "bench", "commits", "--runs", "60", "--batch", "8", "--agents", "3", "--rate", "2000",
        ])
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run rota bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rota bench commits failed ({}): {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "commits: run transitions per second (placed + started + finished): ",
        "(goal ≥ 50,000 transitions/s)",
        "commits: commit latency of a batch of up to 8 reports, 3 agents, 2000 transitions/s offered: p50 ",
        "(goal p99 ≤ 15 ms)",
        "commits: note: 180 transitions in ",
    ] {
        assert!(stdout.contains(line), "no `{line}` in:\n{stdout}");
    }
    let figures: Value = serde_json::from_slice(&std::fs::read(&json).expect("the JSON file"))
        .expect("JSON figures");
    assert_eq!(figures["bench"], "commits");
}

#[test]
fn a_tiny_spawn_benchmark_starts_processes_both_ways_and_leaves_no_cgroup() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("spawn.json");
    let out = Command::new(rota_bin())
        .args(["bench", "spawn", "--runs", "40", "--concurrency", "4"])
        .arg("--json")
        .arg(&json)
        .env("TMPDIR", dir.path())
        .output()
        .expect("run rota bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rota bench spawn failed ({}): {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "spawn: bare fork/exec/wait: starts per second: ",
        "spawn: rota's process runtime: starts per second: ",
        "spawn: rota's process runtime: CPU per start of this process: ",
        "(goal ≥ 2,000 starts/s)",
    ] {
        assert!(stdout.contains(line), "no `{line}` in:\n{stdout}");
    }
    let figures: Value = serde_json::from_slice(&std::fs::read(&json).expect("the JSON file"))
        .expect("JSON figures");
    assert_eq!(figures["bench"], "spawn");
    assert_eq!(figures["figures"].as_array().map(Vec::len), Some(6));
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("the temp dir")
        .flatten()
        .map(|e| e.file_name())
        .filter(|name| name != "spawn.json")
        .collect();
    assert!(left.is_empty(), "the runs' directories are left: {left:?}");
    if let Some(memory) = stdout
        .lines()
        .find_map(|l| l.split("memory under ").nth(1))
        .and_then(|rest| rest.split(';').next())
    {
        assert!(
            !std::path::Path::new(memory.trim()).exists(),
            "{memory} is left"
        );
    }
}
