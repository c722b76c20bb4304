//! The image of a run: used as it is when present, else pulled within the pull timeout.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;
use tokio::sync::Notify;

use super::error::{DockerError, Failure, failure, pull_error};
use crate::outcome::fmt_duration;
use crate::start_log::StartLog;

/// `registry:5000/team/app:2` → (`registry:5000/team/app`, `2`); no tag means `latest`. A
/// digest (`app@sha256:…`) is kept whole, with no tag.
pub(crate) fn split_image(image: &str) -> (&str, &str) {
    if image.contains('@') {
        return (image, "");
    }
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[name_start..].rfind(':') {
        Some(colon) => (
            &image[..name_start + colon],
            &image[name_start + colon + 1..],
        ),
        None => (image, "latest"),
    }
}

/// Makes sure `image` is on the node: nothing to do when present (a mutable tag is not
/// refreshed, as in Cosmos), else a pull that must finish within `timeout`. A kill asked for
/// meanwhile abandons the pull.
pub(crate) async fn ensure_image(
    docker: &Docker,
    socket: &Path,
    image: &str,
    timeout: Duration,
    log: &mut StartLog,
    kill: &Arc<Notify>,
) -> Result<(), DockerError> {
    match docker.inspect_image(image).await {
        Ok(found) => {
            log.line(format_args!(
                "image {image} present ({})",
                found.id.as_deref().unwrap_or("no id")
            ));
            return Ok(());
        }
        Err(err) => match failure(&err) {
            Failure::Status(404, _) => {}
            Failure::Unreachable(message) => {
                return Err(DockerError::EngineUnavailable {
                    socket: socket.to_path_buf(),
                    message,
                });
            }
            _ => return Err(pull_error(image, &err, socket)),
        },
    }
    log.line(format_args!(
        "pull {image} (timeout {})",
        fmt_duration(timeout)
    ));
    let began = Instant::now();
    let (repository, tag) = split_image(image);
    let options = CreateImageOptionsBuilder::new()
        .from_image(repository)
        .tag(tag)
        .build();
    let pull = async {
        let mut progress = docker.create_image(Some(options), None, None);
        while let Some(step) = progress.next().await {
            if let Err(err) = step {
                return Err(pull_error(image, &err, socket));
            }
        }
        Ok(())
    };
    let result = tokio::select! {
        result = tokio::time::timeout(timeout, pull) => match result {
            Ok(result) => result,
            Err(_) => Err(DockerError::PullTimedOut { image: image.to_string(), after: timeout }),
        },
        () = kill.notified() => Err(DockerError::KilledBeforeStart),
    };
    match &result {
        Ok(()) => log.line(format_args!(
            "pulled {image} in {}",
            fmt_duration(Duration::from_millis(began.elapsed().as_millis() as u64))
        )),
        Err(err) => log.line(format_args!("pull failed: {err}")),
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_split_at_the_tag_not_at_the_registry_port() {
        assert_eq!(split_image("busybox:1"), ("busybox", "1"));
        assert_eq!(split_image("busybox"), ("busybox", "latest"));
        assert_eq!(
            split_image("127.0.0.1:5000/rota-test/busybox:2"),
            ("127.0.0.1:5000/rota-test/busybox", "2")
        );
        assert_eq!(
            split_image("127.0.0.1:5000/busybox"),
            ("127.0.0.1:5000/busybox", "latest")
        );
        assert_eq!(split_image("a@sha256:00ff"), ("a@sha256:00ff", ""));
    }
}
