//! The scheduling loop: whenever the state changes, ask the pure core which queued runs
//! start now, commit the whole plan as one write, then hand the placed runs to the agent.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use rota_agent::Assignment;
use rota_model::api::RoundView;
use rota_model::placement::{Constraint, Operator};
use rota_model::spec::COSMOS_EXTENDED;
use rota_model::{AppSpec, NodeId, RunId};
use rota_sched::{
    Node, Params, Plan, QueuedRun, Request, Reservation, RunningRun, Scheduler, Snapshot,
};
use rota_store::{Command, State};

use crate::context::Context;
use crate::request_cache::RequestCache;

/// Runs the loop until the store closes.
pub(crate) async fn run(ctx: Context) {
    let mut changes = ctx.store.watch();
    let scheduler = Arc::new(Scheduler::default());
    let requests = Arc::new(Mutex::new(RequestCache::default()));
    let mut plan_id = 0;
    let mut reservations: Vec<Reservation> = Vec::new();
    // The last round's time, and when the first run it saw waiting for a time is due.
    let mut last_round: Option<(Timestamp, Option<Timestamp>)> = None;
    loop {
        // Nothing waits: nothing to plan until something changes.
        if ctx
            .store
            .read(|s| s.queued().values().all(|q| q.is_empty()))
        {
            reservations.clear();
            *ctx.latest_plan.lock().unwrap_or_else(|e| e.into_inner()) = None;
            if changes.changed().await.is_err() {
                return;
            }
            continue;
        }
        let now = ctx.now();
        let began = std::time::Instant::now();
        plan_id += 1;
        // Runs that became due since the last round (cron runs made ahead of their time)
        // are decided now, all of them, even beyond the window.
        let window = Window {
            per_queue: ROUND_WINDOW,
            due_after: last_round
                .filter(|(_, due)| due.is_some_and(|t| t <= now))
                .map(|(at, _)| at),
        };
        let PlannedRound {
            snapshot: planned,
            next_due,
            epoch: planned_on,
            plan,
        } = match plan_round(
            &ctx,
            &scheduler,
            &requests,
            reservations,
            now,
            window,
            plan_id,
        )
        .await
        {
            Ok(round) => round,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        let planned_in = began.elapsed();
        last_round = Some((now, next_due));
        reservations = plan.reservations.clone();
        let plan = Arc::new(plan);
        *ctx.latest_plan.lock().unwrap_or_else(|e| e.into_inner()) = Some(plan.clone());
        if !plan.rejections.is_empty() {
            let runs = plan
                .rejections
                .iter()
                .map(|r| (r.run, r.reason.to_string()))
                .collect();
            if let Err(e) = ctx.store.submit(Command::Reject { runs, at: now }).await {
                tracing::error!(error = %e, "cannot record rejections");
            }
        }
        // Optimistic planning: what still fits in fresh state is committed, the rest waits
        // for the next round. When nothing a round looks at changed since the plan was
        // made, the planned snapshot is the fresh one.
        let recheck = if plan.placements.is_empty() && plan.preemptions.is_empty() {
            rota_sched::Recheck::default()
        } else {
            let fresh = ctx.store.read(|s| {
                (s.scheduling_epoch() != planned_on).then(|| {
                    let mut requests = requests.lock().unwrap_or_else(|e| e.into_inner());
                    snapshot(s, &reservations, now, window, &mut requests).0
                })
            });
            scheduler.recheck(&plan, fresh.as_ref().unwrap_or(&planned))
        };
        for (placement, why) in &recheck.refused {
            tracing::debug!(run = %placement.run, %why, "placement refused on recheck");
        }
        if !recheck.preemptions.is_empty() {
            let runs = recheck
                .preemptions
                .iter()
                .map(|p| (p.victim, p.for_run))
                .collect();
            match ctx.store.submit(Command::Preempt { runs, at: now }).await {
                Ok(applied) => {
                    for (run, node) in applied.kills {
                        ctx.kill(run, &node);
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot record preemptions"),
            }
        }
        let mut by_node: BTreeMap<NodeId, Vec<RunId>> = BTreeMap::new();
        for placement in recheck.accepted {
            by_node
                .entry(placement.node)
                .or_default()
                .push(placement.run);
        }
        let mut placed_count = 0;
        for (node, runs) in by_node {
            let placed = ctx
                .store
                .submit(Command::Place {
                    runs,
                    node: node.clone(),
                    at: now,
                })
                .await;
            match placed {
                Ok(applied) => {
                    placed_count += applied.runs.len();
                    dispatch(&ctx, &node, &applied.runs);
                }
                Err(e) => tracing::error!(error = %e, "cannot commit a plan"),
            }
        }
        if !planned.queued.is_empty() {
            ctx.round(RoundView {
                began: now,
                looked_at: planned.queued.len(),
                placed: placed_count,
                rejected: plan.rejections.len(),
                planned_ms: planned_in.as_secs_f64() * 1e3,
                committed_ms: began.elapsed().as_secs_f64() * 1e3,
            });
        }
        let due_wait = next_due.map(|t| {
            t.duration_since(ctx.now())
                .max(jiff::SignedDuration::ZERO)
                .unsigned_abs()
        });
        // The next round, once something it looks at changed (its own placements count), or
        // a run waiting for a time (a retry's backoff, a cron run's schedule time) is due. A
        // change it would not see (a run reported started) wakes no round.
        let due = async {
            match due_wait {
                Some(wait) => tokio::time::sleep(wait).await,
                None => std::future::pending().await,
            }
        };
        let relevant = async {
            loop {
                if changes.changed().await.is_err() {
                    return false;
                }
                if ctx.store.read(|s| s.scheduling_epoch()) != planned_on {
                    return true;
                }
            }
        };
        tokio::select! {
            open = relevant => if !open { return },
            () = due => {}
        }
    }
}

/// What one round saw and decided.
struct PlannedRound {
    /// The snapshot it planned on.
    snapshot: Snapshot,
    /// When the first run waiting for a time (among the runs walked) is due.
    next_due: Option<Timestamp>,
    /// The scheduling epoch the snapshot was taken at.
    epoch: u64,
    /// The plan.
    plan: Plan,
}

/// Takes a round's snapshot and plans it on a blocking thread: a round over thousands of
/// runs takes milliseconds of CPU that would otherwise stall the requests and the Raft
/// core sharing the async threads. Only the snapshot is taken under the state's lock, so
/// that writes wait for the snapshot but not for the plan.
async fn plan_round(
    ctx: &Context,
    scheduler: &Arc<Scheduler>,
    requests: &Arc<Mutex<RequestCache>>,
    reservations: Vec<Reservation>,
    now: Timestamp,
    window: Window,
    plan_id: u64,
) -> Result<PlannedRound, tokio::task::JoinError> {
    let (ctx, scheduler, requests) = (ctx.clone(), scheduler.clone(), requests.clone());
    tokio::task::spawn_blocking(move || {
        let mut requests = requests.lock().unwrap_or_else(|e| e.into_inner());
        let ((snapshot, next_due), epoch) = ctx.store.read(|s| {
            (
                snapshot(s, &reservations, now, window, &mut requests),
                s.scheduling_epoch(),
            )
        });
        drop(requests);
        let plan = scheduler.plan(&snapshot, &Params::new(plan_id, now));
        PlannedRound {
            snapshot,
            next_due,
            epoch,
            plan,
        }
    })
    .await
}

/// The snapshot as it is now, every queued run included, for `rota queues`.
pub(crate) fn local_snapshot(ctx: &Context, state: &State) -> Snapshot {
    let everything = Window {
        per_queue: usize::MAX,
        due_after: None,
    };
    snapshot(
        state,
        &[],
        ctx.now(),
        everything,
        &mut RequestCache::default(),
    )
    .0
}

/// What the latest plan said of a queued run it did not place, for `rota why`.
pub(crate) fn explain(ctx: &Context, run: RunId) -> Option<String> {
    let plan = ctx
        .latest_plan
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()?;
    if plan.placements.iter().any(|p| p.run == run) {
        return None;
    }
    plan.explanation(run).map(|e| e.to_string())
}

/// The most queued runs of each queue that one round considers, from the queue's head (its
/// order: priority, schedule time, submission). A round places at most what the cluster has
/// free, so a deeper look only costs time: with 50,000 runs queued, building the snapshot and
/// planning over all of them took most of the leader's CPU. The rest wait for a later round;
/// `rota why` explains them once they are within the window.
const ROUND_WINDOW: usize = 4096;

/// Which queued runs a round looks at.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// The most runs of each queue, from its head.
    per_queue: usize,
    /// Runs that waited for a time after this one and may start now are looked at beyond
    /// `per_queue`: the runs due at one instant are decided in one round.
    due_after: Option<Timestamp>,
}

/// The capacity given to a node for a Cosmos extended resource it does not declare: no limit.
const UNLIMITED: u64 = 1 << 40;
/// The attribute, suffixed with a queue, of the nodes that serve that queue.
const QUEUE_ATTRIBUTE: &str = "rota.queue.";
/// Its value.
const SERVES: &str = "serves";

/// The request of an app version: its spec's, with Cosmos' disk and network demands, and
/// bound to the nodes serving its queue when nodes are labelled.
fn request_of(spec: &AppSpec, labelled: bool) -> Request {
    let mut request = Request::from_spec(spec);
    request.demand.extended.extend(spec.cosmos_extended());
    if labelled {
        request.constraints.push(Constraint {
            attribute: format!("{QUEUE_ATTRIBUTE}{}", spec.queue),
            operator: Operator::Equals,
            value: Some(SERVES.into()),
        });
    }
    request
}

/// The state as the scheduling core sees it: every registered node with what its running
/// runs leave free, the queues' settings, each app's placement profile and the runs of each
/// queue in `window` that may start now; and when the first run waiting for a time (a
/// retry's backoff, a cron run's schedule time) among those walked is due.
fn snapshot(
    state: &State,
    reservations: &[Reservation],
    now: Timestamp,
    window: Window,
    requests: &mut RequestCache,
) -> (Snapshot, Option<Timestamp>) {
    // Cosmos' `server.labels`: once a node serves only some queues, each run may go only
    // to the nodes that serve its queue, through an attribute per served queue.
    let labelled = state.nodes().any(|(_, n)| !n.labels.is_empty());
    let queues_seen: BTreeSet<&str> = if labelled {
        let queued = state.queued().keys().map(String::as_str);
        queued
            .chain(state.running().map(|r| r.queue.as_str()))
            .collect()
    } else {
        BTreeSet::new()
    };
    requests.begin(state, labelled);
    let mut nodes: BTreeMap<NodeId, Node> = state
        .nodes()
        .map(|(id, entry)| {
            let mut capacity = entry.capacity.clone();
            // A node without Cosmos' disk or network setting has no such limit.
            for (_, resource) in COSMOS_EXTENDED {
                capacity
                    .extended
                    .entry(resource.to_string())
                    .or_insert(UNLIMITED);
            }
            let mut node = Node::new(id, capacity);
            node.state = entry.state;
            node.attributes = entry.attributes.clone();
            if labelled {
                for queue in queues_seen.iter().filter(|q| entry.serves(q)) {
                    node.attributes
                        .insert(format!("{QUEUE_ATTRIBUTE}{queue}"), SERVES.into());
                }
            }
            (node.id.clone(), node)
        })
        .collect();
    let mut running = Vec::new();
    for run in state.running() {
        let Some(node) = run.node.clone() else {
            continue;
        };
        let Some((priority, request)) = requests.of(state, run, request_of) else {
            continue;
        };
        if let Some(n) = nodes.get_mut(&node) {
            n.free.cores -= request.demand.cores;
            n.free.mems -= request.demand.mems;
            for (resource, amount) in &request.demand.extended {
                if let Some(free) = n.free.extended.get_mut(resource) {
                    *free = free.saturating_sub(*amount);
                }
            }
        }
        running.push(RunningRun {
            id: run.id,
            node,
            priority,
            request,
        });
    }
    let mut next_due: Option<Timestamp> = None;
    let mut queued = Vec::new();
    for slots in state.queued().values() {
        let mut taken = 0;
        for slot in slots {
            if taken >= window.per_queue && window.due_after.is_none() {
                break;
            }
            let Some(run) = state.run(slot.run) else {
                continue;
            };
            if let Some(t) = run.not_before.filter(|t| *t > now) {
                next_due = Some(next_due.map_or(t, |n| n.min(t)));
                continue;
            }
            let just_due = window
                .due_after
                .is_some_and(|after| run.not_before.is_some_and(|t| t > after));
            if taken >= window.per_queue && !just_due {
                continue;
            }
            if let Some((_, request)) = requests.of(state, run, request_of) {
                taken += 1;
                queued.push(QueuedRun {
                    id: run.id,
                    priority: slot.priority,
                    schedule_time: slot.schedule_time,
                    queued_at: run.queued_at.unwrap_or(run.created_at),
                    request,
                });
            }
        }
    }
    let snapshot = Snapshot {
        nodes: nodes.into_values().collect(),
        queues: state.queue_settings().cloned().collect(),
        running,
        queued,
        reservations: reservations.to_vec(),
    };
    (snapshot, next_due)
}

/// Hands the runs placed on the server's own node to its agent; remote nodes find theirs
/// in their next poll.
fn dispatch(ctx: &Context, node: &NodeId, runs: &[rota_model::RunId]) {
    let Some(agent) = ctx.agent.as_ref().filter(|a| a.node() == node) else {
        return;
    };
    let assignments: Vec<Assignment> = ctx.store.read(|s| {
        runs.iter()
            .filter_map(|id| {
                let run = s.run(*id)?;
                Some(Assignment {
                    run: run.id,
                    attempt: run.attempts,
                    spec: s.effective_spec(run)?,
                    schedule_time: run.schedule_time,
                })
            })
            .collect()
    });
    for assignment in assignments {
        agent.assign(assignment);
    }
}
