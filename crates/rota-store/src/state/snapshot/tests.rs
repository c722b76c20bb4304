use jiff::Timestamp;
use proptest::prelude::*;

use rota_model::exit::{ExitReason, Limits, Usage};
use rota_model::record::ProcessRef;
use rota_model::run::ALL_STATES;
use rota_model::{Attempt, NodeId, Run, RunId};

use super::{EXIT_REASONS, ORIGINS, SnapshotError};
use crate::state::State;
use crate::state::tests::{app, snapshot_of};

fn time() -> impl Strategy<Value = Timestamp> {
    (-300_000_000_000i64..250_000_000_000, 0i32..1_000_000_000)
        .prop_map(|(s, n)| Timestamp::new(s, n).expect("in range"))
}

fn text() -> impl Strategy<Value = String> {
    // Few distinct values, as in a real state, and some that are not ASCII.
    prop_oneof![
        Just(String::new()),
        Just("needs 2 cores; no node has that many".to_string()),
        "[a-z]{1,3}",
        "\\PC{0,12}",
    ]
}

fn usage() -> impl Strategy<Value = Usage> {
    (any::<Option<u64>>(), any::<Option<u64>>()).prop_map(|(peak_memory_bytes, cpu_time_ms)| {
        Usage {
            peak_memory_bytes,
            cpu_time_ms,
        }
    })
}

fn exit_reason() -> impl Strategy<Value = Option<ExitReason>> {
    proptest::option::of(proptest::sample::select(EXIT_REASONS.to_vec()))
}

fn node() -> impl Strategy<Value = Option<NodeId>> {
    proptest::option::of(text().prop_map(NodeId))
}

fn attempt() -> impl Strategy<Value = Attempt> {
    (
        any::<u32>(),
        proptest::sample::select(ALL_STATES.to_vec()),
        any::<Option<i32>>(),
        proptest::option::of(text()),
        node(),
        exit_reason(),
        usage(),
        proptest::option::of(time()),
        proptest::option::of(time()),
    )
        .prop_map(
            |(
                attempt,
                state,
                exit_code,
                reason,
                node,
                exit_reason,
                usage,
                started_at,
                ended_at,
            )| {
                Attempt {
                    attempt,
                    state,
                    exit_code,
                    reason,
                    node,
                    exit_reason,
                    usage,
                    started_at,
                    ended_at,
                }
            },
        )
}

fn limits() -> impl Strategy<Value = Option<Limits>> {
    proptest::option::of(prop_oneof![
        text().prop_map(|by| Limits::Enforced { by }),
        text().prop_map(|reason| Limits::NotEnforced { reason }),
    ])
}

fn call_params() -> impl Strategy<Value = Option<serde_json::Value>> {
    proptest::option::of(prop_oneof![
        Just(serde_json::json!({})),
        (text(), any::<i64>()).prop_map(|(k, v)| serde_json::json!({ k: v, "list": [1.5, null] })),
    ])
}

/// Every field drawn independently: the encoding must not depend on how a run got there.
fn run() -> impl Strategy<Value = Run> {
    let head = (
        "[a-z]{1,4}",
        "[a-z]{1,2}",
        any::<u32>(),
        time(),
        proptest::sample::select(ORIGINS.to_vec()),
        proptest::sample::select(ALL_STATES.to_vec()),
        any::<u32>(),
        any::<u32>(),
        any::<Option<i32>>(),
        exit_reason(),
        usage(),
        limits(),
    );
    let tail = (
        proptest::option::of(text()),
        proptest::option::of(text()),
        node(),
        time(),
        proptest::option::of(time()),
        proptest::option::of(time()),
        proptest::option::of(time()),
        proptest::option::of(time()),
        call_params(),
        any::<Option<u64>>(),
        any::<bool>(),
        proptest::option::of((any::<i32>(), any::<u64>())),
    );
    (head, tail, prop::collection::vec(attempt(), 0..3)).prop_map(
        |(
            (
                name,
                queue,
                version,
                schedule_time,
                origin,
                state,
                attempts,
                retries,
                code,
                why,
                usage,
                limits,
            ),
            (
                container,
                reason,
                node,
                created,
                queued,
                started,
                ended,
                not_before,
                params,
                by,
                kill,
                process,
            ),
            history,
        )| Run {
            id: RunId(0),
            name,
            queue,
            version,
            schedule_time,
            origin,
            state,
            attempts,
            retries_used: retries,
            exit_code: code,
            exit_reason: why,
            usage,
            limits,
            container,
            reason,
            node,
            created_at: created,
            queued_at: queued,
            started_at: started,
            ended_at: ended,
            not_before,
            call_params: params,
            preempted_by: by.map(RunId),
            kill_requested: kill,
            process: process.map(|(pid, start_ticks)| ProcessRef { pid, start_ticks }),
            history,
        },
    )
}

fn state_with(runs: Vec<Run>) -> State {
    let mut state = State::default();
    for (i, mut run) in runs.into_iter().enumerate() {
        run.id = RunId(i as u64 * 3 + 1);
        state.next_run = run.id.0;
        state.runs.insert(run.id, run);
    }
    state
        .add_app(&app("etl").build(), Timestamp::UNIX_EPOCH)
        .unwrap();
    state.reindex();
    state
}

proptest! {
    /// Encoding then decoding gives the same state, and the same indexes as a rebuild.
    #[test]
    fn a_decoded_snapshot_is_the_state_that_was_encoded(runs in prop::collection::vec(run(), 0..24)) {
        let state = state_with(runs);
        let decoded = State::from_snapshot(&state.to_snapshot()).expect("it decodes");
        prop_assert_eq!(snapshot_of(&decoded), snapshot_of(&state));
    }

    /// A snapshot cut short is refused, never read as a smaller state.
    #[test]
    fn a_truncated_snapshot_is_refused(runs in prop::collection::vec(run(), 1..4), cut in any::<prop::sample::Index>()) {
        let bytes = state_with(runs).to_snapshot();
        let len = cut.index(bytes.len());
        prop_assert!(State::from_snapshot(&bytes[..len]).is_err());
    }
}

#[test]
fn bytes_that_are_not_a_snapshot_are_refused() {
    let json = serde_json::to_vec(&State::default()).unwrap();
    assert!(matches!(
        State::from_snapshot(&json),
        Err(SnapshotError::NotASnapshot)
    ));
    let mut bytes = State::default().to_snapshot();
    bytes.push(0);
    assert!(State::from_snapshot(&bytes).is_err(), "a byte too many");
}
