//! What to run: the process spec that the agent builds.

use std::path::PathBuf;
use std::time::Duration;

use crate::cgroup::Resources;

/// How long a process may take to stop after SIGTERM unless the spec says otherwise (Docker's
/// default for `docker stop`).
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(10);

/// One attempt of a run, as a plain process. The agent fills it in from the app and the run; the
/// runtime knows nothing about apps.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessSpec {
    /// The program and its arguments; must not be empty. `argv[0]` is looked up in `PATH` (the
    /// `PATH` of `env` if it sets one) unless it contains a `/`.
    pub argv: Vec<String>,
    /// Variables added to (or overriding) the environment inherited from the agent.
    pub env: Vec<(String, String)>,
    /// The working directory, created if missing.
    pub workdir: PathBuf,
    /// Where `start.log` and `container.log` are appended to; created if missing. Several attempts
    /// of one run share it.
    pub log_dir: PathBuf,
    /// Killed (ending `TimedOut`) when still running this long after it started.
    pub timeout: Option<Duration>,
    /// Between SIGTERM to the process group and SIGKILL to whatever is left of it.
    pub kill_grace: Duration,
    /// When set, `start.log` gets a line `--- attempt N ---` before this attempt's lines.
    pub attempt: Option<u32>,
    /// CPU and memory limits, enforced by the run's cgroup (or by rlimits where the runtime has
    /// no cgroups: see [`crate::ProcessRuntime::limits`]).
    pub resources: Resources,
    /// The name of the run's cgroup under the runtime's parent cgroup; unique among the
    /// attempts running on the node, and known again after an agent restart so that
    /// [`crate::ProcessRuntime::reclaim`] can find it. A generated name when `None`.
    pub cgroup: Option<String>,
}

impl ProcessSpec {
    /// A spec with an empty extra environment, no timeout, [`DEFAULT_KILL_GRACE`], no attempt
    /// number, no limits and a generated cgroup name.
    pub fn new<S: Into<String>>(
        argv: impl IntoIterator<Item = S>,
        workdir: impl Into<PathBuf>,
        log_dir: impl Into<PathBuf>,
    ) -> ProcessSpec {
        ProcessSpec {
            argv: argv.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            workdir: workdir.into(),
            log_dir: log_dir.into(),
            timeout: None,
            kill_grace: DEFAULT_KILL_GRACE,
            attempt: None,
            resources: Resources::default(),
            cgroup: None,
        }
    }

    /// Adds one environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> ProcessSpec {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> ProcessSpec {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the grace period between SIGTERM and SIGKILL.
    pub fn kill_grace(mut self, grace: Duration) -> ProcessSpec {
        self.kill_grace = grace;
        self
    }

    /// Sets the attempt number written as a separator in `start.log`.
    pub fn attempt(mut self, attempt: u32) -> ProcessSpec {
        self.attempt = Some(attempt);
        self
    }

    /// Sets the CPU and memory limits.
    pub fn resources(mut self, resources: Resources) -> ProcessSpec {
        self.resources = resources;
        self
    }

    /// Names the run's cgroup.
    pub fn cgroup(mut self, name: impl Into<String>) -> ProcessSpec {
        self.cgroup = Some(name.into());
        self
    }
}
