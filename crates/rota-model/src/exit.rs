//! How an attempt ended in detail, what it used, and whether its limits were enforced: what a
//! node reports beside the [`crate::Ending`], for records and for the estimator.

use serde::{Deserialize, Serialize};

/// Why an attempt ended, in more detail than its [`crate::Ending`]. `oom` is the one a Cosmos
/// user looks for: a `failed` run that went over its memory limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    /// The app exited by itself (see the exit code).
    Exited,
    /// The app was killed by a signal that rota did not send.
    Signaled,
    /// The kernel's OOM killer ended it: it went over `mems`.
    Oom,
    /// It ran past its timeout and was stopped.
    TimedOut,
    /// It was stopped on request.
    Killed,
    /// It could not start: the command is missing or not executable, the engine refused the
    /// container, the log directory is not writable...
    StartFailed,
    /// Its image is not on the node and its registry does not have it.
    ImageNotFound,
    /// Its image could not be pulled (registry down, or slower than the pull timeout).
    ImagePullFailed,
    /// The node has no Docker engine that answers.
    EngineUnavailable,
    /// Its node lost track of it (agent restart, engine gone): how it ended is unknown.
    Lost,
}

impl ExitReason {
    /// The snake_case name, as serialized and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::Exited => "exited",
            ExitReason::Signaled => "signaled",
            ExitReason::Oom => "oom",
            ExitReason::TimedOut => "timed_out",
            ExitReason::Killed => "killed",
            ExitReason::StartFailed => "start_failed",
            ExitReason::ImageNotFound => "image_not_found",
            ExitReason::ImagePullFailed => "image_pull_failed",
            ExitReason::EngineUnavailable => "engine_unavailable",
            ExitReason::Lost => "lost",
        }
    }
}

/// What an attempt used, as its node measured it (from its cgroup). `None` where nothing
/// measured it: a node without cgroups, or a container shorter than one sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// The most memory it held at once, bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    /// CPU time, user and system, of all its processes, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_time_ms: Option<u64>,
}

/// Whether an attempt's `cores` and `mems` were enforced on its node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "state",
    rename_all = "snake_case",
    try_from = "crate::agent_wire::WireLimits"
)]
pub enum Limits {
    /// Enforced by the kernel: a cgroup's CPU quota and memory limit, or Docker's.
    Enforced {
        /// How, for people (`cgroup v1: ...`, `docker`).
        by: String,
    },
    /// Not enforced: the node cannot use cgroups (not root, read-only cgroupfs); memory is
    /// capped by `RLIMIT_AS` only and CPU not at all.
    NotEnforced {
        /// Why.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_reasons_and_limits_serialize_as_shown() {
        assert_eq!(serde_json::to_string(&ExitReason::Oom).unwrap(), "\"oom\"");
        assert_eq!(ExitReason::ImagePullFailed.as_str(), "image_pull_failed");
        let back: ExitReason = serde_json::from_str("\"engine_unavailable\"").unwrap();
        assert_eq!(back, ExitReason::EngineUnavailable);
        let limits = Limits::NotEnforced {
            reason: "not root".into(),
        };
        assert_eq!(
            serde_json::to_string(&limits).unwrap(),
            r#"{"state":"not_enforced","reason":"not root"}"#
        );
        assert_eq!(serde_json::to_string(&Usage::default()).unwrap(), "{}");
    }
}
