//! Followers forward writes (DESIGN §2): a write of the `/v1` API that reaches a follower
//! is sent on to the leader, and the leader's answer comes back unchanged, so a client that
//! knows only a follower's URL can write.
//!
//! ```text
//!  client ─POST─▶ follower ─POST + x-rota-forwarded─▶ leader: handler, Raft commit
//!         ◀──────   waits until it applied N ◀──── status, body, x-rota-applied: N
//! ```
//!
//! The agent protocol (`/v1/agents/…`) is not forwarded: the leader tracks agents'
//! liveness, so agents must talk to it (a follower answers 421 naming it). A forwarded
//! request is never forwarded again: a member that is not the leader answers it with 421,
//! which the client follows. A leader that cannot be reached (it died, and the election that
//! replaces it is under way) is waited out: the follower holds the write, bounded, and sends
//! it to the next leader, so a write during a failover is slower, not refused.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use rota_store::{Backend, Cluster, LeaderAddr, SubmitError};

use super::body::read_body;
use crate::context::Context;
use crate::error::{ApiError, ErrorCode};

/// Marks a request a follower forwarded to the leader.
const FORWARDED: &str = "x-rota-forwarded";
/// On the answer to a write: the log index the answering server had applied, which covers
/// the write.
const APPLIED: &str = "x-rota-applied";

/// How long a write waits for a leader while none is known: about two election timeouts.
const LEADER_WAIT: Duration = Duration::from_secs(2);
/// How long a follower waits to apply a forwarded write before answering anyway.
const APPLY_WAIT: Duration = Duration::from_secs(5);

/// Whether a request is a write that a follower forwards to the leader: any method but
/// GET, HEAD and OPTIONS under `/v1`, except the agent protocol.
pub(crate) fn forwards(method: &Method, path: &str) -> bool {
    let read = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let agents = path == "/v1/agents" || path.starts_with("/v1/agents/");
    !read && !agents && path.starts_with("/v1/")
}

/// Where a write is served.
enum Route {
    /// Here: this member leads.
    Here,
    /// By the leader, at this address.
    Leader(LeaderAddr),
}

