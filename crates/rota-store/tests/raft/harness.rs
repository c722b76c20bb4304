//! The test cluster: members, commands, and polling with deadlines.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use jiff::{SignedDuration, Timestamp};
use rota_model::{AppKey, AppSpec};
use rota_store::{Cluster, ClusterOptions, Command, MemberId, RaftRpc};
use tempfile::TempDir;

/// How long any condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

type Slot = Arc<Mutex<Option<Cluster>>>;

/// One member: its directory, its address, and its Raft core while it runs.
pub struct Member {
    pub id: MemberId,
    pub addr: String,
    pub dir: TempDir,
    slot: Slot,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve_rpc(
    AxumState(slot): AxumState<Slot>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let Some(rpc) = RaftRpc::from_name(&name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let cluster = slot.lock().unwrap().clone();
    let Some(cluster) = cluster else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    match cluster.handle(rpc, &body).await {
        Ok(answer) => ([("content-type", "application/json")], answer).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

/// Options for tests: fast heartbeats and elections, a small snapshot threshold.
pub fn options(id: u64, snapshot_every: u64) -> ClusterOptions {
    ClusterOptions {
        heartbeat_ms: 50,
        election_timeout_ms: (300, 600),
        snapshot_every,
        keep_after_snapshot: 0,
        ..ClusterOptions::new(MemberId(id))
    }
}

impl Member {
    /// Binds a loopback port and starts the member's Raft core behind it.
    pub async fn start(id: u64, snapshot_every: u64) -> Member {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let slot: Slot = Arc::new(Mutex::new(None));
        let app = Router::new()
            .route("/raft/{rpc}", post(serve_rpc))
            .with_state(slot.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let member = Member {
            id: MemberId(id),
            addr,
            dir: tempfile::tempdir().unwrap(),
            slot,
            server,
        };
        member.open(snapshot_every).await;
        member
    }

    /// Opens the member's directory (again) behind its address.
    pub async fn open(&self, snapshot_every: u64) {
        let cluster = Cluster::open(self.dir.path(), options(self.id.0, snapshot_every))
            .await
            .expect("the member opens");
        *self.slot.lock().unwrap() = Some(cluster);
    }

    /// Shuts the Raft core down; the address then fails every RPC.
    pub async fn stop(&self) {
        let cluster = self.slot.lock().unwrap().take();
        if let Some(cluster) = cluster {
            cluster.shutdown().await;
        }
    }

    /// The running member's handle.
    pub fn cluster(&self) -> Cluster {
        self.slot.lock().unwrap().clone().expect("the member runs")
    }

    pub fn running(&self) -> bool {
        self.slot.lock().unwrap().is_some()
    }

    /// The state as a snapshot stores it: equal strings mean equal states.
    pub fn state_json(&self) -> String {
        self.cluster()
            .read(|state| serde_json::to_string(state).expect("a state serializes"))
    }

    pub fn applied(&self) -> u64 {
        *self.cluster().watch().borrow()
    }
}

/// Starts `n` members (ids 1..=n) and initializes them as one cluster.
pub async fn cluster_of(n: u64, snapshot_every: u64) -> Vec<Member> {
    let mut members = Vec::new();
    for id in 1..=n {
        members.push(Member::start(id, snapshot_every).await);
    }
    let config: Vec<_> = members.iter().map(|m| (m.id, m.addr.clone())).collect();
    assert!(members[0].cluster().initialize(&config).await.unwrap());
    members
}

/// Polls `condition` until it holds, failing the test with `what` at the deadline.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The running member that leads and is ready, once there is one.
pub async fn leader(members: &[Member]) -> usize {
    let mut found = None;
    eventually("a leader is elected and ready", || {
        found = members
            .iter()
            .position(|m| m.running() && m.cluster().leadership().borrow().ready);
        found.is_some()
    })
    .await;
    found.unwrap()
}

/// Waits until every running member has applied as far as the leader and holds the same
/// state, and returns that state.
pub async fn converged(members: &[Member]) -> String {
    let leader = leader(members).await;
    let target = members[leader].applied();
    eventually("every running member caught up", || {
        members
            .iter()
            .filter(|m| m.running())
            .all(|m| m.applied() >= target)
    })
    .await;
    let mut state = String::new();
    eventually("every running member holds the leader's state", || {
        state = members[leader].state_json();
        members
            .iter()
            .filter(|m| m.running())
            .all(|m| m.state_json() == state)
    })
    .await;
    state
}

pub fn t(minutes: i64) -> Timestamp {
    "2024-01-01T00:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_mins(minutes)
}

pub fn key(name: &str) -> AppKey {
    AppKey::new(name, "default").unwrap()
}

pub fn add_app(name: &str) -> Command {
    let spec = AppSpec::from_value(serde_json::json!({
        "name": name,
        "queue": "default",
        "cores": 1.0,
        "mems": 64,
        "command": ["true"],
        "cron": "0 * * * * ?",
    }))
    .expect("a valid app");
    Command::AddApp { spec, at: t(0) }
}

pub fn trigger(name: &str, minute: i64) -> Command {
    Command::Trigger {
        app: key(name),
        time: t(minute),
        params: None,
        call: false,
        at: t(minute),
    }
}

/// Submits to whichever member leads, retrying while leadership moves; returns after the
/// command was acknowledged.
pub async fn submit(
    members: &[Member],
    command: Command,
) -> Result<rota_store::Applied, rota_store::Refusal> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let leader = leader(members).await;
        match members[leader].cluster().submit(command.clone()).await {
            Ok(applied) => return Ok(applied),
            Err(rota_store::ClusterSubmitError::Refused(refusal)) => return Err(refusal),
            Err(e) => {
                assert!(Instant::now() < deadline, "no leader took {command:?}: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// The schedule times of the runs of `name` in a member's state.
pub fn run_times(member: &Member, name: &str) -> Vec<Timestamp> {
    member.cluster().read(|state| {
        state
            .runs_between(&key(name), t(-100_000), t(100_000))
            .map(|run| run.schedule_time)
            .collect()
    })
}
