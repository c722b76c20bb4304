//! The protocol between the servers and the node agents (`/v1/agents/...`).
//!
//! Level-triggered, as a kubelet's: the agent long-polls for the whole set of runs the
//! store has placed on its node, starts the attempts it does not run yet, stops those marked
//! for a kill or no longer placed there, and reports what happens. A lost message or a
//! restart of either side is repaired by the next poll.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::exit::{ExitReason, Limits, Usage};
use crate::ids::{NodeId, RunId};
use crate::record::{Ending, ProcessRef};
use crate::spec::AppSpec;

/// What a node offers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeCapacity {
    /// CPU cores.
    pub cores: f64,
    /// Memory, MB.
    pub mems: i64,
    /// Extended resources by name (`gpu`, Cosmos' `disk.space`, `net.flow`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extended: BTreeMap<String, u64>,
}

/// `POST /v1/agents/register`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// The node's name.
    pub node: NodeId,
    /// What it offers.
    pub capacity: NodeCapacity,
    /// Its attributes (`rack=r1`).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The queues it serves (Cosmos' `server.labels`); empty for all.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// The answer to a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    /// How often the agent must poll, at least, to count as alive (milliseconds).
    pub heartbeat_ms: u64,
}

/// `POST /v1/agents/{node}/poll`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Poll {
    /// The version of the last answer the agent acted on (0 at first).
    pub since: u64,
    /// How long the server may hold the request when nothing changed (milliseconds).
    pub wait_ms: u64,
    /// The attempts the agent has taken on, as (run, attempt): their work comes without its
    /// spec, which the agent already has (a node holding hundreds of runs would otherwise be
    /// sent every spec again on every poll).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub known: Vec<(RunId, u32)>,
}

/// One attempt placed on the node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Work {
    /// The run.
    pub run: RunId,
    /// Which attempt.
    pub attempt: u32,
    /// The spec it runs with (its version's, with its call params); left out for an attempt
    /// the poll listed as `known`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<AppSpec>,
    /// Its schedule time.
    pub schedule_time: Timestamp,
    /// Stop it.
    pub kill: bool,
    /// Its process, if the node reported it started: after an agent restart, such a run is
    /// reconciled rather than started again.
    pub process: Option<ProcessRef>,
}

/// The answer to a poll: everything placed on the node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignments {
    /// Send it back as `since`.
    pub version: u64,
    /// The node was declared down (or is not registered): register again.
    pub register: bool,
    /// The attempts placed on the node.
    pub work: Vec<Work>,
}

/// What an agent tells the server about an attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    rename_all = "snake_case",
    tag = "kind",
    try_from = "crate::agent_wire::WireReport"
)]
pub enum AgentReport {
    /// The attempt started.
    Started {
        /// The run.
        run: RunId,
        /// Which attempt.
        attempt: u32,
        /// Its process.
        process: ProcessRef,
        /// Its container, for a Docker app.
        container: Option<String>,
        /// Whether its limits are enforced.
        limits: Limits,
        /// When.
        at: Timestamp,
    },
    /// The attempt ended.
    Finished {
        /// The run.
        run: RunId,
        /// Which attempt.
        attempt: u32,
        /// How.
        ending: Ending,
        /// Why, in more detail.
        exit_reason: ExitReason,
        /// Its exit code.
        exit_code: Option<i32>,
        /// Why, for people.
        reason: String,
        /// What it used.
        usage: Usage,
        /// When.
        at: Timestamp,
    },
}

/// A node as `rota nodes` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeView {
    /// Its name.
    pub node: NodeId,
    /// `ready`, `draining` or `down`.
    pub state: String,
    /// What it offers.
    pub capacity: NodeCapacity,
    /// What its running runs use.
    pub used: NodeCapacity,
    /// Runs running on it.
    pub running: u64,
    /// Its attributes.
    pub attributes: BTreeMap<String, String>,
    /// The queues it serves; empty for all.
    pub labels: Vec<String>,
    /// Seconds since its agent was last heard from (none for the server's own node).
    pub last_seen_seconds: Option<f64>,
}
