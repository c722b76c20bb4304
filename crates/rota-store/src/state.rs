//! The deterministic state machine: apps, their versions and runs, with the indexes the
//! loops and the API read. Applying a command does no IO and reads no clock.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use rota_model::api::{RunCounts, SkippedRun};
use rota_model::depend::Depend;
use rota_model::run::Transition;
use rota_model::{AppKey, AppKeyParts, AppSpec, Concurrency, NodeId, Origin, Run, RunId, RunState};

use crate::command::{AppFires, Command, Ending};
use crate::refusal::Refusal;

/// The longest retry backoff.
const MAX_BACKOFF_SECONDS: i64 = 3600;

/// One version of an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppVersion {
    /// From 1.
    pub version: u32,
    /// The spec.
    pub spec: AppSpec,
    /// When it was made.
    pub created_at: Timestamp,
}

/// An app with all its versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppEntry {
    /// Every version, oldest first; the last is current.
    pub versions: Vec<AppVersion>,
    /// Whether its cron runs.
    pub scheduled: bool,
    /// When it was added.
    pub created_at: Timestamp,
    /// The cron has been considered up to and including this time.
    pub cursor: Option<Timestamp>,
}

impl AppEntry {
    /// The current version.
    pub fn current(&self) -> &AppVersion {
        self.versions.last().expect("an app has a version")
    }

    /// A given version.
    pub fn version(&self, version: u32) -> Option<&AppVersion> {
        self.versions.get(version.checked_sub(1)? as usize)
    }
}

/// A queued run's place in its queue: priority, then schedule time, then id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct QueueSlot {
    /// Smaller first.
    pub priority: i32,
    /// Earlier first.
    pub schedule_time: Timestamp,
    /// Submission order.
    pub run: RunId,
}

/// How an attempt ended, as [`AttemptReport::Finished`] reports it.
///
/// [`AttemptReport::Finished`]: crate::AttemptReport::Finished
struct Ended<'a> {
    ending: Ending,
    exit_reason: Option<rota_model::ExitReason>,
    exit_code: Option<i32>,
    usage: rota_model::Usage,
    reason: &'a str,
}

/// What applying a command did, for the loops to act on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// Runs created or changed, in order.
    pub runs: Vec<RunId>,
    /// Running runs whose node must kill them.
    pub kills: Vec<(RunId, NodeId)>,
    /// Runs the command left alone, with why.
    pub skipped: Vec<SkippedRun>,
    /// The reports of a [`Command::Reports`] that were skipped, in order, each with why (an
    /// attempt that is no longer current, a run that does not exist).
    pub stale: Vec<Refusal>,
}

/// Settings every replica applies commands with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The zone of apps that name none.
    pub time_zone: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            time_zone: "UTC".into(),
        }
    }
}

/// The state machine.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(with = "apps_by_key")]
    apps: BTreeMap<AppKey, AppEntry>,
    runs: BTreeMap<RunId, Run>,
    next_run: u64,
    #[serde(default)]
    edges: BTreeSet<Depend>,
    #[serde(default)]
    settings: Settings,
    #[serde(default)]
    queues: BTreeMap<String, rota_sched::Queue>,
    #[serde(default)]
    nodes: BTreeMap<String, nodes::NodeEntry>,
    #[serde(skip)]
    index: Indexes,
    /// Counts the changes that can change a scheduling decision (see
    /// [`State::scheduling_epoch`]); not persisted, only compared within one process.
    #[serde(skip)]
    scheduling_epoch: u64,
    /// Counts the changes of what each node's agent is sent (see [`State::node_epoch`]);
    /// not persisted, only compared within one process.
    #[serde(skip)]
    node_epochs: HashMap<NodeId, u64>,
    /// Counts the apps removed (see [`State::apps_removed`]); not persisted.
    #[serde(skip)]
    apps_removed: u64,
}

#[derive(Debug, Clone, Default)]
#[cfg_attr(test, derive(PartialEq))]
struct Indexes {
    /// Every run of an app by schedule time: one key per app, not one per run.
    by_app_time: BTreeMap<AppKey, BTreeMap<Timestamp, RunId>>,
    active_by_app: BTreeMap<AppKey, BTreeSet<RunId>>,
    queued: BTreeMap<String, BTreeSet<QueueSlot>>,
    running: BTreeSet<RunId>,
    /// The running runs of each node (a run is placed with its node set).
    running_on: BTreeMap<NodeId, BTreeSet<RunId>>,
    pending: BTreeSet<RunId>,
    /// The pending runs of each app, by schedule time.
    pending_by_app: BTreeMap<AppKey, BTreeSet<(Timestamp, RunId)>>,
    upstreams: BTreeMap<AppKey, Vec<Depend>>,
    downstreams: BTreeMap<AppKey, Vec<Depend>>,
}

