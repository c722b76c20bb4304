//! After a restart: what the store believed was running on this node, found again. A container
//! is adopted (it is not a child of this agent, but the engine can still wait for it, so its
//! real exit code is recorded); a process run's cgroup is emptied and removed, and the attempt
//! is reported lost.

use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;

use rota_model::{Ending, ExitReason, ProcessRef, RunId, Usage};
use rota_runtime::{AdoptSpec, DockerRuntime, FoundContainer, LogFiles, ProcessIdentity};

use crate::agent::{Agent, Report, finished};
use crate::runtimes::{
    AGENT_LABEL, CONTRACT_LABEL, COSMOS_CONTRACT, LOG_DIR_LABEL, TIMEOUT_LABEL, cgroup_name,
};

impl Agent {
    /// After a restart: the store believed this attempt was running here, but this agent did
    /// not start it. In the background: if its container is still on the engine (found by its
    /// labels), the agent adopts it and reports how it really ends; otherwise whatever is left
    /// of its processes (its cgroup, its process group) is stopped and the attempt is reported
    /// lost, so that the retry policy decides what happens next.
    pub fn reconcile(&self, run: RunId, attempt: u32, process: Option<ProcessRef>) {
        let agent = self.clone();
        tokio::spawn(async move { agent.reconcile_now(run, attempt, process).await });
    }

    async fn reconcile_now(&self, run: RunId, attempt: u32, process: Option<ProcessRef>) {
        if self.adopt_container(run, attempt).await {
            return;
        }
        let name = cgroup_name(run, attempt);
        let runtime = self.runtimes.process.clone();
        let reclaimed = tokio::task::spawn_blocking(move || runtime.reclaim(&name))
            .await
            .ok()
            .flatten();
        let killed_in_cgroup = match reclaimed {
            Some(Ok(n)) => n,
            Some(Err(e)) => {
                tracing::warn!(%run, error = %e, "cannot remove the cgroup of a run left by an earlier agent");
                0
            }
            None => 0,
        };
        let stopped = process
            .map(|p| ProcessIdentity {
                pid: p.pid,
                start_ticks: p.start_ticks,
            })
            .filter(|id| rota_runtime::is_alive(*id))
            .is_some_and(rota_runtime::kill_orphan);
        let reason = if stopped || killed_in_cgroup > 0 {
            "the agent restarted while it ran; its process was stopped"
        } else {
            "the agent restarted while it ran; its process had gone"
        };
        self.report(Report::Finished {
            run,
            attempt,
            ending: Ending::Lost,
            exit_reason: ExitReason::Lost,
            exit_code: None,
            reason: reason.to_string(),
            usage: Usage::default(),
            at: Timestamp::now(),
        });
    }

    /// Adopts the attempt's container if the engine has it (and removes containers of the
    /// run's earlier attempts); reports its end. False when there is none.
    async fn adopt_container(&self, run: RunId, attempt: u32) -> bool {
        let Some(config) = self.runtimes.docker.as_ref() else {
            return false;
        };
        // A node without an engine has no containers to find: connecting fails at once.
        let Ok(docker) = self.engine.get(Some(config)).await else {
            return false;
        };
        let found = match docker.find_runs().await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(%run, error = %e, "cannot list the containers of runs");
                return false;
            }
        };
        let run_text = run.to_string();
        let mine: Vec<FoundContainer> = found
            .into_iter()
            .filter(|c| c.run() == Some(run_text.as_str()))
            .filter(|c| c.labels.get(AGENT_LABEL) == Some(&self.id))
            .collect();
        let mut adopted = None;
        for container in mine {
            if container.attempt() == Some(attempt) && adopted.is_none() {
                adopted = Some(container);
            } else if let Err(e) = docker.remove(&container.id).await {
                tracing::warn!(%run, container = container.id, error = %e, "cannot remove a stale container");
            }
        }
        let Some(container) = adopted else {
            return false;
        };
        self.watch_adopted(&docker, run, attempt, container).await;
        true
    }

    async fn watch_adopted(
        &self,
        docker: &DockerRuntime,
        run: RunId,
        attempt: u32,
        container: FoundContainer,
    ) {
        tracing::info!(%run, attempt, container = container.id, "adopting a container left running by an earlier agent");
        let log_dir = container
            .labels
            .get(LOG_DIR_LABEL)
            .map(PathBuf::from)
            .unwrap_or_else(|| self.config.log_root.join("adopted"));
        let timeout = container
            .labels
            .get(TIMEOUT_LABEL)
            .and_then(|t| t.parse().ok())
            .map(Duration::from_secs);
        let logs = match container.labels.get(CONTRACT_LABEL).map(String::as_str) {
            Some(COSMOS_CONTRACT) => LogFiles::BESIDE_APP,
            _ => LogFiles::ROTA,
        };
        let spec = AdoptSpec {
            log_dir,
            logs,
            timeout,
            kill_grace: self.config.kill_grace,
        };
        let running = match docker.adopt(&container.id, spec).await {
            Ok(running) => running,
            Err(e) => {
                self.report(Report::Finished {
                    run,
                    attempt,
                    ending: Ending::Lost,
                    exit_reason: ExitReason::Lost,
                    exit_code: None,
                    reason: format!(
                        "the agent restarted while it ran and cannot adopt its container: {e}"
                    ),
                    usage: Usage::default(),
                    at: Timestamp::now(),
                });
                return;
            }
        };
        self.register(run, running.killer());
        let outcome = running.wait().await;
        self.unregister(run);
        self.report(finished(run, attempt, outcome));
    }
}
