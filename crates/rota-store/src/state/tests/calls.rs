//! Cosmos' `call` (params laid over the app's for one run) and parallelism.

use serde_json::json;

use rota_model::{Ending, RunState};

use super::{Scenario, app, t};
use crate::command::Command;
use crate::refusal::Refusal;

fn call(
    s: &mut Scenario,
    app: &rota_model::AppKey,
    minute: i64,
    params: serde_json::Value,
) -> Result<rota_model::RunId, Refusal> {
    let at = s.now();
    let applied = s.apply(Command::Trigger {
        app: app.clone(),
        time: t(minute),
        params: Some(params),
        call: true,
        at,
    })?;
    Ok(applied.runs[0])
}

#[test]
fn a_call_lays_its_params_over_the_apps_for_that_run_only() {
    let mut s = Scenario::new();
    let spec = app("ev")
        .event_driven()
        .set("params", json!({"region": "eu", "day": "mon"}))
        .build();
    let ev = s.add(spec);
    let first = call(&mut s, &ev, 1, json!({"day": "tue"})).unwrap();
    let second = call(&mut s, &ev, 2, json!({"extra": 1})).unwrap();
    let params = |s: &Scenario, id| s.state.effective_spec(s.run(id)).unwrap().params;
    assert_eq!(params(&s, first), json!({"region": "eu", "day": "tue"}));
    assert_eq!(
        params(&s, second),
        json!({"region": "eu", "day": "mon", "extra": 1})
    );
    assert_eq!(
        s.state.app(&ev).unwrap().current().spec.params,
        json!({"region": "eu", "day": "mon"}),
        "the app's own params are untouched"
    );
}

#[test]
fn a_call_for_a_time_whose_run_ended_runs_it_again_with_the_new_params() {
    let mut s = Scenario::new();
    let ev = s.add(app("ev").event_driven().build());
    let id = call(&mut s, &ev, 1, json!({"n": 1})).unwrap();
    s.run_to_end(id, Ending::Succeeded);
    let again = call(&mut s, &ev, 1, json!({"n": 2})).unwrap();
    assert_eq!(again, id, "still one run per schedule time");
    let run = s.run(id);
    assert_eq!(run.state, RunState::Queued);
    assert_eq!(run.call_params, Some(json!({"n": 2})));
    assert_eq!(run.history.len(), 1, "the first attempt is kept");
    // While it is active, a call for the same time is refused.
    assert!(matches!(
        call(&mut s, &ev, 1, json!({"n": 3})),
        Err(Refusal::RunExists { .. })
    ));
}

#[test]
fn a_plain_trigger_for_a_time_that_has_a_run_is_refused() {
    let mut s = Scenario::new();
    let ev = s.add(app("ev").event_driven().build());
    let id = s.queued_run(&ev, t(1));
    s.run_to_end(id, Ending::Failed);
    assert!(matches!(
        s.trigger(&ev, t(1)),
        Err(Refusal::RunExists { .. })
    ));
}

#[test]
fn parallelism_holds_however_many_runs_one_plan_places() {
    let mut s = Scenario::new();
    let spec = app("par").no_cron().set("parallelism", json!(2)).build();
    let par = s.add(spec);
    let ids: Vec<_> = (0..5).map(|m| s.queued_run(&par, t(m))).collect();
    let placed = s.place(&ids, "n1");
    assert_eq!(placed.runs, ids[..2].to_vec());
    assert_eq!(s.state.running_count(&par), 2);
    s.run_to_end(ids[0], Ending::Succeeded);
    let placed = s.place(&ids[2..], "n1");
    assert_eq!(placed.runs, vec![ids[2]]);
}

#[test]
fn cosmos_parallelism_in_params_is_honoured_too() {
    let mut s = Scenario::new();
    let spec = app("cosmos")
        .no_cron()
        .set("params", json!({"cosmos.app.parallelism": "1"}))
        .build();
    let par = s.add(spec);
    let ids: Vec<_> = (0..3).map(|m| s.queued_run(&par, t(m))).collect();
    assert_eq!(s.place(&ids, "n1").runs, vec![ids[0]]);
}
