//! What a simulation measured: utilization, each queue's share over time, waits, Jain's
//! fairness index, rejections, preemptions.

use std::fmt;

/// The cluster's state after one round.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Seconds from the start.
    pub at: u64,
    /// Per queue (in [`Report::queues`] order): its running runs' cores over the cluster's.
    pub shares: Vec<f64>,
}

/// One queue's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueReport {
    /// The queue.
    pub name: String,
    /// Its weight.
    pub weight: u32,
    /// Its mean share of the cluster's cores over the reported window.
    pub mean_share: f64,
    /// Runs started (a preempted run counts again when it restarts).
    pub placed: u64,
    /// Runs rejected.
    pub rejected: u64,
    /// Runs evicted by preemption.
    pub preempted: u64,
    /// Wait from arrival to start, seconds: median, 90th and 99th percentile.
    pub wait_p50: u64,
    /// 90th percentile wait, seconds.
    pub wait_p90: u64,
    /// 99th percentile wait, seconds.
    pub wait_p99: u64,
}

/// A simulation's figures over a window of time.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Rounds simulated.
    pub rounds: u64,
    /// Mean share of the cluster's cores in use over the window.
    pub utilization: f64,
    /// Per queue, in name order.
    pub queues: Vec<QueueReport>,
    /// Jain's fairness index of the queues' mean shares divided by their weights, over the
    /// queues that ran something (1 is perfectly fair).
    pub jain: f64,
    /// Placements the re-check refused (the planner's own view disagreed with the state).
    pub refused_by_recheck: u64,
    /// Shares after each round.
    pub samples: Vec<Sample>,
}

impl Report {
    /// The figures of queue `name`.
    pub fn queue(&self, name: &str) -> Option<&QueueReport> {
        self.queues.iter().find(|q| q.name == name)
    }
}

/// Jain's index: (Σx)² / (n·Σx²).
pub(crate) fn jain(xs: &[f64]) -> f64 {
    let sum: f64 = xs.iter().sum();
    let squares: f64 = xs.iter().map(|x| x * x).sum();
    if squares == 0.0 {
        1.0
    } else {
        sum * sum / (xs.len() as f64 * squares)
    }
}

/// The `p`th percentile of sorted `values` (nearest rank), 0 when empty.
pub(crate) fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "rounds {}  utilization {:.1}%  Jain's index {:.3}  refused by re-check {}",
            self.rounds,
            self.utilization * 100.0,
            self.jain,
            self.refused_by_recheck
        )?;
        writeln!(
            f,
            "{:<16} {:>6} {:>7} {:>7} {:>8} {:>9} {:>8} {:>8} {:>8}",
            "queue", "weight", "share", "placed", "rejected", "preempted", "wait p50", "p90", "p99"
        )?;
        for q in &self.queues {
            writeln!(
                f,
                "{:<16} {:>6} {:>6.1}% {:>7} {:>8} {:>9} {:>7}s {:>7}s {:>7}s",
                q.name,
                q.weight,
                q.mean_share * 100.0,
                q.placed,
                q.rejected,
                q.preempted,
                q.wait_p50,
                q.wait_p90,
                q.wait_p99
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jains_index_is_one_for_equal_shares_and_one_over_n_for_one_taker() {
        assert!((jain(&[0.5, 0.5]) - 1.0).abs() < 1e-9);
        assert!((jain(&[1.0, 0.0, 0.0, 0.0]) - 0.25).abs() < 1e-9);
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let waits: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&waits, 50), 50);
        assert_eq!(percentile(&waits, 99), 99);
        assert_eq!(percentile(&[], 50), 0);
    }
}