impl State {
    /// Rebuilds the indexes from the runs.
    pub fn reindex(&mut self) {
        let mut by_app_time: Vec<(&str, &str, Timestamp, RunId)> = self
            .runs
            .values()
            .map(|r| (r.name.as_str(), r.queue.as_str(), r.schedule_time, r.id))
            .collect();
        by_app_time.sort_unstable();
        let mut index: Vec<(AppKey, Vec<(Timestamp, RunId)>)> = Vec::new();
        for (name, queue, time, id) in by_app_time {
            match index.last_mut() {
                Some((key, runs)) if key.name == name && key.queue == queue => {
                    runs.push((time, id));
                }
                _ => {
                    let key = AppKey {
                        name: name.to_owned(),
                        queue: queue.to_owned(),
                    };
                    index.push((key, vec![(time, id)]));
                }
            }
        }
        let by_app_time = index
            .into_iter()
            .map(|(key, runs)| (key, runs.into_iter().collect()))
            .collect();
        self.reindex_with(by_app_time);
    }

    /// Rebuilds the indexes from the runs, given the index by app and schedule time (the
    /// largest, built by whoever has the runs in its order already).
    fn reindex_with(&mut self, by_app_time: BTreeMap<AppKey, BTreeMap<Timestamp, RunId>>) {
        self.index = Indexes {
            by_app_time,
            ..Indexes::default()
        };
        self.index_edges();
        // Only the runs that are not ended are in the other indexes.
        let active: Vec<RunId> = self
            .runs
            .values()
            .filter(|r| !r.state.is_ended())
            .map(|r| r.id)
            .collect();
        for id in active {
            self.index_state(id, None);
        }
    }

    // ---- reads ----

    /// An app.
    pub fn app(&self, key: &AppKey) -> Option<&AppEntry> {
        self.apps.get(key)
    }

    /// Every app, by key.
    pub fn apps(&self) -> impl Iterator<Item = (&AppKey, &AppEntry)> {
        self.apps.iter()
    }

    /// A run.
    pub fn run(&self, id: RunId) -> Option<&Run> {
        self.runs.get(&id)
    }

    /// The run of an app for one schedule time.
    pub fn run_at(&self, app: &AppKey, time: Timestamp) -> Option<&Run> {
        let id = self.index.by_app_time.get(app)?.get(&time)?;
        self.runs.get(id)
    }

    /// The runs of an app with `begin <= schedule time <= end`, by schedule time.
    pub fn runs_between(
        &self,
        app: &AppKey,
        begin: Timestamp,
        end: Timestamp,
    ) -> impl Iterator<Item = &Run> {
        let runs = self.index.by_app_time.get(app).filter(|_| begin <= end);
        runs.into_iter()
            .flat_map(move |runs| runs.range(begin..=end))
            .map(|(_, id)| &self.runs[id])
    }

    /// Queued runs per queue, in the order they should start.
    pub fn queued(&self) -> &BTreeMap<String, BTreeSet<QueueSlot>> {
        &self.index.queued
    }

    /// Running runs.
    pub fn running(&self) -> impl Iterator<Item = &Run> {
        self.index.running.iter().map(|id| &self.runs[id])
    }

    /// The runs running on `node`.
    pub fn running_on(&self, node: &NodeId) -> impl Iterator<Item = &Run> {
        self.index
            .running_on
            .get(node)
            .into_iter()
            .flatten()
            .map(|id| &self.runs[id])
    }

    /// Pending runs.
    pub fn pending(&self) -> impl Iterator<Item = &Run> {
        self.index.pending.iter().map(|id| &self.runs[id])
    }

    /// The spec a run runs with (its version's), if its app still exists.
    pub fn spec_of(&self, run: &Run) -> Option<&AppSpec> {
        let entry = self.apps.get(&run.app_parts() as &dyn AppKeyParts)?;
        entry.version(run.version).map(|v| &v.spec)
    }

    /// Counts of an app's runs by state.
    pub fn counts(&self, app: &AppKey) -> RunCounts {
        let mut counts = RunCounts::default();
        for run in self.latest_runs(app) {
            counts.count(run.state);
        }
        counts
    }

    /// The run of an app with the latest schedule time.
    pub fn latest_run(&self, app: &AppKey) -> Option<&Run> {
        self.latest_runs(app).next()
    }

    /// The runs of an app, latest schedule time first.
    pub fn latest_runs(&self, app: &AppKey) -> impl Iterator<Item = &Run> {
        self.index
            .by_app_time
            .get(app)
            .into_iter()
            .flat_map(|runs| runs.values().rev())
            .map(|id| &self.runs[id])
    }

