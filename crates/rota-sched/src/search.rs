//! Finding the best node for a run of a class (see [`Sampling`]).
//!
//! A class searches a **window** of nodes: its eligible nodes in the plan's shuffled order,
//! from a cursor, until `K` feasible ones were found (all of them when every node is
//! examined). The window is scored once; its best `KEEP` nodes are kept, best first, with a
//! bound that every other node of the window scores at most. A placement changes only the
//! nodes in the change log (the plugin contract), so the next search of the class rescores
//! just the window's nodes that changed, re-inserts those above the bound, and takes the
//! head: the node a full scan of the window would pick. When the kept nodes run out, or (for
//! a sample) the head scores less than the window's best did when it was taken, the class
//! moves on to the next window; when capacity grew (an eviction) or a GROUP_BY constraint may
//! have opened nodes, it takes a new window at once. With every node examined, the window is
//! the whole cluster and the choice is the cluster's best node.
//!
//! Keys order candidates: the weighted score in the high half, the inverse of the node's
//! index (its place in the plan's shuffled order) in the low half, so ties go to the node
//! the seed put first.

use crate::class::{Class, describe};
use crate::explain::{EXAMPLES, FilterTally, ScorerScore, Wait};
use crate::params::Sampling;
use crate::plugin::{At, Registry, Verdict};
use crate::round::{NONE, Round};
use crate::state::Placing;

/// How many best candidates the incremental mode keeps per class.
const KEEP: usize = 64;

/// How many nodes are filtered, then scored, at a time.
const CHUNK: usize = 32;

/// The smallest chunk the sampled mode takes, however few feasible nodes it still wants.
const MIN_CHUNK: usize = 8;

/// What a search sees: the round, the plugins, the plan so far.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub(crate) round: &'a Round<'a>,
    pub(crate) registry: &'a Registry,
    pub(crate) state: &'a Placing,
}

impl View<'_> {
    /// The candidate key of `node` for a run of `class` (the run `run` when it asks for its
    /// own reservation), or `None` when a dynamic filter refuses it.
    pub(crate) fn evaluate(&self, class: &Class, node: u32, run: u32) -> Option<u64> {
        self.passes(class, node, run)
            .then(|| self.key(class, node, run))
    }

    /// Keeps at the front of `nodes` those every dynamic filter accepts, with their keys in
    /// `keys`, and returns how many.
    fn evaluate_chunk(&self, class: &Class, nodes: &mut [u32], keys: &mut [u64]) -> usize {
        let mut at = At {
            round: self.round,
            state: self.state,
            class,
            node: NONE,
            run: NONE,
        };
        let mut kept = nodes.len();
        for f in &class.dynamic_filters {
            kept = self.registry.filters[*f].retain_dynamic(&mut at, &mut nodes[..kept]);
        }
        let nodes = &nodes[..kept];
        let mut totals = [0u32; CHUNK];
        let totals = &mut totals[..kept];
        let survey = class.survey.as_ref().expect("surveyed before searching");
        if !survey.static_score.is_empty() {
            for (total, node) in totals.iter_mut().zip(nodes) {
                *total = survey.static_score[*node as usize];
            }
        }
        for (s, weight) in &class.dynamic_scorers {
            self.registry.scorers[*s].score_many(&mut at, nodes, *weight, totals);
        }
        for ((k, total), node) in keys.iter_mut().zip(totals.iter()).zip(nodes) {
            *k = key(*total, *node);
        }
        kept
    }

    /// Whether every dynamic filter accepts `node`.
    fn passes(&self, class: &Class, node: u32, run: u32) -> bool {
        let at = At {
            round: self.round,
            state: self.state,
            class,
            node,
            run,
        };
        class
            .dynamic_filters
            .iter()
            .all(|f| self.registry.filters[*f].check_dynamic(&at) == Verdict::Fit)
    }

    /// The candidate key of a node the filters accept.
    fn key(&self, class: &Class, node: u32, run: u32) -> u64 {
        let at = At {
            round: self.round,
            state: self.state,
            class,
            node,
            run,
        };
        let survey = class.survey.as_ref().expect("surveyed before searching");
        let mut total = survey.static_score.get(node as usize).copied().unwrap_or(0);
        for (s, weight) in &class.dynamic_scorers {
            total += weight * self.registry.scorers[*s].score(&at).min(100);
        }
        key(total, node)
    }

    /// Each scorer's score of `node` for a run of `class`, into `out`.
    pub(crate) fn breakdown(&self, class: &Class, node: u32, out: &mut Vec<ScorerScore>) {
        let at = At {
            round: self.round,
            state: self.state,
            class,
            node,
            run: NONE,
        };
        out.extend(
            class
                .static_scorers
                .iter()
                .chain(&class.dynamic_scorers)
                .map(|(s, weight)| ScorerScore {
                    scorer: self.registry.scorers[*s].name(),
                    score: self.registry.scorers[*s].score(&at).min(100),
                    weight: *weight,
                }),
        );
    }
}

