//! `rota dev`: one process with the server, an embedded store and a local agent.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use jiff::tz::TimeZone;

use rota_client::Client;
use rota_server::ServerConfig;

use crate::UsageError;
use crate::cli::{DevArgs, NodeArgs, ServerArgs, ServerCommand};
use crate::examples;
use crate::membership::membership;

/// Starts `rota dev` and serves until Ctrl-C or SIGTERM.
pub async fn run(args: DevArgs) -> Result<()> {
    let mut config = server_config(&args.server)?;
    let node = &args.node;
    config.node = node.name.clone().unwrap_or_else(hostname);
    config.cores = node.cores.unwrap_or_else(detect_cores);
    config.mems = node.mems.unwrap_or_else(detect_mems);
    config.kill_grace = Duration::from_secs(node.kill_grace);
    config.local_agent = true;
    config.labels = node.labels.clone();
    config.extended = cosmos_extended(node.disk_space, node.net_flow);
    let docker = DockerOptions::of(node)?;
    config.docker_container_python = docker.python;
    config.docker_container_tmp = docker.tmp;
    config.docker_pull_timeout = docker.pull_timeout;
    if config.cores <= 0.0 || config.mems <= 0 {
        return Err(UsageError("--cores and --mems must be greater than 0".into()).into());
    }
    let listener = bind(&args.server).await?;
    let address = listener.local_addr()?;
    let serving = format!(
        "rota dev: serving http://{address} — data in {}, logs in {}, {} cores and {} MB offered",
        config.data_dir.display(),
        config.log_dir.display(),
        config.cores,
        config.mems
    );
    if args.examples {
        let client = Client::new(&format!("http://{address}"));
        tokio::spawn(async move {
            if let Err(e) = examples::load(&client).await {
                tracing::error!(error = %e, "cannot load the examples");
            }
        });
    }
    serve(config, listener, serving).await
}

/// Starts `rota server`: the store, the loops and the API, for remote agents; with members
/// (`--members`, or Cosmos' `server.hosts`) or `--join`, as a member of a Raft-replicated
/// cluster.
pub async fn server(command: ServerCommand) -> Result<()> {
    let cluster = membership(command.id, &command.members, command.join)?;
    let args = command.server;
    let mut config = server_config(&args)?;
    config.cluster = cluster;
    let listener = bind(&args).await?;
    let serving = format!(
        "rota server: serving http://{} — data in {}; nodes join with `rota agent`",
        listener.local_addr()?,
        config.data_dir.display()
    );
    serve(config, listener, serving).await
}

/// Runs the server until Ctrl-C or SIGTERM, printing `serving` once it answers requests.
async fn serve(
    config: ServerConfig,
    listener: tokio::net::TcpListener,
    serving: String,
) -> Result<()> {
    rota_server::run_dev(
        config,
        listener,
        || eprintln!("{serving}"),
        shutdown_signal(),
    )
    .await?;
    Ok(())
}

/// The settings of a server without a local node; `rota dev` adds its node's.
fn server_config(args: &ServerArgs) -> Result<ServerConfig> {
    let data = data_dir(&args.data)?;
    Ok(ServerConfig {
        log_dir: args.log_dir.clone().unwrap_or_else(|| data.join("logs")),
        data_dir: data,
        cores: 0.0,
        mems: 0,
        time_zone: time_zone(args.time_zone.as_deref())?,
        node: hostname(),
        max_body: args.max_body,
        kill_grace: Duration::from_secs(10),
        local_agent: false,
        heartbeat_timeout: Duration::from_secs(args.heartbeat_timeout),
        labels: Vec::new(),
        extended: Default::default(),
        docker_container_python: None,
        docker_container_tmp: None,
        docker_pull_timeout: None,
        cluster: None,
    })
}

async fn bind(args: &ServerArgs) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))
}

/// A node's Docker settings (Cosmos' `docker.*`), checked.
pub struct DockerOptions {
    /// Cosmos' `docker.container.python`.
    pub python: Option<String>,
    /// Cosmos' `docker.container.tmp`, absolute.
    pub tmp: Option<PathBuf>,
    /// Cosmos' `docker.image.pull.timeout`.
    pub pull_timeout: Option<Duration>,
}

impl DockerOptions {
    /// The Docker settings of a node's arguments.
    pub fn of(node: &NodeArgs) -> Result<DockerOptions> {
        if node
            .docker_container_python
            .as_deref()
            .is_some_and(|script| script.trim().is_empty())
        {
            return Err(UsageError("--docker-container-python must name a script".into()).into());
        }
        Ok(DockerOptions {
            python: node.docker_container_python.clone(),
            tmp: node
                .docker_container_tmp
                .as_deref()
                .map(std::path::absolute)
                .transpose()
                .context("--docker-container-tmp")?,
            pull_timeout: node.docker_image_pull_timeout.map(Duration::from_millis),
        })
    }
}

/// Cosmos' `server.disk.space` and `server.net.flow` as the extended resources apps'
/// `cosmos.app.disk.space` and `cosmos.app.net.flow` count against.
pub fn cosmos_extended(disk_space: Option<u64>, net_flow: Option<u64>) -> BTreeMap<String, u64> {
    let [(_, disk), (_, net)] = rota_model::spec::COSMOS_EXTENDED;
    [(disk, disk_space), (net, net_flow)]
        .into_iter()
        .filter_map(|(name, amount)| Some((name.to_string(), amount?)))
        .collect()
}

/// The zone named on the command line, or the system's.
fn time_zone(name: Option<&str>) -> Result<TimeZone> {
    match name {
        Some(name) => TimeZone::get(name)
            .map_err(|_| UsageError(format!("--time-zone: unknown time zone `{name}`")).into()),
        None => Ok(TimeZone::system()),
    }
}

/// The data directory, created and made absolute.
fn data_dir(path: &std::path::Path) -> Result<PathBuf> {
    std::fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
    std::fs::canonicalize(path).with_context(|| format!("cannot resolve {}", path.display()))
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}

/// The cores of this machine.
pub fn detect_cores() -> f64 {
    std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
}

/// Total memory in MB, from /proc/meminfo.
pub fn detect_mems() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kb: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb / 1024)
        })
        .unwrap_or(1024)
}

/// This machine's host name (`local` when it has none).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "local".into())
}
