//! The agents' reports, turned into commands.

use tokio::sync::mpsc;

use rota_agent::Report;
use rota_store::{Command, SubmitError};

use crate::context::Context;

/// Records every report until the agents are gone.
pub(crate) async fn run(ctx: Context, mut reports: mpsc::UnboundedReceiver<Report>) {
    while let Some(report) = reports.recv().await {
        if let Err(e) = record(&ctx, report).await {
            tracing::error!(error = %e, "cannot record a report");
        }
    }
}

/// Records one report of an agent, local or remote. A report on an attempt that is no
/// longer current (the run was lost, killed or re-run meanwhile) is ignored, so sending a
/// report again is harmless. Any other error means it was not recorded: the agent keeps it
/// and sends it again.
pub(crate) async fn record(ctx: &Context, report: Report) -> Result<(), SubmitError> {
    match ctx.store.submit(command(report)).await {
        Ok(_) => Ok(()),
        Err(SubmitError::Refused(refusal)) => {
            tracing::debug!(%refusal, "report ignored");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn command(report: Report) -> Command {
    match report {
        Report::Started {
            run,
            attempt,
            process,
            container,
            limits,
            at,
        } => Command::Started {
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
        } => Command::Finished {
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
