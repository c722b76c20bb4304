//! Which runs a verb acts on: a Cosmos JSON file, a run id, or NAME:QUEUE with `--time` or
//! `--begin/--end`.

use std::path::Path;

use anyhow::{Context, Result};

use rota_model::api::RunSelector;
use rota_model::cosmos::{RangeFile, TimeFile};
use rota_model::{AppKey, RunId};

use crate::UsageError;
use crate::cli::Selection;

/// What a selection names.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// One run by id.
    Run(RunId),
    /// Runs of an app: one time, a range, or (with an empty selector) all.
    App(AppKey, RunSelector),
}

/// Resolves a selection.
pub fn resolve(selection: &Selection) -> Result<Target> {
    let has_times =
        selection.time.is_some() || selection.begin.is_some() || selection.end.is_some();
    if !has_times && let Ok(id) = selection.target.parse::<u64>() {
        return Ok(Target::Run(RunId(id)));
    }
    let path = Path::new(&selection.target);
    if path.is_file() {
        if has_times {
            return Err(UsageError(
                "--time, --begin and --end go with NAME:QUEUE, not with a JSON file".into(),
            )
            .into());
        }
        return from_file(path);
    }
    let key: AppKey = selection.target.parse().map_err(|e| {
        UsageError(format!(
            "{e}; give a Cosmos JSON file, NAME:QUEUE or a run id"
        ))
    })?;
    Ok(Target::App(
        key,
        RunSelector {
            time: selection.time.clone(),
            begin: selection.begin.clone(),
            end: selection.end.clone(),
        },
    ))
}

/// Reads a Cosmos request file: `{name, queue, beginTime, endTime}` or
/// `{name, queue, scheduleTime}`.
fn from_file(path: &Path) -> Result<Target> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bad = |e: &dyn std::fmt::Display| UsageError(format!("{}: {e}", path.display()));
    if let Ok(range) = serde_json::from_str::<RangeFile>(&text) {
        let key = range.key().map_err(|e| bad(&e))?;
        return Ok(Target::App(
            key,
            RunSelector {
                time: None,
                begin: Some(range.begin_time),
                end: Some(range.end_time),
            },
        ));
    }
    match serde_json::from_str::<TimeFile>(&text) {
        Ok(one) => {
            let key = one.key().map_err(|e| bad(&e))?;
            Ok(Target::App(
                key,
                RunSelector {
                    time: Some(one.schedule_time),
                    begin: None,
                    end: None,
                },
            ))
        }
        Err(e) => Err(bad(&format!(
            "expected {{name, queue, beginTime, endTime}} or {{name, queue, scheduleTime}}: {e}"
        ))
        .into()),
    }
}

impl Target {
    /// The app and a non-empty selector, as verbs that act on a range need.
    pub fn app_range(self, verb: &str) -> Result<(AppKey, RunSelector)> {
        match self {
            Target::App(key, selector) if selector != RunSelector::default() => Ok((key, selector)),
            Target::App(..) => Err(UsageError(format!(
                "{verb} needs --time or --begin and --end with NAME:QUEUE"
            ))
            .into()),
            Target::Run(id) => Err(UsageError(format!(
                "{verb} takes NAME:QUEUE or a Cosmos JSON file, not a run id ({id})"
            ))
            .into()),
        }
    }
}
