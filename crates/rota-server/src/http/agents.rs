//! The agent protocol: remote agents register their node, long-poll for the attempts
//! placed on it, and report what happens to them (`rota_model::agent_api`).

use std::collections::HashSet;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};

use rota_model::agent_api::{AgentReport, Assignments, Poll, Registered, Registration, Work};
use rota_model::{NodeId, RunId};
use rota_sched::{NodeState, Resources};
use rota_store::Command;

use super::JsonBody;
use crate::context::Context;
use crate::error::ApiError;
use crate::reports;

/// The longest a poll is held.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// `POST /v1/agents/register`: a node (re)joins with what it offers.
pub(crate) async fn register(
    State(ctx): State<Context>,
    JsonBody(registration): JsonBody<Registration>,
) -> Result<Json<Registered>, ApiError> {
    let capacity = Resources {
        cores: registration.capacity.cores,
        mems: registration.capacity.mems,
        extended: registration.capacity.extended.into_iter().collect(),
    };
    ctx.store
        .submit(Command::RegisterNode {
            node: registration.node.clone(),
            capacity,
            attributes: registration.attributes,
            labels: registration.labels,
            at: ctx.now(),
        })
        .await?;
    ctx.seen(&registration.node);
    tracing::info!(node = %registration.node, "node registered");
    Ok(Json(Registered {
        heartbeat_ms: (ctx.config.heartbeat_timeout / 3).as_millis() as u64,
    }))
}

/// `POST /v1/agents/{node}/poll`: every attempt placed on the node, as soon as anything
/// changed since the version the agent saw, or when the wait is over; `not_leader` if this
/// server stops leading meanwhile.
pub(crate) async fn poll(
    State(ctx): State<Context>,
    Path(node): Path<String>,
    JsonBody(poll): JsonBody<Poll>,
) -> Result<Json<Assignments>, ApiError> {
    ctx.require_leader()?;
    let node = NodeId(node);
    ctx.seen(&node);
    let mut changes = ctx.store.watch();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(poll.wait_ms).min(MAX_WAIT);
    while *changes.borrow_and_update() <= poll.since {
        tokio::select! {
            changed = tokio::time::timeout_at(deadline, changes.changed()) => match changed {
                Ok(Ok(())) => continue,
                _ => break,
            },
            // The agent must hear from the new leader at once, or it would be declared down.
            () = ctx.until_not_leader() => break,
        }
    }
    ctx.require_leader()?;
    ctx.seen(&node);
    let version = *changes.borrow();
    let known: HashSet<(RunId, u32)> = poll.known.into_iter().collect();
    let (register, work) = ctx.store.read(|s| {
        let register = s.node(&node).is_none_or(|n| n.state == NodeState::Down);
        let work = s
            .running_on(&node)
            .filter_map(|r| {
                let spec = if known.contains(&(r.id, r.attempts)) {
                    None
                } else {
                    Some(s.effective_spec(r)?)
                };
                Some(Work {
                    run: r.id,
                    attempt: r.attempts,
                    spec,
                    schedule_time: r.schedule_time,
                    kill: r.kill_requested || r.preempted_by.is_some(),
                    process: r.process,
                })
            })
            .collect();
        (register, work)
    });
    Ok(Json(Assignments {
        version,
        register,
        work,
    }))
}

/// `POST /v1/agents/{node}/reports`: what happened to the node's attempts. Recorded in
/// order as one write; an error means the batch must be sent again (what was recorded is
/// then skipped as stale).
pub(crate) async fn reports(
    State(ctx): State<Context>,
    Path(node): Path<String>,
    JsonBody(batch): JsonBody<Vec<AgentReport>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    ctx.require_leader()?;
    ctx.seen(&NodeId(node));
    reports::record(&ctx, batch).await?;
    Ok(Json(serde_json::json!({})))
}
