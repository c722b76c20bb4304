//! Starting a server: its store, its loops and its API, with an agent for its own node
//! (`rota dev`) or serving remote agents only (`rota server`).

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::mpsc;

use rota_agent::{Agent, AgentConfig};
use rota_model::NodeId;
use rota_sched::Resources;
use rota_store::{
    Backend, Cluster, ClusterOptions, Command, MemberId, Refusal, Store, StoreError, StoreOptions,
    SubmitError,
};

use crate::config::{MemberStart, ServerConfig};
use crate::context::{Context, peer_client};
use crate::{cron_loop, http, liveness, reports, scheduler};

/// Why the server stopped.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store refused the server's settings.
    #[error("the store refused the settings: {0}")]
    Refused(Refusal),
    /// The cluster member could not start.
    #[error("cluster: {0}")]
    Cluster(String),
    /// The HTTP client for the other servers could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
    /// Serving HTTP failed.
    #[error("HTTP server: {0}")]
    Http(#[from] std::io::Error),
}

impl From<SubmitError> for DevError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Store(e) => DevError::Store(e),
            SubmitError::Refused(refusal) => DevError::Refused(refusal),
            other => DevError::Cluster(other.to_string()),
        }
    }
}

/// Serves the API on `listener` and runs the loops until `shutdown` resolves. `ready` is
/// called once the store is recovered, just before the first request is answered.
pub async fn run_dev(
    config: ServerConfig,
    listener: TcpListener,
    ready: impl FnOnce(),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DevError> {
    let store = match &config.cluster {
        None => {
            let store = Store::open(&config.data_dir.join("store"), StoreOptions::default())?;
            configure(&Backend::Local(store.clone()), &config).await?;
            Backend::Local(store)
        }
        Some(membership) => {
            let options = ClusterOptions::new(MemberId(membership.id));
            let cluster = Cluster::open(&config.data_dir.join("raft"), options)
                .await
                .map_err(|e| DevError::Cluster(e.to_string()))?;
            Backend::Raft(cluster)
        }
    };
    let (report_tx, report_rx) = mpsc::unbounded_channel();
    let agent = if config.local_agent {
        let agent = Agent::new(
            AgentConfig {
                node: NodeId(config.node.clone()),
                log_root: config.log_dir.clone(),
                time_zone: config.time_zone.clone(),
                kill_grace: config.kill_grace,
                cosmos_python: config.docker_container_python.clone(),
                container_tmp: config.docker_container_tmp.clone(),
                pull_timeout: config.docker_pull_timeout,
            },
            report_tx,
        );
        store
            .submit(Command::RegisterNode {
                node: agent.node().clone(),
                capacity: Resources {
                    cores: config.cores,
                    mems: config.mems,
                    extended: config.extended.clone().into_iter().collect(),
                },
                attributes: Default::default(),
                labels: config.labels.clone(),
                at: jiff::Timestamp::now(),
            })
            .await?;
        reconcile(&store, &agent);
        Some(agent)
    } else {
        None
    };
    let (cron_tx, _) = mpsc::unbounded_channel();
    let ctx = Context {
        store,
        config: Arc::new(config),
        agent,
        liveness: Arc::default(),
        cron_changes: Arc::new(std::sync::Mutex::new(cron_tx)),
        latest_plan: Arc::default(),
        rounds: Arc::default(),
        peers: peer_client().map_err(|e| DevError::Client(e.to_string()))?,
    };
    tokio::spawn(reports::run(ctx.clone(), report_rx));
    match ctx.store.clone() {
        Backend::Local(_) => {
            start_loops(&ctx);
        }
        Backend::Raft(cluster) => {
            tokio::spawn(lead_when_elected(ctx.clone(), cluster.clone()));
            let start = ctx.config.cluster.as_ref().map(|m| m.start.clone());
            if let Some(MemberStart::Founding(members)) = start {
                tokio::spawn(found(cluster, members));
            } else {
                tracing::info!("joining: waiting, as a learner, until a leader adds this server");
            }
        }
    }
    tracing::info!(address = %listener.local_addr()?, "rota is serving");
    ready();
    let agent = ctx.agent.clone();
    axum::serve(listener, http::router(ctx))
        .with_graceful_shutdown(shutdown)
        .await?;
    if let Some(agent) = agent {
        agent.remove_idle_cgroups().await;
    }
    Ok(())
}

/// Makes the first configuration of a founding member's cluster. Safe on every start: a
/// member that already has a configuration keeps it. A joining member never calls this.
async fn found(cluster: Cluster, members: Vec<(u64, String)>) {
    let members: Vec<(MemberId, String)> = members
        .into_iter()
        .map(|(id, url)| (MemberId(id), url))
        .collect();
    if let Err(e) = cluster.initialize(&members).await {
        tracing::warn!(error = %e, "cannot initialize the cluster");
    }
}

/// Starts the loops only the leader runs; they end when the returned handles are aborted.
fn start_loops(ctx: &Context) -> Vec<tokio::task::JoinHandle<()>> {
    let (cron_tx, cron_rx) = mpsc::unbounded_channel();
    *ctx.cron_changes.lock().unwrap_or_else(|e| e.into_inner()) = cron_tx;
    vec![
        tokio::spawn(scheduler::run(ctx.clone())),
        tokio::spawn(cron_loop::run(ctx.clone(), cron_rx)),
        tokio::spawn(liveness::run(ctx.clone())),
    ]
}

/// Runs the leader's loops while this member leads with a complete state, and stops them
/// as soon as it does not: the cron resumes from the cursors in the log, so a new leader
/// neither repeats nor skips a fire time.
async fn lead_when_elected(ctx: Context, cluster: Cluster) {
    let mut leadership = cluster.leadership();
    let mut loops: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    loop {
        let leading = {
            let l = leadership.borrow_and_update();
            l.is_self && l.ready
        };
        if leading && loops.is_empty() {
            tracing::info!("this server leads: starting the loops");
            if let Err(e) = configure(&ctx.store, &ctx.config).await {
                tracing::warn!(error = %e, "cannot record the settings");
            }
            loops = start_loops(&ctx);
        } else if !leading && !loops.is_empty() {
            tracing::info!("this server no longer leads: stopping the loops");
            for task in loops.drain(..) {
                task.abort();
            }
        }
        if leadership.changed().await.is_err() {
            return;
        }
    }
}

/// Records the settings every replica must apply commands with, when they changed.
async fn configure(store: &Backend, config: &ServerConfig) -> Result<(), DevError> {
    let time_zone = config.time_zone.iana_name().unwrap_or("UTC").to_string();
    if store.read(|s| s.settings().time_zone != time_zone) {
        store.submit(Command::Configure { time_zone }).await?;
    }
    Ok(())
}

/// Runs the store believes are running on this node were started by an earlier process:
/// the agent stops whatever is left of them and reports them lost, and the retry policy
/// decides the rest.
fn reconcile(store: &Backend, agent: &Agent) {
    let running: Vec<_> = store.read(|s| {
        s.running_on(agent.node())
            .map(|r| (r.id, r.attempts, r.process))
            .collect()
    });
    for (run, attempt, process) in running {
        tracing::info!(%run, "reconciling a run left running by an earlier process");
        agent.reconcile(run, attempt, process);
    }
}
