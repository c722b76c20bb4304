//! What the core answers: placements grouped per node for dispatch, evictions, reservations,
//! rejections, and an explanation per run examined.

use std::collections::BTreeMap;

use rota_model::{NodeId, RunId};
use serde::{Deserialize, Serialize};

use crate::explain::{Explanation, RejectReason};
use crate::explained::Explanations;

/// A plan: what to do now. The server re-checks it against fresh state
/// ([`Scheduler::recheck`](crate::Scheduler::recheck)) and commits it as one write.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// The plan's id, which seeded its node shuffle.
    pub id: u64,
    /// Runs to start, in the order they were chosen.
    pub placements: Vec<Placement>,
    /// Running runs to end as `preempted` (and re-queue) before the runs they make room for
    /// start.
    pub preemptions: Vec<Preemption>,
    /// Capacity held for runs that waited too long; pass them back in the next snapshot.
    pub reservations: Vec<Reservation>,
    /// Runs that can never be placed, with the reason.
    pub rejections: Vec<Rejection>,
    /// Why each examined run was placed where it was, waits, or was rejected.
    pub(crate) explanations: Explanations,
}

impl Plan {
    /// The placements per node, each node's runs in the order they were chosen: one dispatch
    /// per node.
    pub fn by_node(&self) -> BTreeMap<&NodeId, Vec<RunId>> {
        let mut nodes: BTreeMap<&NodeId, Vec<RunId>> = BTreeMap::new();
        for placement in &self.placements {
            nodes
                .entry(&placement.node)
                .or_default()
                .push(placement.run);
        }
        nodes
    }

    /// Why `run` was placed where it was, waits, or was rejected, when this plan examined
    /// it (every queued run of the snapshot).
    pub fn explanation(&self, run: RunId) -> Option<Explanation> {
        self.explanations
            .position(run)
            .map(|i| self.explanations.get(i))
    }

    /// Every examined run's explanation, in the order the runs were examined.
    pub fn explanations(&self) -> impl Iterator<Item = Explanation> + '_ {
        (0..self.explanations.len()).map(|i| self.explanations.get(i))
    }
}

/// A run to start on a node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Placement {
    /// The run.
    pub run: RunId,
    /// Its node.
    pub node: NodeId,
}

/// A running run to evict so that another can start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preemption {
    /// The running run to end as `preempted` and re-queue.
    pub victim: RunId,
    /// Where it runs.
    pub node: NodeId,
    /// The queued run that needs the room (placed on the same node in this plan).
    pub for_run: RunId,
}

/// Capacity held on a node for a run that waited too long: smaller runs may not take it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The waiting run.
    pub run: RunId,
    /// The node whose capacity is held for it.
    pub node: NodeId,
}

/// A run that can never be placed.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The run.
    pub run: RunId,
    /// Why (its `Display` is the sentence to record).
    pub reason: RejectReason,
}
