//! A thin layer over the cgroup files, v1 and v2, found from `/proc/self/mountinfo`.
//!
//! ```text
//!  mountinfo + /proc/self/cgroup ──plan──▶ Hierarchy (v1: cpu,cpuacct | memory | pids dirs;
//!                                          │            v2: one dir, controllers handed down)
//!          create(name, Resources) ◀───────┘
//!                 │ mkdir <parent>/<name>, cpu quota, memory limit
//!                 ▼
//!  parent: open cgroup.procs ─fork─▶ child: write "0" to each, then exec
//!                 │
//!  after the run: usage(), oom(), signal_all(SIGKILL) for leftovers, remove()
//!                 (on v1 kept for the next run while runs keep coming: pool.rs)
//! ```
//!
//! Why our own and not a crate: the v2 root must come from the mounts (hybrid hosts mount it at
//! `/sys/fs/cgroup/unified`), and the child must join before `exec` with raw writes.

mod files;
mod hierarchy;
mod join;
mod mounts;
mod pool;
mod probe;
mod run;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub(crate) use hierarchy::Hierarchy;
pub(crate) use join::Confinement;
pub(crate) use pool::{LINGER, Pool};
pub(crate) use probe::cgroup_of_pid;
pub(crate) use run::{OomSign, RunCgroup};

/// Where the process runtime makes the runs' cgroups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupConfig {
    /// A directory of this name under the agent's own cgroup in each hierarchy (from
    /// `/proc/self/cgroup`). On v2, if the agent's own cgroup holds processes, the agent moves
    /// itself into a leaf child `rota-agent` so that controllers can be handed down.
    UnderOwn(String),
    /// This cgroup path (`/rota/node1`), the same in each hierarchy, relative to the hierarchy's
    /// root as this process sees it.
    Path(String),
    /// No cgroups: memory is capped with `RLIMIT_AS`, CPU is not limited, usage is not measured.
    Disabled,
}

impl Default for CgroupConfig {
    /// `UnderOwn("rota")`.
    fn default() -> CgroupConfig {
        CgroupConfig::UnderOwn("rota".to_string())
    }
}

/// Whether the declared CPU and memory of a run are enforced on this node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Limits {
    /// Enforced by the kernel.
    Enforced {
        /// How, for people: `cgroup v1: cpu,cpuacct under /sys/fs/cgroup/cpu,cpuacct/rota; ...`
        /// or `docker`.
        by: String,
    },
    /// Not enforced: memory is capped by `RLIMIT_AS` only and CPU not at all.
    NotEnforced {
        /// Why cgroups cannot be used: not root, a read-only cgroupfs, no controller...
        reason: String,
    },
}

impl Limits {
    /// True when enforced.
    pub fn is_enforced(&self) -> bool {
        matches!(self, Limits::Enforced { .. })
    }
}

/// The resources a run may use.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Resources {
    /// CPU cores, as a hard quota: 0.5 is half of one core's time in every 100 ms.
    pub cores: Option<f64>,
    /// Memory, bytes: a hard limit; past it the kernel's OOM killer ends the run (`oom`).
    pub memory_bytes: Option<u64>,
}

impl Resources {
    /// `cores` cores and `mems` megabytes (Cosmos' units: MB are MiB, `mems * 1024 * 1024`).
    pub fn new(cores: f64, mems: i64) -> Resources {
        Resources {
            cores: Some(cores),
            memory_bytes: Some(mems.max(0) as u64 * 1024 * 1024),
        }
    }
}

/// What a run used, measured by its cgroup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// The most memory it held at once, bytes. From the kernel's high-water mark where it keeps
    /// one, else sampled; `None` where there is no cgroup to ask.
    pub peak_memory_bytes: Option<u64>,
    /// CPU time used, user and system, by all its processes.
    pub cpu_time: Option<Duration>,
}

#[cfg(test)]
mod tests;
