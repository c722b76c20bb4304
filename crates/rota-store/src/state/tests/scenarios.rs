//! Scenarios of the state machine, each asserting the exact states and the exact [`Applied`]
//! (runs, kills, skipped) the loops act on.

use rota_model::api::{RunCounts, SkippedRun};
use rota_model::{Attempt, Concurrency, Ending, NodeId, Origin, RunId, RunState};

use super::{Scenario, app, key, t};
use crate::command::{FireTime, RerunMode};
use crate::refusal::Refusal;
use crate::state::Applied;

fn runs(ids: &[RunId]) -> Applied {
    Applied {
        runs: ids.to_vec(),
        ..Applied::default()
    }
}

fn node(name: &str) -> NodeId {
    NodeId(name.to_string())
}

fn skipped(s: &Scenario, id: RunId, reason: &str) -> SkippedRun {
    SkippedRun {
        id,
        schedule_time: s.run(id).schedule_time,
        reason: reason.to_string(),
    }
}

// ---- apps and versions ----

#[test]
fn an_added_app_is_version_1_and_not_scheduled() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").every_minute().build());
    let entry = s.state.app(&etl).expect("the app exists");
    assert_eq!(entry.versions.len(), 1);
    assert_eq!(entry.current().version, 1);
    assert_eq!(entry.current().created_at, t(0));
    assert!(!entry.scheduled);
    assert_eq!(entry.cursor, None);
}

#[test]
fn adding_an_app_that_exists_is_refused() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").build());
    let at = s.now();
    let refusal = s
        .apply(crate::Command::AddApp {
            spec: app("etl").command(&["false"]).build(),
            at,
        })
        .unwrap_err();
    assert_eq!(refusal, Refusal::AppExists(etl.clone()));
    assert_eq!(s.state.app(&etl).unwrap().versions.len(), 1);
}

#[test]
fn an_update_makes_a_new_version_and_a_run_keeps_the_version_it_started_with() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").build());
    let old = s.queued_run(&etl, t(1));
    s.wait(60);
    let applied = s
        .update(app("etl").command(&["etl", "--v2"]).build())
        .unwrap();
    assert_eq!(applied, Applied::default());
    let new = s.queued_run(&etl, t(2));

    let entry = s.state.app(&etl).unwrap();
    assert_eq!(
        entry.versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(entry.current().created_at, t(1));
    assert_eq!(s.run(old).version, 1);
    assert_eq!(s.run(new).version, 2);
    let command = |id| s.state.spec_of(s.run(id)).unwrap().command.clone().unwrap();
    assert_eq!(command(old), ["true"]);
    assert_eq!(command(new), ["etl", "--v2"]);
}

#[test]
fn updating_an_app_that_does_not_exist_is_refused() {
    let mut s = Scenario::new();
    assert_eq!(
        s.update(app("ghost").build()).unwrap_err(),
        Refusal::AppNotFound(key("ghost", "default"))
    );
}

/// Regression (in part): making a scheduled app event-driven was refused as `NoCron`, whose
/// message ("use trigger") is wrong for an app that has a trigger of its own.
#[test]
fn a_scheduled_app_cannot_lose_its_cron_by_an_update() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").every_minute().build());
    s.schedule(&etl, true).unwrap();
    assert_eq!(
        s.update(app("etl").no_cron().build()).unwrap_err(),
        Refusal::NoCron(etl.clone())
    );
    assert_eq!(
        s.update(app("etl").event_driven().build()).unwrap_err(),
        Refusal::EventDriven(etl.clone())
    );
    s.update(app("etl").cron("0 0 * * * ?").build()).unwrap();
    s.schedule(&etl, false).unwrap();
    s.update(app("etl").event_driven().build()).unwrap();
    assert_eq!(s.state.app(&etl).unwrap().versions.len(), 3);
}

#[test]
fn removing_an_app_kills_its_waiting_runs_and_asks_the_nodes_to_stop_its_running_ones() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").retries(3, 10).build());
    let queued = s.queued_run(&etl, t(1));
    let running = s.queued_run(&etl, t(2));
    s.running_run(running, "n1");
    let done = s.queued_run(&etl, t(3));
    s.run_to_end(done, Ending::Succeeded);
    let pending = s.pending_run(&etl, t(4));
    s.wait(60);

    let applied = s.remove(&etl).unwrap();

    assert_eq!(
        applied,
        Applied {
            runs: vec![queued, running, pending],
            kills: vec![(running, node("n1"))],
            skipped: vec![],
            ..Applied::default()
        }
    );
    assert!(s.state.app(&etl).is_none());
    for id in [queued, pending] {
        let run = s.run(id);
        assert_eq!(run.state, RunState::Killed);
        assert_eq!(run.reason.as_deref(), Some("its app was removed"));
        assert_eq!(run.ended_at, Some(s.now()));
    }
    assert_eq!(s.run(running).state, RunState::Running);
    assert!(s.run(running).kill_requested);
    assert_eq!(s.run(done).state, RunState::Succeeded);
    assert_eq!(s.state.run_count(), 4, "the records stay");

    // The run that was told to stop is not retried when it fails, though the app had retries.
    s.finished(running, 1, Ending::Failed).unwrap();
    assert_eq!(s.run(running).state, RunState::Failed);
    assert!(s.state.queued().is_empty());
}

