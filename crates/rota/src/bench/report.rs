//! A benchmark's figures: printed beside their goals, and written as JSON for comparison
//! between commits.

use std::path::Path;

use anyhow::{Context, Result};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use super::stats::{Summary, number};

/// Which way a goal points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Bound {
    /// The figure must be at least the goal.
    #[serde(rename = ">=")]
    AtLeast,
    /// The figure must be at most the goal.
    #[serde(rename = "<=")]
    AtMost,
}

/// The value a figure is held to (issue 7).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Goal {
    /// Which way.
    pub bound: Bound,
    /// The value, in the figure's unit.
    pub value: f64,
}

impl Goal {
    /// At least `value`.
    pub fn at_least(value: f64) -> Goal {
        Goal {
            bound: Bound::AtLeast,
            value,
        }
    }

    /// At most `value`.
    pub fn at_most(value: f64) -> Goal {
        Goal {
            bound: Bound::AtMost,
            value,
        }
    }

    fn met_by(&self, value: f64) -> bool {
        match self.bound {
            Bound::AtLeast => value >= self.value,
            Bound::AtMost => value <= self.value,
        }
    }
}

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// What it measures, e.g. `runs per second`.
    pub name: String,
    /// The value.
    pub value: f64,
    /// Its unit, e.g. `runs/s`, `ms`, `MiB`.
    pub unit: String,
    /// The goal, when the issue sets one.
    pub goal: Option<Goal>,
    /// Whether the goal is met (absent without a goal).
    pub met: Option<bool>,
    /// The distribution the value was taken from, when it is a percentile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
}

/// The figures and context of one benchmark run.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The benchmark (`e2e`, `cron`, ...).
    pub bench: String,
    /// When it started.
    pub started_at: Timestamp,
    /// The machine's 1, 5 and 15 minute load averages before it started.
    pub load_before: [f64; 3],
    /// The same after it ended.
    pub load_after: [f64; 3],
    /// Logical CPUs.
    pub cpus: usize,
    /// Its sizes and options.
    pub params: Value,
    /// The figures, in the order printed.
    pub figures: Vec<Figure>,
    /// Anything else worth knowing about this run (counts, checks, caveats).
    pub notes: Vec<String>,
}

impl Report {
    /// A report of `bench` with these parameters; notes the load now.
    pub fn new(bench: &str, params: Value) -> Report {
        let report = Report {
            bench: bench.to_string(),
            started_at: Timestamp::now(),
            load_before: load_average(),
            load_after: [0.0; 3],
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            params,
            figures: Vec::new(),
            notes: Vec::new(),
        };
        println!(
            "{bench}: {} (load {})",
            report.params,
            format_load(report.load_before)
        );
        report
    }

    /// Adds and prints a figure: `bench: name: value unit (goal ≥ x unit) ok|MISSED`.
    pub fn figure(&mut self, name: &str, value: f64, unit: &str, goal: Option<Goal>) {
        self.push(name, value, unit, goal, None);
    }

    /// Adds and prints a latency distribution; the figure is its p99, with p50, p99 and max
    /// on the line.
    pub fn distribution(&mut self, name: &str, summary: Summary, unit: &str, goal: Option<Goal>) {
        self.push(name, summary.p99, unit, goal, Some(summary));
    }

    fn push(
        &mut self,
        name: &str,
        value: f64,
        unit: &str,
        goal: Option<Goal>,
        summary: Option<Summary>,
    ) {
        let met = goal.map(|g| g.met_by(value));
        let with_unit = |v: f64| {
            if unit.is_empty() {
                number(v)
            } else {
                format!("{} {unit}", number(v))
            }
        };
        let shown = match &summary {
            Some(s) => s.brief(unit),
            None => with_unit(value),
        };
        let judged = match (goal, met) {
            (Some(goal), Some(met)) => {
                let sign = match goal.bound {
                    Bound::AtLeast => "≥",
                    Bound::AtMost => "≤",
                };
                let of = if summary.is_some() { "p99 " } else { "" };
                let verdict = if met { "ok" } else { "MISSED" };
                format!(" (goal {of}{sign} {}) {verdict}", with_unit(goal.value))
            }
            _ => String::new(),
        };
        println!("{}: {name}: {shown}{judged}", self.bench);
        self.figures.push(Figure {
            name: name.to_string(),
            value,
            unit: unit.to_string(),
            goal,
            met,
            summary,
        });
    }

    /// Adds and prints a note.
    pub fn note(&mut self, text: impl Into<String>) {
        let text = text.into();
        println!("{}: note: {text}", self.bench);
        self.notes.push(text);
    }

    /// Notes the load, prints it, and writes the JSON file if one was asked for.
    pub fn finish(mut self, json: Option<&Path>) -> Result<()> {
        self.load_after = load_average();
        println!(
            "{}: load before {} / after {} on {} CPUs",
            self.bench,
            format_load(self.load_before),
            format_load(self.load_after),
            self.cpus
        );
        if let Some(path) = json {
            let bytes = serde_json::to_vec_pretty(&self)?;
            std::fs::write(path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("{}: figures written to {}", self.bench, path.display());
        }
        Ok(())
    }
}

/// `/proc/loadavg`'s three averages (zeros where it cannot be read).
pub fn load_average() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut values = text.split_whitespace().map(|v| v.parse().unwrap_or(0.0));
    [(); 3].map(|()| values.next().unwrap_or(0.0))
}

fn format_load(load: [f64; 3]) -> String {
    format!("{:.2} {:.2} {:.2}", load[0], load[1], load[2])
}
