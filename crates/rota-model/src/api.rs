//! The shapes of the HTTP API under `/v1`, shared by the server and the client.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::record::Run;
use crate::spec::AppSpec;

/// Every error body: a stable machine-readable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable code, e.g. `app_not_found`.
    pub error: String,
    /// What went wrong, naming the input at fault.
    pub message: String,
    /// With `not_leader`: the base URL of the server that takes writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
}

/// An app as the API shows it: its current spec and scheduling state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppView {
    /// The current version's spec.
    pub spec: AppSpec,
    /// The current version, from 1.
    pub version: u32,
    /// Whether its cron is running (`start`ed).
    pub scheduled: bool,
    /// When it was added.
    pub created_at: Timestamp,
    /// When its current version was made.
    pub updated_at: Timestamp,
    /// The next cron fire time, when scheduled.
    pub next_fire_time: Option<Timestamp>,
    /// Its runs by state, across all time.
    pub runs: RunCounts,
    /// Whether its `cores` and `mems` are enforced: as its latest run recorded, or as the
    /// node would enforce them.
    pub limits: Option<crate::exit::Limits>,
    /// What its recent runs used.
    pub usage: UsageSummary,
}

/// What an app's recent runs used (the last [`USAGE_WINDOW`] ended runs that were measured).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageSummary {
    /// Runs measured.
    pub measured_runs: u64,
    /// The highest peak memory among them, bytes.
    pub peak_memory_bytes_max: Option<u64>,
    /// The latest run's peak memory, bytes.
    pub peak_memory_bytes_last: Option<u64>,
    /// The latest run's CPU time, milliseconds.
    pub cpu_time_ms_last: Option<u64>,
    /// The mean CPU time, milliseconds.
    pub cpu_time_ms_mean: Option<u64>,
}

/// How many recent runs [`UsageSummary`] looks at.
pub const USAGE_WINDOW: usize = 100;

/// One version of an app, with what changed from the version before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionView {
    /// From 1.
    pub version: u32,
    /// When it was made.
    pub created_at: Timestamp,
    /// Whether it is the current version.
    pub current: bool,
    /// Its spec.
    pub spec: AppSpec,
    /// `field: old -> new` for each field that differs from the previous version.
    pub changes: Vec<String>,
}

/// `POST /v1/cluster/members` (`rota cluster add`): a server to add to the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// Its member id (the `--id` it was started with), above 0.
    pub id: u64,
    /// Its base URL, e.g. `http://10.0.0.4:7070`.
    pub url: String,
}

/// `rollback`: make a new version equal to an earlier one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// The version to return to.
    pub version: u32,
}

/// Counts of runs by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    /// Waiting for dependencies.
    pub pending: u64,
    /// Waiting for capacity.
    pub queued: u64,
    /// Running now.
    pub running: u64,
    /// Ended successfully.
    pub succeeded: u64,
    /// Ended in any other way.
    pub unsuccessful: u64,
}

impl RunCounts {
    /// Counts one more run in `state`.
    pub fn count(&mut self, state: crate::run::RunState) {
        use crate::run::RunState;
        match state {
            RunState::Pending => self.pending += 1,
            RunState::Queued => self.queued += 1,
            RunState::Running => self.running += 1,
            RunState::Succeeded => self.succeeded += 1,
            _ => self.unsuccessful += 1,
        }
    }
}

/// A queue as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueView {
    /// Its name.
    pub name: String,
    /// Apps in it.
    pub apps: u64,
    /// Runs waiting for capacity.
    pub queued: u64,
    /// Runs running.
    pub running: u64,
    /// Cores its running runs use.
    pub cores_used: f64,
    /// Memory its running runs use, MB.
    pub mems_used: i64,
    /// Its weight in fair sharing.
    #[serde(default = "one")]
    pub weight: u32,
    /// The most its running runs may use together.
    #[serde(default)]
    pub quota: QueueLimits,
    /// What it gets before the queues above their share (by preemption when allowed).
    #[serde(default)]
    pub guaranteed: QueueLimits,
    /// Whether it may preempt runs of queues above their share while below its minimum.
    #[serde(default)]
    pub preemption: bool,
    /// Its dominant share of the cluster, 0 to 1.
    #[serde(default)]
    pub share: f64,
    /// Whether it is below its guaranteed minimum.
    #[serde(default)]
    pub below_guarantee: bool,
}