#[test]
fn removing_an_app_that_does_not_exist_is_refused() {
    let mut s = Scenario::new();
    let ghost = key("ghost", "default");
    assert_eq!(
        s.remove(&ghost).unwrap_err(),
        Refusal::AppNotFound(ghost.clone())
    );
}

// ---- schedule ----

#[test]
fn starting_an_app_schedules_it_from_now_and_stopping_keeps_its_cursor() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").every_minute().build());
    s.wait(60);
    s.schedule(&etl, true).unwrap();
    assert!(s.state.app(&etl).unwrap().scheduled);
    assert_eq!(s.state.app(&etl).unwrap().cursor, Some(t(1)));

    s.wait(60);
    s.schedule(&etl, true).unwrap();
    assert_eq!(
        s.state.app(&etl).unwrap().cursor,
        Some(t(1)),
        "starting a started app does not move its cursor"
    );

    s.schedule(&etl, false).unwrap();
    assert!(!s.state.app(&etl).unwrap().scheduled);
    assert_eq!(s.state.app(&etl).unwrap().cursor, Some(t(1)));

    s.wait(60);
    s.schedule(&etl, true).unwrap();
    assert_eq!(
        s.state.app(&etl).unwrap().cursor,
        Some(t(3)),
        "fire times missed while stopped are not caught up"
    );
}

#[test]
fn starting_an_app_without_a_cron_is_refused_with_no_cron() {
    let mut s = Scenario::new();
    let manual = s.add(app("manual").no_cron().build());
    assert_eq!(
        s.schedule(&manual, true).unwrap_err(),
        Refusal::NoCron(manual.clone())
    );
    assert!(!s.state.app(&manual).unwrap().scheduled);
}

#[test]
fn starting_an_event_driven_app_is_refused_with_event_driven() {
    let mut s = Scenario::new();
    let called = s.add(app("called").event_driven().build());
    assert_eq!(
        s.schedule(&called, true).unwrap_err(),
        Refusal::EventDriven(called.clone())
    );
    s.schedule(&called, false)
        .expect("stopping an app that never runs by itself is harmless");
}

#[test]
fn starting_or_stopping_an_app_that_does_not_exist_is_refused() {
    let mut s = Scenario::new();
    let ghost = key("ghost", "default");
    for on in [true, false] {
        assert_eq!(
            s.schedule(&ghost, on).unwrap_err(),
            Refusal::AppNotFound(ghost.clone())
        );
    }
}

// ---- fire ----

#[test]
fn a_fire_time_fired_twice_makes_exactly_one_run() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").every_minute().build());
    s.schedule(&etl, true).unwrap();

    let first = s.fire(&etl, &[t(1)]);
    assert_eq!(first.runs.len(), 1);
    let run = first.runs[0];
    assert_eq!(s.run(run).state, RunState::Queued);
    assert_eq!(s.run(run).origin, Origin::Cron);

    let second = s.fire(&etl, &[t(1), t(2), t(2)]);
    assert_eq!(second.runs.len(), 1, "only t(2) is new: {second:?}");
    assert_eq!(s.state.run_at(&etl, t(1)).unwrap().id, run);
    assert_eq!(s.state.run_at(&etl, t(2)).unwrap().id, second.runs[0]);
    assert_eq!(s.state.run_count(), 2);
}

#[test]
fn a_fire_time_with_a_skip_reason_is_recorded_as_skipped() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").every_minute().build());
    s.schedule(&etl, true).unwrap();
    let applied = s.fire_times(
        &etl,
        vec![
            FireTime {
                time: t(1),
                origin: Origin::Catchup,
                skip: Some("missed while the scheduler was down (catchup: none)".into()),
            },
            FireTime {
                time: t(2),
                origin: Origin::Cron,
                skip: None,
            },
        ],
    );
    assert_eq!(applied.runs.len(), 2);
    let missed = s.run(applied.runs[0]);
    assert_eq!(missed.state, RunState::Skipped);
    assert_eq!(missed.origin, Origin::Catchup);
    assert_eq!(
        missed.reason.as_deref(),
        Some("missed while the scheduler was down (catchup: none)")
    );
    assert_eq!(s.run(applied.runs[1]).state, RunState::Queued);
    assert_eq!(s.state.app(&etl).unwrap().cursor, Some(t(2)));
}

#[test]
fn a_fire_for_an_app_that_is_not_scheduled_does_nothing() {
    let mut s = Scenario::new();
    let never_started = s.add(app("idle").every_minute().build());
    let stopped = s.add(app("stopped").every_minute().build());
    s.schedule(&stopped, true).unwrap();
    s.schedule(&stopped, false).unwrap();
    let ghost = key("ghost", "default");

    for app in [&never_started, &stopped, &ghost] {
        assert_eq!(s.fire(app, &[t(1)]), Applied::default(), "{app}");
    }
    assert_eq!(s.state.run_count(), 0);
    assert_eq!(s.state.app(&never_started).unwrap().cursor, None);
    assert_eq!(s.state.app(&stopped).unwrap().cursor, Some(t(0)));
}

