//! Apps: add, update, remove, start, stop, list, describe.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use serde::Deserialize;

use rota_model::api::{
    AppView, Health, RollbackRequest, RunCounts, USAGE_WINDOW, UsageSummary, VersionView,
};
use rota_model::spec::Trigger;
use rota_model::{AppKey, AppSpec, SpecError};
use rota_store::Command;

use super::body::read_body;
use super::{JsonBody, QueryParams, parse_app_key};
use crate::context::Context;
use crate::error::{ApiError, ErrorCode};

/// `GET /healthz`.
pub(crate) async fn health(State(ctx): State<Context>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        time_zone: ctx
            .config
            .time_zone
            .iana_name()
            .unwrap_or("UTC")
            .to_string(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

fn invalid_app(e: SpecError) -> ApiError {
    ApiError::new(ErrorCode::InvalidApp, e.to_string())
}

/// The API view of an app, from the state.
pub(crate) fn view(ctx: &Context, key: &AppKey) -> Result<AppView, ApiError> {
    ctx.store.read(|state| {
        let entry = state.app(key).ok_or_else(|| {
            ApiError::new(ErrorCode::AppNotFound, format!("app {key} does not exist"))
        })?;
        let current = entry.current();
        // Only a scheduled app's cron is parsed: a listing of every app would parse them all.
        let next_fire_time = match entry.scheduled.then(|| current.spec.trigger()) {
            Some(Trigger::Cron(cron)) => {
                let tz = current.spec.time_zone(&ctx.config.time_zone);
                // Not after the cursor: the run of the coming fire time may be made already.
                cron.next_after(ctx.now(), &tz)
            }
            _ => None,
        };
        // One pass over the app's runs, latest first, for the counts, the limits and the usage.
        let mut runs = RunCounts::default();
        let mut latest_limits = None;
        let mut measured = Vec::new();
        for run in state.latest_runs(key) {
            runs.count(run.state);
            if latest_limits.is_none() {
                latest_limits = run.limits.clone();
            }
            let usage = &run.usage;
            if measured.len() < USAGE_WINDOW
                && run.state.is_ended()
                && (usage.peak_memory_bytes.is_some() || usage.cpu_time_ms.is_some())
            {
                measured.push(usage);
            }
        }
        let limits = match latest_limits {
            Some(limits) => Some(limits),
            None if current.spec.repository.is_none() => ctx.agent.as_ref().map(|a| a.limits()),
            None => None,
        };
        Ok(AppView {
            spec: current.spec.clone(),
            version: current.version,
            scheduled: entry.scheduled,
            created_at: entry.created_at,
            updated_at: current.created_at,
            next_fire_time,
            runs,
            limits,
            usage: usage_summary(&measured),
        })
    })
}

/// What the latest measured runs used, given their usage, latest first.
fn usage_summary(measured: &[&rota_model::Usage]) -> UsageSummary {
    let cpu: Vec<u64> = measured.iter().filter_map(|u| u.cpu_time_ms).collect();
    UsageSummary {
        measured_runs: measured.len() as u64,
        peak_memory_bytes_max: measured.iter().filter_map(|u| u.peak_memory_bytes).max(),
        peak_memory_bytes_last: measured.first().and_then(|u| u.peak_memory_bytes),
        cpu_time_ms_last: measured.first().and_then(|u| u.cpu_time_ms),
        cpu_time_ms_mean: (!cpu.is_empty()).then(|| cpu.iter().sum::<u64>() / cpu.len() as u64),
    }
}

/// `GET /v1/apps/{app}/versions`: every version, with what changed in each.
pub(crate) async fn versions(
    State(ctx): State<Context>,
    Path(app): Path<String>,
) -> Result<Json<Vec<VersionView>>, ApiError> {
    let key = parse_app_key(&app)?;
    ctx.store.read(|s| {
        let entry = s.app(&key).ok_or_else(|| {
            ApiError::new(ErrorCode::AppNotFound, format!("app {key} does not exist"))
        })?;
        let current = entry.current().version;
        let mut previous: Option<&rota_store::AppVersion> = None;
        let mut views = Vec::new();
        for version in &entry.versions {
            views.push(VersionView {
                version: version.version,
                created_at: version.created_at,
                current: version.version == current,
                spec: version.spec.clone(),
                changes: previous.map_or_else(Vec::new, |p| spec_changes(&p.spec, &version.spec)),
            });
            previous = Some(version);
        }
        Ok(Json(views))
    })
}

/// `field: old -> new` for each top-level field that differs.
fn spec_changes(old: &AppSpec, new: &AppSpec) -> Vec<String> {
    let old = serde_json::to_value(old).expect("a spec serializes");
    let new = serde_json::to_value(new).expect("a spec serializes");
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else {
        return Vec::new();
    };
    let mut fields: Vec<&String> = old.keys().chain(new.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter(|f| old.get(*f) != new.get(*f))
        .map(|f| {
            let show =
                |v: Option<&serde_json::Value>| v.map_or("(none)".to_string(), ToString::to_string);
            format!("{f}: {} -> {}", show(old.get(f)), show(new.get(f)))
        })
        .collect()
}

/// `POST /v1/apps/{app}/rollback`: a new version equal to an earlier one.
pub(crate) async fn rollback(
    State(ctx): State<Context>,
    Path(app): Path<String>,
    JsonBody(request): JsonBody<RollbackRequest>,
) -> Result<Json<AppView>, ApiError> {
    let key = parse_app_key(&app)?;
    let spec = ctx.store.read(|s| {
        let entry = s.app(&key).ok_or_else(|| {
            ApiError::new(ErrorCode::AppNotFound, format!("app {key} does not exist"))
        })?;
        entry
            .version(request.version)
            .map(|v| v.spec.clone())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "app {key} has no version {}; its versions are 1 to {}",
                        request.version,
                        entry.current().version
                    ),
                )
            })
    })?;
    check_fires_again(&ctx, &spec)?;
    ctx.store
        .submit(Command::UpdateApp {
            spec,
            at: ctx.now(),
        })
        .await?;
    ctx.app_changed(key.clone());
    tracing::info!(app = %key, version = request.version, "app rolled back");
    Ok(Json(view(&ctx, &key)?))
}

