//! The store a server writes to: the local durable log (`rota dev`, a single server) or the
//! Raft-replicated one (`rota server` with members). Both apply the same state machine.

use tokio::sync::watch;

use crate::command::Command;
use crate::durable::{Store, SubmitError};
use crate::raft::{Cluster, ClusterSubmitError};
use crate::state::{Applied, State};

/// A server's store; cheap to clone.
#[derive(Clone)]
pub enum Backend {
    /// One process's durable log.
    Local(Store),
    /// A member of a Raft cluster.
    Raft(Cluster),
}

impl Backend {
    /// Writes a command and applies it; on a Raft follower, says where the leader is.
    pub async fn submit(&self, command: Command) -> Result<Applied, SubmitError> {
        match self {
            Backend::Local(store) => store.submit(command).await,
            Backend::Raft(cluster) => cluster.submit(command).await.map_err(|e| match e {
                ClusterSubmitError::Refused(refusal) => SubmitError::Refused(refusal),
                ClusterSubmitError::NotLeader { leader } => SubmitError::NotLeader {
                    leader: leader.map(|l| l.addr),
                },
                ClusterSubmitError::Indeterminate { leader } => SubmitError::Unavailable(format!(
                    "leadership changed while the write was replicated; its outcome is unknown{}",
                    leader
                        .map(|l| format!(" (the leader is now {})", l.addr))
                        .unwrap_or_default()
                )),
                ClusterSubmitError::Stopped(why) => SubmitError::Unavailable(why),
            }),
        }
    }

    /// Reads the state (on a follower, as far as it has applied the log).
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        match self {
            Backend::Local(store) => store.read(f),
            Backend::Raft(cluster) => cluster.read(f),
        }
    }

    /// The index of the last applied command; changes after every write.
    pub fn watch(&self) -> watch::Receiver<u64> {
        match self {
            Backend::Local(store) => store.watch(),
            Backend::Raft(cluster) => cluster.watch(),
        }
    }
}
