//! The `cluster` verbs: the cluster's status, and adding or removing members.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::cli::{ClusterVerb, Output};
use crate::table;
use crate::verbs::Printer;

/// How often `cluster add` says it is still waiting for the new member to catch up.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Runs one `cluster` verb.
pub(crate) async fn run(p: &Printer, verb: ClusterVerb) -> Result<()> {
    let c = &p.client;
    let (message, status) = match verb {
        ClusterVerb::Status => (None, c.cluster().await?),
        ClusterVerb::Add { id, url } => {
            let waiting = format!(
                "adding member {id} at {url}: it catches up with the log as a learner, then votes…"
            );
            let status = progress(p.output, &waiting, c.add_member(id, &url)).await?;
            (Some(format!("member {id} added")), status)
        }
        ClusterVerb::Remove { id } => {
            let status = c.remove_member(id).await?;
            (Some(format!("member {id} removed")), status)
        }
    };
    match p.output {
        Output::Json => p.json(&status),
        Output::Table => {
            if let Some(message) = message {
                println!("{message}");
            }
            print!("{}", table::cluster(&status));
            Ok(())
        }
    }
}

/// Awaits `work`, saying on stderr (for people, not with `--output json`) what it waits for
/// and, every few seconds, that it still does.
async fn progress<T>(output: Output, message: &str, work: impl Future<Output = T>) -> T {
    if output == Output::Json {
        return work.await;
    }
    eprintln!("{message}");
    let started = Instant::now();
    let mut ticks =
        tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
    tokio::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = ticks.tick() => {
                eprintln!("  still waiting ({} s)…", started.elapsed().as_secs());
            }
        }
    }
}
