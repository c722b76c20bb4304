//! Precedence: a value given by flag or by environment variable, then the configuration
//! file's, then the built-in default. Where a value came from is clap's
//! [`ArgMatches::value_source`], so that a default never hides a file's value.

use clap::ArgMatches;
use clap::parser::ValueSource;

use super::settings::{DockerSettings, NodeSettings, ServerSettings};
use super::{ConfigError, Settings, load};
use crate::cli::{Cli, NodeArgs, ServerArgs, Verb};

/// Lays the `--config` file of `rota dev`, `rota server` or `rota agent` under the values
/// given by flag or environment; other verbs are left as they are. `matches` are the ones
/// `cli` was made from.
pub fn resolve(cli: &mut Cli, matches: &ArgMatches) -> Result<(), ConfigError> {
    let Some((_, sub)) = matches.subcommand() else {
        return Ok(());
    };
    let layer = Layer(sub);
    match &mut cli.command {
        Verb::Dev(args) => {
            let Some(settings) = read(args.server.config.as_deref())? else {
                return Ok(());
            };
            layer.server(&mut args.server, &settings.server, &settings.docker);
            layer.node(&mut args.node, &settings.node, &settings.docker);
            layer.set("examples", &mut args.examples, settings.dev.examples);
        }
        Verb::Server(command) => {
            let Some(settings) = read(command.server.config.as_deref())? else {
                return Ok(());
            };
            layer.server(&mut command.server, &settings.server, &settings.docker);
            layer.set(
                "members",
                &mut command.members,
                settings.server.member_list(),
            );
            layer.set_some("id", &mut command.id, settings.server.id);
            layer.set("join", &mut command.join, settings.server.join);
        }
        Verb::Agent(args) => {
            let Some(settings) = read(args.config.as_deref())? else {
                return Ok(());
            };
            layer.node(&mut args.node, &settings.node, &settings.docker);
            let attributes = settings.node.attributes.map(|attributes| {
                attributes
                    .into_iter()
                    .map(|(key, value)| format!("{key}={value}"))
                    .collect()
            });
            layer.set("attributes", &mut args.attributes, attributes);
            layer.set("log_dir", &mut args.log_dir, settings.docker.container_log);
            let servers = settings.server.member_urls().map(|urls| urls.join(","));
            layer.set("server", &mut cli.server, servers);
        }
        _ => {}
    }
    Ok(())
}

fn read(path: Option<&std::path::Path>) -> Result<Option<Settings>, ConfigError> {
    path.map(load).transpose()
}

/// The matches of one verb, which say where each of its values came from.
struct Layer<'a>(&'a ArgMatches);

impl Layer<'_> {
    /// Sets `target` (the argument `id`) to the file's `value`, unless a flag or an
    /// environment variable gave it.
    fn set<T>(&self, id: &str, target: &mut T, value: Option<T>) {
        if let Some(value) = value
            && !outranks_file(self.0.value_source(id))
        {
            *target = value;
        }
    }

    /// [`Layer::set`] for an optional argument.
    fn set_some<T>(&self, id: &str, target: &mut Option<T>, value: Option<T>) {
        self.set(id, target, value.map(Some));
    }

    /// The settings of [`ServerArgs`].
    fn server(&self, args: &mut ServerArgs, server: &ServerSettings, docker: &DockerSettings) {
        self.set("data", &mut args.data, server.data.clone());
        self.set("listen", &mut args.listen, server.listen_address());
        self.set_some("log_dir", &mut args.log_dir, docker.container_log.clone());
        self.set_some("time_zone", &mut args.time_zone, server.time_zone.clone());
        self.set(
            "heartbeat_timeout",
            &mut args.heartbeat_timeout,
            server.heartbeat_timeout,
        );
        self.set("max_body", &mut args.max_body, server.max_body);
    }

    /// The settings of [`NodeArgs`].
    fn node(&self, args: &mut NodeArgs, node: &NodeSettings, docker: &DockerSettings) {
        self.set_some("name", &mut args.name, node.name.clone());
        self.set_some("cores", &mut args.cores, node.cores);
        self.set_some("mems", &mut args.mems, node.mems);
        self.set("labels", &mut args.labels, node.labels.clone());
        self.set_some("disk_space", &mut args.disk_space, node.disk_space);
        self.set_some("net_flow", &mut args.net_flow, node.net_flow);
        self.set("kill_grace", &mut args.kill_grace, node.kill_grace);
        self.set_some(
            "docker_container_python",
            &mut args.docker_container_python,
            docker.container_python.clone(),
        );
        self.set_some(
            "docker_container_tmp",
            &mut args.docker_container_tmp,
            docker.container_tmp.clone(),
        );
        self.set_some(
            "docker_image_pull_timeout",
            &mut args.docker_image_pull_timeout,
            docker.image_pull_timeout_ms,
        );
    }
}

