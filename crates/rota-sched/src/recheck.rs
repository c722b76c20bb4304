//! Re-checking a plan against fresh state before it is committed (Nomad's `plan_apply`):
//! plans are made optimistically from a snapshot; the one serialized applier keeps what
//! still fits and refuses the rest, which wait for the next plan.

use rota_model::RunId;

use crate::class::{Class, Regexes, describe};
use crate::hash::FxMap;
use crate::plan::{Placement, Plan, Preemption};
use crate::planner::Scheduler;
use crate::plugin::{At, Verdict};
use crate::round::Round;
use crate::snapshot::Snapshot;
use crate::state::Placing;

/// What of a plan still holds against fresh state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Recheck {
    /// Evictions still to make (their victims still run where the plan saw them).
    pub preemptions: Vec<Preemption>,
    /// Placements that still fit, in the plan's order.
    pub accepted: Vec<Placement>,
    /// Placements that no longer fit, with why; their runs stay queued.
    pub refused: Vec<(Placement, String)>,
}

impl Scheduler {
    /// Which of `plan`'s placements still fit in `fresh`: each is checked, in order, with
    /// every filter of its run's profile and the queue's quota, against the fresh nodes and
    /// runs plus the evictions and the placements accepted before it. Reservations are not
    /// enforced here (they are the planner's own bookkeeping).
    pub fn recheck(&self, plan: &Plan, fresh: &Snapshot) -> Recheck {
        let round = Round::new(fresh, plan.id);
        let mut state = Placing::new(&round);
        let mut regexes = Regexes::default();
        let mut classes: Vec<Option<Class>> = (0..round.requests.len()).map(|_| None).collect();
        let queued: FxMap<RunId, u32> = fresh
            .queued
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id, i as u32))
            .collect();
        let running: FxMap<RunId, u32> = fresh
            .running
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id, i as u32))
            .collect();
        let mut out = Recheck::default();
        for preemption in &plan.preemptions {
            if let Some(&v) = running.get(&preemption.victim)
                && fresh.running[v as usize].node == preemption.node
                && !state.evicted[v as usize]
            {
                state.evict(&round, v);
                out.preemptions.push(preemption.clone());
            }
        }
        for placement in &plan.placements {
            let verdict = match (
                queued.get(&placement.run),
                round.nodes.index.get(placement.node.0.as_str()),
            ) {
                (None, _) => Err("the run is no longer queued".to_string()),
                (_, None) => Err(format!("node {} is gone", placement.node)),
                (Some(&run), Some(&node)) => {
                    let r = round.queued_request[run as usize];
                    let class = classes[r as usize].get_or_insert_with(|| {
                        Class::resolve(&round, &self.registry, &mut regexes, r)
                    });
                    self.check(&round, &state, class, node, run)
                        .map(|()| (run, node, r))
                }
            };
            match verdict {
                Ok((run, node, r)) => {
                    let class = classes[r as usize].as_ref().expect("resolved");
                    state.place(&round, (class.app, class.queue), run, &class.demand, node);
                    out.accepted.push(placement.clone());
                }
                Err(why) => out.refused.push((placement.clone(), why)),
            }
        }
        out
    }

    fn check(
        &self,
        round: &Round<'_>,
        state: &Placing,
        class: &Class,
        node: u32,
        run: u32,
    ) -> Result<(), String> {
        let at = At {
            round,
            state,
            class,
            node,
            run,
        };
        let static_verdicts = class
            .filters
            .iter()
            .map(|f| (f, self.registry.filters[*f].check_static(&at)));
        let dynamic_verdicts = class
            .dynamic_filters
            .iter()
            .map(|f| (f, self.registry.filters[*f].check_dynamic(&at)));
        for (f, verdict) in static_verdicts.chain(dynamic_verdicts) {
            if let Verdict::Unfit(reason) | Verdict::Never(reason) = verdict {
                let filter = self.registry.filters[*f].name();
                return Err(format!(
                    "{filter}: {}",
                    describe(round, class, node, reason)
                ));
            }
        }
        if let Some(quota) = &round.queues.quota[class.queue as usize] {
            let usage = state.usage(class.queue);
            if let Some(dim) =
                (0..class.demand.len()).find(|d| usage[*d] + class.demand[*d] > quota[*d])
            {
                return Err(format!(
                    "queue {} would go over its quota of {}",
                    round.queues.names[class.queue as usize],
                    round.dims.show(dim, quota[dim])
                ));
            }
        }
        Ok(())
    }
}
