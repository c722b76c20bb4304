//! Why a run was placed where it was, waits, or was rejected: what `rota why RUN` shows. A
//! rejection is data, not an error; explanations are bounded (a few example nodes per filter,
//! the top few candidates) so that making them costs little.

use std::fmt;
use std::sync::Arc;

use rota_model::{NodeId, RunId};

use crate::resources::show_amount;

/// The explanation of one run in one plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The run.
    pub run: RunId,
    /// What happened to it.
    pub outcome: Outcome,
    /// Nodes the filters refused, per filter: before any placement for placed runs (shared
    /// by the runs of one request), at the moment it failed for waiting runs.
    pub filters: Arc<[FilterTally]>,
    /// Nodes examined for this run's placement (0 when no search was made).
    pub examined: u32,
    /// Of those, the nodes that passed every filter.
    pub feasible: u32,
    /// The best candidates, best first, with their scores.
    pub candidates: Vec<Candidate>,
}

/// What happened to a run in a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Placed on a node.
    Placed {
        /// The node.
        node: NodeId,
    },
    /// Placed on a node once the listed runs are evicted.
    Preempting {
        /// The node.
        node: NodeId,
        /// The runs evicted for it.
        victims: Vec<RunId>,
    },
    /// Waiting, with capacity held on a node.
    Reserved {
        /// The node whose capacity is held.
        node: NodeId,
        /// Why it cannot start yet.
        wait: Wait,
    },
    /// Waiting.
    Waiting(Wait),
    /// Never placeable.
    Rejected(RejectReason),
}

/// Why a run cannot start now.
#[derive(Debug, Clone, PartialEq)]
pub enum Wait {
    /// Its queue would go over its quota.
    OverQuota {
        /// The queue.
        queue: String,
        /// The resource over quota.
        resource: String,
        /// What the run needs of it.
        need: f64,
        /// What the queue uses now.
        used: f64,
        /// The queue's quota.
        quota: f64,
    },
    /// No node has the free capacity.
    NoCapacity {
        /// The scarcest resource.
        resource: String,
        /// What the run needs of it.
        need: f64,
        /// The eligible node with the most of it free, and how much.
        best: Option<(NodeId, f64)>,
        /// Some node has enough of each resource, but none has all of them.
        together: bool,
    },
    /// Every node is refused by a filter at the moment (not ready, UNIQUE taken, …).
    NoNodeNow,
    /// The cluster has no node at all.
    NoNodes,
}

/// Why a run can never be placed.
#[derive(Debug, Clone, PartialEq)]
pub enum RejectReason {
    /// It needs more of a resource than any node has in all.
    LargerThanEveryNode {
        /// The resource.
        resource: String,
        /// What the run needs.
        need: f64,
        /// The most any node has.
        largest: f64,
    },
    /// It needs more than its queue's quota.
    LargerThanQuota {
        /// The queue.
        queue: String,
        /// The resource.
        resource: String,
        /// What the run needs.
        need: f64,
        /// The quota.
        quota: f64,
    },
    /// Every resource is on some node, but no node has all of them.
    NoNodeLargeEnough {
        /// What the run needs, in words.
        need: String,
    },
    /// No node meets its constraints (or another filter refuses every node for good).
    NoNodeMatches,
    /// The nodes that meet its constraints are all too small.
    NoMatchingNodeLargeEnough,
}

/// How many nodes one filter refused, with a few examples.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterTally {
    /// The filter.
    pub filter: &'static str,
    /// Nodes refused.
    pub refused: u32,
    /// Of those, nodes that can never take the run.
    pub never: u32,
    /// Up to three refused nodes with the reason.
    pub examples: Vec<(NodeId, String)>,
}

/// The most example nodes a tally keeps.
pub(crate) const EXAMPLES: usize = 3;

/// A candidate node and its scores.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The node.
    pub node: NodeId,
    /// The weighted sum of its scores.
    pub total: u32,
    /// Each scorer's score (0 to 100) and weight.
    pub scores: Vec<ScorerScore>,
}

