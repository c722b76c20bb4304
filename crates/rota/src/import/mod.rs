//! `rota import cosmos DUMP`: a Cosmos user's apps, dependencies, schedules and run history,
//! from a `mysqldump` of Cosmos' database (tables `applications`, `dependencies`, `records`
//! and, for which apps were started, Quartz's `QRTZ_TRIGGERS`).

mod sql;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Result;
use serde_json::{Value, json};

use rota_client::ClientError;
use rota_model::AppKey;
use rota_model::api::{ImportReport, ImportedRun};
use rota_model::depend::DependFile;

use crate::UsageError;
use crate::cli::Output;
use crate::verbs::{Printer, read_file};
use sql::{SqlValue, Table, read_dump};

/// Records sent per request.
const BATCH: usize = 10_000;

/// What an import did, verb by verb.
#[derive(Debug, Default, serde::Serialize)]
struct Summary {
    apps_added: u64,
    apps_existing: u64,
    apps_started: u64,
    depends_added: u64,
    records: ImportReport,
    refused: Vec<String>,
}

fn text<'a>(row: &'a BTreeMap<String, SqlValue>, column: &str) -> Option<&'a str> {
    row.get(column).and_then(SqlValue::text)
}

fn number(row: &BTreeMap<String, SqlValue>, column: &str) -> Option<f64> {
    text(row, column)?.trim().parse().ok()
}

/// The app JSON of a row of Cosmos' `applications` table.
fn app_json(row: &BTreeMap<String, SqlValue>) -> Result<Value, String> {
    let params = match text(row, "params").map(str::trim) {
        None | Some("") => json!({}),
        Some(raw) => serde_json::from_str(raw).map_err(|e| format!("params are not JSON: {e}"))?,
    };
    let mut app = json!({
        "name": text(row, "name").unwrap_or_default(),
        "queue": text(row, "queue").unwrap_or_default(),
        "user": text(row, "user").unwrap_or_default(),
        "priority": number(row, "priority").unwrap_or(0.0) as i64,
        "cores": number(row, "cores").unwrap_or(1.0),
        "mems": number(row, "mems").unwrap_or(0.0) as i64,
        "params": params,
    });
    for field in ["repository", "tag", "cron"] {
        if let Some(value) = text(row, field).filter(|v| !v.trim().is_empty()) {
            app[field] = json!(value.trim());
        }
    }
    if let Some(timeout) = number(row, "timeout").filter(|t| *t > 0.0) {
        app["timeout"] = json!(timeout as i64);
    }
    Ok(app)
}

/// Imports a Cosmos dump.
pub async fn cosmos(p: &mut Printer, file: &Path) -> Result<()> {
    let bytes = read_file(file)?;
    let dump = String::from_utf8_lossy(&bytes);
    let tables = read_dump(&dump).map_err(|e| UsageError(format!("{}: {e}", file.display())))?;
    let Some(apps) = tables.get("applications") else {
        return Err(UsageError(format!(
            "{}: no `applications` table: is it a dump of Cosmos' database?",
            file.display()
        ))
        .into());
    };
    let c = p.client.clone();
    let mut summary = Summary::default();
    for row in &apps.rows {
        let name = format!(
            "{}:{}",
            text(row, "name").unwrap_or("?"),
            text(row, "queue").unwrap_or("?")
        );
        let app = match app_json(row) {
            Ok(app) => app,
            Err(why) => {
                summary.refused.push(format!("app {name}: {why}"));
                continue;
            }
        };
        match c.add(serde_json::to_vec(&app)?).await {
            Ok(_) => summary.apps_added += 1,
            Err(ClientError::Refused { code, .. }) if code == "app_exists" => {
                summary.apps_existing += 1
            }
            Err(ClientError::Refused { message, .. }) => {
                summary.refused.push(format!("app {name}: {message}"))
            }
            Err(e) => return Err(e.into()),
        }
    }
    for app in started_apps(tables.get("qrtz_triggers")) {
        match c.start(&app).await {
            Ok(_) => summary.apps_started += 1,
            Err(ClientError::Refused { message, .. }) => {
                summary.refused.push(format!("start {app}: {message}"))
            }
            Err(e) => return Err(e.into()),
        }
    }
    for row in tables.get("dependencies").map_or(&[][..], |t| &t.rows[..]) {
        let depend = DependFile {
            name: text(row, "name").unwrap_or_default().into(),
            queue: text(row, "queue").unwrap_or_default().into(),
            depend_name: text(row, "depend_name").unwrap_or_default().into(),
            depend_queue: text(row, "depend_queue").unwrap_or_default().into(),
            from_seconds: number(row, "from_seconds").map(|n| n as i64),
            to_seconds: number(row, "to_seconds").map(|n| n as i64),
        };
        match c.add_depend(&depend).await {
            Ok(_) => summary.depends_added += 1,
            Err(ClientError::Refused { message, .. }) => summary.refused.push(format!(
                "dependency ({}:{}, {}:{}): {message}",
                depend.name, depend.queue, depend.depend_name, depend.depend_queue
            )),
            Err(e) => return Err(e.into()),
        }
    }
    let records: Vec<ImportedRun> = tables
        .get("records")
        .map_or(&[][..], |t| &t.rows[..])
        .iter()
        .map(|row| ImportedRun {
            name: text(row, "name").unwrap_or_default().into(),
            queue: text(row, "queue").unwrap_or_default().into(),
            schedule_time: text(row, "scheduletime").unwrap_or_default().into(),
            update_time: text(row, "updatetime").map(Into::into),
            host: text(row, "host").map(Into::into),
            state: text(row, "state").unwrap_or_default().into(),
        })
        .collect();
    for batch in records.chunks(BATCH) {
        let report = c.import_runs(batch.to_vec()).await?;
        summary.records.imported += report.imported;
        summary.records.skipped.extend(report.skipped);
    }
    match p.output {
        Output::Json => p.json(&summary),
        Output::Table => {
            println!(
                "apps: {} added, {} already there, {} started; dependencies: {} added; records: {} imported, {} left out",
                summary.apps_added,
                summary.apps_existing,
                summary.apps_started,
                summary.depends_added,
                summary.records.imported,
                summary.records.skipped.len()
            );
            for line in summary.refused.iter().chain(&summary.records.skipped) {
                println!("  {line}");
            }
            Ok(())
        }
    }
}

/// The apps Quartz had a trigger for: started in Cosmos (trigger name = app name, group =
/// queue).
fn started_apps(triggers: Option<&Table>) -> BTreeSet<AppKey> {
    triggers
        .map_or(&[][..], |t| &t.rows[..])
        .iter()
        .filter_map(|row| AppKey::new(text(row, "trigger_name")?, text(row, "trigger_group")?).ok())
        .collect()
}
