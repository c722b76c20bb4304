//! The server side of the Raft RPCs: a request's bytes in, the response's bytes out.
//!
//! Every RPC is `POST <member base URL>/raft/<name>` with a JSON body; the answer is the JSON
//! of openraft's `Result<response, RaftError>`, so a refusal by the Raft core travels back
//! as data with a 200. A full snapshot's body is a JSON header line (vote and metadata), a
//! newline, then the snapshot bytes as they are (the JSON of the state), to spare the state
//! a second encoding.

use serde::{Deserialize, Serialize};

use super::types::{Raft, Snapshot, SnapshotMeta, Vote};

/// One of the Raft RPCs a member serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RaftRpc {
    /// Append entries (and heartbeats).
    Append,
    /// Request a vote.
    Vote,
    /// Ask whether an election would be won, before disrupting the term.
    PreVote,
    /// Install a whole snapshot.
    Snapshot,
}

impl RaftRpc {
    /// Every RPC, for mounting them all.
    pub const ALL: [RaftRpc; 4] = [
        RaftRpc::Append,
        RaftRpc::Vote,
        RaftRpc::PreVote,
        RaftRpc::Snapshot,
    ];

    /// The last path segment: `append`, `vote`, `pre-vote`, `snapshot`.
    pub fn name(self) -> &'static str {
        match self {
            RaftRpc::Append => "append",
            RaftRpc::Vote => "vote",
            RaftRpc::PreVote => "pre-vote",
            RaftRpc::Snapshot => "snapshot",
        }
    }

    /// The path under a member's base URL, e.g. `/raft/append`.
    pub fn path(self) -> &'static str {
        match self {
            RaftRpc::Append => "/raft/append",
            RaftRpc::Vote => "/raft/vote",
            RaftRpc::PreVote => "/raft/pre-vote",
            RaftRpc::Snapshot => "/raft/snapshot",
        }
    }

    /// The RPC named by a path's last segment, if any.
    pub fn from_name(name: &str) -> Option<RaftRpc> {
        RaftRpc::ALL.into_iter().find(|rpc| rpc.name() == name)
    }
}

/// Why an RPC could not be served at all.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The body is not a request of this RPC (answer 400).
    #[error("bad raft request: {0}")]
    BadRequest(String),
    /// The answer could not be encoded (answer 500; a bug).
    #[error("cannot encode the raft response: {0}")]
    Encode(String),
}

/// The header of a full-snapshot body.
#[derive(Serialize, Deserialize)]
pub(crate) struct SnapshotHeader {
    pub(crate) vote: Vote,
    pub(crate) meta: SnapshotMeta,
}

/// Frames a snapshot for the wire: header line, newline, data.
pub(crate) fn encode_snapshot(vote: &Vote, snapshot: Snapshot) -> serde_json::Result<Vec<u8>> {
    let header = SnapshotHeader {
        vote: *vote,
        meta: snapshot.meta,
    };
    // Compact JSON has no raw newline, so the first one ends the header.
    let mut body = serde_json::to_vec(&header)?;
    body.push(b'\n');
    body.extend_from_slice(&snapshot.snapshot);
    Ok(body)
}

fn decode_snapshot(body: &[u8]) -> Result<(Vote, Snapshot), RpcError> {
    let split = body
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| RpcError::BadRequest("a snapshot body needs a header line".into()))?;
    let header: SnapshotHeader =
        serde_json::from_slice(&body[..split]).map_err(|e| RpcError::BadRequest(e.to_string()))?;
    Ok((
        header.vote,
        Snapshot {
            meta: header.meta,
            snapshot: body[split + 1..].to_vec(),
        },
    ))
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, RpcError> {
    serde_json::from_slice(body).map_err(|e| RpcError::BadRequest(e.to_string()))
}

fn encode<T: Serialize>(answer: &T) -> Result<Vec<u8>, RpcError> {
    serde_json::to_vec(answer).map_err(|e| RpcError::Encode(e.to_string()))
}

/// Serves one RPC on `raft`.
pub(crate) async fn handle(raft: &Raft, rpc: RaftRpc, body: &[u8]) -> Result<Vec<u8>, RpcError> {
    match rpc {
        RaftRpc::Append => encode(&raft.append_entries(parse(body)?).await),
        RaftRpc::Vote => encode(&raft.vote(parse(body)?).await),
        RaftRpc::PreVote => encode(&raft.pre_vote(parse(body)?).await),
        RaftRpc::Snapshot => {
            let (vote, snapshot) = decode_snapshot(body)?;
            let answer = raft
                .install_full_snapshot(vote, snapshot)
                .await
                .map_err(openraft::errors::RaftError::<super::types::TypeConfig>::Fatal);
            encode(&answer)
        }
    }
}
