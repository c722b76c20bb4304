//! A started container, and the task that watches it from start to outcome.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{
    KillContainerOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use futures_util::StreamExt;
use jiff::Timestamp;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use super::error::{Failure, failure};
use super::short;
use crate::cgroup::{RunCgroup, Usage};
use crate::outcome::{Cause, Ending, ExitReason, Outcome, fmt_duration, signal_name};
use crate::process::Killer;
use crate::procfs::ProcessIdentity;
use crate::start_log::StartLog;

/// How often a container's cgroup is read for its usage while it runs: the engine removes the
/// cgroup when the container exits, so the last reading is what is reported.
const SAMPLE_EVERY: Duration = Duration::from_millis(500);
/// How long to wait for the container to exit after `docker stop` returned, and after `docker
/// kill`.
const AFTER_STOP: Duration = Duration::from_secs(5);
/// How long to wait for the rest of the output once the container has exited.
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);

/// A started (or adopted) container. Dropping it does not stop it: the watching task still
/// enforces the timeout and removes the container, and the outcome is then lost.
#[derive(Debug)]
pub struct RunningContainer {
    id: String,
    identity: Option<ProcessIdentity>,
    started_at: Timestamp,
    killer: Killer,
    task: JoinHandle<Outcome>,
}

impl RunningContainer {
    pub(crate) fn new(
        id: String,
        identity: Option<ProcessIdentity>,
        started_at: Timestamp,
        killer: Killer,
        watch: Watch,
    ) -> RunningContainer {
        RunningContainer {
            id,
            identity,
            started_at,
            killer,
            task: tokio::spawn(watch.run()),
        }
    }

    /// The container's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The host pid and start time of the container's first process, when this agent can see
    /// it (not when the container had already exited, or runs in another pid namespace).
    pub fn identity(&self) -> Option<ProcessIdentity> {
        self.identity
    }

    /// When the container started.
    pub fn started_at(&self) -> Timestamp {
        self.started_at
    }

    /// A handle that can ask for the container to be stopped, from anywhere.
    pub fn killer(&self) -> Killer {
        self.killer.clone()
    }

    /// Resolves once the container has exited (and has been removed).
    pub async fn wait(self) -> Outcome {
        match self.task.await {
            Ok(outcome) => outcome,
            Err(err) => Outcome {
                ending: Ending::Failed,
                exit_reason: ExitReason::Lost,
                exit_code: None,
                signal: None,
                reason: format!("lost track of container {}: {err}", short(&self.id)),
                usage: Usage::default(),
                started_at: self.started_at,
                ended_at: Timestamp::now(),
            },
        }
    }
}

/// What the watching task needs.
pub(crate) struct Watch {
    pub(crate) docker: Docker,
    pub(crate) socket: PathBuf,
    pub(crate) id: String,
    pub(crate) log: StartLog,
    pub(crate) timeout: Option<Duration>,
    pub(crate) timeout_at: Option<std::time::Instant>,
    pub(crate) grace: Duration,
    pub(crate) kill: Arc<Notify>,
    pub(crate) started_at: Timestamp,
    pub(crate) output: Option<JoinHandle<()>>,
    /// The container's cgroup, to sample its usage; `None` when it cannot be seen.
    pub(crate) probe: Option<RunCgroup>,
}

/// What happened first.
enum First {
    /// It exited; the exit code from the wait, if it gave one.
    Exited(Option<i64>),
    /// The runtime stopped it, for this cause.
    Signalled(Cause),
    /// The engine stopped answering about it.
    Lost(String),
}