#[test]
fn a_fire_moves_the_cursor_forward_and_never_back() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").every_minute().build());
    s.schedule(&etl, true).unwrap();
    s.fire(&etl, &[t(5)]);
    assert_eq!(s.state.app(&etl).unwrap().cursor, Some(t(5)));
    s.fire(&etl, &[t(3)]);
    assert_eq!(s.state.app(&etl).unwrap().cursor, Some(t(5)));
}

#[test]
fn concurrency_forbid_skips_a_new_run_while_an_earlier_one_is_active() {
    let mut s = Scenario::new();
    let etl = s.add(
        app("etl")
            .every_minute()
            .concurrency(Concurrency::Forbid)
            .build(),
    );
    s.schedule(&etl, true).unwrap();
    let first = s.fire(&etl, &[t(1)]).runs[0];
    s.running_run(first, "n1");

    let applied = s.fire(&etl, &[t(2)]);
    let second = applied.runs[0];
    assert_eq!(applied, runs(&[second]));
    assert_eq!(s.run(second).state, RunState::Skipped);
    assert_eq!(
        s.run(second).reason.as_deref(),
        Some("run 1 is still active (concurrency: forbid)")
    );
    assert_eq!(s.run(first).state, RunState::Running);

    s.finished(first, 1, Ending::Succeeded).unwrap();
    let third = s.fire(&etl, &[t(3)]).runs[0];
    assert_eq!(s.run(third).state, RunState::Queued);
}

#[test]
fn concurrency_replace_kills_a_waiting_run_at_once_and_asks_the_node_to_stop_a_running_one() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").concurrency(Concurrency::Replace).build());
    let first = s.queued_run(&etl, t(1));

    let applied = s.trigger(&etl, t(2)).unwrap();
    let second = RunId(first.0 + 1);
    assert_eq!(applied, runs(&[second, first]));
    assert_eq!(s.run(first).state, RunState::Killed);
    assert_eq!(
        s.run(first).reason.as_deref(),
        Some("replaced by run 2 (concurrency: replace)")
    );
    assert_eq!(s.run(second).state, RunState::Queued);

    s.running_run(second, "n7");
    let applied = s.trigger(&etl, t(3)).unwrap();
    let third = RunId(second.0 + 1);
    assert_eq!(
        applied,
        Applied {
            runs: vec![third, second],
            kills: vec![(second, node("n7"))],
            skipped: vec![],
            ..Applied::default()
        }
    );
    assert_eq!(s.run(second).state, RunState::Running);
    assert!(s.run(second).kill_requested);
    assert_eq!(s.run(third).state, RunState::Queued);
}

#[test]
fn concurrency_allow_runs_an_apps_runs_side_by_side() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").build());
    let first = s.queued_run(&etl, t(1));
    s.running_run(first, "n1");
    let second = s.queued_run(&etl, t(2));
    assert_eq!(s.run(first).state, RunState::Running);
    assert_eq!(s.run(second).state, RunState::Queued);
}

// ---- trigger ----

#[test]
fn a_trigger_queues_a_manual_run_for_its_schedule_time() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").build());
    s.wait(30);
    let applied = s.trigger(&etl, t(9)).unwrap();
    let id = applied.runs[0];
    assert_eq!(applied, runs(&[id]));
    let run = s.run(id);
    assert_eq!(run.state, RunState::Queued);
    assert_eq!(run.origin, Origin::Manual);
    assert_eq!(run.schedule_time, t(9));
    assert_eq!((run.created_at, run.queued_at), (s.now(), Some(s.now())));
    assert_eq!(run.attempts, 0);
}

#[test]
fn a_trigger_for_a_time_that_has_a_run_is_refused_with_run_exists() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").build());
    let id = s.queued_run(&etl, t(1));
    s.run_to_end(id, Ending::Failed);
    assert_eq!(
        s.trigger(&etl, t(1)).unwrap_err(),
        Refusal::RunExists {
            run: id,
            state: RunState::Failed
        }
    );
}

#[test]
fn a_trigger_for_an_app_that_does_not_exist_is_refused() {
    let mut s = Scenario::new();
    let ghost = key("ghost", "default");
    assert_eq!(
        s.trigger(&ghost, t(1)).unwrap_err(),
        Refusal::AppNotFound(ghost.clone())
    );
}

// ---- place, started, finished ----

