//! The Docker runtime: one attempt of a run as a container, through the Engine API (bollard,
//! version negotiated with the engine, which on Debian speaks API 1.41).

mod cosmos;
mod error;
mod image;
mod output;
mod spec;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use jiff::Timestamp;

pub use cosmos::{COSMOS_SCRIPT, CosmosArgs, url_encode};
pub use error::DockerError;
pub use spec::{
    APP_LABEL, ATTEMPT_LABEL, AdoptSpec, ContainerSpec, DockerConfig, FoundContainer, PARAMS_FILE,
    PARAMS_PATH, QUEUE_LABEL, RUN_LABEL,
};
pub use watch::RunningContainer;

use crate::cgroup::cgroup_of_pid;
use crate::process::Killer;
use crate::procfs::{ProcessIdentity, read_stat};
use crate::start_log::{StartLog, open_run_log};
use error::{Failure, failure, step_error};
use watch::Watch;

/// Runs attempts as containers of one Docker engine. Cheap to clone.
#[derive(Clone, Debug)]
pub struct DockerRuntime {
    docker: Docker,
    config: Arc<DockerConfig>,
}

impl DockerRuntime {
    /// Connects to the engine at `config.socket` and agrees on the API version with it.
    /// [`DockerError::EngineUnavailable`] when nothing answers there.
    pub async fn connect(config: DockerConfig) -> Result<DockerRuntime, DockerError> {
        let unavailable = |message: String| DockerError::EngineUnavailable {
            socket: config.socket.clone(),
            message,
        };
        let socket = config.socket.to_string_lossy().into_owned();
        let docker = Docker::connect_with_unix(
            &socket,
            config.request_timeout.as_secs().max(1),
            bollard::API_DEFAULT_VERSION,
        )
        .map_err(|e| unavailable(e.to_string()))?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        tracing::debug!(socket, api = %docker.client_version(), "connected to the Docker engine");
        Ok(DockerRuntime {
            docker,
            config: Arc::new(config),
        })
    }

    /// How it reaches the engine.
    pub fn config(&self) -> &DockerConfig {
        &self.config
    }

    /// The Engine API version agreed on (`1.41` with Debian's engine).
    pub fn api_version(&self) -> String {
        self.docker.client_version().to_string()
    }

    /// The bollard client, for tests and tools that need more of the API.
    #[doc(hidden)]
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// Starts one attempt: pulls the image unless present, writes `params.json`, creates the
    /// container with its limits, mounts and labels, streams its output to
    /// `log_dir/container.log`, starts it, and records each step in `log_dir/start.log` (or
    /// `rota-container.log` and `rota-start.log`, as [`ContainerSpec::logs`] says).
    ///
    /// Returns once the container has started. From then on a task of the current tokio
    /// runtime watches it, enforces the timeout, and removes it once it has exited.
    pub async fn start(&self, spec: ContainerSpec) -> Result<RunningContainer, DockerError> {
        self.start_with_killer(spec, Killer::new()).await
    }

    /// [`DockerRuntime::start`] with a killer made beforehand: a kill asked for during the pull
    /// abandons it ([`DockerError::KilledBeforeStart`]); one asked for later stops the
    /// container as soon as it runs.
    pub async fn start_with_killer(
        &self,
        spec: ContainerSpec,
        killer: Killer,
    ) -> Result<RunningContainer, DockerError> {
        let mut log = open_run_log(&spec.log_dir, spec.logs.start, spec.attempt)
            .map_err(|(path, source)| DockerError::LogDir { path, source })?;
        match self.launch(&spec, &killer, &mut log).await {
            Ok(running) => Ok(running),
            Err(err) => {
                log.line(format_args!("start failed: {err}"));
                tracing::debug!(%err, image = spec.image, "container did not start");
                Err(err)
            }
        }
    }

