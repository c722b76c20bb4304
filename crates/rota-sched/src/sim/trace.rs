//! The trace format: simulated nodes, queue settings and arrivals of runs, in JSON.
//!
//! ```json
//! {
//!   "round_seconds": 1,
//!   "horizon_seconds": 600,
//!   "reserve_after_seconds": 60,
//!   "nodes": [{"id": "n", "count": 4, "cores": 8, "mems": 16384,
//!              "attributes": {"zone": "eu-1"}, "extended": {"gpu": 1}}],
//!   "queues": [{"name": "prod", "weight": 3, "guaranteed": {"cores": 8}, "preemption": true}],
//!   "arrivals": [{"at": 0, "app": "etl", "queue": "prod", "cores": 1, "mems": 512,
//!                 "duration": 30, "count": 10, "every": 5, "repeat": 100,
//!                 "priority": 0, "constraints": [["zone", "LIKE", "eu-.*"]],
//!                 "placement": {"scorers": {"spread": 1}}}]
//! }
//! ```
//!
//! Times are whole seconds from the start. A node entry with `count` n stands for n nodes
//! named `id-1` … `id-n`. An arrival brings `count` runs at `at`, and again every `every`
//! seconds, `repeat` times in all.

use std::collections::BTreeMap;

use rota_model::placement::{Constraint, ExtendedResources, PlacementProfile};
use serde::{Deserialize, Serialize};

use crate::snapshot::Queue;

/// A whole simulation input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trace {
    /// Simulated seconds between two plans.
    #[serde(default = "one")]
    pub round_seconds: u64,
    /// When the simulation stops.
    pub horizon_seconds: u64,
    /// Waiting this long gets a run a reservation; never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserve_after_seconds: Option<u64>,
    /// The nodes.
    pub nodes: Vec<TraceNode>,
    /// Queue settings; queues not listed have the defaults.
    #[serde(default)]
    pub queues: Vec<Queue>,
    /// The runs that arrive.
    pub arrivals: Vec<Arrival>,
}

/// One node, or `count` alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceNode {
    /// Its id, or the prefix of the ids of `count` nodes.
    pub id: String,
    /// How many such nodes.
    #[serde(default = "one_u32")]
    pub count: u32,
    /// Cores.
    pub cores: f64,
    /// Memory, MB.
    pub mems: i64,
    /// Extended resources.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extended: ExtendedResources,
    /// Attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// Runs of one app that arrive together, possibly again and again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arrival {
    /// Seconds from the start.
    pub at: u64,
    /// The app's name.
    pub app: String,
    /// Its queue.
    pub queue: String,
    /// Cores per run.
    pub cores: f64,
    /// Memory per run, MB.
    pub mems: i64,
    /// How long each run runs once started, seconds.
    pub duration: u64,
    /// Runs per arrival.
    #[serde(default = "one_u32")]
    pub count: u32,
    /// Seconds between repeats.
    #[serde(default)]
    pub every: u64,
    /// Arrivals in all.
    #[serde(default = "one_u32")]
    pub repeat: u32,
    /// Smaller first.
    #[serde(default)]
    pub priority: i32,
    /// Hard constraints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Constraint>,
    /// The placement profile, with extended resources; the default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementProfile>,
}

fn one() -> u64 {
    1
}

fn one_u32() -> u32 {
    1
}

impl Arrival {
    /// `count` runs of `app` in `queue` at `at`, each needing `cores` and `mems` for
    /// `duration` seconds.
    pub fn new(at: u64, app: &str, queue: &str, cores: f64, mems: i64, duration: u64) -> Self {
        Arrival {
            at,
            app: app.to_string(),
            queue: queue.to_string(),
            cores,
            mems,
            duration,
            count: 1,
            every: 0,
            repeat: 1,
            priority: 0,
            constraints: Vec::new(),
            placement: None,
        }
    }

    /// The same, `count` runs at a time.
    pub fn times(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    /// The same, again every `every` seconds, `repeat` arrivals in all.
    pub fn every(mut self, every: u64, repeat: u32) -> Self {
        self.every = every;
        self.repeat = repeat;
        self
    }
}
