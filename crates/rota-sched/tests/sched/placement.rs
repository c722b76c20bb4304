//! Filters and scorers: where runs go.

use std::collections::BTreeMap;

use rota_sched::{At, Outcome, Registry, Scheduler, Scorer, Wait};

use crate::builders::*;

#[test]
fn constraints_place_runs_only_on_matching_nodes() {
    let mut c = Cluster::default();
    c.node(node("e1", 4.0, 1000).attr("zone", "eu-1"));
    c.node(node("e2", 4.0, 1000).attr("zone", "eu-2"));
    c.node(node("u1", 4.0, 1000).attr("zone", "us-1"));
    let eu = c.queued(
        &app("eu:qa").constraint(&["zone", "LIKE", "eu-.*"]).build(),
        6,
    );
    let not_eu = c.queued(
        &app("us:qa")
            .constraint(&["zone", "UNLIKE", "eu-.*"])
            .build(),
        2,
    );
    let exact = c.queued(
        &app("e2:qa").constraint(&["zone", "EQUALS", "eu-2"]).build(),
        2,
    );
    let plan = c.plan();
    assert!(nodes_of(&plan, &eu).iter().all(|n| n == "e1" || n == "e2"));
    assert_eq!(nodes_of(&plan, &not_eu), ["u1", "u1"]);
    assert_eq!(nodes_of(&plan, &exact), ["e2", "e2"]);
}

#[test]
fn unique_hostname_puts_each_run_on_a_node_of_its_own_and_the_rest_wait() {
    let mut c = Cluster::default();
    c.nodes("n", 3, 8.0, 1000);
    let runs = c.queued(
        &app("web:qa").constraint(&["hostname", "UNIQUE"]).build(),
        5,
    );
    let plan = c.plan();
    let mut hosts: Vec<String> = nodes_of(&plan, &runs[..3]);
    hosts.sort();
    assert_eq!(hosts, ["n-1", "n-2", "n-3"]);
    let why = plan.explanation(runs[3]).unwrap();
    assert_eq!(why.outcome, Outcome::Waiting(Wait::NoNodeNow));
    let constraint = why
        .filters
        .iter()
        .find(|t| t.filter == "constraint")
        .unwrap();
    assert_eq!(constraint.refused, 3);
    assert!(
        constraint.examples[0]
            .1
            .contains("hostname UNIQUE: web:qa already runs"),
        "{constraint}"
    );
}

#[test]
fn unique_counts_the_runs_already_running() {
    let mut c = Cluster::default();
    c.nodes("n", 2, 8.0, 1000);
    let web = app("web:qa").constraint(&["hostname", "UNIQUE"]).build();
    c.running(&web, "n-1", 0);
    let runs = c.queued(&web, 2);
    assert_eq!(nodes_of(&c.plan(), &runs), ["n-2", "-"]);
}

#[test]
fn group_by_rack_spreads_runs_evenly_over_the_racks() {
    let mut c = Cluster::default();
    c.node(node("a", 16.0, 10000).attr("rack", "r1"));
    c.node(node("b", 16.0, 10000).attr("rack", "r1"));
    c.node(node("c", 16.0, 10000).attr("rack", "r2"));
    c.node(node("d", 16.0, 10000).attr("rack", "r3"));
    let runs = c.queued(&app("db:qa").constraint(&["rack", "GROUP_BY"]).build(), 6);
    let plan = c.plan();
    let mut per_rack: BTreeMap<&str, usize> = BTreeMap::new();
    for n in nodes_of(&plan, &runs) {
        let rack = match n.as_str() {
            "a" | "b" => "r1",
            "c" => "r2",
            _ => "r3",
        };
        *per_rack.entry(rack).or_default() += 1;
    }
    assert_eq!(per_rack, BTreeMap::from([("r1", 2), ("r2", 2), ("r3", 2)]));
}

#[test]
fn binpack_fills_one_node_before_the_next() {
    let mut c = Cluster::default();
    c.nodes("n", 3, 4.0, 4000);
    let runs = c.queued(&app("work:qa").build(), 5);
    let plan = c.plan();
    let nodes = nodes_of(&plan, &runs);
    assert!(nodes[..4].iter().all(|n| *n == nodes[0]), "{nodes:?}");
    assert_ne!(nodes[4], nodes[0]);
}

#[test]
fn spread_puts_an_apps_runs_on_different_nodes() {
    let mut c = Cluster::default();
    c.nodes("n", 3, 4.0, 4000);
    let runs = c.queued(&app("web:qa").scorers(&[("spread", 1)]).build(), 3);
    let mut nodes = nodes_of(&c.plan(), &runs);
    nodes.sort();
    assert_eq!(nodes, ["n-1", "n-2", "n-3"]);
}

#[test]
fn affinity_prefers_matching_nodes_and_falls_back_to_the_others() {
    let mut c = Cluster::default();
    c.node(node("hdd", 2.0, 1000).attr("disk", "hdd"));
    c.node(node("ssd", 2.0, 1000).attr("disk", "ssd"));
    let runs = c.queued(
        &app("db:qa")
            .prefer(&["disk", "EQUALS", "ssd"])
            .scorers(&[("affinity", 1)])
            .build(),
        3,
    );
    assert_eq!(nodes_of(&c.plan(), &runs), ["ssd", "ssd", "hdd"]);
}