/// One scorer's score of a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScorerScore {
    /// The scorer.
    pub scorer: &'static str,
    /// Its score, 0 to 100.
    pub score: u32,
    /// Its weight in the run's profile.
    pub weight: u32,
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Wait::OverQuota {
                queue,
                resource,
                need,
                used,
                quota,
            } => write!(
                f,
                "queue {queue} over its quota: needs {}, uses {} of {}",
                show_amount(resource, *need),
                show_amount(resource, *used),
                show_amount(resource, *quota)
            ),
            Wait::NoCapacity {
                resource,
                need,
                best,
                together: false,
            } => {
                write!(f, "no node has {} free", show_amount(resource, *need))?;
                match best {
                    Some((node, has)) => {
                        write!(f, "; best node {node} has {}", show_amount(resource, *has))
                    }
                    None => Ok(()),
                }
            }
            Wait::NoCapacity {
                resource,
                need,
                best,
                together: true,
            } => {
                write!(f, "no node has all it needs free at once")?;
                match best {
                    Some((node, has)) => write!(
                        f,
                        "; closest node {node} has {} of the {} it needs",
                        show_amount(resource, *has),
                        show_amount(resource, *need)
                    ),
                    None => Ok(()),
                }
            }
            Wait::NoNodeNow => f.write_str("every node is refused by a filter at the moment"),
            Wait::NoNodes => f.write_str("the cluster has no node"),
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::LargerThanEveryNode {
                resource,
                need,
                largest,
            } => write!(
                f,
                "needs {} but the largest node has {}",
                show_amount(resource, *need),
                show_amount(resource, *largest)
            ),
            RejectReason::LargerThanQuota {
                queue,
                resource,
                need,
                quota,
            } => write!(
                f,
                "needs {} but queue {queue}'s quota is {}",
                show_amount(resource, *need),
                show_amount(resource, *quota)
            ),
            RejectReason::NoNodeLargeEnough { need } => write!(f, "no node has {need} in all"),
            RejectReason::NoNodeMatches => f.write_str("no node matches its constraints"),
            RejectReason::NoMatchingNodeLargeEnough => {
                f.write_str("no node that matches its constraints is large enough")
            }
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Placed { node } => write!(f, "placed on {node}"),
            Outcome::Preempting { node, victims } => {
                let victims: Vec<String> = victims.iter().map(RunId::to_string).collect();
                write!(f, "placed on {node} after evicting {}", victims.join(", "))
            }
            Outcome::Reserved { node, wait } => {
                write!(f, "waiting with capacity reserved on {node}: {wait}")
            }
            Outcome::Waiting(wait) => write!(f, "waiting: {wait}"),
            Outcome::Rejected(reason) => write!(f, "rejected: {reason}"),
        }
    }
}

impl fmt::Display for FilterTally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} refused {} node(s)", self.filter, self.refused)?;
        if self.never > 0 {
            write!(f, " ({} for good)", self.never)?;
        }
        for (i, (node, why)) in self.examples.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{node}: {why}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} scores {}", self.node, self.total)?;
        for (i, s) in self.scores.iter().enumerate() {
            f.write_str(if i == 0 { " (" } else { ", " })?;
            write!(f, "{} {}×{}", s.scorer, s.score, s.weight)?;
        }
        if !self.scores.is_empty() {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Several lines: the outcome, the filters' refusals, the nodes examined, the candidates.
impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "run {}: {}", self.run, self.outcome)?;
        for tally in self.filters.iter() {
            write!(f, "\n  {tally}")?;
        }
        if self.examined > 0 {
            write!(
                f,
                "\n  examined {} node(s), {} feasible",
                self.examined, self.feasible
            )?;
        }
        for candidate in &self.candidates {
            write!(f, "\n  {candidate}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_as_sentences() {
        let no_cores = Wait::NoCapacity {
            resource: "cores".into(),
            need: 8.0,
            best: Some((NodeId("n3".into()), 2.0)),
            together: false,
        };
        assert_eq!(
            no_cores.to_string(),
            "no node has 8 cores free; best node n3 has 2 cores"
        );
        let quota = Wait::OverQuota {
            queue: "qa".into(),
            resource: "cores".into(),
            need: 2.0,
            used: 7.5,
            quota: 8.0,
        };
        assert_eq!(
            quota.to_string(),
            "queue qa over its quota: needs 2 cores, uses 7.5 cores of 8 cores"
        );
    }

    #[test]
    fn rejections_name_the_resource_and_the_limit() {
        let big = RejectReason::LargerThanEveryNode {
            resource: "mems".into(),
            need: 65536.0,
            largest: 16384.0,
        };
        assert_eq!(
            big.to_string(),
            "needs 65536 MB but the largest node has 16384 MB"
        );
    }
}
