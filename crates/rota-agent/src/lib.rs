//! The node agent: runs assignments through a runtime (a process in its own cgroup, or a Docker
//! container, under rota's container contract or, for images built for Cosmos, Cosmos'),
//! reports how they went (with exit reason, peak memory and CPU time), kills on request, and
//! after a restart reconciles what the store believed was running: containers are adopted and
//! waited for, process runs' cgroups are emptied.
//!
//! The names of the logs in a run's directory are re-exported for readers of it:
//! [`START_LOG`] and [`CONTAINER_LOG`], and beside an app that writes those two itself (Cosmos'
//! contract) rota's own [`ROTA_START_LOG`] and [`ROTA_CONTAINER_LOG`].
//!
//! The transport to the server is two channels here (`rota dev` runs the agent in the
//! server's process); the network protocol of separate agents builds on the same messages.

mod agent;
mod convert;
mod cosmos;
mod layout;
mod reconcile;
mod runtimes;

pub use agent::{Agent, AgentConfig, Assignment, Report};
pub use layout::run_log_dir;
pub use rota_runtime::{CONTAINER_LOG, ROTA_CONTAINER_LOG, ROTA_START_LOG, START_LOG};
pub use runtimes::{
    AGENT_LABEL, CONTRACT_LABEL, COSMOS_CONTRACT, LOG_DIR_LABEL, Runtimes, TIMEOUT_LABEL, agent_id,
};
