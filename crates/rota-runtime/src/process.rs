//! The process runtime: spawn, watch, time out, kill, and make sure the process group is gone.

use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use nix::sys::signal::Signal;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until};

use crate::cgroup::{
    CgroupConfig, Confinement, Hierarchy, LINGER, Limits, OomSign, Pool, Resources, RunCgroup,
    Usage,
};
use crate::child::Child;
use crate::error::RuntimeError;
use crate::launch::{self, Program};
use crate::outcome::{Cause, Ending, ExitReason, Outcome, classify, fmt_duration, signal_name};
use crate::procfs::{
    GroupState, ProcessIdentity, group_reachable, read_stat, reap_own_zombie, scan_group,
    signal_group,
};
use crate::spec::ProcessSpec;
use crate::start_log::{CONTAINER_LOG, START_LOG, StartLog, open_append, open_run_log};

/// How long to wait for a SIGKILLed group to disappear before giving up on it.
const AFTER_SIGKILL: Duration = Duration::from_secs(2);
/// The first and the longest pause between two looks at a group whose leader has exited.
const GROUP_POLL_FIRST: Duration = Duration::from_millis(2);
const GROUP_POLL_MAX: Duration = Duration::from_millis(100);
/// How often a run's memory is sampled where the kernel keeps no peak of its own.
const MEMORY_SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// Runs attempts as plain processes, each in its own cgroup where the host allows. Cheap to
/// clone.
#[derive(Clone, Debug)]
pub struct ProcessRuntime {
    cgroups: Option<Arc<Hierarchy>>,
    /// The runs' cgroups, kept for reuse while runs keep coming.
    pool: Arc<Pool>,
    limits: Limits,
}

impl Default for ProcessRuntime {
    /// [`ProcessRuntime::new`].
    fn default() -> ProcessRuntime {
        ProcessRuntime::new()
    }
}

impl ProcessRuntime {
    /// A runtime that makes the runs' cgroups under the agent's own cgroup, in a directory
    /// named `rota` ([`CgroupConfig::default`]).
    pub fn new() -> ProcessRuntime {
        ProcessRuntime::with_cgroups(&CgroupConfig::default())
    }

    /// A runtime that makes the runs' cgroups where `config` says. Finds the host's layout
    /// from `/proc/self/mountinfo` and checks that the parent cgroup can be made; when it
    /// cannot (not root, a read-only cgroupfs, no cpu or memory controller, or
    /// [`CgroupConfig::Disabled`]), runs are started without cgroups, memory is capped with
    /// `RLIMIT_AS` only, and [`ProcessRuntime::limits`] says why.
    pub fn with_cgroups(config: &CgroupConfig) -> ProcessRuntime {
        match Hierarchy::detect(config) {
            Ok(hierarchy) => ProcessRuntime {
                limits: Limits::Enforced {
                    by: hierarchy.describe(),
                },
                cgroups: Some(Arc::new(hierarchy)),
                pool: Arc::default(),
            },
            Err(reason) => ProcessRuntime {
                cgroups: None,
                pool: Arc::default(),
                limits: Limits::NotEnforced { reason },
            },
        }
    }

    /// Whether runs' limits are enforced, and by what or why not: for the agent to log at start
    /// and report.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The parent directories of the runs' cgroups, one per hierarchy used (none without
    /// cgroups). Each is made with the first run and removed with the last one.
    pub fn cgroup_parents(&self) -> Vec<PathBuf> {
        self.cgroups
            .as_ref()
            .map(|h| h.parents.iter().map(|p| p.dir.clone()).collect())
            .unwrap_or_default()
    }

    /// Removes the cgroups kept idle for the next runs (and with them the parent
    /// directories) now rather than a second after the last run, unless a run is active: for
    /// an agent that stops. Blocks on cgroupfs: call it off the async threads.
    pub fn remove_idle_cgroups(&self) {
        self.pool.remove_idle();
    }

    /// The names of the runs' cgroups that exist now, whoever made them.
    pub fn cgroups(&self) -> Vec<String> {
        self.cgroups
            .as_ref()
            .map(|h| h.children())
            .unwrap_or_default()
    }

