//! What the core is given: a snapshot of the nodes, the queues, the running runs and the
//! queued runs, taken by the caller at one moment.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use rota_model::placement::{Constraint, PlacementProfile};
use rota_model::{AppKey, AppSpec, NodeId, RunId};
use serde::{Deserialize, Serialize};

use crate::plan::Reservation;
use crate::resources::{Limits, Resources};

/// Everything one plan is computed from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// The cluster's nodes, in any order (the core orders them by id, then shuffles).
    pub nodes: Vec<Node>,
    /// Queue settings. A queue that a run names and that is not listed has the defaults of
    /// [`Queue::new`].
    pub queues: Vec<Queue>,
    /// Runs running now: they make up each queue's usage, and count for UNIQUE, GROUP_BY,
    /// `spread` and preemption.
    pub running: Vec<RunningRun>,
    /// Runs waiting to be placed, in any order.
    pub queued: Vec<QueuedRun>,
    /// The previous plan's reservations, which hold capacity until their run starts.
    pub reservations: Vec<Reservation>,
}

/// Whether a node takes new runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// It takes new runs.
    Ready,
    /// It keeps its runs but takes no new ones.
    Draining,
    /// Its agent is gone.
    Down,
}

/// A node as the scheduler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Its id; also its `hostname` attribute unless it names another.
    pub id: NodeId,
    /// Whether it takes new runs.
    pub state: NodeState,
    /// What it has in all.
    pub capacity: Resources,
    /// What it can still take now. The core trusts it and does not recompute it from
    /// [`Snapshot::running`].
    pub free: Resources,
    /// Attributes (`zone=eu-1`, `rack=r7`, …) that constraints and preferences match.
    pub attributes: BTreeMap<String, String>,
}

impl Node {
    /// A ready node with all of `capacity` free and no attributes.
    pub fn new(id: &str, capacity: Resources) -> Self {
        Node {
            id: NodeId(id.to_string()),
            state: NodeState::Ready,
            free: capacity.clone(),
            capacity,
            attributes: BTreeMap::new(),
        }
    }
}

/// A queue's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    /// Its name.
    pub name: String,
    /// Its weight in fair sharing (1 or more).
    #[serde(default = "one")]
    pub weight: u32,
    /// The most its running runs may use together.
    #[serde(default)]
    pub quota: Limits,
    /// What it gets before queues above it in fair share, by preemption when allowed.
    #[serde(default)]
    pub guaranteed: Limits,
    /// Whether its runs may evict runs of queues above their share while it is below its
    /// guaranteed minimum.
    #[serde(default)]
    pub preemption: bool,
}

fn one() -> u32 {
    1
}

impl Queue {
    /// A queue of weight 1 with no quota, no guarantee and no preemption.
    pub fn new(name: &str) -> Self {
        Queue {
            name: name.to_string(),
            weight: 1,
            quota: Limits::default(),
            guaranteed: Limits::default(),
            preemption: false,
        }
    }
}

/// What a run asks for: one per app version, shared by its runs (the core plans the runs of
/// one `Arc<Request>` together, so share it rather than build one per run).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The app: its queue is the run's queue; UNIQUE, GROUP_BY and `spread` count its runs.
    pub app: AppKey,
    /// What each run needs.
    pub demand: Resources,
    /// Hard constraints over node attributes.
    pub constraints: Vec<Constraint>,
    /// Filters, scorers and preferences.
    pub profile: PlacementProfile,
}

impl Request {
    /// The request of an app spec: its cores, mems, extended resources, constraints and
    /// placement profile (the default one when the spec has none).
    pub fn from_spec(spec: &AppSpec) -> Self {
        let profile = spec.placement.as_deref().cloned().unwrap_or_default();
        Request {
            app: spec.key(),
            demand: Resources {
                cores: spec.cores,
                mems: spec.mems,
                extended: profile.resources.clone(),
            },
            constraints: spec.constraints.clone(),
            profile,
        }
    }
}

/// A run waiting to be placed.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedRun {
    /// The run.
    pub id: RunId,
    /// Smaller first inside its queue.
    pub priority: i32,
    /// Earlier first among runs of equal priority; then smaller ids (submission order).
    pub schedule_time: Timestamp,
    /// When it entered the queue: a run waiting longer than
    /// [`Params::reserve_after`](crate::Params::reserve_after) gets a reservation.
    pub queued_at: Timestamp,
    /// What it asks for.
    pub request: Arc<Request>,
}

/// A run running now.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningRun {
    /// The run.
    pub id: RunId,
    /// Where it runs.
    pub node: NodeId,
    /// Its priority: preemption evicts the largest numbers first.
    pub priority: i32,
    /// What it asked for when it was placed.
    pub request: Arc<Request>,
}
