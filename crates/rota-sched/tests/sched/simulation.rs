//! Simulations in virtual time: shares under contention, guarantees, starvation, the Cosmos
//! rule.

use rota_model::placement::PlacementProfile;
use rota_sched::Scheduler;
use rota_sched::sim::{Arrival, Simulator, Trace, TraceNode};

use crate::builders::*;

/// `count` nodes of 8 cores and 32 GB.
fn cluster(count: u32) -> Vec<TraceNode> {
    vec![TraceNode {
        id: "n".into(),
        count,
        cores: 8.0,
        mems: 32768,
        extended: Default::default(),
        attributes: Default::default(),
    }]
}

fn trace(nodes: Vec<TraceNode>, queues: Vec<rota_sched::Queue>, arrivals: Vec<Arrival>) -> Trace {
    Trace {
        round_seconds: 1,
        horizon_seconds: 600,
        reserve_after_seconds: None,
        nodes,
        queues,
        arrivals,
    }
}

/// On 64 cores, qa asks for 64 cores on average (2-core runs of 20 s) and qb for 42 (1-core
/// runs of 7 s): each more than its share under either split tested.
fn contention(queues: Vec<rota_sched::Queue>) -> Simulator {
    let arrivals = vec![
        Arrival::new(0, "wide", "qa", 2.0, 1024, 20)
            .times(16)
            .every(10, 60),
        Arrival::new(0, "narrow", "qb", 1.0, 512, 7)
            .times(60)
            .every(10, 60),
    ];
    let mut sim = Simulator::new(trace(cluster(8), queues, arrivals), Scheduler::default());
    sim.run();
    sim
}

#[test]
fn two_queues_of_weight_one_under_sustained_contention_each_get_half_the_cluster() {
    let sim = contention(vec![]);
    let report = sim.report(100);
    let (a, b) = (report.queue("qa").unwrap(), report.queue("qb").unwrap());
    assert!(
        (a.mean_share - 0.5).abs() <= 0.05,
        "qa {:.3}\n{report}",
        a.mean_share
    );
    assert!(
        (b.mean_share - 0.5).abs() <= 0.05,
        "qb {:.3}\n{report}",
        b.mean_share
    );
    assert!(report.jain > 0.99, "{report}");
    assert_eq!(report.refused_by_recheck, 0);
}

#[test]
fn weights_of_three_to_one_give_three_quarters_and_one_quarter() {
    let sim = contention(vec![queue("qa").weight(3)]);
    let report = sim.report(100);
    let (a, b) = (report.queue("qa").unwrap(), report.queue("qb").unwrap());
    assert!(
        (a.mean_share - 0.75).abs() <= 0.05,
        "qa {:.3}\n{report}",
        a.mean_share
    );
    assert!(
        (b.mean_share - 0.25).abs() <= 0.05,
        "qb {:.3}\n{report}",
        b.mean_share
    );
}

/// Batch fills the cluster with long runs; at 10 s prod, guaranteed 16 cores, asks for 30.
fn batch_then_prod(preemption: bool) -> Simulator {
    let mut prod = queue("prod").guaranteed_cores(16.0);
    prod.preemption = preemption;
    let arrivals = vec![
        Arrival::new(0, "fill", "batch", 1.0, 512, 10_000).times(64),
        Arrival::new(10, "api", "prod", 1.0, 512, 10_000).times(30),
    ];
    let mut sim = Simulator::new(
        trace(cluster(8), vec![prod], arrivals),
        Scheduler::default(),
    );
    while sim.now() < 10 {
        sim.step();
    }
    assert_eq!(
        sim.cores_used("batch"),
        64.0,
        "batch fills the cluster first"
    );
    sim
}

#[test]
fn a_guaranteed_minimum_is_restored_within_one_round_when_preemption_is_on() {
    let mut sim = batch_then_prod(true);
    let plan = sim.step();
    assert_eq!(plan.preemptions.len(), 16);
    assert_eq!(sim.cores_used("prod"), 16.0);
    assert_eq!(sim.cores_used("batch"), 48.0);
    // The evicted runs wait again, and the guarantee holds in the rounds after.
    for _ in 0..5 {
        sim.step();
    }
    assert_eq!(sim.cores_used("prod"), 16.0);
    assert_eq!(sim.report(0).queue("batch").unwrap().preempted, 16);
}

#[test]
fn without_preemption_the_guaranteed_queue_waits_for_capacity_to_free() {
    let mut sim = batch_then_prod(false);
    let plan = sim.step();
    assert!(plan.preemptions.is_empty());
    assert_eq!(sim.cores_used("prod"), 0.0);
}

