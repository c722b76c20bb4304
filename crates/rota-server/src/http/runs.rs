//! Runs: trigger, records, kill, repair, replay, logs.

use axum::Json;
use axum::extract::{Path, State};
use jiff::Timestamp;
use serde::Deserialize;

use rota_model::api::{LogView, RerunRequest, RunSelector, RunsReport, TriggerRequest};
use rota_model::spec::Trigger;
use rota_model::{AppKey, Run, RunId, RunState};
use rota_store::{Applied, Command, Rerun, RerunMode};

use super::{JsonBody, QueryParams, parse_app_key, parse_time};
use crate::context::Context;
use crate::error::{ApiError, ErrorCode};

/// The most cron fire times one `repair` or `replay` may create.
const MAX_RERUN_FIRES: usize = 100_000;
/// The most bytes of a log one request returns.
const MAX_LOG_CHUNK: u64 = 4 << 20;

fn app_exists(ctx: &Context, key: &AppKey) -> Result<(), ApiError> {
    if ctx.store.read(|s| s.app(key).is_some()) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::AppNotFound,
            format!("app {key} does not exist"),
        ))
    }
}

/// The inclusive range a selector names.
fn range(ctx: &Context, selector: &RunSelector) -> Result<(Timestamp, Timestamp), ApiError> {
    match selector {
        RunSelector {
            time: Some(time),
            begin: None,
            end: None,
        } => {
            let t = parse_time(ctx, "time", time)?;
            Ok((t, t))
        }
        RunSelector {
            time: None,
            begin: Some(begin),
            end: Some(end),
        } => {
            let begin = parse_time(ctx, "begin", begin)?;
            let end = parse_time(ctx, "end", end)?;
            if end < begin {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    "`end` is before `begin`",
                ));
            }
            Ok((begin, end))
        }
        _ => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "give either `time`, or both `begin` and `end`",
        )),
    }
}

fn runs_of(ctx: &Context, ids: &[RunId]) -> Vec<Run> {
    ctx.store
        .read(|s| ids.iter().filter_map(|id| s.run(*id).cloned()).collect())
}

fn report(ctx: &Context, applied: Applied) -> RunsReport {
    for (run, node) in &applied.kills {
        ctx.kill(*run, node);
    }
    RunsReport {
        runs: runs_of(ctx, &applied.runs),
        skipped: applied.skipped,
        planned: Vec::new(),
    }
}

/// `POST /v1/apps/{app}/trigger`: one run now, or for a given schedule time.
pub(crate) async fn trigger(
    State(ctx): State<Context>,
    Path(app): Path<String>,
    JsonBody(request): JsonBody<TriggerRequest>,
) -> Result<Json<Run>, ApiError> {
    let key = parse_app_key(&app)?;
    let now = ctx.now();
    let time = match &request.time {
        Some(text) => parse_time(&ctx, "time", text)?,
        None => now.round(jiff::Unit::Second).map_err(|e| {
            ApiError::new(ErrorCode::Internal, format!("cannot round the time: {e}"))
        })?,
    };
    if let Some(params) = &request.params
        && !params.is_object()
    {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "`params` must be a JSON object",
        ));
    }
    let applied = ctx
        .store
        .submit(Command::Trigger {
            app: key,
            time,
            params: request.params,
            call: request.call,
            at: now,
        })
        .await?;
    let run = runs_of(&ctx, &applied.runs[..1]).remove(0);
    Ok(Json(run))
}

/// `GET /v1/apps/{app}/runs?begin=&end=` or `?time=`: the records (Cosmos' `records`).
pub(crate) async fn of_app(
    State(ctx): State<Context>,
    Path(app): Path<String>,
    QueryParams(selector): QueryParams<RunSelector>,
) -> Result<Json<Vec<Run>>, ApiError> {
    let key = parse_app_key(&app)?;
    let (begin, end) = match selector {
        RunSelector {
            time: None,
            begin: None,
            end: None,
        } => (Timestamp::MIN, Timestamp::MAX),
        selector => range(&ctx, &selector)?,
    };
    let runs = ctx
        .store
        .read(|s| s.runs_between(&key, begin, end).cloned().collect());
    Ok(Json(runs))
}

