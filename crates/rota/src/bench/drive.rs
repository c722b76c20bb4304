//! Driving the server with many concurrent requests: a pool of client tasks, and the setup
//! steps every benchmark shares (add apps, start them, wait until nothing runs).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rota_client::Client;

use super::common::{QUEUE, key};

/// Calls `f(i)` for every `i` in `0..n` on `workers` concurrent tasks, and returns the
/// results in the order of `i`.
pub async fn indexed<T, F, Fut>(n: usize, workers: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send,
{
    let f = Arc::new(f);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers.clamp(1, n.max(1)) {
        let (f, next) = (f.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return done;
                }
                done.push((i, f(i).await));
            }
        }));
    }
    let mut all = Vec::with_capacity(n);
    for task in tasks {
        all.extend(task.await.expect("a client task panicked"));
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, t)| t).collect()
}

/// Adds `n` apps, the JSON of app `i` made by `json(i)`, with `workers` concurrent requests;
/// returns how long it took.
pub async fn add_apps<F>(client: &Client, n: usize, workers: usize, json: F) -> Result<Duration>
where
    F: Fn(usize) -> Vec<u8> + Send + Sync + 'static,
{
    let began = Instant::now();
    let client = client.clone();
    let results = indexed(n, workers, move |i| {
        let (client, body) = (client.clone(), json(i));
        async move { client.add(body).await.map(|_| ()) }
    })
    .await;
    if let Some(e) = results.into_iter().find_map(Result::err) {
        return Err(e).context("cannot add an app");
    }
    Ok(began.elapsed())
}

/// Starts (or, with `start` false, stops) the crons of the apps named `name(i)` for `i` in
/// `0..n`; returns how long it took.
pub async fn schedule_apps<F>(
    client: &Client,
    n: usize,
    workers: usize,
    start: bool,
    name: F,
) -> Result<Duration>
where
    F: Fn(usize) -> String + Send + Sync + 'static,
{
    let began = Instant::now();
    let client = client.clone();
    let results = indexed(n, workers, move |i| {
        let (client, key) = (client.clone(), key(&name(i)));
        async move {
            if start {
                client.start(&key).await.map(|_| ())
            } else {
                client.stop(&key).await.map(|_| ())
            }
        }
    })
    .await;
    if let Some(e) = results.into_iter().find_map(Result::err) {
        return Err(e).context("cannot start or stop an app");
    }
    Ok(began.elapsed())
}

/// Runs queued and running in the benchmark queue, as `GET /v1/queues` counts them.
pub async fn active(client: &Client) -> Result<(u64, u64)> {
    let queues = client.queues().await?;
    Ok(queues
        .iter()
        .find(|q| q.name == QUEUE)
        .map_or((0, 0), |q| (q.queued, q.running)))
}

/// Waits until the benchmark queue has nothing queued or running, polling every 20 ms.
pub async fn wait_idle(client: &Client, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let (queued, running) = active(client).await?;
        if queued == 0 && running == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("still {queued} queued and {running} running after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
