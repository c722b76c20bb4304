//! The runtimes' words turned into the model's: endings, exit reasons, usage, limits.

use rota_model::{Ending, ExitReason, Limits, Usage};
use rota_runtime::DockerError;

/// The model's ending of a runtime outcome.
pub(crate) fn ending(ending: rota_runtime::Ending) -> Ending {
    match ending {
        rota_runtime::Ending::Succeeded => Ending::Succeeded,
        rota_runtime::Ending::Failed => Ending::Failed,
        rota_runtime::Ending::TimedOut => Ending::TimedOut,
        rota_runtime::Ending::Killed => Ending::Killed,
    }
}

/// The model's exit reason of a runtime outcome.
pub(crate) fn exit_reason(reason: rota_runtime::ExitReason) -> ExitReason {
    match reason {
        rota_runtime::ExitReason::Exited => ExitReason::Exited,
        rota_runtime::ExitReason::Signaled => ExitReason::Signaled,
        rota_runtime::ExitReason::Oom => ExitReason::Oom,
        rota_runtime::ExitReason::TimedOut => ExitReason::TimedOut,
        rota_runtime::ExitReason::Killed => ExitReason::Killed,
        rota_runtime::ExitReason::Lost => ExitReason::Lost,
    }
}

/// What a container that did not start ends as: killed when a kill came first, else failed
/// with the reason's kind.
pub(crate) fn docker_failure(err: &DockerError) -> (Ending, ExitReason) {
    match err {
        DockerError::KilledBeforeStart => (Ending::Killed, ExitReason::Killed),
        DockerError::EngineUnavailable { .. } => (Ending::Failed, ExitReason::EngineUnavailable),
        DockerError::ImageNotFound { .. } => (Ending::Failed, ExitReason::ImageNotFound),
        DockerError::PullFailed { .. } | DockerError::PullTimedOut { .. } => {
            (Ending::Failed, ExitReason::ImagePullFailed)
        }
        DockerError::Refused { .. } | DockerError::LogDir { .. } => {
            (Ending::Failed, ExitReason::StartFailed)
        }
    }
}

/// The model's usage: CPU time in milliseconds.
pub(crate) fn usage(usage: rota_runtime::Usage) -> Usage {
    Usage {
        peak_memory_bytes: usage.peak_memory_bytes,
        cpu_time_ms: usage.cpu_time.map(|d| d.as_millis() as u64),
    }
}

/// The model's limits.
pub(crate) fn limits(limits: &rota_runtime::Limits) -> Limits {
    match limits {
        rota_runtime::Limits::Enforced { by } => Limits::Enforced { by: by.clone() },
        rota_runtime::Limits::NotEnforced { reason } => Limits::NotEnforced {
            reason: reason.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn cpu_time_is_reported_in_milliseconds_and_pull_failures_by_kind() {
        let used = usage(rota_runtime::Usage {
            peak_memory_bytes: Some(4096),
            cpu_time: Some(Duration::from_micros(1_500_900)),
        });
        assert_eq!(used.cpu_time_ms, Some(1500));
        assert_eq!(used.peak_memory_bytes, Some(4096));
        let slow = DockerError::PullTimedOut {
            image: "a:1".into(),
            after: Duration::from_secs(1),
        };
        assert_eq!(
            docker_failure(&slow),
            (Ending::Failed, ExitReason::ImagePullFailed)
        );
        assert_eq!(
            docker_failure(&DockerError::KilledBeforeStart),
            (Ending::Killed, ExitReason::Killed)
        );
        assert_eq!(exit_reason(rota_runtime::ExitReason::Oom), ExitReason::Oom);
    }
}