/// `POST /v1/apps/{app}/kill`: kill the runs of a time or range.
pub(crate) async fn kill_range(
    State(ctx): State<Context>,
    Path(app): Path<String>,
    JsonBody(selector): JsonBody<RunSelector>,
) -> Result<Json<RunsReport>, ApiError> {
    let key = parse_app_key(&app)?;
    let (begin, end) = range(&ctx, &selector)?;
    let ids: Vec<RunId> = ctx
        .store
        .read(|s| s.runs_between(&key, begin, end).map(|r| r.id).collect());
    if ids.is_empty() {
        return Err(ApiError::new(
            ErrorCode::RunNotFound,
            format!("app {key} has no run in that range"),
        ));
    }
    let applied = ctx
        .store
        .submit(Command::Kill {
            runs: ids,
            at: ctx.now(),
        })
        .await?;
    Ok(Json(report(&ctx, applied)))
}

async fn rerun(
    ctx: &Context,
    app: &str,
    request: &RerunRequest,
    mode: RerunMode,
) -> Result<RunsReport, ApiError> {
    let key = parse_app_key(app)?;
    app_exists(ctx, &key)?;
    let (begin, end) = range(ctx, &request.selector())?;
    let now = ctx.now();
    let spec = ctx
        .store
        .read(|s| s.app(&key).map(|a| a.current().spec.clone()))
        .ok_or_else(|| {
            ApiError::new(ErrorCode::AppNotFound, format!("app {key} does not exist"))
        })?;
    let fire_times = match spec.trigger() {
        Trigger::Cron(cron) if begin <= now => {
            let tz = spec.time_zone(&ctx.config.time_zone);
            let fires: Vec<Timestamp> = cron
                .fire_times(begin, end.min(now), &tz)
                .take(MAX_RERUN_FIRES + 1)
                .collect();
            if fires.len() > MAX_RERUN_FIRES {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "the range holds more than {MAX_RERUN_FIRES} fire times; use a shorter one"
                    ),
                ));
            }
            fires
        }
        _ => Vec::new(),
    };
    let rerun = Rerun {
        app: key,
        mode,
        begin,
        end,
        fire_times,
        cascade: request.cascade,
    };
    if request.dry_run {
        let (planned, skipped) = ctx.store.read(|s| s.plan_rerun(&rerun))?;
        return Ok(RunsReport {
            runs: Vec::new(),
            skipped,
            planned,
        });
    }
    let applied = ctx.store.submit(Command::Rerun { rerun, at: now }).await?;
    Ok(report(ctx, applied))
}

/// `POST /v1/apps/{app}/repair`: re-run the unsuccessful runs of a range, and create the
/// runs its cron says should exist there but do not.
pub(crate) async fn repair(
    State(ctx): State<Context>,
    Path(app): Path<String>,
    JsonBody(request): JsonBody<RerunRequest>,
) -> Result<Json<RunsReport>, ApiError> {
    rerun(&ctx, &app, &request, RerunMode::Repair)
        .await
        .map(Json)
}

/// `POST /v1/apps/{app}/replay`: re-run every ended run of a range.
pub(crate) async fn replay(
    State(ctx): State<Context>,
    Path(app): Path<String>,
    JsonBody(request): JsonBody<RerunRequest>,
) -> Result<Json<RunsReport>, ApiError> {
    rerun(&ctx, &app, &request, RerunMode::Replay)
        .await
        .map(Json)
}

/// Filter of `GET /v1/runs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunsQuery {
    state: Option<String>,
    queue: Option<String>,
}

/// `GET /v1/runs?state=running&queue=Q`: active runs by state (Cosmos' `running`).
pub(crate) async fn list(
    State(ctx): State<Context>,
    QueryParams(query): QueryParams<RunsQuery>,
) -> Result<Json<Vec<Run>>, ApiError> {
    let state: RunState = query
        .state
        .as_deref()
        .unwrap_or("running")
        .parse()
        .map_err(|e: rota_model::run::UnknownState| {
            ApiError::new(ErrorCode::InvalidRequest, e.to_string())
        })?;
    if !matches!(
        state,
        RunState::Pending | RunState::Queued | RunState::Running
    ) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!(
                "this lists pending, queued or running runs; list {state} runs of an app with its records"
            ),
        ));
    }
    let in_queue = |run: &&Run| query.queue.as_ref().is_none_or(|q| &run.queue == q);
    let runs = ctx.store.read(|s| match state {
        RunState::Running => s.running().filter(in_queue).cloned().collect(),
        RunState::Pending => s.pending().filter(in_queue).cloned().collect(),
        _ => s
            .queued()
            .values()
            .flatten()
            .filter_map(|slot| s.run(slot.run))
            .filter(in_queue)
            .cloned()
            .collect(),
    });
    Ok(Json(runs))
}

