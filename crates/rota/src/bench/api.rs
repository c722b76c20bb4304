//! `rota bench api`: request rate and latency of reads (`GET /v1/apps/{app}`, a records range)
//! and durable writes under concurrent clients, one phase each.
//!
//! The apps ask for more cores than the node offers, so their runs (the records read, and the
//! runs a `trigger` write makes) are created durably and then rejected by the scheduler
//! without starting a process: the figures are the API's and the store's, not process starts'
//! (`rota bench e2e` measures those). Without `--rate` every client sends its next request as
//! soon as the last one is answered; with it, the clients pace themselves to that total rate
//! and latency is counted from when a request was due, so a slow answer is not hidden by the
//! requests it delayed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use jiff::Timestamp;
use rota_client::Client;
use rota_model::api::{RerunRequest, RunSelector};
use serde_json::json;

use super::common::{CommonArgs, TRUE, key, plus_seconds, rfc3339, sized_app_json, trigger_at};
use super::drive::{add_apps, indexed, wait_idle};
use super::report::{Goal, Report};
use super::server::DevServer;
use super::stats::Summary;

/// Every second, Quartz style: a repair over N seconds makes N records.
const EVERY_SECOND: &str = "* * * * * ?";
/// Records one range read returns.
const RANGE: i64 = 10;

/// Which durable write the write phase sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Write {
    /// `POST /v1/apps/{app}/trigger` for a new schedule time: a new run record.
    Trigger,
    /// `POST /v1/apps/{app}/stop`: one small command, the bare cost of a durable write.
    Stop,
}

/// Options of `rota bench api`.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Apps [default: 1000, 20 with --quick].
    #[arg(long)]
    pub apps: Option<usize>,
    /// Records per app, made by one repair each [default: 100, 20 with --quick].
    #[arg(long)]
    pub records_per_app: Option<usize>,
    /// Seconds per phase [default: 10, 2 with --quick].
    #[arg(long)]
    pub duration: Option<u64>,
    /// Total requests per second to pace the clients to; as fast as they can when absent.
    #[arg(long)]
    pub rate: Option<f64>,
    /// The durable write of the write phase.
    #[arg(long, value_enum, default_value_t = Write::Trigger)]
    pub write: Write,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// One kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    GetApp,
    Records,
    Write(Write),
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::GetApp => "GET app",
            Phase::Records => "GET records range",
            Phase::Write(Write::Trigger) => "durable write (trigger)",
            Phase::Write(Write::Stop) => "durable write (stop)",
        }
    }

    fn goal(self) -> f64 {
        match self {
            Phase::Write(_) => 15.0,
            _ => 2.0,
        }
    }
}

/// What the load needs to know.
struct Target {
    client: Client,
    apps: usize,
    records: i64,
    base: Timestamp,
    /// Schedule times handed out to triggers, after the records'.
    next_trigger: AtomicU64,
}

/// Runs the benchmark.
pub async fn run(args: ApiArgs) -> Result<()> {
    let common = &args.common;
    let apps = common.size(args.apps, 20, 1000).max(1);
    let records = common
        .size(args.records_per_app, 20, 100)
        .max(RANGE as usize);
    let duration = Duration::from_secs(common.seconds(args.duration, 2, 10).max(1));
    let mut report = Report::new(
        "api",
        json!({"apps": apps, "records_per_app": records, "phase_s": duration.as_secs(),
               "clients": common.clients, "rate": args.rate,
               "write": format!("{:?}", args.write).to_lowercase()}),
    );
    let mut options = common.dev_options();
    options.cores = 1.0;
    let (server, _) = DevServer::start(options).await?;
    let client = server.client();
    let command = vec![TRUE.to_string()];
    add_apps(&client, apps, common.clients, move |i| {
        sized_app_json(&app_name(i), &command, Some(EVERY_SECOND), 2.0, 64)
    })
    .await?;
    let base: Timestamp = "2025-01-01T00:00:00Z".parse()?;
    let made = indexed(apps, common.clients.min(16), {
        let client = client.clone();
        move |i| {
            let client = client.clone();
            let request = RerunRequest {
                begin: Some(rfc3339(base)),
                end: Some(rfc3339(plus_seconds(base, records as i64 - 1))),
                ..RerunRequest::default()
            };
            async move { client.repair(&key(&app_name(i)), &request).await }
        }
    })
    .await;
    if let Some(e) = made.into_iter().find_map(Result::err) {
        return Err(e.into());
    }
    wait_idle(&client, Duration::from_secs(600)).await?;

    let target = Arc::new(Target {
        client,
        apps,
        records: records as i64,
        base,
        next_trigger: AtomicU64::new(records as u64),
    });
    let mut failures = 0;
    for phase in [Phase::GetApp, Phase::Records, Phase::Write(args.write)] {
        let Load {
            latencies,
            errors,
            rate,
        } = load(&target, phase, common.clients, args.rate, duration).await;
        failures += errors;
        let name = phase.name();
        report.figure(
            &format!("{name}: requests per second"),
            rate,
            "req/s",
            Some(Goal::at_least(10_000.0)),
        );
        report.distribution(
            &format!("{name}: latency"),
            Summary::of(&latencies),
            "ms",
            Some(Goal::at_most(phase.goal())),
        );
        if errors > 0 {
            report.note(format!("{name}: {errors} requests failed"));
        }
        if phase == Phase::Write(Write::Trigger) {
            wait_idle(&target.client, Duration::from_secs(600)).await?;
        }
    }
    drop(server);
    report.finish(common.json.as_deref())?;
    if failures > 0 {
        bail!("{failures} requests failed");
    }
    Ok(())
}

