//! `rota bench`: benchmarks of a real `rota dev` (or, for `commits`, of three `rota server`
//! members replicated by Raft) on loopback (issues 6 and 7, DESIGN §8).
//!
//! Each benchmark starts `rota dev` as a child process on a temporary data directory, drives it
//! over HTTP with many concurrent requests, prints each figure beside the goal it is held to,
//! and can write the figures as JSON for comparison between commits. Nothing here asserts on
//! time: a missed goal is printed, not an error.
//!
//! ```text
//!  rota bench e2e ──▶ spawn `rota dev --listen 127.0.0.1:0` ──▶ add apps, trigger / start
//!        │                       ▲                                      │
//!        └── poll, read records, start.log, /proc/PID/status ◀──────────┘
//! ```

mod api;
mod burst;
mod cgroups;
mod cluster;
mod commits;
mod common;
mod cron;
mod drive;
mod e2e;
mod fake_agent;
mod lateness;
mod memory;
mod report;
mod server;
mod spawn;
mod stats;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};

/// Options of `rota bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The benchmark.
    #[command(subcommand)]
    pub bench: Bench,
}

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum Bench {
    /// Trivial runs triggered through the API as fast as the client can, until every record is
    /// `succeeded`: runs per second, submit-to-start and submit-to-recorded latency.
    E2e(e2e::E2eArgs),
    /// Apps on every-second crons: lateness from the schedule time to fire, to the agent and to
    /// the process start, and whether every schedule time made exactly one run.
    Cron(cron::CronArgs),
    /// Many apps due in the same second: time until all are dispatched and started.
    Burst(burst::BurstArgs),
    /// Server memory with many apps and records, and the time to recover them on restart.
    Memory(memory::MemoryArgs),
    /// Request rate and latency of reads and durable writes under concurrent clients.
    Api(api::ApiArgs),
    /// Durable replicated commits per second on three local `rota server` members: runs
    /// placed by the leader's scheduler, reported started and finished by fake agents in
    /// batches; transitions per second and each batch's commit latency.
    Commits(commits::CommitsArgs),
    /// How fast this machine starts and reaps trivial processes with no server in the way:
    /// bare `fork`/`exec`/`wait`, then through rota's process runtime (logs, cgroup): the
    /// limit under `e2e`.
    Spawn(spawn::SpawnArgs),
}

/// Runs one benchmark. Ctrl-C or SIGTERM stops it: the benchmark is dropped, which stops its
/// `rota dev` and removes what it left (runs, cgroups, the data directory).
pub async fn run(args: BenchArgs) -> Result<()> {
    let bench = async move {
        match args.bench {
            Bench::E2e(args) => e2e::run(args).await,
            Bench::Cron(args) => cron::run(args).await,
            Bench::Burst(args) => burst::run(args).await,
            Bench::Memory(args) => memory::run(args).await,
            Bench::Api(args) => api::run(args).await,
            Bench::Commits(args) => commits::run(args).await,
            Bench::Spawn(args) => spawn::run(args).await,
        }
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = bench => result,
        _ = tokio::signal::ctrl_c() => bail!("interrupted"),
        _ = term.recv() => bail!("terminated"),
    }
}
