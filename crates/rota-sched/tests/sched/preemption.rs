//! Preemption, opt-in per queue.

use rota_sched::{Outcome, Plan};

use crate::builders::*;

/// Two nodes of 4 cores filled by `batch` runs of priorities 0 to 7 (n-1 has 0–3), and two
/// `prod` runs queued.
fn full_of_batch(
    prod: rota_sched::Queue,
    batch: rota_sched::Queue,
) -> (Cluster, Vec<rota_model::RunId>, Vec<rota_model::RunId>) {
    let mut c = Cluster::default();
    c.nodes("n", 2, 4.0, 4000);
    c.queue(prod).queue(batch);
    let work = app("work:batch").build();
    let victims = (0..8)
        .map(|p| c.running(&work, if p < 4 { "n-1" } else { "n-2" }, p))
        .collect();
    let prod_runs = c.queued(&app("api:prod").build(), 2);
    (c, victims, prod_runs)
}

fn evicted(plan: &Plan) -> Vec<rota_model::RunId> {
    plan.preemptions.iter().map(|p| p.victim).collect()
}

#[test]
fn a_queue_below_its_guarantee_evicts_the_lowest_priority_runs_of_a_queue_above_its_share() {
    let (c, victims, prod) = full_of_batch(
        queue("prod").guaranteed_cores(2.0).preempting(),
        queue("batch"),
    );
    let plan = c.plan();
    assert_eq!(evicted(&plan), [victims[7], victims[6]]);
    assert_eq!(nodes_of(&plan, &prod), ["n-2", "n-2"]);
    assert_eq!(plan.preemptions[0].for_run, prod[0]);
    assert_eq!(
        plan.explanation(prod[0]).unwrap().outcome,
        Outcome::Preempting {
            node: rota_model::NodeId("n-2".into()),
            victims: vec![victims[7]]
        }
    );
}

#[test]
fn preemption_stops_once_the_guarantee_is_met() {
    let (mut c, _, _) = full_of_batch(
        queue("prod").guaranteed_cores(1.0).preempting(),
        queue("batch"),
    );
    c.queued(&app("api:prod").build(), 3);
    assert_eq!(c.plan().preemptions.len(), 1);
}

#[test]
fn without_preemption_a_queue_below_its_guarantee_waits() {
    let (c, _, prod) = full_of_batch(queue("prod").guaranteed_cores(2.0), queue("batch"));
    let plan = c.plan();
    assert!(plan.preemptions.is_empty());
    assert_eq!(nodes_of(&plan, &prod), ["-", "-"]);
}

#[test]
fn preemption_never_takes_a_queue_below_its_own_guarantee() {
    let (c, _, _) = full_of_batch(
        queue("prod").guaranteed_cores(2.0).preempting(),
        queue("batch").guaranteed_cores(8.0),
    );
    assert!(c.plan().preemptions.is_empty());
}
