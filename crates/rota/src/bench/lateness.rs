//! How late cron runs were, from their schedule time, at each step a run's record and logs
//! show:
//!
//! - fired: `created_at`, the cron timer's clock when it fired the run;
//! - at the agent: the first timestamped line of the run's `start.log`, written when the agent
//!   has the assignment and is about to spawn (after its cgroup is made); millisecond
//!   precision. A run's record keeps no dispatch time of its own (its `started_at` is set at
//!   placement and then overwritten by the process start), so this is the closest measure of
//!   dispatch;
//! - process start: `started_at` as the agent reported it;
//! - recorded ended: `ended_at` (the process's exit);
//! - for a run the scheduler rejected, whose `ended_at` is the time its round began: when
//!   that round had its plan and when its decisions were committed
//!   (`GET /v1/scheduler/rounds`).

use std::collections::HashMap;
use std::path::Path;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use rota_model::Run;
use rota_model::api::RoundView;

use super::common::millis_between;

/// Lateness of many runs, in milliseconds, step by step.
#[derive(Debug, Default)]
pub struct Lateness {
    /// To `created_at`.
    pub fired: Vec<f64>,
    /// To the first line of `start.log`.
    pub at_agent: Vec<f64>,
    /// To `started_at`.
    pub started: Vec<f64>,
    /// To `ended_at`.
    pub ended: Vec<f64>,
    /// Runs whose `start.log` could not be read or had no timestamped line.
    pub no_start_log: usize,
    /// To the plan of the round that ended the run.
    pub planned: Vec<f64>,
    /// To the commit of the decisions of the round that ended the run.
    pub committed: Vec<f64>,
}

impl Lateness {
    /// The lateness of `runs`, whose logs are under `log_root` (stamped in UTC).
    pub fn of<'a>(
        runs: impl IntoIterator<Item = &'a Run>,
        log_root: &Path,
        rounds: &[RoundView],
    ) -> Lateness {
        let rounds: HashMap<Timestamp, &RoundView> = rounds.iter().map(|r| (r.began, r)).collect();
        let mut lateness = Lateness::default();
        for run in runs {
            let t = run.schedule_time;
            lateness.fired.push(millis_between(t, run.created_at));
            match agent_time(log_root, run) {
                Some(at) => lateness.at_agent.push(millis_between(t, at)),
                None => lateness.no_start_log += 1,
            }
            if let Some(started) = run.started_at {
                lateness.started.push(millis_between(t, started));
            }
            if let Some(ended) = run.ended_at {
                let to_end = millis_between(t, ended);
                lateness.ended.push(to_end);
                if let Some(round) = rounds.get(&ended) {
                    lateness.planned.push(to_end + round.planned_ms);
                    lateness.committed.push(to_end + round.committed_ms);
                }
            }
        }
        lateness
    }
}

/// The first timestamped line of the run's `start.log` (`2026-11-22 01:02:03.123Z ...`).
fn agent_time(log_root: &Path, run: &Run) -> Option<Timestamp> {
    let stamp = rota_model::timefmt::log_stamp(run.schedule_time, &TimeZone::UTC);
    let path = log_root
        .join(&run.queue)
        .join(&run.name)
        .join(stamp)
        .join("start.log");
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(line_time)
}

fn line_time(line: &str) -> Option<Timestamp> {
    let stamp = line.get(..24)?;
    if !stamp.ends_with('Z') {
        return None;
    }
    stamp.replacen(' ', "T", 1).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_log_line_gives_its_time() {
        let t = line_time("2026-11-22 01:02:03.123Z limits cgroup=/x cores=1").unwrap();
        assert_eq!(t, "2026-11-22T01:02:03.123Z".parse::<Timestamp>().unwrap());
        assert_eq!(line_time("--- attempt 1 ---"), None);
    }
}