    async fn launch(
        &self,
        spec: &ContainerSpec,
        killer: &Killer,
        log: &mut StartLog,
    ) -> Result<RunningContainer, DockerError> {
        let socket = &self.config.socket;
        image::ensure_image(
            &self.docker,
            socket,
            &spec.image,
            self.config.pull_timeout,
            log,
            &killer.notify,
        )
        .await?;
        let params_file = write_params(&spec.log_dir, &spec.params)?;
        std::fs::create_dir_all(&self.config.tmp_dir).map_err(|source| DockerError::LogDir {
            path: self.config.tmp_dir.clone(),
            source,
        })?;
        let id = self.create(spec, &params_file, log).await?;

        let output = match self.attach(&id, &spec.log_dir.join(spec.logs.output)).await {
            Ok(output) => output,
            Err(err) => {
                self.remove_quietly(&id).await;
                return Err(err);
            }
        };
        let started_at = Timestamp::now();
        if let Err(err) = self.docker.start_container(&id, None).await {
            output.abort();
            self.remove_quietly(&id).await;
            return Err(step_error("start", &err, socket));
        }
        let started = Instant::now();
        let pid = self.pid_of(&id).await;
        let identity = pid.and_then(|pid| {
            read_stat(pid).ok().map(|stat| ProcessIdentity {
                pid,
                start_ticks: stat.start_ticks,
            })
        });
        log.line(format_args!(
            "start container {} pid={}",
            short(&id),
            pid.map_or("none (already exited)".to_string(), |p| p.to_string())
        ));
        let watch = Watch {
            docker: self.docker.clone(),
            socket: socket.clone(),
            id: id.clone(),
            log: log.clone(),
            timeout: spec.timeout,
            timeout_at: spec.timeout.map(|t| started + t),
            grace: spec.kill_grace,
            kill: killer.notify.clone(),
            started_at,
            output: Some(output),
            probe: pid.and_then(cgroup_of_pid),
        };
        Ok(RunningContainer::new(
            id,
            identity,
            started_at,
            killer.clone(),
            watch,
        ))
    }

    /// Creates the container; a container of the same name (left by an earlier agent) is
    /// removed first.
    async fn create(
        &self,
        spec: &ContainerSpec,
        params_file: &Path,
        log: &mut StartLog,
    ) -> Result<String, DockerError> {
        let body = spec::create_body(spec, &self.config, params_file);
        let options = || {
            spec.name
                .as_deref()
                .map(|name| CreateContainerOptionsBuilder::new().name(name).build())
        };
        let created = match self.docker.create_container(options(), body.clone()).await {
            Err(err) if matches!(failure(&err), Failure::Status(409, _)) && spec.name.is_some() => {
                let name = spec.name.as_deref().unwrap_or_default();
                log.line(format_args!(
                    "a container named {name} was left behind: removing it"
                ));
                self.remove_quietly(name).await;
                self.docker.create_container(options(), body).await
            }
            other => other,
        }
        .map_err(|err| step_error("create", &err, &self.config.socket))?;
        let cores = spec
            .resources
            .cores
            .map_or("unlimited".to_string(), |c| c.to_string());
        let memory = spec
            .resources
            .memory_bytes
            .map_or("unlimited".to_string(), |b| {
                format!("{}MB", b / (1024 * 1024))
            });
        log.line(format_args!(
            "create container {} image={} cores={cores} memory={memory}{}{}",
            short(&created.id),
            spec.image,
            spec.name
                .as_deref()
                .map(|n| format!(" name={n}"))
                .unwrap_or_default(),
            spec.binds
                .iter()
                .map(|b| format!(" mount={b}"))
                .collect::<String>()
        ));
        for warning in &created.warnings {
            log.line(format_args!("engine warning: {warning}"));
        }
        Ok(created.id)
    }

    /// Attaches to the container's stdout and stderr before it starts, so that nothing it
    /// prints is missed, and appends them to the file at `path`.
    async fn attach(
        &self,
        id: &str,
        path: &Path,
    ) -> Result<tokio::task::JoinHandle<()>, DockerError> {
        let options = AttachContainerOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .stream(true)
            .logs(true)
            .build();
        let attached = self
            .docker
            .attach_container(id, Some(options))
            .await
            .map_err(|err| step_error("attach", &err, &self.config.socket))?;
        Ok(output::copy(attached.output, path))
    }

    /// The host pid of the container's first process, if it still runs.
    async fn pid_of(&self, id: &str) -> Option<i32> {
        let inspected = self.docker.inspect_container(id, None).await.ok()?;
        let pid = inspected.state?.pid?;
        (pid > 0).then_some(pid as i32)
    }

