//! What to run as a container, and how the engine is reached: the specs the agent fills in, and
//! the container configuration built from them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig};

use crate::cgroup::Resources;
use crate::spec::DEFAULT_KILL_GRACE;
use crate::start_log::LogFiles;

/// The label that ties a container to its run; [`crate::DockerRuntime::find_runs`] lists the
/// containers that have it.
pub const RUN_LABEL: &str = "rota.run";
/// The label with the attempt number.
pub const ATTEMPT_LABEL: &str = "rota.attempt";
/// The label with the app's name.
pub const APP_LABEL: &str = "rota.app";
/// The label with the app's queue.
pub const QUEUE_LABEL: &str = "rota.queue";
/// Where the run's params are mounted in the container.
pub const PARAMS_PATH: &str = "/rota/params.json";
/// The file in the run's log directory that is mounted at [`PARAMS_PATH`].
pub const PARAMS_FILE: &str = "params.json";

/// How the engine is reached and what every container gets (Cosmos' `docker.*` settings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DockerConfig {
    /// The engine's unix socket.
    pub socket: PathBuf,
    /// The longest a pull may take (Cosmos' `docker.image.pull.timeout`).
    pub pull_timeout: Duration,
    /// The host directory mounted at `/tmp` in every container (Cosmos' `docker.container.tmp`);
    /// made if missing.
    pub tmp_dir: PathBuf,
    /// The containers' network mode; `host`, as in Cosmos.
    pub network_mode: String,
    /// The longest the engine may take to answer one request (not to finish a pull or a wait).
    /// `docker stop` answers only once the container has stopped, so a kill grace longer than
    /// this is cut to it (then `docker kill`).
    pub request_timeout: Duration,
}

impl Default for DockerConfig {
    /// The socket of `DOCKER_HOST` when it is a `unix://` address, else `/var/run/docker.sock`
    /// (rota speaks to the engine over its unix socket only: a `tcp://` `DOCKER_HOST` is not
    /// used); pulls of at most 10 minutes; `<temp dir>/rota-tmp` at `/tmp`; host networking.
    fn default() -> DockerConfig {
        let socket = std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|host| host.strip_prefix("unix://").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"));
        DockerConfig {
            socket,
            pull_timeout: Duration::from_secs(600),
            tmp_dir: std::env::temp_dir().join("rota-tmp"),
            network_mode: "host".to_string(),
            request_timeout: Duration::from_secs(120),
        }
    }
}

/// One attempt of a run, as a container. The agent fills it in from the app and the run.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerSpec {
    /// `repository:tag`; pulled unless present.
    pub image: String,
    /// Replaces the image's `CMD` when set (the image's `ENTRYPOINT` still applies).
    pub command: Option<Vec<String>>,
    /// Environment variables (`ROTA_PARAMS` and the others the process runtime gets).
    pub env: Vec<(String, String)>,
    /// The run's params as JSON, written to `log_dir/params.json` and mounted read-only at
    /// `/rota/params.json`.
    pub params: String,
    /// Labels that tie the container to its run ([`RUN_LABEL`] and the others).
    pub labels: BTreeMap<String, String>,
    /// The container's name; a container of the same name left by an earlier agent is removed
    /// first. The engine picks one when `None`.
    pub name: Option<String>,
    /// Where the runtime's two logs ([`ContainerSpec::logs`]) and `params.json` go; created if
    /// missing.
    pub log_dir: PathBuf,
    /// The names of the runtime's two logs in `log_dir`: `start.log` and `container.log`, or
    /// `rota-start.log` and `rota-container.log` beside an app that writes the first two
    /// itself ([`ContainerSpec::cosmos`]).
    pub logs: LogFiles,
    /// More bind mounts, in the engine's `HOST:CONTAINER[:OPTIONS]` form with an absolute
    /// `HOST`, after the `/tmp` and params mounts every container gets.
    pub binds: Vec<String>,
    /// Stopped (ending `TimedOut`) when still running this long after it started.
    pub timeout: Option<Duration>,
    /// Between `docker stop`'s SIGTERM and its SIGKILL.
    pub kill_grace: Duration,
    /// When set, `start.log` gets a line `--- attempt N ---` before this attempt's lines.
    pub attempt: Option<u32>,
    /// CPU (a hard quota, `NanoCpus`) and memory (`Memory`, with `MemorySwap` equal to it).
    pub resources: Resources,
}

impl ContainerSpec {
    /// A spec for `image` with no command override, environment, labels, limits or timeout,
    /// params `{}`, and [`DEFAULT_KILL_GRACE`].
    pub fn new(image: impl Into<String>, log_dir: impl Into<PathBuf>) -> ContainerSpec {
        ContainerSpec {
            image: image.into(),
            command: None,
            env: Vec::new(),
            params: "{}".to_string(),
            labels: BTreeMap::new(),
            name: None,
            log_dir: log_dir.into(),
            logs: LogFiles::ROTA,
            binds: Vec::new(),
            timeout: None,
            kill_grace: DEFAULT_KILL_GRACE,
            attempt: None,
            resources: Resources::default(),
        }
    }

