//! What changes while a plan is made: free and held capacity per node, usage per queue, runs
//! per app on each node and per attribute value (for `spread`, UNIQUE and GROUP_BY), and the
//! log of nodes that changed, from which the incremental search rescores only what it must.

use crate::hash::FxMap;
use crate::round::{NONE, Round};

/// The mutable state of one plan.
pub(crate) struct Placing {
    d: usize,
    /// Per node, side by side so that examining a node reads one cache line: its capacity,
    /// its free capacity, and what is available to runs other than its holder (free less
    /// held), each `d` long.
    hot: Vec<i64>,
    /// Capacity held per node for the run in `holder`.
    held: Vec<i64>,
    pub(crate) holder: Vec<u32>,
    /// Per queue, flat.
    pub(crate) usage: Vec<i64>,
    /// Per app: node → runs of the app there (a small map per app stays in cache while one
    /// app's placement scores many nodes).
    on_node: Vec<FxMap<u32, u32>>,
    /// (app, attribute, value) → runs of the app on nodes with that value, for the
    /// (app, attribute) pairs some constraint counts.
    by_value: FxMap<(u32, u16, u32), u32>,
    /// (app, attribute) → runs of the app on nodes that have the attribute.
    by_attr: FxMap<(u32, u16), u32>,
    /// Per app: the attributes counted for it.
    tracked: Vec<Vec<u16>>,
    /// Nodes whose free capacity or runs changed, in order.
    pub(crate) changes: Vec<u32>,
    /// Bumped whenever capacity may grow (an eviction): memos of failed searches lapse.
    pub(crate) epoch: u64,
    /// Per running run: evicted in this plan.
    pub(crate) evicted: Vec<bool>,
}

impl Placing {
    pub(crate) fn new(round: &Round<'_>) -> Self {
        let d = round.dims.len();
        let mut on_node = vec![FxMap::default(); round.apps.keys.len()];
        for (node, app) in round.running.node.iter().zip(&round.running.app) {
            if *node != NONE {
                *on_node[*app as usize].entry(*node).or_insert(0) += 1;
            }
        }
        let mut state = Placing {
            d,
            hot: Vec::with_capacity(round.nodes.len() * 3 * d),
            held: vec![0; round.nodes.len() * d],
            holder: vec![NONE; round.nodes.len()],
            usage: round.queues.usage.clone(),
            on_node,
            by_value: FxMap::default(),
            by_attr: FxMap::default(),
            tracked: vec![Vec::new(); round.apps.keys.len()],
            changes: Vec::new(),
            epoch: 0,
            evicted: vec![false; round.running.node.len()],
        };
        for node in 0..round.nodes.len() {
            let free = &round.nodes.free[node * d..(node + 1) * d];
            state
                .hot
                .extend_from_slice(round.nodes.capacity(node as u32));
            state.hot.extend_from_slice(free);
            state.hot.extend_from_slice(free);
        }
        state.track_constraints(round);
        state
    }

    #[inline]
    fn at(&self, node: u32) -> usize {
        node as usize * 3 * self.d
    }

    /// What `node` has in all.
    #[inline]
    pub(crate) fn capacity(&self, node: u32) -> &[i64] {
        let at = self.at(node);
        &self.hot[at..at + self.d]
    }

    /// What is free on `node`.
    #[inline]
    pub(crate) fn free(&self, node: u32) -> &[i64] {
        let at = self.at(node) + self.d;
        &self.hot[at..at + self.d]
    }

    /// What queued run `run` may take on `node`: free capacity, less what is held there for
    /// another run.
    #[inline]
    fn available_to(&self, node: u32, run: u32) -> &[i64] {
        let at = self.at(node)
            + if self.holder[node as usize] == run {
                self.d
            } else {
                2 * self.d
            };
        &self.hot[at..at + self.d]
    }

    /// What queued run `run` may take of resource `dim` on `node`.
    #[inline]
    pub(crate) fn available(&self, node: u32, run: u32, dim: usize) -> i64 {
        self.available_to(node, run)[dim]
    }

    pub(crate) fn usage(&self, q: u32) -> &[i64] {
        &self.usage[q as usize * self.d..(q as usize + 1) * self.d]
    }

    #[inline]
    pub(crate) fn app_runs_on(&self, app: u32, node: u32) -> u32 {
        self.on_node[app as usize].get(&node).copied().unwrap_or(0)
    }

    /// Whether `demand` fits in what queued run `run` may take on `node`; otherwise the
    /// first resource short, with what is available of it.
    #[inline]
    pub(crate) fn shortfall(&self, node: u32, run: u32, demand: &[i64]) -> Option<(usize, i64)> {
        let available = self.available_to(node, run);
        demand
            .iter()
            .zip(available)
            .position(|(n, a)| n > a)
            .map(|d| (d, available[d]))
    }

