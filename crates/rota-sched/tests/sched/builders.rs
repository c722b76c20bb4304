//! Builders that make scenarios read as prose: a cluster of nodes, queues and apps, runs
//! queued and running, and the plan for it.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use rota_model::placement::{Constraint, Operator, PlacementProfile};
use rota_model::{AppKey, NodeId, RunId};
use rota_sched::{
    Limits, Node, NodeState, Params, Plan, Queue, QueuedRun, Request, Resources, RunningRun,
    Scheduler, Snapshot,
};

/// The time every scenario starts at.
pub fn t0() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

/// `t0` plus `seconds`.
pub fn at(seconds: i64) -> Timestamp {
    t0() + SignedDuration::from_secs(seconds)
}

/// A node under construction.
pub struct NodeBuilder(Node);

/// A ready node with `cores` and `mems` all free.
pub fn node(id: &str, cores: f64, mems: i64) -> NodeBuilder {
    NodeBuilder(Node::new(id, Resources::new(cores, mems)))
}

impl NodeBuilder {
    /// With an attribute.
    pub fn attr(mut self, key: &str, value: &str) -> Self {
        self.0.attributes.insert(key.into(), value.into());
        self
    }

    /// With `amount` of extended resource `name`, all free.
    pub fn ext(mut self, name: &str, amount: u64) -> Self {
        self.0.capacity.extended.insert(name.into(), amount);
        self.0.free.extended.insert(name.into(), amount);
        self
    }

    /// Draining.
    pub fn draining(mut self) -> Self {
        self.0.state = NodeState::Draining;
        self
    }

    /// Down.
    pub fn down(mut self) -> Self {
        self.0.state = NodeState::Down;
        self
    }
}

/// A queue with default settings, to adjust.
pub fn queue(name: &str) -> Queue {
    Queue::new(name)
}

/// Queue settings, fluently.
pub trait QueueExt {
    /// With this weight.
    fn weight(self, weight: u32) -> Self;
    /// With a quota of `cores`.
    fn quota_cores(self, cores: f64) -> Self;
    /// With a guaranteed minimum of `cores`.
    fn guaranteed_cores(self, cores: f64) -> Self;
    /// Allowed to preempt.
    fn preempting(self) -> Self;
}

impl QueueExt for Queue {
    fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    fn quota_cores(mut self, cores: f64) -> Self {
        self.quota = Limits::cores(cores);
        self
    }

    fn guaranteed_cores(mut self, cores: f64) -> Self {
        self.guaranteed = Limits::cores(cores);
        self
    }

    fn preempting(mut self) -> Self {
        self.preemption = true;
        self
    }
}

/// An app's request under construction.
pub struct AppBuilder(Request);

/// App `name:queue`, 1 core and 100 MB per run, default profile.
pub fn app(key: &str) -> AppBuilder {
    AppBuilder(Request {
        app: key.parse::<AppKey>().unwrap(),
        demand: Resources::new(1.0, 100),
        constraints: Vec::new(),
        profile: PlacementProfile::default(),
    })
}

/// A constraint from its JSON words.
pub fn constraint(words: &[&str]) -> Constraint {
    serde_json::from_value(serde_json::json!(words)).unwrap()
}

impl AppBuilder {
    /// Each run needs `cores` and `mems`.
    pub fn size(mut self, cores: f64, mems: i64) -> Self {
        self.0.demand = Resources::new(cores, mems);
        self
    }

    /// Each run also needs `amount` of `name`.
    pub fn ext(mut self, name: &str, amount: u64) -> Self {
        self.0.demand.extended.insert(name.into(), amount);
        self.0.profile.resources.insert(name.into(), amount);
        self
    }

    /// With a hard constraint.
    pub fn constraint(mut self, words: &[&str]) -> Self {
        self.0.constraints.push(constraint(words));
        self
    }

    /// With a preference for the affinity scorer.
    pub fn prefer(mut self, words: &[&str]) -> Self {
        let c = constraint(words);
        assert!(c.operator != Operator::Unique);
        self.0.profile.prefer.push(c);
        self
    }

