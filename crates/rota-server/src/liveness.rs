//! Node liveness: a remote node whose agent has not polled for the heartbeat timeout is
//! declared down, and its running runs end `lost` (their retry policy decides the rest).

use std::time::{Duration, Instant};

use rota_model::NodeId;
use rota_sched::NodeState;
use rota_store::Command;

use crate::context::Context;

/// How often the loop looks.
const CHECK_EVERY: Duration = Duration::from_millis(500);

/// Runs while this server leads (it is started afresh each time it becomes the leader).
pub(crate) async fn run(ctx: Context) {
    let started = Instant::now();
    let local = ctx.agent.as_ref().map(|a| a.node().clone());
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        let nodes: Vec<NodeId> = ctx.store.read(|s| {
            s.nodes()
                .filter(|(_, n)| n.state != NodeState::Down)
                .map(|(id, _)| NodeId(id.clone()))
                .filter(|id| Some(id) != local.as_ref())
                .collect()
        });
        let silent: Vec<NodeId> = {
            let seen = ctx.liveness.lock().unwrap_or_else(|e| e.into_inner());
            nodes
                .into_iter()
                .filter(|node| {
                    // A node not heard from since this server began to lead (what it heard
                    // while it led before may be long past) gets a full timeout.
                    let last = seen.get(node).map_or(started, |t| (*t).max(started));
                    last.elapsed() > ctx.config.heartbeat_timeout
                })
                .collect()
        };
        for node in silent {
            tracing::warn!(%node, "node stopped answering; its running runs are lost");
            let down = Command::SetNodeState {
                node: node.clone(),
                state: NodeState::Down,
                at: ctx.now(),
            };
            if let Err(e) = ctx.store.submit(down).await {
                tracing::error!(%node, error = %e, "cannot mark the node down");
            }
        }
    }
}
