//! Tests of the state machine: a harness that applies commands to a real [`State`] and checks
//! its invariants after every one, builders that make scenarios read as stories, and the
//! scenarios and property tests themselves.

mod ahead;
mod calls;
mod props;
mod reports;
mod scenarios;

use jiff::{SignedDuration, Timestamp};

use rota_model::{AppKey, AppSpec, Concurrency, Ending, NodeId, ProcessRef, Run, RunId, RunState};

use super::{Applied, Indexes, State};
use crate::command::{AppFires, AttemptReport, Command, FireTime, Rerun, RerunMode};
use crate::refusal::Refusal;

/// A schedule time: `n` minutes after the start of 2024 (UTC).
pub(super) fn t(minutes: i64) -> Timestamp {
    base() + SignedDuration::from_mins(minutes)
}

fn base() -> Timestamp {
    "2024-01-01T00:00:00Z".parse().expect("a valid timestamp")
}

/// `name:queue`.
pub(super) fn key(name: &str, queue: &str) -> AppKey {
    AppKey::new(name, queue).expect("a valid key")
}

/// A process app named `name` in queue `default`, run by hand only, no retries.
pub(super) fn app(name: &str) -> AppBuilder {
    AppBuilder {
        fields: serde_json::json!({
            "name": name,
            "queue": "default",
            "user": "test",
            "cores": 1.0,
            "mems": 64,
            "command": ["true"],
        }),
    }
}

/// Builds an [`AppSpec`] for a test from the app JSON a user would write, so that fields the
/// model adds later take their defaults.
pub(super) struct AppBuilder {
    fields: serde_json::Value,
}

impl AppBuilder {
    fn set(mut self, field: &str, value: serde_json::Value) -> Self {
        self.fields[field] = value;
        self
    }

    pub(super) fn queue(self, queue: &str) -> Self {
        self.set("queue", queue.into())
    }

    /// Every minute.
    pub(super) fn every_minute(self) -> Self {
        self.cron("0 * * * * ?")
    }

    pub(super) fn cron(self, expr: &str) -> Self {
        self.set("cron", expr.into())
    }

    pub(super) fn event_driven(self) -> Self {
        self.cron(rota_model::spec::EVENT_DRIVEN)
    }

    pub(super) fn no_cron(mut self) -> Self {
        self.fields
            .as_object_mut()
            .expect("an object")
            .remove("cron");
        self
    }

    pub(super) fn retries(self, retries: u32, backoff_seconds: u64) -> Self {
        self.set("retries", retries.into())
            .set("retry_backoff", backoff_seconds.into())
    }

    pub(super) fn concurrency(self, concurrency: Concurrency) -> Self {
        let value = serde_json::to_value(concurrency).expect("serializes");
        self.set("concurrency", value)
    }

    pub(super) fn priority(self, priority: i32) -> Self {
        self.set("priority", priority.into())
    }

    pub(super) fn command(self, argv: &[&str]) -> Self {
        self.set("command", argv.into())
    }

    pub(super) fn build(self) -> AppSpec {
        AppSpec::from_value(self.fields).expect("a valid test app")
    }
}

/// Plays the loops and the nodes against a real state. Every command is checked: an applied
/// one must leave the indexes consistent, a refused one must leave the state exactly as it
/// was.
pub(super) struct Scenario {
    pub(super) state: State,
    clock: Timestamp,
}

impl Scenario {
    pub(super) fn new() -> Self {
        Scenario {
            state: State::default(),
            clock: t(0),
        }
    }

    /// The time the next command is proposed at.
    pub(super) fn now(&self) -> Timestamp {
        self.clock
    }

    /// Moves the clock forward.
    pub(super) fn wait(&mut self, seconds: i64) {
        self.clock += SignedDuration::from_secs(seconds);
    }

    /// Applies a command and checks the invariants, whatever the outcome.
    pub(super) fn apply(&mut self, command: Command) -> Result<Applied, Refusal> {
        let before = snapshot_of(&self.state);
        let result = self.state.apply(&command);
        if let Err(refusal) = &result {
            assert_eq!(
                snapshot_of(&self.state),
                before,
                "the refused command {command:?} ({refusal}) changed the state"
            );
        }
        if let Err(broken) = check_invariants(&self.state) {
            panic!("after {command:?}: {broken}");
        }
        result
    }

    pub(super) fn run(&self, id: RunId) -> &Run {
        self.state.run(id).expect("the run exists")
    }

    // ---- verbs, each a command at the scenario's clock ----

    pub(super) fn add(&mut self, spec: AppSpec) -> AppKey {
        let key = spec.key();
        let at = self.now();
        self.apply(Command::AddApp { spec, at })
            .expect("the app is added");
        key
    }

