//! Membership changes: a new member joins as a learner, catches up from a snapshot, and
//! becomes a voter; a member is removed.

use std::collections::BTreeSet;

use rota_store::{MemberId, Role};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_member_joins_as_learner_then_voter_and_catches_up_from_a_snapshot() {
    let mut members = cluster_of(3, 5).await;
    submit(&members, add_app("etl")).await.unwrap();
    for minute in 1..=20 {
        submit(&members, trigger("etl", minute)).await.unwrap();
    }
    let leader = leader(&members).await;
    eventually("the leader purged its early log", || {
        members[leader].cluster().metrics().purged_index.is_some()
    })
    .await;

    let newcomer = Member::start(4, 5).await;
    let (id, addr) = (newcomer.id, newcomer.addr.clone());
    members.push(newcomer);
    let cluster = members[leader].cluster();
    cluster.add_learner(id, &addr).await.unwrap();
    eventually("the learner is a learner", || {
        members[3].cluster().metrics().role == Role::Learner
    })
    .await;
    let voters: BTreeSet<MemberId> = (1..=4).map(MemberId).collect();
    cluster.change_membership(&voters).await.unwrap();

    let state = converged(&members).await;
    assert_eq!(members[3].state_json(), state);
    assert_eq!(run_times(&members[3], "etl").len(), 20);
    assert!(members[3].cluster().metrics().snapshot_index.is_some());
    eventually("the newcomer votes", || {
        members[3].cluster().metrics().role == Role::Follower
    })
    .await;
    let metrics = cluster.metrics();
    assert_eq!(metrics.members.iter().filter(|m| m.voter).count(), 4);

    // It takes writes like any member.
    submit(&members, trigger("etl", 21)).await.unwrap();
    converged(&members).await;
    assert_eq!(run_times(&members[3], "etl").len(), 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_leaves_the_configuration() {
    let members = cluster_of(3, 10_000).await;
    let leader = leader(&members).await;
    let gone = members[(leader + 1) % 3].id;
    let cluster = members[leader].cluster();
    cluster.remove_member(gone).await.unwrap();
    let mut metrics = cluster.metrics();
    eventually("the configuration has two members", || {
        metrics = cluster.metrics();
        metrics.members.len() == 2
    })
    .await;
    assert!(metrics.members.iter().all(|m| m.id != gone));
    submit(&members, add_app("etl")).await.unwrap();
}
