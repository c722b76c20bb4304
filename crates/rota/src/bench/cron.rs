//! `rota bench cron`: many apps on every-second crons. Over a measured window of whole
//! seconds, how late each run was fired, reached the agent and started, and whether every
//! app's every schedule time made exactly one run.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;
use jiff::Timestamp;
use rota_model::api::RunSelector;
use rota_model::{Run, RunState};
use serde_json::json;

use super::common::{
    CommonArgs, Probe, TRUE, key, next_whole_second, plus_seconds, rfc3339, sleep_until,
};
use super::drive::{add_apps, indexed, schedule_apps, wait_idle};
use super::lateness::Lateness;
use super::report::{Goal, Report};
use super::server::DevServer;
use super::stats::Summary;

/// Every second, Quartz style.
const EVERY_SECOND: &str = "* * * * * ?";

/// Options of `rota bench cron`.
#[derive(Debug, Args)]
pub struct CronArgs {
    /// Apps, each on an every-second cron [default: 1000, 50 with --quick].
    #[arg(long)]
    pub apps: Option<usize>,
    /// Seconds measured [default: 10, 3 with --quick].
    #[arg(long)]
    pub duration: Option<u64>,
    /// Seconds between the last app's start and the measured window [default: 5, 2 with
    /// --quick].
    #[arg(long)]
    pub warmup: Option<u64>,
    /// The runs' command, split at spaces.
    #[arg(long, default_value = TRUE)]
    pub command: String,
    /// Run the command, or have every run rejected by the scheduler (no process).
    #[arg(long, value_enum, default_value_t = Probe::Run)]
    pub probe: Probe,
    /// Seconds to wait for the server to finish the measured runs before giving up (a
    /// server that cannot keep up never does).
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs the benchmark.
pub async fn run(args: CronArgs) -> Result<()> {
    let common = &args.common;
    let apps = common.size(args.apps, 50, 1000).max(1);
    let duration = common.seconds(args.duration, 3, 10).max(1);
    let warmup = common.seconds(args.warmup, 2, 5);
    let command: Vec<String> = args.command.split_whitespace().map(String::from).collect();
    let mut report = Report::new(
        "cron",
        json!({"apps": apps, "duration_s": duration, "warmup_s": warmup,
               "clients": common.clients, "command": command,
               "probe": format!("{:?}", args.probe).to_lowercase()}),
    );
    let probe = args.probe;
    let (server, _) = DevServer::start(probe.dev_options(common)).await?;
    let client = server.client();
    let took = add_apps(&client, apps, common.clients, move |i| {
        probe.app_json(&app_name(i), &command, EVERY_SECOND)
    })
    .await?;
    report.figure(
        "apps added per second",
        apps as f64 / took.as_secs_f64(),
        "apps/s",
        None,
    );
    schedule_apps(&client, apps, common.clients, true, app_name).await?;

    let first = next_whole_second(plus_seconds(Timestamp::now(), warmup as i64));
    let last = plus_seconds(first, duration as i64 - 1);
    sleep_until(plus_seconds(last, 1)).await;
    // Stop the crons so that reading the records competes with nothing, then let the
    // window's runs finish.
    schedule_apps(&client, apps, common.clients, false, app_name).await?;
    wait_idle(&client, Duration::from_secs(args.timeout)).await?;

    let selector = RunSelector {
        time: None,
        begin: Some(rfc3339(first)),
        end: Some(rfc3339(last)),
    };
    let records = indexed(apps, common.clients, {
        let client = client.clone();
        move |i| {
            let (client, selector) = (client.clone(), selector.clone());
            async move { client.records(&key(&app_name(i)), &selector).await }
        }
    })
    .await
    .into_iter()
    .collect::<Result<Vec<Vec<Run>>, _>>()?;

    let expected: Vec<Timestamp> = (0..duration as i64)
        .map(|s| plus_seconds(first, s))
        .collect();
    let (mut missing, mut extra) = (0usize, 0usize);
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for runs in &records {
        let mut per_time: BTreeMap<Timestamp, usize> = BTreeMap::new();
        for run in runs {
            *per_time.entry(run.schedule_time).or_default() += 1;
            *states.entry(run.state.to_string()).or_default() += 1;
        }
        missing += expected
            .iter()
            .filter(|t| !per_time.contains_key(t))
            .count();
        extra += per_time
            .iter()
            .map(|(t, n)| if expected.contains(t) { n - 1 } else { *n })
            .sum::<usize>();
    }
    let window: Vec<&Run> = records.iter().flatten().collect();
    let rounds = client.rounds().await?;
    let lateness = Lateness::of(window.iter().copied(), &server.log_root(), &rounds);
    report.figure(
        "schedule times without a run",
        missing as f64,
        "",
        Some(Goal::at_most(0.0)),
    );
    report.figure(
        "duplicate or unexpected runs",
        extra as f64,
        "",
        Some(Goal::at_most(0.0)),
    );
    report.distribution(
        "lateness to fire (created_at)",
        Summary::of(&lateness.fired),
        "ms",
        None,
    );
    match probe {
        Probe::Run => {
            report.distribution(
                "lateness to dispatch (at the agent, start.log)",
                Summary::of(&lateness.at_agent),
                "ms",
                Some(Goal::at_most(5.0)),
            );
            report.distribution(
                "lateness to process start (started_at)",
                Summary::of(&lateness.started),
                "ms",
                None,
            );
            report.distribution(
                "lateness to process exit (ended_at)",
                Summary::of(&lateness.ended),
                "ms",
                None,
            );
        }
        Probe::Reject => {
            report.distribution(
                "lateness to the round that decided (rejected, ended_at)",
                Summary::of(&lateness.ended),
                "ms",
                None,
            );
            report.distribution(
                "lateness to the decision (the round's plan)",
                Summary::of(&lateness.planned),
                "ms",
                None,
            );
            report.distribution(
                "lateness to dispatch (the decision committed)",
                Summary::of(&lateness.committed),
                "ms",
                Some(Goal::at_most(5.0)),
            );
        }
    }
    let counts: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
    report.note(format!(
        "window {first} .. {last}: {} runs expected, {} found ({}); {} without a start.log line",
        apps * duration as usize,
        window.len(),
        counts.join(", "),
        lateness.no_start_log
    ));
    let failed = window
        .iter()
        .filter(|r| r.state != RunState::Succeeded)
        .count();
    drop(server);
    report.finish(common.json.as_deref())?;
    if missing + extra > 0 {
        bail!("{missing} schedule times made no run and {extra} made more than one");
    }
    if failed > 0 && probe == Probe::Run && args.command == TRUE {
        bail!("{failed} runs did not succeed");
    }
    Ok(())
}

fn app_name(i: usize) -> String {
    format!("cron-{i}")
}
