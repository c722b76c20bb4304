//! What a configuration file holds, in the shape of `rota.toml`: a `[server]`, a `[node]`, a
//! `[docker]` and a `[dev]` table, every key optional.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;

/// A configuration file's settings.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The server and its cluster.
    pub server: ServerSettings,
    /// The node that runs apps (`rota agent`, and the local node of `rota dev`).
    pub node: NodeSettings,
    /// Containers (Cosmos' `docker.*`).
    pub docker: DockerSettings,
    /// `rota dev` alone.
    pub dev: DevSettings,
}

/// `[server]`: Cosmos' `server.port` and `server.hosts`, and the flags of `rota server`.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// `--data`: where the store lives.
    pub data: Option<PathBuf>,
    /// `--listen`: the address to serve on.
    pub listen: Option<SocketAddr>,
    /// Cosmos' `server.port`: serve on every interface on this port; with `hosts`, every
    /// member's port.
    pub port: Option<u16>,
    /// Cosmos' `server.hosts`: every member's host, member `i` being the `i`-th (from 1).
    pub hosts: Option<Vec<String>>,
    /// `--id`: this server's member id.
    pub id: Option<u64>,
    /// `--members`: every member as `ID=URL` (instead of `hosts`).
    pub members: Option<Vec<String>>,
    /// `--join`: a new member of a running cluster, added by `rota cluster add`.
    pub join: Option<bool>,
    /// `--time-zone`.
    pub time_zone: Option<String>,
    /// `--heartbeat-timeout`, seconds.
    pub heartbeat_timeout: Option<u64>,
    /// `--max-body`, bytes.
    pub max_body: Option<usize>,
}

/// `[node]`: Cosmos' `server.cores`, `server.mems`, `server.labels`, `server.disk.space`,
/// `server.net.flow`, and the other flags of the node.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeSettings {
    /// `--node`: the node's name.
    pub name: Option<String>,
    /// Cosmos' `server.cores`.
    pub cores: Option<f64>,
    /// Cosmos' `server.mems`, MB.
    pub mems: Option<i64>,
    /// Cosmos' `server.labels`: the queues the node serves.
    pub labels: Option<Vec<String>>,
    /// `--attr`: attributes for placement constraints (`rota agent`).
    pub attributes: Option<BTreeMap<String, String>>,
    /// Cosmos' `server.disk.space`.
    pub disk_space: Option<u64>,
    /// Cosmos' `server.net.flow`.
    pub net_flow: Option<u64>,
    /// `--kill-grace`, seconds.
    pub kill_grace: Option<u64>,
}

/// `[docker]`: Cosmos' `docker.*`.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DockerSettings {
    /// Cosmos' `docker.image.pull.timeout`, milliseconds.
    pub image_pull_timeout_ms: Option<u64>,
    /// Cosmos' `docker.container.python`.
    pub container_python: Option<String>,
    /// Cosmos' `docker.container.log`: `--log-dir`.
    pub container_log: Option<PathBuf>,
    /// Cosmos' `docker.container.tmp`.
    pub container_tmp: Option<PathBuf>,
}

/// `[dev]`: settings of `rota dev` alone.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DevSettings {
    /// `--examples`.
    pub examples: Option<bool>,
}

impl Settings {
    /// Refuses settings that contradict each other or are incomplete.
    pub fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let server = &self.server;
        let problem = if server.listen.is_some() && server.port.is_some() {
            Some("give `server.listen` or `server.port`, not both")
        } else if server.hosts.is_some() && server.members.is_some() {
            Some("give `server.hosts` or `server.members`, not both")
        } else if server.hosts.is_some() && server.port.is_none() {
            Some("`server.hosts` needs `server.port` (every member serves on that port)")
        } else if server
            .hosts
            .as_ref()
            .is_some_and(|hosts| hosts.is_empty() || hosts.iter().any(|h| h.trim().is_empty()))
        {
            Some("`server.hosts` has an empty host")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(ConfigError::Inconsistent {
                path: path.to_path_buf(),
                problem,
            }),
            None => Ok(()),
        }
    }

    /// Makes the relative paths relative to `dir` (the file's directory).
    pub fn rebase(&mut self, dir: &Path) {
        let paths = [
            &mut self.server.data,
            &mut self.docker.container_log,
            &mut self.docker.container_tmp,
        ];
        for path in paths.into_iter().flatten() {
            if path.is_relative() {
                *path = dir.join(&*path);
            }
        }
    }
}

impl ServerSettings {
    /// The address to serve on: `listen`, or every interface on `port`.
    pub fn listen_address(&self) -> Option<SocketAddr> {
        self.listen.or_else(|| {
            self.port
                .map(|port| SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))
        })
    }

    /// Every member's base URL from `hosts` and `port`, in order.
    pub fn member_urls(&self) -> Option<Vec<String>> {
        let port = self.port?;
        let hosts = self.hosts.as_ref()?;
        Some(
            hosts
                .iter()
                .map(|host| format!("http://{}:{port}", host.trim()))
                .collect(),
        )
    }

    /// `--members` as `ID=URL`: `members`, or `hosts` numbered from 1 on `port`.
    pub fn member_list(&self) -> Option<Vec<String>> {
        self.members.clone().or_else(|| {
            self.member_urls().map(|urls| {
                urls.iter()
                    .enumerate()
                    .map(|(i, url)| format!("{}={url}", i + 1))
                    .collect()
            })
        })
    }
}
