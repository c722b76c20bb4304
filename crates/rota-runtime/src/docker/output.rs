//! A container's stdout and stderr, appended to the run's `container.log` (or, beside an app
//! that writes its own, `rota-container.log`: the file is the caller's choice).

use std::path::{Path, PathBuf};
use std::pin::Pin;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::{Stream, StreamExt};
use jiff::Timestamp;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;

type Output = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// Appends what `output` yields to the file at `path` until it ends (the container's streams
/// close when it exits).
pub(crate) fn copy(output: Output, path: &Path) -> JoinHandle<()> {
    tokio::spawn(append(output, path.to_path_buf()))
}

/// For an adopted container: its output since `since` (following it while it runs), appended
/// to the file at `path`.
pub(crate) fn follow(
    docker: &Docker,
    id: &str,
    since: Timestamp,
    running: bool,
    path: &Path,
) -> JoinHandle<()> {
    let options = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .follow(running)
        .since(since.as_second().clamp(0, i64::from(i32::MAX)) as i32)
        .build();
    let output: Output = Box::pin(docker.logs(id, Some(options)));
    copy(output, path)
}

/// When the output file at `path` was last written: where the output of an adopted container
/// resumes.
pub(crate) fn resume_point(path: &Path) -> Option<Timestamp> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Timestamp::try_from(modified).ok()
}

async fn append(mut output: Output, path: PathBuf) {
    let mut file = match tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .await
    {
        Ok(file) => file,
        Err(err) => {
            tracing::warn!(path = %path.display(), %err, "cannot open the run's output log");
            return;
        }
    };
    let mut failed = false;
    while let Some(chunk) = output.next().await {
        let bytes = match &chunk {
            Ok(LogOutput::StdOut { message })
            | Ok(LogOutput::StdErr { message })
            | Ok(LogOutput::Console { message }) => message.as_ref(),
            Ok(LogOutput::StdIn { .. }) => continue,
            Err(err) => {
                tracing::debug!(%err, "the container's output stream ended with an error");
                break;
            }
        };
        if let Err(err) = file.write_all(bytes).await
            && !failed
        {
            failed = true;
            tracing::warn!(path = %path.display(), %err, "cannot write the run's output log");
        }
    }
    let _ = file.flush().await;
}
