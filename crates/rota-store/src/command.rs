//! Commands: the entries of the log. Each carries the time it was proposed at, so that
//! applying it is deterministic.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub use rota_model::Ending;
use rota_model::depend::Depend;
use rota_model::{AppKey, AppSpec, ExitReason, Limits, NodeId, Origin, ProcessRef, RunId, Usage};

/// One fire time of an app, decided by the cron loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FireTime {
    /// The schedule time.
    pub time: Timestamp,
    /// How it came to fire.
    pub origin: Origin,
    /// `Some(reason)` records the fire time as `skipped` instead of running it.
    pub skip: Option<String>,
}

/// The fire times of one app in one tick of the cron loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppFires {
    /// The app.
    pub app: AppKey,
    /// Its fire times, ascending.
    pub fires: Vec<FireTime>,
    /// The app's cron has been considered up to and including this time.
    pub cursor: Timestamp,
}

/// `repair` or `replay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RerunMode {
    /// Re-run only pending, failed, killed, timed-out, lost and rejected runs.
    Repair,
    /// Re-run every ended run.
    Replay,
}

/// `repair` or `replay` of a range of an app's schedule times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rerun {
    /// The app.
    pub app: AppKey,
    /// Which runs.
    pub mode: RerunMode,
    /// First schedule time.
    pub begin: Timestamp,
    /// Last schedule time.
    pub end: Timestamp,
    /// The app's cron fire times in the range (up to now): runs missing for them are created.
    pub fire_times: Vec<Timestamp>,
    /// Also re-run the dependents whose windows include the re-run runs.
    #[serde(default)]
    pub cascade: bool,
}

/// One imported run record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportRun {
    /// The app.
    pub app: AppKey,
    /// The schedule time.
    pub time: Timestamp,
    /// How it ended: succeeded, failed or killed; anything that had not ended becomes `lost`.
    pub state: rota_model::RunState,
    /// Why, when it did not end by itself.
    pub reason: Option<String>,
    /// Where it ran.
    pub node: Option<NodeId>,
    /// When it last changed.
    pub updated: Timestamp,
}

/// What a node reports about one attempt: alone ([`Command::Report`]) or in a batch
/// ([`Command::Reports`]).
///
/// Externally tagged (`{"finished": {...}}`), as [`Command`] is: an internally tagged enum is
/// decoded through a buffer of its whole content, and a batch is decoded from the log on
/// every replica.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptReport {
    /// The attempt's process started.
    Started {
        /// The run.
        run: RunId,
        /// Which attempt.
        attempt: u32,
        /// Its process.
        process: ProcessRef,
        /// Its container, for a Docker app.
        #[serde(default)]
        container: Option<String>,
        /// Whether its limits are enforced.
        #[serde(default)]
        limits: Option<Limits>,
        /// When.
        at: Timestamp,
    },
    /// The attempt ended.
    Finished {
        /// The run.
        run: RunId,
        /// Which attempt.
        attempt: u32,
        /// How it ended.
        ending: Ending,
        /// Why, in more detail.
        #[serde(default)]
        exit_reason: Option<ExitReason>,
        /// Its exit code.
        exit_code: Option<i32>,
        /// What it used.
        #[serde(default)]
        usage: Usage,
        /// Why.
        reason: String,
        /// When.
        at: Timestamp,
    },
}

impl AttemptReport {
    /// The run it is about.
    pub fn run(&self) -> RunId {
        match self {
            AttemptReport::Started { run, .. } | AttemptReport::Finished { run, .. } => *run,
        }
    }
}