    /// The queues whose settings were set (the others have weight 1 and no limits).
    pub fn queue_settings(&self) -> impl Iterator<Item = &rota_sched::Queue> {
        self.queues.values()
    }

    /// The shared settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// How many runs there are in all.
    pub fn run_count(&self) -> usize {
        self.runs.len()
    }

    // ---- writes ----

    /// Applies one command.
    pub fn apply(&mut self, command: &Command) -> Result<Applied, Refusal> {
        let mut applied = Applied::default();
        match command {
            Command::AddApp { spec, at } => self.add_app(spec, *at)?,
            Command::UpdateApp { spec, at } => self.update_app(spec, *at, &mut applied)?,
            Command::RemoveApp { app, force, at } => {
                self.remove_app(app, *force, *at, &mut applied)?
            }
            Command::Schedule { app, scheduled, at } => self.schedule(app, *scheduled, *at)?,
            Command::Fire { apps, at } => {
                for fires in apps {
                    self.fire(fires, *at, &mut applied);
                }
            }
            Command::Trigger {
                app,
                time,
                params,
                call,
                at,
            } => self.trigger(app, *time, params.as_ref(), *call, *at, &mut applied)?,
            Command::Place { runs, node, at } => {
                for id in runs {
                    self.place(*id, node, *at, &mut applied);
                }
            }
            Command::Report(report) => self.report(report, &mut applied)?,
            Command::Reports { reports } => self.reports(reports, &mut applied),
            Command::Kill { runs, at } => {
                // Refuse before killing anything: a half-applied kill would lose the kill
                // orders of the runs it did reach with the refusal.
                if let Some(missing) = runs.iter().find(|id| !self.runs.contains_key(id)) {
                    return Err(Refusal::RunNotFound(*missing));
                }
                for id in runs {
                    self.kill(*id, *at, "killed on request", &mut applied)?;
                }
            }
            Command::DeleteQueued { run, at } => {
                let state = self.runs.get(run).ok_or(Refusal::RunNotFound(*run))?.state;
                if !matches!(state, RunState::Pending | RunState::Queued) {
                    return Err(Refusal::NotWaiting { run: *run, state });
                }
                self.kill(*run, *at, "deleted from the waiting queue", &mut applied)?;
            }
            Command::Rerun { rerun, at } => self.rerun(rerun, *at, &mut applied)?,
            Command::AddDepend { depend, at } => self.add_depend(depend, *at, &mut applied)?,
            Command::RemoveDepend { app, upstream, at } => {
                self.remove_depend(app, upstream, *at, &mut applied)?
            }
            Command::ImportRuns { runs, at } => self.import_runs(runs, *at, &mut applied),
            Command::SetQueue { queue, .. } => self.set_queue(queue)?,
            Command::RegisterNode {
                node,
                capacity,
                attributes,
                labels,
                at,
            } => self.register_node(node, capacity, attributes, labels, *at)?,
            Command::SetNodeState { node, state, at } => {
                self.set_node_state(node, *state, *at, &mut applied)?
            }
            Command::Preempt { runs, .. } => {
                for (victim, for_run) in runs {
                    self.preempt(*victim, *for_run, &mut applied);
                }
            }
            Command::Configure { time_zone } => {
                if jiff::tz::TimeZone::get(time_zone).is_ok() {
                    self.settings.time_zone = time_zone.clone();
                }
            }
            Command::Reject { runs, at } => {
                for (id, reason) in runs {
                    if self.runs.get(id).map(|r| r.state) == Some(RunState::Queued) {
                        self.transition(*id, Transition::Reject, *at)?;
                        let run = self.runs.get_mut(id).expect("exists");
                        run.reason = Some(reason.clone());
                        run.ended_at = Some(*at);
                        applied.runs.push(*id);
                    }
                }
            }
        }
        Ok(applied)
    }

    fn add_app(&mut self, spec: &AppSpec, at: Timestamp) -> Result<(), Refusal> {
        let key = spec.key();
        if self.apps.contains_key(&key) {
            return Err(Refusal::AppExists(key));
        }
        let declared = self.check_declared_edges(spec)?;
        self.apps.insert(
            key.clone(),
            AppEntry {
                versions: vec![AppVersion {
                    version: 1,
                    spec: spec.clone(),
                    created_at: at,
                }],
                scheduled: false,
                created_at: at,
                cursor: None,
            },
        );
        if let Some(edges) = declared {
            self.set_edges(&key, edges);
        }
        Ok(())
    }

