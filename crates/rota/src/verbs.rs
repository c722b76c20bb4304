//! The client verbs: each calls the API and prints the answer as a table or JSON.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use jiff::tz::TimeZone;
use serde::Serialize;

use rota_client::Client;
use rota_model::api::{
    QueueLimits, QueueSettingsRequest, RerunRequest, RunsReport, TriggerRequest,
};
use rota_model::cosmos::CallFile;
use rota_model::{AppKey, Run, RunState};

use crate::UsageError;
use crate::cli::{Output, QueueVerb, Verb};
use crate::select::{Target, resolve};
use crate::table;

/// How often `log --follow` asks for more output.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(500);

/// The app and request of `repair` or `replay`.
fn rerun_request(rerun: &crate::cli::Rerun, verb: &str) -> Result<(AppKey, RerunRequest)> {
    let (key, selector) = resolve(&rerun.selection)?.app_range(verb)?;
    Ok((
        key,
        RerunRequest {
            time: selector.time,
            begin: selector.begin,
            end: selector.end,
            cascade: rerun.cascade,
            dry_run: rerun.dry_run,
        },
    ))
}

pub(crate) struct Printer {
    pub(crate) client: Client,
    pub(crate) output: Output,
    tz: Option<TimeZone>,
}

impl Printer {
    /// The server's zone, asked for once.
    pub(crate) async fn tz(&mut self) -> Result<TimeZone> {
        if let Some(tz) = &self.tz {
            return Ok(tz.clone());
        }
        let health = self.client.health().await?;
        let tz = TimeZone::get(&health.time_zone).unwrap_or(TimeZone::UTC);
        self.tz = Some(tz.clone());
        Ok(tz)
    }

    pub(crate) fn json<T: Serialize>(&self, value: &T) -> Result<()> {
        println!("{}", serde_json::to_string_pretty(value)?);
        Ok(())
    }

    async fn runs(&mut self, runs: &[Run]) -> Result<()> {
        match self.output {
            Output::Json => self.json(&runs),
            Output::Table => {
                let tz = self.tz().await?;
                print!("{}", table::runs(runs, &tz));
                Ok(())
            }
        }
    }

    async fn report(&mut self, verb: &str, report: &RunsReport) -> Result<()> {
        match self.output {
            Output::Json => self.json(report),
            Output::Table => {
                let tz = self.tz().await?;
                let count = if report.planned.is_empty() {
                    report.runs.len()
                } else {
                    report.planned.len()
                };
                println!("{verb}: {count} run(s)");
                if !report.runs.is_empty() {
                    print!("{}", table::runs(&report.runs, &tz));
                }
                for planned in &report.planned {
                    println!(
                        "  {} at {} ({})",
                        planned.app,
                        table::time(Some(planned.schedule_time), &tz),
                        planned.state.map_or("no run yet".to_string(), |s| format!(
                            "run {}, {s}",
                            planned.run.map(|r| r.to_string()).unwrap_or_default()
                        ))
                    );
                }
                for skipped in &report.skipped {
                    println!(
                        "left alone: run {} at {}: {}",
                        skipped.id,
                        table::time(Some(skipped.schedule_time), &tz),
                        skipped.reason
                    );
                }
                Ok(())
            }
        }
    }

    async fn app(&mut self, message: &str, app: &rota_model::api::AppView) -> Result<()> {
        match self.output {
            Output::Json => self.json(app),
            Output::Table => {
                println!("{message}");
                Ok(())
            }
        }
    }
}

pub(crate) fn key(text: &str) -> Result<AppKey> {
    text.parse()
        .map_err(|e: rota_model::IdError| UsageError(e.to_string()).into())
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())).into())
}

