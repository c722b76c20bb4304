//! A typed client of rota's HTTP API, used by the CLI and by programs.
//!
//! Given several server addresses, a request that cannot reach one tries the next, starting
//! with the one that answered last.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use rota_model::agent_api::{AgentReport, Assignments, NodeView, Poll, Registered, Registration};
use rota_model::api::{
    AddMemberRequest, AppView, ErrorBody, GraphView, Health, ImportReport, ImportRunsRequest,
    ImportedRun, LogView, QueueSettingsRequest, QueueView, RerunRequest, RollbackRequest,
    RoundView, RunSelector, RunsReport, TriggerRequest, VersionView, WhyView,
};
use rota_model::depend::DependFile;
use rota_model::{AppKey, NodeId, Run, RunId, RunState};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No server could be reached.
    #[error("cannot reach {servers}: {message}")]
    Unreachable {
        /// The servers tried.
        servers: String,
        /// The last connection error.
        message: String,
    },
    /// The server refused the request.
    #[error("{message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The API's error code.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server answered something this client does not understand.
    #[error("unexpected answer from {url}: {message}")]
    Protocol {
        /// The request.
        url: String,
        /// What was wrong.
        message: String,
    },
}

/// The longest a request may take (an agent's poll: the wait it asks for plus
/// [`POLL_MARGIN`]), so that a server that hangs is left for another.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest a connection may take to open: a server cut off by the network answers
/// nothing at all, and the next one should be tried soon.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// What an agent's poll may take beyond the wait it asks the server for.
const POLL_MARGIN: Duration = Duration::from_secs(5);
/// How long a request is asked again while the cluster elects a leader (an election takes
/// under a second).
const ELECTION_WAIT: Duration = Duration::from_secs(3);
/// The pause between two asks during an election.
const ELECTION_RETRY: Duration = Duration::from_millis(100);

/// A client of one server, or of several: the one that answered last is asked first, then
/// the others in order.
#[derive(Debug, Clone)]
pub struct Client {
    servers: Vec<String>,
    http: reqwest::Client,
    /// The index in `servers` of the server that answered last.
    preferred: Arc<AtomicUsize>,
}

impl Client {
    /// A client of the servers in `servers` (comma-separated base URLs).
    pub fn new(servers: &str) -> Client {
        let servers = servers
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .unwrap_or_default();
        Client {
            servers,
            http,
            preferred: Arc::new(AtomicUsize::new(0)),
        }
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        raw: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        self.call_within(method, path, query, body, raw, REQUEST_TIMEOUT)
            .await
    }

