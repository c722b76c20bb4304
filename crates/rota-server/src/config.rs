//! Settings of a server (Cosmos' `server.*` keys where they exist).

use std::path::PathBuf;
use std::time::Duration;

use jiff::tz::TimeZone;

/// How a server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the store lives.
    pub data_dir: PathBuf,
    /// Root of the run logs (Cosmos' `docker.container.log`).
    pub log_dir: PathBuf,
    /// Cores the local node offers (Cosmos' `server.cores`).
    pub cores: f64,
    /// Memory the local node offers, MB (Cosmos' `server.mems`).
    pub mems: i64,
    /// The zone of `YYYY-MM-DD HH:MM:SS` times and of apps that name none.
    pub time_zone: TimeZone,
    /// The local node's name.
    pub node: String,
    /// Largest request body, bytes.
    pub max_body: usize,
    /// Time between SIGTERM and SIGKILL when a run is stopped.
    pub kill_grace: Duration,
    /// Whether the server runs an agent for its own node (`rota dev`) or only serves
    /// remote agents (`rota server`).
    pub local_agent: bool,
    /// A remote node not heard from for this long is declared down.
    pub heartbeat_timeout: Duration,
    /// The queues the local node serves (Cosmos' `server.labels`); empty for all.
    pub labels: Vec<String>,
    /// This server's membership of a Raft cluster (`rota server --id --members`); `None`
    /// for a single server over its local log.
    pub cluster: Option<Membership>,
    /// Extended resources the local node offers (Cosmos' `server.disk.space` as
    /// `disk.space`, `server.net.flow` as `net.flow`).
    pub extended: std::collections::BTreeMap<String, u64>,
    /// Cosmos' `docker.container.python` (for example `start.py`): when set, the local node
    /// runs Docker apps that name no `contract` and no `command` under Cosmos' container
    /// contract.
    pub docker_container_python: Option<String>,
    /// Cosmos' `docker.container.tmp`: the host directory mounted at `/tmp` in containers;
    /// the Docker runtime's default when absent.
    pub docker_container_tmp: Option<PathBuf>,
    /// Cosmos' `docker.image.pull.timeout`: how long an image pull may take.
    pub docker_pull_timeout: Option<Duration>,
}

/// A server's place in a Raft cluster.
#[derive(Debug, Clone)]
pub struct Membership {
    /// This server's member id.
    pub id: u64,
    /// How it enters the cluster.
    pub start: MemberStart,
}

/// How a member enters its cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberStart {
    /// A founding member (`--members`): every founding member's id and base URL (this one
    /// included). The first configuration is made of them, once; a member that already has
    /// a configuration keeps it.
    Founding(Vec<(u64, String)>),
    /// A new member (`--join`): it never makes a configuration of its own; it waits, as a
    /// learner, until a leader adds it (`rota cluster add`).
    Join,
}
