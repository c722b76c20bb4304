//! The client side of the Raft RPCs: openraft's network over HTTP POST with JSON bodies to a
//! member's base URL + `/raft/...` (see [`rpc`](super::rpc) for the wire format).

use std::future::Future;

use openraft::errors::{
    NetworkError, RPCError, RaftError, ReplicationClosed, StreamingError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, OptionalSend};
use serde::de::DeserializeOwned;

use super::rpc::{RaftRpc, encode_snapshot};
use super::types::{Snapshot, TypeConfig, Vote};

/// Makes a client per peer; all share one connection pool.
pub(crate) struct Network {
    http: reqwest::Client,
}

impl Network {
    pub(crate) fn new() -> Result<Network, reqwest::Error> {
        Ok(Network {
            http: reqwest::Client::builder().no_proxy().build()?,
        })
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Peer {
        Peer {
            http: self.http.clone(),
            base: node.addr.trim_end_matches('/').to_string(),
            target,
        }
    }
}

/// One peer's RPC client.
pub(crate) struct Peer {
    http: reqwest::Client,
    base: String,
    target: u64,
}

impl Peer {
    async fn post<R: DeserializeOwned>(
        &self,
        rpc: RaftRpc,
        body: Vec<u8>,
        timeout: std::time::Duration,
    ) -> Result<R, RPCError<TypeConfig>> {
        let url = format!("{}{}", self.base, rpc.path());
        let response = self
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    RPCError::Unreachable(Unreachable::new(&e))
                } else {
                    RPCError::Network(NetworkError::new(&e))
                }
            })?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(RPCError::Network(NetworkError::from_string(format!(
                "member {} answered {status} to {url}: {text}",
                self.target
            ))));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let answer: Result<R, RaftError<TypeConfig>> =
            serde_json::from_slice(&bytes).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        // The peer's Raft core has stopped: treat it as unreachable so openraft backs off.
        answer.map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))
    }

    fn json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, RPCError<TypeConfig>> {
        serde_json::to_vec(value).map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }
}

impl RaftNetworkV2<TypeConfig> for Peer {
    type SnapshotData = Vec<u8>;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.post(RaftRpc::Append, Self::json(&rpc)?, option.soft_ttl())
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.post(RaftRpc::Vote, Self::json(&rpc)?, option.soft_ttl())
            .await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.post(RaftRpc::PreVote, Self::json(&rpc)?, option.soft_ttl())
            .await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let body = encode_snapshot(&vote, snapshot)
            .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            answer = self.post(RaftRpc::Snapshot, body, option.hard_ttl()) => Ok(answer?),
        }
    }
}