    /// The servers in the order to try them: the one that answered last first.
    fn candidates(&self) -> VecDeque<(Option<usize>, String)> {
        let first = self.preferred.load(Ordering::Relaxed) % self.servers.len().max(1);
        let mut order: VecDeque<(Option<usize>, String)> = self
            .servers
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, s)| (Some(i), s))
            .collect();
        order.rotate_left(first.min(order.len()));
        order
    }

    /// [`Client::call_once`], asked again while the cluster has no leader (a `421` naming
    /// none: nothing was written), for up to [`ELECTION_WAIT`].
    async fn call_within<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        raw: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<T, ClientError> {
        let deadline = tokio::time::Instant::now() + ELECTION_WAIT;
        loop {
            let answer = self
                .call_once(method.clone(), path, query, body, raw.clone(), timeout)
                .await;
            match answer {
                Err(ClientError::Refused { status: 421, .. })
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(ELECTION_RETRY).await;
                }
                answer => return answer,
            }
        }
    }

    /// One pass over the servers: the next one is tried when one cannot be reached, and the
    /// leader a follower names is asked once.
    async fn call_once<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        raw: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<T, ClientError> {
        let mut last = String::from("no server given");
        let mut candidates = self.candidates();
        let mut redirected = false;
        while let Some((index, server)) = candidates.pop_front() {
            let url = format!("{server}{path}");
            let mut request = self
                .http
                .request(method.clone(), &url)
                .query(query)
                .timeout(timeout);
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Some(raw) = &raw {
                request = request
                    .header("content-type", "application/json")
                    .body(raw.clone());
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) if e.is_connect() || e.is_timeout() => {
                    last = e.to_string();
                    continue;
                }
                Err(e) => {
                    return Err(ClientError::Protocol {
                        url,
                        message: e.to_string(),
                    });
                }
            };
            let status = response.status();
            let bytes = response.bytes().await.map_err(|e| ClientError::Protocol {
                url: url.clone(),
                message: e.to_string(),
            })?;
            if status == StatusCode::MISDIRECTED_REQUEST
                && let Ok(body) = serde_json::from_slice::<ErrorBody>(&bytes)
                && let Some(leader) = body.leader
                && !redirected
            {
                // A follower named the leader: ask it instead, once.
                redirected = true;
                let leader = leader.trim_end_matches('/').to_string();
                let known = self.servers.iter().position(|s| *s == leader);
                candidates.push_front((known, leader));
                continue;
            }
            if let Some(index) = index {
                self.preferred.store(index, Ordering::Relaxed);
            }
            if !status.is_success() {
                return Err(refusal(status, &bytes));
            }
            return serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol {
                url,
                message: e.to_string(),
            });
        }
        Err(ClientError::Unreachable {
            servers: self.servers.join(","),
            message: last,
        })
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ClientError> {
        self.call::<(), T>(Method::GET, path, query, None, None)
            .await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.call(Method::POST, path, &[], Some(body), None).await
    }

    /// The server's health and time zone.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get("/healthz", &[]).await
    }

    /// Adds an app from its JSON (Cosmos' `add`).
    pub async fn add(&self, app_json: Vec<u8>) -> Result<AppView, ClientError> {
        self.call::<(), _>(Method::POST, "/v1/apps", &[], None, Some(app_json))
            .await
    }

    /// Makes a new version of an app; fields left out keep their value.
    pub async fn update(&self, app: &AppKey, app_json: Vec<u8>) -> Result<AppView, ClientError> {
        let path = format!("/v1/apps/{app}");
        self.call::<(), _>(Method::PUT, &path, &[], None, Some(app_json))
            .await
    }

    /// Removes an app; with `force`, also the dependencies of other apps on it.
    pub async fn remove(&self, app: &AppKey, force: bool) -> Result<AppView, ClientError> {
        let path = format!("/v1/apps/{app}");
        let query = [("force", force.to_string())];
        self.call::<(), _>(Method::DELETE, &path, &query, None, None)
            .await
    }

    /// Starts an app's cron.
    pub async fn start(&self, app: &AppKey) -> Result<AppView, ClientError> {
        self.post(&format!("/v1/apps/{app}/start"), &()).await
    }

    /// Stops an app's cron.
    pub async fn stop(&self, app: &AppKey) -> Result<AppView, ClientError> {
        self.post(&format!("/v1/apps/{app}/stop"), &()).await
    }

    /// Runs an app now, or for a given schedule time, optionally with params laid over its
    /// own (or, as Cosmos' `call`, again for a time whose run has ended).
    pub async fn trigger(
        &self,
        app: &AppKey,
        request: &TriggerRequest,
    ) -> Result<Run, ClientError> {
        self.post(&format!("/v1/apps/{app}/trigger"), request).await
    }

    /// Apps, of one queue or all.
    pub async fn apps(&self, queue: Option<&str>) -> Result<Vec<AppView>, ClientError> {
        let query: Vec<(&str, String)> = queue
            .map(|q| ("queue", q.to_string()))
            .into_iter()
            .collect();
        self.get("/v1/apps", &query).await
    }

    /// One app.
    pub async fn app(&self, app: &AppKey) -> Result<AppView, ClientError> {
        self.get(&format!("/v1/apps/{app}"), &[]).await
    }

    /// Every version of an app, with what changed in each.
    pub async fn versions(&self, app: &AppKey) -> Result<Vec<VersionView>, ClientError> {
        self.get(&format!("/v1/apps/{app}/versions"), &[]).await
    }

    /// Makes a new version of an app equal to an earlier one.
    pub async fn rollback(&self, app: &AppKey, version: u32) -> Result<AppView, ClientError> {
        self.post(
            &format!("/v1/apps/{app}/rollback"),
            &RollbackRequest { version },
        )
        .await
    }

    /// Changes a queue's settings; those left out keep their value.
    pub async fn set_queue(
        &self,
        queue: &str,
        settings: &QueueSettingsRequest,
    ) -> Result<QueueView, ClientError> {
        let path = format!("/v1/queues/{queue}");
        self.call(Method::PUT, &path, &[], Some(settings), None)
            .await
    }

    /// Every queue.
    pub async fn queues(&self) -> Result<Vec<QueueView>, ClientError> {
        self.get("/v1/queues", &[]).await
    }

    /// The scheduler's latest rounds that looked at queued runs, oldest first.
    pub async fn rounds(&self) -> Result<Vec<RoundView>, ClientError> {
        self.get("/v1/scheduler/rounds", &[]).await
    }

    /// Active runs in one state (pending, queued or running), of one queue or all.
    pub async fn runs(
        &self,
        state: RunState,
        queue: Option<&str>,
    ) -> Result<Vec<Run>, ClientError> {
        let mut query = vec![("state", state.to_string())];
        if let Some(queue) = queue {
            query.push(("queue", queue.to_string()));
        }
        self.get("/v1/runs", &query).await
    }

    /// The waiting queue.
    pub async fn queued(&self) -> Result<Vec<Run>, ClientError> {
        self.get("/v1/queued", &[]).await
    }

    /// Removes a run from the waiting queue.
    pub async fn delete_queued(&self, run: RunId) -> Result<Run, ClientError> {
        let path = format!("/v1/queued/{run}");
        self.call::<(), _>(Method::DELETE, &path, &[], None, None)
            .await
    }

    /// An app's run records in a range (or all).
    pub async fn records(
        &self,
        app: &AppKey,
        selector: &RunSelector,
    ) -> Result<Vec<Run>, ClientError> {
        let query: Vec<(&str, String)> = [
            ("time", &selector.time),
            ("begin", &selector.begin),
            ("end", &selector.end),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect();
        self.get(&format!("/v1/apps/{app}/runs"), &query).await
    }

    /// One run.
    pub async fn run(&self, run: RunId) -> Result<Run, ClientError> {
        self.get(&format!("/v1/runs/{run}"), &[]).await
    }

    /// Kills the runs of an app in a range.
    pub async fn kill(
        &self,
        app: &AppKey,
        selector: &RunSelector,
    ) -> Result<RunsReport, ClientError> {
        self.post(&format!("/v1/apps/{app}/kill"), selector).await
    }

    /// Kills one run.
    pub async fn kill_run(&self, run: RunId) -> Result<RunsReport, ClientError> {
        self.post(&format!("/v1/runs/{run}/kill"), &()).await
    }

    /// Re-runs the unsuccessful runs of a range, creating missing ones.
    pub async fn repair(
        &self,
        app: &AppKey,
        request: &RerunRequest,
    ) -> Result<RunsReport, ClientError> {
        self.post(&format!("/v1/apps/{app}/repair"), request).await
    }

    /// Re-runs every ended run of a range.
    pub async fn replay(
        &self,
        app: &AppKey,
        request: &RerunRequest,
    ) -> Result<RunsReport, ClientError> {
        self.post(&format!("/v1/apps/{app}/replay"), request).await
    }

    /// Adds a dependency (or changes its window).
    pub async fn add_depend(&self, depend: &DependFile) -> Result<DependFile, ClientError> {
        self.post("/v1/depends", depend).await
    }

    /// An app's dependencies.
    pub async fn depends(&self, app: &AppKey) -> Result<Vec<DependFile>, ClientError> {
        self.get(&format!("/v1/apps/{app}/depends"), &[]).await
    }

    /// Removes a dependency; returns the app's remaining ones.
    pub async fn remove_depend(
        &self,
        app: &AppKey,
        upstream: &AppKey,
    ) -> Result<Vec<DependFile>, ClientError> {
        let path = format!("/v1/apps/{app}/depends/{upstream}");
        self.call::<(), _>(Method::DELETE, &path, &[], None, None)
            .await
    }

    /// Imports run records from another scheduler.
    pub async fn import_runs(&self, runs: Vec<ImportedRun>) -> Result<ImportReport, ClientError> {
        self.post("/v1/import/runs", &ImportRunsRequest { runs })
            .await
    }

    /// Registers a node (agent protocol).
    pub async fn register(&self, registration: &Registration) -> Result<Registered, ClientError> {
        self.post("/v1/agents/register", registration).await
    }

    /// Long-polls for the attempts placed on a node (agent protocol).
    pub async fn poll(&self, node: &NodeId, poll: &Poll) -> Result<Assignments, ClientError> {
        let wait = Duration::from_millis(poll.wait_ms);
        self.call_within(
            Method::POST,
            &format!("/v1/agents/{node}/poll"),
            &[],
            Some(poll),
            None,
            wait + POLL_MARGIN,
        )
        .await
    }

    /// Reports what happened to a node's attempts (agent protocol).
    pub async fn report(&self, node: &NodeId, reports: &[AgentReport]) -> Result<(), ClientError> {
        let _: serde_json::Value = self
            .post(&format!("/v1/agents/{node}/reports"), &reports)
            .await?;
        Ok(())
    }

    /// The cluster's status (members, leader, term, commit index, lag).
    pub async fn cluster(&self) -> Result<serde_json::Value, ClientError> {
        self.get("/v1/cluster", &[]).await
    }

    /// Adds a server (started with `rota server --id ID --join`) to the cluster; resolves
    /// once it has caught up and votes, with the cluster's status.
    pub async fn add_member(&self, id: u64, url: &str) -> Result<serde_json::Value, ClientError> {
        let request = AddMemberRequest {
            id,
            url: url.to_string(),
        };
        self.post("/v1/cluster/members", &request).await
    }

    /// Removes a member (the leader included) from the cluster; answers the cluster's status.
    pub async fn remove_member(&self, id: u64) -> Result<serde_json::Value, ClientError> {
        let path = format!("/v1/cluster/members/{id}");
        self.call::<(), _>(Method::DELETE, &path, &[], None, None)
            .await
    }

    /// Every node.
    pub async fn nodes(&self) -> Result<Vec<NodeView>, ClientError> {
        self.get("/v1/nodes", &[]).await
    }

    /// Drains a node (`ready: false`) or makes it ready again.
    pub async fn set_node(&self, node: &NodeId, ready: bool) -> Result<Vec<NodeView>, ClientError> {
        let verb = if ready { "ready" } else { "drain" };
        self.post(&format!("/v1/nodes/{node}/{verb}"), &()).await
    }

    /// The dependency graph, or the part connected to one app.
    pub async fn graph(&self, app: Option<&AppKey>) -> Result<GraphView, ClientError> {
        let query: Vec<(&str, String)> = app.map(|a| ("app", a.to_string())).into_iter().collect();
        self.get("/v1/graph", &query).await
    }

    /// What a run waits for.
    pub async fn why(&self, run: RunId) -> Result<WhyView, ClientError> {
        self.get(&format!("/v1/runs/{run}/why"), &[]).await
    }

    /// A run's logs from the given offsets (rota's own logs beside a Cosmos-contract app's
    /// from the start: [`Client::log_from`] gives every offset).
    pub async fn log(
        &self,
        run: RunId,
        start_offset: u64,
        container_offset: u64,
    ) -> Result<LogView, ClientError> {
        let offsets = rota_model::api::LogOffsets {
            start_offset,
            container_offset,
            ..Default::default()
        };
        self.log_from(run, &offsets).await
    }

    /// A run's logs from the given offsets, those of rota's own logs beside a
    /// Cosmos-contract app's included ([`LogView::next_offsets`] gives the next ones).
    pub async fn log_from(
        &self,
        run: RunId,
        offsets: &rota_model::api::LogOffsets,
    ) -> Result<LogView, ClientError> {
        let query = [
            ("start_offset", offsets.start_offset.to_string()),
            ("container_offset", offsets.container_offset.to_string()),
            ("rota_start_offset", offsets.rota_start_offset.to_string()),
            (
                "rota_container_offset",
                offsets.rota_container_offset.to_string(),
            ),
        ];
        self.get(&format!("/v1/runs/{run}/log"), &query).await
    }
}

fn refusal(status: StatusCode, bytes: &[u8]) -> ClientError {
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(body) => ClientError::Refused {
            status: status.as_u16(),
            code: body.error,
            message: body.message,
        },
        Err(_) => ClientError::Refused {
            status: status.as_u16(),
            code: "http".into(),
            message: format!("{status}: {}", String::from_utf8_lossy(bytes).trim()),
        },
    }
}
