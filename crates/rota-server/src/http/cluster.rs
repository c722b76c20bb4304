//! The cluster: Raft's own RPCs between servers, and its status for people.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use rota_store::{Backend, Cluster, RaftRpc, RpcError};

use crate::context::Context;
use crate::error::{ApiError, ErrorCode};

/// `POST /raft/{rpc}`: append entries, vote, pre-vote, install a snapshot.
pub(crate) async fn rpc(
    State(ctx): State<Context>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let Backend::Raft(cluster) = &ctx.store else {
        return ApiError::new(ErrorCode::RouteNotFound, "this server is not in a cluster")
            .into_response();
    };
    let Some(rpc) = RaftRpc::from_name(&name) else {
        return ApiError::new(ErrorCode::RouteNotFound, format!("no raft RPC `{name}`"))
            .into_response();
    };
    match cluster.handle(rpc, &body).await {
        Ok(answer) => (StatusCode::OK, answer).into_response(),
        Err(RpcError::BadRequest(why)) => {
            ApiError::new(ErrorCode::InvalidRequest, why).into_response()
        }
        Err(e @ RpcError::Encode(_)) => {
            ApiError::new(ErrorCode::Internal, e.to_string()).into_response()
        }
    }
}

/// `GET /v1/cluster`: members, leader, term, commit index and each follower's lag.
pub(crate) async fn status(
    State(ctx): State<Context>,
) -> Result<Json<serde_json::Value>, ApiError> {
    match &ctx.store {
        Backend::Raft(cluster) => member_status(cluster).map(Json),
        Backend::Local(_) => Ok(Json(serde_json::json!({
            "role": "single",
            "members": [],
            "message": "a single server over its local log (rota dev, or rota server without --members)"
        }))),
    }
}

/// A member's view of the cluster, as `GET /v1/cluster` shows it.
pub(crate) fn member_status(cluster: &Cluster) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(cluster.metrics())
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("cannot show the metrics: {e}")))
}
