//! `rota`: the CLI, `rota dev`, `rota server` and `rota agent`.

mod agent;
mod bench;
mod cli;
mod cluster;
mod config;
mod depends;
mod dev;
mod examples;
mod import;
mod membership;
mod select;
mod table;
mod verbs;

use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches};
use tracing_subscriber::EnvFilter;

use cli::{Cli, Verb};

/// A mistake in how rota was called: exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let default_level = if matches!(cli.command, Verb::Dev(_) | Verb::Server(_) | Verb::Agent(_)) {
        "info"
    } else {
        "warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = config::resolve(&mut cli, &matches).context("bad configuration") {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    if let Verb::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "rota", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Verb::Dev(args) => dev::run(args).await,
            Verb::Server(command) => dev::server(command).await,
            Verb::Agent(args) => agent::run(&cli.server, args).await,
            Verb::Bench(args) => bench::run(args).await,
            verb => verbs::run(&cli.server, cli.output, verb).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
