//! A stopped member catches up when it comes back: from the log it kept, or from a
//! snapshot when the leader has purged what it missed.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_follower_catches_up_from_the_log() {
    let members = cluster_of(3, 10_000).await;
    submit(&members, add_app("etl")).await.unwrap();
    let follower = (leader(&members).await + 1) % 3;
    members[follower].stop().await;
    for minute in 1..=10 {
        submit(&members, trigger("etl", minute)).await.unwrap();
    }
    members[follower].open(10_000).await;
    let state = converged(&members).await;
    assert_eq!(members[follower].state_json(), state);
    assert_eq!(run_times(&members[follower], "etl").len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_follower_catches_up_from_a_snapshot_when_the_log_was_purged() {
    let members = cluster_of(3, 5).await;
    submit(&members, add_app("etl")).await.unwrap();
    converged(&members).await;
    let follower = (leader(&members).await + 1) % 3;
    let had = members[follower].applied();
    members[follower].stop().await;
    for minute in 1..=30 {
        submit(&members, trigger("etl", minute)).await.unwrap();
    }
    let leader = leader(&members).await;
    eventually("the leader purged what the follower missed", || {
        members[leader]
            .cluster()
            .metrics()
            .purged_index
            .is_some_and(|purged| purged > had)
    })
    .await;
    members[follower].open(5).await;
    let state = converged(&members).await;
    assert_eq!(members[follower].state_json(), state);
    assert_eq!(run_times(&members[follower], "etl").len(), 30);
    assert!(
        members[follower]
            .cluster()
            .metrics()
            .snapshot_index
            .is_some(),
        "the follower holds a snapshot"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_cluster_restarted_recovers_every_acknowledged_write() {
    let members = cluster_of(3, 7).await;
    submit(&members, add_app("etl")).await.unwrap();
    for minute in 1..=20 {
        submit(&members, trigger("etl", minute)).await.unwrap();
    }
    let before = converged(&members).await;
    for member in &members {
        member.stop().await;
    }
    for member in &members {
        member.open(7).await;
    }
    assert_eq!(converged(&members).await, before);
}
