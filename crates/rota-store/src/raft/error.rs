//! The errors of the cluster handle, one per operation; none names an openraft type.

use std::path::PathBuf;

use crate::refusal::Refusal;

use super::metrics::MemberId;

/// The leader as a member knows it: where to forward a write.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeaderAddr {
    /// Its member id.
    pub id: MemberId,
    /// Its base URL, e.g. `http://10.0.0.2:7070`.
    pub addr: String,
}

/// Why a member could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterOpenError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The storage engine failed (retrying may help if the file is held by another process).
    #[error("storage engine: {0}")]
    Engine(String),
    /// The file holds data this version cannot read.
    #[error("the data in {0} is corrupt or from an incompatible version: {1}")]
    Corrupt(PathBuf, String),
    /// The options are inconsistent (e.g. an election timeout not above the heartbeat).
    #[error("invalid cluster options: {0}")]
    Options(String),
    /// The Raft core could not start.
    #[error("raft: {0}")]
    Raft(String),
}

/// Why a submitted command did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum ClusterSubmitError {
    /// The state machine refused it (on every member alike).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// This member is not the leader; forward to `leader`, or retry later when no leader is
    /// known (an election is under way). Nothing was written.
    #[error("not the leader{}", .leader.as_ref().map(|l| format!("; the leader is {} at {}", l.id, l.addr)).unwrap_or_default())]
    NotLeader {
        /// The leader, when known.
        leader: Option<LeaderAddr>,
    },
    /// Leadership changed after the command was logged: it may or may not have been
    /// committed. Retrying needs the command to be idempotent (most rota commands are: a run
    /// exists once per schedule time).
    #[error("leadership changed while the command was being replicated; its outcome is unknown")]
    Indeterminate {
        /// The new leader, when known.
        leader: Option<LeaderAddr>,
    },
    /// The member has stopped (shutting down, or a storage failure stopped its Raft core).
    #[error("the cluster member has stopped: {0}")]
    Stopped(String),
}

/// Why a membership change (initialize, add, remove) did not happen.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// This member is not the leader; send the change to `leader`.
    #[error("not the leader{}", .leader.as_ref().map(|l| format!("; the leader is {} at {}", l.id, l.addr)).unwrap_or_default())]
    NotLeader {
        /// The leader, when known.
        leader: Option<LeaderAddr>,
    },
    /// Raft refused the change (e.g. another change is in progress, or it would leave no
    /// voter); the message says which.
    #[error("membership change refused: {0}")]
    Refused(String),
    /// The member has stopped.
    #[error("the cluster member has stopped: {0}")]
    Stopped(String),
}