/// The app a JSON file names, for `update`.
fn key_in(bytes: &[u8], path: &Path) -> Result<AppKey> {
    #[derive(serde::Deserialize)]
    struct Names {
        name: String,
        queue: String,
    }
    let names: Names = serde_json::from_slice(bytes).map_err(|e| {
        UsageError(format!(
            "{}: an app file needs `name` and `queue`: {e}",
            path.display()
        ))
    })?;
    AppKey::new(&names.name, &names.queue).map_err(|e| UsageError(e.to_string()).into())
}

/// Runs one client verb against `server`.
pub async fn run(server: &str, output: Output, verb: Verb) -> Result<()> {
    let mut p = Printer {
        client: Client::new(server),
        output,
        tz: None,
    };
    let c = p.client.clone();
    match verb {
        Verb::Add { file } => {
            let app = c.add(read_file(&file)?).await?;
            p.app(&format!("Application {} added", app.spec.key()), &app)
                .await
        }
        Verb::Update { file } => {
            let bytes = read_file(&file)?;
            let key = key_in(&bytes, &file)?;
            let app = c.update(&key, bytes).await?;
            p.app(
                &format!("Application {key} updated (version {})", app.version),
                &app,
            )
            .await
        }
        Verb::Remove { app, force } => {
            let key = key(&app)?;
            let view = c.remove(&key, force).await?;
            p.app(&format!("Application {key} removed"), &view).await
        }
        Verb::Start { app } => {
            let key = key(&app)?;
            let view = c.start(&key).await?;
            let tz = p.tz().await?;
            let next = table::time(view.next_fire_time, &tz);
            p.app(
                &format!("Application {key} started; next fire time {next}"),
                &view,
            )
            .await
        }
        Verb::Stop { app } => {
            let key = key(&app)?;
            let view = c.stop(&key).await?;
            p.app(&format!("Application {key} stopped"), &view).await
        }
        Verb::Trigger { app, time, params } => {
            let params = params
                .map(|text| {
                    serde_json::from_str::<serde_json::Value>(&text)
                        .ok()
                        .filter(serde_json::Value::is_object)
                        .ok_or_else(|| {
                            UsageError(format!("--params: `{text}` is not a JSON object"))
                        })
                })
                .transpose()?;
            let request = TriggerRequest {
                time,
                params,
                call: false,
            };
            let run = c.trigger(&key(&app)?, &request).await?;
            match output {
                Output::Json => p.json(&run),
                Output::Table => p.runs(&[run]).await,
            }
        }
        Verb::Call { file } => {
            let bytes = read_file(&file)?;
            let call: CallFile = serde_json::from_slice(&bytes).map_err(|e| {
                UsageError(format!(
                    "{}: expected {{name, queue, timestamp, params}}: {e}",
                    file.display()
                ))
            })?;
            let app = call.key().map_err(|e| UsageError(e.to_string()))?;
            let request = TriggerRequest {
                time: Some(call.timestamp.clone()),
                params: call.params,
                call: true,
            };
            let run = c.trigger(&app, &request).await?;
            if output == Output::Table {
                let tz = p.tz().await?;
                println!(
                    "Application {app} {} called",
                    table::time(Some(run.schedule_time), &tz)
                );
            }
            match output {
                Output::Json => p.json(&run),
                Output::Table => p.runs(&[run]).await,
            }
        }
        Verb::Queues => {
            let queues = c.queues().await?;
            match output {
                Output::Json => p.json(&queues),
                Output::Table => {
                    print!("{}", table::queues(&queues));
                    Ok(())
                }
            }
        }
        Verb::Queue(QueueVerb::Set {
            name,
            weight,
            quota_cores,
            quota_mems,
            min_cores,
            min_mems,
            preemption,
        }) => {
            let limits = |cores: Option<f64>, mems: Option<i64>| {
                (cores.is_some() || mems.is_some()).then_some(QueueLimits { cores, mems })
            };
            let settings = QueueSettingsRequest {
                weight,
                quota: limits(quota_cores, quota_mems),
                guaranteed: limits(min_cores, min_mems),
                preemption,
            };
            let view = c.set_queue(&name, &settings).await?;
            match output {
                Output::Json => p.json(&view),
                Output::Table => {
                    print!("{}", table::queues(std::slice::from_ref(&view)));
                    Ok(())
                }
            }
        }
        Verb::Apps { queue } => {
            let apps = c.apps(queue.as_deref()).await?;
            match output {
                Output::Json => p.json(&apps),
                Output::Table => {
                    let tz = p.tz().await?;
                    print!("{}", table::apps(&apps, &tz));
                    Ok(())
                }
            }
        }
        Verb::App {
            app,
            versions: true,
        } => {
            let versions = c.versions(&key(&app)?).await?;
            match output {
                Output::Json => p.json(&versions),
                Output::Table => {
                    let tz = p.tz().await?;
                    print!("{}", table::versions(&versions, &tz));
                    Ok(())
                }
            }
        }
        Verb::Rollback { app, to } => {
            let key = key(&app)?;
            let view = c.rollback(&key, to).await?;
            p.app(
                &format!(
                    "Application {key} rolled back to version {to} (now version {})",
                    view.version
                ),
                &view,
            )
            .await
        }
        Verb::App { app, .. } => {
            let view = c.app(&key(&app)?).await?;
            match output {
                Output::Json => p.json(&view),
                Output::Table => {
                    let tz = p.tz().await?;
                    print!("{}", table::apps(std::slice::from_ref(&view), &tz));
                    let r = &view.runs;
                    println!(
                        "runs: {} pending, {} queued, {} running, {} succeeded, {} unsuccessful",
                        r.pending, r.queued, r.running, r.succeeded, r.unsuccessful
                    );
                    print!("{}", table::app_details(&view));
                    Ok(())
                }
            }
        }
        Verb::Running { queue } => {
            let runs = c.runs(RunState::Running, queue.as_deref()).await?;
            p.runs(&runs).await
        }
        Verb::Queued => {
            let runs = c.queued().await?;
            match output {
                Output::Json => p.json(&runs),
                Output::Table => {
                    let priorities: HashMap<AppKey, i32> = c
                        .apps(None)
                        .await?
                        .into_iter()
                        .map(|a| (a.spec.key(), a.spec.priority))
                        .collect();
                    let priority = |run: &Run| {
                        priorities
                            .get(&run.app())
                            .map_or("-".into(), |p| p.to_string())
                    };
                    let tz = p.tz().await?;
                    print!("{}", table::queued(&runs, &priority, &tz));
                    Ok(())
                }
            }
        }
        Verb::DeleteQueued { id } => {
            let run = c.delete_queued(rota_model::RunId(id)).await?;
            match output {
                Output::Json => p.json(&run),
                Output::Table => {
                    println!("deleted true: run {} is now {}", run.id, run.state);
                    Ok(())
                }
            }
        }
        Verb::Records(selection) => {
            let runs = match resolve(&selection)? {
                Target::Run(id) => vec![c.run(id).await?],
                Target::App(key, selector) => c.records(&key, &selector).await?,
            };
            p.runs(&runs).await
        }
        Verb::Kill(selection) => {
            let report = match resolve(&selection)? {
                Target::Run(id) => c.kill_run(id).await?,
                target => {
                    let (key, selector) = target.app_range("kill")?;
                    c.kill(&key, &selector).await?
                }
            };
            p.report("killed", &report).await
        }
        Verb::Repair(rerun) => {
            let (key, request) = rerun_request(&rerun, "repair")?;
            let report = c.repair(&key, &request).await?;
            let verb = if rerun.dry_run {
                "would repair"
            } else {
                "repaired"
            };
            p.report(verb, &report).await
        }
        Verb::Replay(rerun) => {
            let (key, request) = rerun_request(&rerun, "replay")?;
            let report = c.replay(&key, &request).await?;
            let verb = if rerun.dry_run {
                "would replay"
            } else {
                "replayed"
            };
            p.report(verb, &report).await
        }
        Verb::Depend(verb) => crate::depends::run(&mut p, verb).await,
        Verb::Import(crate::cli::ImportVerb::Cosmos { file, from }) => {
            let file = file.or(from).expect("clap requires one");
            crate::import::cosmos(&mut p, &file).await
        }
        Verb::Graph { app, dot } => {
            let app = app.as_deref().map(key).transpose()?;
            let graph = c.graph(app.as_ref()).await?;
            match (output, dot) {
                (Output::Json, _) => p.json(&graph),
                (Output::Table, true) => {
                    print!("{}", crate::depends::dot(&graph));
                    Ok(())
                }
                (Output::Table, false) => {
                    let tz = p.tz().await?;
                    print!("{}", crate::depends::text(&graph, &tz));
                    Ok(())
                }
            }
        }
        Verb::Why { id } => {
            let why = c.why(rota_model::RunId(id)).await?;
            match output {
                Output::Json => p.json(&why),
                Output::Table => {
                    let tz = p.tz().await?;
                    print!("{}", crate::depends::why(&why, &tz));
                    Ok(())
                }
            }
        }
        Verb::Log { selection, follow } => log(&mut p, resolve(&selection)?, follow).await,
        Verb::Nodes => {
            let nodes = c.nodes().await?;
            match output {
                Output::Json => p.json(&nodes),
                Output::Table => {
                    print!("{}", table::nodes(&nodes));
                    Ok(())
                }
            }
        }
        Verb::Node(verb) => {
            let (node, ready) = match verb {
                crate::cli::NodeVerb::Drain { node } => (node, false),
                crate::cli::NodeVerb::Ready { node } => (node, true),
            };
            let nodes = c.set_node(&rota_model::NodeId(node), ready).await?;
            match output {
                Output::Json => p.json(&nodes),
                Output::Table => {
                    print!("{}", table::nodes(&nodes));
                    Ok(())
                }
            }
        }
        Verb::Cluster(verb) => crate::cluster::run(&p, verb).await,
        Verb::Dev(_)
        | Verb::Server(_)
        | Verb::Agent(_)
        | Verb::Bench(_)
        | Verb::Completions { .. } => {
            unreachable!("handled in main")
        }
    }
}

