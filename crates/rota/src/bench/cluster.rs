//! Three `rota server` processes replicated by Raft on loopback: this same binary, each on a
//! port asked of the OS and its own data directory under one temporary root, stopped and
//! removed when dropped.

use std::fs::File;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rota_client::Client;

use super::server::Cpu;

/// How many members the cluster has.
const MEMBERS: usize = 3;

/// How to start the members.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Their `RUST_LOG`.
    pub log: String,
    /// Keep the data directories (stores, stderr) after the benchmark.
    pub keep: bool,
}

/// Three running `rota server` members.
pub struct RaftCluster {
    children: Vec<Child>,
    urls: Vec<String>,
    root: PathBuf,
    keep: bool,
}

impl RaftCluster {
    /// Starts the members and waits until one of them leads.
    pub async fn start(options: ClusterOptions) -> Result<RaftCluster> {
        let root = std::env::temp_dir().join(format!(
            "rota-bench-cluster-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        std::fs::create_dir_all(&root)
            .with_context(|| format!("cannot create {}", root.display()))?;
        let ports = (0..MEMBERS)
            .map(|_| free_port())
            .collect::<Result<Vec<u16>>>()?;
        let urls: Vec<String> = ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect();
        let members = urls
            .iter()
            .enumerate()
            .map(|(i, url)| format!("{}={url}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = RaftCluster {
            children: Vec::new(),
            urls,
            root,
            keep: options.keep,
        };
        let exe = std::env::current_exe().context("cannot find the rota binary")?;
        for (i, port) in ports.iter().enumerate() {
            let id = i + 1;
            let stderr_path = cluster.root.join(format!("server-{id}.stderr"));
            let stderr = File::create(&stderr_path)
                .with_context(|| format!("cannot create {}", stderr_path.display()))?;
            let child = Command::new(&exe)
                .arg("server")
                .arg("--data")
                .arg(cluster.root.join(format!("server-{id}")))
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .args(["--time-zone", "UTC", "--heartbeat-timeout", "60"])
                .args(["--id", &id.to_string(), "--members", &members])
                .env("RUST_LOG", &options.log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .context("cannot start rota server")?;
            cluster.children.push(child);
        }
        cluster.wait_for_leader(Duration::from_secs(120)).await?;
        Ok(cluster)
    }

    /// A client of the leader alone (no redirect on each request).
    pub async fn leader(&self) -> Result<Client> {
        let url = self.leader_url().await?;
        Ok(Client::new(&url))
    }

    /// The leader's view of the cluster (`GET /v1/cluster`).
    pub async fn status(&self) -> Result<serde_json::Value> {
        Ok(self.leader().await?.cluster().await?)
    }

    async fn leader_url(&self) -> Result<String> {
        for url in &self.urls {
            let Ok(status) = Client::new(url).cluster().await else {
                continue;
            };
            if status["role"] == "leader" {
                return Ok(url.clone());
            }
        }
        bail!("no member leads")
    }

    async fn wait_for_leader(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.leader_url().await.is_ok() {
                return Ok(());
            }
            for (i, child) in self.children.iter_mut().enumerate() {
                if let Some(status) = child.try_wait()? {
                    let log = self.root.join(format!("server-{}.stderr", i + 1));
                    let text = std::fs::read_to_string(log).unwrap_or_default();
                    bail!("rota server {} exited ({status}):\n{text}", i + 1);
                }
            }
            if Instant::now() > deadline {
                bail!("no member of the cluster leads after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl RaftCluster {
    /// The CPU time each member has used so far, in member order.
    pub fn cpu(&self) -> Result<Vec<Cpu>> {
        self.children
            .iter()
            .map(|child| Cpu::of(&child.id().to_string()))
            .collect()
    }
}

impl Drop for RaftCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.keep {
            eprintln!("rota bench: kept {}", self.root.display());
        } else if let Err(e) = std::fs::remove_dir_all(&self.root) {
            eprintln!("rota bench: cannot remove {}: {e}", self.root.display());
        }
    }
}

/// A free loopback port, asked of the OS (the members must know each other's addresses
/// before they start).
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?;
    Ok(listener.local_addr()?.port())
}