fn app_name(i: usize) -> String {
    format!("api-{i}")
}

/// What one phase measured.
struct Load {
    /// Latencies (ms) of the requests answered.
    latencies: Vec<f64>,
    /// Requests refused or failed.
    errors: usize,
    /// Requests per second: answered over the time taken; when paced, those answered by one
    /// second after the phase's end over the phase's length (so a server that keeps up shows
    /// the offered rate, and one that falls behind shows less).
    rate: f64,
}

/// Sends `phase` requests from `clients` tasks for `duration`.
async fn load(
    target: &Arc<Target>,
    phase: Phase,
    clients: usize,
    rate: Option<f64>,
    duration: Duration,
) -> Load {
    let began = Instant::now();
    let deadline = began + duration;
    let interval = rate.map(|r| Duration::from_secs_f64(clients as f64 / r.max(1e-3)));
    let mut tasks = Vec::new();
    for worker in 0..clients {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut random = Random(0x9E37_79B9_7F4A_7C15 ^ (worker as u64 + 1));
            let offset = interval.map(|i| i.mul_f64(worker as f64 / clients as f64));
            let mut due = began + offset.unwrap_or_default();
            let (mut latencies, mut errors, mut in_time) = (Vec::new(), 0, 0usize);
            while due < deadline {
                if interval.is_some() {
                    tokio::time::sleep_until(due.into()).await;
                }
                let sent = if interval.is_some() {
                    due
                } else {
                    Instant::now()
                };
                match request(&target, phase, &mut random).await {
                    Ok(()) => {
                        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                        if Instant::now() <= deadline + Duration::from_secs(1) {
                            in_time += 1;
                        }
                    }
                    Err(_) => errors += 1,
                }
                due = match interval {
                    Some(i) => due + i,
                    None => Instant::now(),
                };
            }
            (latencies, errors, in_time)
        }));
    }
    let (mut latencies, mut errors, mut in_time) = (Vec::new(), 0, 0);
    for task in tasks {
        let (l, e, t) = task.await.expect("a client task panicked");
        latencies.extend(l);
        errors += e;
        in_time += t;
    }
    let rate = match interval {
        Some(_) => in_time as f64 / duration.as_secs_f64(),
        None => latencies.len() as f64 / began.elapsed().as_secs_f64(),
    };
    Load {
        latencies,
        errors,
        rate,
    }
}

/// One request of `phase`.
async fn request(target: &Target, phase: Phase, random: &mut Random) -> Result<()> {
    let app = key(&app_name(random.below(target.apps as u64) as usize));
    match phase {
        Phase::GetApp => {
            target.client.app(&app).await?;
        }
        Phase::Records => {
            let first = random.below((target.records - RANGE + 1) as u64) as i64;
            let selector = RunSelector {
                time: None,
                begin: Some(rfc3339(plus_seconds(target.base, first))),
                end: Some(rfc3339(plus_seconds(target.base, first + RANGE - 1))),
            };
            let runs = target.client.records(&app, &selector).await?;
            if runs.len() != RANGE as usize {
                bail!("{} records in the range, not {RANGE}", runs.len());
            }
        }
        Phase::Write(Write::Trigger) => {
            let n = target.next_trigger.fetch_add(1, Ordering::Relaxed);
            let app = key(&app_name((n % target.apps as u64) as usize));
            let second = n / target.apps as u64 + target.records as u64;
            let time = plus_seconds(target.base, second as i64);
            target.client.trigger(&app, &trigger_at(time)).await?;
        }
        Phase::Write(Write::Stop) => {
            target.client.stop(&app).await?;
        }
    }
    Ok(())
}

/// A small xorshift generator: which app and range each request names.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}
