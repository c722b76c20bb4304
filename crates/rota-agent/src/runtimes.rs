//! The runtimes an agent runs attempts with, and the names that tie what they make (cgroups,
//! containers) to a run and to this agent, so that a restarted agent finds them again.

use std::path::Path;
use std::sync::Arc;

use rota_model::RunId;
use rota_runtime::{CgroupConfig, DockerConfig, DockerRuntime, ProcessRuntime};
use tokio::sync::Mutex;

/// The label with the id of the agent that started a container ([`agent_id`]): two agents on
/// one engine (two `rota dev` on one machine) leave each other's containers alone.
pub const AGENT_LABEL: &str = "rota.agent";
/// The label with the run's log directory, to adopt the container after a restart.
pub const LOG_DIR_LABEL: &str = "rota.log_dir";
/// The label with the run's timeout in seconds, to enforce the rest of it after a restart.
pub const TIMEOUT_LABEL: &str = "rota.timeout";
/// The label of a container that runs under Cosmos' container contract (value
/// [`COSMOS_CONTRACT`]): after a restart its output still goes to `rota-container.log` and
/// rota's steps to `rota-start.log`, beside the app's own logs.
pub const CONTRACT_LABEL: &str = "rota.contract";
/// The value of [`CONTRACT_LABEL`] for Cosmos' contract.
pub const COSMOS_CONTRACT: &str = "cosmos";

/// The runtimes of an agent.
#[derive(Clone, Debug)]
pub struct Runtimes {
    /// Process apps (`command` and no `repository`), each in its own cgroup.
    pub process: ProcessRuntime,
    /// Docker apps (`repository`): the engine to use, connected to when the first one comes.
    /// `None` when this node runs no Docker apps.
    pub docker: Option<DockerConfig>,
}

impl Runtimes {
    /// Process runs' cgroups under the agent's own cgroup, in `rota-<agent id>`; Docker at its
    /// default socket (`DOCKER_HOST` or `/var/run/docker.sock`).
    pub fn detect(log_root: &Path) -> Runtimes {
        Runtimes {
            process: ProcessRuntime::with_cgroups(&CgroupConfig::UnderOwn(format!(
                "rota-{}",
                agent_id(log_root)
            ))),
            docker: Some(DockerConfig::default()),
        }
    }
}

/// A short id of an agent, stable across its restarts and distinct for two agents of one
/// machine: a hash of its log root.
pub fn agent_id(log_root: &Path) -> String {
    // FNV-1a: stable across Rust versions, unlike the standard library's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in log_root.as_os_str().as_encoded_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:012x}", hash >> 16)
}

/// The cgroup of an attempt: `run-<run>-<attempt>`.
pub(crate) fn cgroup_name(run: RunId, attempt: u32) -> String {
    format!("run-{run}-{attempt}")
}

/// The container of an attempt: `rota-<agent id>-<run>-<attempt>`.
pub(crate) fn container_name(agent: &str, run: RunId, attempt: u32) -> String {
    format!("rota-{agent}-{run}-{attempt}")
}

/// The Docker engine, connected to once and kept; tried again on the next app after a
/// failure.
#[derive(Clone, Debug, Default)]
pub(crate) struct Engine {
    connected: Arc<Mutex<Option<DockerRuntime>>>,
}

impl Engine {
    /// The engine, or why there is none.
    pub(crate) async fn get(&self, config: Option<&DockerConfig>) -> Result<DockerRuntime, String> {
        let config = config.ok_or_else(|| "no Docker runtime".to_string())?;
        let mut connected = self.connected.lock().await;
        if let Some(docker) = connected.as_ref() {
            return Ok(docker.clone());
        }
        let docker = DockerRuntime::connect(config.clone())
            .await
            .map_err(|e| format!("no Docker runtime ({e})"))?;
        tracing::info!(
            socket = %config.socket.display(),
            api = docker.api_version(),
            "connected to the Docker engine"
        );
        *connected = Some(docker.clone());
        Ok(docker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_tie_cgroups_and_containers_to_their_attempt_and_agent() {
        let a = agent_id(Path::new("/var/log/rota"));
        assert_eq!(a, agent_id(Path::new("/var/log/rota")), "stable");
        assert_ne!(a, agent_id(Path::new("/tmp/other/logs")));
        assert_eq!(a.len(), 12);
        assert_eq!(cgroup_name(RunId(42), 2), "run-42-2");
        assert_eq!(container_name(&a, RunId(42), 2), format!("rota-{a}-42-2"));
    }
}