#[test]
fn a_placement_starts_only_queued_runs_and_counts_their_attempts() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").build());
    let queued = s.queued_run(&etl, t(1));
    let running = s.queued_run(&etl, t(2));
    s.running_run(running, "n1");
    let done = s.queued_run(&etl, t(3));
    s.run_to_end(done, Ending::Succeeded);
    s.wait(5);

    let applied = s.place(&[queued, running, done, RunId(99), queued], "n2");

    assert_eq!(applied, runs(&[queued]));
    let run = s.run(queued);
    assert_eq!(run.state, RunState::Running);
    assert_eq!(run.attempts, 1);
    assert_eq!(run.node, Some(node("n2")));
    assert_eq!(run.started_at, Some(s.now()));
    assert_eq!(s.run(running).node, Some(node("n1")));
    assert_eq!(s.run(running).attempts, 1);
    assert_eq!(s.run(done).state, RunState::Succeeded);
    assert!(s.state.queued().is_empty());
    let running_ids: Vec<_> = s.state.running().map(|r| r.id).collect();
    assert_eq!(running_ids, [queued, running]);
}

#[test]
fn a_start_report_records_the_process_of_the_current_attempt() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").build());
    let id = s.queued_run(&etl, t(1));
    s.place(&[id], "n1");
    s.wait(3);
    assert_eq!(
        s.started(id, 1).unwrap(),
        Applied {
            runs: vec![id],
            ..Applied::default()
        }
    );
    let run = s.run(id);
    assert_eq!(
        run.process,
        Some(rota_model::ProcessRef {
            pid: 4242,
            start_ticks: 7
        })
    );
    assert_eq!(run.started_at, Some(s.now()));
}

#[test]
fn a_report_on_an_attempt_that_is_not_current_is_refused_as_stale() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").retries(1, 10).build());
    let id = s.queued_run(&etl, t(1));
    s.place(&[id], "n1");
    let stale = |attempt, state| Refusal::StaleReport {
        run: id,
        attempt,
        state,
    };

    assert_eq!(s.started(id, 2).unwrap_err(), stale(2, RunState::Running));
    assert_eq!(
        s.finished(id, 0, Ending::Succeeded).unwrap_err(),
        stale(0, RunState::Running)
    );

    s.finished(id, 1, Ending::Failed).unwrap();
    assert_eq!(s.run(id).state, RunState::Queued, "retried");
    assert_eq!(
        s.finished(id, 1, Ending::Failed).unwrap_err(),
        stale(1, RunState::Queued),
        "a duplicate report of the failed attempt does not use a second retry"
    );
    assert_eq!(s.started(id, 1).unwrap_err(), stale(1, RunState::Queued));

    s.place(&[id], "n1");
    s.finished(id, 2, Ending::Succeeded).unwrap();
    assert_eq!(
        s.finished(id, 2, Ending::Failed).unwrap_err(),
        stale(2, RunState::Succeeded)
    );
    assert_eq!(s.run(id).state, RunState::Succeeded);
}

#[test]
fn a_report_on_a_run_that_does_not_exist_is_refused() {
    let mut s = Scenario::new();
    assert_eq!(
        s.started(RunId(7), 1).unwrap_err(),
        Refusal::RunNotFound(RunId(7))
    );
    assert_eq!(
        s.finished(RunId(7), 1, Ending::Succeeded).unwrap_err(),
        Refusal::RunNotFound(RunId(7))
    );
}

#[test]
fn a_failed_run_is_retried_with_doubling_backoff_until_its_retries_are_used_up() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").retries(2, 10).build());
    let id = s.queued_run(&etl, t(1));

    // Attempt 1 fails: queued again, 10 s later at the earliest.
    s.place(&[id], "n1");
    let started_1 = s.now();
    s.wait(60);
    let applied = s.finished(id, 1, Ending::Failed).unwrap();
    let ended_1 = s.now();
    assert_eq!(applied, runs(&[id]));
    let run = s.run(id);
    assert_eq!(run.state, RunState::Queued);
    assert_eq!(run.retries_used, 1);
    assert_eq!(
        run.not_before,
        Some(ended_1 + jiff::SignedDuration::from_secs(10))
    );
    assert_eq!(run.queued_at, Some(ended_1));
    assert_eq!(
        run.history,
        [Attempt {
            attempt: 1,
            state: RunState::Failed,
            exit_code: Some(1),
            reason: Some("Failed".into()),
            node: Some(node("n1")),
            exit_reason: None,
            usage: Default::default(),
            started_at: Some(started_1),
            ended_at: Some(ended_1),
        }]
    );

    // Attempt 2 fails: 20 s.
    s.wait(10);
    s.place(&[id], "n2");
    assert_eq!(s.run(id).attempts, 2);
    assert_eq!(s.run(id).not_before, None);
    s.wait(60);
    s.finished(id, 2, Ending::Failed).unwrap();
    let ended_2 = s.now();
    let run = s.run(id);
    assert_eq!(run.state, RunState::Queued);
    assert_eq!(run.retries_used, 2);
    assert_eq!(
        run.not_before,
        Some(ended_2 + jiff::SignedDuration::from_secs(20))
    );
    assert_eq!(
        run.history
            .iter()
            .map(|a| (a.attempt, a.node.clone()))
            .collect::<Vec<_>>(),
        [(1, Some(node("n1"))), (2, Some(node("n2")))]
    );

    // Attempt 3 fails: no retries left, the run stays failed with its history.
    s.wait(20);
    s.place(&[id], "n1");
    s.wait(60);
    let applied = s.finished(id, 3, Ending::Failed).unwrap();
    assert_eq!(applied, runs(&[id]));
    let run = s.run(id);
    assert_eq!(run.state, RunState::Failed);
    assert_eq!(run.attempts, 3);
    assert_eq!(run.retries_used, 2);
    assert_eq!(run.history.len(), 2);
    assert_eq!(run.ended_at, Some(s.now()));
    assert_eq!(run.not_before, None);
    assert!(s.state.queued().is_empty());
}