    /// After an agent restart: kills every process left in the run's cgroup `name` (SIGKILL)
    /// and removes it. Returns how many processes it killed, or `None` when there is no such
    /// cgroup. Closes the gap that [`crate::kill_orphan`] leaves: processes that left the
    /// run's process group are still in its cgroup.
    ///
    /// Blocks up to 2 s while the killed processes exit: call it off the async threads.
    pub fn reclaim(&self, name: &str) -> Option<io::Result<usize>> {
        let cgroup = self.cgroups.as_ref()?.find(name)?;
        Some(cgroup.reclaim())
    }

    /// Starts one attempt: creates the log and working directories, makes the run's cgroup with
    /// the spec's limits (or, without cgroups, prepares `RLIMIT_AS`), appends the process's
    /// stdout and stderr to `log_dir/container.log`, spawns it as the leader of a new session
    /// and process group (`setsid`) that joins its cgroup before `exec`, and records what it did
    /// in `log_dir/start.log`.
    ///
    /// Returns once the program has been executed. From then on a task of the current tokio
    /// runtime watches it and enforces the timeout, whether or not [`RunningProcess::wait`] is
    /// called; once it has ended, whatever is left in its cgroup is killed and the cgroup is
    /// removed (on cgroup v1, kept for the next run while other runs are active). The program
    /// is started with `clone(CLONE_VM | CLONE_VFORK)`, not `fork`, so the cost of a start does
    /// not grow with the agent's memory. A failure to start is returned and, except when the log directory itself is not
    /// writable, also written to `start.log`.
    ///
    /// Must be called within a tokio runtime. The file operations (log and working
    /// directories, log files, the cgroup, the spawn, one `/proc` read) run on blocking
    /// threads: a directory made on a busy file system can take milliseconds, and the async
    /// threads must go on answering requests meanwhile.
    pub async fn start(&self, spec: ProcessSpec) -> Result<RunningProcess, RuntimeError> {
        self.start_with_killer(spec, Killer::new()).await
    }

    /// [`ProcessRuntime::start`] with a killer made beforehand: a kill asked for before the
    /// process started stops it as soon as it has.
    pub async fn start_with_killer(
        &self,
        spec: ProcessSpec,
        killer: Killer,
    ) -> Result<RunningProcess, RuntimeError> {
        let program = spec.argv.first().cloned().unwrap_or_default();
        let prepared = tokio::task::spawn_blocking({
            let runtime = self.clone();
            let spec = spec.clone();
            move || runtime.prepare_and_spawn(&spec)
        })
        .await
        .unwrap_or_else(|e| {
            Err(StartFailure {
                err: RuntimeError::Spawn {
                    program,
                    source: io::Error::other(e),
                },
                made: None,
            })
        });
        let Prepared {
            log,
            cgroup,
            spawned,
        } = match prepared {
            Ok(prepared) => prepared,
            Err(StartFailure { err, made }) => {
                if let Some((mut log, Some(cgroup))) = made {
                    remove_cgroup(&self.pool, cgroup, spec.resources, &mut log).await;
                }
                return Err(err);
            }
        };
        let pid = spawned.identity.pid;
        tracing::debug!(pid, argv = ?spec.argv, "process started");

        let supervisor = Supervisor {
            child: spawned.child,
            pgid: pid,
            log,
            timeout: spec.timeout,
            grace: spec.kill_grace,
            kill: killer.notify.clone(),
            started: spawned.started,
            started_at: spawned.started_at,
            cgroup: cgroup.clone(),
            pool: self.pool.clone(),
            resources: spec.resources,
            sampled_peak: None,
        };
        Ok(RunningProcess {
            identity: spawned.identity,
            started_at: spawned.started_at,
            killer,
            cgroup,
            task: tokio::spawn(supervisor.run()),
        })
    }