fn one() -> u32 {
    1
}

/// Limits of a queue over cores and memory (`None`: no limit).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueLimits {
    /// Cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<f64>,
    /// Memory, MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mems: Option<i64>,
}

/// `PUT /v1/queues/{name}`: the settings to change; those left out keep their value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettingsRequest {
    /// Weight in fair sharing (1 or more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// The most its running runs may use together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<QueueLimits>,
    /// Its guaranteed minimum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guaranteed: Option<QueueLimits>,
    /// Whether it may preempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preemption: Option<bool>,
}

/// Which runs of an app a verb acts on: one schedule time, or an inclusive range. Times are
/// RFC 3339 or `YYYY-MM-DD HH:MM:SS` in the server's zone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSelector {
    /// One schedule time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// First schedule time of a range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begin: Option<String>,
    /// Last schedule time of a range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// `repair` or `replay`: which runs, and how.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RerunRequest {
    /// One schedule time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// First schedule time of a range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begin: Option<String>,
    /// Last schedule time of a range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Also re-run, in dependency order, the dependents whose windows include the re-run runs.
    #[serde(default)]
    pub cascade: bool,
    /// Only say what would run.
    #[serde(default)]
    pub dry_run: bool,
}

impl RerunRequest {
    /// The runs it names.
    pub fn selector(&self) -> RunSelector {
        RunSelector {
            time: self.time.clone(),
            begin: self.begin.clone(),
            end: self.end.clone(),
        }
    }
}

/// A run that `repair` or `replay` would run (with `dry_run`), or did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedRun {
    /// The app.
    pub app: crate::ids::AppKey,
    /// The schedule time.
    pub schedule_time: Timestamp,
    /// The existing run, or none for a fire time that has no run yet.
    pub run: Option<crate::ids::RunId>,
    /// Its state now.
    pub state: Option<crate::run::RunState>,
}

/// `trigger`: run an app now, or for a given schedule time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerRequest {
    /// The schedule time; now when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// A JSON object laid over the app's params for this run only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
    /// Cosmos' `call`: a run that already ended for that time runs again instead of being
    /// refused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub call: bool,
}

/// What `kill`, `repair` and `replay` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunsReport {
    /// The runs acted on, as they are now.
    pub runs: Vec<Run>,
    /// Runs in the range left alone, with why.
    pub skipped: Vec<SkippedRun>,
    /// With `dry_run`: what would run, nothing having changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub planned: Vec<PlannedRun>,
}

/// A run a verb left alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedRun {
    /// The run.
    pub id: crate::ids::RunId,
    /// Its schedule time.
    pub schedule_time: Timestamp,
    /// Why it was left alone.
    pub reason: String,
}

/// A run's logs from the given byte offsets (for `log --follow`). Under rota's container
/// contract `start.log` and `container.log` are rota's; under Cosmos' the app writes them, and
/// rota's own are in `rota`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogView {
    /// The run.
    pub run: crate::ids::RunId,
    /// The run's log directory.
    pub dir: String,
    /// `start.log` from `start_offset`.
    pub start_log: String,
    /// `container.log` from `container_offset`.
    pub container_log: String,
    /// Where the next read of `start.log` begins.
    pub start_offset: u64,
    /// Where the next read of `container.log` begins.
    pub container_offset: u64,
    /// True once the run has ended: no more output will come.
    pub ended: bool,
    /// rota's own logs kept beside the app's, for a run under Cosmos' container contract
    /// (absent otherwise, and from older servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rota: Option<RotaLogs>,
}

impl LogView {
    /// Where the next read of each log begins.
    pub fn next_offsets(&self) -> LogOffsets {
        LogOffsets {
            start_offset: self.start_offset,
            container_offset: self.container_offset,
            rota_start_offset: self.rota.as_ref().map_or(0, |r| r.start_offset),
            rota_container_offset: self.rota.as_ref().map_or(0, |r| r.container_offset),
        }
    }
}