#[test]
fn the_retry_backoff_doubles_up_to_an_hour_and_no_further() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").retries(30, 1000).build());
    let id = s.queued_run(&etl, t(1));
    let mut waits = Vec::new();
    for attempt in 1..=5 {
        s.place(&[id], "n1");
        s.finished(id, attempt, Ending::Failed).unwrap();
        let not_before = s.run(id).not_before.expect("retried");
        waits.push((not_before - s.now()).get_seconds());
        s.wait(3600);
    }
    assert_eq!(waits, [1000, 2000, 3600, 3600, 3600]);
}

/// Regression: a `retry_backoff` above `i64::MAX` seconds wrapped to a negative wait, so the
/// retry was due before the failure.
#[test]
fn a_backoff_too_large_to_compute_still_waits_an_hour() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").retries(1, u64::MAX).build());
    let id = s.queued_run(&etl, t(1));
    s.place(&[id], "n1");
    s.finished(id, 1, Ending::Failed).unwrap();
    let not_before = s.run(id).not_before.expect("retried");
    assert_eq!((not_before - s.now()).get_seconds(), 3600);
}

#[test]
fn timed_out_and_lost_runs_are_retried_but_killed_and_succeeded_ones_are_not() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").retries(1, 10).build());
    for (minute, ending, after) in [
        (1, Ending::TimedOut, RunState::Queued),
        (2, Ending::Lost, RunState::Queued),
        (3, Ending::Killed, RunState::Killed),
        (4, Ending::Succeeded, RunState::Succeeded),
        (5, Ending::Failed, RunState::Queued),
    ] {
        let id = s.queued_run(&etl, t(minute));
        s.run_to_end(id, ending);
        assert_eq!(s.run(id).state, after, "{ending:?}");
    }
}

#[test]
fn a_run_asked_to_stop_is_not_retried_when_it_ends() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").retries(3, 10).build());
    let id = s.queued_run(&etl, t(1));
    s.running_run(id, "n1");
    s.kill(&[id]).unwrap();
    // The process died of the kill signal and its node reports a failure.
    let applied = s.finished(id, 1, Ending::Failed).unwrap();
    assert_eq!(applied, runs(&[id]));
    assert_eq!(s.run(id).state, RunState::Failed);
    assert_eq!(s.run(id).retries_used, 0);
    assert!(s.state.queued().is_empty());
}

// ---- kill and delete-queued ----

#[test]
fn killing_a_pending_or_queued_run_ends_it_at_once() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").build());
    let pending = s.pending_run(&etl, t(1));
    let queued = s.queued_run(&etl, t(2));
    s.wait(60);

    let applied = s.kill(&[pending, queued]).unwrap();

    assert_eq!(applied, runs(&[pending, queued]));
    for id in [pending, queued] {
        let run = s.run(id);
        assert_eq!(run.state, RunState::Killed);
        assert_eq!(run.reason.as_deref(), Some("killed on request"));
        assert_eq!(run.ended_at, Some(s.now()));
    }
    assert!(s.state.queued().is_empty());
    assert_eq!(s.state.pending().count(), 0);
}

#[test]
fn killing_a_running_run_asks_its_node_and_the_run_ends_when_the_node_says_so() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").build());
    let id = s.queued_run(&etl, t(1));
    s.running_run(id, "n3");

    let applied = s.kill(&[id]).unwrap();
    assert_eq!(
        applied,
        Applied {
            runs: vec![id],
            kills: vec![(id, node("n3"))],
            skipped: vec![],
            ..Applied::default()
        }
    );
    assert_eq!(s.run(id).state, RunState::Running);
    assert!(s.run(id).kill_requested);

    s.finished(id, 1, Ending::Killed).unwrap();
    assert_eq!(s.run(id).state, RunState::Killed);
}

#[test]
fn killing_an_ended_run_leaves_it_alone_and_says_why() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").build());
    let id = s.queued_run(&etl, t(1));
    s.run_to_end(id, Ending::Succeeded);
    let applied = s.kill(&[id]).unwrap();
    assert_eq!(
        applied,
        Applied {
            skipped: vec![skipped(&s, id, "already succeeded")],
            ..Applied::default()
        }
    );
    assert_eq!(s.run(id).state, RunState::Succeeded);
}

/// Regression: the runs named before a missing one were killed (and their kill orders
/// lost with the refusal) although the command was refused.
#[test]
fn a_kill_naming_a_run_that_does_not_exist_is_refused_and_kills_nothing() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").build());
    let queued = s.queued_run(&etl, t(1));
    let running = s.queued_run(&etl, t(2));
    s.running_run(running, "n1");

    // The harness asserts that the refused command changed nothing.
    assert_eq!(
        s.kill(&[queued, running, RunId(99)]).unwrap_err(),
        Refusal::RunNotFound(RunId(99))
    );
    assert_eq!(s.run(queued).state, RunState::Queued);
    assert!(!s.run(running).kill_requested);
}