    pub(super) fn update(&mut self, spec: AppSpec) -> Result<Applied, Refusal> {
        let at = self.now();
        self.apply(Command::UpdateApp { spec, at })
    }

    pub(super) fn remove(&mut self, app: &AppKey) -> Result<Applied, Refusal> {
        let at = self.now();
        self.apply(Command::RemoveApp {
            app: app.clone(),
            force: false,
            at,
        })
    }

    pub(super) fn schedule(&mut self, app: &AppKey, scheduled: bool) -> Result<Applied, Refusal> {
        let at = self.now();
        self.apply(Command::Schedule {
            app: app.clone(),
            scheduled,
            at,
        })
    }

    /// Fires `times` of `app` (cron origin), the cursor at the last one.
    pub(super) fn fire(&mut self, app: &AppKey, times: &[Timestamp]) -> Applied {
        let fires = times
            .iter()
            .map(|&time| FireTime {
                time,
                origin: rota_model::Origin::Cron,
                skip: None,
            })
            .collect();
        self.fire_times(app, fires)
    }

    pub(super) fn fire_times(&mut self, app: &AppKey, fires: Vec<FireTime>) -> Applied {
        let cursor = fires.iter().map(|f| f.time).max().unwrap_or(self.now());
        let at = self.now();
        self.apply(Command::Fire {
            apps: vec![AppFires {
                app: app.clone(),
                fires,
                cursor,
            }],
            at,
        })
        .expect("a fire is never refused")
    }

    pub(super) fn trigger(&mut self, app: &AppKey, time: Timestamp) -> Result<Applied, Refusal> {
        let at = self.now();
        self.apply(Command::Trigger {
            app: app.clone(),
            time,
            params: None,
            call: false,
            at,
        })
    }

    /// Triggers one run and returns its id.
    pub(super) fn queued_run(&mut self, app: &AppKey, time: Timestamp) -> RunId {
        let applied = self.trigger(app, time).expect("the trigger is accepted");
        assert_eq!(applied.runs.len(), 1, "{applied:?}");
        applied.runs[0]
    }

    /// A run that waits for its dependencies. No command makes one yet (dependencies come in a
    /// later issue), so the harness creates it the way the dependency evaluator will.
    pub(super) fn pending_run(&mut self, app: &AppKey, time: Timestamp) -> RunId {
        let at = self.now();
        let id = self
            .state
            .create_run(app, time, rota_model::Origin::Manual, at);
        check_invariants(&self.state).expect("a new pending run is indexed");
        id
    }

    pub(super) fn place(&mut self, runs: &[RunId], node: &str) -> Applied {
        let at = self.now();
        self.apply(Command::Place {
            runs: runs.to_vec(),
            node: NodeId(node.to_string()),
            at,
        })
        .expect("a placement is never refused")
    }

    pub(super) fn started(&mut self, run: RunId, attempt: u32) -> Result<Applied, Refusal> {
        let at = self.now();
        self.apply(Command::Report(AttemptReport::Started {
            run,
            attempt,
            process: ProcessRef {
                pid: 4242,
                start_ticks: 7,
            },
            container: None,
            limits: None,
            at,
        }))
    }

    pub(super) fn finished(
        &mut self,
        run: RunId,
        attempt: u32,
        ending: Ending,
    ) -> Result<Applied, Refusal> {
        let at = self.now();
        let exit_code = match ending {
            Ending::Succeeded => Some(0),
            Ending::Failed => Some(1),
            _ => None,
        };
        self.apply(Command::Report(AttemptReport::Finished {
            run,
            attempt,
            ending,
            exit_code,
            reason: format!("{ending:?}"),
            exit_reason: None,
            usage: Default::default(),
            at,
        }))
    }

    /// Places a queued run on `n1`, reports it started, and ends its attempt.
    pub(super) fn run_to_end(&mut self, run: RunId, ending: Ending) -> Applied {
        self.place(&[run], "n1");
        let attempt = self.run(run).attempts;
        self.started(run, attempt).expect("the start is current");
        self.finished(run, attempt, ending)
            .expect("the report is current")
    }

    /// Places a queued run on `node` and reports it started.
    pub(super) fn running_run(&mut self, run: RunId, node: &str) {
        self.place(&[run], node);
        let attempt = self.run(run).attempts;
        self.started(run, attempt).expect("the start is current");
        assert_eq!(self.run(run).state, RunState::Running);
    }

    pub(super) fn kill(&mut self, runs: &[RunId]) -> Result<Applied, Refusal> {
        let at = self.now();
        self.apply(Command::Kill {
            runs: runs.to_vec(),
            at,
        })
    }

