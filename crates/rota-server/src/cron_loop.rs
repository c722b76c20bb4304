//! The cron timer: a heap of next fire times, one entry per scheduled app, so a tick costs
//! only the apps that are due. Fire times missed while the server was down are run or
//! recorded as skipped according to each app's `catchup`.
//!
//! An app whose runs may overlap (`concurrency: allow`) is fired [`FIRE_AHEAD`] before its
//! schedule time: its run is made and committed then, and waits in its queue until the
//! schedule time (`not_before`), when the scheduler's round decides it. So the commit of
//! thousands of new runs is done before the tick, not between the tick and the decision.
//! An app with `forbid` or `replace` is fired at the tick, because its policy must see
//! which runs are still active at that time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::mpsc;

use rota_model::cron::CronExpr;
use rota_model::spec::{MAX_CATCHUP_RUNS, Trigger};
use rota_model::{AppKey, Catchup, Concurrency, Origin};
use rota_store::{AppFires, Command, FireTime};

use crate::context::Context;

/// A fire time this late still runs as if on time (Quartz' default misfire threshold).
pub(crate) const MISFIRE_THRESHOLD: SignedDuration = SignedDuration::from_secs(60);
/// The most missed fire times recorded as skipped for one app after a downtime.
const MAX_MISSED_RECORDS: usize = 10_000;
/// How long before its schedule time the run of an app whose runs may overlap is made.
const FIRE_AHEAD: SignedDuration = SignedDuration::from_millis(500);

/// What the loop keeps of a scheduled app.
struct Schedule {
    cron: CronExpr,
    tz: TimeZone,
    catchup: Catchup,
    /// Fired [`FIRE_AHEAD`] of its schedule times.
    ahead: bool,
    next: Timestamp,
}

impl Schedule {
    /// When the loop wakes for its next fire time.
    fn wake(&self) -> Timestamp {
        if self.ahead {
            self.next - FIRE_AHEAD
        } else {
            self.next
        }
    }
}

/// Decides what to do with an app's fire times in `(cursor, until]` at `now` (`until` is
/// later than `now` when firing ahead): those at most [`MISFIRE_THRESHOLD`] late run; older
/// ones (missed while the server was down) follow `catchup`, and those not run are recorded
/// as skipped.
pub(crate) fn due_fires(
    cron: &CronExpr,
    tz: &TimeZone,
    cursor: Timestamp,
    until: Timestamp,
    now: Timestamp,
    catchup: Catchup,
) -> Vec<FireTime> {
    let on_time_from = now - MISFIRE_THRESHOLD;
    let mut missed: VecDeque<Timestamp> = VecDeque::new();
    let mut missed_total = 0usize;
    let mut on_time = Vec::new();
    let mut next = cron.next_after(cursor, tz);
    while let Some(t) = next.filter(|t| *t <= until) {
        if t >= on_time_from {
            on_time.push(t);
        } else {
            missed_total += 1;
            if missed.len() == MAX_MISSED_RECORDS {
                missed.pop_front();
            }
            missed.push_back(t);
        }
        next = cron.next_after(t, tz);
    }
    if missed_total > missed.len() {
        tracing::warn!(
            dropped = missed_total - missed.len(),
            "more fire times were missed than are recorded; the oldest are not"
        );
    }
    let run_last = match catchup {
        Catchup::None => 0,
        Catchup::Last => 1,
        Catchup::All => MAX_CATCHUP_RUNS,
    };
    let first_run = missed.len().saturating_sub(run_last);
    let skip_reason = match catchup {
        Catchup::None => "missed while the scheduler was down (catchup: none)".to_string(),
        Catchup::Last => "missed while the scheduler was down (catchup: last)".to_string(),
        Catchup::All => format!(
            "missed while the scheduler was down, beyond the {MAX_CATCHUP_RUNS} runs catchup: all makes"
        ),
    };
    let mut fires: Vec<FireTime> = missed
        .into_iter()
        .enumerate()
        .map(|(i, time)| FireTime {
            time,
            origin: Origin::Catchup,
            skip: (i < first_run).then(|| skip_reason.clone()),
        })
        .collect();
    fires.extend(on_time.into_iter().map(|time| FireTime {
        time,
        origin: Origin::Cron,
        skip: None,
    }));
    fires
}

/// Runs the cron timer until `changes` closes.
pub(crate) async fn run(ctx: Context, mut changes: mpsc::UnboundedReceiver<AppKey>) {
    let mut schedules: HashMap<AppKey, Schedule> = HashMap::new();
    let mut heap: BinaryHeap<Reverse<(Timestamp, AppKey)>> = BinaryHeap::new();
    let keys: Vec<AppKey> = ctx
        .store
        .read(|s| s.apps().map(|(k, _)| k.clone()).collect());
    for key in keys {
        reschedule(&ctx, &mut schedules, &mut heap, key, None);
    }
    loop {
        let sleep = heap.peek().map(|Reverse((t, _))| {
            let wait = t.duration_since(ctx.now()).max(SignedDuration::ZERO);
            tokio::time::sleep(wait.unsigned_abs())
        });
        tokio::select! {
            change = changes.recv() => {
                let Some(key) = change else { return };
                reschedule(&ctx, &mut schedules, &mut heap, key, None);
                continue;
            }
            () = async { sleep.expect("guarded").await }, if sleep.is_some() => {}
        }
        fire_due(&ctx, &mut schedules, &mut heap).await;
    }
}

