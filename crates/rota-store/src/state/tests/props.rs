//! Property tests: random sequences of commands over a few apps and schedule times keep the
//! indexes consistent, never make two runs of one (app, schedule time), refuse without
//! changing anything, and replay to the same state.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use rota_model::{Concurrency, Ending, NodeId, Origin, ProcessRef, RunId, RunState};

use super::{app, check_invariants, key, snapshot_of, t};
use crate::command::{AppFires, AttemptReport, Command, FireTime, Rerun, RerunMode};
use crate::refusal::Refusal;
use crate::state::{Applied, State};

const APPS: [(&str, &str); 3] = [("a", "q1"), ("b", "q1"), ("c", "q2")];
const TIMES: usize = 8;

/// How an added or updated app is made.
#[derive(Debug, Clone)]
struct Shape {
    /// 0: no cron, 1: a cron, 2: event-driven.
    trigger: u8,
    retries: u32,
    backoff: u64,
    concurrency: Concurrency,
    priority: i32,
}

/// A command with its run references left open: they are resolved against the state when
/// the step runs, so that most steps touch runs that exist and reports are mostly current.
#[derive(Debug, Clone)]
enum Op {
    Add(usize, Shape),
    Update(usize, Shape),
    Remove(usize),
    Schedule(usize, bool),
    Fire(Vec<(usize, Vec<(usize, bool)>)>),
    Trigger(usize, usize),
    Place(Vec<usize>, u8),
    Started(usize, bool),
    Finished(usize, bool, Ending),
    Reports(Vec<(usize, bool, Option<Ending>)>),
    Kill(Vec<usize>),
    DeleteQueued(usize),
    Rerun(usize, bool, usize, usize, Vec<usize>),
    Reject(Vec<usize>),
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        0u8..3,
        0u32..3,
        prop::sample::select(vec![0u64, 10, 5000, u64::MAX]),
        prop::sample::select(vec![
            Concurrency::Allow,
            Concurrency::Forbid,
            Concurrency::Replace,
        ]),
        -1i32..3,
    )
        .prop_map(|(trigger, retries, backoff, concurrency, priority)| Shape {
            trigger,
            retries,
            backoff,
            concurrency,
            priority,
        })
}

fn ending() -> impl Strategy<Value = Ending> {
    prop::sample::select(vec![
        Ending::Succeeded,
        Ending::Failed,
        Ending::TimedOut,
        Ending::Killed,
        Ending::Lost,
    ])
}

fn op() -> impl Strategy<Value = Op> {
    let which = 0..APPS.len();
    let time = 0..TIMES;
    let pick = any::<usize>();
    let picks = prop::collection::vec(any::<usize>(), 1..4);
    prop_oneof![
        1 => (which.clone(), shape()).prop_map(|(a, s)| Op::Add(a, s)),
        1 => (which.clone(), shape()).prop_map(|(a, s)| Op::Update(a, s)),
        1 => which.clone().prop_map(Op::Remove),
        2 => (which.clone(), prop::bool::weighted(0.8)).prop_map(|(a, on)| Op::Schedule(a, on)),
        3 => prop::collection::vec(
            (which.clone(), prop::collection::vec((time.clone(), prop::bool::weighted(0.2)), 0..4)),
            1..3,
        )
        .prop_map(Op::Fire),
        6 => (which.clone(), time.clone()).prop_map(|(a, t)| Op::Trigger(a, t)),
        6 => (picks.clone(), 0u8..2).prop_map(|(p, n)| Op::Place(p, n)),
        2 => (pick, prop::bool::weighted(0.2)).prop_map(|(p, s)| Op::Started(p, s)),
        6 => (pick, prop::bool::weighted(0.2), ending())
            .prop_map(|(p, s, e)| Op::Finished(p, s, e)),
        3 => reports().prop_map(Op::Reports),
        2 => picks.clone().prop_map(Op::Kill),
        1 => pick.prop_map(Op::DeleteQueued),
        2 => (which, any::<bool>(), time.clone(), time.clone(), prop::collection::vec(time, 0..4))
            .prop_map(|(a, replay, b, e, f)| Op::Rerun(a, replay, b, e, f)),
        1 => picks.prop_map(Op::Reject),
    ]
}

/// A batch of reports: each a pick of a run, whether its attempt is stale, and how it ended
/// (none for a start).
fn reports() -> impl Strategy<Value = Vec<(usize, bool, Option<Ending>)>> {
    prop::collection::vec(
        (
            any::<usize>(),
            prop::bool::weighted(0.2),
            prop::option::weighted(0.6, ending()),
        ),
        0..6,
    )
}

fn app_key(i: usize) -> rota_model::AppKey {
    key(APPS[i].0, APPS[i].1)
}

fn spec(i: usize, shape: &Shape) -> rota_model::AppSpec {
    let b = app(APPS[i].0)
        .queue(APPS[i].1)
        .retries(shape.retries, shape.backoff)
        .concurrency(shape.concurrency)
        .priority(shape.priority);
    match shape.trigger {
        0 => b.no_cron(),
        1 => b.every_minute(),
        _ => b.event_driven(),
    }
    .build()
}