    pub(super) fn delete_queued(&mut self, run: RunId) -> Result<Applied, Refusal> {
        let at = self.now();
        self.apply(Command::DeleteQueued { run, at })
    }

    pub(super) fn rerun(
        &mut self,
        app: &AppKey,
        mode: RerunMode,
        (begin, end): (Timestamp, Timestamp),
        fire_times: &[Timestamp],
    ) -> Result<Applied, Refusal> {
        let at = self.now();
        self.apply(Command::Rerun {
            rerun: Rerun {
                app: app.clone(),
                mode,
                begin,
                end,
                fire_times: fire_times.to_vec(),
                cascade: false,
            },
            at,
        })
    }

    pub(super) fn reject(&mut self, runs: &[(RunId, &str)]) -> Applied {
        let at = self.now();
        self.apply(Command::Reject {
            runs: runs.iter().map(|(id, r)| (*id, r.to_string())).collect(),
            at,
        })
        .expect("a rejection is never refused")
    }
}

/// The state as its snapshot stores it, plus its indexes: what "unchanged" means.
pub(super) fn snapshot_of(state: &State) -> (String, Indexes) {
    (
        serde_json::to_string(state).expect("a state serializes"),
        state.index.clone(),
    )
}

/// The invariants every state must keep, stated as what is wrong when they do not hold:
///
/// - the indexes are exactly those rebuilt from the runs by `reindex` (what a restart from a
///   snapshot computes), and a state restored from its snapshot is the same and reads the same;
/// - at most one run exists per (app, schedule time), and `run_at` finds it;
/// - every run can be reached from the index of its state (queued runs in their queue's slot
///   set, running ones in `running`, pending ones in `pending`, every active run under its
///   app), and no index holds a run in another state.
pub(super) fn check_invariants(state: &State) -> Result<(), String> {
    let mut rebuilt = state.clone();
    rebuilt.reindex();
    if rebuilt.index != state.index {
        return Err(format!(
            "the indexes differ from those rebuilt from scratch:\n live:    {:?}\n rebuilt: {:?}",
            state.index, rebuilt.index
        ));
    }

    let restored =
        State::from_snapshot(&state.to_snapshot()).map_err(|e| format!("snapshot: {e}"))?;
    if snapshot_of(&restored) != snapshot_of(state) {
        return Err("a state restored from its snapshot differs".into());
    }
    if restored.queued() != state.queued() {
        return Err("a restored state queues runs differently".into());
    }
    let ids = |runs: &mut dyn Iterator<Item = &Run>| runs.map(|r| r.id).collect::<Vec<_>>();
    if ids(&mut restored.running()) != ids(&mut state.running()) {
        return Err("a restored state lists other running runs".into());
    }
    if ids(&mut restored.pending()) != ids(&mut state.pending()) {
        return Err("a restored state lists other pending runs".into());
    }

    let mut seen = std::collections::BTreeMap::new();
    for run in state.runs.values() {
        let at = (run.app(), run.schedule_time);
        if let Some(other) = seen.insert(at.clone(), run.id) {
            return Err(format!(
                "runs {other} and {} share app {} and schedule time {}",
                run.id, at.0, at.1
            ));
        }
        if state.run_at(&at.0, at.1).map(|r| r.id) != Some(run.id) {
            return Err(format!("run_at does not find run {}", run.id));
        }
        if restored.run_at(&at.0, at.1).map(|r| r.id) != Some(run.id) {
            return Err(format!("a restored state does not find run {}", run.id));
        }
        let queued = state
            .index
            .queued
            .get(&run.queue)
            .is_some_and(|slots| slots.iter().any(|s| s.run == run.id));
        let running = state.index.running.contains(&run.id);
        let pending = state.index.pending.contains(&run.id);
        let active = state
            .index
            .active_by_app
            .get(&run.app())
            .is_some_and(|a| a.contains(&run.id));
        let want = (
            run.state == RunState::Queued,
            run.state == RunState::Running,
            run.state == RunState::Pending,
            !run.state.is_ended(),
        );
        if (queued, running, pending, active) != want {
            return Err(format!(
                "run {} is {} but is indexed as (queued, running, pending, active) = {:?}",
                run.id,
                run.state,
                (queued, running, pending, active)
            ));
        }
    }
    let slots: usize = state.index.queued.values().map(|s| s.len()).sum();
    let queued_runs = state
        .runs
        .values()
        .filter(|r| r.state == RunState::Queued)
        .count();
    if slots != queued_runs || state.index.queued.values().any(|s| s.is_empty()) {
        return Err(format!(
            "{slots} queue slots (or an empty queue) for {queued_runs} queued runs"
        ));
    }
    Ok(())
}
