//! Runs made ahead of their schedule time: the cron loop fires an app whose runs may overlap
//! a little before each fire time, and the run waits (`not_before`) for that time. Until
//! then the app may change, and the run follows as if it had been fired at its time:
//! stopping the app forgets the run (the cron had not reached its time), and a new version
//! is the one it runs with.

use jiff::Timestamp;

use rota_model::{AppKey, AppKeyParts, RunId, RunState};

use super::{Applied, State};

impl State {
    /// The runs of `key` made ahead of a schedule time still to come at `at`: waiting, never
    /// attempted, held until their schedule time.
    fn ahead_runs(&self, key: &AppKey, at: Timestamp) -> Vec<RunId> {
        self.index
            .active_by_app
            .get(key)
            .into_iter()
            .flatten()
            .filter(|id| {
                let run = &self.runs[*id];
                matches!(run.state, RunState::Pending | RunState::Queued)
                    && run.attempts == 0
                    && run.not_before.is_some_and(|t| t > at)
            })
            .copied()
            .collect()
    }

    /// Forgets the runs made ahead of a schedule time still to come: the app was stopped
    /// before its cron reached that time, so no run of it exists, as if it had never been
    /// fired (starting the app again before that time fires it again).
    pub(super) fn forget_ahead_runs(&mut self, key: &AppKey, at: Timestamp) {
        for id in self.ahead_runs(key, at) {
            // Out of the indexes of waiting runs first, then out of the state.
            self.unindex(id, self.runs[&id].state);
            self.scheduling_changed();
            let run = self.runs.remove(&id).expect("exists");
            let parts = run.app_parts();
            let app: &dyn AppKeyParts = &parts;
            if let Some(times) = self.index.by_app_time.get_mut(app) {
                times.remove(&run.schedule_time);
                if times.is_empty() {
                    self.index.by_app_time.remove(app);
                }
            }
        }
    }

    /// Moves the runs made ahead of a schedule time still to come to the app's current
    /// version: a run runs with the version current at its schedule time.
    pub(super) fn renew_ahead_runs(&mut self, key: &AppKey, at: Timestamp, applied: &mut Applied) {
        let Some(version) = self.apps.get(key).map(|a| a.current().version) else {
            return;
        };
        for id in self.ahead_runs(key, at) {
            // A queued run's place in its queue depends on its version's priority: take it
            // out of the indexes under the old version and put it back under the new one.
            self.unindex(id, self.runs[&id].state);
            self.runs.get_mut(&id).expect("exists").version = version;
            self.index(id);
            self.scheduling_changed();
            applied.runs.push(id);
        }
    }
}
