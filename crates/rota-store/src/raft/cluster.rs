//! The cluster handle: the face of [`Store`](crate::Store) for a replicated member, plus
//! membership, leadership and the RPC entry points the server mounts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use openraft::errors::{ClientWriteError, ForwardToLeader, InitializeError, RaftError};
use openraft::{BasicNode, ChangeMembers, Config, SnapshotPolicy};
use tokio::sync::watch;

use super::db;
use super::error::{ClusterOpenError, ClusterSubmitError, LeaderAddr, MembershipError};
use super::log_store::LogStore;
use super::metrics::{ClusterMetrics, Leadership, MemberId};
use super::network::Network;
use super::rpc::{self, RaftRpc, RpcError};
use super::state_machine::{Machine, StateMachine};
use super::types::{Raft, Request, TypeConfig};
use crate::command::Command;
use crate::state::{Applied, State};

/// Tuning of a member.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// This member's id, unique in the cluster and stable across restarts.
    pub id: MemberId,
    /// Heartbeat interval, in milliseconds.
    pub heartbeat_ms: u64,
    /// An election starts after a random silence between these two, in milliseconds.
    pub election_timeout_ms: (u64, u64),
    /// Build a snapshot (and purge the log) after this many entries.
    pub snapshot_every: u64,
    /// Entries kept in the log below the snapshot, so a briefly lagging member catches up
    /// from the log rather than from a whole snapshot.
    pub keep_after_snapshot: u64,
}

impl ClusterOptions {
    /// Defaults for member `id`: a 50 ms heartbeat and an election timeout of 150–200 ms. A
    /// follower that heard a leader holds its lease for the maximum (200 ms) and then waits
    /// the timeout, so an election starts 350–400 ms after a leader's last heartbeat: the
    /// next run after a leader's loss starts well within a second, while a leader stalled
    /// for less than 350 ms (seven heartbeats) is not replaced. A snapshot every 20,000
    /// entries.
    pub fn new(id: MemberId) -> ClusterOptions {
        ClusterOptions {
            id,
            heartbeat_ms: 50,
            election_timeout_ms: (150, 200),
            snapshot_every: 20_000,
            keep_after_snapshot: 1_000,
        }
    }
}

/// A handle to one member of a replicated store; cheap to clone.
///
/// The member runs in background tasks until [`Cluster::shutdown`].
#[derive(Clone)]
pub struct Cluster {
    id: MemberId,
    raft: Raft,
    machine: Arc<RwLock<Machine>>,
    applied: watch::Receiver<u64>,
    leadership: watch::Receiver<Leadership>,
    /// Closes once every task of the Raft core has dropped the member's file and its lock
    /// is released.
    file_released: watch::Receiver<()>,
}

fn leader_addr(forward: ForwardToLeader<TypeConfig>) -> Option<LeaderAddr> {
    match (forward.leader_id, forward.leader_node) {
        (Some(id), Some(node)) => Some(LeaderAddr {
            id: MemberId(id),
            addr: node.addr,
        }),
        _ => None,
    }
}

fn membership_error(e: RaftError<TypeConfig, ClientWriteError<TypeConfig>>) -> MembershipError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f))
        | RaftError::APIError(ClientWriteError::LogEntryDiscarded(f)) => {
            MembershipError::NotLeader {
                leader: leader_addr(f),
            }
        }
        RaftError::APIError(e) => MembershipError::Refused(e.to_string()),
        RaftError::Fatal(e) => MembershipError::Stopped(e.to_string()),
    }
}

