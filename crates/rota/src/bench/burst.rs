//! `rota bench burst`: many apps due in the same second. The apps share a cron that fires
//! every `--every` seconds; once they are all started and the server is idle, the next fire
//! time is measured: how long until every run was fired, dispatched (at the agent) and started.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Args;
use jiff::Timestamp;
use rota_model::Run;
use rota_model::api::RunSelector;
use serde_json::json;

use super::common::{CommonArgs, Probe, TRUE, key, millis_between, rfc3339, sleep_until};
use super::drive::{active, add_apps, indexed, schedule_apps, wait_idle};
use super::lateness::Lateness;
use super::report::{Goal, Report};
use super::server::DevServer;
use super::stats::Summary;

/// Options of `rota bench burst`.
#[derive(Debug, Args)]
pub struct BurstArgs {
    /// Apps due in the same second [default: 10000, 200 with --quick].
    #[arg(long)]
    pub apps: Option<usize>,
    /// Seconds between fires of the shared cron: 10, 15, 20, 30 or 60 [default: 30, 10 with
    /// --quick].
    #[arg(long)]
    pub every: Option<u64>,
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
pub async fn run(args: BurstArgs) -> Result<()> {
    let common = &args.common;
    let apps = common.size(args.apps, 200, 10_000).max(1);
    let every = common.seconds(args.every, 10, 30);
    if ![10, 15, 20, 30, 60].contains(&every) {
        bail!("--every must be 10, 15, 20, 30 or 60");
    }
    let cron = format!("0/{every} * * * * ?");
    let command: Vec<String> = args.command.split_whitespace().map(String::from).collect();
    let mut report = Report::new(
        "burst",
        json!({"apps": apps, "cron": cron, "clients": common.clients, "command": command,
               "probe": format!("{:?}", args.probe).to_lowercase()}),
    );
    let probe = args.probe;
    let (server, _) = DevServer::start(probe.dev_options(common)).await?;
    let client = server.client();
    add_apps(&client, apps, common.clients, move |i| {
        probe.app_json(&app_name(i), &command, &cron)
    })
    .await?;
    schedule_apps(&client, apps, common.clients, true, app_name).await?;
    wait_idle(&client, Duration::from_secs(args.timeout)).await?;

    let now = Timestamp::now().as_second();
    let every = every as i64;
    let fire = Timestamp::from_second((now + 2 + every - 1) / every * every)?;
    report.note(format!("measuring the fire at {fire}"));
    sleep_until(fire).await;
    let began = Instant::now();
    let mut idle_after = None;
    while began.elapsed() < Duration::from_secs(args.timeout) {
        let (queued, running) = active(&client).await?;
        let settled = began.elapsed() > Duration::from_secs(2) && queued + running == 0;
        if settled {
            idle_after = Some(began.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let selector = RunSelector {
        time: Some(rfc3339(fire)),
        begin: None,
        end: None,
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
    let runs: Vec<&Run> = records.iter().flatten().collect();
    let rounds = client.rounds().await?;
    let lateness = Lateness::of(runs.iter().copied(), &server.log_root(), &rounds);
    let latest = |times: &[f64]| times.iter().copied().fold(f64::NAN, f64::max);
    report.figure(
        "fire times without a run",
        (apps - runs.len().min(apps)) as f64,
        "",
        Some(Goal::at_most(0.0)),
    );
    report.figure(
        "all fired (latest created_at)",
        latest(&lateness.fired),
        "ms",
        None,
    );
    match probe {
        Probe::Run => {
            report.figure(
                "all dispatched (latest at the agent, start.log)",
                latest(&lateness.at_agent),
                "ms",
                Some(Goal::at_most(1000.0)),
            );
            report.figure(
                "all started (latest started_at)",
                latest(&lateness.started),
                "ms",
                None,
            );
            report.figure(
                "all ended (latest ended_at)",
                latest(&lateness.ended),
                "ms",
                None,
            );
            report.distribution(
                "lateness to dispatch (at the agent)",
                Summary::of(&lateness.at_agent),
                "ms",
                None,
            );
        }
        Probe::Reject => {
            report.figure(
                "all decided by the scheduler (latest rejection, ended_at)",
                latest(&lateness.ended),
                "ms",
                None,
            );
            report.figure(
                "all decisions committed (latest round's commit)",
                latest(&lateness.committed),
                "ms",
                Some(Goal::at_most(1000.0)),
            );
            report.distribution(
                "lateness to the scheduling decision",
                Summary::of(&lateness.ended),
                "ms",
                None,
            );
        }
    }
    let created_spread = runs
        .iter()
        .map(|r| r.created_at)
        .fold(None::<(Timestamp, Timestamp)>, |acc, t| {
            Some(acc.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))))
        });
    if let Some((lo, hi)) = created_spread {
        report.note(format!(
            "fired in {} cron batches spread over {:.1} ms; idle again {:.2} s after the fire time; {} without a start.log line",
            distinct_creations(&runs),
            millis_between(lo, hi),
            idle_after.map_or(f64::NAN, |d| d.as_secs_f64()),
            lateness.no_start_log
        ));
    }
    drop(server);
    report.finish(common.json.as_deref())
}

fn app_name(i: usize) -> String {
    format!("burst-{i}")
}

/// How many distinct `created_at` (one per `Fire` command) the runs have.
fn distinct_creations(runs: &[&Run]) -> usize {
    let mut times: Vec<Timestamp> = runs.iter().map(|r| r.created_at).collect();
    times.sort();
    times.dedup();
    times.len()
}
