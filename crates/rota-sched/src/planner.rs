//! One plan: every queued run is examined once, in fair-share order; each is rejected, held
//! by its queue's quota, placed, placed after preemption, given a reservation, or left
//! waiting — with an explanation.

use std::sync::Arc;

use rota_model::RunId;

use crate::class::{Class, Regexes};
use crate::explain::{FilterTally, ScorerScore, Wait};
use crate::explained::{Compact, Explanations};
use crate::fair::Turns;
use crate::hash::FxMap;
use crate::params::Params;
use crate::plan::{Placement, Plan, Preemption, Rejection, Reservation};
use crate::plugin::Registry;
use crate::round::{NONE, Round};
use crate::search::{Found, Search, View, diagnose};
use crate::snapshot::Snapshot;
use crate::state::Placing;

/// The pure scheduler: a registry of plugins, and the two calls the server makes.
#[derive(Default)]
pub struct Scheduler {
    pub(crate) registry: Registry,
}

impl Scheduler {
    /// A scheduler with these plugins.
    pub fn new(registry: Registry) -> Self {
        Scheduler { registry }
    }

    /// Its plugins.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The plan for `snapshot`: the same snapshot and params give the same plan.
    pub fn plan(&self, snapshot: &Snapshot, params: &Params) -> Plan {
        Planner::new(&self.registry, snapshot, params).run()
    }
}

/// Why the last search of a class failed, kept while capacity cannot have grown.
struct Failure {
    epoch: u64,
    wait: Arc<Wait>,
    tallies: Arc<[FilterTally]>,
}

pub(crate) struct Planner<'s> {
    registry: &'s Registry,
    params: &'s Params,
    pub(crate) round: Round<'s>,
    pub(crate) state: Placing,
    /// Per request: its class, once a run of it is examined.
    pub(crate) classes: Vec<Option<Class>>,
    searches: Vec<Search>,
    failures: Vec<Option<Failure>>,
    /// Per request: the epoch at which preemption found no room.
    pub(crate) preempt_failed: Vec<Option<u64>>,
    regexes: Regexes,
    /// Queued runs holding capacity: (run, node), in the order the holds were made.
    holds: Vec<(u32, u32)>,
    /// Per node: the index of its name in the explanations, once named.
    names: Vec<u32>,
    /// Scratch for the scores of one candidate.
    scores: Vec<ScorerScore>,
    plan: Plan,
}

impl<'s> Planner<'s> {
    pub(crate) fn new(registry: &'s Registry, snapshot: &'s Snapshot, params: &'s Params) -> Self {
        let round = Round::new(snapshot, params.plan_id);
        let state = Placing::new(&round);
        let requests = round.requests.len();
        Planner {
            registry,
            params,
            state,
            classes: (0..requests).map(|_| None).collect(),
            searches: (0..requests).map(|_| Search::default()).collect(),
            failures: (0..requests).map(|_| None).collect(),
            preempt_failed: vec![None; requests],
            regexes: Regexes::default(),
            holds: Vec::new(),
            names: vec![NONE; round.nodes.len()],
            scores: Vec::new(),
            plan: Plan {
                id: params.plan_id,
                explanations: Explanations::with_capacity(snapshot.queued.len()),
                ..Plan::default()
            },
            round,
        }
    }

