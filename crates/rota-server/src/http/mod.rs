//! The HTTP API under `/v1` (DESIGN §4).

mod agents;
mod apps;
mod body;
mod cluster;
mod depends;
mod forward;
mod import;
mod members;
mod nodes;
mod queues;
mod rounds;
mod runs;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};

use crate::context::Context;
use crate::error::{ApiError, ErrorCode};

pub(crate) use body::{JsonBody, QueryParams, parse_app_key, parse_time};

/// The largest Raft message (a full snapshot of the state).
const RAFT_MAX_BODY: usize = 1 << 30;

/// The whole API.
pub(crate) fn router(ctx: Context) -> Router {
    let max_body = ctx.config.max_body;
    Router::new()
        .route("/healthz", get(apps::health))
        .route("/v1/apps", post(apps::add).get(apps::list))
        .route(
            "/v1/apps/{app}",
            get(apps::get).put(apps::update).delete(apps::remove),
        )
        .route("/v1/apps/{app}/start", post(apps::start))
        .route("/v1/apps/{app}/versions", get(apps::versions))
        .route("/v1/apps/{app}/rollback", post(apps::rollback))
        .route("/v1/apps/{app}/stop", post(apps::stop))
        .route("/v1/apps/{app}/trigger", post(runs::trigger))
        .route("/v1/apps/{app}/runs", get(runs::of_app))
        .route("/v1/apps/{app}/kill", post(runs::kill_range))
        .route("/v1/apps/{app}/repair", post(runs::repair))
        .route("/v1/apps/{app}/replay", post(runs::replay))
        .route("/v1/queues", get(queues::list))
        .route("/v1/queues/{name}", axum::routing::put(queues::set))
        .route("/v1/queued", get(queues::queued))
        .route("/v1/scheduler/rounds", get(rounds::list))
        .route("/v1/queued/{id}", delete(queues::delete_queued))
        .route("/v1/runs", get(runs::list))
        .route("/v1/runs/{id}", get(runs::get))
        .route("/v1/runs/{id}/kill", post(runs::kill_one))
        .route("/v1/runs/{id}/log", get(runs::log))
        .route("/v1/runs/{id}/why", get(depends::why))
        .route("/v1/depends", post(depends::add))
        .route("/v1/apps/{app}/depends", get(depends::of_app))
        .route("/v1/apps/{app}/depends/{upstream}", delete(depends::remove))
        .route("/v1/graph", get(depends::graph))
        .route("/v1/import/runs", post(import::runs))
        .route("/v1/agents/register", post(agents::register))
        .route("/v1/agents/{node}/poll", post(agents::poll))
        .route("/v1/agents/{node}/reports", post(agents::reports))
        .route("/v1/nodes", get(nodes::list))
        .route("/v1/cluster", get(cluster::status))
        .route("/v1/cluster/members", post(members::add))
        .route("/v1/cluster/members/{id}", delete(members::remove))
        .route(
            "/raft/{rpc}",
            post(cluster::rpc).layer(DefaultBodyLimit::max(RAFT_MAX_BODY)),
        )
        .route("/v1/nodes/{node}/drain", post(nodes::drain))
        .route("/v1/nodes/{node}/ready", post(nodes::ready))
        .fallback(|| async { ApiError::new(ErrorCode::RouteNotFound, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                ErrorCode::MethodNotAllowed,
                "this route does not take that method",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            forward::writes,
        ))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(ctx)
}