    fn update_app(
        &mut self,
        spec: &AppSpec,
        at: Timestamp,
        applied: &mut Applied,
    ) -> Result<(), Refusal> {
        let key = spec.key();
        if !self.apps.contains_key(&key) {
            return Err(Refusal::AppNotFound(key));
        }
        let declared = self.check_declared_edges(spec)?;
        let entry = self.apps.get_mut(&key).expect("checked");
        if entry.scheduled {
            match spec.cron.as_deref() {
                None => return Err(Refusal::NoCron(key)),
                Some(rota_model::spec::EVENT_DRIVEN) => return Err(Refusal::EventDriven(key)),
                Some(_) => {}
            }
        }
        let version = entry.versions.len() as u32 + 1;
        entry.versions.push(AppVersion {
            version,
            spec: spec.clone(),
            created_at: at,
        });
        if let Some(edges) = declared {
            self.set_edges(&key, edges);
        }
        self.renew_ahead_runs(&key, at, applied);
        // Its cron or its edges may have changed what its own and its dependents' pending
        // runs wait for.
        self.reevaluate_pending(&key, at, applied);
        let dependents: Vec<AppKey> = self.dependents_of(&key).map(|d| d.app.clone()).collect();
        for dependent in dependents {
            self.reevaluate_pending(&dependent, at, applied);
        }
        Ok(())
    }

    fn remove_app(
        &mut self,
        key: &AppKey,
        force: bool,
        at: Timestamp,
        applied: &mut Applied,
    ) -> Result<(), Refusal> {
        if !self.apps.contains_key(key) {
            return Err(Refusal::AppNotFound(key.clone()));
        }
        let dependents: BTreeSet<AppKey> = self
            .dependents_of(key)
            .map(|d| d.app.clone())
            .filter(|d| d != key)
            .collect();
        if !dependents.is_empty() && !force {
            return Err(Refusal::HasDependents {
                app: key.clone(),
                dependents: dependents.into_iter().collect(),
            });
        }
        let active: Vec<RunId> = self
            .index
            .active_by_app
            .get(key)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        for id in active {
            self.kill(id, at, "its app was removed", applied)?;
        }
        self.apps.remove(key);
        self.apps_removed += 1;
        self.edges.retain(|d| &d.app != key && &d.upstream != key);
        self.index_edges();
        for dependent in dependents {
            self.reevaluate_pending(&dependent, at, applied);
        }
        Ok(())
    }

    fn schedule(&mut self, key: &AppKey, scheduled: bool, at: Timestamp) -> Result<(), Refusal> {
        let entry = self
            .apps
            .get_mut(key)
            .ok_or(Refusal::AppNotFound(key.clone()))?;
        if scheduled {
            match entry.current().spec.cron.as_deref() {
                None => return Err(Refusal::NoCron(key.clone())),
                Some(rota_model::spec::EVENT_DRIVEN) => {
                    return Err(Refusal::EventDriven(key.clone()));
                }
                Some(_) => {}
            }
            if !entry.scheduled {
                entry.cursor = Some(at);
            }
        }
        entry.scheduled = scheduled;
        if !scheduled {
            self.forget_ahead_runs(key, at);
        }
        Ok(())
    }

    fn fire(&mut self, fires: &AppFires, at: Timestamp, applied: &mut Applied) {
        let Some(entry) = self.apps.get_mut(&fires.app) else {
            return;
        };
        if !entry.scheduled {
            return;
        }
        entry.cursor = Some(entry.cursor.map_or(fires.cursor, |c| c.max(fires.cursor)));
        for fire in &fires.fires {
            if self
                .index
                .by_app_time
                .get(&fires.app)
                .is_some_and(|runs| runs.contains_key(&fire.time))
            {
                continue;
            }
            match &fire.skip {
                Some(reason) => {
                    let id = self.create_run(&fires.app, fire.time, fire.origin, at);
                    self.transition(id, Transition::Skip, at)
                        .expect("a new run can be skipped");
                    self.runs.get_mut(&id).expect("exists").reason = Some(reason.clone());
                    applied.runs.push(id);
                }
                None => {
                    let id = self.start_new_run(&fires.app, fire.time, fire.origin, at, applied);
                    // Fired ahead of its time: it waits for it.
                    let run = self.runs.get_mut(&id).expect("exists");
                    if fire.time > at && !run.state.is_ended() {
                        run.not_before = Some(fire.time);
                    }
                }
            }
        }
    }