    /// Everything a start does that blocks, in one go off the async threads: the log directory
    /// and `start.log`, the run's cgroup (an idle one of the pool renamed, or a new one; a
    /// stale cgroup of the same name is emptied first, which waits for its processes to die),
    /// the spawn. Each failure is written to `start.log` once it exists.
    fn prepare_and_spawn(&self, spec: &ProcessSpec) -> Result<Prepared, StartFailure> {
        let mut log = open_logs(spec).map_err(|err| StartFailure { err, made: None })?;
        let failed = |mut log: StartLog, cgroup: Option<RunCgroup>, err: RuntimeError| {
            log.line(format_args!("start failed: {err}"));
            StartFailure {
                err,
                made: Some((log, cgroup)),
            }
        };
        let cgroup = match self.acquire_cgroup(spec) {
            Ok(cgroup) => cgroup,
            Err(err) => return Err(failed(log, None, err)),
        };
        log.line(format_args!(
            "{}",
            self.describe_limits(spec, cgroup.as_ref())
        ));
        let confinement = match &cgroup {
            Some(made) => match made.open_procs() {
                Ok(files) => Confinement::cgroup(files),
                Err(source) => {
                    let path = made.path();
                    return Err(failed(log, cgroup, RuntimeError::Cgroup { path, source }));
                }
            },
            None => Confinement::rlimits(spec.resources.memory_bytes),
        };
        let spawned = spawn(spec, &confinement);
        drop(confinement);
        match spawned {
            Ok(spawned) => {
                log.line(format_args!(
                    "start pid={} argv={} workdir={}",
                    spawned.identity.pid,
                    serde_json::to_string(&spec.argv)
                        .unwrap_or_else(|_| format!("{:?}", spec.argv)),
                    spec.workdir.display()
                ));
                Ok(Prepared {
                    log,
                    cgroup,
                    spawned,
                })
            }
            Err(err) => {
                tracing::debug!(%err, argv = ?spec.argv, "process did not start");
                Err(failed(log, cgroup, err))
            }
        }
    }

    /// The run's cgroup with its limits, from the pool; `None` without cgroups. Blocks.
    fn acquire_cgroup(&self, spec: &ProcessSpec) -> Result<Option<RunCgroup>, RuntimeError> {
        let Some(hierarchy) = &self.cgroups else {
            return Ok(None);
        };
        let name = spec.cgroup.clone().unwrap_or_else(generated_cgroup_name);
        self.pool
            .acquire(hierarchy, &name, &spec.resources)
            .map(Some)
            .map_err(|source| RuntimeError::Cgroup {
                path: self
                    .cgroup_parents()
                    .first()
                    .map(|p| p.join(&name))
                    .unwrap_or_else(|| PathBuf::from(&name)),
                source,
            })
    }

    /// `limits cgroup=/sys/fs/cgroup/memory/rota/run-1-1 cores=0.5 memory=32MB`, or
    /// `limits not enforced (no cgroups: REASON) memory=32MB by RLIMIT_AS`.
    fn describe_limits(&self, spec: &ProcessSpec, cgroup: Option<&RunCgroup>) -> String {
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
        match (cgroup, &self.limits) {
            (Some(cgroup), _) => format!(
                "limits cgroup={} cores={cores} memory={memory}",
                cgroup.path().display()
            ),
            (None, Limits::NotEnforced { reason }) => format!(
                "limits not enforced (no cgroups: {reason}): cores={cores} not limited, memory={memory} by RLIMIT_AS"
            ),
            (None, Limits::Enforced { .. }) => format!("limits cores={cores} memory={memory}"),
        }
    }
}

/// `run-<agent pid>-<n>`: unique among this agent's runs.
fn generated_cgroup_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "run-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Gives a run's cgroup (made with `resources`) back to the pool off the async threads, which
/// keeps it for another run or empties and removes it; a failure goes to `start.log`.
async fn remove_cgroup(
    pool: &Arc<Pool>,
    cgroup: RunCgroup,
    resources: Resources,
    log: &mut StartLog,
) {
    give_back(pool, cgroup, resources, log, |_| ()).await;
}

