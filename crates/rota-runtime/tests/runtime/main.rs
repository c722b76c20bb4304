//! The runtimes against the real thing: processes, this host's cgroups, and a Docker engine
//! where one is reachable (elsewhere the Docker tests print that they were skipped).

mod cosmos;
mod docker;
mod limits;
mod process;
mod registry;

use std::time::{Duration, Instant};

/// Polls `condition` every 10 ms until it holds or `limit` has passed.
pub async fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    condition()
}