    fn trigger(
        &mut self,
        key: &AppKey,
        time: Timestamp,
        params: Option<&serde_json::Value>,
        call: bool,
        at: Timestamp,
        applied: &mut Applied,
    ) -> Result<(), Refusal> {
        if !self.apps.contains_key(key) {
            return Err(Refusal::AppNotFound(key.clone()));
        }
        if let Some(run) = self.run_at(key, time) {
            if !(call && run.state.is_ended()) {
                return Err(Refusal::RunExists {
                    run: run.id,
                    state: run.state,
                });
            }
            let id = run.id;
            self.restart_ended(id, at)?;
            self.runs.get_mut(&id).expect("exists").call_params = params.cloned();
            self.release_if_met(id, at);
            applied.runs.push(id);
            return Ok(());
        }
        let id = self.start_new_run(key, time, Origin::Manual, at, applied);
        self.runs.get_mut(&id).expect("exists").call_params = params.cloned();
        Ok(())
    }

    /// Puts an ended run back to `pending` for another attempt on the app's current version,
    /// keeping the ended attempt in its history.
    pub(super) fn restart_ended(&mut self, id: RunId, at: Timestamp) -> Result<(), Refusal> {
        self.archive_attempt(id);
        self.transition(id, Transition::Rerun, at)?;
        let key = self.runs[&id].app();
        let version = self.apps.get(&key).map(|a| a.current().version);
        let run = self.runs.get_mut(&id).expect("exists");
        if let Some(version) = version {
            run.version = version;
        }
        run.retries_used = 0;
        run.not_before = None;
        run.reason = None;
        run.exit_code = None;
        run.started_at = None;
        run.ended_at = None;
        run.kill_requested = false;
        Ok(())
    }

    /// The spec a run runs with: its version's, with its call params laid over the params.
    pub fn effective_spec(&self, run: &Run) -> Option<AppSpec> {
        let mut spec = self.spec_of(run)?.clone();
        spec.params = spec.params_with(run.call_params.as_ref());
        Some(spec)
    }

    /// How many runs of `app` are running now.
    pub fn running_count(&self, app: &dyn AppKeyParts) -> usize {
        self.index
            .active_by_app
            .get(app)
            .into_iter()
            .flatten()
            .filter(|id| self.runs[*id].state == RunState::Running)
            .count()
    }

    /// Creates a run and queues it, applying the app's concurrency policy.
    fn start_new_run(
        &mut self,
        key: &AppKey,
        time: Timestamp,
        origin: Origin,
        at: Timestamp,
        applied: &mut Applied,
    ) -> RunId {
        let policy = self.apps[key].current().spec.concurrency;
        let active: Vec<RunId> = self
            .index
            .active_by_app
            .get(key)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        let id = self.create_run(key, time, origin, at);
        applied.runs.push(id);
        match policy {
            Concurrency::Forbid if !active.is_empty() => {
                self.transition(id, Transition::Skip, at)
                    .expect("a new run can be skipped");
                self.runs.get_mut(&id).expect("exists").reason = Some(format!(
                    "run {} is still active (concurrency: forbid)",
                    active[0]
                ));
                return id;
            }
            Concurrency::Replace => {
                let reason = format!("replaced by run {id} (concurrency: replace)");
                for old in active {
                    self.kill(old, at, &reason, applied)
                        .expect("an active run can be killed");
                }
            }
            _ => {}
        }
        self.release_if_met(id, at);
        self.create_children(key, time, at, applied);
        id
    }

    fn create_run(
        &mut self,
        key: &AppKey,
        time: Timestamp,
        origin: Origin,
        at: Timestamp,
    ) -> RunId {
        self.next_run += 1;
        let id = RunId(self.next_run);
        let version = self.apps[key].current().version;
        self.runs.insert(
            id,
            Run {
                id,
                name: key.name.clone(),
                queue: key.queue.clone(),
                version,
                schedule_time: time,
                origin,
                state: RunState::Pending,
                attempts: 0,
                retries_used: 0,
                exit_code: None,
                exit_reason: None,
                usage: Default::default(),
                limits: None,
                container: None,
                reason: None,
                node: None,
                created_at: at,
                queued_at: None,
                started_at: None,
                ended_at: None,
                not_before: None,
                kill_requested: false,
                preempted_by: None,
                call_params: None,
                process: None,
                history: Vec::new(),
            },
        );
        match self.index.by_app_time.get_mut(key) {
            Some(runs) => {
                runs.insert(time, id);
            }
            None => {
                self.index
                    .by_app_time
                    .insert(key.clone(), BTreeMap::from([(time, id)]));
            }
        }
        self.index_state(id, None);
        id
    }

