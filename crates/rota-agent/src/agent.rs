//! The agent's work: one task per attempt, a table of killers, and reports back.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use tokio::sync::mpsc;

use rota_model::{AppSpec, Ending, ExitReason, Limits, NodeId, ProcessRef, RunId, Usage};
use rota_runtime::{
    APP_LABEL, ATTEMPT_LABEL, ContainerSpec, Killer, LogFiles, Outcome, ProcessSpec, QUEUE_LABEL,
    RUN_LABEL, Resources,
};

use crate::convert;
use crate::cosmos;
use crate::layout::run_log_dir;
use crate::runtimes::{
    AGENT_LABEL, CONTRACT_LABEL, COSMOS_CONTRACT, Engine, LOG_DIR_LABEL, Runtimes, TIMEOUT_LABEL,
    agent_id, cgroup_name, container_name,
};

/// How an agent is set up.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The node's name.
    pub node: NodeId,
    /// Root of the run log directories.
    pub log_root: PathBuf,
    /// Zone of the log directory stamps.
    pub time_zone: TimeZone,
    /// How long a stopped run gets between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// Cosmos' `docker.container.python` (for example `start.py`): when set, Docker apps that
    /// name no `contract` and no `command` run under Cosmos' container contract, as
    /// `python <script>` with Cosmos' 13 arguments. `None`: only apps that say
    /// `"contract": "cosmos"` do (with Cosmos' default `start.py`).
    pub cosmos_python: Option<String>,
    /// Cosmos' `docker.container.tmp`: the host directory mounted at `/tmp` in every
    /// container; the Docker runtime's default when `None`.
    pub container_tmp: Option<PathBuf>,
    /// How long an image pull may take (Cosmos' `docker.image.pull.timeout`); the Docker
    /// runtime's default when absent.
    pub pull_timeout: Option<Duration>,
}

/// One attempt of a run, for this node to execute.
#[derive(Debug, Clone)]
pub struct Assignment {
    /// The run.
    pub run: RunId,
    /// Which attempt.
    pub attempt: u32,
    /// The spec of the app version the run uses.
    pub spec: AppSpec,
    /// The run's schedule time.
    pub schedule_time: Timestamp,
}

/// What the agent tells the server: the agent protocol's report.
pub use rota_model::agent_api::AgentReport as Report;

#[derive(Default)]
struct Table {
    killers: HashMap<RunId, Killer>,
    /// Kills asked for, acted on when the attempt registers (if it had not yet).
    kills: HashSet<RunId>,
}

/// A node agent; cheap to clone.
#[derive(Clone)]
pub struct Agent {
    pub(crate) config: Arc<AgentConfig>,
    pub(crate) runtimes: Runtimes,
    pub(crate) engine: Engine,
    /// This agent's id ([`agent_id`]): in its containers' names and labels.
    pub(crate) id: String,
    table: Arc<Mutex<Table>>,
    reports: mpsc::UnboundedSender<Report>,
}

impl Agent {
    /// An agent with the runtimes of [`Runtimes::detect`], that sends its reports to
    /// `reports`. It becomes the reaper of the processes its runs leave behind, so that a
    /// run's process group is gone once it ends even under an init that does not reap orphans.
    pub fn new(config: AgentConfig, reports: mpsc::UnboundedSender<Report>) -> Agent {
        let runtimes = Runtimes::detect(&config.log_root);
        Agent::with_runtimes(config, runtimes, reports)
    }

    /// An agent with these runtimes (the Docker runtime's `/tmp` directory replaced by
    /// `config.container_tmp` when set). Says at start whether process runs' limits are
    /// enforced.
    pub fn with_runtimes(
        config: AgentConfig,
        mut runtimes: Runtimes,
        reports: mpsc::UnboundedSender<Report>,
    ) -> Agent {
        if let Some(docker) = runtimes.docker.as_mut() {
            if let Some(tmp) = &config.container_tmp {
                docker.tmp_dir = tmp.clone();
            }
            if let Some(timeout) = config.pull_timeout {
                docker.pull_timeout = timeout;
            }
        }
        if let Err(e) = rota_runtime::set_child_subreaper() {
            tracing::warn!(error = %e, "cannot become a child subreaper; orphans of runs may linger as zombies");
        }
        match runtimes.process.limits() {
            rota_runtime::Limits::Enforced { by } => {
                tracing::info!(node = %config.node, by, "process runs' cores and mems are enforced");
            }
            rota_runtime::Limits::NotEnforced { reason } => tracing::warn!(
                node = %config.node,
                reason,
                "process runs' limits are NOT enforced: no cgroups; memory is capped with RLIMIT_AS, CPU is not limited"
            ),
        }
        Agent {
            id: agent_id(&config.log_root),
            config: Arc::new(config),
            runtimes,
            engine: Engine::default(),
            table: Arc::default(),
            reports,
        }
    }