#[inline]
fn key(total: u32, node: u32) -> u64 {
    (u64::from(total) << 32) | u64::from(u32::MAX - node)
}

/// A search's result.
pub(crate) struct Found {
    pub(crate) node: u32,
    pub(crate) examined: u32,
    pub(crate) feasible: u32,
}

/// The search state of one class in one plan.
#[derive(Default)]
pub(crate) struct Search {
    /// Where the next window starts in the class's eligible nodes.
    cursor: usize,
    /// The current window's feasible nodes, as a bit per node, and as a list.
    window: Vec<u64>,
    members: Vec<u32>,
    /// The window's best nodes, best first; every other node of the window scores at most
    /// `bound` (0 when there is none).
    kept: Vec<(u64, u32)>,
    bound: u64,
    /// How much of the change log the kept nodes reflect.
    synced: usize,
    scanned: Option<ScanInfo>,
    /// The state epoch at which a search found nothing: nothing can fit until it changes.
    pub(crate) failed_at: Option<u64>,
    /// The best candidates of the last search, best first.
    pub(crate) top: Vec<(u64, u32)>,
}

#[derive(Clone, Copy)]
struct ScanInfo {
    epoch: u64,
    examined: u32,
    feasible: u32,
    /// The best weighted score in the window when it was taken.
    best: u32,
}

impl Search {
    /// The best node for a run of `class` now, or `None`; fills `self.top` with up to
    /// `top_k` candidates.
    pub(crate) fn find(
        &mut self,
        view: View<'_>,
        class: &Class,
        sampling: Sampling,
        top_k: usize,
    ) -> Option<Found> {
        if self.failed_at == Some(view.state.epoch) {
            self.top.clear();
            return None;
        }
        let eligible = class.survey.as_ref().expect("surveyed").eligible.len();
        let found = match sampling {
            Sampling::Rescan => self.rescan(view, class, top_k),
            Sampling::Every => self.incremental(view, class, eligible, false, top_k),
            sampling => self.incremental(view, class, sampling.wanted(eligible), true, top_k),
        };
        if found.is_none() {
            self.failed_at = Some(view.state.epoch);
        }
        found
    }

    /// Every eligible node, scored afresh.
    fn rescan(&mut self, view: View<'_>, class: &Class, top_k: usize) -> Option<Found> {
        let eligible = &class.survey.as_ref().expect("surveyed").eligible;
        let keep = top_k.max(1);
        self.top.clear();
        let mut feasible = 0;
        let mut chunk = [0u32; CHUNK];
        let mut keys = [0u64; CHUNK];
        for nodes in eligible.chunks(CHUNK) {
            chunk[..nodes.len()].copy_from_slice(nodes);
            let passed = view.evaluate_chunk(class, &mut chunk[..nodes.len()], &mut keys);
            feasible += passed;
            for (&key, &node) in keys[..passed].iter().zip(&chunk[..passed]) {
                if self.top.len() < keep || key > self.top[keep - 1].0 {
                    let at = self.top.partition_point(|(k, _)| *k > key);
                    self.top.insert(at, (key, node));
                    self.top.truncate(keep);
                }
            }
        }
        let node = self.top.first()?.1;
        self.top.truncate(top_k);
        Some(Found {
            node,
            examined: eligible.len() as u32,
            feasible: feasible as u32,
        })
    }