/// Reads what `read` takes from a run's cgroup (made with `resources`), then gives it back to
/// the pool, in one go off the async threads. The pool keeps it for another run or empties and
/// removes it; a failure goes to `start.log`. When it was the last active run, the pool's idle
/// cgroups are removed [`LINGER`] later unless another run has begun by then. `None` only if
/// the blocking thread panicked.
async fn give_back<R: Send + 'static>(
    pool: &Arc<Pool>,
    cgroup: RunCgroup,
    resources: Resources,
    log: &mut StartLog,
    read: impl FnOnce(&RunCgroup) -> R + Send + 'static,
) -> Option<R> {
    let path = cgroup.path();
    let done = tokio::task::spawn_blocking({
        let pool = pool.clone();
        move || {
            let read = read(&cgroup);
            (read, pool.release(cgroup, resources))
        }
    })
    .await;
    let (read, result) = match done {
        Ok((read, result)) => (Some(read), result),
        Err(e) => (None, Err(io::Error::other(e))),
    };
    match result {
        Ok(released) => {
            if released.killed > 0 {
                log.line(format_args!(
                    "{} left in cgroup {}: SIGKILL",
                    count_processes(released.killed),
                    path.display()
                ));
            }
            if let Some(quiet) = released.quiet {
                let pool = pool.clone();
                tokio::spawn(async move {
                    sleep(LINGER).await;
                    let _ = tokio::task::spawn_blocking(move || pool.drain(quiet)).await;
                });
            }
        }
        Err(err) => {
            log.line(format_args!(
                "cannot remove cgroup {}: {err}",
                path.display()
            ));
            tracing::warn!(cgroup = %path.display(), %err, "a run's cgroup is left behind");
        }
    }
    read
}

/// What a start made before it returns: the run's `start.log`, its cgroup, and the child.
struct Prepared {
    log: StartLog,
    cgroup: Option<RunCgroup>,
    spawned: Spawned,
}

/// A start that failed: why, and the `start.log` and cgroup it had made by then (the cgroup
/// to be given back).
struct StartFailure {
    err: RuntimeError,
    made: Option<(StartLog, Option<RunCgroup>)>,
}

/// Creates the log directory, opens `start.log` and writes the attempt separator.
fn open_logs(spec: &ProcessSpec) -> Result<StartLog, RuntimeError> {
    open_run_log(&spec.log_dir, START_LOG, spec.attempt)
        .map_err(|(path, source)| RuntimeError::LogDir { path, source })
}

/// A child that has executed its program.
struct Spawned {
    child: Child,
    identity: ProcessIdentity,
    started: Instant,
    started_at: Timestamp,
}

fn spawn(spec: &ProcessSpec, confinement: &Confinement) -> Result<Spawned, RuntimeError> {
    let program = spec.argv.first().ok_or(RuntimeError::EmptyArgv)?;
    fs::create_dir_all(&spec.workdir).map_err(|source| RuntimeError::Workdir {
        path: spec.workdir.clone(),
        source,
    })?;
    let container_log = spec.log_dir.join(CONTAINER_LOG);
    let output = open_append(&container_log).map_err(|source| RuntimeError::LogDir {
        path: container_log,
        source,
    })?;

    let stdin = File::open("/dev/null").map_err(|source| spawn_error(program, source))?;
    let launch = Program::new(&spec.argv, &spec.env, &spec.workdir)
        .map_err(|source| spawn_error(program, source))?;
    let confine = confinement.in_child();
    let started_at = Timestamp::now();
    let started = Instant::now();
    let pid = launch::spawn(
        &launch,
        [stdin.as_raw_fd(), output.as_raw_fd(), output.as_raw_fd()],
        &confine,
    )
    .map_err(|source| spawn_error(program, source))?;
    // Our copies of /dev/null and container.log must not outlive the spawn: the child has its
    // own.
    drop((stdin, output));
    let mut child = match Child::new(pid) {
        Ok(child) => child,
        Err(source) => {
            signal_group(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
            return Err(RuntimeError::Spawn {
                program: program.to_string(),
                source,
            });
        }
    };
    match read_stat(pid) {
        Ok(stat) => Ok(Spawned {
            child,
            identity: ProcessIdentity {
                pid,
                start_ticks: stat.start_ticks,
            },
            started,
            started_at,
        }),
        Err(source) => {
            // Without an identity the agent could not reconcile it after a restart: do not run it.
            signal_group(pid, Signal::SIGKILL);
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
            Err(RuntimeError::Identity { pid, source })
        }
    }
}

fn spawn_error(program: &str, source: io::Error) -> RuntimeError {
    let program = program.to_string();
    match source.kind() {
        io::ErrorKind::NotFound => RuntimeError::NotFound { program },
        io::ErrorKind::PermissionDenied => RuntimeError::PermissionDenied { program },
        _ => RuntimeError::Spawn { program, source },
    }
}

/// A started process. Dropping it does not stop it: the watching task still enforces the
/// timeout and cleans up the group, and the outcome is then lost.
#[derive(Debug)]
pub struct RunningProcess {
    identity: ProcessIdentity,
    started_at: Timestamp,
    killer: Killer,
    cgroup: Option<RunCgroup>,
    task: JoinHandle<Outcome>,
}

impl RunningProcess {
    /// The pid (also the process group id) and start time, to persist for reconciliation.
    pub fn identity(&self) -> ProcessIdentity {
        self.identity
    }

    /// When the process was spawned.
    pub fn started_at(&self) -> Timestamp {
        self.started_at
    }

    /// A handle that can ask for the process to be killed, from anywhere.
    pub fn killer(&self) -> Killer {
        self.killer.clone()
    }

    /// The run's cgroup directory (the memory controller's where there is one), if it has one.
    pub fn cgroup_path(&self) -> Option<PathBuf> {
        self.cgroup.as_ref().map(RunCgroup::path)
    }

    /// What the run has used so far, read from its cgroup (empty without one).
    pub fn usage(&self) -> Usage {
        self.cgroup
            .as_ref()
            .map(RunCgroup::usage)
            .unwrap_or_default()
    }

    /// Resolves once the process has exited and its whole process group is gone (or has been sent
    /// SIGKILL and did not vanish within a bound; only zombies whose parent is another process,
    /// or processes stuck in the kernel, survive that).
    pub async fn wait(self) -> Outcome {
        match self.task.await {
            Ok(outcome) => outcome,
            // Only if the watching task panicked or its runtime is shutting down.
            Err(err) => Outcome {
                ending: Ending::Failed,
                exit_reason: ExitReason::Lost,
                exit_code: None,
                signal: None,
                reason: format!("lost track of pid {}: {err}", self.identity.pid),
                usage: Usage::default(),
                started_at: self.started_at,
                ended_at: Timestamp::now(),
            },
        }
    }
}

/// Asks for a running process to be killed: SIGTERM to its process group, then SIGKILL after
/// the spec's grace. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Killer {
    pub(crate) notify: Arc<Notify>,
}

