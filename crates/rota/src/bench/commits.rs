//! `rota bench commits`: durable replicated commits per second on three local `rota server`
//! members, with batching (issue 6).
//!
//! The work is made first: apps on an every-second cron, and `repair` over past ranges of
//! their schedule times, so that every run is created and queued before any node exists.
//! Then the benchmark registers fake nodes and acts as their agents ([`fake_agent`]): the
//! leader's scheduler places the runs (one `Place` per node in each round), and each agent
//! polls and reports every placed attempt `Started`, then `Finished`, in batches of
//! `--batch` reports, one request at a time, `--agents` agents at once. Every batch is one
//! replicated command, answered once a majority has it on disk and the leader applied it.
//!
//! Three transitions of each run are counted: queued → running (placement), `Started`
//! (the process is recorded) and `Finished` (running → succeeded), from the first
//! registration to the answer to the last `Finished` batch.
//!
//! [`fake_agent`]: super::fake_agent

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use jiff::Timestamp;
use rota_client::Client;
use rota_model::NodeId;
use rota_model::api::RerunRequest;
use serde_json::json;

use super::cluster::{ClusterOptions, RaftCluster};
use super::common::{TRUE, app_json, key, plus_seconds, rfc3339};
use super::drive::{active, add_apps, indexed};
use super::fake_agent::{self, Shared, Slots, Tally};
use super::report::{Goal, Report};
use super::server::Cpu;
use super::stats::Summary;

/// Every second, Quartz style: a repair over N seconds makes N runs.
const EVERY_SECOND: &str = "* * * * * ?";
/// The share of a run's transitions that its agent reports (started and finished, not the
/// placement).
const REPORTED_SHARE: f64 = 2.0 / 3.0;
/// Runs one app gets, at most (one repair each).
const RUNS_PER_APP: usize = 1000;

/// Options of `rota bench commits`.
#[derive(Debug, Args)]
pub struct CommitsArgs {
    /// Runs to take through placement, start and end [default: 50000, 600 with --quick].
    #[arg(long)]
    pub runs: Option<usize>,
    /// Reports per request (one replicated command each), at most.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Fake agents (one node each), each with one request in flight: the concurrency.
    #[arg(long, default_value_t = 8)]
    pub agents: usize,
    /// Runs a node holds at once [default: twice the batch].
    #[arg(long)]
    pub slots: Option<usize>,
    /// Transitions per second to offer, in all: the agents pace their reports (two of the
    /// three transitions of a run) to it, and the latency is measured at that load. Without
    /// it they send as fast as they are answered, and the latency is the one at saturation.
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,
    /// Write the figures as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Small sizes that finish in seconds (for a CI smoke run); explicit sizes still win.
    #[arg(long)]
    pub quick: bool,
    /// `RUST_LOG` of the servers under test (their default is `info`, as shipped).
    #[arg(long, default_value = "info", value_name = "FILTER")]
    pub server_log: String,
    /// Keep the temporary data directories (stores, the servers' stderr) and print the path.
    #[arg(long)]
    pub keep: bool,
}