    fn place(&mut self, id: RunId, node: &NodeId, at: Timestamp, applied: &mut Applied) {
        let Some(run) = self.runs.get(&id).filter(|r| r.state == RunState::Queued) else {
            return;
        };
        // The app's parallelism holds however many plans were made at once: the plan that
        // would exceed it is not applied for that run, which stays queued.
        let limit = self.spec_of(run).and_then(AppSpec::parallelism_limit);
        if limit.is_some_and(|limit| self.running_count(&run.app_parts()) >= limit as usize) {
            return;
        }
        // The node first: the index of each node's running runs is kept on the transition.
        self.runs.get_mut(&id).expect("exists").node = Some(node.clone());
        self.transition(id, Transition::Place, at)
            .expect("a queued run can be placed");
        let run = self.runs.get_mut(&id).expect("exists");
        run.attempts += 1;
        run.started_at = Some(at);
        run.ended_at = None;
        run.exit_code = None;
        run.exit_reason = None;
        run.usage = Default::default();
        run.container = None;
        run.reason = None;
        run.process = None;
        run.not_before = None;
        run.kill_requested = false;
        applied.runs.push(id);
    }

    fn current_attempt(&mut self, id: RunId, attempt: u32) -> Result<&mut Run, Refusal> {
        let run = self.runs.get_mut(&id).ok_or(Refusal::RunNotFound(id))?;
        if run.state != RunState::Running || run.attempts != attempt {
            return Err(Refusal::StaleReport {
                run: id,
                attempt,
                state: run.state,
            });
        }
        Ok(run)
    }

    fn finish(
        &mut self,
        id: RunId,
        attempt: u32,
        ended: Ended<'_>,
        at: Timestamp,
        applied: &mut Applied,
    ) -> Result<(), Refusal> {
        let preempted_by = self.current_attempt(id, attempt)?.preempted_by;
        let ending = ended.ending;
        if let Some(for_run) = preempted_by.filter(|_| ending != Ending::Succeeded) {
            // Evicted: the attempt ends `preempted` (kept in the history) and the run waits
            // again at once, whatever its retries.
            self.transition(id, Transition::Preempt, at)?;
            let run = self.runs.get_mut(&id).expect("exists");
            run.exit_code = ended.exit_code;
            run.exit_reason = ended.exit_reason;
            run.usage = ended.usage;
            run.reason = Some(format!("preempted for run {for_run}"));
            run.ended_at = Some(at);
            run.process = None;
            run.preempted_by = None;
            run.kill_requested = false;
            self.archive_attempt(id);
            self.transition(id, Transition::Retry, at)?;
            applied.runs.push(id);
            return Ok(());
        }
        let transition = match ending {
            Ending::Succeeded => Transition::Succeed,
            Ending::Failed => Transition::Fail,
            Ending::TimedOut => Transition::TimeOut,
            Ending::Killed => Transition::Kill,
            Ending::Lost => Transition::Lose,
        };
        self.transition(id, transition, at)?;
        let retries = self
            .spec_of(&self.runs[&id])
            .map(|spec| (spec.retries, spec.retry_backoff));
        let run = self.runs.get_mut(&id).expect("exists");
        run.exit_code = ended.exit_code;
        run.exit_reason = ended.exit_reason;
        run.usage = ended.usage;
        run.reason = Some(ended.reason.to_string());
        run.ended_at = Some(at);
        run.process = None;
        applied.runs.push(id);
        if ending == Ending::Succeeded {
            let (app, time) = (run.app(), run.schedule_time);
            self.wake_dependents(&app, time, at, applied);
            return Ok(());
        }
        let retryable = matches!(ending, Ending::Failed | Ending::TimedOut | Ending::Lost)
            && !run.kill_requested;
        if let Some((retries, backoff)) = retries
            && retryable
            && run.retries_used < retries
        {
            let exponent = run.retries_used.min(20);
            let seconds = i64::try_from(backoff)
                .unwrap_or(i64::MAX)
                .saturating_mul(1 << exponent)
                .min(MAX_BACKOFF_SECONDS);
            run.retries_used += 1;
            run.not_before = Some(at + SignedDuration::from_secs(seconds));
            self.archive_attempt(id);
            self.transition(id, Transition::Retry, at)?;
        }
        Ok(())
    }

    fn set_queue(&mut self, queue: &rota_sched::Queue) -> Result<(), Refusal> {
        let bad = |problem: &str| Refusal::BadQueue {
            queue: queue.name.clone(),
            problem: problem.to_string(),
        };
        rota_model::ids::validate_name("queue", &queue.name).map_err(|e| bad(&e.to_string()))?;
        if queue.weight == 0 {
            return Err(bad("the weight must be at least 1"));
        }
        let negative = |l: &rota_sched::Limits| {
            l.cores.is_some_and(|c| !c.is_finite() || c < 0.0) || l.mems.is_some_and(|m| m < 0)
        };
        if negative(&queue.quota) || negative(&queue.guaranteed) {
            return Err(bad("a quota or a guaranteed minimum cannot be negative"));
        }
        self.queues.insert(queue.name.clone(), queue.clone());
        self.scheduling_changed();
        Ok(())
    }

