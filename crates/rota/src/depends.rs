//! The `depend`, `graph` and `why` verbs' output.

use std::fmt::Write;

use anyhow::Result;
use jiff::tz::TimeZone;

use rota_model::api::{GraphView, WhyView};
use rota_model::depend::{DependFile, Rule, Wait};

use crate::UsageError;
use crate::cli::{DependVerb, Output};
use crate::table::{self, Table};
use crate::verbs::{Printer, key, read_file};

fn depend_file(path: &std::path::Path) -> Result<DependFile> {
    let bytes = read_file(path)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        UsageError(format!(
            "{}: expected {{name, queue, dependName, dependQueue, fromSeconds, toSeconds}}: {e}",
            path.display()
        ))
        .into()
    })
}

/// Runs a `depend` verb.
pub async fn run(p: &mut Printer, verb: DependVerb) -> Result<()> {
    let c = p.client.clone();
    match verb {
        DependVerb::Add { file } => {
            let depend = c.add_depend(&depend_file(&file)?).await?;
            match p.output {
                Output::Json => p.json(&depend),
                Output::Table => {
                    println!(
                        "Dependency ({}:{}, {}:{}) added",
                        depend.name, depend.queue, depend.depend_name, depend.depend_queue
                    );
                    Ok(())
                }
            }
        }
        DependVerb::Get { app } => {
            let depends = c.depends(&key(&app)?).await?;
            match p.output {
                Output::Json => p.json(&depends),
                Output::Table => {
                    let mut t = Table::new(vec![
                        "NAME",
                        "QUEUE",
                        "DEPEND NAME",
                        "DEPEND QUEUE",
                        "FROM SECONDS",
                        "TO SECONDS",
                    ]);
                    for d in depends {
                        let secs = |s: Option<i64>| s.map_or("parent".into(), |s| s.to_string());
                        t.row(vec![
                            d.name,
                            d.queue,
                            d.depend_name,
                            d.depend_queue,
                            secs(d.from_seconds),
                            secs(d.to_seconds),
                        ]);
                    }
                    print!("{}", t.render());
                    Ok(())
                }
            }
        }
        DependVerb::Remove { file } => {
            let file = depend_file(&file)?;
            let (app, upstream) = file.keys().map_err(|e| UsageError(e.to_string()))?;
            let left = c.remove_depend(&app, &upstream).await?;
            match p.output {
                Output::Json => p.json(&left),
                Output::Table => {
                    println!("Dependency ({app}, {upstream}) removed");
                    Ok(())
                }
            }
        }
    }
}

fn rule_text(rule: &Rule) -> String {
    match rule {
        Rule::Window {
            from_seconds,
            to_seconds,
        } => format!("window [T-{from_seconds}s, T-{to_seconds}s]"),
        Rule::Parent => "parent".into(),
    }
}

/// The graph as text: each app with its latest run, then its upstream edges.
pub fn text(graph: &GraphView, tz: &TimeZone) -> String {
    let mut out = String::new();
    for node in &graph.nodes {
        let latest = match (node.latest_state, node.latest_time) {
            (Some(state), time) => format!("{state} at {}", table::time(time, tz)),
            _ => "no runs".into(),
        };
        let _ = writeln!(
            out,
            "{}  [{}]  {latest}",
            node.app,
            node.cron.as_deref().unwrap_or("no cron")
        );
        for edge in graph.edges.iter().filter(|e| e.app == node.app) {
            let _ = writeln!(
                out,
                "  needs {}  ({})",
                edge.upstream,
                rule_text(&edge.rule)
            );
        }
    }
    out
}

/// The graph in Graphviz DOT; edges point from upstream to dependent, in the direction
/// work flows.
pub fn dot(graph: &GraphView) -> String {
    let mut out = String::from("digraph rota {\n  rankdir=LR;\n");
    for node in &graph.nodes {
        let state = node.latest_state.map_or("none".into(), |s| s.to_string());
        let color = match state.as_str() {
            "succeeded" => "palegreen",
            "failed" | "timed_out" | "killed" | "lost" | "rejected" => "lightpink",
            "running" => "lightblue",
            "pending" | "queued" => "lightyellow",
            _ => "white",
        };
        let _ = writeln!(
            out,
            "  \"{}\" [label=\"{}\\n{}\", style=filled, fillcolor={color}];",
            node.app, node.app, state
        );
    }
    for edge in &graph.edges {
        let _ = writeln!(
            out,
            "  \"{}\" -> \"{}\" [label=\"{}\"];",
            edge.upstream,
            edge.app,
            rule_text(&edge.rule)
        );
    }
    out.push_str("}\n");
    out
}

/// What a run waits for, for people.
pub fn why(why: &WhyView, tz: &TimeZone) -> String {
    let mut out = format!("run {} is {}\n", why.run, why.state);
    for line in &why.summary {
        let _ = writeln!(out, "- {line}");
    }
    for unmet in &why.dependencies {
        let _ = writeln!(
            out,
            "{} ({}):",
            unmet.depend.upstream,
            rule_text(&unmet.depend.rule)
        );
        for wait in &unmet.waits {
            let line = match wait {
                Wait::Missing { time } => {
                    format!("no run yet for {}", table::time(Some(*time), tz))
                }
                Wait::NotSucceeded { time, run, state } => {
                    format!("run {run} at {} is {state}", table::time(Some(*time), tz))
                }
                Wait::NoRunInWindow { begin, end } => format!(
                    "no run between {} and {}",
                    table::time(Some(*begin), tz),
                    table::time(Some(*end), tz)
                ),
                Wait::WindowTooLarge => "the window holds too many fire times to check".into(),
            };
            let _ = writeln!(out, "  - {line}");
        }
    }
    out
}