/// Runs the benchmark.
pub async fn run(args: CommitsArgs) -> Result<()> {
    let runs = args
        .runs
        .unwrap_or(if args.quick { 600 } else { 50_000 })
        .max(1);
    let batch = args.batch.max(1);
    let agents = args.agents.max(1);
    let slots = args.slots.unwrap_or(2 * batch).max(1);
    let mut report = Report::new(
        "commits",
        json!({"runs": runs, "batch": batch, "agents": agents, "slots_per_node": slots,
               "members": 3, "rate": args.rate}),
    );
    let cluster = RaftCluster::start(ClusterOptions {
        log: args.server_log.clone(),
        keep: args.keep,
    })
    .await?;
    let client = cluster.leader().await?;
    let made = make_runs(&client, runs).await?;
    report.note(format!(
        "{runs} runs created and queued in {:.1} s (not counted)",
        made.as_secs_f64()
    ));

    let index_before = last_log_index(&cluster).await?;
    let shared = Arc::new(Shared {
        client,
        finished: AtomicUsize::new(0),
        runs,
        batch,
        pace: args
            .rate
            .filter(|rate| *rate > 0.0)
            .map(|rate| Duration::from_secs_f64(agents as f64 / (rate * REPORTED_SHARE))),
    });
    let cpu_before = (cluster.cpu()?, Cpu::of("self")?);
    let began = Instant::now();
    let tasks: Vec<_> = (0..agents)
        .map(|i| {
            let shared = shared.clone();
            let node = NodeId(format!("bench-{i}"));
            let slots = Slots { per_node: slots };
            tokio::spawn(fake_agent::run(shared, node, slots))
        })
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        let one = task.await.context("a fake agent panicked")??;
        tally.latencies.extend(one.latencies);
        tally.started += one.started;
        tally.finished += one.finished;
        tally.polls += one.polls;
        tally.retries += one.retries;
        tally.last = tally.last.max(one.last);
    }
    let elapsed = tally.last.map_or(began.elapsed(), |last| last - began);
    let members_cpu: Vec<Duration> = cluster
        .cpu()?
        .into_iter()
        .zip(&cpu_before.0)
        .map(|(now, before)| now.since(*before).own)
        .collect();
    let client_cpu = Cpu::of("self")?.since(cpu_before.1).own;
    let entries = last_log_index(&cluster).await? - index_before;

    // Each run was placed once (nothing fails or is retried), then started and finished.
    let transitions = runs + tally.started + tally.finished;
    let rate = transitions as f64 / elapsed.as_secs_f64();
    report.figure(
        "run transitions per second (placed + started + finished)",
        rate,
        "transitions/s",
        Some(Goal::at_least(50_000.0)),
    );
    report.distribution(
        &format!(
            "commit latency of a batch of up to {batch} reports, {agents} agents, {}",
            args.rate
                .map_or("as fast as answered".to_string(), |rate| format!(
                    "{rate:.0} transitions/s offered"
                ))
        ),
        Summary::of(&tally.latencies),
        "ms",
        Some(Goal::at_most(15.0)),
    );
    let per_transition = |cpu: Duration| cpu.as_secs_f64() * 1e6 / transitions as f64;
    report.figure(
        "CPU per transition, the three members together",
        per_transition(members_cpu.iter().sum()),
        "µs",
        None,
    );
    report.note(format!(
        "CPU per transition of each member, in member order: {} µs; of this client \
         (the fake agents): {:.1} µs",
        members_cpu
            .iter()
            .map(|cpu| format!("{:.1}", per_transition(*cpu)))
            .collect::<Vec<_>>()
            .join(" / "),
        per_transition(client_cpu)
    ));
    report.note(format!(
        "{transitions} transitions in {:.2} s: {runs} placements, {} started, {} finished",
        elapsed.as_secs_f64(),
        tally.started,
        tally.finished
    ));
    let batches = tally.latencies.len();
    report.note(format!(
        "{batches} report batches ({:.0} reports each on average), {} polls, {} retried \
         requests, {entries} raft entries ({:.0} transitions per entry)",
        (tally.started + tally.finished) as f64 / batches.max(1) as f64,
        tally.polls,
        tally.retries,
        transitions as f64 / entries.max(1) as f64
    ));
    let (queued, running) = active(&cluster.leader().await?).await?;
    drop(cluster);
    report.finish(args.json.as_deref())?;
    if tally.started != runs || tally.finished != runs || queued + running > 0 {
        bail!(
            "{} started and {} finished of {runs} runs; {queued} queued and {running} running",
            tally.started,
            tally.finished
        );
    }
    Ok(())
}

/// Adds the apps and creates `runs` queued runs by repairs; returns how long it took.
async fn make_runs(client: &Client, runs: usize) -> Result<Duration> {
    let began = Instant::now();
    let apps = runs.div_ceil(RUNS_PER_APP);
    let command = vec![TRUE.to_string()];
    add_apps(client, apps, 8, move |i| {
        app_json(&app_name(i), &command, Some(EVERY_SECOND))
    })
    .await?;
    let base: Timestamp = "2025-01-01T00:00:00Z".parse()?;
    let made = indexed(apps, 4, {
        let client = client.clone();
        move |i| {
            let client = client.clone();
            let count = RUNS_PER_APP.min(runs - i * RUNS_PER_APP);
            let request = RerunRequest {
                begin: Some(rfc3339(base)),
                end: Some(rfc3339(plus_seconds(base, count as i64 - 1))),
                ..RerunRequest::default()
            };
            async move { client.repair(&key(&app_name(i)), &request).await }
        }
    })
    .await;
    if let Some(e) = made.into_iter().find_map(Result::err) {
        return Err(e).context("cannot create the runs");
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (queued, _) = active(client).await?;
        if queued as usize >= runs {
            return Ok(began.elapsed());
        }
        if Instant::now() > deadline {
            bail!("{queued} of {runs} runs queued after 600 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The leader's last log index.
async fn last_log_index(cluster: &RaftCluster) -> Result<u64> {
    let status = cluster.status().await?;
    status["last_log_index"]
        .as_u64()
        .context("the leader names no last log index")
}

fn app_name(i: usize) -> String {
    format!("commits-{i}")
}