    /// The head of the window's kept nodes, brought up to date; a new window when they ran
    /// out, or, for a sample (`renew`), when the head scores less than the window's best did
    /// when it was taken: a fresh window would then likely offer better (this is what makes
    /// `spread` move on while `binpack` keeps filling the nodes it started on).
    fn incremental(
        &mut self,
        view: View<'_>,
        class: &Class,
        wanted: usize,
        renew: bool,
        top_k: usize,
    ) -> Option<Found> {
        let stale = match self.scanned {
            None => true,
            Some(info) => {
                info.epoch != view.state.epoch
                    || class.group_by
                    || view.state.changes.len() - self.synced > self.members.len() / 4 + 16
            }
        };
        if stale {
            self.next_window(view, class, wanted);
        } else {
            self.sync(view, class);
            if class.has_spread_constraints() {
                // UNIQUE turns nodes infeasible beyond the one that changed: check the head.
                while let Some(&(_, node)) = self.kept.first() {
                    if view.evaluate(class, node, NONE).is_some() {
                        break;
                    }
                    self.kept.remove(0);
                }
            }
            let best = self.scanned.map_or(0, |info| info.best);
            let worse = |(key, _): &(u64, u32)| renew && (key >> 32) < u64::from(best);
            if self.kept.first().is_none_or(worse) {
                self.next_window(view, class, wanted);
            }
        }
        let info = self.scanned.expect("scanned");
        let node = self.kept.first()?.1;
        self.top.clear();
        self.top.extend(self.kept.iter().take(top_k));
        Some(Found {
            node,
            examined: info.examined,
            feasible: info.feasible,
        })
    }

    /// Scores the class's eligible nodes from the cursor on until `wanted` feasible ones
    /// were found or every one was examined; they make the new window, whose best are kept.
    fn next_window(&mut self, view: View<'_>, class: &Class, wanted: usize) {
        let eligible = &class.survey.as_ref().expect("surveyed").eligible;
        let n = eligible.len();
        if self.window.is_empty() {
            self.window = vec![0; view.round.nodes.len().div_ceil(64)];
        }
        for node in self.members.drain(..) {
            self.window[node as usize / 64] &= !(1 << (node % 64));
        }
        self.kept.clear();
        let mut examined = 0;
        let mut i = self.cursor.min(n);
        let mut chunk = [0u32; CHUNK];
        let mut keys = [0u64; CHUNK];
        while examined < n && self.kept.len() < wanted {
            let size = (wanted - self.kept.len())
                .clamp(MIN_CHUNK, CHUNK)
                .min(n - examined);
            for slot in &mut chunk[..size] {
                if i == n {
                    i = 0;
                }
                *slot = eligible[i];
                i += 1;
            }
            examined += size;
            let passed = view.evaluate_chunk(class, &mut chunk[..size], &mut keys);
            for (&key, &node) in keys[..passed].iter().zip(&chunk[..passed]) {
                self.kept.push((key, node));
                self.members.push(node);
                self.window[node as usize / 64] |= 1 << (node % 64);
            }
        }
        self.cursor = i;
        let feasible = self.kept.len() as u32;
        self.bound = 0;
        if self.kept.len() > KEEP {
            self.kept
                .select_nth_unstable_by(KEEP - 1, |a, b| b.0.cmp(&a.0));
            self.bound = self.kept[KEEP..].iter().map(|(k, _)| *k).max().unwrap_or(0);
            self.kept.truncate(KEEP);
        }
        self.kept
            .sort_unstable_by_key(|(key, _)| std::cmp::Reverse(*key));
        self.synced = view.state.changes.len();
        self.scanned = Some(ScanInfo {
            epoch: view.state.epoch,
            examined: examined as u32,
            feasible,
            best: self.kept.first().map_or(0, |(key, _)| (key >> 32) as u32),
        });
    }

