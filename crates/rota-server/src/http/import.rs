//! Importing another scheduler's run records (Cosmos' `records` table).

use axum::Json;
use axum::extract::State;

use rota_model::api::{ImportReport, ImportRunsRequest, ImportedRun};
use rota_model::{AppKey, NodeId, RunState};
use rota_store::{Command, ImportRun};

use super::{JsonBody, parse_time};
use crate::context::Context;
use crate::error::ApiError;

/// The most records one request may import.
const MAX_IMPORT: usize = 50_000;

/// `POST /v1/import/runs`: ended records become ended runs; records that had not ended
/// (Cosmos' QUEUED, PENDING, RUNNING) become `lost`, so that `repair` runs them again.
pub(crate) async fn runs(
    State(ctx): State<Context>,
    JsonBody(request): JsonBody<ImportRunsRequest>,
) -> Result<Json<ImportReport>, ApiError> {
    if request.runs.len() > MAX_IMPORT {
        return Err(ApiError::new(
            crate::error::ErrorCode::InvalidRequest,
            format!("at most {MAX_IMPORT} records per request; send them in batches"),
        ));
    }
    let mut report = ImportReport::default();
    let mut runs = Vec::new();
    for record in &request.runs {
        match convert(&ctx, record) {
            Ok(run) => runs.push(run),
            Err(why) => report.skipped.push(format!(
                "{}:{} at {}: {why}",
                record.name, record.queue, record.schedule_time
            )),
        }
    }
    let applied = ctx
        .store
        .submit(Command::ImportRuns {
            runs,
            at: ctx.now(),
        })
        .await?;
    report.imported = applied.runs.len() as u64;
    report.skipped.extend(
        applied
            .skipped
            .into_iter()
            .map(|s| format!("run {} at {}: {}", s.id, s.schedule_time, s.reason)),
    );
    Ok(Json(report))
}

fn convert(ctx: &Context, record: &ImportedRun) -> Result<ImportRun, String> {
    let app = AppKey::new(&record.name, &record.queue).map_err(|e| e.to_string())?;
    if ctx.store.read(|s| s.app(&app).is_none()) {
        return Err(format!("app {app} does not exist; import the apps first"));
    }
    let time = parse_time(ctx, "schedule_time", &record.schedule_time).map_err(|e| e.message)?;
    let updated = match &record.update_time {
        Some(text) => parse_time(ctx, "update_time", text).map_err(|e| e.message)?,
        None => time,
    };
    let cosmos = record.state.trim().to_ascii_uppercase();
    let (state, reason) = match cosmos.as_str() {
        "SUCCESS" | "3" => (RunState::Succeeded, None),
        "FAILED" | "4" => (RunState::Failed, Some("failed in Cosmos".to_string())),
        "KILLED" | "5" => (RunState::Killed, Some("killed in Cosmos".to_string())),
        "QUEUED" | "0" | "PENDING" | "1" | "RUNNING" | "2" => (
            RunState::Lost,
            Some(format!(
                "imported from Cosmos as {}: it had not ended; repair runs it again",
                cosmos_name(&cosmos)
            )),
        ),
        other => return Err(format!("unknown Cosmos state `{other}`")),
    };
    Ok(ImportRun {
        app,
        time,
        state,
        reason,
        node: record.host.clone().filter(|h| !h.is_empty()).map(NodeId),
        updated,
    })
}

fn cosmos_name(state: &str) -> &str {
    match state {
        "0" => "QUEUED",
        "1" => "PENDING",
        "2" => "RUNNING",
        other => other,
    }
}
