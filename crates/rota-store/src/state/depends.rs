//! Dependencies in the state machine: the edges, and the event-driven release of pending
//! runs. A run's success wakes only the pending runs of its dependents whose windows hold
//! its schedule time; nothing scans all pending runs.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use rota_model::api::UnmetDependency;
use rota_model::depend::{Depend, DependError, Rule, Upstream, cycle_with, unmet};
use rota_model::run::Transition;
use rota_model::spec::Trigger;
use rota_model::{AppKey, AppSpec, Origin, Run, RunId, RunState};

use super::{Applied, State};
use crate::refusal::Refusal;

/// Why a pending run has not been queued, as the run record says.
const WAITING: &str = "waiting for dependencies";

impl State {
    /// The edges of `app` to the apps it needs.
    pub fn depends_of(&self, app: &AppKey) -> impl Iterator<Item = &Depend> {
        self.index.upstreams.get(app).into_iter().flatten()
    }

    /// The edges of the apps that need `app`.
    pub fn dependents_of(&self, app: &AppKey) -> impl Iterator<Item = &Depend> {
        self.index.downstreams.get(app).into_iter().flatten()
    }

    /// Every edge.
    pub fn all_depends(&self) -> impl Iterator<Item = &Depend> {
        self.edges.iter()
    }

    /// What a run still waits for: each unmet edge with at most `limit` reasons.
    pub fn unmet_dependencies(&self, run: &Run, limit: usize) -> Vec<UnmetDependency> {
        let app = run.app();
        self.depends_of(&app)
            .filter_map(|depend| {
                let waits = self.waits(depend, run.schedule_time, limit);
                (!waits.is_empty()).then(|| UnmetDependency {
                    depend: depend.clone(),
                    waits,
                })
            })
            .collect()
    }