impl Watch {
    pub(crate) async fn run(mut self) -> Outcome {
        let docker = self.docker.clone();
        let id = self.id.clone();
        let options = WaitContainerOptionsBuilder::new()
            .condition("not-running")
            .build();
        let mut wait = docker.wait_container(&id, Some(options));
        let mut usage = Usage::default();
        let timeout_at = self.timeout_at.map(Instant::from_std);
        let mut sample_at = self.probe.as_ref().map(|_| Instant::now());

        let first = loop {
            tokio::select! {
                biased;
                exit = wait.next() => break exited(exit),
                () = self.kill.notified() => break First::Signalled(Cause::Kill),
                () = sleep_until_some(timeout_at) => {
                    break First::Signalled(Cause::Timeout(self.timeout.unwrap_or_default()))
                }
                () = sleep_until_some(sample_at) => {
                    self.sample(&mut usage);
                    sample_at = Some(Instant::now() + SAMPLE_EVERY);
                }
            }
        };

        let mut cause = None;
        let first = match first {
            First::Signalled(signalled) => {
                cause = Some(signalled);
                self.stop(signalled, &mut wait).await
            }
            other => other,
        };
        if let Some(output) = self.output.take() {
            let _ = tokio::time::timeout(OUTPUT_DRAIN, output).await;
        }

        let (exit_code, oom_killed, lost) = match first {
            First::Exited(code) => {
                let (inspected_code, oom) = self.inspect().await;
                (inspected_code.or(code), oom, None)
            }
            First::Lost(why) => (None, false, Some(why)),
            First::Signalled(_) => unreachable!("stop() returns how the container ended"),
        };
        match (exit_code, &lost) {
            (Some(code), _) => self.log.line(format_args!(
                "exit code={code}{}",
                if oom_killed { " (OOM killed)" } else { "" }
            )),
            (None, Some(why)) => self.log.line(format_args!("lost the container: {why}")),
            (None, None) => self.log.line(format_args!("exit code unknown")),
        }
        if lost.is_none() {
            self.remove().await;
        }

        let (ending, exit_reason, signal, reason) =
            classify(exit_code, cause, oom_killed, lost.as_deref(), &self.id);
        let ended_at = Timestamp::now();
        self.log
            .line(format_args!("end {}: {reason}", ending.as_str()));
        tracing::debug!(container = %short(&self.id), ending = ending.as_str(), %reason, "container ended");
        Outcome {
            ending,
            exit_reason,
            exit_code: exit_code.map(|c| c as i32),
            signal,
            reason,
            usage,
            started_at: self.started_at,
            ended_at,
        }
    }