/// Prints a run's logs as Cosmos does (`start.log`, its lines, `container.log`, its lines),
/// then, for a run under Cosmos' container contract (whose app wrote those two), rota's own
/// `rota-start.log` and `rota-container.log` the same way; or follows them until the run ends.
async fn log(p: &mut Printer, target: Target, follow: bool) -> Result<()> {
    let c = p.client.clone();
    let run = match target {
        Target::Run(id) => id,
        Target::App(key, selector) => {
            let (key, selector) = Target::App(key, selector).app_range("log")?;
            let runs = c.records(&key, &selector).await?;
            let run = runs
                .last()
                .with_context(|| format!("app {key} has no run at that time"))?;
            run.id
        }
    };
    let first = c.log_from(run, &Default::default()).await?;
    if p.output == Output::Json && !follow {
        return p.json(&first);
    }
    if !follow {
        print!("start.log\n{}", first.start_log);
        print!("container.log\n{}", first.container_log);
        if let Some(rota) = &first.rota {
            print!("rota-start.log\n{}", rota.start_log);
            print!("rota-container.log\n{}", rota.container_log);
        }
        return Ok(());
    }
    let mut view = first;
    loop {
        print!("{}{}", view.start_log, view.container_log);
        if let Some(rota) = &view.rota {
            print!("{}{}", rota.start_log, rota.container_log);
        }
        if view.ended {
            return Ok(());
        }
        tokio::time::sleep(FOLLOW_INTERVAL).await;
        view = c.log_from(run, &view.next_offsets()).await?;
    }
}
