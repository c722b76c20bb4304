//! `rota bench spawn`: how fast this machine can start and reap trivial processes at all, with
//! no server in the way: the physical limit under `rota bench e2e` (issue 7).
//!
//! Two passes over the same command, each with `--concurrency` starts in flight:
//!
//! - `bare`: `fork`/`exec` and `wait` through the standard library, nothing else: what the
//!   kernel alone allows.
//! - `runtime`: rota's process runtime as the agent drives it for each run: the run's log
//!   directory, `start.log` and `container.log`, its cgroup with limits of one core and
//!   64 MB (where the host allows), the spawn, the wait, the usage read and the cgroup given
//!   back.
//!
//! Each prints starts per second and the CPU time per start of this process and of the
//! processes it started. A server cannot start runs faster than `runtime` here; the e2e goal
//! is printed beside both, so that a machine on which it is out of reach says so.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::{Args, ValueEnum};
use rota_runtime::{CgroupConfig, Ending, Limits, ProcessRuntime, ProcessSpec, Resources};
use serde_json::json;

use super::common::{CommonArgs, TRUE};
use super::report::{Goal, Report};
use super::server::Cpu;

/// The e2e goal of issue 7, in runs per second.
const E2E_GOAL: f64 = 2000.0;

/// Which passes to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Pass {
    /// `fork`/`exec` and `wait` only.
    Bare,
    /// rota's process runtime: logs, cgroup, spawn, wait, usage.
    Runtime,
    /// Both, `bare` first.
    Both,
}

/// Options of `rota bench spawn`.
#[derive(Debug, Args)]
pub struct SpawnArgs {
    /// Processes to start in each pass [default: 5000, 200 with --quick].
    #[arg(long)]
    pub runs: Option<usize>,
    /// Starts in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// The command, split at spaces.
    #[arg(long, default_value = TRUE)]
    pub command: String,
    /// Which passes to make.
    #[arg(long, value_enum, default_value_t = Pass::Both)]
    pub pass: Pass,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// What one pass measured.
struct Measured {
    elapsed: Duration,
    cpu: Cpu,
}

/// Runs the benchmark.
pub async fn run(args: SpawnArgs) -> Result<()> {
    let common = &args.common;
    let runs = common.size(args.runs, 200, 5_000).max(1);
    let concurrency = args.concurrency.clamp(1, runs);
    let command: Vec<String> = args.command.split_whitespace().map(String::from).collect();
    ensure!(!command.is_empty(), "--command is empty");
    let mut report = Report::new(
        "spawn",
        json!({"runs": runs, "concurrency": concurrency, "command": command}),
    );
    if matches!(args.pass, Pass::Bare | Pass::Both) {
        let measured = bare(&command, runs, concurrency).await?;
        print_pass(&mut report, "bare fork/exec/wait", runs, &measured);
    }
    if matches!(args.pass, Pass::Runtime | Pass::Both) {
        let dir = std::env::temp_dir().join(format!(
            "rota-bench-spawn-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        let runtime = ProcessRuntime::with_cgroups(&CgroupConfig::UnderOwn(format!(
            "rota-bench-spawn-{}",
            std::process::id()
        )));
        report.note(match runtime.limits() {
            Limits::Enforced { by } => format!("runtime pass: limits enforced by {by}"),
            Limits::NotEnforced { reason } => {
                format!("runtime pass: limits not enforced (no cgroups): {reason}")
            }
        });
        let measured = through_runtime(&runtime, &dir, &command, runs, concurrency).await;
        runtime.remove_idle_cgroups();
        if common.keep {
            println!("rota bench: kept {}", dir.display());
        } else if let Err(e) = std::fs::remove_dir_all(&dir) {
            eprintln!("rota bench: cannot remove {}: {e}", dir.display());
        }
        print_pass(&mut report, "rota's process runtime", runs, &measured?);
    }
    report.note(format!(
        "the e2e goal is {E2E_GOAL} runs/s: a server cannot start runs faster than its runtime does here"
    ));
    report.finish(common.json.as_deref())
}

fn print_pass(report: &mut Report, pass: &str, runs: usize, measured: &Measured) {
    let per_run = |d: Duration| d.as_secs_f64() * 1000.0 / runs as f64;
    report.figure(
        &format!("{pass}: starts per second"),
        runs as f64 / measured.elapsed.as_secs_f64(),
        "starts/s",
        Some(Goal::at_least(E2E_GOAL)),
    );
    report.figure(
        &format!("{pass}: CPU per start of this process"),
        per_run(measured.cpu.own),
        "ms",
        None,
    );
    report.figure(
        &format!("{pass}: CPU per start of the processes started"),
        per_run(measured.cpu.children),
        "ms",
        None,
    );
}

/// Starts `runs` processes with the standard library, `concurrency` threads each starting and
/// reaping one at a time.
async fn bare(command: &[String], runs: usize, concurrency: usize) -> Result<Measured> {
    let command = command.to_vec();
    tokio::task::spawn_blocking(move || {
        let next = AtomicUsize::new(0);
        let before = Cpu::of("self")?;
        let began = Instant::now();
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..concurrency)
                .map(|_| {
                    scope.spawn(|| -> Result<()> {
                        while next.fetch_add(1, Ordering::Relaxed) < runs {
                            let status = std::process::Command::new(&command[0])
                                .args(&command[1..])
                                .status()
                                .with_context(|| format!("cannot start {}", command[0]))?;
                            ensure!(status.success(), "{} ended {status}", command[0]);
                        }
                        Ok(())
                    })
                })
                .collect();
            workers
                .into_iter()
                .try_for_each(|w| w.join().expect("a worker does not panic"))
        })?;
        let elapsed = began.elapsed();
        Ok(Measured {
            elapsed,
            cpu: Cpu::of("self")?.since(before),
        })
    })
    .await?
}

/// Starts `runs` processes through `runtime` as the agent does, each with its own log
/// directory under `dir`, limited to one core (which a trivial command never reaches, so that
/// no start waits for a CFS period) and 64 MB.
async fn through_runtime(
    runtime: &ProcessRuntime,
    dir: &Path,
    command: &[String],
    runs: usize,
    concurrency: usize,
) -> Result<Measured> {
    let next = Arc::new(AtomicUsize::new(0));
    let before = Cpu::of("self")?;
    let began = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (runtime, next, command) = (runtime.clone(), next.clone(), command.to_vec());
            let dir = dir.to_path_buf();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= runs {
                        return anyhow::Ok(());
                    }
                    let mut spec = ProcessSpec::new(
                        command.clone(),
                        dir.join("work"),
                        dir.join(i.to_string()),
                    );
                    spec.attempt = Some(1);
                    spec.resources = Resources::new(1.0, 64);
                    let outcome = runtime.start(spec).await?.wait().await;
                    if outcome.ending != Ending::Succeeded {
                        bail!("start {i}: {}", outcome.reason);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await??;
    }
    let elapsed = began.elapsed();
    Ok(Measured {
        elapsed,
        cpu: Cpu::of("self")?.since(before),
    })
}
