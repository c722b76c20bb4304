//! What every benchmark takes and builds: the shared flags, the apps it adds, and times.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use jiff::{SignedDuration, Timestamp};
use rota_model::AppKey;
use rota_model::api::TriggerRequest;
use serde_json::{Value, json};

use super::server::DevOptions;

/// The queue every benchmark app lives in.
pub const QUEUE: &str = "bench";

/// The trivial run every benchmark starts by default.
pub const TRUE: &str = "/bin/true";

/// What the runs of a cron benchmark do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Probe {
    /// Run the command: lateness to fire, to the agent (dispatch) and to the process start.
    Run,
    /// Ask for more cores than the node offers, so that the scheduler rejects each run when it
    /// plans it: lateness to fire and to the scheduling decision (the rejection's `ended_at`),
    /// with no process at all. Shows what the cron timer and the scheduler alone can keep up
    /// with when more runs are due than processes can start.
    Reject,
}

impl Probe {
    /// The app JSON for this probe.
    pub fn app_json(self, name: &str, command: &[String], cron: &str) -> Vec<u8> {
        match self {
            Probe::Run => app_json(name, command, Some(cron)),
            Probe::Reject => sized_app_json(name, command, Some(cron), 2.0, 64),
        }
    }

    /// How to start `rota dev` for this probe.
    pub fn dev_options(self, common: &CommonArgs) -> DevOptions {
        let mut options = common.dev_options();
        if self == Probe::Reject {
            options.cores = 1.0;
        }
        options
    }
}

/// Flags every benchmark takes.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Write the figures as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Small sizes that finish in seconds (for a CI smoke run); explicit sizes still win.
    #[arg(long)]
    pub quick: bool,
    /// Concurrent client requests.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// `RUST_LOG` of the `rota dev` under test (its default is `info`, as shipped).
    #[arg(long, default_value = "info", value_name = "FILTER")]
    pub server_log: String,
    /// Keep the temporary data directory (store, run logs, server stderr) and print its path.
    #[arg(long)]
    pub keep: bool,
    /// A command line (split at spaces) that `rota dev` is started under, e.g.
    /// `valgrind --tool=callgrind` or `setpriv --reuid=65534 --regid=65534 --clear-groups` (a
    /// user that cannot make cgroups). It must exec `rota dev` in its own process, so that
    /// memory is read from the right one; the data directory is then made writable by all.
    #[arg(long, value_name = "COMMAND")]
    pub wrap: Option<String>,
}

impl CommonArgs {
    /// How to start `rota dev`: a node too large for any benchmark app to wait for capacity.
    pub fn dev_options(&self) -> DevOptions {
        DevOptions {
            cores: 1000.0,
            mems: 6_400_000,
            log: self.server_log.clone(),
            keep: self.keep,
            wrap: self
                .wrap
                .as_deref()
                .map(|w| w.split_whitespace().map(String::from).collect())
                .unwrap_or_default(),
        }
    }

    /// `explicit` if given, else the quick or the full default.
    pub fn size(&self, explicit: Option<usize>, quick: usize, full: usize) -> usize {
        explicit.unwrap_or(if self.quick { quick } else { full })
    }

    /// Like [`CommonArgs::size`], for seconds.
    pub fn seconds(&self, explicit: Option<u64>, quick: u64, full: u64) -> u64 {
        explicit.unwrap_or(if self.quick { quick } else { full })
    }
}

/// The key of benchmark app `name`.
pub fn key(name: &str) -> AppKey {
    AppKey {
        name: name.to_string(),
        queue: QUEUE.to_string(),
    }
}

/// The JSON of a small process app: `cores` and `mems` small enough that the node's offer
/// (see [`CommonArgs::dev_options`]) never makes a run wait for capacity: 100,000 fit at once.
pub fn app_json(name: &str, command: &[String], cron: Option<&str>) -> Vec<u8> {
    sized_app_json(name, command, cron, 0.01, 64)
}

/// The JSON of a process app of a given size.
pub fn sized_app_json(
    name: &str,
    command: &[String],
    cron: Option<&str>,
    cores: f64,
    mems: i64,
) -> Vec<u8> {
    let mut app = json!({
        "name": name,
        "queue": QUEUE,
        "user": "bench",
        "cores": cores,
        "mems": mems,
        "command": command,
    });
    if let Some(cron) = cron {
        app["cron"] = Value::String(cron.to_string());
    }
    serde_json::to_vec(&app).expect("an app serializes")
}

/// A time as the API takes it (RFC 3339, UTC).
pub fn rfc3339(t: Timestamp) -> String {
    t.to_string()
}

/// A trigger for schedule time `t`.
pub fn trigger_at(t: Timestamp) -> TriggerRequest {
    TriggerRequest {
        time: Some(rfc3339(t)),
        ..TriggerRequest::default()
    }
}

/// `t` plus whole seconds.
pub fn plus_seconds(t: Timestamp, seconds: i64) -> Timestamp {
    t + SignedDuration::from_secs(seconds)
}

/// The next whole second strictly after `t`.
pub fn next_whole_second(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second() + 1).expect("in range")
}

/// Milliseconds from `from` to `to` (negative when `to` is earlier).
pub fn millis_between(from: Timestamp, to: Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64() * 1000.0
}

/// Sleeps until the wall clock reaches `t`.
pub async fn sleep_until(t: Timestamp) {
    let wait = t.duration_since(Timestamp::now());
    if wait.is_positive() {
        tokio::time::sleep(wait.unsigned_abs()).await;
    }
}
