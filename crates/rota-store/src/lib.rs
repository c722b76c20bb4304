//! The store: a durable command log, a deterministic state machine over it, and snapshots.
//!
//! Every change to apps and runs is a [`Command`]; [`Store::submit`] makes it durable and
//! applies it to the [`State`]. The state machine does no IO and reads no clock, so the
//! same log gives the same state on every start (and, later, on every Raft replica).

mod backend;
mod command;
mod durable;
mod raft;
mod refusal;
mod state;

pub use backend::Backend;
pub use command::{
    AppFires, AttemptReport, Command, Ending, FireTime, ImportRun, Rerun, RerunMode,
};
pub use durable::{Store, StoreError, StoreOptions, StoreStats, SubmitError};
pub use raft::{
    Cluster, ClusterMetrics, ClusterOpenError, ClusterOptions, ClusterSubmitError, FollowerLag,
    LeaderAddr, Leadership, Member, MemberId, MembershipError, RaftRpc, Role, RpcError,
};
pub use refusal::Refusal;
pub use state::{AppEntry, AppVersion, Applied, NodeEntry, QueueSlot, SnapshotError, State};