/// The run with an id.
pub(crate) fn find(ctx: &Context, id: &str) -> Result<Run, ApiError> {
    let id: RunId = id
        .parse()
        .map_err(|_| ApiError::new(ErrorCode::InvalidRequest, format!("`{id}` is not a run id")))?;
    ctx.store
        .read(|s| s.run(id).cloned())
        .ok_or_else(|| ApiError::new(ErrorCode::RunNotFound, format!("run {id} does not exist")))
}

/// `GET /v1/runs/{id}`.
pub(crate) async fn get(
    State(ctx): State<Context>,
    Path(id): Path<String>,
) -> Result<Json<Run>, ApiError> {
    find(&ctx, &id).map(Json)
}

/// `POST /v1/runs/{id}/kill`.
pub(crate) async fn kill_one(
    State(ctx): State<Context>,
    Path(id): Path<String>,
) -> Result<Json<RunsReport>, ApiError> {
    let run = find(&ctx, &id)?;
    let applied = ctx
        .store
        .submit(Command::Kill {
            runs: vec![run.id],
            at: ctx.now(),
        })
        .await?;
    Ok(Json(report(&ctx, applied)))
}

/// Offsets of `GET /v1/runs/{id}/log`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogQuery {
    #[serde(default)]
    start_offset: u64,
    #[serde(default)]
    container_offset: u64,
    #[serde(default)]
    rota_start_offset: u64,
    #[serde(default)]
    rota_container_offset: u64,
}

/// `GET /v1/runs/{id}/log`: `start.log` and `container.log` from the given offsets, and for a
/// run under Cosmos' container contract (whose app writes those two itself) rota's own
/// `rota-start.log` and `rota-container.log` beside them.
pub(crate) async fn log(
    State(ctx): State<Context>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<LogQuery>,
) -> Result<Json<LogView>, ApiError> {
    use rota_agent::{CONTAINER_LOG, ROTA_CONTAINER_LOG, ROTA_START_LOG, START_LOG};
    use rota_model::api::RotaLogs;
    let run = find(&ctx, &id)?;
    let dir = rota_agent::run_log_dir(
        &ctx.config.log_dir,
        &run.queue,
        &run.name,
        run.schedule_time,
        &ctx.config.time_zone,
    );
    let remote = run
        .node
        .as_ref()
        .filter(|node| node.0 != ctx.config.node || ctx.agent.is_none());
    if let Some(node) = remote
        && !tokio::fs::try_exists(&dir).await.unwrap_or(false)
    {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "the logs of run {} are on node {node}, in its log directory under {}",
                run.id,
                dir.strip_prefix(&ctx.config.log_dir)
                    .unwrap_or(&dir)
                    .display()
            ),
        ));
    }
    let (start_log, start_offset) = read_from(&dir.join(START_LOG), query.start_offset).await?;
    let (container_log, container_offset) =
        read_from(&dir.join(CONTAINER_LOG), query.container_offset).await?;
    let rota_start = dir.join(ROTA_START_LOG);
    let rota = if tokio::fs::try_exists(&rota_start).await.unwrap_or(false) {
        let (start_log, start_offset) = read_from(&rota_start, query.rota_start_offset).await?;
        let (container_log, container_offset) =
            read_from(&dir.join(ROTA_CONTAINER_LOG), query.rota_container_offset).await?;
        Some(RotaLogs {
            start_log,
            container_log,
            start_offset,
            container_offset,
        })
    } else {
        None
    };
    Ok(Json(LogView {
        run: run.id,
        dir: dir.display().to_string(),
        start_log,
        container_log,
        start_offset,
        container_offset,
        ended: run.state.is_ended(),
        rota,
    }))
}

/// Reads a file from `offset` (at most [`MAX_LOG_CHUNK`] bytes); a missing file is empty.
async fn read_from(path: &std::path::Path, offset: u64) -> Result<(String, u64), ApiError> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((String::new(), offset)),
        Err(e) => {
            return Err(ApiError::new(
                ErrorCode::Internal,
                format!("cannot read {}: {e}", path.display()),
            ));
        }
    };
    let io = |e: std::io::Error| {
        ApiError::new(
            ErrorCode::Internal,
            format!("cannot read {}: {e}", path.display()),
        )
    };
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_LOG_CHUNK)
        .read_to_end(&mut bytes)
        .await
        .map_err(io)?;
    let next = offset + bytes.len() as u64;
    Ok((String::from_utf8_lossy(&bytes).into_owned(), next))
}
