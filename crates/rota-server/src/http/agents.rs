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

/// `POST /v1/agents/{node}/poll`: every attempt placed on the node. The answer comes once
/// something changed since the version the agent saw and the node's work is not what the
/// agent already knows (a new attempt, one gone, a kill ordered, the node to register
/// again), or when the wait is over; `not_leader` if this server stops leading meanwhile.
/// Writes about other nodes wake no poll: with many agents, each commit used to send every
/// agent its whole list again.
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
    let known: HashSet<(RunId, u32)> = poll.known.into_iter().collect();
    // Anything at all since the agent's version.
    while *changes.borrow_and_update() <= poll.since {
        if !wait_for_change(&ctx, &mut changes, deadline).await {
            break;
        }
    }
    loop {
        ctx.require_leader()?;
        let version = *changes.borrow_and_update();
        let (answer, node_epoch) = ctx
            .store
            .read(|s| (assignments(s, &node, &known, version), s.node_epoch(&node)));
        if poll.since == 0 || answer.register || !is_known(&answer.work, &known) {
            ctx.seen(&node);
            return Ok(Json(answer));
        }
        // Nothing new for this agent: wait until its node's work changes.
        loop {
            if !wait_for_change(&ctx, &mut changes, deadline).await {
                ctx.require_leader()?;
                ctx.seen(&node);
                return Ok(Json(answer));
            }
            if ctx.store.read(|s| s.node_epoch(&node)) != node_epoch {
                break;
            }
        }
    }
}

/// Waits for the next write; false once the deadline passed or this server stopped leading
/// (the agent must hear from the new leader at once, or it would be declared down).
async fn wait_for_change(
    ctx: &Context,
    changes: &mut tokio::sync::watch::Receiver<u64>,
    deadline: tokio::time::Instant,
) -> bool {
    tokio::select! {
        changed = tokio::time::timeout_at(deadline, changes.changed()) => {
            matches!(changed, Ok(Ok(())))
        }
        () = ctx.until_not_leader() => false,
    }
}

/// The node's work as the store has it now, specs left out for the attempts in `known`.
fn assignments(
    s: &rota_store::State,
    node: &NodeId,
    known: &HashSet<(RunId, u32)>,
    version: u64,
) -> Assignments {
    let register = s.node(node).is_none_or(|n| n.state == NodeState::Down);
    let work = s
        .running_on(node)
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
    Assignments {
        version,
        register,
        work,
    }
}

/// Whether `work` is exactly the attempts the agent knows, none of them to be killed.
fn is_known(work: &[Work], known: &HashSet<(RunId, u32)>) -> bool {
    work.len() == known.len()
        && work
            .iter()
            .all(|w| !w.kill && known.contains(&(w.run, w.attempt)))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn work(run: u64, attempt: u32, kill: bool) -> Work {
        Work {
            run: RunId(run),
            attempt,
            spec: None,
            schedule_time: "2026-01-01T00:00:00Z".parse().unwrap(),
            kill,
            process: None,
        }
    }

    #[test]
    fn work_is_known_only_when_it_is_exactly_what_the_agent_has_and_nothing_is_to_be_killed() {
        let known: HashSet<(RunId, u32)> = [(RunId(1), 1), (RunId(2), 3)].into();
        assert!(is_known(&[work(1, 1, false), work(2, 3, false)], &known));
        assert!(is_known(&[], &HashSet::new()));
        assert!(!is_known(&[work(1, 1, false)], &known), "one is gone");
        assert!(
            !is_known(&[work(1, 1, false), work(2, 4, false)], &known),
            "a new attempt"
        );
        assert!(
            !is_known(&[work(1, 1, false), work(2, 3, true)], &known),
            "a kill ordered"
        );
        assert!(
            !is_known(
                &[work(1, 1, false), work(2, 3, false), work(5, 1, false)],
                &known
            ),
            "a new run"
        );
    }
}