#[test]
fn delete_queued_kills_a_waiting_run() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").build());
    let queued = s.queued_run(&etl, t(1));
    let pending = s.pending_run(&etl, t(2));
    for id in [queued, pending] {
        assert_eq!(s.delete_queued(id).unwrap(), runs(&[id]));
        assert_eq!(s.run(id).state, RunState::Killed);
        assert_eq!(
            s.run(id).reason.as_deref(),
            Some("deleted from the waiting queue")
        );
    }
}

#[test]
fn delete_queued_refuses_a_run_that_is_not_waiting() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").build());
    let running = s.queued_run(&etl, t(1));
    s.running_run(running, "n1");
    let done = s.queued_run(&etl, t(2));
    s.run_to_end(done, Ending::Failed);

    assert_eq!(
        s.delete_queued(running).unwrap_err(),
        Refusal::NotWaiting {
            run: running,
            state: RunState::Running
        }
    );
    assert_eq!(
        s.delete_queued(done).unwrap_err(),
        Refusal::NotWaiting {
            run: done,
            state: RunState::Failed
        }
    );
    assert_eq!(
        s.delete_queued(RunId(99)).unwrap_err(),
        Refusal::RunNotFound(RunId(99))
    );
    assert!(!s.run(running).kill_requested);
}

// ---- repair and replay ----

/// An app with one run in each interesting state, at t(1)..=t(8), one failed run before the
/// range at t(0), and no run at t(9):
/// succeeded, failed, killed, timed out, lost, rejected, running, skipped.
struct Range {
    s: Scenario,
    etl: rota_model::AppKey,
    before: RunId,
    succeeded: RunId,
    failed: RunId,
    killed: RunId,
    timed_out: RunId,
    lost: RunId,
    rejected: RunId,
    running: RunId,
    skipped: RunId,
}

fn range_with_every_state() -> Range {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").every_minute().build());
    let before = s.queued_run(&etl, t(0));
    s.run_to_end(before, Ending::Failed);
    let succeeded = s.queued_run(&etl, t(1));
    s.run_to_end(succeeded, Ending::Succeeded);
    let failed = s.queued_run(&etl, t(2));
    s.run_to_end(failed, Ending::Failed);
    let killed = s.queued_run(&etl, t(3));
    s.kill(&[killed]).unwrap();
    let timed_out = s.queued_run(&etl, t(4));
    s.run_to_end(timed_out, Ending::TimedOut);
    let lost = s.queued_run(&etl, t(5));
    s.run_to_end(lost, Ending::Lost);
    let rejected = s.queued_run(&etl, t(6));
    s.reject(&[(rejected, "needs 512 cores")]);
    let running = s.queued_run(&etl, t(7));
    s.running_run(running, "n1");
    s.schedule(&etl, true).unwrap();
    let skipped = s.fire_times(
        &etl,
        vec![FireTime {
            time: t(8),
            origin: Origin::Catchup,
            skip: Some("catchup: none".into()),
        }],
    );
    let skipped = skipped.runs[0];
    s.wait(3600);
    Range {
        s,
        etl,
        before,
        succeeded,
        failed,
        killed,
        timed_out,
        lost,
        rejected,
        running,
        skipped,
    }
}

#[test]
fn repair_reruns_only_unsuccessful_ended_runs_and_creates_the_missing_fire_times() {
    let Range {
        mut s,
        etl,
        before,
        succeeded,
        failed,
        killed,
        timed_out,
        lost,
        rejected,
        running,
        skipped: skipped_run,
    } = range_with_every_state();

    let applied = s
        .rerun(
            &etl,
            RerunMode::Repair,
            (t(1), t(9)),
            &[t(0), t(8), t(9), t(10)],
        )
        .unwrap();

    let created = s
        .state
        .run_at(&etl, t(9))
        .expect("the missing fire time")
        .id;
    assert_eq!(
        applied,
        Applied {
            // In schedule-time order: the missing fire time (9) comes last.
            runs: vec![failed, killed, timed_out, lost, rejected, created],
            kills: vec![],
            skipped: vec![
                skipped(
                    &s,
                    succeeded,
                    "succeeded (repair re-runs only unsuccessful runs)"
                ),
                skipped(&s, running, "already running"),
                skipped(
                    &s,
                    skipped_run,
                    "skipped (repair re-runs only unsuccessful runs)"
                ),
            ],
            ..Applied::default()
        }
    );
    assert_eq!(s.run(created).origin, Origin::Repair);
    for id in [created, failed, killed, timed_out, lost, rejected] {
        assert_eq!(s.run(id).state, RunState::Queued, "{id}");
        assert_eq!(s.run(id).queued_at, Some(s.now()));
    }
    assert_eq!(s.run(before).state, RunState::Failed, "outside the range");
    assert_eq!(s.run(succeeded).state, RunState::Succeeded);
    assert_eq!(s.run(running).state, RunState::Running);
    assert_eq!(s.run(skipped_run).state, RunState::Skipped);
    assert!(
        s.state.run_at(&etl, t(10)).is_none(),
        "t(10) is after the range"
    );
}

