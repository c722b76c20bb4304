//! What `rota cluster status` and `GET /v1/cluster` show, in rota's own types.

use std::fmt;

use openraft::{RaftMetrics, ServerState};
use serde::{Deserialize, Serialize};

use super::types::TypeConfig;

/// A control-plane member's id (not an agent's node id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MemberId(pub u64);

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a member is doing in the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// It leads: it accepts writes and runs the loops.
    Leader,
    /// It is asking for votes.
    Candidate,
    /// A voter following a leader.
    Follower,
    /// It receives the log but does not vote (newly added, or not yet initialized).
    Learner,
    /// It has stopped.
    Shutdown,
}

/// A member of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// Its id.
    pub id: MemberId,
    /// Its base URL.
    pub addr: String,
    /// Whether it votes (otherwise a learner).
    pub voter: bool,
}

/// How far a member's log trails the leader's; known only on the leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FollowerLag {
    /// The member.
    pub id: MemberId,
    /// The last index known to match the leader's log.
    pub matched: Option<u64>,
    /// Entries behind the leader's last one.
    pub lag: u64,
}

/// A member's view of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterMetrics {
    /// This member.
    pub id: MemberId,
    /// Its role.
    pub role: Role,
    /// The current term.
    pub term: u64,
    /// The leader it knows of.
    pub leader: Option<MemberId>,
    /// The configuration (during a change: the union of old and new).
    pub members: Vec<Member>,
    /// The last index of its log.
    pub last_log_index: Option<u64>,
    /// The last index it knows to be committed.
    pub commit_index: Option<u64>,
    /// The last index applied to its state.
    pub last_applied: Option<u64>,
    /// The last index its snapshot covers.
    pub snapshot_index: Option<u64>,
    /// The last index purged from its log.
    pub purged_index: Option<u64>,
    /// On the leader, every other member's replication progress; empty elsewhere.
    pub followers: Vec<FollowerLag>,
}

/// Who leads, as the leader-only loops need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Leadership {
    /// The leader this member knows of.
    pub leader: Option<MemberId>,
    /// The term.
    pub term: u64,
    /// This member leads.
    pub is_self: bool,
    /// This member leads, a quorum has acknowledged it, and it has applied every entry of
    /// earlier terms (its own first entry of this term is applied), so its state is
    /// complete: the loops may start. (A restarted former leader may briefly believe it
    /// still leads its old term; without a quorum's acknowledgement it is not ready.)
    pub ready: bool,
}

impl Leadership {
    pub(crate) fn from_raft(m: &RaftMetrics<TypeConfig>) -> Leadership {
        let is_self = m.state == ServerState::Leader;
        let applied_term = m.last_applied.as_ref().map(|id| id.leader_id.term);
        Leadership {
            leader: m.current_leader.map(MemberId),
            term: m.current_term,
            is_self,
            ready: is_self && applied_term == Some(m.current_term) && m.last_quorum_acked.is_some(),
        }
    }
}

impl ClusterMetrics {
    pub(crate) fn from_raft(m: &RaftMetrics<TypeConfig>) -> ClusterMetrics {
        let membership = m.membership_config.membership();
        let voters: std::collections::BTreeSet<u64> = membership.voter_ids().collect();
        let members = membership
            .nodes()
            .map(|(id, node)| Member {
                id: MemberId(*id),
                addr: node.addr.clone(),
                voter: voters.contains(id),
            })
            .collect();
        let last = m.last_log_index.unwrap_or(0);
        let followers = m
            .replication
            .iter()
            .flatten()
            .filter(|(id, _)| **id != m.id)
            .map(|(id, matched)| {
                let matched = matched.as_ref().map(|l| l.index);
                FollowerLag {
                    id: MemberId(*id),
                    matched,
                    lag: last.saturating_sub(matched.unwrap_or(0)),
                }
            })
            .collect();
        ClusterMetrics {
            id: MemberId(m.id),
            role: match m.state {
                ServerState::Leader => Role::Leader,
                ServerState::Candidate => Role::Candidate,
                ServerState::Follower => Role::Follower,
                ServerState::Learner => Role::Learner,
                ServerState::Shutdown => Role::Shutdown,
            },
            term: m.current_term,
            leader: m.current_leader.map(MemberId),
            members,
            last_log_index: m.last_log_index,
            commit_index: m.local_committed.as_ref().map(|l| l.index),
            last_applied: m.last_applied.as_ref().map(|l| l.index),
            snapshot_index: m.snapshot.as_ref().map(|l| l.index),
            purged_index: m.purged.as_ref().map(|l| l.index),
            followers,
        }
    }
}
