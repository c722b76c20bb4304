//! Nodes' reports on attempts: one at a time ([`Command::Report`]) or a batch of them in one
//! entry ([`Command::Reports`]), where each report stands or falls on its own.
//!
//! [`Command::Report`]: crate::Command::Report
//! [`Command::Reports`]: crate::Command::Reports

use jiff::Timestamp;

use rota_model::{Limits, ProcessRef, RunId};

use super::{Applied, Ended, State};
use crate::command::AttemptReport;
use crate::refusal::Refusal;

impl State {
    /// Records that the current attempt of `run` started its process.
    pub(super) fn started(
        &mut self,
        run: RunId,
        attempt: u32,
        process: ProcessRef,
        container: &Option<String>,
        limits: &Option<Limits>,
        at: Timestamp,
    ) -> Result<(), Refusal> {
        let run = self.current_attempt(run, attempt)?;
        run.process = Some(process);
        run.container = container.clone();
        run.limits = limits.clone();
        run.started_at = Some(at);
        Ok(())
    }

    /// Records a batch of reports in order. A report refused (its attempt is no longer
    /// current, or its run does not exist) changes nothing, since both reports check the
    /// attempt before they change anything; it is kept in `stale` and the batch goes on.
    pub(super) fn reports(&mut self, reports: &[AttemptReport], applied: &mut Applied) {
        for report in reports {
            if let Err(refusal) = self.report(report, applied) {
                applied.stale.push(refusal);
            }
        }
    }

    pub(super) fn report(
        &mut self,
        report: &AttemptReport,
        applied: &mut Applied,
    ) -> Result<(), Refusal> {
        match report {
            AttemptReport::Started {
                run,
                attempt,
                process,
                container,
                limits,
                at,
            } => {
                self.started(*run, *attempt, *process, container, limits, *at)?;
                applied.runs.push(*run);
                Ok(())
            }
            AttemptReport::Finished {
                run,
                attempt,
                ending,
                exit_reason,
                exit_code,
                usage,
                reason,
                at,
            } => self.finish(
                *run,
                *attempt,
                Ended {
                    ending: *ending,
                    exit_reason: *exit_reason,
                    exit_code: *exit_code,
                    usage: *usage,
                    reason,
                },
                *at,
                applied,
            ),
        }
    }
}
