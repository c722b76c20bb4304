//! What `rota why RUN` shows.

use rota_sched::Outcome;

use crate::builders::*;

#[test]
fn a_waiting_run_says_which_node_comes_closest() {
    let mut c = Cluster::default();
    c.nodes("n", 3, 8.0, 100_000);
    let filler = app("filler:qb").build();
    for _ in 0..6 {
        c.running(&filler, "n-1", 0);
    }
    for _ in 0..7 {
        c.running(&filler, "n-2", 0);
    }
    for _ in 0..8 {
        c.running(&filler, "n-3", 0);
    }
    let big = c.queued(&app("big:qa").size(8.0, 100).build(), 1);
    let plan = c.plan();
    let why = plan.explanation(big[0]).unwrap();
    assert_eq!(
        why.outcome.to_string(),
        "waiting: no node has 8 cores free; best node n-1 has 2 cores"
    );
    let resources = why
        .filters
        .iter()
        .find(|t| t.filter == "resources")
        .unwrap();
    assert_eq!(resources.refused, 3);
    assert_eq!(resources.never, 0);
}

#[test]
fn a_run_no_single_node_is_large_enough_for_is_rejected_with_its_size() {
    let mut c = Cluster::default();
    c.node(node("cores", 8.0, 1000));
    c.node(node("mems", 1.0, 8000));
    c.queued(&app("big:qa").size(4.0, 4000).build(), 1);
    assert_eq!(
        c.plan().rejections[0].reason.to_string(),
        "no node has 4 cores and 4000 MB in all"
    );
}

#[test]
fn a_placed_run_is_explained_with_its_candidates_and_their_scores() {
    let mut c = Cluster::default();
    c.nodes("n", 4, 4.0, 4000);
    let filler = app("filler:qb").build();
    c.running(&filler, "n-2", 0);
    let run = c.queued(&app("work:qa").build(), 1);
    let plan = c.plan();
    let why = plan.explanation(run[0]).unwrap();
    assert_eq!(
        why.outcome,
        Outcome::Placed {
            node: why.candidates[0].node.clone()
        }
    );
    assert_eq!(why.candidates.len(), 3);
    assert_eq!(
        why.candidates[0].node.0, "n-2",
        "binpack prefers the fuller node"
    );
    let totals: Vec<u32> = why.candidates.iter().map(|c| c.total).collect();
    assert!(totals.windows(2).all(|w| w[0] >= w[1]), "{totals:?}");
    let scorers: Vec<&str> = why.candidates[0].scores.iter().map(|s| s.scorer).collect();
    assert_eq!(scorers, ["affinity", "balanced", "binpack"]);
    let weighted: u32 = why.candidates[0]
        .scores
        .iter()
        .map(|s| s.score * s.weight)
        .sum();
    assert_eq!(weighted, why.candidates[0].total);
    let text = why.to_string();
    assert!(text.contains("n-2 scores"), "{text}");
}

#[test]
fn the_explanation_counts_the_nodes_each_filter_refused() {
    let mut c = Cluster::default();
    c.node(node("us-a", 4.0, 1000).attr("zone", "us-1"));
    c.node(node("us-b", 4.0, 1000).attr("zone", "us-1"));
    c.node(node("eu-old", 4.0, 1000).attr("zone", "eu-1").draining());
    c.node(node("eu-new", 4.0, 1000).attr("zone", "eu-1"));
    let run = c.queued(
        &app("eu:qa").constraint(&["zone", "LIKE", "eu-.*"]).build(),
        1,
    );
    let plan = c.plan();
    let why = plan.explanation(run[0]).unwrap();
    let tally = |name: &str| why.filters.iter().find(|t| t.filter == name).unwrap();
    assert_eq!(
        (tally("node-ready").refused, tally("node-ready").never),
        (1, 0)
    );
    assert_eq!(
        (tally("constraint").refused, tally("constraint").never),
        (2, 2)
    );
    assert!(
        tally("constraint").examples[0]
            .1
            .contains("zone=us-1 does not meet zone LIKE eu-.*"),
        "{}",
        tally("constraint")
    );
    assert_eq!(
        why.outcome,
        Outcome::Placed {
            node: rota_model::NodeId("eu-new".into())
        }
    );
}