    /// The node this agent runs.
    pub fn node(&self) -> &NodeId {
        &self.config.node
    }

    /// Removes the idle cgroups kept for the next process runs, unless one is running: for
    /// an agent that stops, so that it leaves none behind.
    pub async fn remove_idle_cgroups(&self) {
        let process = self.runtimes.process.clone();
        let _ = tokio::task::spawn_blocking(move || process.remove_idle_cgroups()).await;
    }

    /// Whether process runs' `cores` and `mems` are enforced on this node, and why not.
    pub fn limits(&self) -> Limits {
        convert::limits(self.runtimes.process.limits())
    }

    /// The log directory of a run.
    pub fn log_dir(&self, queue: &str, name: &str, schedule_time: Timestamp) -> PathBuf {
        run_log_dir(
            &self.config.log_root,
            queue,
            name,
            schedule_time,
            &self.config.time_zone,
        )
    }

    /// Starts an attempt in the background; its reports follow.
    pub fn assign(&self, assignment: Assignment) {
        let agent = self.clone();
        tokio::spawn(async move { agent.execute(assignment).await });
    }

    /// Asks for a run to be killed. True if the agent has it running; a run it is still
    /// starting (or will start) is killed as soon as it can be.
    pub fn kill(&self, run: RunId) -> bool {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.kills.insert(run);
        match table.killers.get(&run) {
            Some(killer) => {
                killer.kill();
                true
            }
            None => false,
        }
    }

    /// Whether an attempt of the run is running here now.
    pub fn is_running(&self, run: RunId) -> bool {
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .killers
            .contains_key(&run)
    }

    /// Enters the run's killer in the table; a kill asked for earlier takes effect at once.
    pub(crate) fn register(&self, run: RunId, killer: Killer) {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if table.kills.contains(&run) {
            killer.kill();
        }
        table.killers.insert(run, killer);
    }

    /// Removes the run from the table; returns whether a kill had been asked for.
    pub(crate) fn unregister(&self, run: RunId) -> bool {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.killers.remove(&run);
        table.kills.remove(&run)
    }

    async fn execute(&self, a: Assignment) {
        let killer = Killer::new();
        self.register(a.run, killer.clone());
        if a.spec.repository.is_some() {
            self.execute_container(&a, killer).await;
        } else {
            self.execute_process(&a, killer).await;
        }
        self.unregister(a.run);
    }

    async fn execute_process(&self, a: &Assignment, killer: Killer) {
        let log_dir = self.log_dir(&a.spec.queue, &a.spec.name, a.schedule_time);
        let Some(argv) = a.spec.command.clone() else {
            self.finish_early(
                a,
                "the app has neither command nor repository".into(),
                ExitReason::StartFailed,
            );
            return;
        };
        let spec = ProcessSpec {
            argv,
            env: environment(a),
            workdir: log_dir.clone(),
            log_dir,
            timeout: timeout(&a.spec),
            kill_grace: self.config.kill_grace,
            attempt: Some(a.attempt),
            resources: Resources::new(a.spec.cores, a.spec.mems),
            cgroup: Some(cgroup_name(a.run, a.attempt)),
        };
        let process = match self.runtimes.process.start_with_killer(spec, killer).await {
            Ok(process) => process,
            Err(e) => {
                self.finish_early(a, e.to_string(), ExitReason::StartFailed);
                return;
            }
        };
        let identity = process.identity();
        self.report(Report::Started {
            run: a.run,
            attempt: a.attempt,
            process: ProcessRef {
                pid: identity.pid,
                start_ticks: identity.start_ticks,
            },
            container: None,
            limits: self.limits(),
            at: Timestamp::now(),
        });
        let outcome = process.wait().await;
        self.report(finished(a.run, a.attempt, outcome));
    }