impl Killer {
    /// A killer for an attempt not started yet: pass it to
    /// [`ProcessRuntime::start_with_killer`] (or the Docker runtime's equivalent). A kill asked
    /// for before the start is kept and acted on once the attempt runs.
    pub fn new() -> Killer {
        Killer::default()
    }

    /// Asks for the kill and returns at once; the attempt then ends `Killed`, unless it had already
    /// ended or timed out. Asking again, or after the end, does nothing.
    pub fn kill(&self) {
        self.notify.notify_one();
    }
}

/// The task that owns the child from spawn to outcome.
struct Supervisor {
    child: Child,
    pgid: i32,
    log: StartLog,
    timeout: Option<Duration>,
    grace: Duration,
    kill: Arc<Notify>,
    started: Instant,
    started_at: Timestamp,
    cgroup: Option<RunCgroup>,
    pool: Arc<Pool>,
    /// The limits the cgroup was given.
    resources: Resources,
    /// The highest memory use seen, where the kernel keeps no peak of its own.
    sampled_peak: Option<u64>,
}

/// What happened first while the process ran.
enum First {
    Exited(io::Result<ExitStatus>),
    Signalled(Cause),
}

impl Supervisor {
    async fn run(mut self) -> Outcome {
        let pgid = self.pgid;
        let timeout_at = self.timeout.map(|t| self.started + t);
        let mut sample_at = self
            .cgroup
            .as_ref()
            .filter(|c| !c.keeps_peak())
            .map(|_| Instant::now());
        let first = loop {
            tokio::select! {
                biased;
                status = self.child.wait() => break First::Exited(status),
                () = self.kill.notified() => break First::Signalled(Cause::Kill),
                () = sleep_until_some(timeout_at) => {
                    break First::Signalled(Cause::Timeout(self.timeout.unwrap_or_default()))
                }
                () = sleep_until_some(sample_at) => {
                    self.sample_memory();
                    sample_at = Some(Instant::now() + MEMORY_SAMPLE_EVERY);
                }
            }
        };

        let mut cause = None;
        // When SIGKILL is due if anything of the group is still running, once SIGTERM was sent.
        let mut kill_at = None;
        let mut hard_killed = false;
        let status = match first {
            First::Exited(status) => status,
            First::Signalled(signalled) => {
                cause = Some(signalled);
                match signalled {
                    Cause::Timeout(after) => self.log.line(format_args!(
                        "timeout after {}: SIGTERM to process group {pgid}",
                        fmt_duration(after)
                    )),
                    Cause::Kill => self.log.line(format_args!(
                        "kill requested: SIGTERM to process group {pgid}"
                    )),
                }
                signal_group(pgid, Signal::SIGTERM);
                let deadline = Instant::now() + self.grace;
                kill_at = Some(deadline);
                let exited = tokio::select! {
                    biased;
                    status = self.child.wait() => Some(status),
                    () = sleep_until(deadline) => None,
                };
                match exited {
                    Some(status) => status,
                    None => {
                        self.sigkill("still running after the grace period");
                        hard_killed = true;
                        self.child.wait().await
                    }
                }
            }
        };

        match &status {
            Ok(status) => self
                .log
                .line(format_args!("exit {}", describe_exit(*status))),
            Err(err) => self
                .log
                .line(format_args!("cannot wait for pid {pgid}: {err}")),
        }
        self.clean_group(kill_at, hard_killed).await;
        let (usage, oom) = self.clean_cgroup(&status).await;

        let (ending, exit_reason, reason) = match (&status, cause) {
            (Ok(status), cause) => classify(*status, cause, oom),
            (Err(_), Some(cause)) => classify(ExitStatus::from_raw(0), Some(cause), oom),
            (Err(err), None) => (
                Ending::Failed,
                ExitReason::Lost,
                format!("cannot wait for the process: {err}"),
            ),
        };
        let status = status.ok();
        let ended_at = Timestamp::now();
        self.log
            .line(format_args!("end {}: {reason}", ending.as_str()));
        tracing::debug!(pid = pgid, ending = ending.as_str(), %reason, "process ended");
        Outcome {
            ending,
            exit_reason,
            exit_code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            reason,
            usage,
            started_at: self.started_at,
            ended_at,
        }
    }

