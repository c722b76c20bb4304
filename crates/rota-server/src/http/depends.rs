//! Dependencies: add, list and remove edges (Cosmos' `addDepend`, `getDepends`,
//! `removeDepend`), the graph, and why a run waits.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use rota_model::api::{GraphNode, GraphView, WhyView};
use rota_model::depend::{Depend, DependFile};
use rota_model::{AppKey, RunState};
use rota_store::Command;

use super::{JsonBody, QueryParams, parse_app_key};
use crate::context::Context;
use crate::error::{ApiError, ErrorCode};

fn invalid(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, e.to_string())
}

/// `POST /v1/depends`: add (or change the window of) an edge, from Cosmos' depend file.
pub(crate) async fn add(
    State(ctx): State<Context>,
    JsonBody(file): JsonBody<DependFile>,
) -> Result<(StatusCode, Json<DependFile>), ApiError> {
    let depend = file.to_depend().map_err(invalid)?;
    ctx.store
        .submit(Command::AddDepend {
            depend: depend.clone(),
            at: ctx.now(),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(DependFile::from_depend(&depend))))
}

/// `GET /v1/apps/{app}/depends`: the edges of an app, in Cosmos' form.
pub(crate) async fn of_app(
    State(ctx): State<Context>,
    Path(app): Path<String>,
) -> Result<Json<Vec<DependFile>>, ApiError> {
    let key = parse_app_key(&app)?;
    ctx.store.read(|s| {
        if s.app(&key).is_none() {
            return Err(ApiError::new(
                ErrorCode::AppNotFound,
                format!("app {key} does not exist"),
            ));
        }
        Ok(Json(
            s.depends_of(&key).map(DependFile::from_depend).collect(),
        ))
    })
}

/// `DELETE /v1/apps/{app}/depends/{upstream}`: remove the edge.
pub(crate) async fn remove(
    State(ctx): State<Context>,
    Path((app, upstream)): Path<(String, String)>,
) -> Result<Json<Vec<DependFile>>, ApiError> {
    let key = parse_app_key(&app)?;
    let upstream = parse_app_key(&upstream)?;
    let applied = ctx
        .store
        .submit(Command::RemoveDepend {
            app: key.clone(),
            upstream,
            at: ctx.now(),
        })
        .await;
    applied?;
    Ok(Json(ctx.store.read(|s| {
        s.depends_of(&key).map(DependFile::from_depend).collect()
    })))
}

/// Filter of `GET /v1/graph`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GraphQuery {
    app: Option<String>,
}

/// `GET /v1/graph[?app=name:queue]`: the whole graph, or the apps connected to one.
pub(crate) async fn graph(
    State(ctx): State<Context>,
    QueryParams(query): QueryParams<GraphQuery>,
) -> Result<Json<GraphView>, ApiError> {
    let root = query.app.as_deref().map(parse_app_key).transpose()?;
    ctx.store.read(|s| {
        let edges: Vec<Depend> = match &root {
            None => s.all_depends().cloned().collect(),
            Some(root) => {
                if s.app(root).is_none() {
                    return Err(ApiError::new(
                        ErrorCode::AppNotFound,
                        format!("app {root} does not exist"),
                    ));
                }
                connected(s, root)
            }
        };
        let mut apps: BTreeSet<AppKey> = edges
            .iter()
            .flat_map(|d| [d.app.clone(), d.upstream.clone()])
            .collect();
        match &root {
            Some(root) => {
                apps.insert(root.clone());
            }
            None => apps.extend(s.apps().map(|(k, _)| k.clone())),
        }
        let nodes = apps
            .into_iter()
            .map(|app| {
                let latest = s.latest_run(&app);
                GraphNode {
                    cron: s.app(&app).and_then(|a| a.current().spec.cron.clone()),
                    latest_time: latest.map(|r| r.schedule_time),
                    latest_state: latest.map(|r| r.state),
                    app,
                }
            })
            .collect();
        Ok(Json(GraphView { nodes, edges }))
    })
}

/// Every edge reachable from `root`, upstream and downstream.
fn connected(s: &rota_store::State, root: &AppKey) -> Vec<Depend> {
    let mut seen: BTreeSet<AppKey> = BTreeSet::new();
    let mut edges: BTreeSet<Depend> = BTreeSet::new();
    let mut todo = vec![root.clone()];
    while let Some(app) = todo.pop() {
        if !seen.insert(app.clone()) {
            continue;
        }
        for d in s.depends_of(&app) {
            edges.insert(d.clone());
            todo.push(d.upstream.clone());
        }
        for d in s.dependents_of(&app) {
            edges.insert(d.clone());
            todo.push(d.app.clone());
        }
    }
    edges.into_iter().collect()
}

/// `GET /v1/runs/{id}/why`: what a run waits for.
pub(crate) async fn why(
    State(ctx): State<Context>,
    Path(id): Path<String>,
) -> Result<Json<WhyView>, ApiError> {
    let run = super::runs::find(&ctx, &id)?;
    let dependencies = ctx.store.read(|s| s.unmet_dependencies(&run, 20));
    let mut summary = Vec::new();
    match run.state {
        RunState::Pending if dependencies.is_empty() => {
            summary.push("its dependencies are met; it is about to be queued".to_string());
        }
        RunState::Pending => {
            for unmet in &dependencies {
                summary.push(format!(
                    "waits for {} ({} upstream run(s) missing or not succeeded{})",
                    unmet.depend.upstream,
                    unmet.waits.len(),
                    if unmet.waits.len() >= 20 {
                        " or more"
                    } else {
                        ""
                    }
                ));
            }
        }
        RunState::Queued => summary.push(match run.not_before {
            Some(t) if t > ctx.now() && run.attempts == 0 => {
                format!("was made ahead and waits for its schedule time {t}")
            }
            Some(t) if t > ctx.now() => format!("waits for its retry backoff until {t}"),
            _ => crate::scheduler::explain(&ctx, run.id)
                .unwrap_or_else(|| "waits for capacity in its queue".to_string()),
        }),
        state => summary.push(format!(
            "is {state}{}",
            run.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        )),
    }
    Ok(Json(WhyView {
        run: run.id,
        state: run.state,
        summary,
        dependencies,
    }))
}