    async fn execute_container(&self, a: &Assignment, killer: Killer) {
        let image = a.spec.image().unwrap_or_default();
        let docker = match self.engine.get(self.runtimes.docker.as_ref()).await {
            Ok(docker) => docker,
            Err(why) => {
                let reason = format!(
                    "app {} is a Docker app ({image}) and node {} has {why}",
                    a.spec.key(),
                    self.config.node
                );
                self.finish_early(a, reason, ExitReason::EngineUnavailable);
                return;
            }
        };
        let log_dir = self.log_dir(&a.spec.queue, &a.spec.name, a.schedule_time);
        let mut labels = BTreeMap::from([
            (RUN_LABEL.to_string(), a.run.to_string()),
            (ATTEMPT_LABEL.to_string(), a.attempt.to_string()),
            (APP_LABEL.to_string(), a.spec.name.clone()),
            (QUEUE_LABEL.to_string(), a.spec.queue.clone()),
            (AGENT_LABEL.to_string(), self.id.clone()),
            (LOG_DIR_LABEL.to_string(), log_dir.display().to_string()),
        ]);
        if let Some(t) = timeout(&a.spec) {
            labels.insert(TIMEOUT_LABEL.to_string(), t.as_secs().to_string());
        }
        let mut spec = ContainerSpec {
            image,
            command: a.spec.command.clone(),
            env: environment(a),
            params: a.spec.params.to_string(),
            labels,
            name: Some(container_name(&self.id, a.run, a.attempt)),
            log_dir,
            logs: LogFiles::ROTA,
            binds: Vec::new(),
            timeout: timeout(&a.spec),
            kill_grace: self.config.kill_grace,
            attempt: Some(a.attempt),
            resources: Resources::new(a.spec.cores, a.spec.mems),
        };
        if let Some(script) = cosmos::script(&a.spec, self.config.cosmos_python.as_deref()) {
            spec = spec.cosmos(script, &cosmos::args(&a.spec, a.schedule_time));
            let log_dir = spec.log_dir.display().to_string();
            spec.labels.insert(LOG_DIR_LABEL.to_string(), log_dir);
            spec.labels
                .insert(CONTRACT_LABEL.to_string(), COSMOS_CONTRACT.to_string());
        }
        let container = match docker.start_with_killer(spec, killer).await {
            Ok(container) => container,
            Err(e) => {
                let (ending, exit_reason) = convert::docker_failure(&e);
                self.report(Report::Finished {
                    run: a.run,
                    attempt: a.attempt,
                    ending,
                    exit_reason,
                    exit_code: None,
                    reason: e.to_string(),
                    usage: Usage::default(),
                    at: Timestamp::now(),
                });
                return;
            }
        };
        let identity = container.identity();
        self.report(Report::Started {
            run: a.run,
            attempt: a.attempt,
            process: ProcessRef {
                pid: identity.map_or(0, |i| i.pid),
                start_ticks: identity.map_or(0, |i| i.start_ticks),
            },
            container: Some(container.id().to_string()),
            limits: Limits::Enforced {
                by: "docker".to_string(),
            },
            at: container.started_at(),
        });
        let outcome = container.wait().await;
        self.report(finished(a.run, a.attempt, outcome));
    }

    /// The attempt never started: failed for `why`, or killed if a kill came first.
    fn finish_early(&self, a: &Assignment, reason: String, why: ExitReason) {
        let killed = self
            .table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .kills
            .contains(&a.run);
        let (ending, exit_reason) = if killed {
            (Ending::Killed, ExitReason::Killed)
        } else {
            (Ending::Failed, why)
        };
        self.report(Report::Finished {
            run: a.run,
            attempt: a.attempt,
            ending,
            exit_reason,
            exit_code: None,
            reason,
            usage: Usage::default(),
            at: Timestamp::now(),
        });
    }

    pub(crate) fn report(&self, report: Report) {
        if self.reports.send(report).is_err() {
            tracing::warn!("the server stopped listening to this agent's reports");
        }
    }
}

/// The report of an attempt that ended. One the runtime lost track of (its engine went away)
/// ended `lost`, so that the retry policy treats it as such.
pub(crate) fn finished(run: RunId, attempt: u32, outcome: Outcome) -> Report {
    let ending = match outcome.exit_reason {
        rota_runtime::ExitReason::Lost => Ending::Lost,
        _ => convert::ending(outcome.ending),
    };
    Report::Finished {
        run,
        attempt,
        ending,
        exit_reason: convert::exit_reason(outcome.exit_reason),
        exit_code: outcome.exit_code,
        reason: outcome.reason,
        usage: convert::usage(outcome.usage),
        at: outcome.ended_at,
    }
}

fn timeout(spec: &AppSpec) -> Option<Duration> {
    spec.timeout.map(|t| Duration::from_secs(t.unsigned_abs()))
}

/// The run's environment: rota's variables, then the app's own `env`.
fn environment(a: &Assignment) -> Vec<(String, String)> {
    let mut env = vec![
        ("ROTA_PARAMS".to_string(), a.spec.params.to_string()),
        ("ROTA_APP".to_string(), a.spec.name.clone()),
        ("ROTA_QUEUE".to_string(), a.spec.queue.clone()),
        (
            "ROTA_SCHEDULE_TIME".to_string(),
            a.schedule_time.to_string(),
        ),
        ("ROTA_RUN_ID".to_string(), a.run.to_string()),
        ("ROTA_ATTEMPT".to_string(), a.attempt.to_string()),
    ];
    env.extend(a.spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}