impl Cluster {
    /// Opens (or creates) the member's file `raft.redb` in `dir` and starts its Raft core.
    /// A new member waits, as a learner, until it is [initialized](Cluster::initialize) or
    /// added by a leader; a known member recovers its state (last snapshot, then the
    /// committed log) and rejoins.
    pub async fn open(dir: &Path, options: ClusterOptions) -> Result<Cluster, ClusterOpenError> {
        let db = db::open(dir)?;
        let file_released = db.released();
        let state_machine = StateMachine::open(db.clone())
            .map_err(|e| ClusterOpenError::Corrupt(db::path(dir), e.to_string()))?;
        let machine = state_machine.machine();
        let applied = state_machine.applied();
        let config = Config {
            cluster_name: "rota".into(),
            heartbeat_interval: options.heartbeat_ms,
            election_timeout_min: options.election_timeout_ms.0,
            election_timeout_max: options.election_timeout_ms.1,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(options.snapshot_every),
            max_in_snapshot_log_to_keep: options.keep_after_snapshot,
            enable_pre_vote: Some(true),
            ..Config::default()
        }
        .validate()
        .map_err(|e| ClusterOpenError::Options(e.to_string()))?;
        let network = Network::new().map_err(|e| ClusterOpenError::Raft(e.to_string()))?;
        let raft = Raft::new(
            options.id.0,
            Arc::new(config),
            network,
            LogStore::new(db).map_err(|e| ClusterOpenError::Raft(e.to_string()))?,
            state_machine,
        )
        .await
        .map_err(|e| ClusterOpenError::Raft(e.to_string()))?;
        let leadership = watch_leadership(&raft);
        Ok(Cluster {
            id: options.id,
            raft,
            machine,
            applied,
            leadership,
            file_released,
        })
    }

    /// Makes the first configuration: `members` (id and base URL, this member among them)
    /// become the voters. Call it on one member of a new cluster; the others learn it from
    /// the log. Returns `false` (and changes nothing) when the member already has a
    /// configuration, so it is safe to call on every start.
    pub async fn initialize(
        &self,
        members: &[(MemberId, String)],
    ) -> Result<bool, MembershipError> {
        let nodes: BTreeMap<u64, BasicNode> = members
            .iter()
            .map(|(id, addr)| (id.0, BasicNode { addr: addr.clone() }))
            .collect();
        match self.raft.initialize(nodes).await {
            Ok(()) => Ok(true),
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(false),
            Err(RaftError::APIError(e)) => Err(MembershipError::Refused(e.to_string())),
            Err(RaftError::Fatal(e)) => Err(MembershipError::Stopped(e.to_string())),
        }
    }

