//! An agent that runs nothing: it registers a node, long-polls for the attempts placed on it
//! and reports each one started and then, once the starts are recorded, finished
//! (succeeded), in batches, timing each batch from the request to the answer, which comes
//! once the batch is committed by a majority and applied by the leader.

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
    /// With `--rate`: the time one agent waits per report it sends, so that all of them
    /// together offer that many transitions per second; `None` sends as fast as answered.
    pub pace: Option<Duration>,
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
    let mut due = Instant::now();
    while shared.finished.load(Ordering::Relaxed) < shared.runs {
        // Every attempt of the last answer was reported finished: none is known any more,
        // and the poll is held until the scheduler places more on the node.
        let poll = Poll {
            since,
            wait_ms: POLL_WAIT.as_millis() as u64,
            known: Vec::new(),
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
        let (fresh, started): (Vec<&Work>, Vec<&Work>) =
            assignments.work.iter().partition(|w| w.process.is_none());
        let starts: Vec<AgentReport> = fresh.iter().map(|w| started_report(w)).collect();
        let ends: Vec<AgentReport> = fresh
            .iter()
            .chain(&started)
            .map(|w| finished_report(w))
            .collect();
        // Each attempt's end goes once its start is recorded.
        for reports in [starts, ends] {
            for chunk in reports.chunks(shared.batch.max(1)) {
                if let Some(per_report) = shared.pace {
                    pace(&mut due, per_report * chunk.len() as u32).await;
                }
                send(&shared, &node, chunk, &mut tally).await?;
            }
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

/// Waits until `due`, then moves it `cost` later: an agent sends at its share of the offered
/// rate. One that fell behind (the store answered slowly) starts afresh from now rather than
/// sending a burst to catch up, so the rate measured says what was achieved.
async fn pace(due: &mut Instant, cost: Duration) {
    let now = Instant::now();
    if *due > now {
        tokio::time::sleep_until((*due).into()).await;
    } else {
        *due = now;
    }
    *due += cost;
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

/// The attempt's start, its process made up.
fn started_report(work: &Work) -> AgentReport {
    AgentReport::Started {
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
        at: Timestamp::now(),
    }
}

/// The attempt's end: it succeeded.
fn finished_report(work: &Work) -> AgentReport {
    AgentReport::Finished {
        run: work.run,
        attempt: work.attempt,
        ending: Ending::Succeeded,
        exit_reason: ExitReason::Exited,
        exit_code: Some(0),
        reason: "exited with code 0".into(),
        usage: Usage::default(),
        at: Timestamp::now(),
    }
}
