//! The two plugin traits, what a plugin sees of a node and a run, and the registry that
//! assembles them by name (the Kubernetes scheduler framework's shape).
//!
//! Contract, which the core's incremental search relies on:
//! - a filter's [`Filter::check_static`] answers from the node and the run only (never from
//!   runs placed in this plan); [`Filter::check_dynamic`] may also read the node's free
//!   capacity and the runs on it, and may turn from fit to unfit for other nodes as runs are
//!   placed, never from unfit to fit;
//! - a scorer's score of a node depends on the run and that node's own state only.

use rota_model::NodeId;

use crate::class::Class;
use crate::filters::{ConstraintFilter, NodeReady, ResourcesFilter};
use crate::round::Round;
use crate::scorers::{Affinity, Balanced, Binpack, Spread};
use crate::snapshot::{NodeState, Request};
use crate::state::Placing;

/// A filter's answer for one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The node may take the run.
    Fit,
    /// Not now.
    Unfit(Reason),
    /// Never, whatever else happens on the cluster (the run is rejected when every node
    /// answers this).
    Never(Reason),
}

/// Why a filter refused a node. Cheap to make; turned into words only for explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The node is draining or down.
    NotReady(NodeState),
    /// The node has too little of resource `dim` free now (internal units).
    Short {
        /// The resource's index.
        dim: usize,
        /// What the run needs.
        need: i64,
        /// What is free for it.
        free: i64,
    },
    /// The node has too little of resource `dim` in all.
    TooSmall {
        /// The resource's index.
        dim: usize,
        /// What the run needs.
        need: i64,
        /// What the node has in all.
        capacity: i64,
    },
    /// The node's attributes do not meet the run's constraint at this index.
    Constraint(usize),
    /// The node would break the run's UNIQUE or GROUP_BY constraint at this index now.
    Spread(usize),
    /// A plugin's own reason.
    Other(&'static str),
}

/// What a plugin sees: one node, one run, and the plan so far.
pub struct At<'a> {
    pub(crate) round: &'a Round<'a>,
    pub(crate) state: &'a Placing,
    pub(crate) class: &'a Class,
    pub(crate) node: u32,
    /// The queued run asking, when one does (its own reservation is free for it).
    pub(crate) run: u32,
}

impl At<'_> {
    /// The node's id.
    pub fn node(&self) -> &NodeId {
        self.round.nodes.ids[self.node as usize]
    }

    /// Whether the node takes new runs.
    pub fn node_state(&self) -> NodeState {
        self.round.nodes.state[self.node as usize]
    }

    /// The node's attribute `key` (`hostname` is its id unless it names another).
    pub fn attribute(&self, key: &str) -> Option<&str> {
        let attr = self.round.attrs.key(key)?;
        self.round.attrs.value(attr, self.node)
    }

    /// The run's request.
    pub fn request(&self) -> &Request {
        self.round.requests[self.class.request as usize]
    }

    /// How many resources there are this round: cores, mems, then extended ones.
    pub fn dims(&self) -> usize {
        self.round.dims.len()
    }

    /// The name of resource `dim`.
    pub fn dim_name(&self, dim: usize) -> &str {
        self.round.dims.name(dim)
    }

    /// What the run needs of each resource (cores in thousandths, mems in MB, units).
    #[inline]
    pub fn demand(&self) -> &[i64] {
        &self.class.demand
    }

    /// What the node has in all, in the units of [`At::demand`].
    #[inline]
    pub fn capacity(&self) -> &[i64] {
        self.state.capacity(self.node)
    }

    /// What is free on the node now, in the units of [`At::demand`].
    #[inline]
    pub fn free(&self) -> &[i64] {
        self.state.free(self.node)
    }

    /// What the run may take of resource `dim`: free, less capacity reserved for others.
    #[inline]
    pub fn available(&self, dim: usize) -> i64 {
        self.state.available(self.node, self.run, dim)
    }

    /// How many runs of the run's app are on the node now.
    #[inline]
    pub fn app_runs_here(&self) -> u32 {
        self.state.app_runs_on(self.class.app, self.node)
    }
}

/// Decides whether a node may take a run.
pub trait Filter: Send + Sync {
    /// Its name in placement profiles.
    fn name(&self) -> &'static str;

