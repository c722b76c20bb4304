//! The agents' reports, turned into commands: each batch is one [`Command::Reports`].

use tokio::sync::mpsc;

use rota_agent::Report;
use rota_store::{AttemptReport, Command, SubmitError};

use crate::context::Context;

/// Records every report until the agents are gone: whatever is queued when a write can
/// start is recorded as one batch.
pub(crate) async fn run(ctx: Context, mut reports: mpsc::UnboundedReceiver<Report>) {
    while let Some(first) = reports.recv().await {
        let mut batch = vec![first];
        while let Ok(next) = reports.try_recv() {
            batch.push(next);
        }
        if let Err(e) = record(&ctx, batch).await {
            tracing::error!(error = %e, "cannot record reports");
        }
    }
}

/// Records a batch of reports of an agent, local or remote, in order, as one write. A report
/// on an attempt that is no longer current (the run was lost, killed or re-run meanwhile)
/// is skipped, so sending a batch again is harmless. An error means none was recorded (or,
/// when leadership changed meanwhile, that it is not known whether they were): the agent
/// keeps the batch and sends it again.
pub(crate) async fn record(ctx: &Context, batch: Vec<Report>) -> Result<(), SubmitError> {
    if batch.is_empty() {
        return Ok(());
    }
    let reports = batch.into_iter().map(attempt_report).collect();
    let applied = ctx.store.submit(Command::Reports { reports }).await?;
    for refusal in &applied.stale {
        tracing::debug!(%refusal, "report ignored");
    }
    Ok(())
}

fn attempt_report(report: Report) -> AttemptReport {
    match report {
        Report::Started {
            run,
            attempt,
            process,
            container,
            limits,
            at,
        } => AttemptReport::Started {
            run,
            attempt,
            process,
            container,
            limits: Some(limits),
            at,
        },
        Report::Finished {
            run,
            attempt,
            ending,
            exit_reason,
            exit_code,
            reason,
            usage,
            at,
        } => AttemptReport::Finished {
            run,
            attempt,
            ending,
            exit_reason: Some(exit_reason),
            exit_code,
            usage,
            reason,
            at,
        },
    }
}
