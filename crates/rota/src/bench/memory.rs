//! `rota bench memory`: the server's resident memory with many apps and many records, and the
//! time to recover them after a `kill -9`.
//!
//! Records are made the fastest honest way: `repair` of an every-second cron app over a past
//! range creates one run per second of the range in one request. By default the record apps ask
//! for more cores than the node offers, so the scheduler rejects each run as it would any run
//! that can never fit: every record is created, queued, planned and ended (`rejected`) through
//! the real paths, without a process. With `--execute` the runs really run `/bin/true` and end
//! `succeeded` (as slow as `rota bench e2e` says).

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Args;
use jiff::Timestamp;
use rota_model::api::RerunRequest;
use serde_json::json;

use super::common::{CommonArgs, TRUE, key, plus_seconds, rfc3339, sized_app_json};
use super::drive::{add_apps, indexed, wait_idle};
use super::report::{Goal, Report};
use super::server::{DevServer, Memory};

/// Every second, Quartz style: a repair over N seconds makes N runs.
const EVERY_SECOND: &str = "* * * * * ?";
const MIB: f64 = 1024.0 * 1024.0;

/// Options of `rota bench memory`.
#[derive(Debug, Args)]
pub struct MemoryArgs {
    /// Apps [default: 100000, 1000 with --quick].
    #[arg(long)]
    pub apps: Option<usize>,
    /// Run records [default: 1000000, 10000 with --quick].
    #[arg(long)]
    pub records: Option<usize>,
    /// Records per app that has records (one repair request each; at most 100000).
    #[arg(long, default_value_t = 1000)]
    pub records_per_app: usize,
    /// Really run `/bin/true` for every record instead of having the scheduler reject it.
    #[arg(long)]
    pub execute: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs the benchmark.
pub async fn run(args: MemoryArgs) -> Result<()> {
    let common = &args.common;
    let apps = common.size(args.apps, 1000, 100_000).max(1);
    let records = common.size(args.records, 10_000, 1_000_000);
    let per_app = args.records_per_app.clamp(1, 100_000);
    let record_apps = records.div_ceil(per_app);
    if record_apps > apps {
        bail!("{records} records at {per_app} per app need {record_apps} apps; raise --apps");
    }
    let execute = args.execute;
    let mut report = Report::new(
        "memory",
        json!({"apps": apps, "records": records, "records_per_app": per_app,
               "execute": execute, "clients": common.clients}),
    );
    let mut options = common.dev_options();
    if !execute {
        options.cores = 1.0;
    }
    let (mut server, _) = DevServer::start(options).await?;
    let client = server.client();
    let empty = server.memory()?;
    report.figure("empty server RSS", mib(empty.rss), "MiB", None);

    let record_cores = if execute { 0.01 } else { 2.0 };
    let command = vec![TRUE.to_string()];
    let took = add_apps(&client, apps, common.clients, move |i| {
        let cores = if i < record_apps { record_cores } else { 0.01 };
        sized_app_json(&app_name(i), &command, Some(EVERY_SECOND), cores, 64)
    })
    .await?;
    report.figure(
        "apps added per second",
        apps as f64 / took.as_secs_f64(),
        "apps/s",
        None,
    );
    let with_apps = server.memory()?;
    report.figure(
        "RSS per 100,000 apps",
        mib(with_apps.rss.saturating_sub(empty.rss)) * 100_000.0 / apps as f64,
        "MiB",
        Some(Goal::at_most(100.0)),
    );

    let base: Timestamp = "2025-01-01T00:00:00Z".parse()?;
    let began = Instant::now();
    let made = indexed(record_apps, common.clients.min(16), {
        let client = client.clone();
        move |i| {
            let client = client.clone();
            let count = per_app.min(records - i * per_app);
            let request = RerunRequest {
                begin: Some(rfc3339(base)),
                end: Some(rfc3339(plus_seconds(base, count as i64 - 1))),
                ..RerunRequest::default()
            };
            async move {
                let made = client.repair(&key(&app_name(i)), &request).await?;
                anyhow::Ok(made.runs.len())
            }
        }
    })
    .await
    .into_iter()
    .collect::<Result<Vec<usize>>>()?
    .into_iter()
    .sum::<usize>();
    let created = began.elapsed();
    wait_idle(&client, Duration::from_secs(7200)).await?;
    let ended = began.elapsed();
    report.figure(
        "records created per second (repair)",
        made as f64 / created.as_secs_f64(),
        "runs/s",
        None,
    );
    report.figure(
        "records created and ended per second",
        made as f64 / ended.as_secs_f64(),
        "runs/s",
        None,
    );
    let counted = count_records(&client, record_apps, common.clients).await?;
    report.note(format!(
        "{made} runs made by {record_apps} repairs; the apps count {} runs: {} succeeded, {} otherwise ended, {} still active",
        counted.0 + counted.1 + counted.2,
        counted.0,
        counted.1,
        counted.2
    ));
    let full = server.memory()?;
    report_memory(&mut report, "with apps and records", full);
    report.figure(
        "RSS per 1,000,000 records",
        mib(full.rss.saturating_sub(with_apps.rss)) * 1_000_000.0 / made.max(1) as f64,
        "MiB",
        None,
    );
    let store = std::fs::metadata(server.store_file())
        .map(|m| m.len())
        .unwrap_or(0);
    report.figure("store file", mib(store), "MiB", None);

    server.kill9();
    let startup = server.restart().await?;
    let recovered = server.memory()?;
    let listing = Instant::now();
    let listed = server.client().apps(None).await?.len();
    let listed_after = startup.healthy + listing.elapsed();
    report.figure(
        "restart until it listens (before it opens the store)",
        startup.listening.as_secs_f64() * 1000.0,
        "ms",
        None,
    );
    report.figure(
        "restart until healthy",
        startup.healthy.as_secs_f64() * 1000.0,
        "ms",
        Some(Goal::at_most(2000.0)),
    );
    report.figure(
        "restart until healthy and every app listed",
        listed_after.as_secs_f64() * 1000.0,
        "ms",
        None,
    );
    report_memory(&mut report, "after restart", recovered);
    report_memory(&mut report, "after restart and listing", server.memory()?);
    if listed != apps {
        report.note(format!(
            "listed {listed} apps after the restart, not {apps}"
        ));
    }
    drop(server);
    report.finish(common.json.as_deref())?;
    if listed != apps {
        bail!("the restart lost apps");
    }
    Ok(())
}

fn app_name(i: usize) -> String {
    format!("mem-{i}")
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

fn report_memory(report: &mut Report, when: &str, memory: Memory) {
    report.figure(&format!("RSS {when}"), mib(memory.rss), "MiB", None);
    report.figure(&format!("peak RSS {when}"), mib(memory.hwm), "MiB", None);
}

/// Runs of the first `apps` apps: succeeded, otherwise ended, active.
async fn count_records(
    client: &rota_client::Client,
    apps: usize,
    workers: usize,
) -> Result<(u64, u64, u64)> {
    let client = client.clone();
    let views = indexed(apps, workers, move |i| {
        let client = client.clone();
        async move { client.app(&key(&app_name(i))).await }
    })
    .await;
    let mut counts = (0, 0, 0);
    for view in views {
        let runs = view?.runs;
        counts.0 += runs.succeeded;
        counts.1 += runs.unsuccessful;
        counts.2 += runs.pending + runs.queued + runs.running;
    }
    Ok(counts)
}