/// A change to the state: the unit of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// Add an app (version 1).
    AddApp {
        /// Its spec.
        spec: AppSpec,
        /// When.
        at: Timestamp,
    },
    /// Make a new version of an app.
    UpdateApp {
        /// The new spec.
        spec: AppSpec,
        /// When.
        at: Timestamp,
    },
    /// Remove an app: its waiting runs are killed, its running runs are told to stop, its
    /// records stay. Refused while other apps depend on it, unless `force` also removes
    /// those edges.
    RemoveApp {
        /// The app.
        app: AppKey,
        /// Also remove the edges of apps that depend on it.
        #[serde(default)]
        force: bool,
        /// When.
        at: Timestamp,
    },
    /// Start or stop an app's cron.
    Schedule {
        /// The app.
        app: AppKey,
        /// True to start.
        scheduled: bool,
        /// When.
        at: Timestamp,
    },
    /// Create the runs of cron fire times.
    Fire {
        /// Per app.
        apps: Vec<AppFires>,
        /// When.
        at: Timestamp,
    },
    /// Create a run by hand for one schedule time.
    Trigger {
        /// The app.
        app: AppKey,
        /// The schedule time.
        time: Timestamp,
        /// Params laid over the app's for this run only.
        #[serde(default)]
        params: Option<serde_json::Value>,
        /// Cosmos' `call`: a run that already ended for that time runs again (with these
        /// params) instead of being refused.
        #[serde(default)]
        call: bool,
        /// When.
        at: Timestamp,
    },
    /// Start queued runs on a node.
    Place {
        /// The runs.
        runs: Vec<RunId>,
        /// The node.
        node: NodeId,
        /// When.
        at: Timestamp,
    },
    /// A node reports on one of its attempts: refused when the attempt is no longer current.
    Report(AttemptReport),
    /// A batch of a node's reports, recorded in order as one entry. A report on an attempt
    /// that is no longer current is skipped on its own (see [`Applied::stale`]); the others
    /// are recorded, so the batch is never refused.
    ///
    /// [`Applied::stale`]: crate::Applied::stale
    Reports {
        /// The reports, in the order they happened.
        reports: Vec<AttemptReport>,
    },
    /// Kill runs: waiting ones end at once, running ones are told to stop.
    Kill {
        /// The runs.
        runs: Vec<RunId>,
        /// When.
        at: Timestamp,
    },
    /// Remove one run from the waiting queue (Cosmos' `deleteQueued`).
    DeleteQueued {
        /// The run.
        run: RunId,
        /// When.
        at: Timestamp,
    },
    /// `repair` or `replay` over an inclusive range of schedule times.
    Rerun {
        /// What to re-run.
        rerun: Rerun,
        /// When.
        at: Timestamp,
    },
    /// Add a dependency, or change its window.
    AddDepend {
        /// The edge.
        depend: Depend,
        /// When.
        at: Timestamp,
    },
    /// Remove the dependencies of `app` on `upstream`.
    RemoveDepend {
        /// The dependent app.
        app: AppKey,
        /// The upstream app.
        upstream: AppKey,
        /// When.
        at: Timestamp,
    },
    /// Set a queue's weight, quota, guaranteed minimum and preemption.
    SetQueue {
        /// The settings, with the queue's name.
        queue: rota_sched::Queue,
        /// When.
        at: Timestamp,
    },
    /// Evict running runs for runs of a queue below its guaranteed minimum: their nodes stop
    /// them, and they end `preempted` and are queued again.
    Preempt {
        /// Each victim with the run it makes room for.
        runs: Vec<(RunId, RunId)>,
        /// When.
        at: Timestamp,
    },
    /// A node's agent registers it (again), with what it offers.
    RegisterNode {
        /// The node.
        node: NodeId,
        /// What it offers in all.
        capacity: rota_sched::Resources,
        /// Its attributes.
        #[serde(default)]
        attributes: std::collections::BTreeMap<String, String>,
        /// The queues it serves; empty for all.
        #[serde(default)]
        labels: Vec<String>,
        /// When.
        at: Timestamp,
    },
    /// A node is drained (takes no new runs), ready again, or down (its running runs are
    /// lost).
    SetNodeState {
        /// The node.
        node: NodeId,
        /// Its new state.
        state: rota_sched::NodeState,
        /// When.
        at: Timestamp,
    },
    /// Import ended run records from another scheduler (a Cosmos dump).
    ImportRuns {
        /// The records.
        runs: Vec<ImportRun>,
        /// When.
        at: Timestamp,
    },
    /// Settings every replica must share to apply commands the same way.
    Configure {
        /// The zone of apps that name none (IANA name).
        time_zone: String,
    },
    /// Runs that can never fit.
    Reject {
        /// The runs, each with its reason.
        runs: Vec<(RunId, String)>,
        /// When.
        at: Timestamp,
    },
}