    fn sample_memory(&mut self) {
        if let Some(now) = self.cgroup.as_ref().and_then(RunCgroup::memory_current) {
            self.sampled_peak = Some(self.sampled_peak.map_or(now, |peak| peak.max(now)));
        }
    }

    /// Once the process group is gone: kills what is left in the run's cgroup (processes that
    /// left the group with `setsid`), reads what the run used and whether the OOM killer
    /// struck, and removes the cgroup. Returns the usage and whether the run was OOM-killed.
    async fn clean_cgroup(&mut self, status: &io::Result<ExitStatus>) -> (Usage, bool) {
        let Some(cgroup) = self.cgroup.clone() else {
            return (Usage::default(), false);
        };
        let left = cgroup.pids();
        if !left.is_empty() {
            self.log.line(format_args!(
                "{} left in cgroup {} after the process group was gone (pids {}): SIGKILL",
                count_processes(left.len()),
                cgroup.path().display(),
                join_pids(&left)
            ));
            cgroup.signal_all(Signal::SIGKILL);
            let deadline = Instant::now() + AFTER_SIGKILL;
            let mut pause = GROUP_POLL_FIRST;
            loop {
                let left = cgroup.pids();
                for pid in &left {
                    reap_own_zombie(*pid);
                }
                if left.is_empty() || Instant::now() >= deadline {
                    break;
                }
                sleep(pause).await;
                pause = (pause * 2).min(GROUP_POLL_MAX);
            }
        }
        let sampled = self.sampled_peak;
        let path = cgroup.path();
        let read = give_back(
            &self.pool,
            cgroup,
            self.resources,
            &mut self.log,
            move |cgroup| {
                let mut usage = cgroup.usage();
                if usage.peak_memory_bytes.is_none() {
                    usage.peak_memory_bytes = sampled.max(cgroup.memory_current());
                }
                (usage, cgroup.oom())
            },
        )
        .await;
        let Some((usage, oom)) = read else {
            return (Usage::default(), false);
        };
        let oom = match oom {
            OomSign::Kills(n) => {
                if n > 0 {
                    self.log.line(format_args!(
                        "the OOM killer killed {} in cgroup {}",
                        count_processes(n as usize),
                        path.display()
                    ));
                }
                n > 0
            }
            // Without a kill counter: the limit was hit and the process died of SIGKILL.
            OomSign::LimitHit => status.as_ref().is_ok_and(|s| {
                s.signal() == Some(libc::SIGKILL) || s.code() == Some(128 + libc::SIGKILL)
            }),
            OomSign::None => false,
        };
        (usage, oom)
    }

