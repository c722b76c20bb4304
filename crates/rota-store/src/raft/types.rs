//! The openraft type configuration: what an entry carries and what applying it answers.

use std::fmt;

use openraft::BasicNode;
use serde::{Deserialize, Serialize};

use crate::command::Command;
use crate::refusal::Refusal;
use crate::state::Applied;

/// The payload of a normal log entry: one [`Command`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Request(pub(crate) Command);

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // openraft logs entries at debug level; the variant name is enough to follow them.
        let name = format!("{:?}", self.0);
        let end = name.find([' ', '(', '{']).unwrap_or(name.len());
        write!(f, "command {}", &name[..end])
    }
}

/// What applying an entry answered, handed to the proposer on the same node.
///
/// It never crosses the network (a follower forwards the whole request to the leader at the
/// API level, not at the Raft level), so it encodes as nothing: openraft only needs the bounds.
#[derive(Debug, Default)]
pub(crate) struct Reply(pub(crate) Option<Result<Applied, Refusal>>);

impl Serialize for Reply {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

impl<'de> Deserialize<'de> for Reply {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <()>::deserialize(deserializer)?;
        Ok(Reply(None))
    }
}

openraft::declare_raft_types!(
    /// rota's Raft types: u64 member ids, members known by their base URL.
    pub(crate) TypeConfig:
        D = Request,
        R = Reply,
        NodeId = u64,
        Node = BasicNode,
);

/// A log id of this configuration.
pub(crate) type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
/// A log entry of this configuration.
pub(crate) type Entry = openraft::type_config::alias::EntryOf<TypeConfig>;
/// A vote of this configuration.
pub(crate) type Vote = openraft::type_config::alias::VoteOf<TypeConfig>;
/// The membership as the state machine stores it.
pub(crate) type StoredMembership = openraft::type_config::alias::StoredMembershipOf<TypeConfig>;
/// The metadata of a snapshot.
pub(crate) type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;
/// A snapshot: its metadata and the JSON of the [`State`](crate::State).
pub(crate) type Snapshot = openraft::type_config::alias::SnapshotOf<TypeConfig, Vec<u8>>;
/// The Raft node.
pub(crate) type Raft = openraft::Raft<TypeConfig, super::state_machine::StateMachine>;
