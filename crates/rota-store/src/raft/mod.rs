//! Raft replication of the store's state machine, with openraft.
//!
//! Every openraft type stays inside this module (DESIGN §9), so moving to openraft 0.10
//! stable touches only here. The rest of rota sees [`Cluster`]: the face of
//! [`Store`](crate::Store) (`submit`, `read`, `watch`) plus leadership, membership, metrics,
//! and the RPC entry point the server mounts.
//!
//! ```text
//!  submit() ─▶ openraft (leader) ─▶ log_store: append to raft.redb (fsync) ─┐
//!                 │ network: POST /raft/append ─▶ followers' Cluster::handle  │ majority
//!                 ▼                                                          ▼
//!        state_machine: State::apply ─▶ Result<Applied, Refusal> to the proposer
//!                 └─ every N entries: JSON snapshot in raft.redb, log purged;
//!                    a lagging or new member gets it by POST /raft/snapshot
//! ```

mod cluster;
#[cfg(test)]
mod conformance;
mod db;
mod error;
mod log_store;
mod log_writer;
mod metrics;
mod network;
mod rpc;
mod state_machine;
mod types;

pub use cluster::{Cluster, ClusterOptions};
pub use error::{ClusterOpenError, ClusterSubmitError, LeaderAddr, MembershipError};
pub use metrics::{ClusterMetrics, FollowerLag, Leadership, Member, MemberId, Role};
pub use rpc::{RaftRpc, RpcError};
