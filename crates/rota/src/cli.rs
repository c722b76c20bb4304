//! The command line: one binary, `rota`, with the Cosmos client verbs (DESIGN §4).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// rota: a distributed scheduler for batch jobs and services.
#[derive(Debug, Parser)]
#[command(name = "rota", version, about, propagate_version = true)]
pub struct Cli {
    /// The server (or servers, comma-separated, tried in order).
    #[arg(
        long,
        global = true,
        env = "ROTA_SERVER",
        default_value = "http://127.0.0.1:7070"
    )]
    pub server: String,
    /// How to print results.
    #[arg(long, short, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// The verb.
    #[command(subcommand)]
    pub command: Verb,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned columns for people.
    Table,
    /// JSON for programs.
    Json,
}

/// Every verb.
#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Run a server with an embedded store and a local agent in this process.
    Dev(DevArgs),
    /// Run a server without a local agent: remote agents (`rota agent`) run the apps.
    Server(ServerCommand),
    /// Show the cluster, add or remove members.
    #[command(subcommand)]
    Cluster(ClusterVerb),
    /// Run a node agent: register this node with the server, run what is placed on it.
    Agent(AgentArgs),
    /// List the nodes with their capacity, usage and state.
    Nodes,
    /// Drain a node or make it ready again.
    #[command(subcommand)]
    Node(NodeVerb),
    /// Add an app from its JSON file (Cosmos' `-add`).
    Add {
        /// The app JSON file.
        file: PathBuf,
    },
    /// Make a new version of an app from its JSON file; fields left out keep their value.
    Update {
        /// The app JSON file.
        file: PathBuf,
    },
    /// Remove an app; its waiting runs are killed, its records stay.
    Remove {
        /// NAME:QUEUE.
        app: String,
        /// Also remove the dependencies of other apps on it (refused otherwise).
        #[arg(long)]
        force: bool,
    },
    /// Start an app's cron.
    Start {
        /// NAME:QUEUE.
        app: String,
    },
    /// Stop an app's cron; queued and running runs go on.
    Stop {
        /// NAME:QUEUE.
        app: String,
    },
    /// Run an app now, or for a given schedule time.
    Trigger {
        /// NAME:QUEUE.
        app: String,
        /// The schedule time (YYYY-MM-DD HH:MM:SS or RFC 3339); now when absent.
        #[arg(long)]
        time: Option<String>,
        /// A JSON object laid over the app's params for this run only.
        #[arg(long)]
        params: Option<String>,
    },
    /// Run an app for a timestamp with params laid over its own, from Cosmos' call.json
    /// (name, queue, timestamp, params); a run that already ended for that time runs again.
    Call {
        /// The call JSON file.
        file: PathBuf,
    },
    /// List the queues: apps, waiting and running runs, weight, quota, usage and share.
    Queues,
    /// Change a queue's settings.
    #[command(subcommand)]
    Queue(QueueVerb),
    /// List the apps of a queue (all apps without one).
    Apps {
        /// The queue.
        queue: Option<String>,
    },
    /// Describe an app.
    App {
        /// NAME:QUEUE.
        app: String,
        /// List its versions with what changed in each.
        #[arg(long)]
        versions: bool,
    },
    /// Make a new version of an app equal to an earlier one.
    Rollback {
        /// NAME:QUEUE.
        app: String,
        /// The version to return to.
        #[arg(value_name = "VERSION")]
        to: u32,
    },
    /// List the running runs of a queue (all queues without one).
    Running {
        /// The queue.
        queue: Option<String>,
    },
    /// List the waiting queue.
    Queued,
    /// Remove a run from the waiting queue (Cosmos' `-deleteQueued`).
    #[command(name = "delete-queued")]
    DeleteQueued {
        /// The run id (Cosmos' mid).
        id: u64,
    },
    /// List an app's run records.
    Records(Selection),
    /// Kill runs.
    Kill(Selection),
    /// Print a run's start.log and container.log.
    Log {
        #[command(flatten)]
        selection: Selection,
        /// Keep printing new output until the run ends.
        #[arg(long, short)]
        follow: bool,
    },
    /// Re-run the pending, failed, killed, timed-out, lost and rejected runs of a range, and
    /// create the runs the cron says should exist there.
    Repair(Rerun),
    /// Re-run every ended run of a range.
    Replay(Rerun),
    /// Add, list or remove dependencies (Cosmos' addDepend, getDepends, removeDepend).
    #[command(subcommand)]
    Depend(DependVerb),
    /// Print the dependency graph (all of it, or around one app) with each app's latest state.
    Graph {
        /// NAME:QUEUE.
        app: Option<String>,
        /// Print Graphviz DOT.
        #[arg(long)]
        dot: bool,
    },
    /// Say what a run waits for.
    Why {
        /// The run id.
        id: u64,
    },
    /// Import from another scheduler.
    #[command(subcommand)]
    Import(ImportVerb),
    /// Measure a real `rota dev` on loopback: throughput, cron lateness, bursts, memory, API.
    Bench(crate::bench::BenchArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Which runs: a Cosmos JSON file, a run id, or NAME:QUEUE with `--time` or `--begin/--end`.
#[derive(Debug, Args)]
pub struct Selection {
    /// A Cosmos JSON file (records.json, kill.json, log.json, repair.json, replay.json),
    /// NAME:QUEUE, or a run id.
    pub target: String,
    /// One schedule time.
    #[arg(long, conflicts_with_all = ["begin", "end"])]
    pub time: Option<String>,
    /// First schedule time of the range (inclusive).
    #[arg(long, requires = "end")]
    pub begin: Option<String>,
    /// Last schedule time of the range (inclusive).
    #[arg(long, requires = "begin")]
    pub end: Option<String>,
}

/// Options of `repair` and `replay`.
#[derive(Debug, Args)]
pub struct Rerun {
    #[command(flatten)]
    pub selection: Selection,
    /// Also re-run, in dependency order, the dependents whose windows include the re-run runs.
    #[arg(long)]
    pub cascade: bool,
    /// Only list what would run.
    #[arg(long)]
    pub dry_run: bool,
}

/// The `queue` verbs.
#[derive(Debug, Subcommand)]
pub enum QueueVerb {
    /// Set a queue's weight, quota, guaranteed minimum or preemption; the others keep their
    /// value.
    Set {
        /// The queue.
        name: String,
        /// Its weight in fair sharing (1 or more).
        #[arg(long)]
        weight: Option<u32>,
        /// The most cores its running runs may use together.
        #[arg(long)]
        quota_cores: Option<f64>,
        /// The most memory (MB) its running runs may use together.
        #[arg(long)]
        quota_mems: Option<i64>,
        /// Cores it gets before queues above their share.
        #[arg(long)]
        min_cores: Option<f64>,
        /// Memory (MB) it gets before queues above their share.
        #[arg(long)]
        min_mems: Option<i64>,
        /// Whether it may preempt runs of queues above their share while below its minimum.
        #[arg(long)]
        preemption: Option<bool>,
    },
}

/// What `import` reads.
#[derive(Debug, Subcommand)]
pub enum ImportVerb {
    /// A mysqldump of Cosmos' database: apps (`applications`), dependencies, run history
    /// (`records`) and which apps were started (Quartz' `QRTZ_TRIGGERS`).
    Cosmos {
        /// The dump file (`mysqldump` of Cosmos' database).
        #[arg(required_unless_present = "from", conflicts_with = "from")]
        file: Option<PathBuf>,
        /// The dump file, as `--from DUMP.sql`.
        #[arg(long, value_name = "DUMP.sql")]
        from: Option<PathBuf>,
    },
}

/// The `depend` verbs.
#[derive(Debug, Subcommand)]
pub enum DependVerb {
    /// Add a dependency from Cosmos' depend JSON file (name, queue, dependName, dependQueue,
    /// fromSeconds, toSeconds); adding it again changes its window.
    Add {
        /// The depend JSON file.
        file: PathBuf,
    },
    /// List an app's dependencies.
    Get {
        /// NAME:QUEUE.
        app: String,
    },
    /// Remove a dependency named by Cosmos' depend JSON file (the seconds may be left out).
    Remove {
        /// The depend JSON file.
        file: PathBuf,
    },
}

/// The `cluster` verbs.
#[derive(Debug, Subcommand)]
pub enum ClusterVerb {
    /// Members, leader, term, commit index and each follower's lag.
    Status,
    /// Add a server started with `rota server --id ID --join`: it catches up with the log as
    /// a learner, then votes.
    Add {
        /// Its member id (its --id).
        id: u64,
        /// Its base URL, e.g. http://10.0.0.4:7070.
        url: String,
    },
    /// Remove a member, voter or learner; removing the leader moves leadership to another
    /// voter.
    Remove {
        /// Its member id.
        id: u64,
    },
}

/// The `node` verbs.
#[derive(Debug, Subcommand)]
pub enum NodeVerb {
    /// The node takes no new runs; its running runs finish.
    Drain {
        /// The node.
        node: String,
    },
    /// The node takes new runs again.
    Ready {
        /// The node.
        node: String,
    },
}

/// Options of `rota server` (and of the server part of `rota dev`).
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// A configuration file: TOML (`rota.toml`), or Cosmos' `*.properties`; flags and
    /// environment variables override its values.
    #[arg(long, env = "ROTA_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the store (and, by default, the logs) live.
    #[arg(long, default_value = "rota-data", env = "ROTA_DATA")]
    pub data: PathBuf,
    /// The address to serve the API on.
    #[arg(long, default_value = "127.0.0.1:7070", env = "ROTA_LISTEN")]
    pub listen: SocketAddr,
    /// Root of the run logs (Cosmos' docker.container.log); DATA/logs when absent.
    #[arg(long, env = "ROTA_LOG_DIR")]
    pub log_dir: Option<PathBuf>,
    /// Time zone of times without an offset and of apps that name none; the system's when absent.
    #[arg(long, env = "ROTA_TIME_ZONE")]
    pub time_zone: Option<String>,
    /// Seconds without a poll after which a remote node is declared down and its runs lost.
    #[arg(long, default_value_t = 10, env = "ROTA_HEARTBEAT_TIMEOUT")]
    pub heartbeat_timeout: u64,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 1 << 20, env = "ROTA_MAX_BODY")]
    pub max_body: usize,
}