    /// Replicates a command and applies it; resolves once a majority has it on disk and
    /// this member has applied it. Only the leader accepts writes.
    pub async fn submit(&self, command: Command) -> Result<Applied, ClusterSubmitError> {
        match self.raft.client_write(Request::new(command)).await {
            Ok(response) => match response.data.0 {
                Some(Ok(applied)) => Ok(applied),
                Some(Err(refusal)) => Err(ClusterSubmitError::Refused(refusal)),
                None => Err(ClusterSubmitError::Stopped(
                    "the state machine gave no answer".into(),
                )),
            },
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ClusterSubmitError::NotLeader {
                    leader: leader_addr(f),
                })
            }
            Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(f))) => {
                Err(ClusterSubmitError::Indeterminate {
                    leader: leader_addr(f),
                })
            }
            Err(RaftError::APIError(e)) => Err(ClusterSubmitError::Stopped(e.to_string())),
            Err(RaftError::Fatal(e)) => Err(ClusterSubmitError::Stopped(e.to_string())),
        }
    }

    /// Reads this member's state: on a follower it may trail the leader by the entries
    /// not yet applied here.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        let machine = self.machine.read().unwrap_or_else(|e| e.into_inner());
        f(&machine.state)
    }

    /// The index of the last applied log entry; changes after every applied batch (also for
    /// entries that carry no command, such as a new leader's first entry).
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.applied.clone()
    }

    /// This member's id.
    pub fn id(&self) -> MemberId {
        self.id
    }

    /// Whether this member leads now (it may learn otherwise at any moment; writes are safe
    /// regardless, since only a leader's writes commit).
    pub fn is_leader(&self) -> bool {
        self.raft.is_leader()
    }

    /// The leader this member knows of, with its base URL.
    pub fn leader(&self) -> Option<LeaderAddr> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        let id = m.current_leader?;
        let node = m.membership_config.membership().get_node(&id)?;
        Some(LeaderAddr {
            id: MemberId(id),
            addr: node.addr.clone(),
        })
    }

    /// Who leads, updated on every change: the leader-only loops start when `ready` turns
    /// true and stop when `is_self` turns false.
    pub fn leadership(&self) -> watch::Receiver<Leadership> {
        self.leadership.clone()
    }

    /// This member's view of the cluster: members, leader, term, indexes, and, on the
    /// leader, each follower's lag.
    pub fn metrics(&self) -> ClusterMetrics {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        ClusterMetrics::from_raft(&m)
    }

    /// Adds a member as a learner and waits until it has caught up with the log (or a
    /// snapshot). Leader only.
    pub async fn add_learner(&self, id: MemberId, addr: &str) -> Result<(), MembershipError> {
        self.raft
            .add_learner(
                id.0,
                BasicNode {
                    addr: addr.to_string(),
                },
                true,
            )
            .await
            .map(|_| ())
            .map_err(membership_error)
    }

    /// Makes `voters` the voting members; members left out are removed altogether. Leader
    /// only; a new voter must first be a learner.
    pub async fn change_membership(
        &self,
        voters: &BTreeSet<MemberId>,
    ) -> Result<(), MembershipError> {
        let ids: BTreeSet<u64> = voters.iter().map(|id| id.0).collect();
        self.raft
            .change_membership(ChangeMembers::ReplaceAllVoters(ids), false)
            .await
            .map(|_| ())
            .map_err(membership_error)
    }

    /// `rota cluster add`: adds a learner, waits for it to catch up, then makes it a voter.
    pub async fn add_member(&self, id: MemberId, addr: &str) -> Result<(), MembershipError> {
        self.add_learner(id, addr).await?;
        let mut voters = self.voters();
        voters.insert(id);
        self.change_membership(&voters).await
    }

    /// `rota cluster remove`: removes a member, voter or learner, from the configuration
    /// (a voter is not kept as a learner).
    pub async fn remove_member(&self, id: MemberId) -> Result<(), MembershipError> {
        let ids = BTreeSet::from([id.0]);
        let change = if self.voters().contains(&id) {
            ChangeMembers::<u64, BasicNode>::RemoveVoters(ids)
        } else {
            ChangeMembers::<u64, BasicNode>::RemoveNodes(ids)
        };
        self.raft
            .change_membership(change, false)
            .await
            .map(|_| ())
            .map_err(membership_error)
    }

    fn voters(&self) -> BTreeSet<MemberId> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        m.membership_config
            .membership()
            .voter_ids()
            .map(MemberId)
            .collect()
    }

    /// Serves one Raft RPC from a peer: the request body in, the response body out (JSON;
    /// answer it with 200). Mount it as `POST /raft/{name}` with [`RaftRpc::from_name`].
    pub async fn handle(&self, rpc: RaftRpc, body: &[u8]) -> Result<Vec<u8>, RpcError> {
        rpc::handle(&self.raft, rpc, body).await
    }

    /// Asks this member to build a snapshot now (and purge its log accordingly).
    pub async fn snapshot_now(&self) -> Result<(), ClusterSubmitError> {
        self.raft
            .trigger()
            .snapshot()
            .await
            .map_err(|e| ClusterSubmitError::Stopped(e.to_string()))
    }

    /// Stops the member's Raft core and waits (up to 10 s) until its file is released, so
    /// the directory can be opened again at once.
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::error!(error = %e, member = %self.id, "raft shutdown failed");
        }
        // Replication and snapshot tasks end shortly after the core; each holds the file,
        // and the last one closes it (which may take a moment after it lets go).
        let mut released = self.file_released.clone();
        let closed = async { while released.changed().await.is_ok() {} };
        if tokio::time::timeout(Duration::from_secs(10), closed)
            .await
            .is_err()
        {
            tracing::error!(member = %self.id, "raft tasks still hold the file after shutdown");
        }
    }
}

/// Forwards openraft's metrics into a [`Leadership`] watch that changes only when who leads
/// (or whether this leader is ready) changes.
fn watch_leadership(raft: &Raft) -> watch::Receiver<Leadership> {
    let mut metrics = raft.metrics();
    let first = Leadership::from_raft(&metrics.borrow_watched());
    let (tx, rx) = watch::channel(first);
    tokio::spawn(async move {
        while metrics.changed().await.is_ok() {
            let view = Leadership::from_raft(&metrics.borrow_watched());
            tx.send_if_modified(|current| {
                let changed = *current != view;
                *current = view;
                changed
            });
        }
        // The Raft core stopped: nobody leads as far as this member knows.
        tx.send_replace(Leadership::default());
    });
    rx
}