    fn waits(&self, depend: &Depend, t: Timestamp, limit: usize) -> Vec<rota_model::depend::Wait> {
        let window = depend.rule.window(t);
        let spec = self.apps.get(&depend.upstream).map(|a| &a.current().spec);
        let default_tz =
            jiff::tz::TimeZone::get(&self.settings.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
        let cron = match (depend.rule, spec.map(AppSpec::trigger)) {
            (Rule::Window { .. }, Some(Trigger::Cron(cron))) => Some(cron),
            _ => None,
        };
        let tz = spec.map_or(default_tz.clone(), |s| s.time_zone(&default_tz));
        let upstream = match &cron {
            Some(cron) => Upstream::Cron(cron, &tz),
            None => Upstream::Runs,
        };
        unmet(
            upstream,
            window,
            |time| self.run_at(&depend.upstream, time).map(|r| (r.id, r.state)),
            || {
                Box::new(
                    self.runs_between(&depend.upstream, window.0, window.1)
                        .map(|r| (r.schedule_time, r.id, r.state)),
                )
            },
            limit,
        )
    }

    /// Queues a pending run whose dependencies are all met; true if it did.
    pub(super) fn release_if_met(&mut self, id: RunId, at: Timestamp) -> bool {
        let run = &self.runs[&id];
        if run.state != RunState::Pending {
            return false;
        }
        let app = run.app();
        let time = run.schedule_time;
        let met = self
            .depends_of(&app)
            .all(|depend| self.waits(depend, time, 1).is_empty());
        let run = self.runs.get_mut(&id).expect("exists");
        if !met {
            run.reason = Some(WAITING.into());
            return false;
        }
        run.reason = None;
        self.transition(id, Transition::DependenciesMet, at)
            .expect("a pending run can be queued");
        true
    }

    /// Looks again at every pending run of `app` (after its edges or an upstream changed).
    pub(super) fn reevaluate_pending(
        &mut self,
        app: &AppKey,
        at: Timestamp,
        applied: &mut Applied,
    ) {
        let pending: Vec<RunId> = self.pending_between(app, Timestamp::MIN, Timestamp::MAX);
        for id in pending {
            if self.release_if_met(id, at) {
                applied.runs.push(id);
            }
        }
    }

    /// A run of `upstream` at `time` succeeded: look at the pending runs whose windows hold it.
    pub(super) fn wake_dependents(
        &mut self,
        upstream: &AppKey,
        time: Timestamp,
        at: Timestamp,
        applied: &mut Applied,
    ) {
        let edges: Vec<Depend> = self.dependents_of(upstream).cloned().collect();
        for depend in edges {
            let (lo, hi) = depend.rule.dependents_of(time);
            for id in self.pending_between(&depend.app, lo, hi) {
                if self.release_if_met(id, at) {
                    applied.runs.push(id);
                }
            }
        }
    }

    fn pending_between(&self, app: &AppKey, lo: Timestamp, hi: Timestamp) -> Vec<RunId> {
        let range = (lo, RunId(0))..=(hi, RunId(u64::MAX));
        self.index
            .pending_by_app
            .get(app)
            .into_iter()
            .flat_map(|pending| pending.range(range.clone()))
            .map(|(_, id)| *id)
            .collect()
    }

    /// A run of `parent` was created for `time`: create its Chronos children's runs.
    pub(super) fn create_children(
        &mut self,
        parent: &AppKey,
        time: Timestamp,
        at: Timestamp,
        applied: &mut Applied,
    ) {
        let children: Vec<AppKey> = self
            .dependents_of(parent)
            .filter(|d| d.rule == Rule::Parent)
            .map(|d| d.app.clone())
            .collect();
        for child in children {
            if self.apps.contains_key(&child) && self.run_at(&child, time).is_none() {
                self.start_new_run(&child, time, Origin::Parent, at, applied);
            }
        }
    }

    /// The edges a spec declares, checked against the apps and the graph; `None` when the
    /// spec declares none (the app's edges stay as they are).
    pub(super) fn check_declared_edges(
        &self,
        spec: &AppSpec,
    ) -> Result<Option<Vec<Depend>>, Refusal> {
        if spec.depends.is_none() && spec.parents.is_none() {
            return Ok(None);
        }
        let key = spec.key();
        let edges = spec
            .declared_depends()
            .expect("validated when the spec was parsed");
        let mut graph = self.graph_without(|d| d.app == key);
        for depend in &edges {
            self.check_edge(depend, &graph)?;
            graph
                .entry(depend.app.clone())
                .or_default()
                .insert(depend.upstream.clone());
        }
        Ok(Some(edges))
    }

    /// Replaces all of `app`'s edges.
    pub(super) fn set_edges(&mut self, app: &AppKey, edges: Vec<Depend>) {
        self.edges.retain(|d| &d.app != app);
        self.edges.extend(edges);
        self.index_edges();
    }

    pub(super) fn add_depend(
        &mut self,
        depend: &Depend,
        at: Timestamp,
        applied: &mut Applied,
    ) -> Result<(), Refusal> {
        depend.validate()?;
        if !self.apps.contains_key(&depend.app) {
            return Err(Refusal::AppNotFound(depend.app.clone()));
        }
        let same_pair = |d: &Depend| d.app == depend.app && d.upstream == depend.upstream;
        self.check_edge(depend, &self.graph_without(same_pair))?;
        self.edges.retain(|d| !same_pair(d));
        self.edges.insert(depend.clone());
        self.index_edges();
        self.reevaluate_pending(&depend.app, at, applied);
        Ok(())
    }

    pub(super) fn remove_depend(
        &mut self,
        app: &AppKey,
        upstream: &AppKey,
        at: Timestamp,
        applied: &mut Applied,
    ) -> Result<(), Refusal> {
        let before = self.edges.len();
        self.edges
            .retain(|d| !(&d.app == app && &d.upstream == upstream));
        if self.edges.len() == before {
            return Err(Refusal::DependNotFound {
                app: app.clone(),
                upstream: upstream.clone(),
            });
        }
        self.index_edges();
        self.reevaluate_pending(app, at, applied);
        Ok(())
    }

    fn check_edge(
        &self,
        depend: &Depend,
        graph: &BTreeMap<AppKey, BTreeSet<AppKey>>,
    ) -> Result<(), Refusal> {
        depend.validate()?;
        if depend.upstream != depend.app && !self.apps.contains_key(&depend.upstream) {
            return Err(Refusal::UpstreamNotFound {
                app: depend.app.clone(),
                upstream: depend.upstream.clone(),
            });
        }
        if let Some(cycle) = cycle_with(graph, &depend.app, &depend.upstream) {
            return Err(DependError::Cycle(cycle).into());
        }
        Ok(())
    }

    /// The graph (dependent → upstreams) without the edges `skip` selects.
    fn graph_without(&self, skip: impl Fn(&Depend) -> bool) -> BTreeMap<AppKey, BTreeSet<AppKey>> {
        let mut graph: BTreeMap<AppKey, BTreeSet<AppKey>> = BTreeMap::new();
        for d in self.edges.iter().filter(|d| !skip(d)) {
            graph
                .entry(d.app.clone())
                .or_default()
                .insert(d.upstream.clone());
        }
        graph
    }

    /// Rebuilds the edge indexes from the edges.
    pub(super) fn index_edges(&mut self) {
        self.index.upstreams.clear();
        self.index.downstreams.clear();
        for d in &self.edges {
            self.index
                .upstreams
                .entry(d.app.clone())
                .or_default()
                .push(d.clone());
            self.index
                .downstreams
                .entry(d.upstream.clone())
                .or_default()
                .push(d.clone());
        }
    }
}