    /// Sets the command.
    pub fn command<S: Into<String>>(mut self, argv: impl IntoIterator<Item = S>) -> ContainerSpec {
        self.command = Some(argv.into_iter().map(Into::into).collect());
        self
    }

    /// Adds one environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> ContainerSpec {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Adds one label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> ContainerSpec {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> ContainerSpec {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the grace period between SIGTERM and SIGKILL.
    pub fn kill_grace(mut self, grace: Duration) -> ContainerSpec {
        self.kill_grace = grace;
        self
    }

    /// Sets the limits.
    pub fn resources(mut self, resources: Resources) -> ContainerSpec {
        self.resources = resources;
        self
    }
}

/// How to take over a container found after an agent restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdoptSpec {
    /// The run's log directory: the rest of its output and steps are appended there.
    pub log_dir: PathBuf,
    /// The names of the runtime's two logs in it, as when the container was started.
    pub logs: LogFiles,
    /// The run's timeout, counted from when the container started.
    pub timeout: Option<Duration>,
    /// Between `docker stop`'s SIGTERM and its SIGKILL.
    pub kill_grace: Duration,
}

/// A container with the [`RUN_LABEL`] label, found on the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundContainer {
    /// The container's id.
    pub id: String,
    /// Its name, without the leading `/`.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Whether it is still running (else it has exited and waits to be removed).
    pub running: bool,
}

impl FoundContainer {
    /// The value of [`RUN_LABEL`].
    pub fn run(&self) -> Option<&str> {
        self.labels.get(RUN_LABEL).map(String::as_str)
    }

    /// The value of [`ATTEMPT_LABEL`], as a number.
    pub fn attempt(&self) -> Option<u32> {
        self.labels.get(ATTEMPT_LABEL)?.parse().ok()
    }
}

/// The engine's configuration of the container: limits, mounts, environment and labels.
/// `params_file` is the host path of `params.json` (absolute).
pub(crate) fn create_body(
    spec: &ContainerSpec,
    config: &DockerConfig,
    params_file: &Path,
) -> ContainerCreateBody {
    let mut binds = vec![
        format!("{}:/tmp", config.tmp_dir.display()),
        format!("{}:{PARAMS_PATH}:ro", params_file.display()),
    ];
    binds.extend(spec.binds.iter().cloned());
    let memory = spec.resources.memory_bytes.map(|b| b as i64);
    let host_config = HostConfig {
        nano_cpus: spec.resources.cores.map(|c| (c * 1e9).round() as i64),
        memory,
        // Memory plus swap equal to memory: no swap at all.
        memory_swap: memory,
        binds: Some(binds),
        network_mode: Some(config.network_mode.clone()),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: spec.command.clone(),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(
            spec.labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>(),
        ),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(false),
        host_config: Some(host_config),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_a_real_cpu_quota_and_memory_without_swap() {
        let spec = ContainerSpec::new("rota-test/busybox:1", "/logs/q/a/20260101000000")
            .command(["sh", "-c", "echo hi"])
            .env("ROTA_PARAMS", r#"{"a":1}"#)
            .label(RUN_LABEL, "42")
            .label(ATTEMPT_LABEL, "2")
            .resources(Resources::new(0.5, 64));
        let config = DockerConfig {
            tmp_dir: "/var/tmp/rota".into(),
            ..DockerConfig::default()
        };
        let body = create_body(
            &spec,
            &config,
            Path::new("/logs/q/a/20260101000000/params.json"),
        );
        let host = body.host_config.as_ref().unwrap();
        assert_eq!(host.nano_cpus, Some(500_000_000));
        assert_eq!(host.memory, Some(64 << 20));
        assert_eq!(host.memory_swap, Some(64 << 20));
        assert_eq!(host.cpu_shares, None, "a quota, not a share");
        assert_eq!(
            host.binds.as_deref(),
            Some(
                &[
                    "/var/tmp/rota:/tmp".to_string(),
                    "/logs/q/a/20260101000000/params.json:/rota/params.json:ro".to_string()
                ][..]
            )
        );
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        assert_eq!(body.image.as_deref(), Some("rota-test/busybox:1"));
        assert_eq!(
            body.env.as_deref(),
            Some(&[r#"ROTA_PARAMS={"a":1}"#.to_string()][..])
        );
        let labels = body.labels.unwrap();
        assert_eq!(labels["rota.run"], "42");
        assert_eq!(labels["rota.attempt"], "2");
        assert_eq!(body.cmd.unwrap(), ["sh", "-c", "echo hi"]);
    }

    #[test]
    fn a_found_container_names_its_run_and_attempt() {
        let found = FoundContainer {
            id: "abc".into(),
            name: "rota-42-2".into(),
            labels: [
                (RUN_LABEL.to_string(), "42".to_string()),
                (ATTEMPT_LABEL.to_string(), "2".to_string()),
            ]
            .into(),
            running: true,
        };
        assert_eq!(found.run(), Some("42"));
        assert_eq!(found.attempt(), Some(2));
    }
}