#[test]
fn balanced_prefers_the_node_whose_cores_and_memory_fill_alike() {
    let mut c = Cluster::default();
    c.node(node("mem-heavy", 4.0, 1000));
    c.node(node("even", 4.0, 4000));
    let runs = c.queued(
        &app("work:qa")
            .size(1.0, 1000)
            .scorers(&[("balanced", 1)])
            .build(),
        1,
    );
    assert_eq!(nodes_of(&c.plan(), &runs), ["even"]);
}

#[test]
fn a_run_needing_a_gpu_goes_to_a_gpu_node_and_is_rejected_where_there_is_none() {
    let trainer = app("train:qa").ext("gpu", 1).build();
    let mut c = Cluster::default();
    c.node(node("cpu", 8.0, 1000));
    c.node(node("gpu", 8.0, 1000).ext("gpu", 2));
    let runs = c.queued(&trainer, 3);
    assert_eq!(nodes_of(&c.plan(), &runs), ["gpu", "gpu", "-"]);

    let mut c = Cluster::default();
    c.node(node("cpu", 8.0, 1000));
    c.queued(&trainer, 1);
    assert_eq!(
        c.plan().rejections[0].reason.to_string(),
        "needs 1 gpu but the largest node has 0 gpu"
    );
}

#[test]
fn down_and_draining_nodes_take_no_new_runs() {
    let mut c = Cluster::default();
    c.node(node("down", 8.0, 1000).down());
    c.node(node("draining", 8.0, 1000).draining());
    c.node(node("ready", 1.0, 1000));
    let runs = c.queued(&app("work:qa").build(), 2);
    assert_eq!(nodes_of(&c.plan(), &runs), ["ready", "-"]);
}

#[test]
fn placements_are_grouped_per_node_for_dispatch() {
    let mut c = Cluster::default();
    c.nodes("n", 2, 2.0, 1000);
    let runs = c.queued(&app("work:qa").build(), 4);
    let plan = c.plan();
    let by_node = plan.by_node();
    assert_eq!(by_node.len(), 2);
    let mut all: Vec<_> = by_node.values().flatten().copied().collect();
    all.sort();
    assert_eq!(all, runs);
}

#[test]
fn the_same_snapshot_and_seed_give_the_same_plan_and_the_seed_breaks_ties() {
    let mut c = Cluster::default();
    c.nodes("n", 20, 4.0, 1000);
    let runs = c.queued(&app("web:qa").scorers(&[("spread", 1)]).build(), 1);
    let first = c.plan();
    assert_eq!(first, c.plan());
    let chosen: std::collections::BTreeSet<String> = (0..20)
        .map(|seed| {
            c.params.plan_id = seed;
            nodes_of(&c.plan(), &runs)[0].clone()
        })
        .collect();
    assert!(chosen.len() > 5, "seeds should spread ties: {chosen:?}");
}

/// A scorer of our own: prefers the node named `z`.
struct PreferZ;

impl Scorer for PreferZ {
    fn name(&self) -> &'static str {
        "prefer-z"
    }

    fn score(&self, at: &At<'_>) -> u32 {
        if at.node().0 == "z" { 100 } else { 0 }
    }
}

#[test]
fn a_scorer_registered_by_name_ranks_nodes_for_profiles_that_name_it() {
    let mut registry = Registry::builtin();
    registry.register_scorer(PreferZ);
    let mut c = Cluster::default();
    c.scheduler = Scheduler::new(registry);
    c.node(node("a", 4.0, 1000));
    c.node(node("z", 4.0, 1000));
    let runs = c.queued(&app("work:qa").scorers(&[("prefer-z", 1)]).build(), 1);
    assert_eq!(nodes_of(&c.plan(), &runs), ["z"]);
}

/// 200 nodes of 4 cores, placed by a sample of 10 nodes at a time.
fn sampled_cluster() -> Cluster {
    let mut c = Cluster::default();
    c.nodes("n", 200, 4.0, 4000);
    c.params.sampling = rota_sched::Sampling::Sample {
        min_feasible: 10,
        percent: 5,
    };
    c
}

fn runs_per_node(plan: &rota_sched::Plan) -> BTreeMap<String, usize> {
    let mut per_node = BTreeMap::new();
    for p in &plan.placements {
        *per_node.entry(p.node.0.clone()).or_default() += 1;
    }
    per_node
}

#[test]
fn with_sampling_spread_still_spreads_over_the_whole_cluster() {
    let mut c = sampled_cluster();
    c.queued(&app("web:qa").scorers(&[("spread", 1)]).build(), 200);
    let per_node = runs_per_node(&c.plan());
    assert_eq!(per_node.len(), 200, "one run on each node");
}

#[test]
fn with_sampling_binpack_still_fills_nodes_before_opening_new_ones() {
    let mut c = sampled_cluster();
    c.queued(&app("batch:qa").scorers(&[("binpack", 1)]).build(), 40);
    let per_node = runs_per_node(&c.plan());
    assert_eq!(per_node.len(), 10, "ten full nodes: {per_node:?}");
}