    pub(crate) fn view(&self) -> View<'_> {
        View {
            round: &self.round,
            registry: self.registry,
            state: &self.state,
        }
    }

    pub(crate) fn run(mut self) -> Plan {
        self.restore_reservations();
        let mut turns = Turns::new(&self.round, &self.state);
        while let Some((run, q)) = turns.next() {
            self.examine(run);
            turns.push(&self.round, &self.state, q);
        }
        let ids = &self.round.nodes.ids;
        let queued = &self.round.snapshot.queued;
        self.plan.reservations = self
            .holds
            .iter()
            .map(|(run, node)| Reservation {
                run: queued[*run as usize].id,
                node: ids[*node as usize].clone(),
            })
            .collect();
        self.plan
    }

    /// Resolves and surveys the class of request `r`, once.
    fn ensure_class(&mut self, r: u32) {
        if self.classes[r as usize].is_none() {
            let mut class = Class::resolve(&self.round, self.registry, &mut self.regexes, r);
            class.survey = Some(class.survey(&self.round, self.registry, &self.state));
            self.classes[r as usize] = Some(class);
        }
    }

    /// The class of request `r`, once ensured.
    pub(crate) fn class(&self, r: u32) -> &Class {
        self.classes[r as usize].as_ref().expect("resolved")
    }

    /// Holds again the capacity that the previous plan reserved, where it still may.
    fn restore_reservations(&mut self) {
        let snapshot = self.round.snapshot;
        if snapshot.reservations.is_empty() {
            return;
        }
        let by_id: FxMap<RunId, u32> = snapshot
            .queued
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id, i as u32))
            .collect();
        for reservation in &snapshot.reservations {
            let (Some(&run), Some(&node)) = (
                by_id.get(&reservation.run),
                self.round.nodes.index.get(reservation.node.0.as_str()),
            ) else {
                continue;
            };
            let r = self.round.queued_request[run as usize];
            self.ensure_class(r);
            let class = self.class(r);
            let survey = class.survey.as_ref().expect("surveyed");
            let usable = survey.rejection.is_none() && survey.is_eligible(node);
            if usable
                && self.state.holder[node as usize] == NONE
                && self.holds.iter().all(|(held, _)| *held != run)
                && self.holds.len() < self.params.max_reservations
            {
                let demand = class.demand.clone();
                self.state.hold(node, run, &demand);
                self.holds.push((run, node));
            }
        }
    }

    fn examine(&mut self, run: u32) {
        let r = self.round.queued_request[run as usize];
        self.ensure_class(r);
        let class = self.class(r);
        let survey = class.survey.as_ref().expect("surveyed");
        if let Some(reason) = class.over_quota(&self.round).or(survey.rejection.clone()) {
            let tallies = survey.tallies.clone();
            self.release_hold(run);
            self.finish(run, Compact::Rejected(reason.clone()), tallies);
            self.plan.rejections.push(Rejection {
                run: self.round.snapshot.queued[run as usize].id,
                reason,
            });
            return;
        }
        if let Some(wait) = self.quota_wait(r) {
            let tallies = self.survey_tallies(r);
            self.wait(run, r, Arc::new(wait), tallies);
            return;
        }
        if let Some(&(_, node)) = self.holds.iter().find(|(held, _)| *held == run) {
            let class = self.class(r);
            if self.view().evaluate(class, node, run).is_some() {
                let found = Found {
                    node,
                    examined: 1,
                    feasible: 1,
                };
                self.searches[r as usize].top.clear();
                self.place(run, r, found, Vec::new());
                return;
            }
        }
        let class = self.classes[r as usize].as_ref().expect("resolved");
        let view = View {
            round: &self.round,
            registry: self.registry,
            state: &self.state,
        };
        let top_k = self.params.explain_top;
        let search = &mut self.searches[r as usize];
        if let Some(found) = search.find(view, class, self.params.sampling, top_k) {
            self.place(run, r, found, Vec::new());
            return;
        }
        if let Some((node, victims)) = self.preempt(r) {
            self.searches[r as usize].top.clear();
            let found = Found {
                node,
                examined: 1,
                feasible: 1,
            };
            self.place(run, r, found, victims);
            return;
        }
        let (wait, tallies) = self.failure(r);
        self.wait(run, r, wait, tallies);
    }

    fn survey_tallies(&self, r: u32) -> Arc<[FilterTally]> {
        let class = self.class(r);
        class.survey.as_ref().expect("surveyed").tallies.clone()
    }

    /// Why a class's runs cannot be placed now, worked out once per epoch.
    fn failure(&mut self, r: u32) -> (Arc<Wait>, Arc<[FilterTally]>) {
        let epoch = self.state.epoch;
        if let Some(f) = &self.failures[r as usize]
            && f.epoch == epoch
        {
            return (f.wait.clone(), f.tallies.clone());
        }
        let class = self.class(r);
        let (wait, tallies) = diagnose(self.view(), class);
        let (wait, tallies): (Arc<Wait>, Arc<[FilterTally]>) = (Arc::new(wait), tallies.into());
        self.failures[r as usize] = Some(Failure {
            epoch,
            wait: wait.clone(),
            tallies: tallies.clone(),
        });
        (wait, tallies)
    }

    /// The queue's quota, if the run would take the queue over it.
    fn quota_wait(&self, r: u32) -> Option<Wait> {
        let class = self.class(r);
        let quota = self.round.queues.quota[class.queue as usize].as_ref()?;
        let usage = self.state.usage(class.queue);
        let dim = (0..class.demand.len()).find(|d| usage[*d] + class.demand[*d] > quota[*d])?;
        let dims = &self.round.dims;
        Some(Wait::OverQuota {
            queue: self.round.queues.names[class.queue as usize].to_string(),
            resource: dims.name(dim).to_string(),
            need: dims.readable(dim, class.demand[dim]),
            used: dims.readable(dim, usage[dim]),
            quota: dims.readable(dim, quota[dim]),
        })
    }

    /// The index of `node`'s name in the plan's explanations.
    fn name(&mut self, node: u32) -> u32 {
        let name = &mut self.names[node as usize];
        if *name == NONE {
            *name = self
                .plan
                .explanations
                .name(self.round.nodes.ids[node as usize]);
        }
        *name
    }

    fn place(&mut self, run: u32, r: u32, found: Found, victims: Vec<u32>) {
        let run_id = self.round.snapshot.queued[run as usize].id;
        let node_id = self.round.nodes.ids[found.node as usize];
        let name = self.name(found.node);
        let outcome = if victims.is_empty() {
            Compact::Placed(name)
        } else {
            let ids = victims
                .iter()
                .map(|v| self.round.snapshot.running[*v as usize].id)
                .collect();
            Compact::Preempting(name, ids)
        };
        let tallies = self.survey_tallies(r);
        let counts = (found.examined, found.feasible);
        self.plan
            .explanations
            .push(run_id, outcome, tallies, counts);
        self.explain_candidates(r);
        for victim in &victims {
            self.state.evict(&self.round, *victim);
            self.plan.preemptions.push(Preemption {
                victim: self.round.snapshot.running[*victim as usize].id,
                node: node_id.clone(),
                for_run: run_id,
            });
        }
        self.release_hold_elsewhere(run, found.node);
        let class = self.classes[r as usize].as_ref().expect("resolved");
        self.state.place(
            &self.round,
            (class.app, class.queue),
            run,
            &class.demand,
            found.node,
        );
        self.plan.placements.push(Placement {
            run: run_id,
            node: node_id.clone(),
        });
    }

    /// The last search's best candidates, with each scorer's score, before the placement
    /// changes them.
    fn explain_candidates(&mut self, r: u32) {
        let top = std::mem::take(&mut self.searches[r as usize].top);
        let mut scores = std::mem::take(&mut self.scores);
        for (key, node) in &top {
            let name = self.name(*node);
            let class = self.class(r);
            scores.clear();
            self.view().breakdown(class, *node, &mut scores);
            self.plan
                .explanations
                .candidate(name, (key >> 32) as u32, &scores);
        }
        self.scores = scores;
        self.searches[r as usize].top = top;
    }

    /// The run waits: it keeps its reservation, or gets one when it has waited too long.
    fn wait(&mut self, run: u32, r: u32, wait: Arc<Wait>, tallies: Arc<[FilterTally]>) {
        let held = self.holds.iter().find(|(h, _)| *h == run).map(|(_, n)| *n);
        let node = held.or_else(|| self.reserve(run, r, &wait));
        let outcome = match node {
            Some(node) => Compact::Reserved(self.name(node), wait),
            None => Compact::Waiting(wait),
        };
        self.finish(run, outcome, tallies);
    }

    fn finish(&mut self, run: u32, outcome: Compact, filters: Arc<[FilterTally]>) {
        let run = self.round.snapshot.queued[run as usize].id;
        self.plan.explanations.push(run, outcome, filters, (0, 0));
    }

    /// A reservation for a run that waited too long for capacity: on the eligible node
    /// closest to fitting it (the smallest shortfall relative to the node's size) that no
    /// other run holds.
    fn reserve(&mut self, run: u32, r: u32, wait: &Wait) -> Option<u32> {
        let after = self.params.reserve_after?;
        let queued = &self.round.snapshot.queued[run as usize];
        let waited = self.params.now.duration_since(queued.queued_at);
        if waited < after
            || !matches!(wait, Wait::NoCapacity { .. })
            || self.holds.len() >= self.params.max_reservations
        {
            return None;
        }
        let class = self.class(r);
        let survey = class.survey.as_ref().expect("surveyed");
        let resources = self.registry.filter_index("resources");
        let view = self.view();
        let mut best: Option<(i64, u32)> = None;
        for &node in &survey.eligible {
            if self.state.holder[node as usize] != NONE
                || !self.passes_all_but(view, class, node, resources)
            {
                continue;
            }
            let capacity = self.round.nodes.capacity(node);
            let shortfall = (0..class.demand.len())
                .filter(|d| capacity[*d] > 0)
                .map(|d| {
                    let short = class.demand[d] - self.state.available(node, NONE, d).max(0);
                    short.max(0).saturating_mul(1000) / capacity[d]
                })
                .max()
                .unwrap_or(0);
            if best.is_none_or(|(s, _)| shortfall < s) {
                best = Some((shortfall, node));
            }
        }
        let (_, node) = best?;
        let demand = class.demand.clone();
        self.state.hold(node, run, &demand);
        self.holds.push((run, node));
        Some(node)
    }

    /// Whether every dynamic filter but `skip` accepts `node` for `class`.
    pub(crate) fn passes_all_but(
        &self,
        view: View<'_>,
        class: &Class,
        node: u32,
        skip: Option<usize>,
    ) -> bool {
        let at = crate::plugin::At {
            round: view.round,
            state: view.state,
            class,
            node,
            run: NONE,
        };
        class
            .dynamic_filters
            .iter()
            .filter(|f| Some(**f) != skip)
            .all(|f| self.registry.filters[*f].check_dynamic(&at) == crate::plugin::Verdict::Fit)
    }

    fn release_hold(&mut self, run: u32) {
        if let Some(at) = self.holds.iter().position(|(h, _)| *h == run) {
            let (_, node) = self.holds.remove(at);
            self.state.release(node);
        }
    }

    /// A run placed somewhere else than its reservation gives the reservation up.
    fn release_hold_elsewhere(&mut self, run: u32, node: u32) {
        if let Some(at) = self.holds.iter().position(|(h, _)| *h == run) {
            let (_, held) = self.holds.remove(at);
            if held != node {
                self.state.release(held);
            }
        }
    }

    pub(crate) fn registry(&self) -> &Registry {
        self.registry
    }
}
