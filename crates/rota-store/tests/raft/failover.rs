//! The leader's loss: a new leader is elected, accepts writes, and no acknowledged write
//! is lost.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_leader_elects_another_and_loses_no_acknowledged_write() {
    let members = cluster_of(3, 10_000).await;
    submit(&members, add_app("etl")).await.unwrap();
    for minute in 1..=10 {
        submit(&members, trigger("etl", minute)).await.unwrap();
    }
    let old = leader(&members).await;
    let old_term = members[old].cluster().metrics().term;
    members[old].stop().await;

    let new = leader(&members).await;
    assert_ne!(new, old);
    assert!(members[new].cluster().metrics().term > old_term);
    for minute in 11..=20 {
        submit(&members, trigger("etl", minute)).await.unwrap();
    }
    converged(&members).await;
    let expected: Vec<_> = (1..=20).map(t).collect();
    assert_eq!(run_times(&members[new], "etl"), expected);

    // The old leader comes back as a follower and gets what it missed.
    members[old].open(10_000).await;
    let state = converged(&members).await;
    assert_eq!(members[old].state_json(), state);
    assert_eq!(run_times(&members[old], "etl"), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leadership_watch_follows_a_failover() {
    let members = cluster_of(3, 10_000).await;
    let old = leader(&members).await;
    let survivor = (old + 1) % 3;
    let mut watch = members[survivor].cluster().leadership();
    members[old].stop().await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let view = *watch.borrow_and_update();
        if view.leader.is_some() && view.leader != Some(members[old].id) {
            break;
        }
        tokio::time::timeout_at(deadline, watch.changed())
            .await
            .expect("the watch reports a new leader")
            .unwrap();
    }
}