    /// Rescores the window's nodes that changed since the last search.
    fn sync(&mut self, view: View<'_>, class: &Class) {
        for &node in &view.state.changes[self.synced..] {
            if self.window[node as usize / 64] & (1 << (node % 64)) == 0 {
                continue;
            }
            if let Some(at) = self.kept.iter().position(|(_, n)| *n == node) {
                self.kept.remove(at);
            }
            if let Some(key) = view.evaluate(class, node, NONE)
                && key > self.bound
            {
                let at = self.kept.partition_point(|(k, _)| *k > key);
                self.kept.insert(at, (key, node));
            }
        }
        self.synced = view.state.changes.len();
    }
}

/// Why no node can take a run of `class` now: the dynamic filters' refusals over the
/// eligible nodes (added to the static ones), and the scarcest resource.
pub(crate) fn diagnose(view: View<'_>, class: &Class) -> (Wait, Vec<FilterTally>) {
    let round = view.round;
    let survey = class.survey.as_ref().expect("surveyed");
    let mut tallies: Vec<FilterTally> = survey.tallies.to_vec();
    if round.nodes.len() == 0 {
        return (Wait::NoNodes, tallies);
    }
    let d = round.dims.len();
    let mut best: Vec<(i64, u32)> = vec![(i64::MIN, NONE); d];
    let mut closest: Option<(i64, u32, usize)> = None;
    let mut short_everywhere = true;
    for &node in &survey.eligible {
        let at = At {
            round,
            state: view.state,
            class,
            node,
            run: NONE,
        };
        for f in &class.dynamic_filters {
            let filter = &view.registry.filters[*f];
            if let Verdict::Unfit(reason) | Verdict::Never(reason) = filter.check_dynamic(&at) {
                let tally = match tallies.iter().position(|t| t.filter == filter.name()) {
                    Some(i) => &mut tallies[i],
                    None => {
                        tallies.push(FilterTally {
                            filter: filter.name(),
                            refused: 0,
                            never: 0,
                            examples: Vec::new(),
                        });
                        tallies.last_mut().expect("just pushed")
                    }
                };
                tally.refused += 1;
                if tally.examples.len() < EXAMPLES {
                    tally
                        .examples
                        .push((at.node().clone(), describe(round, class, node, reason)));
                }
                break;
            }
        }
        // The node's tightest resource, in thousandths of the need.
        let mut tightest: Option<(i64, usize)> = None;
        for (dim, (need, best)) in class.demand.iter().zip(best.iter_mut()).enumerate() {
            let need = *need;
            if need <= 0 {
                continue;
            }
            let free = at.available(dim);
            if free > best.0 {
                *best = (free, node);
            }
            let ratio = free.max(0).saturating_mul(1000) / need;
            if tightest.is_none_or(|(r, _)| ratio < r) {
                tightest = Some((ratio, dim));
            }
        }
        if let Some((ratio, dim)) = tightest {
            short_everywhere &= ratio < 1000;
            if closest.is_none_or(|(r, _, _)| ratio > r) {
                closest = Some((ratio, node, dim));
            }
        }
    }
    let show = |dim: usize, (free, node): (i64, u32)| {
        (node != NONE).then(|| {
            (
                round.nodes.ids[node as usize].clone(),
                round.dims.readable(dim, free.max(0)),
            )
        })
    };
    let scarcest = (0..d)
        .filter(|dim| class.demand[*dim] > 0 && best[*dim].0 < class.demand[*dim])
        .min_by_key(|dim| best[*dim].0.max(0).saturating_mul(1000) / class.demand[*dim]);
    let wait = match (scarcest, closest) {
        _ if survey.eligible.is_empty() => Wait::NoNodeNow,
        (Some(dim), _) => Wait::NoCapacity {
            resource: round.dims.name(dim).to_string(),
            need: round.dims.readable(dim, class.demand[dim]),
            best: show(dim, best[dim]),
            together: false,
        },
        (None, Some((_, node, dim))) if short_everywhere => Wait::NoCapacity {
            resource: round.dims.name(dim).to_string(),
            need: round.dims.readable(dim, class.demand[dim]),
            best: show(dim, (view.state.available(node, NONE, dim), node)),
            together: true,
        },
        _ => Wait::NoNodeNow,
    };
    (wait, tallies)
}
