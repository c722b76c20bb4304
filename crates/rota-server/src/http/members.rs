//! Membership changes: `rota cluster add` and `rota cluster remove`.
//!
//! A new server is started with `rota server --id ID --join` and waits, as a learner, until
//! it is added here. Before adding it, the leader asks it for its status, so that a wrong
//! URL, a wrong id or a server of another cluster is refused at once rather than waited
//! for.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;

use rota_model::api::AddMemberRequest;
use rota_store::{Backend, Cluster, MemberId};

use super::JsonBody;
use super::cluster::member_status;
use crate::context::Context;
use crate::error::{ApiError, ErrorCode};

/// How long a new member may take to say who it is.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// `POST /v1/cluster/members` with `{"id": 4, "url": "http://…"}`: adds the member as a
/// learner, waits until it has caught up, makes it a voter, and answers the cluster's
/// status. Adding a voter again with the same URL changes nothing.
pub(crate) async fn add(
    State(ctx): State<Context>,
    JsonBody(request): JsonBody<AddMemberRequest>,
) -> Result<Json<Value>, ApiError> {
    let cluster = replicated(&ctx)?;
    let id = member_id(request.id)?;
    let url = member_url(&request.url).map_err(|why| bad_field("url", why))?;
    let known = cluster.metrics().members.into_iter().find(|m| m.id == id);
    match known {
        Some(member) if member.addr != url => {
            return Err(ApiError::new(
                ErrorCode::MemberExists,
                format!(
                    "member {id} is already in the cluster at {}; remove it first to move it",
                    member.addr
                ),
            ));
        }
        Some(member) if member.voter => {}
        Some(_) => cluster.add_member(id, &url).await?,
        None => {
            probe(&ctx, id, &url).await?;
            cluster.add_member(id, &url).await?;
        }
    }
    member_status(cluster).map(Json)
}

/// `DELETE /v1/cluster/members/{id}`: removes a member, voter or learner (the leader
/// itself included: leadership then moves to a remaining voter), and answers the cluster's
/// status.
pub(crate) async fn remove(
    State(ctx): State<Context>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let cluster = replicated(&ctx)?;
    let id = id
        .parse()
        .map_err(|_| bad_field("id", format!("`{id}` is not a member id")))
        .and_then(member_id)?;
    let members = cluster.metrics().members;
    if !members.iter().any(|m| m.id == id) {
        let ids: Vec<String> = members.iter().map(|m| m.id.to_string()).collect();
        return Err(ApiError::new(
            ErrorCode::MemberNotFound,
            format!(
                "no member {id} in the cluster (its members: {})",
                ids.join(", ")
            ),
        ));
    }
    cluster.remove_member(id).await?;
    member_status(cluster).map(Json)
}

/// The cluster this server is a member of, or why there is none.
fn replicated(ctx: &Context) -> Result<&Cluster, ApiError> {
    match &ctx.store {
        Backend::Raft(cluster) => Ok(cluster),
        Backend::Local(_) => Err(ApiError::new(
            ErrorCode::NotReplicated,
            "this server is not a replicated cluster (rota dev, or rota server without \
             --id): it has no members to add or remove",
        )),
    }
}

fn bad_field(field: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, format!("`{field}`: {why}"))
}

fn member_id(id: u64) -> Result<MemberId, ApiError> {
    if id == 0 {
        return Err(bad_field("id", "a member id must be above 0"));
    }
    Ok(MemberId(id))
}

/// A member's base URL, `http://HOST[:PORT]`, without a trailing slash.
fn member_url(text: &str) -> Result<String, String> {
    let text = text.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(text)
        .map_err(|e| format!("`{text}` is not a URL ({e}); give http://HOST:PORT"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "`{text}`: members speak plain http; give http://HOST:PORT"
        ));
    }
    if url.host_str().is_none_or(str::is_empty)
        || url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
    {
        return Err(format!(
            "`{text}` is not a server's base URL; give http://HOST:PORT, with no path"
        ));
    }
    Ok(text.to_string())
}

/// Asks the server at `url` who it is: it must be a cluster member with id `id` that
/// belongs to no cluster yet (started with `--join`).
async fn probe(ctx: &Context, id: MemberId, url: &str) -> Result<(), ApiError> {
    let status = ctx
        .peers
        .get(format!("{url}/v1/cluster"))
        .timeout(PROBE_TIMEOUT)
        .send()
        .await
        .map_err(|e| bad_field("url", format!("cannot reach a rota server at {url}: {e}")))?;
    let answer = status.status();
    let status: Value = match status.json().await {
        Ok(value) if answer.is_success() => value,
        _ => {
            return Err(bad_field(
                "url",
                format!("{url} did not answer as a rota server (GET /v1/cluster: {answer})"),
            ));
        }
    };
    joinable(id, url, &status)
}

/// Whether a server whose `GET /v1/cluster` answered `status` may join as member `id`.
fn joinable(id: MemberId, url: &str, status: &Value) -> Result<(), ApiError> {
    let how = format!("start it with `rota server --id {id} --join` and an empty --data");
    if status["role"] == "single" {
        return Err(bad_field(
            "url",
            format!("the server at {url} is not a cluster member; {how}"),
        ));
    }
    if status["id"].as_u64() != Some(id.0) {
        return Err(bad_field(
            "id",
            format!("the server at {url} is member {}, not {id}", status["id"]),
        ));
    }
    if status["members"].as_array().is_some_and(|m| !m.is_empty()) {
        return Err(ApiError::new(
            ErrorCode::MemberExists,
            format!("the server at {url} already belongs to a cluster; {how}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_base_url_is_kept_without_its_trailing_slash() {
        assert_eq!(
            member_url("http://10.0.0.4:7070/").unwrap(),
            "http://10.0.0.4:7070"
        );
        assert_eq!(member_url("http://host").unwrap(), "http://host");
    }

    #[test]
    fn anything_but_a_plain_http_base_url_is_refused() {
        for bad in [
            "",
            "10.0.0.4:7070",
            "https://host:7070",
            "http://host:7070/v1",
            "http://host:7070?x=1",
            "http://user@host:7070",
            "http://host:99999",
        ] {
            assert!(member_url(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_member_id_of_zero_is_refused_naming_the_field() {
        let e = member_id(0).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(e.message.starts_with("`id`"), "{}", e.message);
        assert_eq!(member_id(4).unwrap(), MemberId(4));
    }

    #[test]
    fn only_a_joining_member_with_the_same_id_may_join() {
        let url = "http://h:1";
        let joining = json!({"id": 4, "role": "learner", "members": []});
        assert!(joinable(MemberId(4), url, &joining).is_ok());
        let other_id = joinable(MemberId(5), url, &joining).unwrap_err();
        assert!(other_id.message.starts_with("`id`"), "{}", other_id.message);
        let single = json!({"role": "single", "members": []});
        let e = joinable(MemberId(4), url, &single).unwrap_err();
        assert!(e.message.starts_with("`url`"), "{}", e.message);
        let taken = json!({"id": 4, "role": "follower", "members": [{"id": 1}]});
        assert_eq!(
            joinable(MemberId(4), url, &taken).unwrap_err().code,
            ErrorCode::MemberExists
        );
    }
}
