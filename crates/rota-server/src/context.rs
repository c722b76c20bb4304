//! What the HTTP handlers and the loops share.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use tokio::sync::mpsc;

use rota_agent::Agent;
use rota_model::api::RoundView;
use rota_model::{AppKey, NodeId, RunId};
use rota_store::Backend;

use crate::config::ServerConfig;

/// Shared by the handlers and the loops; cheap to clone.
#[derive(Clone)]
pub(crate) struct Context {
    pub store: Backend,
    pub config: Arc<ServerConfig>,
    /// The agent of the server's own node (`rota dev`); none for `rota server`.
    pub agent: Option<Agent>,
    /// When each remote node's agent was last heard from.
    pub liveness: Arc<Mutex<HashMap<NodeId, std::time::Instant>>>,
    /// Tells the cron loop that an app's schedule may have changed (a new channel each time
    /// this server becomes the leader).
    pub cron_changes: Arc<Mutex<mpsc::UnboundedSender<AppKey>>>,
    /// The latest plan, for `rota why` to say what it said of a run it did not place (made
    /// into text only when asked: most rounds leave thousands of runs waiting).
    pub latest_plan: Arc<Mutex<Option<Arc<rota_sched::Plan>>>>,
    /// The latest scheduler rounds that looked at runs, oldest first.
    pub rounds: Arc<Mutex<VecDeque<RoundView>>>,
    /// The one HTTP client for other servers: writes forwarded to the leader, new members
    /// probed before they are added.
    pub peers: reqwest::Client,
}

/// How many rounds [`Context::rounds`] keeps.
const ROUNDS_KEPT: usize = 1024;

/// The longest a request to another server may take: a forwarded write, or a new member
/// catching up before `rota cluster add` answers.
const PEER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The HTTP client of [`Context::peers`].
pub(crate) fn peer_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder().timeout(PEER_TIMEOUT).build()
}

impl Context {
    /// The wall clock: the one place the server reads it.
    pub fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    /// Stops a run on `node`: the local agent at once; a remote node sees the kill order in
    /// its next poll.
    pub fn kill(&self, run: RunId, node: &NodeId) {
        if let Some(agent) = self.agent.as_ref().filter(|a| a.node() == node) {
            agent.kill(run);
        }
    }

    /// Refuses with `not_leader` (naming the leader) on a Raft follower: what only the
    /// leader can do, such as tracking agents' liveness.
    pub fn require_leader(&self) -> Result<(), crate::error::ApiError> {
        let rota_store::Backend::Raft(cluster) = &self.store else {
            return Ok(());
        };
        if cluster.is_leader() {
            return Ok(());
        }
        Err(rota_store::SubmitError::NotLeader {
            leader: cluster.leader().map(|l| l.addr),
        }
        .into())
    }

    /// Resolves when this server stops leading (never without Raft, where it always leads).
    pub async fn until_not_leader(&self) {
        let rota_store::Backend::Raft(cluster) = &self.store else {
            return std::future::pending().await;
        };
        let mut leadership = cluster.leadership();
        let _ = leadership.wait_for(|l| !l.is_self).await;
    }

    /// A remote node's agent was heard from.
    pub fn seen(&self, node: &NodeId) {
        self.liveness
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(node.clone(), std::time::Instant::now());
    }

    /// Keeps a scheduler round for `GET /v1/scheduler/rounds`, forgetting the oldest.
    pub fn round(&self, round: RoundView) {
        let mut rounds = self.rounds.lock().unwrap_or_else(|e| e.into_inner());
        if rounds.len() == ROUNDS_KEPT {
            rounds.pop_front();
        }
        rounds.push_back(round);
    }

    /// Tells the cron loop to look at `app` again.
    pub fn app_changed(&self, app: AppKey) {
        let _ = self
            .cron_changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(app);
    }
}
