//! Properties over random clusters, queues and runs. Each assertion states the property.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use jiff::SignedDuration;
use proptest::prelude::*;
use rota_model::placement::{Constraint, HOSTNAME, Operator, PlacementProfile};
use rota_model::{AppKey, NodeId, RunId};
use rota_sched::{
    Limits, Node, NodeState, Outcome, Params, Plan, Queue, QueuedRun, Request, Resources,
    RunningRun, Sampling, Scheduler, Snapshot, Wait,
};

use crate::builders::{at, constraint, t0};

const POOL: &[&[&str]] = &[
    &["zone", "EQUALS", "eu-1"],
    &["zone", "LIKE", "eu-.*"],
    &["zone", "UNLIKE", "eu-.*"],
    &["hostname", "UNIQUE"],
    &["rack", "UNIQUE"],
    &["rack", "GROUP_BY"],
    &["zone", "GROUP_BY", "3"],
    &["rack", "EQUALS", "r1"],
];
const ZONES: &[&str] = &["eu-1", "eu-2", "us-1"];
const SCORERS: &[&str] = &["binpack", "spread", "balanced", "affinity"];

#[derive(Debug, Clone)]
struct World {
    snapshot: Snapshot,
    params: Params,
}

fn nodes() -> impl Strategy<Value = Vec<Node>> {
    prop::collection::vec(
        (
            2u32..=32,
            1i64..=32,
            0u64..=2,
            0usize..4,
            0usize..3,
            0u8..10,
        ),
        0..8,
    )
    .prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (halves, mems, gpu, zone, rack, state))| {
                let mut capacity = Resources::new(f64::from(halves) / 2.0, mems * 256);
                if gpu > 0 {
                    capacity.extended.insert("gpu".into(), gpu);
                }
                let mut node = Node::new(&format!("n{i}"), capacity);
                if let Some(zone) = ZONES.get(zone) {
                    node.attributes.insert("zone".into(), zone.to_string());
                }
                node.attributes.insert("rack".into(), format!("r{rack}"));
                node.state = match state {
                    8 => NodeState::Draining,
                    9 => NodeState::Down,
                    _ => NodeState::Ready,
                };
                node
            })
            .collect()
    })
}

fn queues() -> impl Strategy<Value = Vec<Queue>> {
    prop::collection::vec(
        (
            1u32..=3,
            prop::option::weighted(0.3, 1u32..=16),
            prop::option::weighted(0.6, 1u32..=8),
            any::<bool>(),
        ),
        3,
    )
    .prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (weight, quota, guaranteed, preemption))| Queue {
                name: format!("q{i}"),
                weight,
                quota: quota.map_or_else(Limits::default, |c| Limits::cores(f64::from(c))),
                guaranteed: guaranteed
                    .map_or_else(Limits::default, |c| Limits::cores(f64::from(c))),
                preemption,
            })
            .collect()
    })
}

fn requests() -> impl Strategy<Value = Vec<Arc<Request>>> {
    prop::collection::vec(
        (
            0usize..3,
            1u32..=8,
            1i64..=16,
            prop::option::weighted(0.2, 1u64..=2),
            prop::collection::vec(0usize..POOL.len(), 0..=2),
            prop::collection::vec(1u32..=3, 4),
            prop::option::of(0usize..3),
        ),
        1..=5,
    )
    .prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (queue, halves, mems, gpu, picks, weights, prefer))| {
                let mut demand = Resources::new(f64::from(halves) / 2.0, mems * 128);
                let mut profile = PlacementProfile::default();
                if let Some(gpu) = gpu {
                    demand.extended.insert("gpu".into(), gpu);
                    profile.resources.insert("gpu".into(), gpu);
                }
                profile.scorers = SCORERS
                    .iter()
                    .zip(&weights)
                    .filter(|(_, w)| **w > 1)
                    .map(|(s, w)| (s.to_string(), *w))
                    .collect();
                if let Some(p) = prefer {
                    profile.prefer.push(constraint(POOL[p]));
                    profile.scorers.insert("affinity".into(), 1);
                }
                let mut constraints: Vec<Constraint> =
                    picks.iter().map(|p| constraint(POOL[*p])).collect();
                constraints.dedup();
                Arc::new(Request {
                    app: AppKey {
                        name: format!("app{i}"),
                        queue: format!("q{queue}"),
                    },
                    demand,
                    constraints,
                    profile,
                })
            })
            .collect()
    })
}

