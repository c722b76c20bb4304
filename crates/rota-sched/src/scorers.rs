//! The built-in scorers: `binpack`, `spread`, `balanced`, `affinity`. Each scores a node
//! from 0 to 100 as if the run were placed there.

use crate::plugin::{At, Scorer};
use crate::resources::{CORES, MEMS};
use crate::round::NONE;

/// How full resource `dim` of a node would be with the run, in percent; `None` when the
/// node has none of it.
#[inline]
fn used_after(capacity: &[i64], free: &[i64], demand: &[i64], dim: usize) -> Option<i64> {
    let capacity = capacity[dim];
    (capacity > 0).then(|| {
        let used = (capacity - free[dim] + demand[dim]).clamp(0, capacity);
        // In floating point: an integer division per resource per node is the slowest step.
        (used as f64 * 100.0 / capacity as f64) as i64
    })
}

/// Prefers the fullest nodes (Nomad's default): keeps whole nodes free for large runs. The
/// mean fill of cores, memory and the extended resources the run uses.
pub(crate) struct Binpack;

impl Scorer for Binpack {
    fn name(&self) -> &'static str {
        "binpack"
    }

    #[inline]
    fn score(&self, at: &At<'_>) -> u32 {
        let (capacity, free, demand) = (at.capacity(), at.free(), at.demand());
        let mut sum = 0;
        let mut counted = 0;
        for dim in 0..demand.len() {
            if dim > MEMS && demand[dim] == 0 {
                continue;
            }
            if let Some(fill) = used_after(capacity, free, demand, dim) {
                sum += fill;
                counted += 1;
            }
        }
        if counted == 0 {
            0
        } else {
            (sum / counted) as u32
        }
    }
}

/// Prefers nodes running fewer runs of the same app, so that one node's loss takes few of
/// them: 100, 50, 33, 25, … for 0, 1, 2, 3, … runs there.
pub(crate) struct Spread;

impl Scorer for Spread {
    fn name(&self) -> &'static str {
        "spread"
    }

    #[inline]
    fn score(&self, at: &At<'_>) -> u32 {
        100 / (1 + at.app_runs_here())
    }
}

/// Prefers nodes whose cores and memory would be equally full (Kubernetes'
/// BalancedResourceAllocation), so that neither is stranded.
pub(crate) struct Balanced;

impl Scorer for Balanced {
    fn name(&self) -> &'static str {
        "balanced"
    }

    #[inline]
    fn score(&self, at: &At<'_>) -> u32 {
        let (capacity, free, demand) = (at.capacity(), at.free(), at.demand());
        match (
            used_after(capacity, free, demand, CORES),
            used_after(capacity, free, demand, MEMS),
        ) {
            (Some(cores), Some(mems)) => (100 - (cores - mems).abs()) as u32,
            _ => 0,
        }
    }
}

/// Prefers nodes that meet more of the run's preferences (soft constraints); 0 everywhere
/// when it has none.
pub(crate) struct Affinity;

impl Scorer for Affinity {
    fn name(&self) -> &'static str {
        "affinity"
    }

    fn is_static(&self) -> bool {
        true
    }

    #[inline]
    fn score(&self, at: &At<'_>) -> u32 {
        let prefer = &at.class.prefer;
        if prefer.is_empty() {
            return 0;
        }
        let met = prefer
            .iter()
            .filter(|p| p.accepts(p.attr.map_or(NONE, |a| at.round.attrs.value_id(a, at.node))))
            .count();
        (met * 100 / prefer.len()) as u32
    }
}