/// A run id for `pick`: one of the runs in `among` if there are any (and now and then one
/// that does not exist, to exercise refusals), else any run, else a missing one.
fn resolve(state: &State, pick: usize, among: impl Fn(RunState) -> bool) -> RunId {
    if pick % 13 == 12 {
        return RunId(1_000 + (pick % 7) as u64);
    }
    let preferred: Vec<RunId> = state
        .runs
        .values()
        .filter(|r| among(r.state))
        .map(|r| r.id)
        .collect();
    let all: Vec<RunId> = state.runs.keys().copied().collect();
    let from = if preferred.is_empty() {
        &all
    } else {
        &preferred
    };
    if from.is_empty() {
        RunId(1 + (pick % 3) as u64)
    } else {
        from[pick % from.len()]
    }
}

fn attempt(state: &State, run: RunId, stale: bool) -> u32 {
    let current = state.run(run).map_or(1, |r| r.attempts);
    if stale {
        current.wrapping_sub(1)
    } else {
        current
    }
}

/// Turns an op into the command it stands for in this state.
fn command(state: &State, op: &Op, at: Timestamp) -> Command {
    let time = |i: usize| t(i as i64);
    match op {
        Op::Add(i, shape) => Command::AddApp {
            spec: spec(*i, shape),
            at,
        },
        Op::Update(i, shape) => Command::UpdateApp {
            spec: spec(*i, shape),
            at,
        },
        Op::Remove(i) => Command::RemoveApp {
            app: app_key(*i),
            force: true,
            at,
        },
        Op::Schedule(i, on) => Command::Schedule {
            app: app_key(*i),
            scheduled: *on,
            at,
        },
        Op::Fire(apps) => Command::Fire {
            apps: apps
                .iter()
                .map(|(i, fires)| AppFires {
                    app: app_key(*i),
                    fires: fires
                        .iter()
                        .map(|&(ti, skip)| FireTime {
                            time: time(ti),
                            origin: Origin::Cron,
                            skip: skip.then(|| "catchup: none".to_string()),
                        })
                        .collect(),
                    cursor: fires.iter().map(|&(ti, _)| time(ti)).max().unwrap_or(at),
                })
                .collect(),
            at,
        },
        Op::Trigger(i, ti) => Command::Trigger {
            app: app_key(*i),
            time: time(*ti),
            params: None,
            call: ti % 2 == 0,
            at,
        },
        Op::Place(picks, n) => Command::Place {
            runs: picks
                .iter()
                .map(|p| resolve(state, *p, |s| s == RunState::Queued))
                .collect(),
            node: NodeId(format!("n{n}")),
            at,
        },
        Op::Started(pick, stale) => {
            let run = resolve(state, *pick, |s| s == RunState::Running);
            Command::Report(AttemptReport::Started {
                run,
                attempt: attempt(state, run, *stale),
                process: ProcessRef {
                    pid: 100,
                    start_ticks: 1,
                },
                container: None,
                limits: None,
                at,
            })
        }
        Op::Finished(pick, stale, ending) => {
            let run = resolve(state, *pick, |s| s == RunState::Running);
            Command::Report(AttemptReport::Finished {
                run,
                attempt: attempt(state, run, *stale),
                ending: *ending,
                exit_code: Some(1),
                reason: "done".into(),
                exit_reason: None,
                usage: Default::default(),
                at,
            })
        }
        Op::Reports(reports) => Command::Reports {
            reports: reports
                .iter()
                .map(|report| attempt_report(state, report, at))
                .collect(),
        },
        Op::Kill(picks) => Command::Kill {
            runs: picks
                .iter()
                .map(|p| resolve(state, *p, |s| !s.is_ended()))
                .collect(),
            at,
        },
        Op::DeleteQueued(pick) => Command::DeleteQueued {
            run: resolve(state, *pick, |_| true),
            at,
        },
        Op::Rerun(i, replay, b, e, fire_times) => Command::Rerun {
            rerun: Rerun {
                app: app_key(*i),
                mode: if *replay {
                    RerunMode::Replay
                } else {
                    RerunMode::Repair
                },
                begin: time(*b),
                end: time(*e),
                fire_times: fire_times.iter().map(|&ti| time(ti)).collect(),
                cascade: false,
            },
            at,
        },
        Op::Reject(picks) => Command::Reject {
            runs: picks
                .iter()
                .map(|p| {
                    (
                        resolve(state, *p, |s| s == RunState::Queued),
                        "too big".into(),
                    )
                })
                .collect(),
            at,
        },
    }
}

