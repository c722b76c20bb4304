//! Why the state machine refused a command: data for the caller, deterministic on replay.

use jiff::Timestamp;

use rota_model::{AppKey, RunId, RunState, TransitionError};

/// A command the state machine would not apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `add` of an app that exists.
    #[error("app {0} already exists; use update to change it")]
    AppExists(AppKey),
    /// The app does not exist.
    #[error("app {0} does not exist")]
    AppNotFound(AppKey),
    /// The run does not exist.
    #[error("run {0} does not exist")]
    RunNotFound(RunId),
    /// `start` of an app without a cron.
    #[error("app {0} has no cron to schedule; use trigger to run it")]
    NoCron(AppKey),
    /// `start` of an event-driven app.
    #[error("app {0} is event-driven: it runs only when called or triggered")]
    EventDriven(AppKey),
    /// A run for that schedule time exists already.
    #[error(
        "run {run} already exists for that schedule time ({state}); use replay to run it again"
    )]
    RunExists {
        /// The existing run.
        run: RunId,
        /// Its state.
        state: RunState,
    },
    /// `delete-queued` of a run that is not waiting.
    #[error("run {run} is {state}, not waiting")]
    NotWaiting {
        /// The run.
        run: RunId,
        /// Its state.
        state: RunState,
    },
    /// A node reported on an attempt that is no longer current.
    #[error("report on attempt {attempt} of run {run} is stale: the run is {state}")]
    StaleReport {
        /// The run.
        run: RunId,
        /// The reported attempt.
        attempt: u32,
        /// The run's state now.
        state: RunState,
    },
    /// A range whose end is before its beginning.
    #[error("the range ends ({end}) before it begins ({begin})")]
    BadRange {
        /// Its beginning.
        begin: Timestamp,
        /// Its end.
        end: Timestamp,
    },
    /// The dependency is refused as written (a bad window, a cycle).
    #[error(transparent)]
    Depend(#[from] rota_model::depend::DependError),
    /// An upstream app of a dependency does not exist.
    #[error("app {app} cannot depend on {upstream}: {upstream} does not exist")]
    UpstreamNotFound {
        /// The dependent.
        app: AppKey,
        /// The missing upstream.
        upstream: AppKey,
    },
    /// The app has no dependency on that upstream app.
    #[error("app {app} does not depend on {upstream}")]
    DependNotFound {
        /// The dependent.
        app: AppKey,
        /// The upstream.
        upstream: AppKey,
    },
    /// Removing an app others depend on.
    #[error("app {app} is needed by {}; remove those dependencies first, or remove it with --force", names(.dependents))]
    HasDependents {
        /// The app.
        app: AppKey,
        /// The apps that depend on it.
        dependents: Vec<AppKey>,
    },
    /// The node is not registered.
    #[error("node {0} is not registered")]
    NodeNotFound(rota_model::NodeId),
    /// A node that cannot register as it is.
    #[error("node {node}: {problem}")]
    BadNode {
        /// The node.
        node: String,
        /// What is wrong.
        problem: String,
    },
    /// Queue settings that cannot work.
    #[error("queue {queue}: {problem}")]
    BadQueue {
        /// The queue.
        queue: String,
        /// What is wrong.
        problem: String,
    },
    /// The run state machine refused a transition.
    #[error(transparent)]
    Transition(#[from] TransitionError),
}

fn names(apps: &[AppKey]) -> String {
    apps.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