#[test]
fn replay_reruns_every_ended_run_but_never_an_active_one() {
    let Range {
        mut s,
        etl,
        before,
        succeeded,
        failed,
        killed,
        timed_out,
        lost,
        rejected,
        running,
        skipped: skipped_run,
    } = range_with_every_state();
    let queued = s.queued_run(&etl, t(9));

    let applied = s
        .rerun(&etl, RerunMode::Replay, (t(1), t(10)), &[t(10)])
        .unwrap();

    let created = s.state.run_at(&etl, t(10)).unwrap().id;
    let rerun = [
        succeeded,
        failed,
        killed,
        timed_out,
        lost,
        rejected,
        skipped_run,
    ];
    // In schedule-time order: the missing fire time (10) comes last.
    let mut want = rerun.to_vec();
    want.push(created);
    assert_eq!(
        applied,
        Applied {
            runs: want,
            kills: vec![],
            skipped: vec![
                skipped(&s, running, "already running"),
                skipped(&s, queued, "already queued"),
            ],
            ..Applied::default()
        }
    );
    assert_eq!(s.run(created).origin, Origin::Replay);
    for id in rerun {
        assert_eq!(s.run(id).state, RunState::Queued, "{id}");
    }
    assert_eq!(s.run(running).state, RunState::Running);
    assert_eq!(s.run(before).state, RunState::Failed);
}

#[test]
fn a_rerun_keeps_attempts_and_history_runs_the_current_version_and_has_fresh_retries() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").retries(1, 10).build());
    let id = s.queued_run(&etl, t(1));
    s.run_to_end(id, Ending::Failed);
    s.run_to_end(id, Ending::Failed);
    assert_eq!(
        (s.run(id).state, s.run(id).attempts, s.run(id).retries_used),
        (RunState::Failed, 2, 1)
    );
    s.update(
        app("etl")
            .retries(1, 10)
            .command(&["etl", "--fixed"])
            .build(),
    )
    .unwrap();
    s.wait(600);

    s.rerun(&etl, RerunMode::Repair, (t(1), t(1)), &[]).unwrap();

    let run = s.run(id);
    assert_eq!(run.state, RunState::Queued);
    assert_eq!(run.version, 2);
    assert_eq!(run.attempts, 2);
    assert_eq!(run.retries_used, 0);
    assert_eq!(
        run.history
            .iter()
            .map(|a| (a.attempt, a.state))
            .collect::<Vec<_>>(),
        [(1, RunState::Failed), (2, RunState::Failed)]
    );
    assert_eq!(
        (
            run.exit_code,
            run.reason.as_deref(),
            run.started_at,
            run.ended_at,
            run.not_before
        ),
        (None, None, None, None, None)
    );

    // The re-run gets a retry of its own, and its attempts go on counting.
    s.run_to_end(id, Ending::Failed);
    assert_eq!(s.run(id).state, RunState::Queued);
    s.run_to_end(id, Ending::Succeeded);
    assert_eq!(s.run(id).state, RunState::Succeeded);
    assert_eq!(s.run(id).attempts, 4);
    assert_eq!(
        s.run(id)
            .history
            .iter()
            .map(|a| a.attempt)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

/// Regression: the re-run of a run killed while it ran was queued still marked
/// `kill_requested`, as if its new attempt had been asked to stop.
#[test]
fn a_rerun_of_a_run_killed_while_it_ran_carries_no_kill_over() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").build());
    let id = s.queued_run(&etl, t(1));
    s.running_run(id, "n1");
    s.kill(&[id]).unwrap();
    s.finished(id, 1, Ending::Killed).unwrap();

    s.rerun(&etl, RerunMode::Repair, (t(1), t(1)), &[]).unwrap();

    assert_eq!(s.run(id).state, RunState::Queued);
    assert!(!s.run(id).kill_requested);
}

#[test]
fn a_rerun_over_a_range_that_ends_before_it_begins_is_refused() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").build());
    assert_eq!(
        s.rerun(&etl, RerunMode::Replay, (t(2), t(1)), &[t(1)])
            .unwrap_err(),
        Refusal::BadRange {
            begin: t(2),
            end: t(1)
        }
    );
    let ghost = key("ghost", "default");
    assert_eq!(
        s.rerun(&ghost, RerunMode::Repair, (t(1), t(2)), &[])
            .unwrap_err(),
        Refusal::AppNotFound(ghost.clone())
    );
}

// ---- reject ----

