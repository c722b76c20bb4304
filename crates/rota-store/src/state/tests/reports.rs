//! A batch of reports as one command: recorded in order, stale reports skipped one by one.

use rota_model::{Ending, NodeId, ProcessRef, RunId, RunState};

use super::{Scenario, app, t};
use crate::command::{AttemptReport, Command};
use crate::refusal::Refusal;
use crate::state::Applied;

fn started(run: RunId, attempt: u32, s: &Scenario) -> AttemptReport {
    AttemptReport::Started {
        run,
        attempt,
        process: ProcessRef {
            pid: 4000 + run.0 as i32,
            start_ticks: 9,
        },
        container: None,
        limits: None,
        at: s.now(),
    }
}

fn finished(run: RunId, attempt: u32, ending: Ending, s: &Scenario) -> AttemptReport {
    AttemptReport::Finished {
        run,
        attempt,
        ending,
        exit_reason: None,
        exit_code: Some(0),
        usage: Default::default(),
        reason: "exited".into(),
        at: s.now(),
    }
}

fn batch(s: &mut Scenario, reports: Vec<AttemptReport>) -> Applied {
    s.apply(Command::Reports { reports })
        .expect("a batch is never refused")
}

/// Three runs of one app, placed on `n1`.
fn three_placed(s: &mut Scenario) -> [RunId; 3] {
    let key = s.add(app("a").build());
    let runs = [1, 2, 3].map(|minute| s.queued_run(&key, t(minute)));
    s.place(&runs, "n1");
    runs
}

#[test]
fn a_batch_records_a_start_and_then_the_end_of_the_same_attempt_in_order() {
    let mut s = Scenario::new();
    let [a, b, _] = three_placed(&mut s);
    s.wait(5);
    let reports = vec![
        started(a, 1, &s),
        started(b, 1, &s),
        finished(a, 1, Ending::Succeeded, &s),
    ];
    let applied = batch(&mut s, reports);
    assert_eq!(applied.runs, vec![a, b, a]);
    assert!(applied.stale.is_empty(), "{applied:?}");
    assert_eq!(s.run(a).state, RunState::Succeeded);
    assert_eq!(s.run(a).ended_at, Some(s.now()));
    assert_eq!(s.run(b).state, RunState::Running);
    assert_eq!(s.run(b).process.map(|p| p.pid), Some(4000 + b.0 as i32));
}

#[test]
fn the_end_before_the_start_of_an_attempt_leaves_the_start_stale() {
    let mut s = Scenario::new();
    let [a, _, _] = three_placed(&mut s);
    let reports = vec![finished(a, 1, Ending::Failed, &s), started(a, 1, &s)];
    let applied = batch(&mut s, reports);
    assert_eq!(s.run(a).state, RunState::Failed);
    assert_eq!(s.run(a).process, None);
    assert_eq!(
        applied.stale,
        vec![Refusal::StaleReport {
            run: a,
            attempt: 1,
            state: RunState::Failed
        }]
    );
}

#[test]
fn a_stale_report_is_skipped_alone_and_the_rest_of_the_batch_is_recorded() {
    let mut s = Scenario::new();
    let [a, b, c] = three_placed(&mut s);
    s.finished(a, 1, Ending::Killed)
        .expect("the report is current");
    let missing = RunId(99);
    let reports = vec![
        finished(a, 1, Ending::Succeeded, &s),
        started(b, 2, &s),
        started(missing, 1, &s),
        finished(c, 1, Ending::Succeeded, &s),
    ];
    let applied = batch(&mut s, reports);
    assert_eq!(applied.runs, vec![c]);
    assert_eq!(
        applied.stale,
        vec![
            Refusal::StaleReport {
                run: a,
                attempt: 1,
                state: RunState::Killed
            },
            Refusal::StaleReport {
                run: b,
                attempt: 2,
                state: RunState::Running
            },
            Refusal::RunNotFound(missing),
        ]
    );
    assert_eq!(s.run(a).state, RunState::Killed);
    assert_eq!(s.run(b).process, None);
    assert_eq!(s.run(c).state, RunState::Succeeded);
}

#[test]
fn a_batch_sent_again_changes_nothing() {
    let mut s = Scenario::new();
    let [a, b, _] = three_placed(&mut s);
    let reports = vec![started(a, 1, &s), finished(b, 1, Ending::Succeeded, &s)];
    batch(&mut s, reports.clone());
    let before = super::snapshot_of(&s.state);
    let again = batch(&mut s, reports);
    assert_eq!(again.runs, vec![a]);
    assert_eq!(again.stale.len(), 1, "{again:?}");
    assert_eq!(super::snapshot_of(&s.state), before);
}

#[test]
fn an_empty_batch_changes_nothing() {
    let mut s = Scenario::new();
    three_placed(&mut s);
    let before = super::snapshot_of(&s.state);
    assert_eq!(batch(&mut s, Vec::new()), Applied::default());
    assert_eq!(super::snapshot_of(&s.state), before);
}

#[test]
fn the_scheduling_epoch_moves_with_what_a_round_sees_and_not_with_a_start_report() {
    let mut s = Scenario::new();
    let app = s.add(app("a").no_cron().build());
    let epoch = |s: &Scenario| s.state.scheduling_epoch();
    let before = epoch(&s);
    let run = s.queued_run(&app, t(1));
    let queued = epoch(&s);
    assert_ne!(queued, before, "a new queued run");
    s.place(&[run], "n1");
    let placed = epoch(&s);
    assert_ne!(placed, queued, "a placement");
    let attempt = s.run(run).attempts;
    s.started(run, attempt).unwrap();
    assert_eq!(
        epoch(&s),
        placed,
        "a start report changes nothing a round sees"
    );
    s.finished(run, attempt, Ending::Succeeded).unwrap();
    assert_ne!(epoch(&s), placed, "an ended run frees its capacity");
}

#[test]
fn a_node_epoch_moves_with_its_own_work_only() {
    let mut s = Scenario::new();
    let app = s.add(app("a").no_cron().build());
    let (n1, n2) = (NodeId("n1".into()), NodeId("n2".into()));
    let epoch = |s: &Scenario, n: &NodeId| s.state.node_epoch(n);
    let first = s.queued_run(&app, t(1));
    let second = s.queued_run(&app, t(2));
    let before = (epoch(&s, &n1), epoch(&s, &n2));
    s.place(&[first], "n1");
    assert_ne!(epoch(&s, &n1), before.0, "an attempt placed on n1");
    assert_eq!(epoch(&s, &n2), before.1, "nothing changed for n2");
    s.place(&[second], "n2");
    let placed = (epoch(&s, &n1), epoch(&s, &n2));
    assert_ne!(placed.1, before.1, "an attempt placed on n2");
    let attempt = s.run(first).attempts;
    s.started(first, attempt).unwrap();
    assert_eq!(
        (epoch(&s, &n1), epoch(&s, &n2)),
        placed,
        "a start report changes no agent's work"
    );
    s.kill(&[second]).unwrap();
    assert_eq!(epoch(&s, &n1), placed.0);
    assert_ne!(epoch(&s, &n2), placed.1, "a kill ordered on n2");
    let killed = epoch(&s, &n2);
    s.finished(first, attempt, Ending::Succeeded).unwrap();
    assert_ne!(epoch(&s, &n1), placed.0, "an attempt gone from n1");
    assert_eq!(epoch(&s, &n2), killed);
}
