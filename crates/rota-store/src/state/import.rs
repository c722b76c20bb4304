//! Importing run records from another scheduler: each becomes an ended run, created through
//! the ordinary transitions so that every index stays right.

use jiff::Timestamp;

use rota_model::api::SkippedRun;
use rota_model::run::Transition;
use rota_model::{Origin, RunState};

use super::{Applied, State};
use crate::command::ImportRun;

impl State {
    /// Imports records; one that names a missing app or a time that already has a run is
    /// left out, so importing twice changes nothing.
    pub(super) fn import_runs(&mut self, runs: &[ImportRun], at: Timestamp, applied: &mut Applied) {
        for import in runs {
            if !self.apps.contains_key(&import.app) {
                continue;
            }
            if let Some(run) = self.run_at(&import.app, import.time) {
                applied.skipped.push(SkippedRun {
                    id: run.id,
                    schedule_time: import.time,
                    reason: "a run for that schedule time exists already".into(),
                });
                continue;
            }
            let id = self.create_run(&import.app, import.time, Origin::Imported, at);
            let ending = match import.state {
                RunState::Succeeded => Transition::Succeed,
                RunState::Failed => Transition::Fail,
                RunState::Killed => Transition::Kill,
                _ => Transition::Lose,
            };
            for step in [Transition::DependenciesMet, Transition::Place, ending] {
                self.transition(id, step, at)
                    .expect("a new run walks to its end");
            }
            let run = self.runs.get_mut(&id).expect("exists");
            run.attempts = 1;
            run.node = import.node.clone();
            run.created_at = import.updated;
            run.started_at = None;
            run.ended_at = Some(import.updated);
            run.reason = import.reason.clone();
            applied.runs.push(id);
        }
    }
}
