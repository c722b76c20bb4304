//! Queues and the waiting queue.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};

use rota_model::api::{QueueLimits, QueueSettingsRequest, QueueView};
use rota_model::{Run, RunId};
use rota_store::Command;

use super::JsonBody;
use crate::context::Context;
use crate::error::{ApiError, ErrorCode};

/// `GET /v1/queues`: every queue with its apps, usage, settings and share.
pub(crate) async fn list(State(ctx): State<Context>) -> Json<Vec<QueueView>> {
    let views = ctx.store.read(|s| {
        let mut queues: BTreeMap<String, QueueView> = BTreeMap::new();
        fn view<'a>(queues: &'a mut BTreeMap<String, QueueView>, name: &str) -> &'a mut QueueView {
            queues.entry(name.to_string()).or_insert_with(|| QueueView {
                name: name.to_string(),
                apps: 0,
                queued: 0,
                running: 0,
                cores_used: 0.0,
                mems_used: 0,
                weight: 1,
                quota: QueueLimits::default(),
                guaranteed: QueueLimits::default(),
                preemption: false,
                share: 0.0,
                below_guarantee: false,
            })
        }
        for (key, _) in s.apps() {
            view(&mut queues, &key.queue).apps += 1;
        }
        for (queue, slots) in s.queued() {
            view(&mut queues, queue).queued += slots.len() as u64;
        }
        for run in s.running() {
            let v = view(&mut queues, &run.queue);
            v.running += 1;
            if let Some(spec) = s.spec_of(run) {
                v.cores_used += spec.cores;
                v.mems_used += spec.mems;
            }
        }
        for settings in s.queue_settings() {
            let v = view(&mut queues, &settings.name);
            v.weight = settings.weight;
            v.quota = limits_view(&settings.quota);
            v.guaranteed = limits_view(&settings.guaranteed);
            v.preemption = settings.preemption;
        }
        let snapshot = crate::scheduler::local_snapshot(&ctx, s);
        for share in rota_sched::queue_shares(&snapshot) {
            let v = view(&mut queues, &share.name);
            v.share = share.dominant_share;
            v.below_guarantee = share.below_guarantee;
        }
        queues.into_values().collect()
    });
    Json(views)
}

fn limits_view(limits: &rota_sched::Limits) -> QueueLimits {
    QueueLimits {
        cores: limits.cores,
        mems: limits.mems,
    }
}

fn limits(view: &QueueLimits) -> rota_sched::Limits {
    rota_sched::Limits {
        cores: view.cores,
        mems: view.mems,
        extended: Default::default(),
    }
}

/// `PUT /v1/queues/{name}`: change a queue's weight, quota, guaranteed minimum or
/// preemption; settings left out keep their value.
pub(crate) async fn set(
    State(ctx): State<Context>,
    Path(name): Path<String>,
    JsonBody(request): JsonBody<QueueSettingsRequest>,
) -> Result<Json<QueueView>, ApiError> {
    let mut queue = ctx
        .store
        .read(|s| s.queue_settings().find(|q| q.name == name).cloned())
        .unwrap_or_else(|| rota_sched::Queue {
            name: name.clone(),
            weight: 1,
            quota: Default::default(),
            guaranteed: Default::default(),
            preemption: false,
        });
    if let Some(weight) = request.weight {
        queue.weight = weight;
    }
    if let Some(quota) = &request.quota {
        queue.quota = limits(quota);
    }
    if let Some(guaranteed) = &request.guaranteed {
        queue.guaranteed = limits(guaranteed);
    }
    if let Some(preemption) = request.preemption {
        queue.preemption = preemption;
    }
    ctx.store
        .submit(Command::SetQueue {
            queue,
            at: ctx.now(),
        })
        .await?;
    let Json(views) = list(State(ctx)).await;
    views
        .into_iter()
        .find(|v| v.name == name)
        .map(Json)
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "the queue vanished"))
}

/// `GET /v1/queued`: the waiting queue, queue by queue, in the order runs will start.
pub(crate) async fn queued(State(ctx): State<Context>) -> Json<Vec<Run>> {
    Json(ctx.store.read(|s| {
        s.queued()
            .values()
            .flatten()
            .filter_map(|slot| s.run(slot.run).cloned())
            .collect()
    }))
}

/// `DELETE /v1/queued/{id}`: remove a waiting run (Cosmos' `deleteQueued`); it ends `killed`.
pub(crate) async fn delete_queued(
    State(ctx): State<Context>,
    Path(id): Path<String>,
) -> Result<Json<Run>, ApiError> {
    let id: RunId = id
        .parse()
        .map_err(|_| ApiError::new(ErrorCode::InvalidRequest, format!("`{id}` is not a run id")))?;
    ctx.store
        .submit(Command::DeleteQueued {
            run: id,
            at: ctx.now(),
        })
        .await?;
    ctx.store
        .read(|s| s.run(id).cloned())
        .map(Json)
        .ok_or_else(|| ApiError::new(ErrorCode::RunNotFound, format!("run {id} does not exist")))
}
