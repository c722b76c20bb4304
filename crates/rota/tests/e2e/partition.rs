//! Three servers in containers on a private Docker network, with an agent in a fourth: the
//! leader is cut off with `docker network disconnect`. The minority commits nothing, the
//! majority elects a leader and goes on, and after healing every schedule time has exactly
//! one run. Skipped where no Docker engine answers.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};

use rota_runtime::testing::{build_scratch_image, engine_or_skip, host_program_files};

use crate::harness::{rota_bin, schedule_time, wait_for};

/// The port every server listens on inside its container.
const PORT: u16 = 7070;

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("run docker")
}

fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The containers and the network of the test; removed, with the image, when dropped.
struct Setup {
    network: String,
    containers: Vec<String>,
    image: String,
}

impl Setup {
    /// Server `i` (1-based).
    fn server(&self, i: usize) -> String {
        format!("{}-s{i}", self.network)
    }

    /// The server's address on the network, as the host reaches it; `None` when cut off.
    fn url(&self, i: usize) -> Option<String> {
        let format = format!(
            "{{{{with index .NetworkSettings.Networks \"{}\"}}}}{{{{.IPAddress}}}}{{{{end}}}}",
            self.network
        );
        let ip = docker_ok(&["inspect", "-f", &format, &self.server(i)]);
        (!ip.is_empty()).then(|| format!("http://{ip}:{PORT}"))
    }

