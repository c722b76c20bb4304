//! A trace-driven simulator: the server's loop in virtual time, with no IO.
//!
//! Each round it ends the runs whose duration is over (their capacity frees), queues the
//! runs that arrived, takes a snapshot, asks the [`Scheduler`] for a plan, re-checks it
//! against the same state as the server would, and applies it: evictions (the victims are
//! re-queued, as the server re-queues `preempted` runs), placements, rejections, and the
//! reservations kept for the next round. It plays the IO side for tests and for
//! `rota sim TRACE.json`.

mod report;
mod trace;

use std::collections::HashMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use rota_model::{AppKey, NodeId, RunId};

pub use report::{QueueReport, Report, Sample};
pub use trace::{Arrival, Trace, TraceNode};

use crate::params::{Params, Sampling};
use crate::plan::{Plan, Reservation};
use crate::planner::Scheduler;
use crate::resources::Resources;
use crate::snapshot::{Node, Queue, QueuedRun, Request, RunningRun, Snapshot};

/// A run as the simulator tracks it.
struct SimRun {
    queued: QueuedRun,
    arrived: u64,
    duration: u64,
}

/// A simulation in progress.
pub struct Simulator {
    scheduler: Scheduler,
    trace: Trace,
    /// Knobs of every plan (the id and time are set per round).
    pub params: Params,
    nodes: Vec<Node>,
    queues: Vec<Queue>,
    /// Arrivals expanded and sorted by time: (at, arrival index).
    pending: Vec<(u64, usize)>,
    next_arrival: usize,
    requests: HashMap<AppKey, Arc<Request>>,
    runs: HashMap<RunId, SimRun>,
    queued: Vec<RunId>,
    /// Running runs and when they end.
    running: Vec<(RunningRun, u64)>,
    reservations: Vec<Reservation>,
    next_id: u64,
    round: u64,
    total_cores: f64,
    samples: Vec<Sample>,
    stats: HashMap<String, Stats>,
    refused_by_recheck: u64,
}

#[derive(Default)]
struct Stats {
    placed: u64,
    rejected: u64,
    preempted: u64,
    waits: Vec<(u64, u64)>,
}

fn at_seconds(seconds: u64) -> Timestamp {
    Timestamp::UNIX_EPOCH + SignedDuration::from_secs(seconds as i64)
}

impl Simulator {
    /// A simulation of `trace` with the given scheduler, placing with every node examined.
    pub fn new(trace: Trace, scheduler: Scheduler) -> Self {
        let mut nodes = Vec::new();
        for spec in &trace.nodes {
            for i in 1..=spec.count {
                let id = if spec.count == 1 {
                    spec.id.clone()
                } else {
                    format!("{}-{i}", spec.id)
                };
                let capacity = Resources {
                    cores: spec.cores,
                    mems: spec.mems,
                    extended: spec.extended.clone(),
                };
                let mut node = Node::new(&id, capacity);
                node.attributes = spec.attributes.clone();
                nodes.push(node);
            }
        }
        let mut queues: Vec<Queue> = trace.queues.clone();
        for arrival in &trace.arrivals {
            if !queues.iter().any(|q| q.name == arrival.queue) {
                queues.push(Queue::new(&arrival.queue));
            }
        }
        queues.sort_by(|a, b| a.name.cmp(&b.name));
        let mut pending: Vec<(u64, usize)> = trace
            .arrivals
            .iter()
            .enumerate()
            .flat_map(|(i, a)| (0..u64::from(a.repeat)).map(move |k| (a.at + k * a.every, i)))
            .collect();
        pending.sort();
        let mut params = Params::new(0, at_seconds(0));
        params.sampling = Sampling::Every;
        params.reserve_after = trace
            .reserve_after_seconds
            .map(|s| SignedDuration::from_secs(s as i64));
        params.explain_top = 0;
        let total_cores = nodes.iter().map(|n| n.capacity.cores).sum();
        Simulator {
            scheduler,
            trace,
            params,
            nodes,
            queues,
            pending,
            next_arrival: 0,
            requests: HashMap::new(),
            runs: HashMap::new(),
            queued: Vec::new(),
            running: Vec::new(),
            reservations: Vec::new(),
            next_id: 1,
            round: 0,
            total_cores,
            samples: Vec::new(),
            stats: HashMap::new(),
            refused_by_recheck: 0,
        }
    }

