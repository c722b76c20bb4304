//! `rota bench e2e`: trivial runs triggered through the API as fast as the client can, until
//! every record is `succeeded`.
//!
//! Run `i` is app `i % apps` triggered for its own schedule time, so every trigger makes a new
//! run. A poller lists the pending, queued and running runs (in that order, so a run that moves
//! on between two lists is still seen) and takes a run that is in none of them, and whose
//! trigger had been answered before the poll began, as recorded at the poll's end: the
//! submit-to-recorded latency is an upper bound, as fine as the polling (which waits nine times
//! as long as its last poll took, and at least 20 ms, so that it stays a small part of the load).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use jiff::Timestamp;
use rota_client::Client;
use rota_model::api::RunSelector;
use rota_model::{RunId, RunState};
use serde_json::json;

use super::common::{
    CommonArgs, QUEUE, TRUE, app_json, key, millis_between, plus_seconds, trigger_at,
};
use super::drive::{add_apps, indexed};
use super::report::{Goal, Report};
use super::server::{Cpu, DevServer};
use super::stats::Summary;

/// Options of `rota bench e2e`.
#[derive(Debug, Args)]
pub struct E2eArgs {
    /// Runs to submit [default: 10000, 200 with --quick].
    #[arg(long)]
    pub runs: Option<usize>,
    /// Apps the runs are spread over.
    #[arg(long, default_value_t = 10)]
    pub apps: usize,
    /// The runs' command, split at spaces.
    #[arg(long, default_value = TRUE)]
    pub command: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// One submitted run, as the client saw it.
#[derive(Debug, Clone, Copy)]
struct Submitted {
    /// Just before the trigger was sent.
    sent: Timestamp,
    /// Just after its answer arrived.
    answered: Timestamp,
    /// The end of the first poll that found it no longer active.
    recorded: Option<Timestamp>,
}

#[derive(Default)]
struct Tracker {
    runs: HashMap<RunId, Submitted>,
    open: Vec<RunId>,
    polls: u64,
}

/// Runs the benchmark.
pub async fn run(args: E2eArgs) -> Result<()> {
    let common = &args.common;
    let runs = common.size(args.runs, 200, 10_000).max(1);
    let apps = args.apps.clamp(1, runs);
    let command: Vec<String> = args.command.split_whitespace().map(String::from).collect();
    let mut report = Report::new(
        "e2e",
        json!({"runs": runs, "apps": apps, "clients": common.clients, "command": command}),
    );
    let (server, _) = DevServer::start(common.dev_options()).await?;
    let client = server.client();
    let cmd = command.clone();
    add_apps(&client, apps, common.clients, move |i| {
        app_json(&app_name(i), &cmd, None)
    })
    .await?;

    let cpu_before = (server.cpu()?, Cpu::of("self")?);
    let tracker = Arc::new(Mutex::new(Tracker::default()));
    let submitted_all = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let poller = tokio::spawn(poll(
        client.clone(),
        tracker.clone(),
        submitted_all.clone(),
        runs,
        deadline,
    ));
    let base: Timestamp = "2020-01-01T00:00:00Z".parse().expect("a time");
    let submitter = (client.clone(), tracker.clone());
    let results = indexed(runs, common.clients, move |i| {
        let (client, tracker) = submitter.clone();
        async move {
            let app = key(&app_name(i % apps));
            let time = plus_seconds(base, (i / apps) as i64);
            let sent = Timestamp::now();
            let run = client.trigger(&app, &trigger_at(time)).await?;
            let answered = Timestamp::now();
            let mut tracker = tracker.lock().expect("not poisoned");
            tracker.runs.insert(
                run.id,
                Submitted {
                    sent,
                    answered,
                    recorded: None,
                },
            );
            tracker.open.push(run.id);
            anyhow::Ok(())
        }
    })
    .await;
    submitted_all.store(true, Ordering::Release);
    if let Some(e) = results.into_iter().find_map(Result::err) {
        poller.abort();
        return Err(e).context("a trigger failed");
    }
    poller.await??;
    let server_cpu = server.cpu()?.since(cpu_before.0);
    let client_cpu = Cpu::of("self")?.since(cpu_before.1);

    let records = indexed(apps, common.clients, {
        let client = client.clone();
        move |i| {
            let client = client.clone();
            async move {
                client
                    .records(&key(&app_name(i)), &RunSelector::default())
                    .await
            }
        }
    })
    .await;
    let tracker = tracker.lock().expect("not poisoned");
    let mut states: HashMap<RunState, usize> = HashMap::new();
    let (mut to_start, mut to_recorded, mut to_exit, mut server_side, mut trigger) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in records
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?
        .iter()
        .flatten()
    {
        *states.entry(run.state).or_default() += 1;
        let Some(sub) = tracker.runs.get(&run.id) else {
            continue;
        };
        trigger.push(millis_between(sub.sent, sub.answered));
        if let Some(started) = run.started_at {
            to_start.push(millis_between(sub.sent, started));
            server_side.push(millis_between(run.created_at, started));
        }
        if let Some(ended) = run.ended_at {
            to_exit.push(millis_between(sub.sent, ended));
        }
        if let Some(recorded) = sub.recorded {
            to_recorded.push(millis_between(sub.sent, recorded));
        }
    }
    let first_sent = tracker.runs.values().map(|s| s.sent).min();
    let last_answered = tracker.runs.values().map(|s| s.answered).max();
    let last_recorded = tracker.runs.values().filter_map(|s| s.recorded).max();
    if let (Some(first), Some(answered), Some(recorded)) =
        (first_sent, last_answered, last_recorded)
    {
        let seconds = recorded.duration_since(first).as_secs_f64();
        report.figure(
            "runs per second, first submit to last recorded",
            runs as f64 / seconds,
            "runs/s",
            Some(Goal::at_least(2000.0)),
        );
        let seconds = answered.duration_since(first).as_secs_f64();
        report.figure(
            "triggers per second (submission alone)",
            runs as f64 / seconds,
            "req/s",
            None,
        );
    }
    report.figure(
        "server CPU per run (rota dev itself)",
        server_cpu.own.as_secs_f64() * 1000.0 / runs as f64,
        "ms",
        None,
    );
    report.figure(
        "CPU per run of its processes (reaped by rota dev)",
        server_cpu.children.as_secs_f64() * 1000.0 / runs as f64,
        "ms",
        None,
    );
    report.figure(
        "CPU per run of this client",
        client_cpu.own.as_secs_f64() * 1000.0 / runs as f64,
        "ms",
        None,
    );
    report.distribution(
        "submit to process start",
        Summary::of(&to_start),
        "ms",
        Some(Goal::at_most(50.0)),
    );
    report.distribution(
        "submit to recorded succeeded (polled)",
        Summary::of(&to_recorded),
        "ms",
        None,
    );
    report.distribution("submit to process exit", Summary::of(&to_exit), "ms", None);
    report.distribution(
        "created to process start (server clock)",
        Summary::of(&server_side),
        "ms",
        None,
    );
    report.distribution("trigger request", Summary::of(&trigger), "ms", None);
    let succeeded = states.get(&RunState::Succeeded).copied().unwrap_or(0);
    let mut counts: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
    counts.sort();
    report.note(format!(
        "{} runs recorded ({}); {} polls of the active runs; CPU: server {:.2} s ({:.2} s of it in the kernel), its runs {:.2} s, this client {:.2} s",
        states.values().sum::<usize>(),
        counts.join(", "),
        tracker.polls,
        server_cpu.own.as_secs_f64(),
        server_cpu.system.as_secs_f64(),
        server_cpu.children.as_secs_f64(),
        client_cpu.own.as_secs_f64()
    ));
    drop(tracker);
    drop(server);
    report.finish(common.json.as_deref())?;
    if succeeded != runs {
        bail!("{succeeded} of {runs} runs succeeded");
    }
    Ok(())
}

fn app_name(i: usize) -> String {
    format!("e2e-{i}")
}

/// Polls the active runs until every submitted run has left them.
async fn poll(
    client: Client,
    tracker: Arc<Mutex<Tracker>>,
    submitted_all: Arc<AtomicBool>,
    runs: usize,
    deadline: Instant,
) -> Result<()> {
    loop {
        let began = Timestamp::now();
        let mut active: HashSet<RunId> = HashSet::new();
        for state in [RunState::Pending, RunState::Queued, RunState::Running] {
            active.extend(client.runs(state, Some(QUEUE)).await?.iter().map(|r| r.id));
        }
        let ended = Timestamp::now();
        let all_submitted = submitted_all.load(Ordering::Acquire);
        let (finished, waiting) = {
            let mut guard = tracker.lock().expect("not poisoned");
            let Tracker {
                runs: subs,
                open,
                polls,
            } = &mut *guard;
            *polls += 1;
            open.retain(|id| {
                let sub = subs.get_mut(id).expect("tracked");
                if sub.answered < began && !active.contains(id) {
                    sub.recorded = Some(ended);
                    false
                } else {
                    true
                }
            });
            (
                all_submitted && open.is_empty() && subs.len() == runs,
                open.len(),
            )
        };
        if finished {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{waiting} runs still active at the deadline");
        }
        // A tenth of the time polling at most, so that the poller does not become the load.
        let took = Timestamp::now().duration_since(began).unsigned_abs();
        tokio::time::sleep((took * 9).max(Duration::from_millis(20))).await;
    }
}
