//! Reservations: a run passed over for too long holds capacity that smaller runs cannot take.

use jiff::SignedDuration;
use rota_sched::Outcome;

use crate::builders::*;

/// Two nodes of 4 cores, n-1 with 2 cores taken and n-2 with 3, a big run that has waited an
/// hour, and three small runs of another queue that have waited seconds.
fn crowded() -> (Cluster, rota_model::RunId, Vec<rota_model::RunId>) {
    let mut c = Cluster::default();
    c.params.reserve_after = Some(SignedDuration::from_mins(10));
    c.params.now = at(3600);
    c.nodes("n", 2, 4.0, 4000);
    let small = app("small:qc").build();
    for node in ["n-1", "n-1", "n-2", "n-2", "n-2"] {
        c.running(&small, node, 0);
    }
    let big = c.queued(&app("big:qa").size(4.0, 100).build(), 1)[0];
    let smalls = c.queued_with(&app("small:qb").build(), 3, 0, 3590);
    (c, big, smalls)
}

#[test]
fn a_run_that_waited_too_long_holds_capacity_that_smaller_runs_cannot_take() {
    let (c, big, smalls) = crowded();
    let plan = c.plan();
    assert_eq!(plan.reservations.len(), 1);
    assert_eq!(
        (
            plan.reservations[0].run,
            plan.reservations[0].node.0.as_str()
        ),
        (big, "n-1")
    );
    assert!(matches!(
        plan.explanation(big).unwrap().outcome,
        Outcome::Reserved { .. }
    ));
    // Only n-2's free core is left to the small runs.
    assert_eq!(nodes_of(&plan, &smalls), ["n-2", "-", "-"]);
}

#[test]
fn before_it_has_waited_long_enough_smaller_runs_take_the_room() {
    let (mut c, _, smalls) = crowded();
    c.params.now = at(60);
    let plan = c.plan();
    assert!(plan.reservations.is_empty());
    assert_eq!(
        nodes_of(&plan, &smalls)
            .iter()
            .filter(|n| *n != "-")
            .count(),
        3
    );
}

#[test]
fn a_reservation_carries_over_and_its_run_starts_when_the_node_frees() {
    let (mut c, big, smalls) = crowded();
    let plan = c.plan();
    // Next round: one of n-1's runs ended, the reservation is passed back.
    c.snapshot.reservations = plan.reservations.clone();
    let ended = c
        .snapshot
        .running
        .iter()
        .position(|r| r.node.0 == "n-1")
        .unwrap();
    c.snapshot.running.remove(ended);
    c.snapshot.nodes[0].free.cores += 1.0;
    let plan = c.plan();
    assert_eq!(nodes_of(&plan, &smalls)[..2], ["n-2", "-"]);
    assert_eq!(plan.reservations[0].run, big);
    // And once n-1 is empty, the big run starts there.
    c.snapshot.reservations = plan.reservations.clone();
    c.snapshot.running.retain(|r| r.node.0 != "n-1");
    c.snapshot.nodes[0].free.cores = 4.0;
    let plan = c.plan();
    assert_eq!(nodes_of(&plan, &[big]), ["n-1"]);
    assert!(plan.reservations.is_empty());
}
