//! How an attempt ended, and the words used to say so.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use jiff::Timestamp;
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use crate::cgroup::Usage;

/// How an attempt ended; the names match the run states of the same meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Exited with code 0.
    Succeeded,
    /// Exited with another code, or was killed by a signal that the runtime did not send.
    Failed,
    /// Ran past its timeout and was killed.
    TimedOut,
    /// Killed because [`crate::Killer::kill`] asked.
    Killed,
}

impl Ending {
    /// The snake_case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Succeeded => "succeeded",
            Ending::Failed => "failed",
            Ending::TimedOut => "timed_out",
            Ending::Killed => "killed",
        }
    }
}

/// Why an attempt ended, in more detail than its [`Ending`]: what the agent records as the run's
/// exit reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    /// The main process exited by itself, with [`Outcome::exit_code`].
    Exited,
    /// The main process was killed by a signal the runtime did not send ([`Outcome::signal`]).
    Signaled,
    /// The kernel's OOM killer ended it: it went over its memory limit. The ending is
    /// [`Ending::Failed`].
    Oom,
    /// It ran past its timeout and the runtime stopped it.
    TimedOut,
    /// The runtime stopped it on request.
    Killed,
    /// The runtime lost track of it (its watching task died, or the container engine went
    /// away); how it really ended is unknown.
    Lost,
}

impl ExitReason {
    /// The snake_case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::Exited => "exited",
            ExitReason::Signaled => "signaled",
            ExitReason::Oom => "oom",
            ExitReason::TimedOut => "timed_out",
            ExitReason::Killed => "killed",
            ExitReason::Lost => "lost",
        }
    }
}

/// The end of one attempt, known once its process and its whole process group (and cgroup) are
/// gone, or its container has exited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// How it ended.
    pub ending: Ending,
    /// Why, in more detail; `oom` is a [`Ending::Failed`] run that went over its memory limit.
    pub exit_reason: ExitReason,
    /// The exit code of the main process, if it exited rather than being killed by a signal (a
    /// container's exit code, which is 128 + N when signal N killed it).
    pub exit_code: Option<i32>,
    /// The signal that killed the main process, if one did (whoever sent it).
    pub signal: Option<i32>,
    /// One line for people: "exit code 3", "killed by signal SIGSEGV", "timed out after 5s"...
    pub reason: String,
    /// What it used: peak memory and CPU time, measured by its cgroup (`None` where there is
    /// no cgroup to ask).
    pub usage: Usage,
    /// Just before the process was spawned (or the container started).
    pub started_at: Timestamp,
    /// When the process group was found gone (or was SIGKILLed), or the container had exited.
    pub ended_at: Timestamp,
}

/// Why the runtime itself signalled the group; the first cause wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    Timeout(Duration),
    Kill,
}

/// Maps the main process's exit status, and what the runtime did, to an ending, an exit reason
/// and a line for people. `oom` says whether the kernel's OOM killer struck the run's cgroup.
pub(crate) fn classify(
    status: ExitStatus,
    cause: Option<Cause>,
    oom: bool,
) -> (Ending, ExitReason, String) {
    match cause {
        Some(Cause::Timeout(after)) => (
            Ending::TimedOut,
            ExitReason::TimedOut,
            format!("timed out after {}", fmt_duration(after)),
        ),
        Some(Cause::Kill) => (
            Ending::Killed,
            ExitReason::Killed,
            "killed on request".to_string(),
        ),
        None => match (status.code(), status.signal()) {
            (Some(0), _) => (
                Ending::Succeeded,
                ExitReason::Exited,
                "exit code 0".to_string(),
            ),
            (Some(code), _) if oom => (
                Ending::Failed,
                ExitReason::Oom,
                format!("out of memory: the OOM killer struck (exit code {code})"),
            ),
            (Some(code), _) => (
                Ending::Failed,
                ExitReason::Exited,
                format!("exit code {code}"),
            ),
            (None, Some(signal)) if oom => (
                Ending::Failed,
                ExitReason::Oom,
                format!("out of memory: killed by {}", signal_name(signal)),
            ),
            (None, Some(signal)) => {
                let dumped = if status.core_dumped() {
                    " (core dumped)"
                } else {
                    ""
                };
                (
                    Ending::Failed,
                    ExitReason::Signaled,
                    format!("killed by signal {}{dumped}", signal_name(signal)),
                )
            }
            (None, None) => (
                Ending::Failed,
                ExitReason::Lost,
                format!("ended with status {status}"),
            ),
        },
    }
}

