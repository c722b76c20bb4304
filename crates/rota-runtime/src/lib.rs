//! Runtimes that execute one attempt of a run on a node: [`ProcessRuntime`] runs it as a plain
//! Linux process in its own cgroup, [`DockerRuntime`] as a container through the Docker Engine
//! API. Both write the same two logs and end with the same [`Outcome`].
//!
//! ```text
//!  agent ──ProcessSpec──▶ ProcessRuntime::start ──▶ RunningProcess ──wait()──▶ Outcome
//!                              │ cgroup made with its limits (cores ▶ CPU quota,
//!                              │   mems ▶ memory limit); the child joins it before exec
//!                              │ setsid: own session and group     ▲
//!                              │ stdout+stderr ▶ container.log     │ Killer::kill()
//!                              ▼ steps ▶ start.log                 │
//!                         watching task: exit │ timeout │ kill ──▶ SIGTERM to the group
//!                                             └ grace over ──▶ SIGKILL to the group
//!                                             └ leader gone ──▶ leftovers killed too,
//!                                               then the cgroup: OOM? usage? removed
//!
//!  agent ──ContainerSpec─▶ DockerRuntime::start ──▶ RunningContainer ──wait()──▶ Outcome
//!                              │ image present? else pull (with a timeout)
//!                              │ create (NanoCpus, Memory = MemorySwap, /tmp, params,
//!                              │   labels rota.run …), attach ▶ container.log, start
//!                              ▼ steps ▶ start.log
//!                         watching task: exit │ timeout │ kill ──▶ docker stop (grace)
//!                                             └ still running ──▶ docker kill
//!                                             └ exited ──▶ inspect (OOMKilled), remove
//! ```
//!
//! The process runtime's job: spawn the process in its own process group and cgroup, append its
//! output and the runtime's own steps to the run's log directory, enforce the timeout, kill on
//! request (SIGTERM to the group, SIGKILL after a grace period), and report an [`Outcome`] only
//! when the whole group and cgroup are gone, with the run's peak memory and CPU time and
//! whether the OOM killer ended it. The process's pid and start time ([`ProcessIdentity`]) and
//! its cgroup's name let an agent that restarted find its orphans again ([`is_alive`],
//! [`kill_orphan`], [`ProcessRuntime::reclaim`]).
//!
//! The Docker runtime's job: the same, for a container; after an agent restart it finds the
//! containers by their `rota.run` label and adopts them ([`DockerRuntime::find_runs`],
//! [`DockerRuntime::adopt`]): it waits for them and gets their real exit code. For images built
//! for Cosmos, [`ContainerSpec::cosmos`] follows Cosmos' container contract instead: `python
//! start.py` with Cosmos' 13 arguments ([`CosmosArgs`]), the log directory mounted at the same
//! path, and the runtime's logs kept beside the app's own ([`LogFiles::BESIDE_APP`]).
//!
//! Limits: Linux only (`/proc`, `setsid`, `PR_SET_CHILD_SUBREAPER`, cgroups). Where cgroups
//! cannot be used (not root, read-only cgroupfs) the process runtime says so
//! ([`ProcessRuntime::limits`]) and falls back to `RLIMIT_AS` for memory; CPU then has no
//! limit, since no rlimit expresses a share. A container's usage is sampled from its cgroup
//! while it runs (the engine removes the cgroup at exit). The runtimes know nothing about apps
//! or runs: the agent builds the specs.

#![warn(missing_docs)]

mod cgroup;
mod child;
mod docker;
mod error;
mod launch;
mod outcome;
mod process;
mod procfs;
mod spec;
mod start_log;
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing;

pub use cgroup::{CgroupConfig, Limits, Resources, Usage};
pub use docker::{
    APP_LABEL, ATTEMPT_LABEL, AdoptSpec, COSMOS_SCRIPT, ContainerSpec, CosmosArgs, DockerConfig,
    DockerError, DockerRuntime, FoundContainer, PARAMS_FILE, PARAMS_PATH, QUEUE_LABEL, RUN_LABEL,
    RunningContainer, url_encode,
};
pub use error::RuntimeError;
pub use outcome::{Ending, ExitReason, Outcome};
pub use process::{Killer, ProcessRuntime, RunningProcess};
pub use procfs::{ProcessIdentity, is_alive, kill_orphan, set_child_subreaper};
pub use spec::{DEFAULT_KILL_GRACE, ProcessSpec};
pub use start_log::{CONTAINER_LOG, LogFiles, ROTA_CONTAINER_LOG, ROTA_START_LOG, START_LOG};
