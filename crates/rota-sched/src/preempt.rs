//! Preemption, opt-in per queue: a run of a queue below its guaranteed minimum that fits
//! nowhere may evict runs of queues above their share.
//!
//! A victim's queue must stay at or above its own guarantee without it, and keep a larger
//! weighted share than the preempting queue will have once the run starts (so that
//! preemption never makes the cluster less fair). On each eligible node the victims are taken
//! lowest priority first (largest number), newest first among equals, until the run fits.
//! Of the nodes where it can fit, the one whose most important victim is least important
//! wins, then the one with the fewest victims, then the plan's node order.

use crate::planner::Planner;

/// How bad evicting a node's victims is, smaller first: the negated priority number of the
/// most important victim, the number of victims, the node's place in the plan's order.
type Cost = (i64, usize, u32);
use crate::round::NONE;

impl Planner<'_> {
    /// The node and the running runs to evict there so that a run of request `r` fits, when
    /// its queue may preempt.
    pub(crate) fn preempt(&mut self, r: u32) -> Option<(u32, Vec<u32>)> {
        let class = self.class(r);
        let q = class.queue;
        let round = &self.round;
        if !round.queues.preemption[q as usize]
            || !round.below_guarantee(q, self.state.usage(q))
            || self.preempt_failed[r as usize] == Some(self.state.epoch)
        {
            return None;
        }
        let d = round.dims.len();
        let after: Vec<i64> = self
            .state
            .usage(q)
            .iter()
            .zip(&class.demand)
            .map(|(u, n)| u + n)
            .collect();
        let share_after = round.share(q, &after);
        let resources = self.registry().filter_index("resources");
        let view = self.view();
        let survey = class.survey.as_ref().expect("surveyed");
        let running = &round.snapshot.running;
        let mut best: Option<(Cost, u32, Vec<u32>)> = None;
        let mut usage = Vec::new();
        let mut victims = Vec::new();
        for &node in &survey.eligible {
            if !self.passes_all_but(view, class, node, resources) {
                continue;
            }
            let mut need: Vec<i64> = (0..d)
                .map(|dim| class.demand[dim] - self.state.available(node, NONE, dim))
                .collect();
            if need.iter().all(|n| *n <= 0) {
                continue;
            }
            let mut candidates: Vec<u32> = round
                .running
                .on(node)
                .iter()
                .copied()
                .filter(|v| !self.state.evicted[*v as usize])
                .filter(|v| round.apps.queue[round.running.app[*v as usize] as usize] != q)
                .collect();
            candidates.sort_by_key(|v| {
                let run = &running[*v as usize];
                (std::cmp::Reverse(run.priority), std::cmp::Reverse(run.id))
            });
            usage.clear();
            usage.extend_from_slice(&self.state.usage);
            victims.clear();
            for v in candidates {
                let p = round.apps.queue[round.running.app[v as usize] as usize];
                let demand = &round.running.demand[v as usize * d..][..d];
                let usage_p = &mut usage[p as usize * d..][..d];
                let without: Vec<i64> = usage_p.iter().zip(demand).map(|(u, x)| u - x).collect();
                if round.share(p, usage_p) <= share_after || round.below_guarantee(p, &without) {
                    continue;
                }
                usage_p.copy_from_slice(&without);
                victims.push(v);
                for (n, x) in need.iter_mut().zip(demand) {
                    *n -= x;
                }
                if need.iter().all(|n| *n <= 0) {
                    break;
                }
            }
            if need.iter().any(|n| *n > 0) {
                continue;
            }
            let most_important = victims
                .iter()
                .map(|v| running[*v as usize].priority)
                .min()
                .unwrap_or(i32::MAX);
            let cost = (-i64::from(most_important), victims.len(), node);
            if best.as_ref().is_none_or(|(c, _, _)| cost < *c) {
                best = Some((cost, node, victims.clone()));
            }
        }
        match best {
            Some((_, node, victims)) => Some((node, victims)),
            None => {
                self.preempt_failed[r as usize] = Some(self.state.epoch);
                None
            }
        }
    }
}