/// Whether a value from `source` wins over the file's: a flag's or an environment
/// variable's does, a default's does not.
fn outranks_file(source: Option<ValueSource>) -> bool {
    matches!(
        source,
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::path::{Path, PathBuf};

    use clap::{Command, CommandFactory, FromArgMatches};

    use super::*;
    use crate::cli::{AgentArgs, DevArgs, ServerCommand};

    /// Parses `rota ARGS` and resolves its `--config`.
    fn parse(args: &[&str]) -> Cli {
        let matches = Cli::command()
            .try_get_matches_from(std::iter::once("rota").chain(args.iter().copied()))
            .unwrap();
        let mut cli = Cli::from_arg_matches(&matches).unwrap();
        resolve(&mut cli, &matches).unwrap();
        cli
    }

    fn config(dir: &Path, text: &str) -> String {
        let path = dir.join("rota.toml");
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    fn dev(args: &[&str]) -> DevArgs {
        match parse(&[&["dev"], args].concat()).command {
            Verb::Dev(args) => args,
            other => panic!("{other:?}"),
        }
    }

    fn server(args: &[&str]) -> ServerCommand {
        match parse(&[&["server"], args].concat()).command {
            Verb::Server(command) => command,
            other => panic!("{other:?}"),
        }
    }

    fn agent(args: &[&str]) -> (String, AgentArgs) {
        let cli = parse(&[&["agent"], args].concat());
        match cli.command {
            Verb::Agent(args) => (cli.server, args),
            other => panic!("{other:?}"),
        }
    }

    const DEV: &str = r#"
[server]
data = "/srv/rota"
listen = "127.0.0.1:7171"
time_zone = "Asia/Shanghai"
heartbeat_timeout = 30
max_body = 4096

[node]
name = "n9"
cores = 2.5
mems = 3000
labels = ["pinot", "hive"]
disk_space = 500
net_flow = 100
kill_grace = 3

[docker]
image_pull_timeout_ms = 60000
container_python = "start.py"
container_log = "/var/log/rota"
container_tmp = "/data0/tmp"

[dev]
examples = true
"#;

    #[test]
    fn a_file_value_wins_over_a_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = config(dir.path(), DEV);
        let args = dev(&["--config", &file]);
        let (server, node) = (&args.server, &args.node);
        assert_eq!(server.data, PathBuf::from("/srv/rota"));
        assert_eq!(
            server.listen,
            "127.0.0.1:7171".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(server.log_dir, Some(PathBuf::from("/var/log/rota")));
        assert_eq!(server.time_zone.as_deref(), Some("Asia/Shanghai"));
        assert_eq!(server.heartbeat_timeout, 30);
        assert_eq!(server.max_body, 4096);
        assert_eq!(node.name.as_deref(), Some("n9"));
        assert_eq!(node.cores, Some(2.5));
        assert_eq!(node.mems, Some(3000));
        assert_eq!(node.labels, ["pinot", "hive"]);
        assert_eq!((node.disk_space, node.net_flow), (Some(500), Some(100)));
        assert_eq!(node.kill_grace, 3);
        assert_eq!(node.docker_image_pull_timeout, Some(60000));
        assert_eq!(node.docker_container_python.as_deref(), Some("start.py"));
        assert_eq!(node.docker_container_tmp, Some(PathBuf::from("/data0/tmp")));
        assert!(args.examples);
    }

    #[test]
    fn a_flag_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = config(dir.path(), DEV);
        let args = dev(&[
            "--config",
            &file,
            "--data",
            "/elsewhere",
            "--listen",
            "127.0.0.1:0",
            "--heartbeat-timeout",
            "10",
            "--cores",
            "4",
            "--labels",
            "q",
            "--kill-grace",
            "10",
            "--docker-container-python",
            "go.py",
        ]);
        assert_eq!(args.server.data, PathBuf::from("/elsewhere"));
        assert_eq!(args.server.listen.port(), 0);
        assert_eq!(args.server.heartbeat_timeout, 10);
        assert_eq!(args.node.cores, Some(4.0));
        assert_eq!(args.node.labels, ["q"]);
        assert_eq!(args.node.kill_grace, 10);
        assert_eq!(args.node.docker_container_python.as_deref(), Some("go.py"));
        assert_eq!(args.node.mems, Some(3000), "the file still gives the rest");
    }

    #[test]
    fn flags_and_environment_variables_outrank_the_file_and_defaults_do_not() {
        assert!(outranks_file(Some(ValueSource::CommandLine)));
        assert!(outranks_file(Some(ValueSource::EnvVariable)));
        assert!(!outranks_file(Some(ValueSource::DefaultValue)));
        assert!(!outranks_file(None));
    }

    #[test]
    fn without_a_file_the_defaults_stay() {
        let args = dev(&[]);
        assert_eq!(args.server.heartbeat_timeout, 10);
        assert_eq!(args.node.cores, None);
        assert!(args.node.labels.is_empty());
    }

    #[test]
    fn cosmos_hosts_and_port_make_the_members_and_the_listen_port() {
        let dir = tempfile::tempdir().unwrap();
        let file = config(
            dir.path(),
            "[server]\nport = 8080\nhosts = [\"h1\", \"h2\", \"h3\"]\n",
        );
        let command = server(&["--config", &file]);
        assert_eq!(
            command.members,
            ["1=http://h1:8080", "2=http://h2:8080", "3=http://h3:8080"]
        );
        assert_eq!(command.id, None, "chosen from the host name when it starts");
        assert_eq!(
            command.server.listen,
            "0.0.0.0:8080".parse::<SocketAddr>().unwrap()
        );
        let command = server(&["--config", &file, "--id", "2", "--members", "7=http://x:1"]);
        assert_eq!(command.id, Some(2));
        assert_eq!(command.members, ["7=http://x:1"]);
        let file = config(
            dir.path(),
            "[server]\nid = 1\nmembers = [\"1=http://a:1\", \"2=http://b:1\"]\n",
        );
        let command = server(&["--config", &file]);
        assert_eq!((command.id, command.members.len()), (Some(1), 2));
    }

    #[test]
    fn an_agent_takes_its_node_settings_and_finds_the_servers_from_the_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let file = config(
            dir.path(),
            "[server]\nport = 8080\nhosts = [\"h1\", \"h2\"]\n\n[node]\ncores = 3\n\
             attributes = { rack = \"r1\", zone = \"z\" }\n\n\
             [docker]\ncontainer_log = \"/logs\"\ncontainer_python = \"start.py\"\n\
             container_tmp = \"/tmp/c\"\n",
        );
        let (servers, args) = agent(&["--config", &file]);
        assert_eq!(servers, "http://h1:8080,http://h2:8080");
        assert_eq!(args.node.cores, Some(3.0));
        assert_eq!(args.attributes, ["rack=r1", "zone=z"]);
        assert_eq!(args.log_dir, PathBuf::from("/logs"));
        assert_eq!(
            args.node.docker_container_python.as_deref(),
            Some("start.py")
        );
        assert_eq!(
            args.node.docker_container_tmp,
            Some(PathBuf::from("/tmp/c"))
        );
        let cli = parse(&[
            "--server",
            "http://s:1",
            "agent",
            "--config",
            &file,
            "--attr",
            "a=b",
        ]);
        let Verb::Agent(args) = cli.command else {
            panic!("not an agent")
        };
        assert_eq!(cli.server, "http://s:1");
        assert_eq!(args.attributes, ["a=b"]);
    }

    #[test]
    fn every_setting_has_its_own_environment_variable() {
        let cli = Cli::command();
        let mut seen = std::collections::BTreeMap::new();
        for verb in ["dev", "server", "agent"] {
            let command: &Command = cli.find_subcommand(verb).unwrap();
            for arg in command.get_arguments() {
                let env = arg
                    .get_env()
                    .unwrap_or_else(|| panic!("`rota {verb} --{}` has no env", arg.get_id()));
                let env = env.to_str().unwrap().to_string();
                assert!(env.starts_with("ROTA_"), "{env}");
                let id = arg.get_id().to_string();
                assert_eq!(
                    seen.entry(env.clone()).or_insert_with(|| id.clone()),
                    &id,
                    "{env}"
                );
            }
        }
    }

    #[test]
    fn a_bad_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = config(dir.path(), "[node]\ncolour = 1\n");
        let matches = Cli::command()
            .try_get_matches_from(["rota", "agent", "--config", &file])
            .unwrap();
        let mut cli = Cli::from_arg_matches(&matches).unwrap();
        let error = resolve(&mut cli, &matches).unwrap_err();
        assert!(matches!(error, ConfigError::Toml { .. }), "{error:?}");
    }
}
