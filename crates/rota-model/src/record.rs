//! A run record: one run of an app for one schedule time, with its attempts.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::exit::{ExitReason, Limits, Usage};
use crate::ids::{AppKey, NodeId, RunId};
use crate::run::RunState;

/// How an attempt ended, as its node reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Exit code 0.
    Succeeded,
    /// Non-zero exit, a signal, OOM, or it could not start.
    Failed,
    /// It overran its timeout.
    TimedOut,
    /// Killed on request.
    Killed,
    /// Its node lost it.
    Lost,
}

/// What created a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A cron fire time.
    Cron,
    /// A fire time missed while the scheduler was down.
    Catchup,
    /// `trigger` or `call` by hand.
    Manual,
    /// Created by `repair` for a fire time that had no run.
    Repair,
    /// Created by `replay` for a fire time that had no run.
    Replay,
    /// Created because a Chronos parent's run for the same schedule time was.
    Parent,
    /// Imported from another scheduler's records (a Cosmos dump).
    Imported,
}

/// The operating-system identity of a run's process, so that an agent that restarts can tell
/// whether it is still alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRef {
    /// Process id (and process group id).
    pub pid: i32,
    /// Start time in clock ticks since boot, which tells a reused pid apart.
    pub start_ticks: u64,
}

/// One earlier attempt of a run, kept when it is retried or re-run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1 for the first attempt.
    pub attempt: u32,
    /// How it ended.
    pub state: RunState,
    /// Its exit code, when it exited.
    pub exit_code: Option<i32>,
    /// Why it ended that way.
    pub reason: Option<String>,
    /// Where it ran.
    pub node: Option<NodeId>,
    /// Why it ended, in more detail (`oom`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_reason: Option<ExitReason>,
    /// What it used.
    #[serde(default)]
    pub usage: Usage,
    /// When it started.
    pub started_at: Option<Timestamp>,
    /// When it ended.
    pub ended_at: Option<Timestamp>,
}

/// A run record (Cosmos' `records` row, with attempts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Its id (Cosmos' `mid`).
    pub id: RunId,
    /// App name.
    pub name: String,
    /// Queue.
    pub queue: String,
    /// The app version the current attempt runs.
    pub version: u32,
    /// The schedule time: the key, with the app, of the run.
    pub schedule_time: Timestamp,
    /// What created it.
    pub origin: Origin,
    /// Where it is in its life.
    pub state: RunState,
    /// Attempts started so far, across retries and re-runs.
    pub attempts: u32,
    /// Retries used since the run was last queued by a fire, a trigger or a re-run.
    pub retries_used: u32,
    /// Exit code of the last attempt.
    pub exit_code: Option<i32>,
    /// Why the last attempt ended, in more detail (`oom`, `image_pull_failed`, ...).
    #[serde(default)]
    pub exit_reason: Option<ExitReason>,
    /// What the last attempt used: peak memory and CPU time.
    #[serde(default)]
    pub usage: Usage,
    /// Whether the last attempt's `cores` and `mems` were enforced on its node.
    #[serde(default)]
    pub limits: Option<Limits>,
    /// The container of the last attempt, for a Docker app.
    #[serde(default)]
    pub container: Option<String>,
    /// Why the last attempt ended as it did, or why the run waits.
    pub reason: Option<String>,
    /// The node of the last attempt.
    pub node: Option<NodeId>,
    /// When the run was created.
    pub created_at: Timestamp,
    /// When it last entered `queued`.
    pub queued_at: Option<Timestamp>,
    /// When the last attempt started.
    pub started_at: Option<Timestamp>,
    /// When the last attempt ended.
    pub ended_at: Option<Timestamp>,
    /// A retry waits until this time, and so does a cron run made ahead of its schedule time.
    pub not_before: Option<Timestamp>,
    /// Params given by `call` or `trigger --params`, laid over the app's for this run only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_params: Option<serde_json::Value>,
    /// The run it was evicted for, while the node stops it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preempted_by: Option<RunId>,
    /// A kill was asked for while it ran; the node has been told.
    pub kill_requested: bool,
    /// The process of the running attempt.
    pub process: Option<ProcessRef>,
    /// Earlier attempts, oldest first.
    pub history: Vec<Attempt>,
}

impl Run {
    /// The app this run belongs to.
    pub fn app(&self) -> AppKey {
        AppKey {
            name: self.name.clone(),
            queue: self.queue.clone(),
        }
    }

    /// The app this run belongs to, as borrowed parts: a lookup key that allocates nothing.
    pub fn app_parts(&self) -> (&str, &str) {
        (&self.name, &self.queue)
    }

    /// True if the run belongs to `app`.
    pub fn is_of(&self, app: &AppKey) -> bool {
        self.name == app.name && self.queue == app.queue
    }
}