/// Options of `rota server`.
#[derive(Debug, Args)]
pub struct ServerCommand {
    #[command(flatten)]
    pub server: ServerArgs,
    /// This server's member id in a replicated cluster (with --members or --join); with
    /// Cosmos' server.hosts, the position of this machine's host name in them when absent.
    #[arg(long, env = "ROTA_ID")]
    pub id: Option<u64>,
    /// A founding member: every founding member of the cluster as ID=URL, comma-separated
    /// (this one included), e.g.
    /// 1=http://10.0.0.1:7070,2=http://10.0.0.2:7070,3=http://10.0.0.3:7070.
    #[arg(long, value_delimiter = ',', env = "ROTA_MEMBERS")]
    pub members: Vec<String>,
    /// A new member of a running cluster (with --id): never makes a cluster of its own, waits
    /// as a learner until a leader adds it (`rota cluster add ID URL`).
    #[arg(long, env = "ROTA_JOIN", conflicts_with = "members")]
    pub join: bool,
}

/// Options of the node that `rota agent` (or `rota dev`) runs apps on.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The node's name; the host name when absent.
    #[arg(long = "node", env = "ROTA_NODE")]
    pub name: Option<String>,
    /// Cores to offer (Cosmos' server.cores); detected when absent.
    #[arg(long, env = "ROTA_CORES")]
    pub cores: Option<f64>,
    /// Memory to offer in MB (Cosmos' server.mems); detected when absent.
    #[arg(long, env = "ROTA_MEMS")]
    pub mems: Option<i64>,
    /// The queues this node serves, comma-separated (Cosmos' server.labels); all when absent.
    #[arg(long, value_delimiter = ',', env = "ROTA_LABELS")]
    pub labels: Vec<String>,
    /// Disk this node offers to apps' cosmos.app.disk.space (Cosmos' server.disk.space); no
    /// limit when absent.
    #[arg(long, env = "ROTA_DISK_SPACE")]
    pub disk_space: Option<u64>,
    /// Network this node offers to apps' cosmos.app.net.flow (Cosmos' server.net.flow); no
    /// limit when absent.
    #[arg(long, env = "ROTA_NET_FLOW")]
    pub net_flow: Option<u64>,
    /// Seconds between SIGTERM and SIGKILL when a run is stopped.
    #[arg(long, default_value_t = 10, env = "ROTA_KILL_GRACE")]
    pub kill_grace: u64,
    /// Cosmos' docker.container.python (for example start.py): Docker apps with no `command`
    /// and no `contract` run `python SCRIPT` with Cosmos' 13 arguments (Cosmos' container
    /// contract).
    #[arg(long, value_name = "SCRIPT", env = "ROTA_DOCKER_CONTAINER_PYTHON")]
    pub docker_container_python: Option<String>,
    /// Cosmos' docker.container.tmp: the host directory mounted at /tmp in containers.
    #[arg(long, value_name = "DIR", env = "ROTA_DOCKER_CONTAINER_TMP")]
    pub docker_container_tmp: Option<PathBuf>,
    /// Cosmos' docker.image.pull.timeout: how long an image pull may take, in milliseconds
    /// (as in Cosmos); ten minutes when absent.
    #[arg(long, value_name = "MS", env = "ROTA_DOCKER_IMAGE_PULL_TIMEOUT")]
    pub docker_image_pull_timeout: Option<u64>,
}

/// Options of `rota agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// A configuration file: TOML (`rota.toml`), or Cosmos' `*.properties`; flags and
    /// environment variables override its values.
    #[arg(long, env = "ROTA_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub node: NodeArgs,
    /// An attribute for placement constraints, KEY=VALUE (repeatable, or comma-separated).
    #[arg(
        long = "attr",
        value_name = "KEY=VALUE",
        value_delimiter = ',',
        env = "ROTA_ATTRS"
    )]
    pub attributes: Vec<String>,
    /// Root of the run logs (Cosmos' docker.container.log).
    #[arg(long, default_value = "rota-agent-logs", env = "ROTA_LOG_DIR")]
    pub log_dir: PathBuf,
}

/// Options of `rota dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub node: NodeArgs,
    /// Load and start the example apps.
    #[arg(long, env = "ROTA_EXAMPLES")]
    pub examples: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