    /// Reads the container's cgroup; keeps the last readings (the cgroup vanishes at exit).
    fn sample(&mut self, usage: &mut Usage) {
        let Some(probe) = &self.probe else { return };
        let now = probe.usage();
        let current = probe.memory_current();
        if now.cpu_time.is_none() && current.is_none() {
            // Gone: the container has exited.
            self.probe = None;
            return;
        }
        if now.cpu_time.is_some() {
            usage.cpu_time = now.cpu_time;
        }
        let peak = now.peak_memory_bytes.or(current);
        usage.peak_memory_bytes = match (usage.peak_memory_bytes, peak) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// `docker stop` with the grace period (SIGTERM, then SIGKILL from the engine), then
    /// `docker kill` if it still runs; returns how it ended.
    async fn stop<S>(&mut self, cause: Cause, wait: &mut S) -> First
    where
        S: futures_util::Stream<
                Item = Result<bollard::models::ContainerWaitResponse, bollard::errors::Error>,
            > + Unpin,
    {
        let grace = self.grace;
        match cause {
            Cause::Timeout(after) => self.log.line(format_args!(
                "timeout after {}: docker stop (grace {})",
                fmt_duration(after),
                fmt_duration(grace)
            )),
            Cause::Kill => self.log.line(format_args!(
                "kill requested: docker stop (grace {})",
                fmt_duration(grace)
            )),
        }
        let seconds = grace.as_secs_f64().ceil() as i32;
        let options = StopContainerOptionsBuilder::new().t(seconds).build();
        let stop = self.docker.stop_container(&self.id, Some(options));
        // The engine answers once the container is gone; past the grace it has SIGKILLed it.
        if let Ok(Err(err)) = tokio::time::timeout(grace + AFTER_STOP, stop).await
            && !matches!(failure(&err), Failure::Status(304, _))
        {
            self.log.line(format_args!("docker stop failed: {err}"));
        }
        if let Ok(Some(exit)) = tokio::time::timeout(AFTER_STOP, wait.next()).await {
            return exited(Some(exit));
        }
        self.log.line(format_args!(
            "docker kill: still running after the grace period"
        ));
        let options = KillContainerOptionsBuilder::new().signal("SIGKILL").build();
        if let Err(err) = self.docker.kill_container(&self.id, Some(options)).await {
            self.log.line(format_args!("docker kill failed: {err}"));
        }
        match tokio::time::timeout(AFTER_STOP, wait.next()).await {
            Ok(exit) => exited(exit),
            Err(_) => First::Lost(format!(
                "still running {} after docker kill",
                fmt_duration(AFTER_STOP)
            )),
        }
    }

    /// The exit code and the OOM flag the engine recorded.
    async fn inspect(&mut self) -> (Option<i64>, bool) {
        match self.docker.inspect_container(&self.id, None).await {
            Ok(inspected) => {
                let state = inspected.state.unwrap_or_default();
                (state.exit_code, state.oom_killed.unwrap_or(false))
            }
            Err(err) => {
                self.log
                    .line(format_args!("cannot inspect the exited container: {err}"));
                (None, false)
            }
        }
    }

    /// Removes the exited container (its logs stay in the log directory).
    async fn remove(&mut self) {
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(&self.id, Some(options)).await {
            Ok(()) => self
                .log
                .line(format_args!("remove container {}", short(&self.id))),
            Err(err) => {
                self.log.line(format_args!(
                    "cannot remove container {}: {err}",
                    short(&self.id)
                ));
                tracing::warn!(container = %self.id, socket = %self.socket.display(), %err, "a container is left behind");
            }
        }
    }
}

/// The wait's answer: an exit code (bollard turns a non-zero one into an error), or the engine
/// lost.
fn exited(
    exit: Option<Result<bollard::models::ContainerWaitResponse, bollard::errors::Error>>,
) -> First {
    use bollard::errors::Error as E;
    match exit {
        Some(Ok(response)) => First::Exited(Some(response.status_code)),
        Some(Err(E::DockerContainerWaitError { code, .. })) => First::Exited(Some(code)),
        Some(Err(err)) => match failure(&err) {
            Failure::Status(404, _) => {
                First::Lost("the container was removed by someone else".into())
            }
            Failure::Unreachable(message) => {
                First::Lost(format!("the engine stopped answering: {message}"))
            }
            _ => First::Lost(err.to_string()),
        },
        None => First::Exited(None),
    }
}

/// Maps how the container ended to an ending, an exit reason, the signal (from an exit code
/// of 128 + N) and a line for people.
fn classify(
    exit_code: Option<i64>,
    cause: Option<Cause>,
    oom_killed: bool,
    lost: Option<&str>,
    id: &str,
) -> (Ending, ExitReason, Option<i32>, String) {
    let signal = exit_code
        .filter(|c| *c > 128 && *c <= 128 + 64)
        .map(|c| (c - 128) as i32);
    match (cause, exit_code) {
        (Some(Cause::Timeout(after)), _) => (
            Ending::TimedOut,
            ExitReason::TimedOut,
            signal,
            format!("timed out after {}", fmt_duration(after)),
        ),
        (Some(Cause::Kill), _) => (
            Ending::Killed,
            ExitReason::Killed,
            signal,
            "killed on request".to_string(),
        ),
        (None, Some(0)) => (
            Ending::Succeeded,
            ExitReason::Exited,
            None,
            "exit code 0".to_string(),
        ),
        (None, Some(code)) if oom_killed => (
            Ending::Failed,
            ExitReason::Oom,
            signal,
            format!("out of memory: the OOM killer struck (exit code {code})"),
        ),
        (None, Some(code)) => match signal {
            Some(signal) => (
                Ending::Failed,
                ExitReason::Signaled,
                Some(signal),
                format!(
                    "killed by signal {} (exit code {code})",
                    signal_name(signal)
                ),
            ),
            None => (
                Ending::Failed,
                ExitReason::Exited,
                None,
                format!("exit code {code}"),
            ),
        },
        (None, None) => (
            Ending::Failed,
            ExitReason::Lost,
            None,
            format!(
                "lost track of container {}: {}",
                short(id),
                lost.unwrap_or("no exit code")
            ),
        ),
    }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_exits_map_to_endings_and_exit_reasons() {
        let c = |code, cause, oom| {
            let (e, r, s, text) = classify(code, cause, oom, None, "0123456789abcdef");
            (e, r, s, text)
        };
        assert_eq!(
            c(Some(0), None, false),
            (
                Ending::Succeeded,
                ExitReason::Exited,
                None,
                "exit code 0".into()
            )
        );
        assert_eq!(
            c(Some(3), None, false),
            (
                Ending::Failed,
                ExitReason::Exited,
                None,
                "exit code 3".into()
            )
        );
        assert_eq!(
            c(Some(137), None, true),
            (
                Ending::Failed,
                ExitReason::Oom,
                Some(9),
                "out of memory: the OOM killer struck (exit code 137)".into()
            )
        );
        assert_eq!(
            c(Some(139), None, false),
            (
                Ending::Failed,
                ExitReason::Signaled,
                Some(11),
                "killed by signal SIGSEGV (exit code 139)".into()
            )
        );
        let timeout = Some(Cause::Timeout(Duration::from_secs(2)));
        assert_eq!(c(Some(137), timeout, false).1, ExitReason::TimedOut);
        assert_eq!(c(Some(143), Some(Cause::Kill), true).0, Ending::Killed);
        let (ending, reason, _, text) =
            classify(None, None, false, Some("gone"), "0123456789abcdef");
        assert_eq!((ending, reason), (Ending::Failed, ExitReason::Lost));
        assert_eq!(text, "lost track of container 0123456789ab: gone");
    }
}