    /// Scored only by these scorers and weights.
    pub fn scorers(mut self, scorers: &[(&str, u32)]) -> Self {
        self.0.profile.scorers = scorers.iter().map(|(n, w)| (n.to_string(), *w)).collect();
        self
    }

    /// Done.
    pub fn build(self) -> Arc<Request> {
        Arc::new(self.0)
    }
}

/// A scenario: a snapshot built step by step, then planned.
pub struct Cluster {
    pub snapshot: Snapshot,
    pub params: Params,
    pub scheduler: Scheduler,
    next_id: u64,
}

impl Default for Cluster {
    fn default() -> Self {
        let mut params = Params::new(1, t0());
        params.reserve_after = None;
        Cluster {
            snapshot: Snapshot::default(),
            params,
            scheduler: Scheduler::default(),
            next_id: 1,
        }
    }
}

impl Cluster {
    /// Adds a node.
    pub fn node(&mut self, node: NodeBuilder) -> &mut Self {
        self.snapshot.nodes.push(node.0);
        self
    }

    /// Adds `count` nodes `prefix-1` … with `cores` and `mems` each.
    pub fn nodes(&mut self, prefix: &str, count: usize, cores: f64, mems: i64) -> &mut Self {
        for i in 1..=count {
            self.node(node(&format!("{prefix}-{i}"), cores, mems));
        }
        self
    }

    /// Sets a queue.
    pub fn queue(&mut self, queue: Queue) -> &mut Self {
        self.snapshot.queues.push(queue);
        self
    }

    /// Queues `count` runs of `request`, priority 0, scheduled one second apart, and
    /// returns their ids.
    pub fn queued(&mut self, request: &Arc<Request>, count: usize) -> Vec<RunId> {
        self.queued_with(request, count, 0, 0)
    }

    /// Queues `count` runs of `request` with `priority`, scheduled from `t0 + from` on.
    pub fn queued_with(
        &mut self,
        request: &Arc<Request>,
        count: usize,
        priority: i32,
        from: i64,
    ) -> Vec<RunId> {
        (0..count)
            .map(|i| {
                let id = self.id();
                self.snapshot.queued.push(QueuedRun {
                    id,
                    priority,
                    schedule_time: at(from + i as i64),
                    queued_at: at(from + i as i64),
                    request: request.clone(),
                });
                id
            })
            .collect()
    }

    /// A run of `request` running on `node`: the node's free capacity shrinks.
    pub fn running(&mut self, request: &Arc<Request>, node: &str, priority: i32) -> RunId {
        let id = self.id();
        let n = self
            .snapshot
            .nodes
            .iter_mut()
            .find(|n| n.id.0 == node)
            .expect("a node of the scenario");
        n.free.cores -= request.demand.cores;
        n.free.mems -= request.demand.mems;
        for (name, amount) in &request.demand.extended {
            *n.free.extended.get_mut(name).expect("the node has it") -= amount;
        }
        self.snapshot.running.push(RunningRun {
            id,
            node: NodeId(node.into()),
            priority,
            request: request.clone(),
        });
        id
    }

    fn id(&mut self) -> RunId {
        let id = RunId(self.next_id);
        self.next_id += 1;
        id
    }

    /// The plan.
    pub fn plan(&self) -> Plan {
        self.scheduler.plan(&self.snapshot, &self.params)
    }
}

/// The nodes a plan put `runs` on, in the order of `runs` (`"-"` when not placed).
pub fn nodes_of(plan: &Plan, runs: &[RunId]) -> Vec<String> {
    runs.iter()
        .map(|run| {
            plan.placements
                .iter()
                .find(|p| p.run == *run)
                .map_or("-".to_string(), |p| p.node.0.clone())
        })
        .collect()
}

/// The runs placed, in the order chosen.
pub fn placed(plan: &Plan) -> Vec<RunId> {
    plan.placements.iter().map(|p| p.run).collect()
}
