//! Cron runs made ahead of their schedule time: they wait for it, a stop before it forgets
//! them, and an update before it gives them the new version.

use rota_model::{AppKey, RunId, RunState};

use super::{Scenario, app, t};

/// A scheduled every-minute app at 00:00:30, fired for 00:00 (on time) and for 00:01
/// (ahead of it): the scenario, the app, and the two runs.
fn fired_on_time_and_ahead() -> (Scenario, AppKey, RunId, RunId) {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").every_minute().build());
    s.schedule(&etl, true).unwrap();
    s.wait(30);
    let on_time = s.fire(&etl, &[t(0)]).runs[0];
    let ahead = s.fire(&etl, &[t(1)]).runs[0];
    (s, etl, on_time, ahead)
}

#[test]
fn a_run_fired_ahead_waits_for_its_schedule_time_and_one_fired_on_time_does_not() {
    let (s, _, on_time, ahead) = fired_on_time_and_ahead();
    assert_eq!(s.run(on_time).not_before, None);
    assert_eq!(s.run(ahead).not_before, Some(t(1)));
    assert_eq!(s.run(ahead).state, RunState::Queued);
}

#[test]
fn stopping_an_app_forgets_its_run_made_ahead_and_leaves_its_earlier_runs() {
    let (mut s, etl, on_time, ahead) = fired_on_time_and_ahead();

    s.schedule(&etl, false).unwrap();
    assert!(s.state.run(ahead).is_none());
    assert!(s.state.run_at(&etl, t(1)).is_none());
    assert_eq!(s.run(on_time).state, RunState::Queued);

    // Started again before the time, the app fires it again: one run for it.
    s.schedule(&etl, true).unwrap();
    let again = s.fire(&etl, &[t(1)]).runs[0];
    assert_ne!(again, ahead);
    assert_eq!(s.run(again).not_before, Some(t(1)));
    assert_eq!(s.state.latest_runs(&etl).count(), 2);
}

#[test]
fn a_stop_after_the_schedule_time_leaves_the_run_alone() {
    let mut s = Scenario::new();
    let etl = s.add(app("etl").every_minute().build());
    s.schedule(&etl, true).unwrap();
    s.wait(30);
    let ahead = s.fire(&etl, &[t(1)]).runs[0];
    s.wait(31);
    let applied = s.schedule(&etl, false).unwrap();
    assert!(applied.runs.is_empty());
    assert_eq!(s.run(ahead).state, RunState::Queued);
}

#[test]
fn an_update_before_the_schedule_time_gives_the_run_made_ahead_the_new_version() {
    let (mut s, _, on_time, ahead) = fired_on_time_and_ahead();

    // A new priority moves the run within its queue: the harness checks the indexes.
    let applied = s
        .update(app("etl").every_minute().priority(5).build())
        .unwrap();
    assert_eq!(applied.runs, vec![ahead]);
    assert_eq!(s.run(ahead).version, 2);
    assert_eq!(s.run(on_time).version, 1);
    let slot = s.state.queued()["default"]
        .iter()
        .find(|slot| slot.run == ahead)
        .copied()
        .unwrap();
    assert_eq!(slot.priority, 5);
}
