//! Dependency evaluation over 10,000 apps in a layered DAG (issue 4): the cost of one
//! upstream success — waking and releasing the dependent's pending run — measured on the
//! state machine itself, in release mode. The server's scheduling round that then dispatches
//! the released run is measured by `rota bench`.
//!
//! Run: `cargo bench -p rota-store --bench dependencies`.

use std::time::Instant;

use jiff::Timestamp;
use serde_json::json;

use rota_model::depend::{Depend, Rule};
use rota_model::{AppKey, AppSpec, NodeId, ProcessRef, RunId, RunState};
use rota_store::{AttemptReport, Command, Ending, State};

const LAYERS: usize = 100;
const WIDTH: usize = 100;
/// p99 goal from an upstream success to the dependent's dispatch.
const GOAL_MS: f64 = 10.0;

fn key(layer: usize, i: usize) -> AppKey {
    AppKey::new(&format!("app-{layer}-{i}"), "q").unwrap()
}

fn apply(state: &mut State, command: Command) -> rota_store::Applied {
    state
        .apply(&command)
        .expect("the bench's commands are valid")
}

fn main() {
    let at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let t = at;
    let mut state = State::default();
    for layer in 0..LAYERS {
        for i in 0..WIDTH {
            let key = key(layer, i);
            let spec = AppSpec::from_value(json!({
                "name": key.name, "queue": "q", "cores": 0.1, "mems": 10, "command": ["true"]
            }))
            .unwrap();
            apply(&mut state, Command::AddApp { spec, at });
            if layer > 0 {
                let depend = Depend {
                    app: key.clone(),
                    upstream: self::key(layer - 1, i),
                    rule: Rule::Window {
                        from_seconds: 3600,
                        to_seconds: 0,
                    },
                };
                apply(&mut state, Command::AddDepend { depend, at });
            }
        }
    }
    // One run per app at the same schedule time: all but the first layer wait.
    for layer in 0..LAYERS {
        for i in 0..WIDTH {
            apply(
                &mut state,
                Command::Trigger {
                    app: key(layer, i),
                    time: t,
                    params: None,
                    call: false,
                    at,
                },
            );
        }
    }
    let pending = state.pending().count();
    println!(
        "{} apps in {LAYERS} layers, {pending} runs pending on their upstream; nothing scans \
         them between events: a success wakes only the runs whose windows hold it",
        LAYERS * WIDTH
    );
    let node = NodeId("n1".into());
    let mut costs = Vec::with_capacity(LAYERS * WIDTH);
    let mut released = 0usize;
    for layer in 0..LAYERS {
        for i in 0..WIDTH {
            let run: RunId = state.run_at(&key(layer, i), t).unwrap().id;
            assert_eq!(
                state.run(run).unwrap().state,
                RunState::Queued,
                "layer {layer} released"
            );
            apply(
                &mut state,
                Command::Place {
                    runs: vec![run],
                    node: node.clone(),
                    at,
                },
            );
            apply(
                &mut state,
                Command::Report(AttemptReport::Started {
                    run,
                    attempt: 1,
                    process: ProcessRef {
                        pid: 1,
                        start_ticks: 1,
                    },
                    container: None,
                    limits: None,
                    at,
                }),
            );
            let finished = Command::Report(AttemptReport::Finished {
                run,
                attempt: 1,
                ending: Ending::Succeeded,
                exit_reason: None,
                exit_code: Some(0),
                usage: Default::default(),
                reason: "exit code 0".into(),
                at,
            });
            let started = Instant::now();
            let applied = apply(&mut state, finished);
            costs.push(started.elapsed());
            released += applied.runs.len() - 1;
        }
    }
    costs.sort();
    let q = |p: f64| costs[((costs.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    println!(
        "upstream success → dependent queued, per event: p50 {:.4} ms, p99 {:.4} ms, max {:.4} ms \
         (goal to dispatch: p99 < {GOAL_MS} ms) over {} events, {released} runs released",
        q(0.5),
        q(0.99),
        costs.last().unwrap().as_secs_f64() * 1e3,
        costs.len()
    );
}
