//! Why a container could not be run: typed, so that the agent can record the reason.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::outcome::fmt_duration;

/// A container could not be started (or adopted). Every variant except
/// [`DockerError::LogDir`] is also written to `start.log`.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// No Docker engine answers at the socket: not installed, not running, or not ours to use.
    #[error("no Docker engine at {socket}: {message}")]
    EngineUnavailable {
        /// The engine's unix socket.
        socket: PathBuf,
        /// What the connection said.
        message: String,
    },
    /// The image is not on the node and its registry does not have it (or refuses to say).
    #[error("image {image} not found: {message}")]
    ImageNotFound {
        /// `repository:tag`.
        image: String,
        /// What the engine said.
        message: String,
    },
    /// The image could not be pulled: the registry is down, unreachable or failing.
    #[error("cannot pull image {image}: {message}")]
    PullFailed {
        /// `repository:tag`.
        image: String,
        /// What the engine said.
        message: String,
    },
    /// The pull took longer than the pull timeout (Cosmos' `docker.image.pull.timeout`).
    #[error("pulling image {image} took longer than {}", fmt_duration(*after))]
    PullTimedOut {
        /// `repository:tag`.
        image: String,
        /// The pull timeout.
        after: Duration,
    },
    /// The engine refused a step: creating or starting the container, typically for a spec it
    /// does not accept (a command not in the image, a memory limit below its minimum...).
    #[error("cannot {step} the container: {message}")]
    Refused {
        /// `create`, `attach`, `start` or `inspect`.
        step: &'static str,
        /// What the engine said.
        message: String,
    },
    /// The log directory, `params.json` or the tmp directory cannot be written.
    #[error("log path {path} is not writable: {source}")]
    LogDir {
        /// The path.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// A kill was asked for before the container started: it was not started.
    #[error("killed on request before the container started")]
    KilledBeforeStart,
}

impl DockerError {
    /// Whether the same spec may start on this node if tried again later: an engine that is
    /// down, a registry that fails or a pull that was slow may recover; an image that does not
    /// exist or a spec the engine refuses will not.
    pub fn is_transient(&self) -> bool {
        match self {
            DockerError::EngineUnavailable { .. }
            | DockerError::PullFailed { .. }
            | DockerError::PullTimedOut { .. } => true,
            DockerError::ImageNotFound { .. }
            | DockerError::Refused { .. }
            | DockerError::KilledBeforeStart => false,
            DockerError::LogDir { source, .. } => matches!(
                source.raw_os_error(),
                Some(libc::ENOSPC | libc::EDQUOT | libc::EMFILE | libc::ENFILE)
            ),
        }
    }
}

/// What went wrong in one call to the engine.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The engine could not be reached.
    Unreachable(String),
    /// It answered with an error status.
    Status(u16, String),
    /// Anything else (a stream error, bad JSON...).
    Other(String),
}

impl Failure {
    pub(crate) fn message(&self) -> &str {
        match self {
            Failure::Unreachable(m) | Failure::Status(_, m) | Failure::Other(m) => m,
        }
    }
}

/// Sorts a bollard error into what the runtime acts on.
pub(crate) fn failure(err: &bollard::errors::Error) -> Failure {
    use bollard::errors::Error as E;
    match err {
        E::DockerResponseServerError {
            status_code,
            message,
        } => Failure::Status(*status_code, message.clone()),
        E::DockerStreamError { error } => Failure::Other(error.clone()),
        E::IOError { .. }
        | E::HyperResponseError { .. }
        | E::HttpClientError { .. }
        | E::SocketNotFoundError(_)
        | E::RequestTimeoutError => Failure::Unreachable(err.to_string()),
        other => Failure::Other(other.to_string()),
    }
}

/// A pull that failed: not found (HTTP 404, or the registry's words for it) or failed.
pub(crate) fn pull_error(image: &str, err: &bollard::errors::Error, socket: &Path) -> DockerError {
    let failure = failure(err);
    let message = failure.message().to_string();
    match failure {
        Failure::Unreachable(_) => DockerError::EngineUnavailable {
            socket: socket.to_path_buf(),
            message,
        },
        Failure::Status(404, _) => DockerError::ImageNotFound {
            image: image.to_string(),
            message,
        },
        _ if says_not_found(&message) => DockerError::ImageNotFound {
            image: image.to_string(),
            message,
        },
        _ => DockerError::PullFailed {
            image: image.to_string(),
            message,
        },
    }
}

/// Registries say "not found" in several ways; the engine passes their words on.
fn says_not_found(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "not found",
        "manifest unknown",
        "repository does not exist",
        "pull access denied",
        "name unknown",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

/// A failed step other than the pull.
pub(crate) fn step_error(
    step: &'static str,
    err: &bollard::errors::Error,
    socket: &Path,
) -> DockerError {
    match failure(err) {
        Failure::Unreachable(message) => DockerError::EngineUnavailable {
            socket: socket.to_path_buf(),
            message,
        },
        failure => DockerError::Refused {
            step,
            message: failure.message().to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::errors::Error as E;

    #[test]
    fn a_404_or_the_registrys_words_for_it_is_a_missing_image() {
        let socket = PathBuf::from("/var/run/docker.sock");
        let missing = pull_error(
            "rota-test/nosuch:1",
            &E::DockerResponseServerError {
                status_code: 404,
                message: "pull access denied for rota-test/nosuch".into(),
            },
            &socket,
        );
        assert!(
            matches!(missing, DockerError::ImageNotFound { .. }),
            "{missing}"
        );
        assert!(!missing.is_transient());
        let in_stream = pull_error(
            "127.0.0.1:5000/a:2",
            &E::DockerStreamError {
                error: "manifest for 127.0.0.1:5000/a:2 not found: manifest unknown".into(),
            },
            &socket,
        );
        assert!(
            matches!(in_stream, DockerError::ImageNotFound { .. }),
            "{in_stream}"
        );
        let down = pull_error(
            "127.0.0.1:5000/a:2",
            &E::DockerResponseServerError {
                status_code: 500,
                message: "Get \"http://127.0.0.1:5000/v2/\": dial tcp: connection refused".into(),
            },
            &socket,
        );
        assert!(matches!(down, DockerError::PullFailed { .. }), "{down}");
        assert!(down.is_transient());
    }

    #[test]
    fn an_engine_that_does_not_answer_is_unavailable_not_a_refusal() {
        let socket = PathBuf::from("/nonexistent/docker.sock");
        let err = step_error(
            "create",
            &E::SocketNotFoundError("/nonexistent/docker.sock".into()),
            &socket,
        );
        assert!(
            matches!(err, DockerError::EngineUnavailable { .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("no Docker engine at /nonexistent/docker.sock")
        );
        let refused = step_error(
            "start",
            &E::DockerResponseServerError {
                status_code: 400,
                message: "executable file not found in $PATH".into(),
            },
            &socket,
        );
        assert_eq!(
            refused.to_string(),
            "cannot start the container: executable file not found in $PATH"
        );
        let slow = DockerError::PullTimedOut {
            image: "a:1".into(),
            after: Duration::from_millis(1500),
        };
        assert_eq!(slow.to_string(), "pulling image a:1 took longer than 1.5s");
    }
}