/// Random worlds; half of them crowded with running runs of queues that all guarantee and
/// preempt, so that preemption is exercised.
fn world() -> impl Strategy<Value = World> {
    prop_oneof![world_with(false), world_with(true)]
}

fn world_with(preempting: bool) -> impl Strategy<Value = World> {
    let running = if preempting { 20..60 } else { 0..30 };
    (
        nodes(),
        queues(),
        requests(),
        prop::collection::vec((0usize..5, 0usize..8, 0i32..4), running),
        prop::collection::vec((0usize..5, 0i32..3, 0i64..100, 0i64..3600), 0..40),
        (any::<u64>(), prop::option::of((1u32..=4, 0u32..=100))),
        (prop::option::of(0i64..1800), 0usize..=3),
    )
        .prop_map(
            move |(
                mut nodes,
                mut queues,
                requests,
                running,
                queued,
                (seed, sample),
                (reserve, max_res),
            )| {
                if preempting {
                    for (i, q) in queues.iter_mut().enumerate() {
                        q.preemption = true;
                        q.guaranteed = Limits::cores(4.0 * (i as f64 + 1.0));
                    }
                }
                let mut snapshot = Snapshot {
                    queues,
                    ..Snapshot::default()
                };
                let mut id = 0;
                for (r, n, priority) in running {
                    let (Some(request), Some(node)) = (requests.get(r), nodes.get_mut(n)) else {
                        continue;
                    };
                    let d = &request.demand;
                    let gpu_free = node.free.extended.get("gpu").copied().unwrap_or(0);
                    let gpu = d.extended.get("gpu").copied().unwrap_or(0);
                    if d.cores <= node.free.cores && d.mems <= node.free.mems && gpu <= gpu_free {
                        node.free.cores -= d.cores;
                        node.free.mems -= d.mems;
                        if gpu > 0 {
                            node.free.extended.insert("gpu".into(), gpu_free - gpu);
                        }
                        id += 1;
                        snapshot.running.push(RunningRun {
                            id: RunId(id),
                            node: node.id.clone(),
                            priority,
                            request: request.clone(),
                        });
                    }
                }
                for (r, priority, offset, waited) in queued {
                    let Some(request) = requests.get(r) else {
                        continue;
                    };
                    id += 1;
                    snapshot.queued.push(QueuedRun {
                        id: RunId(id),
                        priority,
                        schedule_time: at(offset),
                        queued_at: at(-waited),
                        request: request.clone(),
                    });
                }
                snapshot.nodes = nodes;
                let mut params = Params::new(seed, t0());
                params.sampling = match sample {
                    None => Sampling::Every,
                    Some((min_feasible, percent)) => Sampling::Sample {
                        min_feasible,
                        percent,
                    },
                };
                params.reserve_after = reserve.map(SignedDuration::from_secs);
                params.max_reservations = max_res;
                World { snapshot, params }
            },
        )
}

/// Cores in thousandths, mems, gpu.
fn amounts(r: &Resources) -> [i64; 3] {
    [
        (r.cores * 1000.0).round() as i64,
        r.mems,
        r.extended.get("gpu").copied().unwrap_or(0) as i64,
    ]
}

fn attribute<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    node.attributes
        .get(key)
        .map(String::as_str)
        .or_else(|| (key == HOSTNAME).then_some(node.id.0.as_str()))
}

/// A static constraint, evaluated from its definition.
fn meets(node: &Node, c: &Constraint) -> bool {
    let Some(value) = attribute(node, &c.attribute) else {
        return false;
    };
    let pattern = || regex::Regex::new(&format!("^(?:{})$", c.value.as_deref().unwrap())).unwrap();
    match c.operator {
        Operator::Equals => Some(value) == c.value.as_deref(),
        Operator::Like => pattern().is_match(value),
        Operator::Unlike => !pattern().is_match(value),
        Operator::Unique | Operator::GroupBy => true,
    }
}

fn could_ever_host(node: &Node, request: &Request) -> bool {
    let need = amounts(&request.demand);
    let has = amounts(&node.capacity);
    need.iter().zip(&has).all(|(n, h)| n <= h) && request.constraints.iter().all(|c| meets(node, c))
}

fn demand_of(snapshot: &Snapshot, run: RunId) -> &Arc<Request> {
    &snapshot
        .queued
        .iter()
        .find(|r| r.id == run)
        .unwrap()
        .request
}

