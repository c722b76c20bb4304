//! Re-checking a plan against fresh state before it is committed.

use rota_model::NodeId;

use crate::builders::*;

#[test]
fn a_plan_rechecked_against_its_own_snapshot_is_accepted_whole() {
    let mut c = Cluster::default();
    c.nodes("n", 3, 4.0, 4000);
    c.queued(
        &app("work:qa").constraint(&["hostname", "UNIQUE"]).build(),
        3,
    );
    c.queued(&app("more:qb").size(2.0, 100).build(), 4);
    let plan = c.plan();
    let recheck = c.scheduler.recheck(&plan, &c.snapshot);
    assert!(recheck.refused.is_empty(), "{:?}", recheck.refused);
    assert_eq!(recheck.accepted, plan.placements);
}

#[test]
fn a_recheck_refuses_what_no_longer_fits_and_keeps_the_rest() {
    let mut c = Cluster::default();
    c.nodes("n", 3, 4.0, 4000);
    let work = app("work:qa").size(4.0, 100).build();
    let runs = c.queued(&work, 3);
    let plan = c.plan();
    assert_eq!(plan.placements.len(), 3);

    let mut fresh = c.snapshot.clone();
    let on = |run| {
        plan.placements
            .iter()
            .find(|p| p.run == run)
            .unwrap()
            .node
            .clone()
    };
    // Another run took one node, another node left, and one run was deleted.
    let (filled, gone) = (on(runs[0]), on(runs[1]));
    fresh
        .nodes
        .iter_mut()
        .find(|n| n.id == filled)
        .unwrap()
        .free
        .cores = 1.0;
    fresh.nodes.retain(|n| n.id != gone);
    fresh.queued.retain(|r| r.id != runs[2]);

    let recheck = c.scheduler.recheck(&plan, &fresh);
    assert!(recheck.accepted.is_empty());
    let reasons: Vec<(u64, &str)> = recheck
        .refused
        .iter()
        .map(|(p, why)| (p.run.0, why.as_str()))
        .collect();
    assert_eq!(reasons.len(), 3);
    assert!(
        reasons[0]
            .1
            .starts_with("resources: needs 4 cores, 1 cores free"),
        "{reasons:?}"
    );
    assert_eq!(reasons[1].1, format!("node {gone} is gone"));
    assert_eq!(reasons[2].1, "the run is no longer queued");
    let _ = NodeId::clone;
}
