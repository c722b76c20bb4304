//! Fair sharing between queues, order inside a queue, quotas and admission.

use rota_sched::{Outcome, RejectReason, Wait};

use crate::builders::*;

#[test]
fn the_less_used_queue_is_served_first() {
    let mut c = Cluster::default();
    c.nodes("n", 1, 6.0, 6000);
    let a = app("work:qa").build();
    let b = app("work:qb").build();
    for _ in 0..3 {
        c.running(&a, "n-1", 0);
    }
    c.queued(&a, 5);
    let bs = c.queued(&b, 5);
    // qb catches up with qa's 3 cores, and that is all that is free.
    assert_eq!(placed(&c.plan()), bs[..3]);
}

#[test]
fn queues_of_equal_weight_take_turns() {
    let mut c = Cluster::default();
    c.nodes("n", 1, 4.0, 1000);
    let a = c.queued(&app("work:qa").build(), 10);
    let b = c.queued(&app("work:qb").build(), 10);
    assert_eq!(placed(&c.plan()), vec![a[0], b[0], a[1], b[1]]);
}

#[test]
fn a_heavier_queue_takes_more_turns() {
    let mut c = Cluster::default();
    c.nodes("n", 1, 8.0, 1000);
    c.queue(queue("qa").weight(3));
    let a = c.queued(&app("work:qa").build(), 10);
    let b = c.queued(&app("work:qb").build(), 10);
    let plan = c.plan();
    let of_a = placed(&plan).iter().filter(|r| a.contains(r)).count();
    let of_b = placed(&plan).iter().filter(|r| b.contains(r)).count();
    assert_eq!((of_a, of_b), (6, 2));
}

#[test]
fn a_queue_whose_runs_cannot_be_placed_is_passed_over_and_the_next_least_used_is_served() {
    let mut c = Cluster::default();
    c.node(node("cpu", 4.0, 4000));
    c.node(node("gpu", 4.0, 4000).ext("gpu", 1));
    let trainer = app("train:qc").ext("gpu", 1).build();
    c.running(&trainer, "gpu", 0);
    let busy = app("busy:qb").size(2.0, 100).build();
    c.running(&busy, "cpu", 0);
    // qa uses nothing but needs the busy gpu; qb uses 2 cores and can go on.
    let gpu_runs = c.queued(&app("train:qa").ext("gpu", 1).build(), 2);
    let cpu_runs = c.queued(&app("etl:qb").build(), 2);
    let plan = c.plan();
    assert_eq!(placed(&plan), cpu_runs);
    let why = plan.explanation(gpu_runs[0]).unwrap();
    assert_eq!(
        why.outcome.to_string(),
        "waiting: no node has 1 gpu free; best node gpu has 0 gpu"
    );
}

#[test]
fn inside_a_queue_priority_comes_first_then_schedule_time_then_submission() {
    let mut c = Cluster::default();
    c.nodes("n", 1, 1.0, 1000);
    let a = app("work:qa").build();
    let low = c.queued_with(&a, 1, 1, 0);
    let late = c.queued_with(&a, 1, 0, 10);
    let early = c.queued_with(&a, 2, 0, 5);
    let plan = c.plan();
    assert_eq!(placed(&plan), vec![early[0]]);
    let order: Vec<_> = plan.explanations().map(|e| e.run).collect();
    assert_eq!(order, vec![early[0], early[1], late[0], low[0]]);
}

#[test]
fn a_run_larger_than_every_node_is_rejected_with_the_reason() {
    let mut c = Cluster::default();
    c.nodes("n", 2, 4.0, 1000);
    let big = c.queued(&app("big:qa").size(64.0, 10).build(), 1);
    let plan = c.plan();
    assert!(plan.placements.is_empty());
    assert_eq!(plan.rejections[0].run, big[0]);
    assert_eq!(
        plan.rejections[0].reason.to_string(),
        "needs 64 cores but the largest node has 4 cores"
    );
}

#[test]
fn a_run_larger_than_its_queues_quota_is_rejected() {
    let mut c = Cluster::default();
    c.nodes("n", 1, 8.0, 1000);
    c.queue(queue("qa").quota_cores(2.0));
    c.queued(&app("big:qa").size(4.0, 10).build(), 1);
    let plan = c.plan();
    assert_eq!(
        plan.rejections[0].reason.to_string(),
        "needs 4 cores but queue qa's quota is 2 cores"
    );
}

#[test]
fn a_run_no_node_matches_is_rejected_but_one_whose_only_node_is_draining_waits() {
    let mut c = Cluster::default();
    c.node(node("us", 4.0, 1000).attr("zone", "us-1"));
    c.node(node("eu", 4.0, 1000).attr("zone", "eu-1").draining());
    let nowhere = c.queued(
        &app("a:qa").constraint(&["zone", "EQUALS", "ap-1"]).build(),
        1,
    );
    let later = c.queued(
        &app("b:qa").constraint(&["zone", "EQUALS", "eu-1"]).build(),
        1,
    );
    let plan = c.plan();
    assert_eq!(plan.rejections.len(), 1);
    assert_eq!(plan.rejections[0].run, nowhere[0]);
    assert_eq!(plan.rejections[0].reason, RejectReason::NoNodeMatches);
    assert_eq!(
        plan.explanation(later[0]).unwrap().outcome,
        Outcome::Waiting(Wait::NoNodeNow)
    );
}

#[test]
fn a_queue_at_its_quota_waits_while_the_others_go_on() {
    let mut c = Cluster::default();
    c.nodes("n", 1, 8.0, 1000);
    c.queue(queue("qa").quota_cores(2.0));
    let a = c.queued(&app("work:qa").build(), 4);
    let b = c.queued(&app("work:qb").build(), 2);
    let plan = c.plan();
    assert_eq!(nodes_of(&plan, &a), ["n-1", "n-1", "-", "-"]);
    assert_eq!(nodes_of(&plan, &b), ["n-1", "n-1"]);
    assert_eq!(
        plan.explanation(a[2]).unwrap().outcome.to_string(),
        "waiting: queue qa over its quota: needs 1 cores, uses 2 cores of 2 cores"
    );
}

#[test]
fn an_empty_cluster_rejects_nothing() {
    let mut c = Cluster::default();
    let runs = c.queued(&app("work:qa").build(), 1);
    let plan = c.plan();
    assert!(plan.rejections.is_empty());
    assert_eq!(
        plan.explanation(runs[0]).unwrap().outcome,
        Outcome::Waiting(Wait::NoNodes)
    );
}

#[test]
fn queue_shares_show_what_fair_sharing_counts() {
    let mut c = Cluster::default();
    c.nodes("n", 2, 4.0, 8000);
    c.queue(queue("qa").weight(2).guaranteed_cores(4.0));
    let a = app("work:qa").size(2.0, 1000).build();
    c.running(&a, "n-1", 0);
    c.running(&a, "n-2", 0);
    c.queued(&app("work:qb").build(), 1);
    let shares = rota_sched::queue_shares(&c.snapshot);
    let qa = &shares[0];
    assert_eq!((qa.name.as_str(), qa.weight), ("qa", 2));
    assert_eq!(qa.usage, rota_sched::Resources::new(4.0, 2000));
    assert_eq!(
        (qa.dominant_share, qa.dominant_resource.as_str()),
        (0.5, "cores")
    );
    assert_eq!(qa.weighted_share, 0.25);
    assert!(!qa.below_guarantee);
    assert_eq!(shares[1].name, "qb");
    assert_eq!(shares[1].weighted_share, 0.0);
}
