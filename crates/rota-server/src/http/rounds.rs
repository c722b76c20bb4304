//! `GET /v1/scheduler/rounds`: what the scheduler's latest rounds decided and how long
//! they took, for operators and for `rota bench`.

use axum::Json;
use axum::extract::State;

use rota_model::api::RoundView;

use crate::context::Context;

/// The latest rounds this server ran as leader that looked at queued runs, oldest first.
pub(crate) async fn list(State(ctx): State<Context>) -> Json<Vec<RoundView>> {
    let rounds = ctx.rounds.lock().unwrap_or_else(|e| e.into_inner());
    Json(rounds.iter().cloned().collect())
}
