//! `rota agent`: a node agent that registers its node with the server, long-polls for the
//! attempts placed on it, runs them, and reports what happens. Level-triggered: each poll
//! answers with everything placed on the node, so a lost message or a restart on either side
//! is repaired by the next poll.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use anyhow::{Context, Result};
use jiff::tz::TimeZone;
use tokio::sync::mpsc;

use rota_agent::{Agent, AgentConfig, Assignment, Report};
use rota_client::Client;
use rota_model::agent_api::{NodeCapacity, Poll, Registration};
use rota_model::{NodeId, RunId};

use crate::UsageError;
use crate::cli::AgentArgs;
use crate::dev::{
    DockerOptions, cosmos_extended, detect_cores, detect_mems, hostname, shutdown_signal,
};

/// How long the server may hold a poll, at most (less when its heartbeat interval is
/// shorter: a poll is the agent's heartbeat).
const POLL_WAIT: Duration = Duration::from_secs(20);
/// The wait before trying the servers again when none answered, or none leads: short, since
/// after a failover the agent must find the new leader at once.
const RETRY: Duration = Duration::from_millis(100);

/// Runs the agent until Ctrl-C or SIGTERM.
pub async fn run(server: &str, args: AgentArgs) -> Result<()> {
    let client = Client::new(server);
    let node = NodeId(args.node.name.clone().unwrap_or_else(hostname));
    let registration = registration(&node, &args)?;
    let docker = DockerOptions::of(&args.node)?;
    std::fs::create_dir_all(&args.log_dir)
        .with_context(|| format!("cannot create {}", args.log_dir.display()))?;
    let log_root = std::fs::canonicalize(&args.log_dir)?;
    let time_zone = loop {
        match client.health().await {
            Ok(health) => break TimeZone::get(&health.time_zone).unwrap_or(TimeZone::UTC),
            Err(e) => {
                tracing::warn!(error = %e, "waiting for the server");
                tokio::time::sleep(RETRY).await;
            }
        }
    };
    let (reports_tx, reports_rx) = mpsc::unbounded_channel();
    let agent = Agent::new(
        AgentConfig {
            node: node.clone(),
            log_root: log_root.clone(),
            time_zone,
            kill_grace: Duration::from_secs(args.node.kill_grace),
            cosmos_python: docker.python,
            container_tmp: docker.tmp,
            pull_timeout: docker.pull_timeout,
        },
        reports_tx,
    );
    eprintln!(
        "rota agent: node {node} with {} cores and {} MB, logs in {}, server {server}",
        registration.capacity.cores,
        registration.capacity.mems,
        log_root.display()
    );
    tokio::spawn(send_reports(client.clone(), node.clone(), reports_rx));
    tokio::select! {
        () = work(&client, &agent, &registration) => {}
        () = shutdown_signal() => {}
    }
    agent.remove_idle_cgroups().await;
    Ok(())
}

fn registration(node: &NodeId, args: &AgentArgs) -> Result<Registration> {
    let mut attributes = BTreeMap::new();
    for pair in &args.attributes {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| UsageError(format!("--attr `{pair}`: use KEY=VALUE")))?;
        attributes.insert(key.to_string(), value.to_string());
    }
    Ok(Registration {
        node: node.clone(),
        capacity: NodeCapacity {
            cores: args.node.cores.unwrap_or_else(detect_cores),
            mems: args.node.mems.unwrap_or_else(detect_mems),
            extended: cosmos_extended(args.node.disk_space, args.node.net_flow),
        },
        attributes,
        labels: args.node.labels.clone(),
    })
}

/// Registers, then polls and acts on each answer, forever.
async fn work(client: &Client, agent: &Agent, registration: &Registration) {
    let node = &registration.node;
    // Attempts this agent process has taken on (started, or reconciled after a restart).
    let mut taken: HashSet<(RunId, u32)> = HashSet::new();
    let mut since = 0;
    let mut registered = false;
    let mut poll_wait = POLL_WAIT;
    loop {
        if !registered {
            match client.register(registration).await {
                Ok(answer) => {
                    tracing::info!(%node, "registered");
                    registered = true;
                    since = 0;
                    poll_wait = POLL_WAIT.min(Duration::from_millis(answer.heartbeat_ms.max(100)));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot register; retrying");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            }
        }
        let poll = Poll {
            since,
            wait_ms: poll_wait.as_millis() as u64,
            known: taken.iter().copied().collect(),
        };
        let answer = match client.poll(node, &poll).await {
            Ok(answer) => answer,
            Err(e) => {
                tracing::warn!(error = %e, "poll failed; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        if answer.register {
            registered = false;
            continue;
        }
        since = answer.version;
        let placed: HashSet<(RunId, u32)> =
            answer.work.iter().map(|w| (w.run, w.attempt)).collect();
        for work in answer.work {
            let key = (work.run, work.attempt);
            if work.kill {
                agent.kill(work.run);
            }
            if taken.contains(&key) {
                continue;
            }
            if work.process.is_some() {
                // Started by an earlier agent process on this node: reconcile it.
                agent.reconcile(work.run, work.attempt, work.process);
            } else if !work.kill {
                let Some(spec) = work.spec else {
                    tracing::warn!(run = %work.run, attempt = work.attempt, "placed without its spec; asking again");
                    continue;
                };
                agent.assign(Assignment {
                    run: work.run,
                    attempt: work.attempt,
                    spec,
                    schedule_time: work.schedule_time,
                });
            }
            taken.insert(key);
        }
        // Attempts no longer placed here (lost, re-run elsewhere) are stopped if they run.
        for (run, attempt) in taken.iter().filter(|key| !placed.contains(key)) {
            if agent.is_running(*run) {
                tracing::info!(%run, attempt, "no longer placed here; stopping it");
                agent.kill(*run);
            }
        }
        taken.retain(|key| placed.contains(key) || agent.is_running(key.0));
    }
}

/// Sends the agent's reports to the server in batches, keeping them until it answers.
async fn send_reports(client: Client, node: NodeId, mut reports: mpsc::UnboundedReceiver<Report>) {
    let mut pending: Vec<Report> = Vec::new();
    loop {
        if pending.is_empty() {
            match reports.recv().await {
                Some(report) => pending.push(report),
                None => return,
            }
        }
        while let Ok(report) = reports.try_recv() {
            pending.push(report);
        }
        match client.report(&node, &pending).await {
            Ok(()) => pending.clear(),
            Err(e) => {
                tracing::warn!(error = %e, kept = pending.len(), "cannot send reports; retrying");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}