/// Fires every app that is due, in one command.
async fn fire_due(
    ctx: &Context,
    schedules: &mut HashMap<AppKey, Schedule>,
    heap: &mut BinaryHeap<Reverse<(Timestamp, AppKey)>>,
) {
    let now = ctx.now();
    let mut batch = Vec::new();
    while let Some(Reverse((t, _))) = heap.peek()
        && *t <= now
    {
        let Reverse((t, key)) = heap.pop().expect("peeked");
        let Some(schedule) = schedules.get(&key).filter(|s| s.wake() == t) else {
            continue;
        };
        let until = if schedule.ahead {
            schedule.next.max(now)
        } else {
            now
        };
        let cursor = ctx
            .store
            .read(|s| s.app(&key).and_then(|a| a.cursor))
            .unwrap_or(now);
        let fires = due_fires(
            &schedule.cron,
            &schedule.tz,
            cursor,
            until,
            now,
            schedule.catchup,
        );
        batch.push(AppFires {
            app: key,
            fires,
            cursor: until,
        });
    }
    if batch.is_empty() {
        return;
    }
    let keys: Vec<(AppKey, Timestamp)> = batch.iter().map(|f| (f.app.clone(), f.cursor)).collect();
    let fired = ctx
        .store
        .submit(Command::Fire {
            apps: batch,
            at: now,
        })
        .await;
    match fired {
        // `concurrency: replace` may have asked for running runs to be stopped.
        Ok(applied) => {
            for (run, node) in applied.kills {
                ctx.kill(run, &node);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot record fire times; retrying on the next tick");
        }
    }
    for (key, until) in keys {
        reschedule(ctx, schedules, heap, key, Some(until));
    }
}

/// Looks at an app again: (re)computes its next fire time, or forgets it.
fn reschedule(
    ctx: &Context,
    schedules: &mut HashMap<AppKey, Schedule>,
    heap: &mut BinaryHeap<Reverse<(Timestamp, AppKey)>>,
    key: AppKey,
    after: Option<Timestamp>,
) {
    let found = ctx.store.read(|s| {
        let entry = s.app(&key).filter(|a| a.scheduled)?;
        let spec = &entry.current().spec;
        let Trigger::Cron(cron) = spec.trigger() else {
            return None;
        };
        Some((
            cron,
            spec.time_zone(&ctx.config.time_zone),
            spec.catchup,
            spec.concurrency == Concurrency::Allow,
            entry.cursor,
        ))
    });
    let Some((cron, tz, catchup, ahead, cursor)) = found else {
        schedules.remove(&key);
        return;
    };
    let from = after.or(cursor).unwrap_or_else(|| ctx.now());
    let Some(next) = cron.next_after(from, &tz) else {
        schedules.remove(&key);
        return;
    };
    let schedule = Schedule {
        cron,
        tz,
        catchup,
        ahead,
        next,
    };
    heap.push(Reverse((schedule.wake(), key.clone())));
    schedules.insert(key, schedule);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn every_minute() -> CronExpr {
        "0 * * * * ?".parse().unwrap()
    }

    #[test]
    fn fires_on_time_run_and_none_are_skipped() {
        let fires = due_fires(
            &every_minute(),
            &TimeZone::UTC,
            ts("2026-01-01T00:00:00Z"),
            ts("2026-01-01T00:01:30Z"),
            ts("2026-01-01T00:01:30Z"),
            Catchup::None,
        );
        assert_eq!(fires.len(), 1);
        assert_eq!(fires[0].time, ts("2026-01-01T00:01:00Z"));
        assert_eq!(fires[0].origin, Origin::Cron);
        assert!(fires[0].skip.is_none());
    }

    #[test]
    fn after_downtime_catchup_none_records_every_missed_fire_as_skipped() {
        let fires = due_fires(
            &every_minute(),
            &TimeZone::UTC,
            ts("2026-01-01T00:00:00Z"),
            ts("2026-01-01T00:10:30Z"),
            ts("2026-01-01T00:10:30Z"),
            Catchup::None,
        );
        assert_eq!(fires.len(), 10);
        let skipped = fires.iter().filter(|f| f.skip.is_some()).count();
        assert_eq!(skipped, 9, "00:01..00:09 missed, 00:10 on time");
        assert!(fires[9].skip.is_none());
    }

    #[test]
    fn after_downtime_catchup_last_runs_the_latest_missed_fire() {
        let fires = due_fires(
            &every_minute(),
            &TimeZone::UTC,
            ts("2026-01-01T00:00:00Z"),
            ts("2026-01-01T00:05:59Z"),
            ts("2026-01-01T00:05:59Z"),
            Catchup::Last,
        );
        let run: Vec<Timestamp> = fires
            .iter()
            .filter(|f| f.skip.is_none())
            .map(|f| f.time)
            .collect();
        assert_eq!(
            run,
            vec![ts("2026-01-01T00:04:00Z"), ts("2026-01-01T00:05:00Z")]
        );
    }

    #[test]
    fn after_downtime_catchup_all_runs_every_missed_fire() {
        let fires = due_fires(
            &every_minute(),
            &TimeZone::UTC,
            ts("2026-01-01T00:00:00Z"),
            ts("2026-01-01T01:00:00Z"),
            ts("2026-01-01T01:00:00Z"),
            Catchup::All,
        );
        assert_eq!(fires.len(), 60);
        assert!(fires.iter().all(|f| f.skip.is_none()));
    }

    #[test]
    fn firing_ahead_makes_the_coming_fire_time_and_no_later_one() {
        let fires = due_fires(
            &every_minute(),
            &TimeZone::UTC,
            ts("2026-01-01T00:00:00Z"),
            ts("2026-01-01T00:01:00Z"),
            ts("2026-01-01T00:00:59Z"),
            Catchup::None,
        );
        let times: Vec<Timestamp> = fires.iter().map(|f| f.time).collect();
        assert_eq!(times, vec![ts("2026-01-01T00:01:00Z")]);
        assert_eq!(fires[0].origin, Origin::Cron);
        assert!(fires[0].skip.is_none());
    }
}
