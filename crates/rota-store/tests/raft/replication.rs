//! A cluster elects a leader, replicates commands, answers the proposer, and sends writers
//! on a follower to the leader.

use rota_store::{ClusterSubmitError, Role};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_elect_a_leader_and_hold_the_same_state() {
    let members = cluster_of(3, 10_000).await;
    submit(&members, add_app("etl")).await.unwrap();
    for minute in 1..=20 {
        let applied = submit(&members, trigger("etl", minute)).await.unwrap();
        assert_eq!(applied.runs.len(), 1, "a trigger creates one run");
    }
    let state = converged(&members).await;
    for member in &members {
        assert_eq!(member.state_json(), state);
        assert_eq!(run_times(member, "etl").len(), 20);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_reaches_the_proposer_and_changes_nothing() {
    let members = cluster_of(3, 10_000).await;
    submit(&members, add_app("etl")).await.unwrap();
    submit(&members, trigger("etl", 1)).await.unwrap();
    let before = converged(&members).await;
    let refusal = submit(&members, trigger("etl", 1)).await;
    assert!(
        refusal.is_err(),
        "a second run for one schedule time is refused"
    );
    assert_eq!(converged(&members).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_names_the_leader_a_write_must_go_to() {
    let members = cluster_of(3, 10_000).await;
    let leader = leader(&members).await;
    let follower = (leader + 1) % members.len();
    match members[follower].cluster().submit(add_app("etl")).await {
        Err(ClusterSubmitError::NotLeader {
            leader: Some(named),
        }) => {
            assert_eq!(named.id, members[leader].id);
            assert_eq!(named.addr, members[leader].addr);
        }
        other => panic!("expected NotLeader naming the leader, got {other:?}"),
    }
    let follower = members[follower].cluster();
    assert!(!follower.is_leader());
    assert_eq!(
        follower.leader().map(|l| l.id),
        Some(members[leader].id),
        "a follower knows the leader"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_reports_members_term_and_follower_lag() {
    let members = cluster_of(3, 10_000).await;
    submit(&members, add_app("etl")).await.unwrap();
    converged(&members).await;
    let leader = &members[leader(&members).await];
    let mut metrics = leader.cluster().metrics();
    eventually("the leader sees both followers caught up", || {
        metrics = leader.cluster().metrics();
        metrics.followers.len() == 2 && metrics.followers.iter().all(|f| f.lag == 0)
    })
    .await;
    assert_eq!(metrics.role, Role::Leader);
    assert_eq!(metrics.leader, Some(leader.id));
    assert!(metrics.term >= 1);
    assert_eq!(metrics.members.len(), 3);
    assert!(metrics.members.iter().all(|m| m.voter));
    assert_eq!(metrics.commit_index, metrics.last_log_index);
    assert_eq!(metrics.last_applied, metrics.commit_index);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_member_leads_alone_and_takes_writes() {
    let members = cluster_of(1, 10_000).await;
    submit(&members, add_app("etl")).await.unwrap();
    submit(&members, trigger("etl", 1)).await.unwrap();
    assert!(members[0].cluster().is_leader());
    assert_eq!(run_times(&members[0], "etl").len(), 1);
}