    /// Runs of `app` on nodes whose `attr` is `value`.
    pub(crate) fn runs_with_value(&self, app: u32, attr: u16, value: u32) -> u32 {
        self.by_value.get(&(app, attr, value)).copied().unwrap_or(0)
    }

    /// Runs of `app` on nodes that have `attr`.
    pub(crate) fn runs_with_attr(&self, app: u32, attr: u16) -> u32 {
        self.by_attr.get(&(app, attr)).copied().unwrap_or(0)
    }

    /// Counts runs per attribute value for every (app, attribute) pair that a UNIQUE or
    /// GROUP_BY constraint of a request names; before any placement, so that the counts
    /// include every run of the app whichever of its requests placed it.
    fn track_constraints(&mut self, round: &Round<'_>) {
        for request in &round.requests {
            let app = round.apps.get(&request.app).expect("interned");
            for c in &request.constraints {
                if let (false, Some(attr)) = (c.operator.is_static(), round.attrs.key(&c.attribute))
                {
                    self.track(round, app, attr);
                }
            }
        }
    }

    /// Starts counting `app`'s runs per value of `attr`, from the running runs.
    fn track(&mut self, round: &Round<'_>, app: u32, attr: u16) {
        if self.tracked[app as usize].contains(&attr) {
            return;
        }
        self.tracked[app as usize].push(attr);
        for (node, a) in round.running.node.iter().zip(&round.running.app) {
            if *a == app && *node != NONE {
                self.count(round, app, attr, *node, 1);
            }
        }
    }

    fn count(&mut self, round: &Round<'_>, app: u32, attr: u16, node: u32, delta: i32) {
        let value = round.attrs.value_id(attr, node);
        if value != NONE {
            let n = self.by_value.entry((app, attr, value)).or_insert(0);
            *n = n.saturating_add_signed(delta);
            let n = self.by_attr.entry((app, attr)).or_insert(0);
            *n = n.saturating_add_signed(delta);
        }
    }

    fn account(&mut self, round: &Round<'_>, app: u32, node: u32, delta: i32) {
        let n = self.on_node[app as usize].entry(node).or_insert(0);
        *n = n.saturating_add_signed(delta);
        for i in 0..self.tracked[app as usize].len() {
            let attr = self.tracked[app as usize][i];
            self.count(round, app, attr, node, delta);
        }
    }

    /// Places a run of `app` (queue `q`) needing `demand` on `node`, releasing what was held
    /// there for it.
    pub(crate) fn place(
        &mut self,
        round: &Round<'_>,
        (app, q): (u32, u32),
        run: u32,
        demand: &[i64],
        node: u32,
    ) {
        if self.holder[node as usize] == run {
            self.release(node);
        }
        let at = self.at(node);
        for (dim, need) in demand.iter().enumerate() {
            self.hot[at + self.d + dim] -= need;
            self.hot[at + 2 * self.d + dim] -= need;
            self.usage[q as usize * self.d + dim] += need;
        }
        self.account(round, app, node, 1);
        self.changes.push(node);
    }

    /// Evicts running run `victim`: its capacity is free again.
    pub(crate) fn evict(&mut self, round: &Round<'_>, victim: u32) {
        self.evicted[victim as usize] = true;
        let node = round.running.node[victim as usize];
        let app = round.running.app[victim as usize];
        let q = round.apps.queue[app as usize] as usize;
        let demand = &round.running.demand[victim as usize * self.d..][..self.d];
        let at = self.at(node);
        for (dim, amount) in demand.iter().enumerate() {
            self.hot[at + self.d + dim] += amount;
            self.hot[at + 2 * self.d + dim] += amount;
            self.usage[q * self.d + dim] -= amount;
        }
        self.account(round, app, node, -1);
        self.changes.push(node);
        self.epoch += 1;
    }

    /// Holds on `node`, for queued run `run`, what is free of `demand` now.
    pub(crate) fn hold(&mut self, node: u32, run: u32, demand: &[i64]) {
        let at = node as usize * self.d;
        let hot = self.at(node);
        for (dim, need) in demand.iter().enumerate() {
            let free = self.hot[hot + self.d + dim];
            self.held[at + dim] = (*need).min(free.max(0));
            self.hot[hot + 2 * self.d + dim] = free - self.held[at + dim];
        }
        self.holder[node as usize] = run;
        self.changes.push(node);
    }

    /// Gives up what is held on `node`: others may take it again.
    pub(crate) fn release(&mut self, node: u32) {
        let at = node as usize * self.d;
        self.held[at..at + self.d].fill(0);
        let hot = self.at(node);
        self.hot
            .copy_within(hot + self.d..hot + 2 * self.d, hot + 2 * self.d);
        self.holder[node as usize] = NONE;
        self.changes.push(node);
        self.epoch += 1;
    }
}
