//! Nodes: list, drain, make ready again.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};

use rota_model::NodeId;
use rota_model::agent_api::{NodeCapacity, NodeView};
use rota_sched::{NodeState, Resources};
use rota_store::Command;

use crate::context::Context;
use crate::error::ApiError;

fn capacity(resources: &Resources) -> NodeCapacity {
    NodeCapacity {
        cores: resources.cores,
        mems: resources.mems,
        extended: resources
            .extended
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
    }
}

fn state_name(state: NodeState) -> &'static str {
    match state {
        NodeState::Ready => "ready",
        NodeState::Draining => "draining",
        NodeState::Down => "down",
    }
}

/// `GET /v1/nodes`: every node with its capacity, usage and state.
pub(crate) async fn list(State(ctx): State<Context>) -> Json<Vec<NodeView>> {
    let seen = ctx
        .liveness
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let local = ctx.agent.as_ref().map(|a| a.node().clone());
    Json(ctx.store.read(|s| {
        let mut used: BTreeMap<&NodeId, (NodeCapacity, u64)> = BTreeMap::new();
        for run in s.running() {
            if let (Some(node), Some(spec)) = (run.node.as_ref(), s.spec_of(run)) {
                let entry = used.entry(node).or_default();
                entry.0.cores += spec.cores;
                entry.0.mems += spec.mems;
                entry.1 += 1;
            }
        }
        s.nodes()
            .map(|(id, entry)| {
                let node = NodeId(id.clone());
                let (used, running) = used.get(&node).cloned().unwrap_or_default();
                NodeView {
                    state: state_name(entry.state).into(),
                    capacity: capacity(&entry.capacity),
                    used,
                    running,
                    attributes: entry.attributes.clone(),
                    labels: entry.labels.clone(),
                    last_seen_seconds: (Some(&node) != local.as_ref())
                        .then(|| seen.get(&node).map(|t| t.elapsed().as_secs_f64()))
                        .flatten(),
                    node,
                }
            })
            .collect()
    }))
}

async fn set_state(ctx: &Context, node: String, state: NodeState) -> Result<(), ApiError> {
    ctx.store
        .submit(Command::SetNodeState {
            node: NodeId(node),
            state,
            at: ctx.now(),
        })
        .await?;
    Ok(())
}

/// `POST /v1/nodes/{node}/drain`: the node takes no new runs; its running runs finish.
pub(crate) async fn drain(
    State(ctx): State<Context>,
    Path(node): Path<String>,
) -> Result<Json<Vec<NodeView>>, ApiError> {
    set_state(&ctx, node, NodeState::Draining).await?;
    Ok(list(State(ctx)).await)
}

/// `POST /v1/nodes/{node}/ready`: the node takes new runs again.
pub(crate) async fn ready(
    State(ctx): State<Context>,
    Path(node): Path<String>,
) -> Result<Json<Vec<NodeView>>, ApiError> {
    set_state(&ctx, node, NodeState::Ready).await?;
    Ok(list(State(ctx)).await)
}