    /// Marks a running run for eviction; its node is told to stop it.
    fn preempt(&mut self, id: RunId, for_run: RunId, applied: &mut Applied) {
        let Some(run) = self
            .runs
            .get_mut(&id)
            .filter(|r| r.state == RunState::Running)
        else {
            return;
        };
        run.preempted_by = Some(for_run);
        if let Some(node) = run.node.clone() {
            applied.kills.push((id, node.clone()));
            self.node_changed(&node);
        }
        applied.runs.push(id);
    }

    fn kill(
        &mut self,
        id: RunId,
        at: Timestamp,
        reason: &str,
        applied: &mut Applied,
    ) -> Result<(), Refusal> {
        let run = self.runs.get(&id).ok_or(Refusal::RunNotFound(id))?;
        match run.state {
            RunState::Pending | RunState::Queued => {
                self.transition(id, Transition::Kill, at)?;
                let run = self.runs.get_mut(&id).expect("exists");
                run.reason = Some(reason.to_string());
                run.ended_at = Some(at);
                applied.runs.push(id);
            }
            RunState::Running => {
                let run = self.runs.get_mut(&id).expect("exists");
                run.kill_requested = true;
                if let Some(node) = run.node.clone() {
                    applied.kills.push((id, node.clone()));
                    self.node_changed(&node);
                }
                applied.runs.push(id);
            }
            state => applied.skipped.push(SkippedRun {
                id,
                schedule_time: run.schedule_time,
                reason: format!("already {state}"),
            }),
        }
        Ok(())
    }

    /// Keeps the current attempt's outcome in the run's history before it runs again.
    fn archive_attempt(&mut self, id: RunId) {
        let run = self.runs.get_mut(&id).expect("exists");
        if run.attempts == 0 || run.history.last().map(|a| a.attempt) == Some(run.attempts) {
            return;
        }
        run.history.push(rota_model::Attempt {
            attempt: run.attempts,
            state: run.state,
            exit_code: run.exit_code,
            reason: run.reason.clone(),
            node: run.node.clone(),
            exit_reason: run.exit_reason,
            usage: run.usage,
            started_at: run.started_at,
            ended_at: run.ended_at,
        });
    }

    /// Moves a run through the model's state machine and keeps the indexes in step.
    fn transition(
        &mut self,
        id: RunId,
        transition: Transition,
        at: Timestamp,
    ) -> Result<(), Refusal> {
        let run = self.runs.get_mut(&id).ok_or(Refusal::RunNotFound(id))?;
        let from = run.state;
        run.state = from.apply(transition)?;
        if run.state == RunState::Queued {
            run.queued_at = Some(at);
        }
        self.index_state(id, Some(from));
        Ok(())
    }

    /// A number that changes whenever something a scheduling round looks at may have
    /// changed: the queued or running runs, the nodes, the queues. Anything else (a run
    /// reported started, a record's reason, an app's later version) leaves it alone, so the
    /// scheduler can skip a round that would see what the last one saw.
    pub fn scheduling_epoch(&self) -> u64 {
        self.scheduling_epoch
    }

    /// How many apps this process saw removed: an app added again under a removed one's key
    /// starts again at version 1, so what was derived from a version of that key is stale
    /// once this moves.
    pub fn apps_removed(&self) -> u64 {
        self.apps_removed
    }

    /// A number that changes whenever what `node`'s agent is sent may have changed: an
    /// attempt placed on it or gone from it, a kill or eviction ordered, the node
    /// registered or its state changed. A poll that finds nothing new for its agent waits
    /// for it to move, rather than for any write at all.
    pub fn node_epoch(&self, node: &NodeId) -> u64 {
        self.node_epochs.get(node).copied().unwrap_or(0)
    }

    /// Notes a change of what `node`'s agent is sent.
    pub(super) fn node_changed(&mut self, node: &NodeId) {
        match self.node_epochs.get_mut(node) {
            Some(epoch) => *epoch += 1,
            None => {
                self.node_epochs.insert(node.clone(), 1);
            }
        }
    }

    /// Notes a change that a scheduling round may decide differently after.
    pub(super) fn scheduling_changed(&mut self) {
        self.scheduling_epoch += 1;
    }

    fn index_state(&mut self, id: RunId, from: Option<RunState>) {
        let to = self.runs[&id].state;
        let schedulable = |s: RunState| matches!(s, RunState::Queued | RunState::Running);
        if from != Some(to) && (schedulable(to) || from.is_some_and(schedulable)) {
            self.scheduling_changed();
        }
        if let Some(from) = from {
            self.unindex(id, from);
        }
        self.index(id);
    }