/// Refuses a cron that will never fire again from now on.
fn check_fires_again(ctx: &Context, spec: &AppSpec) -> Result<(), ApiError> {
    if let Trigger::Cron(cron) = spec.trigger() {
        let tz = spec.time_zone(&ctx.config.time_zone);
        if cron.next_after(ctx.now(), &tz).is_none() {
            return Err(ApiError::new(
                ErrorCode::InvalidApp,
                format!("field `cron`: `{}` never fires again", cron.as_str()),
            ));
        }
    }
    Ok(())
}

/// `POST /v1/apps`: add an app from its JSON (Cosmos' `add`).
pub(crate) async fn add(
    State(ctx): State<Context>,
    req: Request,
) -> Result<(StatusCode, Json<AppView>), ApiError> {
    let bytes = read_body(req, &ctx).await?;
    let spec = AppSpec::from_json(&bytes).map_err(invalid_app)?;
    check_fires_again(&ctx, &spec)?;
    let key = spec.key();
    ctx.store
        .submit(Command::AddApp {
            spec,
            at: ctx.now(),
        })
        .await?;
    tracing::info!(app = %key, "app added");
    Ok((StatusCode::CREATED, Json(view(&ctx, &key)?)))
}

/// `PUT /v1/apps/{app}`: a new version; fields left out keep their value.
pub(crate) async fn update(
    State(ctx): State<Context>,
    Path(app): Path<String>,
    req: Request,
) -> Result<Json<AppView>, ApiError> {
    let key = parse_app_key(&app)?;
    let bytes = read_body(req, &ctx).await?;
    let patch: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| invalid_app(SpecError::Syntax(e.to_string())))?;
    let current = ctx
        .store
        .read(|s| s.app(&key).map(|a| a.current().spec.clone()))
        .ok_or_else(|| {
            ApiError::new(ErrorCode::AppNotFound, format!("app {key} does not exist"))
        })?;
    let spec = current.updated_with(patch).map_err(invalid_app)?;
    if spec.key() != key {
        return Err(ApiError::new(
            ErrorCode::InvalidApp,
            format!("the body names app {} but the path names {key}", spec.key()),
        ));
    }
    check_fires_again(&ctx, &spec)?;
    ctx.store
        .submit(Command::UpdateApp {
            spec,
            at: ctx.now(),
        })
        .await?;
    ctx.app_changed(key.clone());
    tracing::info!(app = %key, "app updated");
    Ok(Json(view(&ctx, &key)?))
}

/// Options of `DELETE /v1/apps/{app}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemoveQuery {
    /// Also remove the edges of apps that depend on it.
    #[serde(default)]
    force: bool,
}

/// `DELETE /v1/apps/{app}` (Cosmos' `delete`): waiting runs are killed, running ones stopped.
pub(crate) async fn remove(
    State(ctx): State<Context>,
    Path(app): Path<String>,
    QueryParams(query): QueryParams<RemoveQuery>,
) -> Result<Json<AppView>, ApiError> {
    let key = parse_app_key(&app)?;
    let before = view(&ctx, &key)?;
    let applied = ctx
        .store
        .submit(Command::RemoveApp {
            app: key.clone(),
            force: query.force,
            at: ctx.now(),
        })
        .await?;
    for (run, node) in applied.kills {
        ctx.kill(run, &node);
    }
    ctx.app_changed(key.clone());
    tracing::info!(app = %key, "app removed");
    Ok(Json(before))
}

async fn set_scheduled(ctx: &Context, app: &str, scheduled: bool) -> Result<AppView, ApiError> {
    let key = parse_app_key(app)?;
    ctx.store
        .submit(Command::Schedule {
            app: key.clone(),
            scheduled,
            at: ctx.now(),
        })
        .await?;
    ctx.app_changed(key.clone());
    view(ctx, &key)
}

/// `POST /v1/apps/{app}/start`: start the cron.
pub(crate) async fn start(
    State(ctx): State<Context>,
    Path(app): Path<String>,
) -> Result<Json<AppView>, ApiError> {
    set_scheduled(&ctx, &app, true).await.map(Json)
}

/// `POST /v1/apps/{app}/stop`: stop the cron; queued and running runs go on.
pub(crate) async fn stop(
    State(ctx): State<Context>,
    Path(app): Path<String>,
) -> Result<Json<AppView>, ApiError> {
    set_scheduled(&ctx, &app, false).await.map(Json)
}

/// Filter of `GET /v1/apps`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    queue: Option<String>,
}

/// `GET /v1/apps[?queue=Q]`.
pub(crate) async fn list(
    State(ctx): State<Context>,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<Vec<AppView>>, ApiError> {
    let keys: Vec<AppKey> = ctx.store.read(|s| {
        s.apps()
            .map(|(k, _)| k)
            .filter(|k| query.queue.as_ref().is_none_or(|q| &k.queue == q))
            .cloned()
            .collect()
    });
    keys.iter()
        .map(|k| view(&ctx, k))
        .collect::<Result<_, _>>()
        .map(Json)
}

/// `GET /v1/apps/{app}`.
pub(crate) async fn get(
    State(ctx): State<Context>,
    Path(app): Path<String>,
) -> Result<Json<AppView>, ApiError> {
    view(&ctx, &parse_app_key(&app)?).map(Json)
}
