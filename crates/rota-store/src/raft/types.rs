//! The openraft type configuration: what an entry carries and what applying it answers.

use std::fmt;
use std::sync::{Arc, OnceLock};

use openraft::BasicNode;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::command::Command;
use crate::refusal::Refusal;
use crate::state::Applied;

/// The payload of a normal log entry: one [`Command`], shared (openraft clones entries on
/// their way to the log and to each follower), with its JSON made once. The leader writes
/// an entry to its log and sends it to every follower: encoding the command each time was
/// a tenth of its CPU under load.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    command: Arc<Command>,
    json: Arc<OnceLock<Box<RawValue>>>,
}

impl Request {
    /// A request for `command`, encoded now, on the proposer's task rather than the Raft
    /// core's.
    pub(crate) fn new(command: Command) -> Request {
        let request = Request {
            command: Arc::new(command),
            json: Arc::default(),
        };
        request.encoded();
        request
    }

    /// The command.
    pub(crate) fn command(&self) -> &Command {
        &self.command
    }

    /// The command's JSON, made on first use; `None` only if it cannot be encoded.
    fn encoded(&self) -> Option<&RawValue> {
        if let Some(json) = self.json.get() {
            return Some(json);
        }
        let json = serde_json::value::to_raw_value(&*self.command).ok()?;
        Some(self.json.get_or_init(|| json))
    }
}

impl Serialize for Request {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.encoded() {
            Some(json) => json.serialize(serializer),
            None => self.command.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Request {
            command: Arc::new(Command::deserialize(deserializer)?),
            json: Arc::default(),
        })
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // openraft logs entries at debug level; the variant name is enough to follow them.
        let name = format!("{:?}", self.command);
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