    /// The run's place in its queue, under its version's priority.
    fn queue_slot(&self, id: RunId) -> QueueSlot {
        let run = &self.runs[&id];
        QueueSlot {
            priority: self.spec_of(run).map_or(i32::MAX, |s| s.priority),
            schedule_time: run.schedule_time,
            run: id,
        }
    }

    /// Takes the run out of the indexes of state `from`. The app's key is looked up
    /// borrowed from the run.
    fn unindex(&mut self, id: RunId, from: RunState) {
        match from {
            RunState::Queued => {
                let slot = self.queue_slot(id);
                let queue = self.runs[&id].queue.as_str();
                remove_from(&mut self.index.queued, queue, &slot);
            }
            RunState::Running => {
                self.index.running.remove(&id);
                if let Some(node) = self.runs[&id].node.clone() {
                    remove_from(&mut self.index.running_on, &node, &id);
                    self.node_changed(&node);
                }
            }
            RunState::Pending => {
                self.index.pending.remove(&id);
                let run = &self.runs[&id];
                let parts = run.app_parts();
                let entry = (run.schedule_time, id);
                remove_from(
                    &mut self.index.pending_by_app,
                    &parts as &dyn AppKeyParts,
                    &entry,
                );
            }
            _ => {}
        }
        if !from.is_ended() {
            let parts = self.runs[&id].app_parts();
            remove_from(
                &mut self.index.active_by_app,
                &parts as &dyn AppKeyParts,
                &id,
            );
        }
    }

    /// Puts the run in the indexes of its state. An owned key of its app is made only for
    /// an index entry that does not exist yet.
    fn index(&mut self, id: RunId) {
        let to = self.runs[&id].state;
        match to {
            RunState::Queued => {
                let slot = self.queue_slot(id);
                let queue = self.runs[&id].queue.as_str();
                insert_into(&mut self.index.queued, queue, || queue.to_string(), slot);
            }
            RunState::Running => {
                self.index.running.insert(id);
                if let Some(node) = self.runs[&id].node.clone() {
                    self.node_changed(&node);
                    self.index.running_on.entry(node).or_default().insert(id);
                }
            }
            RunState::Pending => {
                self.index.pending.insert(id);
                let run = &self.runs[&id];
                let parts = run.app_parts();
                let entry = (run.schedule_time, id);
                let app: &dyn AppKeyParts = &parts;
                insert_into(&mut self.index.pending_by_app, app, || run.app(), entry);
            }
            _ => {}
        }
        if !to.is_ended() {
            let run = &self.runs[&id];
            let parts = run.app_parts();
            let app: &dyn AppKeyParts = &parts;
            insert_into(&mut self.index.active_by_app, app, || run.app(), id);
        }
    }
}

/// Removes `item` from the set under `key`, and the set once it is empty.
fn remove_from<K, Q, T>(map: &mut BTreeMap<K, BTreeSet<T>>, key: &Q, item: &T)
where
    K: Borrow<Q> + Ord,
    Q: Ord + ?Sized,
    T: Ord,
{
    if let Some(set) = map.get_mut(key) {
        set.remove(item);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

/// Adds `item` to the set under `key`, making the owned key (`owned`) only for a new set.
fn insert_into<K, Q, T>(
    map: &mut BTreeMap<K, BTreeSet<T>>,
    key: &Q,
    owned: impl FnOnce() -> K,
    item: T,
) where
    K: Borrow<Q> + Ord,
    Q: Ord + ?Sized,
    T: Ord,
{
    match map.get_mut(key) {
        Some(set) => {
            set.insert(item);
        }
        None => {
            map.insert(owned(), BTreeSet::from([item]));
        }
    }
}

/// Apps keyed by their `name:queue` text in snapshots: JSON object keys must be strings, and
/// an [`AppKey`] serializes as an object of its own.
mod apps_by_key {
    use std::collections::BTreeMap;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use rota_model::AppKey;

    use super::AppEntry;

    pub(super) fn serialize<S: Serializer>(
        apps: &BTreeMap<AppKey, AppEntry>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_map(apps.iter().map(|(key, entry)| (key.to_string(), entry)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<AppKey, AppEntry>, D::Error> {
        BTreeMap::<String, AppEntry>::deserialize(deserializer)?
            .into_iter()
            .map(|(key, entry)| {
                let key: AppKey = key.parse().map_err(D::Error::custom)?;
                Ok((key, entry))
            })
            .collect()
    }
}

mod ahead;
mod depends;
mod import;
mod nodes;
mod snapshot;

pub use snapshot::SnapshotError;

pub use nodes::NodeEntry;
mod reports;
mod rerun;
#[cfg(test)]
mod tests;