    /// Every server the host can reach, comma-separated.
    fn reachable(&self) -> String {
        (1..=3)
            .filter_map(|i| self.url(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Starts a container on the network from the test image.
    fn run(&mut self, name: String, alias: Option<&str>, args: &[&str]) {
        let mut all = vec!["run", "-d", "--name", &name, "--network", &self.network];
        if let Some(alias) = alias {
            all.extend(["--network-alias", alias]);
        }
        all.extend([
            "-v",
            "/usr/share/zoneinfo:/usr/share/zoneinfo:ro",
            "-e",
            "RUST_LOG=info",
            &self.image,
        ]);
        all.extend(args);
        docker_ok(&all);
        self.containers.push(name);
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for name in &self.containers {
                let logs = docker(&["logs", "--tail", "60", name]);
                eprintln!(
                    "--- last lines of {name} ---\n{}",
                    String::from_utf8_lossy(&logs.stderr)
                );
            }
        }
        for name in &self.containers {
            docker(&["rm", "-f", "-v", name]);
        }
        docker(&["network", "rm", &self.network]);
        docker(&["rmi", "-f", &self.image]);
    }
}

/// The CLI of the host against `servers`, with `--output json`. (Writes go to the leader:
/// a follower names it by its address on the network, which the host cannot resolve.)
fn cli(servers: &str, args: &[&str]) -> Option<Value> {
    let out = Command::new(rota_bin())
        .args(["--server", servers])
        .args(args)
        .args(["--output", "json"])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

/// The CLI inside a server's container, against that server alone (it works while the
/// container is cut off from the network).
fn cli_inside(container: &str, args: &[&str]) -> Option<Value> {
    let url = format!("http://127.0.0.1:{PORT}");
    let mut all = vec!["exec", container, "/bin/rota", "--server", &url];
    all.extend(args);
    all.extend(["--output", "json"]);
    let out = docker(&all);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

/// The member that says it leads, among those the host reaches.
fn leader(setup: &Setup) -> Option<usize> {
    (1..=3).find(|&i| {
        setup
            .url(i)
            .and_then(|url| cli(&url, &["cluster", "status"]))
            .is_some_and(|status| status["role"] == "leader")
    })
}

/// The succeeded runs of `tick:q` scheduled after `after`, as `servers` see them.
fn succeeded_after(servers: &str, after: jiff::Timestamp) -> Option<usize> {
    let runs = cli(servers, &["records", "tick:q"])?;
    Some(
        runs.as_array()?
            .iter()
            .filter(|r| r["state"] == "succeeded" && schedule_time(r) > after)
            .count(),
    )
}

/// A name for the image of this very binary, so that a rebuilt binary makes a new image.
fn image_name() -> String {
    let meta = std::fs::metadata(rota_bin()).expect("the rota binary");
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("rota-test/rota:{:x}-{:x}", meta.len(), modified)
}

#[test]
fn a_leader_cut_off_by_the_network_stops_and_the_majority_goes_on_losing_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(engine) = rt.block_on(engine_or_skip("network partition")) else {
        return;
    };
    if !docker(&["version"]).status.success() {
        println!("skipped: the docker command does not reach the engine (network partition)");
        return;
    }
    let image = image_name();
    let files = host_program_files(Path::new(rota_bin()), "/bin/rota").expect("rota's files");
    rt.block_on(build_scratch_image(&engine, &image, &files, &["/bin/rota"]))
        .expect("build the rota image");
    let network = format!(
        "rota-partition-{}-{}",
        std::process::id(),
        jiff::Timestamp::now().as_millisecond()
    );
    docker_ok(&["network", "create", &network]);
    let mut setup = Setup {
        network,
        containers: Vec::new(),
        image,
    };
    let members = (1..=3)
        .map(|i| format!("{i}=http://s{i}:{PORT}"))
        .collect::<Vec<_>>()
        .join(",");
    for i in 1..=3 {
        let (id, alias) = (i.to_string(), format!("s{i}"));
        let listen = format!("0.0.0.0:{PORT}");
        let args = [
            "server",
            "--id",
            &id,
            "--members",
            &members,
            "--listen",
            &listen,
            "--data",
            "/data",
            "--time-zone",
            "UTC",
            "--heartbeat-timeout",
            "5",
        ];
        setup.run(setup.server(i), Some(&alias), &args);
    }
    let servers = (1..=3)
        .map(|i| format!("http://s{i}:{PORT}"))
        .collect::<Vec<_>>()
        .join(",");
    let agent = format!("{}-agent", setup.network);
    let agent_args = [
        "--server",
        &servers,
        "agent",
        "--node",
        "n1",
        "--cores",
        "4",
        "--mems",
        "4096",
        "--log-dir",
        "/logs",
        "--kill-grace",
        "1",
    ];
    setup.run(agent, None, &agent_args);

    let first = wait_for("a leader", Duration::from_secs(60), || leader(&setup));
    let app = std::env::temp_dir().join(format!("{}-tick.json", setup.network));
    let spec = json!({"name": "tick", "queue": "q", "cores": 0.1, "mems": 10,
                      "command": ["true"], "cron": "* * * * * ?"});
    std::fs::write(&app, serde_json::to_vec(&spec).unwrap()).unwrap();
    wait_for("the app to be added", Duration::from_secs(30), || {
        cli(
            &setup.url(leader(&setup)?)?,
            &["add", app.to_str().unwrap()],
        )
    });
    std::fs::remove_file(&app).unwrap();
    wait_for("the app to start", Duration::from_secs(30), || {
        cli(&setup.url(leader(&setup)?)?, &["start", "tick:q"])
    });
    wait_for("3 ticks", Duration::from_secs(60), || {
        succeeded_after(&setup.reachable(), jiff::Timestamp::UNIX_EPOCH).filter(|n| *n >= 3)
    });

    // Cut the leader off.
    let cut_off = setup.server(first);
    docker_ok(&["network", "disconnect", &setup.network, &cut_off]);
    let cut_at = jiff::Timestamp::now();
    let next = wait_for("a leader of the majority", Duration::from_secs(60), || {
        leader(&setup).filter(|l| *l != first)
    });
    assert_ne!(next, first);
    let minority_commit = |what: &str| -> Value {
        wait_for(what, Duration::from_secs(30), || {
            cli_inside(&cut_off, &["cluster", "status"])
        })["commit_index"]
            .clone()
    };
    let before = minority_commit("the cut-off member's status");
    wait_for(
        "3 ticks run by the majority",
        Duration::from_secs(60),
        || succeeded_after(&setup.reachable(), cut_at).filter(|n| *n >= 3),
    );
    assert_eq!(
        minority_commit("the cut-off member's status again"),
        before,
        "the cut-off member committed something while the majority went on"
    );

    // Heal, and let the cut-off member catch up.
    let alias = format!("s{first}");
    docker_ok(&[
        "network",
        "connect",
        "--alias",
        &alias,
        &setup.network,
        &cut_off,
    ]);
    let healed_at = jiff::Timestamp::now();
    wait_for("ticks after healing", Duration::from_secs(60), || {
        succeeded_after(&setup.reachable(), healed_at).filter(|n| *n >= 2)
    });
    wait_for("a stop", Duration::from_secs(30), || {
        cli(&setup.url(leader(&setup)?)?, &["stop", "tick:q"])
    });
    let runs = wait_for("every run to end", Duration::from_secs(60), || {
        let leader = setup.url(leader(&setup)?)?;
        let runs = cli(&leader, &["records", "tick:q"])?.as_array()?.clone();
        runs.iter()
            .all(|r| !matches!(r["state"].as_str(), Some("queued" | "running" | "pending")))
            .then_some(runs)
    });
    let times: Vec<jiff::Timestamp> = runs.iter().map(schedule_time).collect();
    let unique: BTreeSet<_> = times.iter().collect();
    assert_eq!(unique.len(), times.len(), "a schedule time fired twice");
    for pair in times.windows(2) {
        assert_eq!(
            pair[1].duration_since(pair[0]),
            jiff::SignedDuration::from_secs(1),
            "a schedule time was skipped between {} and {}",
            pair[0],
            pair[1]
        );
    }
    let count = runs.len();
    wait_for(
        "the cut-off member to have every run",
        Duration::from_secs(60),
        || {
            let theirs = cli_inside(&cut_off, &["records", "tick:q"])?;
            (theirs.as_array()?.len() >= count).then_some(())
        },
    );
    println!(
        "partition: leader {first} cut off; member {next} led the majority; {count} runs, none lost or repeated"
    );
}