fn node_of<'a>(snapshot: &'a Snapshot, id: &NodeId) -> &'a Node {
    snapshot.nodes.iter().find(|n| n.id == *id).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn no_node_is_ever_over_committed(world in world()) {
        let plan = Scheduler::default().plan(&world.snapshot, &world.params);
        let mut room: HashMap<&NodeId, [i64; 3]> = world
            .snapshot
            .nodes
            .iter()
            .map(|n| (&n.id, amounts(&n.free)))
            .collect();
        for p in &plan.preemptions {
            let victim = world.snapshot.running.iter().find(|r| r.id == p.victim).unwrap();
            let room = room.get_mut(&victim.node).unwrap();
            for (r, d) in room.iter_mut().zip(amounts(&victim.request.demand)) {
                *r += d;
            }
        }
        for p in &plan.placements {
            let room = room.get_mut(&p.node).unwrap();
            for (r, d) in room.iter_mut().zip(amounts(&demand_of(&world.snapshot, p.run).demand)) {
                *r -= d;
            }
            prop_assert!(room.iter().all(|r| *r >= 0), "node {} over-committed: {:?}", p.node, room);
        }
    }

    #[test]
    fn no_run_is_placed_on_a_node_a_filter_refuses(world in world()) {
        let snapshot = &world.snapshot;
        let plan = Scheduler::default().plan(snapshot, &world.params);
        let evicted: Vec<RunId> = plan.preemptions.iter().map(|p| p.victim).collect();
        // Where each app's runs are: the running ones not evicted, then each placement.
        let mut hosts: Vec<(&AppKey, &NodeId)> = snapshot
            .running
            .iter()
            .filter(|r| !evicted.contains(&r.id))
            .map(|r| (&r.request.app, &r.node))
            .collect();
        let mut usage: BTreeMap<&str, i64> = BTreeMap::new();
        for r in snapshot.running.iter().filter(|r| !evicted.contains(&r.id)) {
            *usage.entry(&r.request.app.queue).or_default() += amounts(&r.request.demand)[0];
        }
        for p in &plan.placements {
            let request = demand_of(snapshot, p.run);
            let node = node_of(snapshot, &p.node);
            prop_assert_eq!(node.state, NodeState::Ready, "placed on a node that is not ready");
            prop_assert!(could_ever_host(node, request), "placed on a node too small or unmatched");
            for c in &request.constraints {
                let value = attribute(node, &c.attribute);
                let same_app: Vec<Option<&str>> = hosts
                    .iter()
                    .filter(|(app, _)| **app == request.app)
                    .map(|(_, n)| attribute(node_of(snapshot, n), &c.attribute))
                    .collect();
                match c.operator {
                    Operator::Unique => prop_assert!(
                        !same_app.contains(&value),
                        "UNIQUE {} broken on {}", c.attribute, p.node
                    ),
                    Operator::GroupBy => {
                        let mut values: Vec<&str> = snapshot
                            .nodes
                            .iter()
                            .filter_map(|n| attribute(n, &c.attribute))
                            .collect();
                        values.sort();
                        values.dedup();
                        let groups = (values.len() as u32).max(c.groups()) as usize;
                        let total = same_app.iter().filter(|v| v.is_some()).count();
                        let here = same_app.iter().filter(|v| **v == value).count();
                        prop_assert!(here < (total + 1).div_ceil(groups), "GROUP_BY broken");
                    }
                    _ => {}
                }
            }
            let queue = snapshot.queues.iter().find(|q| q.name == request.app.queue).unwrap();
            let used = usage.entry(&request.app.queue).or_default();
            *used += amounts(&request.demand)[0];
            if let Some(quota) = queue.quota.cores {
                prop_assert!(*used <= (quota * 1000.0) as i64, "queue {} over its quota", queue.name);
            }
            hosts.push((&request.app, &p.node));
        }
    }

    #[test]
    fn a_run_is_rejected_only_when_no_node_could_ever_host_it(world in world()) {
        let snapshot = &world.snapshot;
        let plan = Scheduler::default().plan(snapshot, &world.params);
        for rejection in &plan.rejections {
            let request = demand_of(snapshot, rejection.run);
            let queue = snapshot.queues.iter().find(|q| q.name == request.app.queue).unwrap();
            let over_quota = queue.quota.cores.is_some_and(|q| request.demand.cores > q);
            let nowhere = !snapshot.nodes.is_empty()
                && snapshot.nodes.iter().all(|n| !could_ever_host(n, request));
            prop_assert!(over_quota || nowhere, "rejected {}: {}", rejection.run, rejection.reason);
        }
    }

    #[test]
    fn a_run_waits_for_capacity_only_when_no_node_has_room_for_it(world in world()) {
        let snapshot = &world.snapshot;
        let plan = Scheduler::default().plan(snapshot, &world.params);
        // Capacity only shrinks while a plan is made, unless it evicts or releases a hold.
        let shrinks = plan.preemptions.is_empty() && snapshot.reservations.is_empty();
        let mut room: HashMap<&NodeId, [i64; 3]> = snapshot
            .nodes
            .iter()
            .map(|n| (&n.id, amounts(&n.free)))
            .collect();
        let mut hosts: Vec<(&AppKey, &NodeId)> =
            snapshot.running.iter().map(|r| (&r.request.app, &r.node)).collect();
        for p in &plan.placements {
            let request = demand_of(snapshot, p.run);
            let room = room.get_mut(&p.node).unwrap();
            for (r, d) in room.iter_mut().zip(amounts(&request.demand)) {
                *r -= d;
            }
            hosts.push((&request.app, &p.node));
        }
        let held: Vec<&NodeId> = plan.reservations.iter().map(|r| &r.node).collect();
        for why in plan.explanations() {
            let Outcome::Waiting(Wait::NoCapacity { .. } | Wait::NoNodeNow) = why.outcome else {
                continue;
            };
            let request = demand_of(snapshot, why.run);
            if !shrinks || request.constraints.iter().any(|c| c.operator == Operator::GroupBy) {
                continue;
            }
            for node in &snapshot.nodes {
                let unique_taken = request.constraints.iter().any(|c| {
                    c.operator == Operator::Unique
                        && hosts.iter().any(|(app, n)| {
                            **app == request.app
                                && attribute(node_of(snapshot, n), &c.attribute)
                                    == attribute(node, &c.attribute)
                        })
                });
                let fits = room[&node.id]
                    .iter()
                    .zip(amounts(&request.demand))
                    .all(|(r, d)| d <= *r);
                prop_assert!(
                    node.state != NodeState::Ready
                        || !could_ever_host(node, request)
                        || unique_taken
                        || held.contains(&&node.id)
                        || !fits,
                    "run {} waits ({}) though {} has room", why.run, why.outcome, node.id
                );
            }
        }
    }

    #[test]
    fn the_same_input_and_seed_give_the_same_plan_whatever_the_listing_order(world in world()) {
        let scheduler = Scheduler::default();
        let plan = scheduler.plan(&world.snapshot, &world.params);
        prop_assert_eq!(&plan, &scheduler.plan(&world.snapshot, &world.params));
        let mut shuffled = world.snapshot.clone();
        shuffled.nodes.reverse();
        shuffled.queued.reverse();
        shuffled.running.reverse();
        let other = scheduler.plan(&shuffled, &world.params);
        prop_assert_eq!(&plan.placements, &other.placements);
        prop_assert_eq!(&plan.preemptions, &other.preemptions);
        prop_assert_eq!(&plan.reservations, &other.reservations);
        prop_assert_eq!(&plan.rejections, &other.rejections);
    }

    #[test]
    fn every_queued_run_has_exactly_one_outcome(world in world()) {
        let plan = Scheduler::default().plan(&world.snapshot, &world.params);
        let mut explained: Vec<RunId> = plan.explanations().map(|e| e.run).collect();
        explained.sort();
        let mut queued: Vec<RunId> = world.snapshot.queued.iter().map(|r| r.id).collect();
        queued.sort();
        prop_assert_eq!(explained, queued);
        let mut placed: Vec<RunId> = plan.placements.iter().map(|p| p.run).collect();
        placed.sort();
        placed.dedup();
        prop_assert_eq!(placed.len(), plan.placements.len(), "a run placed twice");
    }

    #[test]
    fn examining_every_node_incrementally_places_like_rescanning_every_node(world in world()) {
        let scheduler = Scheduler::default();
        let mut every = world.params.clone();
        every.sampling = Sampling::Every;
        let mut scan = world.params.clone();
        scan.sampling = Sampling::Rescan;
        let a = scheduler.plan(&world.snapshot, &every);
        let b = scheduler.plan(&world.snapshot, &scan);
        prop_assert_eq!(a.placements, b.placements);
        prop_assert_eq!(a.preemptions, b.preemptions);
    }

    #[test]
    fn a_plan_rechecked_against_its_own_snapshot_keeps_every_placement(world in world()) {
        let scheduler = Scheduler::default();
        let plan: Plan = scheduler.plan(&world.snapshot, &world.params);
        let recheck = scheduler.recheck(&plan, &world.snapshot);
        prop_assert!(recheck.refused.is_empty(), "{:?}", recheck.refused);
        prop_assert_eq!(recheck.preemptions, plan.preemptions);
    }
}
