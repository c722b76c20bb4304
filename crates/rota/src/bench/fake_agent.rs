//! An agent that runs nothing: it registers a node, long-polls for the attempts placed on it
//! and reports each one started and then finished (succeeded) in batches, timing each batch
//! from the request to the answer, which comes once the batch is committed by a majority
//! and applied by the leader.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use jiff::Timestamp;
use rota_client::Client;
use rota_model::agent_api::{AgentReport, NodeCapacity, Poll, Registration, Work};
use rota_model::{Ending, ExitReason, Limits, NodeId, ProcessRef, Usage};

/// How long a poll may be held when nothing changed.
const POLL_WAIT: Duration = Duration::from_millis(200);
/// An agent gives up after this many failed requests in all.
const ATTEMPTS: usize = 20;
/// The pause before a failed request is sent again.
const BACKOFF: Duration = Duration::from_millis(10);

/// What a fake node offers, and what every run asks of it (see [`super::common::app_json`]).
pub struct Slots {
    /// How many runs fit on the node at once.
    pub per_node: usize,
}

impl Slots {
    fn capacity(&self) -> NodeCapacity {
        NodeCapacity {
            // A run asks for 0.01 cores and 64 MB; a little more, so that rounding never
            // leaves the last slot out.
            cores: self.per_node as f64 * 0.01 + 0.005,
            mems: self.per_node as i64 * 64,
            extended: Default::default(),
        }
    }
}

/// What every fake agent shares.
pub struct Shared {
    /// A client of the leader.
    pub client: Client,
    /// Runs reported finished by all agents; they stop when it reaches `runs`.
    pub finished: AtomicUsize,
    /// Runs to finish in all.
    pub runs: usize,
    /// Reports per request, at most.
    pub batch: usize,
}

/// What one agent measured.
#[derive(Debug, Default)]
pub struct Tally {
    /// Each batch's commit latency, milliseconds.
    pub latencies: Vec<f64>,
    /// `Started` reports committed.
    pub started: usize,
    /// `Finished` reports committed.
    pub finished: usize,
    /// Polls answered.
    pub polls: usize,
    /// Requests that failed and were sent again.
    pub retries: usize,
    /// When its last batch was answered.
    pub last: Option<Instant>,
}

/// Registers node `node` and acts as its agent until every run has finished.
pub async fn run(shared: Arc<Shared>, node: NodeId, slots: Slots) -> Result<Tally> {
    let mut tally = Tally::default();
    register(&shared.client, &node, &slots, &mut tally).await?;
    let mut since = 0;
    let mut known = Vec::new();
    while shared.finished.load(Ordering::Relaxed) < shared.runs {
        let poll = Poll {
            since,
            wait_ms: POLL_WAIT.as_millis() as u64,
            known: std::mem::take(&mut known),
        };
        let assignments = match shared.client.poll(&node, &poll).await {
            Ok(a) => a,
            Err(e) => {
                retry(&mut tally, e.into()).await?;
                continue;
            }
        };
        tally.polls += 1;
        since = assignments.version;
        if assignments.register {
            register(&shared.client, &node, &slots, &mut tally).await?;
            continue;
        }
        known = assignments
            .work
            .iter()
            .map(|w| (w.run, w.attempt))
            .collect();
        let reports: Vec<AgentReport> = assignments.work.iter().map(report).collect();
        for chunk in reports.chunks(shared.batch.max(1)) {
            send(&shared, &node, chunk, &mut tally).await?;
        }
    }
    Ok(tally)
}

async fn register(client: &Client, node: &NodeId, slots: &Slots, tally: &mut Tally) -> Result<()> {
    let registration = Registration {
        node: node.clone(),
        capacity: slots.capacity(),
        attributes: Default::default(),
        labels: Vec::new(),
    };
    loop {
        match client.register(&registration).await {
            Ok(_) => return Ok(()),
            Err(e) => retry(tally, e.into()).await?,
        }
    }
}

/// Sends one batch until it is committed, and counts it.
async fn send(
    shared: &Shared,
    node: &NodeId,
    chunk: &[AgentReport],
    tally: &mut Tally,
) -> Result<()> {
    loop {
        let sent = Instant::now();
        match shared.client.report(node, chunk).await {
            Ok(()) => {
                let answered = Instant::now();
                tally
                    .latencies
                    .push((answered - sent).as_secs_f64() * 1000.0);
                tally.last = Some(answered);
                let finished = chunk
                    .iter()
                    .filter(|r| matches!(r, AgentReport::Finished { .. }))
                    .count();
                tally.finished += finished;
                tally.started += chunk.len() - finished;
                shared.finished.fetch_add(finished, Ordering::Relaxed);
                return Ok(());
            }
            Err(e) => retry(tally, e.into()).await?,
        }
    }
}

/// Counts a failed request and pauses before it is sent again; gives up after too many.
async fn retry(tally: &mut Tally, error: anyhow::Error) -> Result<()> {
    tally.retries += 1;
    if tally.retries >= ATTEMPTS {
        bail!("a fake agent gave up after {ATTEMPTS} failed requests: {error:#}");
    }
    tokio::time::sleep(BACKOFF).await;
    Ok(())
}

/// An attempt not yet reported started is reported started (its process made up); one
/// already started is reported succeeded.
fn report(work: &Work) -> AgentReport {
    let at = Timestamp::now();
    match work.process {
        None => AgentReport::Started {
            run: work.run,
            attempt: work.attempt,
            process: ProcessRef {
                pid: 1_000_000 + (work.run.0 % 1_000_000) as i32,
                start_ticks: u64::from(work.attempt),
            },
            container: None,
            limits: Limits::NotEnforced {
                reason: "rota bench commits runs no process".into(),
            },
            at,
        },
        Some(_) => AgentReport::Finished {
            run: work.run,
            attempt: work.attempt,
            ending: Ending::Succeeded,
            exit_reason: ExitReason::Exited,
            exit_code: Some(0),
            reason: "exited with code 0".into(),
            usage: Usage::default(),
            at,
        },
    }
}