/// The middleware: serves a write here on the leader (stamping the applied index), forwards
/// it from a follower, and leaves every other request alone.
pub(crate) async fn writes(State(ctx): State<Context>, request: Request, next: Next) -> Response {
    let Backend::Raft(cluster) = &ctx.store else {
        return next.run(request).await;
    };
    if !forwards(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let forwarded = request.headers().contains_key(FORWARDED);
    let answer = match route(cluster, forwarded).await {
        Ok(Route::Here) => {
            let mut response = next.run(request).await;
            let applied = HeaderValue::from(*cluster.watch().borrow());
            response.headers_mut().insert(APPLIED, applied);
            Ok(response)
        }
        Ok(Route::Leader(leader)) => proxy(&ctx, cluster, leader, request).await,
        Err(e) => Err(e),
    };
    answer.unwrap_or_else(IntoResponse::into_response)
}

/// Decides where a write goes; while no leader is known, waits (bounded) for one.
async fn route(cluster: &Cluster, forwarded: bool) -> Result<Route, ApiError> {
    if forwarded {
        return if cluster.is_leader() {
            Ok(Route::Here)
        } else {
            Err(not_leader(cluster))
        };
    }
    let deadline = Instant::now() + LEADER_WAIT;
    let mut leadership = cluster.leadership();
    loop {
        if cluster.is_leader() {
            return Ok(Route::Here);
        }
        if let Some(leader) = cluster.leader().filter(|l| l.id != cluster.id()) {
            return Ok(Route::Leader(leader));
        }
        match tokio::time::timeout_at(deadline, leadership.changed()).await {
            Ok(Ok(())) => {}
            _ => {
                return Err(ApiError::new(
                    ErrorCode::Unavailable,
                    format!(
                        "no leader is known to this server after {} s (an election is under \
                         way, or most members are down); retry",
                        LEADER_WAIT.as_secs()
                    ),
                ));
            }
        }
    }
}

fn not_leader(cluster: &Cluster) -> ApiError {
    SubmitError::NotLeader {
        leader: cluster.leader().map(|l| l.addr),
    }
    .into()
}

/// Sends the write to the leader and answers with its status and body; first waits until
/// this member has applied the write, so that a read here right after sees it. A leader
/// that refuses the connection never saw the write: it goes to the next leader, once one is
/// known (within [`LEADER_WAIT`]).
async fn proxy(
    ctx: &Context,
    cluster: &Cluster,
    mut leader: LeaderAddr,
    request: Request,
) -> Result<Response, ApiError> {
    let method = request.method().clone();
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let content_type = request.headers().get(CONTENT_TYPE).cloned();
    let body = read_body(request, ctx).await?;
    let deadline = Instant::now() + LEADER_WAIT;
    let unreachable = |leader: &LeaderAddr, e: reqwest::Error| {
        ApiError::new(
            ErrorCode::Unavailable,
            format!(
                "cannot forward the write to the leader (member {} at {}): {e}",
                leader.id, leader.addr
            ),
        )
    };
    let answer = loop {
        let mut outgoing = ctx
            .peers
            .request(
                method.clone(),
                format!("{}{path}", leader.addr.trim_end_matches('/')),
            )
            .header(FORWARDED, "1")
            .body(body.clone());
        if let Some(content_type) = &content_type {
            outgoing = outgoing.header(CONTENT_TYPE, content_type.clone());
        }
        match outgoing.send().await {
            Ok(answer) => break answer,
            Err(e) if e.is_connect() && Instant::now() < deadline => {
                tracing::debug!(leader = %leader.addr, error = %e, "the leader is unreachable; waiting for the next");
                leader = next_leader(cluster, deadline)
                    .await
                    .ok_or_else(|| unreachable(&leader, e))?;
            }
            Err(e) => return Err(unreachable(&leader, e)),
        }
    };
    let status = answer.status();
    let headers = kept_headers(answer.headers());
    let body = answer.bytes().await.map_err(|e| unreachable(&leader, e))?;
    if let Some(index) = applied_index(&headers) {
        wait_applied(cluster, index).await;
    }
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// The leader to try next: after a short pause (or as soon as this member's view of the
/// leadership changes), whichever member it names then, itself included; `None` once
/// `deadline` passes. Until it hears of an election it still names the one that was
/// unreachable, which is then tried again.
async fn next_leader(cluster: &Cluster, deadline: Instant) -> Option<LeaderAddr> {
    let mut leadership = cluster.leadership();
    loop {
        let wake = (Instant::now() + RECHECK).min(deadline);
        if let Ok(Err(_)) = tokio::time::timeout_at(wake, leadership.changed()).await {
            return None;
        }
        if Instant::now() >= deadline {
            return None;
        }
        if let Some(leader) = cluster.leader() {
            return Some(leader);
        }
    }
}

/// How often a member waiting for the next leader looks again, besides on its own changes.
const RECHECK: Duration = Duration::from_millis(20);

/// The headers of the leader's answer that the follower passes on.
fn kept_headers(headers: &HeaderMap) -> HeaderMap {
    [CONTENT_TYPE.as_str(), APPLIED]
        .into_iter()
        .filter_map(|name| Some((name.parse().ok()?, headers.get(name)?.clone())))
        .collect()
}

/// The log index an answer says covers its write.
fn applied_index(headers: &HeaderMap) -> Option<u64> {
    headers.get(APPLIED)?.to_str().ok()?.parse().ok()
}

/// Waits (bounded) until this member has applied the log up to `index`.
async fn wait_applied(cluster: &Cluster, index: u64) {
    let mut applied = cluster.watch();
    let caught_up = tokio::time::timeout(APPLY_WAIT, applied.wait_for(|a| *a >= index)).await;
    if !matches!(caught_up, Ok(Ok(_))) {
        tracing::warn!(
            index,
            "a forwarded write is not applied on this member yet; answering anyway"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_of_the_api_are_forwarded() {
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            assert!(forwards(&method, "/v1/apps"), "{method}");
        }
        assert!(forwards(&Method::POST, "/v1/apps/a:q/trigger"));
        assert!(forwards(&Method::DELETE, "/v1/cluster/members/2"));
        assert!(forwards(&Method::POST, "/v1/nodes/n1/drain"));
    }

    #[test]
    fn reads_are_answered_by_the_follower() {
        for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert!(!forwards(&method, "/v1/apps"), "{method}");
        }
    }

    #[test]
    fn the_agent_protocol_raft_and_other_routes_are_not_forwarded() {
        assert!(!forwards(&Method::POST, "/v1/agents/register"));
        assert!(!forwards(&Method::POST, "/v1/agents/n1/poll"));
        assert!(!forwards(&Method::POST, "/v1/agents"));
        assert!(!forwards(&Method::POST, "/raft/append"));
        assert!(!forwards(&Method::POST, "/healthz"));
        assert!(!forwards(&Method::POST, "/v1"));
    }

    #[test]
    fn the_applied_index_is_read_from_the_answer() {
        let mut headers = HeaderMap::new();
        assert_eq!(applied_index(&headers), None);
        headers.insert(APPLIED, HeaderValue::from(42u64));
        assert_eq!(applied_index(&headers), Some(42));
        headers.insert(APPLIED, HeaderValue::from_static("soon"));
        assert_eq!(applied_index(&headers), None);
    }

    #[test]
    fn only_the_content_type_and_applied_index_are_passed_on() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(APPLIED, HeaderValue::from(7u64));
        headers.insert("connection", HeaderValue::from_static("close"));
        let kept = kept_headers(&headers);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[CONTENT_TYPE], "application/json");
        assert_eq!(kept[APPLIED], "7");
    }
}
