//! Nodes: registered by their agents, drained by hand, declared down when they stop
//! answering (their running runs then end `lost` and follow their retry policy).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use rota_model::{Ending, ExitReason, NodeId, RunId};
use rota_sched::{NodeState, Resources};

use super::{Applied, Ended, State};
use crate::refusal::Refusal;

/// A node as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeEntry {
    /// What it offers in all.
    pub capacity: Resources,
    /// Attributes that constraints match (`rack=r1`).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The queues it serves (Cosmos' `server.labels`); empty for all.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Whether it takes new runs.
    pub state: NodeState,
    /// When it last registered.
    pub registered_at: Timestamp,
}

impl NodeEntry {
    /// Whether it serves `queue`.
    pub fn serves(&self, queue: &str) -> bool {
        self.labels.is_empty() || self.labels.iter().any(|l| l == queue)
    }
}

impl State {
    /// Every node, by id.
    pub fn nodes(&self) -> impl Iterator<Item = (&String, &NodeEntry)> {
        self.nodes.iter()
    }

    /// One node.
    pub fn node(&self, node: &NodeId) -> Option<&NodeEntry> {
        self.nodes.get(&node.0)
    }

    pub(super) fn register_node(
        &mut self,
        node: &NodeId,
        capacity: &Resources,
        attributes: &BTreeMap<String, String>,
        labels: &[String],
        at: Timestamp,
    ) -> Result<(), Refusal> {
        rota_model::ids::validate_name("node", &node.0).map_err(|e| Refusal::BadNode {
            node: node.0.clone(),
            problem: e.to_string(),
        })?;
        if !(capacity.cores > 0.0 && capacity.cores.is_finite()) || capacity.mems <= 0 {
            return Err(Refusal::BadNode {
                node: node.0.clone(),
                problem: "its cores and mems must be greater than 0".into(),
            });
        }
        let state = match self.nodes.get(&node.0).map(|n| n.state) {
            Some(NodeState::Draining) => NodeState::Draining,
            _ => NodeState::Ready,
        };
        self.nodes.insert(
            node.0.clone(),
            NodeEntry {
                capacity: capacity.clone(),
                attributes: attributes.clone(),
                labels: labels.to_vec(),
                state,
                registered_at: at,
            },
        );
        self.scheduling_changed();
        self.node_changed(node);
        Ok(())
    }

    pub(super) fn set_node_state(
        &mut self,
        node: &NodeId,
        state: NodeState,
        at: Timestamp,
        applied: &mut Applied,
    ) -> Result<(), Refusal> {
        let entry = self
            .nodes
            .get_mut(&node.0)
            .ok_or_else(|| Refusal::NodeNotFound(node.clone()))?;
        entry.state = state;
        self.scheduling_changed();
        self.node_changed(node);
        if state == NodeState::Down {
            let lost: Vec<(RunId, u32)> =
                self.running_on(node).map(|r| (r.id, r.attempts)).collect();
            let reason = format!("node {node} stopped answering");
            for (id, attempt) in lost {
                self.finish(
                    id,
                    attempt,
                    Ended {
                        ending: Ending::Lost,
                        exit_reason: Some(ExitReason::Lost),
                        exit_code: None,
                        usage: Default::default(),
                        reason: &reason,
                    },
                    at,
                    applied,
                )?;
            }
        }
        Ok(())
    }
}
