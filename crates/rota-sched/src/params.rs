//! The knobs of one plan: its id (the seed), the time, how many nodes to examine, when to
//! reserve, how much to explain.

use jiff::{SignedDuration, Timestamp};

/// How many nodes a run's placement examines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// Every node that passes the run's static filters: the best node of the cluster. Each
    /// class of runs scores the nodes once, then keeps its best candidates up to date as
    /// runs are placed, rescoring only the nodes that changed: O(nodes) per class and plan
    /// plus O(changes) per run, not O(nodes) per run.
    Every,
    /// A window of the class's eligible nodes, in the plan's shuffled order from where the
    /// previous window stopped, holding `K = max(min_feasible, percent% of the eligible
    /// nodes)` feasible ones (nodes are taken in chunks of 8 to 32, so a few more may be
    /// examined); runs go to the window's best node, kept up to date as in `Every`, until the
    /// window's best nodes are used up and the next window is taken.
    ///
    /// Kubernetes stops at 5% of nodes with a floor of 100; the best of `K` feasible nodes
    /// drawn at random is in the top few percent of the cluster with high probability
    /// (`1 - (1 - p)^K` for the top fraction `p`: 99.4% for the top 5% with `K = 100`), so
    /// quality does not collapse, while a window costs O(K) whatever the cluster's size and
    /// successive windows sweep the whole cluster (so `spread` still spreads).
    Sample {
        /// The least number of feasible nodes in a window.
        min_feasible: u32,
        /// The share of eligible nodes in a window, in percent.
        percent: u32,
    },
    /// Every eligible node scored afresh for every run, with no incremental bookkeeping: the
    /// reference `Every` is tested against, and a baseline for benchmarks. O(nodes) per run.
    Rescan,
}

impl Sampling {
    /// The default bound: at least 100 feasible nodes, or 5% of the eligible ones.
    pub const DEFAULT: Sampling = Sampling::Sample {
        min_feasible: 100,
        percent: 5,
    };

    /// How many feasible nodes to find among `eligible` ones.
    pub(crate) fn wanted(self, eligible: usize) -> usize {
        match self {
            Sampling::Every | Sampling::Rescan => eligible,
            Sampling::Sample {
                min_feasible,
                percent,
            } => {
                let share = (eligible * percent as usize).div_ceil(100);
                share.max(min_feasible as usize).clamp(1, eligible.max(1))
            }
        }
    }
}

/// The knobs of one plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// The plan's id; it seeds the node shuffle, so a plan can be replayed from the logs.
    pub plan_id: u64,
    /// The time the plan is made at.
    pub now: Timestamp,
    /// How many nodes a placement examines.
    pub sampling: Sampling,
    /// A run that has waited this long for capacity gets a reservation on one node (the
    /// eligible node closest to fitting it): what is free there, up to the run's demand, is
    /// held for it, and other runs may only take the rest, so that smaller runs do not
    /// starve it. (Without run durations the core cannot tell which backfill would finish
    /// in time, so it lets none into the held capacity.) `None` never reserves.
    pub reserve_after: Option<SignedDuration>,
    /// The most reservations held at once.
    pub max_reservations: usize,
    /// How many candidate nodes each placed run's explanation keeps, with their scores.
    pub explain_top: usize,
}

impl Params {
    /// Default knobs for plan `plan_id` made at `now`: sampled placement, reservations after
    /// ten minutes of waiting (at most 16 at once), three candidates explained.
    pub fn new(plan_id: u64, now: Timestamp) -> Self {
        Params {
            plan_id,
            now,
            sampling: Sampling::DEFAULT,
            reserve_after: Some(SignedDuration::from_mins(10)),
            max_reservations: 16,
            explain_top: 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_wants_at_least_the_floor_and_at_most_every_node() {
        let sampling = Sampling::DEFAULT;
        assert_eq!(sampling.wanted(10), 10);
        assert_eq!(sampling.wanted(1000), 100);
        assert_eq!(sampling.wanted(5000), 250);
        assert_eq!(Sampling::Every.wanted(5000), 5000);
    }
}