#[test]
fn reject_ends_a_queued_run_with_the_reason_and_leaves_other_runs_alone() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").build());
    let queued = s.queued_run(&etl, t(1));
    let running = s.queued_run(&etl, t(2));
    s.running_run(running, "n1");

    let applied = s.reject(&[
        (queued, "needs 64 cores; the largest node has 8"),
        (running, "too big"),
        (RunId(99), "too big"),
    ]);

    assert_eq!(applied, runs(&[queued]));
    assert_eq!(s.run(queued).state, RunState::Rejected);
    assert_eq!(
        s.run(queued).reason.as_deref(),
        Some("needs 64 cores; the largest node has 8")
    );
    assert_eq!(s.run(running).state, RunState::Running);
    assert_eq!(s.run(running).reason, None);
}

/// Regression: a rejected run kept the `ended_at` of its failed attempt (or none), so listings
/// showed it as last changed before it was rejected.
#[test]
fn a_rejected_run_records_when_it_was_rejected() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").retries(1, 10).build());
    let fresh = s.queued_run(&etl, t(1));
    let retried = s.queued_run(&etl, t(2));
    s.run_to_end(retried, Ending::Failed);
    assert_eq!(s.run(retried).state, RunState::Queued);
    s.wait(600);

    s.reject(&[(fresh, "too big"), (retried, "too big")]);

    for id in [fresh, retried] {
        assert_eq!(s.run(id).state, RunState::Rejected);
        assert_eq!(s.run(id).ended_at, Some(s.now()), "{id}");
    }
}

// ---- readers ----

#[test]
fn queued_runs_are_ordered_by_priority_then_schedule_time_then_submission() {
    let mut s = Scenario::new();
    let low = s.add(app("low").priority(5).build());
    let high = s.add(app("high").priority(0).build());
    let other = s.add(app("other").queue("batch").build());
    let low_1 = s.queued_run(&low, t(1));
    let high_2 = s.queued_run(&high, t(2));
    let high_1 = s.queued_run(&high, t(1));
    let other_1 = s.queued_run(&other, t(1));
    let also_low = s.add(app("also-low").priority(5).build());
    let low_1b = s.queued_run(&also_low, t(1));

    let order = |s: &Scenario, queue: &str| -> Vec<RunId> {
        s.state.queued()[queue]
            .iter()
            .map(|slot| slot.run)
            .collect()
    };
    assert_eq!(order(&s, "default"), [high_1, high_2, low_1, low_1b]);
    assert_eq!(order(&s, "batch"), [other_1]);

    // A queued run keeps the priority of the version it was queued with.
    s.update(app("low").priority(-1).build()).unwrap();
    let low_3 = s.queued_run(&low, t(3));
    assert_eq!(order(&s, "default"), [low_3, high_1, high_2, low_1, low_1b]);
}

#[test]
fn counts_tally_an_apps_runs_by_state() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").build());
    let other = s.add(app("other").build());
    s.pending_run(&etl, t(0));
    s.queued_run(&etl, t(1));
    let running = s.queued_run(&etl, t(2));
    s.running_run(running, "n1");
    for (minute, ending) in [
        (3, Ending::Succeeded),
        (4, Ending::Failed),
        (5, Ending::Lost),
    ] {
        let id = s.queued_run(&etl, t(minute));
        s.run_to_end(id, ending);
    }
    s.queued_run(&other, t(1));
    assert_eq!(
        s.state.counts(&etl),
        RunCounts {
            pending: 1,
            queued: 1,
            running: 1,
            succeeded: 1,
            unsuccessful: 2,
        }
    );
    assert_eq!(
        s.state.counts(&key("ghost", "default")),
        RunCounts::default()
    );
}

#[test]
fn runs_between_includes_both_ends_and_only_that_app() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").build());
    let other = s.add(app("other").build());
    let ids: Vec<RunId> = (0..5).map(|m| s.queued_run(&etl, t(m))).collect();
    s.queued_run(&other, t(2));
    let between = |b, e| {
        s.state
            .runs_between(&etl, b, e)
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(between(t(1), t(3)), &ids[1..=3]);
    assert_eq!(between(t(3), t(3)), &ids[3..=3]);
    assert_eq!(between(t(3), t(1)), Vec::<RunId>::new());
}

/// Regression: a state holding an app could not be serialized at all (an app's key is a
/// struct, and JSON object keys must be strings), so no snapshot could be taken.
#[test]
fn a_state_restored_from_its_snapshot_reads_the_same() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").every_minute().build());
    let other = s.add(app("other").queue("batch").priority(3).build());
    s.schedule(&etl, true).unwrap();
    let queued = s.queued_run(&etl, t(1));
    let running = s.queued_run(&other, t(1));
    s.running_run(running, "n1");

    let restored = crate::State::from_snapshot(&s.state.to_snapshot()).expect("it decodes");

    assert_eq!(
        serde_json::to_string(&restored).unwrap(),
        serde_json::to_string(&s.state).unwrap()
    );
    assert!(restored.app(&etl).unwrap().scheduled);
    assert_eq!(restored.app(&other).unwrap().current().spec.priority, 3);
    assert_eq!(restored.queued(), s.state.queued());
    assert_eq!(restored.run_at(&etl, t(1)).unwrap().id, queued);
    assert_eq!(
        restored.running().map(|r| r.id).collect::<Vec<_>>(),
        [running]
    );
}