    /// After the leader was reaped: whatever is left of its group gets SIGTERM (unless it already
    /// had it), then SIGKILL at `kill_at` (or after the grace), unless SIGKILL was already sent.
    async fn clean_group(&mut self, kill_at: Option<Instant>, hard_killed: bool) {
        let pgid = self.pgid;
        let GroupState::Alive(left) = probe_group(pgid).await else {
            return;
        };
        let kill_at = match kill_at {
            Some(at) => at,
            None => {
                self.log.line(format_args!(
                    "{} left in process group {pgid} after exit (pids {}): SIGTERM to process group {pgid}",
                    count_processes(left.len()),
                    join_pids(&left)
                ));
                signal_group(pgid, Signal::SIGTERM);
                Instant::now() + self.grace
            }
        };
        if !hard_killed {
            let GroupState::Alive(left) = wait_group(pgid, kill_at).await else {
                return;
            };
            self.sigkill(&format!(
                "still running after the grace period (pids {})",
                join_pids(&left)
            ));
        }
        if let GroupState::Alive(left) = wait_group(pgid, Instant::now() + AFTER_SIGKILL).await {
            self.log.line(format_args!(
                "process group {pgid} still has {} after SIGKILL (pids {})",
                count_processes(left.len()),
                join_pids(&left)
            ));
            tracing::warn!(pgid, pids = ?left, "processes survived SIGKILL");
        }
    }

    fn sigkill(&mut self, why: &str) {
        let pgid = self.pgid;
        self.log
            .line(format_args!("SIGKILL to process group {pgid}: {why}"));
        signal_group(pgid, Signal::SIGKILL);
    }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Looks at a group whose leader was reaped: one syscall when it is gone, a walk of `/proc` (off
/// the async threads) when it is not.
async fn probe_group(pgid: i32) -> GroupState {
    if !group_reachable(pgid) {
        return GroupState::Gone;
    }
    tokio::task::spawn_blocking(move || scan_group(pgid))
        .await
        .unwrap_or(GroupState::Alive(Vec::new()))
}

/// Waits until nothing of the group runs any more, or `deadline`; returns the last state seen.
async fn wait_group(pgid: i32, deadline: Instant) -> GroupState {
    let mut pause = GROUP_POLL_FIRST;
    loop {
        let state = probe_group(pgid).await;
        let now = Instant::now();
        if !matches!(state, GroupState::Alive(_)) || now >= deadline {
            return state;
        }
        sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(GROUP_POLL_MAX);
    }
}

/// `code=3`, `signal=SIGSEGV`, `signal=SIGABRT (core dumped)`.
fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("code={code}"),
        (None, Some(signal)) if status.core_dumped() => {
            format!("signal={} (core dumped)", signal_name(signal))
        }
        (None, Some(signal)) => format!("signal={}", signal_name(signal)),
        (None, None) => format!("status={status}"),
    }
}

fn count_processes(n: usize) -> String {
    if n == 1 {
        "1 process".to_string()
    } else {
        format!("{n} processes")
    }
}

fn join_pids(pids: &[i32]) -> String {
    let pids: Vec<String> = pids.iter().map(i32::to_string).collect();
    pids.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_are_described_by_code_or_signal_name() {
        assert_eq!(describe_exit(ExitStatus::from_raw(3 << 8)), "code=3");
        assert_eq!(
            describe_exit(ExitStatus::from_raw(libc::SIGKILL)),
            "signal=SIGKILL"
        );
        assert_eq!(
            describe_exit(ExitStatus::from_raw(libc::SIGSEGV | 0x80)),
            "signal=SIGSEGV (core dumped)"
        );
    }

    #[test]
    fn leftovers_are_counted_in_words() {
        assert_eq!(count_processes(1), "1 process");
        assert_eq!(count_processes(3), "3 processes");
        assert_eq!(join_pids(&[12, 15]), "12,15");
    }
}