/// One report of a batch, resolved against the state before the batch: a later report may
/// then find its attempt ended by an earlier one, as a resent batch would.
fn attempt_report(
    state: &State,
    &(pick, stale, ending): &(usize, bool, Option<Ending>),
    at: Timestamp,
) -> AttemptReport {
    let run = resolve(state, pick, |s| s == RunState::Running);
    let attempt = attempt(state, run, stale);
    match ending {
        None => AttemptReport::Started {
            run,
            attempt,
            process: ProcessRef {
                pid: 100 + (pick % 7) as i32,
                start_ticks: 1,
            },
            container: None,
            limits: None,
            at,
        },
        Some(ending) => AttemptReport::Finished {
            run,
            attempt,
            ending,
            exit_code: Some(1),
            reason: "done".into(),
            exit_reason: None,
            usage: Default::default(),
            at,
        },
    }
}

/// What a kill order and a retry must look like.
fn check_applied(state: &State, applied: &Applied, at: Timestamp) -> Result<(), String> {
    for id in &applied.runs {
        if state.run(*id).is_none() {
            return Err(format!("applied names run {id}, which does not exist"));
        }
    }
    for (id, node) in &applied.kills {
        let run = state.run(*id).ok_or(format!("kill of missing run {id}"))?;
        if run.state != RunState::Running || !run.kill_requested || run.node.as_ref() != Some(node)
        {
            return Err(format!("kill order ({id}, {node}) for {run:?}"));
        }
    }
    for run in state.runs.values() {
        if let Some(not_before) = run.not_before
            && not_before > at + SignedDuration::from_secs(3600)
        {
            return Err(format!("run {} waits more than an hour to retry", run.id));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// After every command: the indexes equal those rebuilt from scratch, at most one run
    /// exists per (app, schedule time), every run is reachable from the index of its state,
    /// a refused command changed nothing, and kill orders name running runs on their node.
    /// At the end, the same commands applied to a fresh state give the same outcomes and the
    /// same state, byte for byte.
    #[test]
    fn random_commands_keep_the_indexes_consistent_and_replay_deterministically(
        shapes in prop::collection::vec(shape(), APPS.len()),
        ops in prop::collection::vec(op(), 1..100),
    ) {
        let mut state = State::default();
        let mut log = Vec::new();
        // Every app exists at first, so that most commands do something.
        let setup = shapes.into_iter().enumerate().map(|(i, shape)| Op::Add(i, shape));
        for (step, op) in setup.chain(ops).enumerate() {
            let at = t(0) + SignedDuration::from_secs(30 * step as i64);
            let command = command(&state, &op, at);
            let before = snapshot_of(&state);
            let result = state.apply(&command);
            match &result {
                Err(refusal) => prop_assert!(
                    snapshot_of(&state) == before,
                    "the refused command {:?} ({}) changed the state", command, refusal
                ),
                Ok(applied) => {
                    let checked = check_applied(&state, applied, at);
                    prop_assert!(checked.is_ok(), "after {:?}: {}", command, checked.unwrap_err());
                }
            }
            let invariants = check_invariants(&state);
            prop_assert!(invariants.is_ok(), "after {:?}: {}", command, invariants.unwrap_err());
            log.push((command, result));
        }

        let mut replayed = State::default();
        for (command, result) in &log {
            let again: Result<Applied, Refusal> = replayed.apply(command);
            prop_assert_eq!(&again, result, "{:?} gave another outcome on replay", command);
        }
        prop_assert_eq!(
            serde_json::to_string(&replayed).unwrap(),
            serde_json::to_string(&state).unwrap(),
            "the replayed state differs"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A batch of reports leaves the same state as its reports sent one at a time in the
    /// same order, and skips exactly the reports that would each have been refused, with
    /// the same refusals.
    #[test]
    fn a_batch_of_reports_equals_its_reports_one_at_a_time(
        shapes in prop::collection::vec(shape(), APPS.len()),
        ops in prop::collection::vec(op(), 1..60),
        batch in reports(),
    ) {
        let mut state = State::default();
        let setup = shapes.into_iter().enumerate().map(|(i, shape)| Op::Add(i, shape));
        let mut step = 0;
        for op in setup.chain(ops) {
            let at = t(0) + SignedDuration::from_secs(30 * step);
            let _ = state.apply(&command(&state, &op, at));
            step += 1;
        }
        let at = t(0) + SignedDuration::from_secs(30 * step);
        let reports: Vec<AttemptReport> =
            batch.iter().map(|report| attempt_report(&state, report, at)).collect();

        let mut one_by_one = state.clone();
        let mut refusals = Vec::new();
        for report in &reports {
            if let Err(refusal) = one_by_one.apply(&Command::Report(report.clone())) {
                refusals.push(refusal);
            }
        }
        let applied = state.apply(&Command::Reports { reports }).expect("a batch is never refused");
        prop_assert_eq!(&applied.stale, &refusals);
        prop_assert_eq!(snapshot_of(&state), snapshot_of(&one_by_one));
        let invariants = check_invariants(&state);
        prop_assert!(invariants.is_ok(), "{}", invariants.unwrap_err());
    }
}
