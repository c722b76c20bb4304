//! `start.log`: one timestamped line per thing the runtime did, appended; and the names of the
//! runtime's two logs in a run's log directory ([`LogFiles`]).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use jiff::Timestamp;

/// The name of the runtime's own log in a run's log directory.
pub const START_LOG: &str = "start.log";
/// The name of the file that receives the process's stdout and stderr.
pub const CONTAINER_LOG: &str = "container.log";
/// The runtime's own log when the app writes `start.log` itself (Cosmos' container contract).
pub const ROTA_START_LOG: &str = "rota-start.log";
/// The container's stdout and stderr when the app writes `container.log` itself (Cosmos'
/// container contract).
pub const ROTA_CONTAINER_LOG: &str = "rota-container.log";

/// The names of the two files the runtime appends to in a run's log directory: its own steps,
/// and the run's stdout and stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogFiles {
    /// The runtime's steps, one timestamped line each.
    pub start: &'static str,
    /// The run's stdout and stderr.
    pub output: &'static str,
}

impl LogFiles {
    /// rota's own contract (DESIGN §4): `start.log` and `container.log`.
    pub const ROTA: LogFiles = LogFiles {
        start: START_LOG,
        output: CONTAINER_LOG,
    };
    /// Beside an app that writes `start.log` and `container.log` itself, as Cosmos' container
    /// contract asks: `rota-start.log` and `rota-container.log`, so that neither overwrites
    /// nor interleaves with the other.
    pub const BESIDE_APP: LogFiles = LogFiles {
        start: ROTA_START_LOG,
        output: ROTA_CONTAINER_LOG,
    };
}

impl Default for LogFiles {
    /// [`LogFiles::ROTA`].
    fn default() -> LogFiles {
        LogFiles::ROTA
    }
}

/// A run's `start.log`. Each line is written with one `write` on a file opened with `O_APPEND`,
/// so lines from several writers do not interleave. The file is opened for each line rather than
/// held open: a node may run thousands of long processes, and each one already costs the agent a
/// pidfd. Write errors are reported once through `tracing` and otherwise ignored: a full disk must
/// not change how a run ends.
#[derive(Clone, Debug)]
pub(crate) struct StartLog {
    path: PathBuf,
    failed: bool,
}

impl StartLog {
    /// Checks that `path` can be created or appended to.
    pub(crate) fn open(path: &Path) -> io::Result<StartLog> {
        open_append(path)?;
        Ok(StartLog {
            path: path.to_path_buf(),
            failed: false,
        })
    }

    /// Writes `<timestamp> <message>`.
    pub(crate) fn line(&mut self, message: fmt::Arguments<'_>) {
        let text = format!("{} {message}\n", fmt_timestamp(Timestamp::now()));
        self.write(&text);
    }

    /// Writes a line as is, without a timestamp.
    pub(crate) fn raw(&mut self, line: &str) {
        self.write(&format!("{line}\n"));
    }

    fn write(&mut self, text: &str) {
        match open_append(&self.path).and_then(|mut file| file.write_all(text.as_bytes())) {
            Err(err) if !self.failed => {
                self.failed = true;
                tracing::warn!(path = %self.path.display(), %err, "cannot write the run's start log");
            }
            _ => {}
        }
    }
}

/// Creates the log directory, opens the runtime's log `name` (`start.log`, or
/// `rota-start.log` beside an app's own) in it and writes the attempt separator
/// (`--- attempt N ---`) when there is an attempt number. The error names the path at fault.
pub(crate) fn open_run_log(
    log_dir: &Path,
    name: &str,
    attempt: Option<u32>,
) -> Result<StartLog, (PathBuf, io::Error)> {
    std::fs::create_dir_all(log_dir).map_err(|e| (log_dir.to_path_buf(), e))?;
    let start_log = log_dir.join(name);
    let mut log = StartLog::open(&start_log).map_err(|e| (start_log.clone(), e))?;
    if let Some(attempt) = attempt {
        log.raw(&format!("--- attempt {attempt} ---"));
    }
    Ok(log)
}

pub(crate) fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// `2026-11-22 01:02:03.123Z`: UTC, milliseconds.
pub(crate) fn fmt_timestamp(ts: Timestamp) -> impl fmt::Display {
    ts.strftime("%Y-%m-%d %H:%M:%S%.3fZ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        let ts: Timestamp = "2026-11-22T01:02:03.123456Z".parse().unwrap();
        assert_eq!(fmt_timestamp(ts).to_string(), "2026-11-22 01:02:03.123Z");
        let ts: Timestamp = "2026-11-22T01:02:03Z".parse().unwrap();
        assert_eq!(fmt_timestamp(ts).to_string(), "2026-11-22 01:02:03.000Z");
    }

    #[test]
    fn lines_are_appended_not_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(START_LOG);
        StartLog::open(&path).unwrap().raw("first");
        let mut log = StartLog::open(&path).unwrap();
        log.line(format_args!("second {}", 2));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0], "first");
        assert!(lines[1].ends_with("Z second 2"), "{text}");
    }
}