/// rota's own logs beside those of an app under Cosmos' container contract, which writes
/// `start.log` and `container.log` itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotaLogs {
    /// `rota-start.log` (what rota did: pull, create, start, exit) from `start_offset`.
    pub start_log: String,
    /// `rota-container.log` (the container's stdout and stderr) from `container_offset`.
    pub container_log: String,
    /// Where the next read of `rota-start.log` begins.
    pub start_offset: u64,
    /// Where the next read of `rota-container.log` begins.
    pub container_offset: u64,
}

/// Where to read a run's logs from: the query of `GET /v1/runs/{id}/log`. Each is a byte
/// offset, 0 by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogOffsets {
    /// Into `start.log`.
    #[serde(default)]
    pub start_offset: u64,
    /// Into `container.log`.
    #[serde(default)]
    pub container_offset: u64,
    /// Into `rota-start.log` (Cosmos' container contract).
    #[serde(default)]
    pub rota_start_offset: u64,
    /// Into `rota-container.log` (Cosmos' container contract).
    #[serde(default)]
    pub rota_container_offset: u64,
}

/// A run record from another scheduler, to import (Cosmos' `records` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedRun {
    /// App name.
    pub name: String,
    /// Queue.
    pub queue: String,
    /// The schedule time (RFC 3339, or `YYYY-MM-DD HH:MM:SS` in the server's zone).
    pub schedule_time: String,
    /// When the record last changed, in the same forms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    /// The host that last ran it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Its state in Cosmos: `QUEUED`, `PENDING`, `RUNNING`, `SUCCESS`, `FAILED` or `KILLED`.
    pub state: String,
}

/// `POST /v1/import/runs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRunsRequest {
    /// The records.
    pub runs: Vec<ImportedRun>,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Records imported.
    pub imported: u64,
    /// Records left out, each with why.
    pub skipped: Vec<String>,
}

/// The server's health and identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// The server's time zone, in which `YYYY-MM-DD HH:MM:SS` times are read.
    pub time_zone: String,
    /// rota's version.
    pub version: String,
}

/// The dependency graph, or the part of it around one app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphView {
    /// The apps in it, each with its latest run.
    pub nodes: Vec<GraphNode>,
    /// The edges: dependent → upstream.
    pub edges: Vec<crate::depend::Depend>,
}

/// One app of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphNode {
    /// The app.
    pub app: crate::ids::AppKey,
    /// Its cron, if any.
    pub cron: Option<String>,
    /// The schedule time of its latest run.
    pub latest_time: Option<Timestamp>,
    /// The state of its latest run.
    pub latest_state: Option<crate::run::RunState>,
}

/// Why a run is where it is: what it waits for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhyView {
    /// The run.
    pub run: crate::ids::RunId,
    /// Its state.
    pub state: crate::run::RunState,
    /// One line per reason, for people.
    pub summary: Vec<String>,
    /// For a pending run: each unmet dependency with what is missing.
    pub dependencies: Vec<UnmetDependency>,
}

/// A dependency a pending run still waits for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnmetDependency {
    /// The edge.
    pub depend: crate::depend::Depend,
    /// The upstream runs that are missing or have not succeeded (the first few).
    pub waits: Vec<crate::depend::Wait>,
}

/// One round of the scheduler, as `GET /v1/scheduler/rounds` lists it: when it began (the
/// time its decisions carry), what it looked at and decided, and how long it took to plan
/// and to commit its decisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundView {
    /// When it began: the `started_at` of the runs it placed, the `ended_at` of those it
    /// rejected.
    pub began: Timestamp,
    /// Queued runs it looked at.
    pub looked_at: usize,
    /// Runs it placed.
    pub placed: usize,
    /// Runs it rejected (they can never fit).
    pub rejected: usize,
    /// Milliseconds from its beginning to its plan.
    pub planned_ms: f64,
    /// Milliseconds from its beginning until its decisions were committed.
    pub committed_ms: f64,
}