    /// Seconds from the start of the next round.
    pub fn now(&self) -> u64 {
        self.round * self.trace.round_seconds
    }

    /// Cores queue `queue` uses now.
    pub fn cores_used(&self, queue: &str) -> f64 {
        self.running
            .iter()
            .filter(|(r, _)| r.request.app.queue == queue)
            .map(|(r, _)| r.request.demand.cores)
            .sum()
    }

    /// Whether `app`'s runs have all started (or been rejected).
    pub fn none_waiting(&self, app: &str) -> bool {
        self.queued
            .iter()
            .all(|id| self.runs[id].queued.request.app.name != app)
    }

    /// Plays one round and returns its plan.
    pub fn step(&mut self) -> Plan {
        let now = self.now();
        self.finish(now);
        self.arrive(now);
        let snapshot = self.snapshot();
        let mut params = self.params.clone();
        params.plan_id = self.round;
        params.now = at_seconds(now);
        let plan = self.scheduler.plan(&snapshot, &params);
        let recheck = self.scheduler.recheck(&plan, &snapshot);
        self.refused_by_recheck += recheck.refused.len() as u64;
        for preemption in &recheck.preemptions {
            self.evict(preemption.victim, now);
        }
        for placement in &recheck.accepted {
            self.start(placement.run, &placement.node, now);
        }
        for rejection in &plan.rejections {
            self.queued.retain(|id| *id != rejection.run);
            let run = &self.runs[&rejection.run];
            self.stats
                .entry(run.queued.request.app.queue.clone())
                .or_default()
                .rejected += 1;
        }
        self.reservations = plan.reservations.clone();
        self.sample(now);
        self.round += 1;
        plan
    }

    /// Plays rounds until the trace's horizon.
    pub fn run(&mut self) {
        while self.now() < self.trace.horizon_seconds {
            self.step();
        }
    }

