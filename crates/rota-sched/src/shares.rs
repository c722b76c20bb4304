//! Each queue's usage and share as the scheduler counts them, for `rota queues`.

use crate::resources::Resources;
use crate::round::Round;
use crate::snapshot::Snapshot;

/// A queue's standing in fair sharing.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueShare {
    /// The queue.
    pub name: String,
    /// Its weight.
    pub weight: u32,
    /// What its running runs use.
    pub usage: Resources,
    /// Its dominant share of the cluster (the largest of its shares of each resource over
    /// the nodes that are not down), from 0 to 1.
    pub dominant_share: f64,
    /// The resource of the dominant share.
    pub dominant_resource: String,
    /// The dominant share divided by the weight: the queue with the smallest is served first.
    pub weighted_share: f64,
    /// Whether it is below its guaranteed minimum (it is then served before the others).
    pub below_guarantee: bool,
}

/// Every queue of `snapshot` (listed or named by a run), in name order.
pub fn queue_shares(snapshot: &Snapshot) -> Vec<QueueShare> {
    let round = Round::new(snapshot, 0);
    let d = round.dims.len();
    (0..round.queues.names.len())
        .map(|q| {
            let usage = &round.queues.usage[q * d..(q + 1) * d];
            let (dim, dominant) = usage
                .iter()
                .zip(&round.total)
                .enumerate()
                .filter(|(_, (_, total))| **total > 0)
                .map(|(dim, (used, total))| (dim, *used as f64 / *total as f64))
                .fold((0, 0.0), |best, x| if x.1 > best.1 { x } else { best });
            QueueShare {
                name: round.queues.names[q].to_string(),
                weight: round.queues.weight[q],
                usage: round.dims.resources(usage),
                dominant_share: dominant,
                dominant_resource: round.dims.name(dim).to_string(),
                weighted_share: round.share(q as u32, usage),
                below_guarantee: round.below_guarantee(q as u32, usage),
            }
        })
        .collect()
}