    /// Lists the containers, running or exited, that carry the [`RUN_LABEL`] label: after an
    /// agent restart, those its runs left.
    pub async fn find_runs(&self) -> Result<Vec<FoundContainer>, DockerError> {
        let filters = std::collections::HashMap::from([("label", vec![RUN_LABEL])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let listed = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|err| step_error("list", &err, &self.config.socket))?;
        Ok(listed
            .into_iter()
            .filter_map(|c| {
                Some(FoundContainer {
                    id: c.id?,
                    name: c
                        .names
                        .and_then(|names| names.into_iter().next())
                        .map(|n| n.trim_start_matches('/').to_string())
                        .unwrap_or_default(),
                    labels: c.labels.unwrap_or_default().into_iter().collect(),
                    running: c
                        .state
                        .is_some_and(|s| s == bollard::models::ContainerSummaryStateEnum::RUNNING),
                })
            })
            .collect())
    }

    /// Takes over container `id` after an agent restart: it is not a child of this agent, but
    /// the engine still knows it. Appends its output since the restart to `container.log` (or
    /// the file [`AdoptSpec::logs`] names), from the time that file was last written, so a
    /// second of output may repeat; enforces what is left of its timeout, and once it exits
    /// records its real exit code and removes it, as for a container this agent started. A
    /// container that had already exited is waited for at once.
    pub async fn adopt(&self, id: &str, spec: AdoptSpec) -> Result<RunningContainer, DockerError> {
        let mut log = open_run_log(&spec.log_dir, spec.logs.start, None)
            .map_err(|(path, source)| DockerError::LogDir { path, source })?;
        let socket = &self.config.socket;
        let inspected = match self.docker.inspect_container(id, None).await {
            Ok(inspected) => inspected,
            Err(err) => {
                let err = step_error("inspect", &err, socket);
                log.line(format_args!("cannot adopt container {}: {err}", short(id)));
                return Err(err);
            }
        };
        let state = inspected.state.unwrap_or_default();
        let running = state.running.unwrap_or(false);
        let started_at = state
            .started_at
            .as_deref()
            .and_then(|t| t.parse::<Timestamp>().ok())
            .unwrap_or_else(Timestamp::now);
        let pid = state.pid.filter(|p| *p > 0).map(|p| p as i32);
        log.line(format_args!(
            "adopt container {} after an agent restart ({})",
            short(id),
            if running { "running" } else { "exited" }
        ));
        let output_log = spec.log_dir.join(spec.logs.output);
        let since = output::resume_point(&output_log).unwrap_or(started_at);
        let output = output::follow(&self.docker, id, since, running, &output_log);
        let ran_for = Timestamp::now()
            .duration_since(started_at)
            .try_into()
            .unwrap_or(Duration::ZERO);
        let now = Instant::now();
        let timeout_at = spec
            .timeout
            .map(|t| now + t.checked_sub(ran_for).unwrap_or(Duration::ZERO));
        let identity = pid.and_then(|pid| {
            read_stat(pid).ok().map(|stat| ProcessIdentity {
                pid,
                start_ticks: stat.start_ticks,
            })
        });
        let killer = Killer::new();
        let watch = Watch {
            docker: self.docker.clone(),
            socket: socket.clone(),
            id: id.to_string(),
            log,
            timeout: spec.timeout,
            timeout_at,
            grace: spec.kill_grace,
            kill: killer.notify.clone(),
            started_at,
            output: Some(output),
            probe: pid.and_then(cgroup_of_pid),
        };
        Ok(RunningContainer::new(
            id.to_string(),
            identity,
            started_at,
            killer,
            watch,
        ))
    }

    /// Removes container `id` whatever its state (SIGKILL if it runs): for a container left
    /// by an earlier agent that no run claims.
    pub async fn remove(&self, id: &str) -> Result<(), DockerError> {
        self.docker
            .remove_container(
                id,
                Some(
                    RemoveContainerOptionsBuilder::new()
                        .force(true)
                        .v(true)
                        .build(),
                ),
            )
            .await
            .map_err(|err| step_error("remove", &err, &self.config.socket))
    }

    async fn remove_quietly(&self, id: &str) {
        if let Err(err) = self.remove(id).await {
            tracing::warn!(container = id, %err, "cannot remove a container");
        }
    }
}

/// Writes the run's params to `log_dir/params.json`; returns its absolute path, for the bind
/// mount.
fn write_params(log_dir: &Path, params: &str) -> Result<PathBuf, DockerError> {
    let path = log_dir.join(PARAMS_FILE);
    let error = |source| DockerError::LogDir {
        path: path.clone(),
        source,
    };
    std::fs::write(&path, params).map_err(error)?;
    path.canonicalize().map_err(error)
}

/// The first 12 characters of a container id, as `docker ps` shows them.
pub(crate) fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
