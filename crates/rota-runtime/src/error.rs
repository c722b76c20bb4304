//! Why a process could not be started.

use std::io;
use std::path::PathBuf;

/// A process could not be started. Every variant except [`RuntimeError::LogDir`] is also written
/// to `start.log`, so the user sees it in `rota log`.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The spec has no program to run (a bug in the caller; retrying does not help).
    #[error("nothing to run: argv is empty")]
    EmptyArgv,
    /// The log directory or one of its files cannot be created or opened for appending.
    #[error("log path {path} is not writable: {source}")]
    LogDir {
        /// The directory or file that could not be created or opened.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The working directory cannot be created.
    #[error("cannot create working directory {path}: {source}")]
    Workdir {
        /// The working directory of the spec.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// `argv[0]` does not exist (looked up in `PATH` when it has no `/`).
    #[error("command not found: {program}")]
    NotFound {
        /// `argv[0]`.
        program: String,
    },
    /// `argv[0]` exists but may not be executed.
    #[error("permission denied: cannot execute {program}")]
    PermissionDenied {
        /// `argv[0]`.
        program: String,
    },
    /// Any other failure of fork/exec, e.g. too many processes.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// `argv[0]`.
        program: String,
        /// What the operating system said.
        source: io::Error,
    },
    /// The run's cgroup could not be made, given its limits, or opened for the child to join.
    #[error("cannot set up cgroup {path}: {source}")]
    Cgroup {
        /// The cgroup directory.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The process started but its start time could not be read from `/proc`; it was killed.
    #[error("started pid {pid} but cannot read /proc/{pid}/stat: {source}")]
    Identity {
        /// The pid of the killed process.
        pid: i32,
        /// What the operating system said.
        source: io::Error,
    },
}

impl RuntimeError {
    /// Whether the same spec may start on this node if tried again later: true for a shortage of
    /// processes, memory, file descriptors or disk space, false for a mistake in the spec or the
    /// node's configuration.
    pub fn is_transient(&self) -> bool {
        match self {
            RuntimeError::EmptyArgv
            | RuntimeError::NotFound { .. }
            | RuntimeError::PermissionDenied { .. } => false,
            RuntimeError::Identity { .. } => true,
            RuntimeError::Cgroup { source, .. } => {
                is_shortage(source) || source.raw_os_error() == Some(libc::EBUSY)
            }
            RuntimeError::LogDir { source, .. }
            | RuntimeError::Workdir { source, .. }
            | RuntimeError::Spawn { source, .. } => is_shortage(source),
        }
    }
}

fn is_shortage(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(
            libc::EAGAIN | libc::ENOMEM | libc::EMFILE | libc::ENFILE | libc::ENOSPC | libc::EDQUOT
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_not_transient_but_a_process_shortage_is() {
        let missing = RuntimeError::NotFound {
            program: "nosuch".into(),
        };
        assert!(!missing.is_transient());
        assert_eq!(missing.to_string(), "command not found: nosuch");

        let busy = RuntimeError::Spawn {
            program: "sh".into(),
            source: io::Error::from_raw_os_error(libc::EAGAIN),
        };
        assert!(busy.is_transient());

        let unwritable = RuntimeError::LogDir {
            path: "/ro/logs".into(),
            source: io::Error::from_raw_os_error(libc::EROFS),
        };
        assert!(!unwritable.is_transient());
        assert!(unwritable.to_string().contains("/ro/logs"));
    }
}