/// A stream of one-core runs, spread over four 8-core nodes, keeps them full; at 20 s one
/// 8-core run arrives.
fn big_among_small(reserve_after: Option<u64>) -> (Simulator, u64) {
    let mut small = Arrival::new(0, "small", "small", 1.0, 256, 5)
        .times(8)
        .every(1, 300);
    // Spread over the nodes, so that no node empties by chance.
    small.placement = Some(PlacementProfile {
        scorers: [("spread".to_string(), 1)].into(),
        ..PlacementProfile::default()
    });
    let arrivals = vec![small, Arrival::new(20, "big", "big", 8.0, 1024, 30)];
    let mut t = trace(cluster(4), vec![], arrivals);
    t.horizon_seconds = 300;
    t.reserve_after_seconds = reserve_after;
    let mut sim = Simulator::new(t, Scheduler::default());
    let mut started = None;
    while sim.now() < 300 {
        let now = sim.now();
        sim.step();
        if started.is_none() && now >= 20 && sim.none_waiting("big") {
            started = Some(now);
        }
    }
    (sim, started.unwrap_or(u64::MAX))
}

#[test]
fn a_large_run_is_not_starved_by_a_stream_of_small_ones() {
    let (sim, started) = big_among_small(Some(30));
    // Reserved after 30 s of waiting; the node drains within a small run's 5 s.
    assert!(
        started <= 20 + 30 + 5 + 2,
        "the big run started at {started}s"
    );
    let small = sim.report(0);
    assert!(
        small.utilization > 0.8,
        "small runs backfill the rest\n{small}"
    );
}

#[test]
fn without_reservations_the_stream_of_small_runs_starves_the_large_one() {
    let (_, started) = big_among_small(None);
    assert_eq!(started, u64::MAX);
}

#[test]
fn the_cosmos_rule_holds_the_least_used_queue_is_served_first() {
    // The end-to-end fairness scenario, in virtual time: two cores, qa and qc each run a
    // long job, then qa and qb queue three short runs each; qc's job ends at 30 s.
    let arrivals = vec![
        Arrival::new(0, "long-a", "qa", 1.0, 10, 1000),
        Arrival::new(0, "block", "qc", 1.0, 10, 30),
        Arrival::new(5, "work-a", "qa", 1.0, 10, 2).times(3),
        Arrival::new(5, "work-b", "qb", 1.0, 10, 2).times(3),
    ];
    let mut t = trace(
        vec![TraceNode {
            cores: 2.0,
            count: 1,
            ..cluster(1).remove(0)
        }],
        vec![],
        arrivals,
    );
    t.horizon_seconds = 60;
    let mut sim = Simulator::new(t, Scheduler::default());
    let mut order = Vec::new();
    while sim.now() < 60 {
        let plan = sim.step();
        for placement in &plan.placements {
            let why = plan.explanation(placement.run).unwrap();
            order.push((why.run, placement.node.0.clone()));
        }
    }
    // Runs are numbered in arrival order: 3–5 are work-a (qa), 6–8 work-b (qb).
    let started: Vec<u64> = order.iter().map(|(r, _)| r.0).skip(2).collect();
    assert_eq!(started, [6, 7, 8, 3, 4, 5]);
}

#[test]
fn a_queue_that_cannot_place_is_skipped_while_the_next_least_used_is_served() {
    let mut nodes = cluster(1);
    nodes.push(TraceNode {
        id: "gpu".into(),
        count: 1,
        cores: 8.0,
        mems: 32768,
        extended: [("gpu".to_string(), 1)].into(),
        attributes: Default::default(),
    });
    let mut gpu = Arrival::new(0, "train", "qc", 1.0, 10, 1000);
    gpu.placement = Some(PlacementProfile {
        resources: [("gpu".to_string(), 1)].into(),
        ..Default::default()
    });
    let mut waiting_gpu = gpu.clone();
    waiting_gpu.queue = "qa".into();
    waiting_gpu.at = 1;
    let arrivals = vec![
        gpu,
        Arrival::new(0, "etl", "qb", 4.0, 10, 1000),
        waiting_gpu,
        Arrival::new(2, "more", "qb", 1.0, 10, 1000).times(4),
    ];
    let mut sim = Simulator::new(trace(nodes, vec![], arrivals), Scheduler::default());
    for _ in 0..4 {
        sim.step();
    }
    assert_eq!(sim.cores_used("qa"), 0.0, "qa's run needs the busy gpu");
    assert_eq!(
        sim.cores_used("qb"),
        8.0,
        "qb, more used than qa, is served"
    );
}

#[test]
fn a_trace_file_in_the_documented_format_runs_and_reports() {
    let text = include_str!("traces/contention.json");
    let trace: Trace = serde_json::from_str(text).unwrap();
    let mut sim = Simulator::new(trace, Scheduler::default());
    sim.run();
    let report = sim.report(60);
    assert_eq!(report.refused_by_recheck, 0);
    let prod = report.queue("prod").unwrap();
    assert!(prod.placed > 0 && prod.rejected == 0, "{report}");
    assert!(report.to_string().contains("Jain's index"));
}