    /// The answer from what does not change while a plan is made (the node's state,
    /// capacity and attributes); asked once per request and node each plan.
    fn check_static(&self, at: &At<'_>) -> Verdict;

    /// Whether [`Filter::check_dynamic`] must be asked for runs of this request.
    fn is_dynamic(&self, _request: &Request) -> bool {
        false
    }

    /// The answer now, as runs are placed (free capacity, other runs); asked for each node
    /// a placement examines.
    fn check_dynamic(&self, _at: &At<'_>) -> Verdict {
        Verdict::Fit
    }

    /// Moves the nodes [`Filter::check_dynamic`] accepts to the front of `nodes`, in order,
    /// and returns how many: one call per chunk of nodes rather than one per node.
    fn retain_dynamic(&self, at: &mut At<'_>, nodes: &mut [u32]) -> usize {
        let mut kept = 0;
        for i in 0..nodes.len() {
            at.node = nodes[i];
            if self.check_dynamic(at) == Verdict::Fit {
                nodes[kept] = nodes[i];
                kept += 1;
            }
        }
        kept
    }
}

/// Ranks the nodes that may take a run.
pub trait Scorer: Send + Sync {
    /// Its name in placement profiles.
    fn name(&self) -> &'static str;

    /// Whether the score depends only on the request and the node's attributes, so that
    /// it is computed once per request and node each plan.
    fn is_static(&self) -> bool {
        false
    }

    /// The node's score for the run, from 0 (worst) to 100 (best), as if the run were
    /// placed there. Larger values are taken as 100.
    fn score(&self, at: &At<'_>) -> u32;

    /// Adds `weight` times the score of each of `nodes` to `totals`: one call per chunk of
    /// nodes rather than one per node.
    fn score_many(&self, at: &mut At<'_>, nodes: &[u32], weight: u32, totals: &mut [u32]) {
        for (node, total) in nodes.iter().zip(totals.iter_mut()) {
            at.node = *node;
            *total += weight * self.score(at).min(100);
        }
    }
}

/// The plugins a scheduler may use, by name.
pub struct Registry {
    pub(crate) filters: Vec<Box<dyn Filter>>,
    pub(crate) scorers: Vec<Box<dyn Scorer>>,
}

/// The filters that apply whatever a profile names.
pub(crate) const MANDATORY: [&str; 2] = ["node-ready", "resources"];

impl Registry {
    /// The built-in plugins: filters `node-ready`, `resources`, `constraint`; scorers
    /// `binpack`, `spread`, `balanced`, `affinity`.
    pub fn builtin() -> Self {
        let mut registry = Registry {
            filters: Vec::new(),
            scorers: Vec::new(),
        };
        registry
            .register_filter(NodeReady)
            .register_filter(ResourcesFilter)
            .register_filter(ConstraintFilter)
            .register_scorer(Binpack)
            .register_scorer(Spread)
            .register_scorer(Balanced)
            .register_scorer(Affinity);
        registry
    }

    /// Adds a filter, or replaces the one of the same name.
    pub fn register_filter(&mut self, filter: impl Filter + 'static) -> &mut Self {
        self.filters.retain(|f| f.name() != filter.name());
        self.filters.push(Box::new(filter));
        self
    }

    /// Adds a scorer, or replaces the one of the same name.
    pub fn register_scorer(&mut self, scorer: impl Scorer + 'static) -> &mut Self {
        self.scorers.retain(|s| s.name() != scorer.name());
        self.scorers.push(Box::new(scorer));
        self
    }

    /// The filters' names.
    pub fn filter_names(&self) -> Vec<&'static str> {
        self.filters.iter().map(|f| f.name()).collect()
    }

    /// The scorers' names.
    pub fn scorer_names(&self) -> Vec<&'static str> {
        self.scorers.iter().map(|s| s.name()).collect()
    }

    pub(crate) fn filter_index(&self, name: &str) -> Option<usize> {
        self.filters.iter().position(|f| f.name() == name)
    }

    pub(crate) fn scorer_index(&self, name: &str) -> Option<usize> {
        self.scorers.iter().position(|s| s.name() == name)
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::builtin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rota_model::placement;

    #[test]
    fn the_models_plugin_names_are_the_registrys() {
        let registry = Registry::builtin();
        assert_eq!(registry.filter_names(), placement::FILTERS);
        assert_eq!(registry.scorer_names(), placement::SCORERS);
        assert_eq!(MANDATORY, placement::MANDATORY_FILTERS);
    }
}