    /// The figures over the rounds from `from_seconds` on.
    pub fn report(&self, from_seconds: u64) -> Report {
        let window: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| s.at >= from_seconds)
            .collect();
        let mean =
            |q: usize| window.iter().map(|s| s.shares[q]).sum::<f64>() / window.len().max(1) as f64;
        let queues: Vec<QueueReport> = self
            .queues
            .iter()
            .enumerate()
            .map(|(i, queue)| {
                let empty = Stats::default();
                let stats = self.stats.get(&queue.name).unwrap_or(&empty);
                let mut waits: Vec<u64> = stats
                    .waits
                    .iter()
                    .filter(|(at, _)| *at >= from_seconds)
                    .map(|(_, w)| *w)
                    .collect();
                waits.sort_unstable();
                QueueReport {
                    name: queue.name.clone(),
                    weight: queue.weight.max(1),
                    mean_share: mean(i),
                    placed: stats.placed,
                    rejected: stats.rejected,
                    preempted: stats.preempted,
                    wait_p50: report::percentile(&waits, 50),
                    wait_p90: report::percentile(&waits, 90),
                    wait_p99: report::percentile(&waits, 99),
                }
            })
            .collect();
        let fair: Vec<f64> = queues
            .iter()
            .filter(|q| q.placed > 0)
            .map(|q| q.mean_share / f64::from(q.weight))
            .collect();
        Report {
            rounds: self.round,
            utilization: window
                .iter()
                .map(|s| s.shares.iter().sum::<f64>())
                .sum::<f64>()
                / window.len().max(1) as f64,
            jain: report::jain(&fair),
            queues,
            refused_by_recheck: self.refused_by_recheck,
            samples: self.samples.clone(),
        }
    }

    fn finish(&mut self, now: u64) {
        let (done, running): (Vec<_>, Vec<_>) = std::mem::take(&mut self.running)
            .into_iter()
            .partition(|(_, end)| *end <= now);
        self.running = running;
        for (run, _) in done {
            self.give_back(&run.node, &run.request.demand);
        }
    }

    fn arrive(&mut self, now: u64) {
        while let Some(&(at, i)) = self.pending.get(self.next_arrival) {
            if at > now {
                break;
            }
            self.next_arrival += 1;
            let arrival = &self.trace.arrivals[i];
            let key = AppKey {
                name: arrival.app.clone(),
                queue: arrival.queue.clone(),
            };
            let request = self
                .requests
                .entry(key.clone())
                .or_insert_with(|| {
                    let profile = arrival.placement.clone().unwrap_or_default();
                    Arc::new(Request {
                        app: key,
                        demand: Resources {
                            cores: arrival.cores,
                            mems: arrival.mems,
                            extended: profile.resources.clone(),
                        },
                        constraints: arrival.constraints.clone(),
                        profile,
                    })
                })
                .clone();
            for _ in 0..arrival.count {
                let id = RunId(self.next_id);
                self.next_id += 1;
                let queued = QueuedRun {
                    id,
                    priority: arrival.priority,
                    schedule_time: at_seconds(at),
                    queued_at: at_seconds(at),
                    request: request.clone(),
                };
                self.runs.insert(
                    id,
                    SimRun {
                        queued,
                        arrived: at,
                        duration: arrival.duration,
                    },
                );
                self.queued.push(id);
            }
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            nodes: self.nodes.clone(),
            queues: self.queues.clone(),
            running: self.running.iter().map(|(r, _)| r.clone()).collect(),
            queued: self
                .queued
                .iter()
                .map(|id| self.runs[id].queued.clone())
                .collect(),
            reservations: self.reservations.clone(),
        }
    }

    fn start(&mut self, id: RunId, node: &NodeId, now: u64) {
        self.queued.retain(|q| *q != id);
        let run = &self.runs[&id];
        let request = run.queued.request.clone();
        let stats = self.stats.entry(request.app.queue.clone()).or_default();
        stats.placed += 1;
        stats.waits.push((now, now - run.arrived));
        self.running.push((
            RunningRun {
                id,
                node: node.clone(),
                priority: run.queued.priority,
                request: request.clone(),
            },
            now + run.duration,
        ));
        self.take(node, &request.demand);
    }

    fn evict(&mut self, id: RunId, now: u64) {
        let Some(at) = self.running.iter().position(|(r, _)| r.id == id) else {
            return;
        };
        let (run, _) = self.running.remove(at);
        self.give_back(&run.node, &run.request.demand);
        self.stats
            .entry(run.request.app.queue.clone())
            .or_default()
            .preempted += 1;
        let sim = self.runs.get_mut(&id).expect("known run");
        sim.queued.queued_at = at_seconds(now);
        self.queued.push(id);
    }

    fn take(&mut self, node: &NodeId, demand: &Resources) {
        self.adjust(node, demand, -1.0);
    }

    fn give_back(&mut self, node: &NodeId, demand: &Resources) {
        self.adjust(node, demand, 1.0);
    }

    fn adjust(&mut self, node: &NodeId, demand: &Resources, sign: f64) {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.id == *node)
            .expect("placed on a known node");
        node.free.cores += sign * demand.cores;
        node.free.mems += sign as i64 * demand.mems;
        for (name, amount) in &demand.extended {
            let free = node.free.extended.entry(name.clone()).or_insert(0);
            *free = if sign > 0.0 {
                *free + amount
            } else {
                free.saturating_sub(*amount)
            };
        }
    }

    fn sample(&mut self, now: u64) {
        let total = self.total_cores.max(f64::MIN_POSITIVE);
        let shares = self
            .queues
            .iter()
            .map(|q| self.cores_used(&q.name) / total)
            .collect();
        self.samples.push(Sample { at: now, shares });
    }
}