/// "SIGSEGV" for 11; "signal 34" for a signal without a name (real-time signals).
pub(crate) fn signal_name(signal: i32) -> String {
    match Signal::try_from(signal) {
        Ok(signal) => signal.as_str().to_string(),
        Err(_) => format!("signal {signal}"),
    }
}

/// "5s", "1.5s", "0.25s": seconds, with as many decimals as needed up to milliseconds.
pub(crate) fn fmt_duration(d: Duration) -> String {
    let (secs, millis) = (d.as_secs(), d.subsec_millis());
    if millis == 0 {
        format!("{secs}s")
    } else {
        let text = format!("{secs}.{millis:03}");
        format!("{}s", text.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    fn signalled(signal: i32) -> ExitStatus {
        ExitStatus::from_raw(signal)
    }

    #[test]
    fn exit_codes_map_to_succeeded_and_failed() {
        assert_eq!(
            classify(exited(0), None, false),
            (Ending::Succeeded, ExitReason::Exited, "exit code 0".into())
        );
        assert_eq!(
            classify(exited(3), None, false),
            (Ending::Failed, ExitReason::Exited, "exit code 3".into())
        );
    }

    #[test]
    fn a_signal_not_sent_by_the_runtime_is_a_failure_that_names_it() {
        assert_eq!(
            classify(signalled(libc::SIGSEGV), None, false),
            (
                Ending::Failed,
                ExitReason::Signaled,
                "killed by signal SIGSEGV".into()
            )
        );
        assert_eq!(
            classify(ExitStatus::from_raw(libc::SIGABRT | 0x80), None, false),
            (
                Ending::Failed,
                ExitReason::Signaled,
                "killed by signal SIGABRT (core dumped)".into()
            )
        );
        assert_eq!(signal_name(34), "signal 34");
    }

    #[test]
    fn what_the_runtime_did_wins_over_how_the_process_ended() {
        let timeout = Some(Cause::Timeout(Duration::from_secs(5)));
        assert_eq!(
            classify(exited(0), timeout, false),
            (
                Ending::TimedOut,
                ExitReason::TimedOut,
                "timed out after 5s".into()
            )
        );
        assert_eq!(
            classify(signalled(libc::SIGTERM), Some(Cause::Kill), true),
            (
                Ending::Killed,
                ExitReason::Killed,
                "killed on request".into()
            )
        );
    }

    #[test]
    fn an_oom_kill_fails_the_run_with_exit_reason_oom_unless_it_succeeded() {
        let (ending, reason, text) = classify(signalled(libc::SIGKILL), None, true);
        assert_eq!((ending, reason), (Ending::Failed, ExitReason::Oom));
        assert_eq!(text, "out of memory: killed by SIGKILL");
        let (ending, reason, text) = classify(exited(137), None, true);
        assert_eq!((ending, reason), (Ending::Failed, ExitReason::Oom));
        assert!(text.contains("exit code 137"), "{text}");
        // A helper process was OOM-killed but the run itself succeeded.
        assert_eq!(classify(exited(0), None, true).1, ExitReason::Exited);
        assert_eq!(ExitReason::Oom.as_str(), "oom");
        assert_eq!(
            serde_json::to_string(&ExitReason::TimedOut).unwrap(),
            "\"timed_out\""
        );
    }

    #[test]
    fn durations_read_as_seconds() {
        assert_eq!(fmt_duration(Duration::from_secs(5)), "5s");
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(fmt_duration(Duration::from_millis(250)), "0.25s");
        assert_eq!(fmt_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn endings_serialize_in_snake_case() {
        let json = serde_json::to_string(&Ending::TimedOut).unwrap();
        assert_eq!(json, "\"timed_out\"");
        assert_eq!(Ending::TimedOut.as_str(), "timed_out");
        let back: Ending = serde_json::from_str("\"killed\"").unwrap();
        assert_eq!(back, Ending::Killed);
    }
}
