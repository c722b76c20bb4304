//! The scheduling requests of app versions, kept from one round to the next: a version
//! never changes, so its request is made once rather than in every round for every app
//! with a queued or running run.

use std::collections::HashMap;
use std::sync::Arc;

use rota_model::{AppKey, AppKeyParts, AppSpec, Run};
use rota_sched::Request;
use rota_store::State;

/// Every this many rounds, the entries no round used since the last sweep are dropped.
const SWEEP_EVERY: u64 = 64;

/// The requests of the app versions that recent rounds saw.
#[derive(Default)]
pub(crate) struct RequestCache {
    /// Whether the nodes were labelled (a request then names the nodes serving its queue).
    labelled: bool,
    /// The state's count of removed apps when the entries were made.
    apps_removed: u64,
    /// Per app, per version: its priority, its request, and the round that last used it.
    by_app: HashMap<AppKey, Vec<Cached>>,
    /// The current round.
    round: u64,
}

struct Cached {
    version: u32,
    priority: i32,
    request: Arc<Request>,
    used_in: u64,
}

impl RequestCache {
    /// Starts a round on `state`: a change of labelling, or an app removed (its key may
    /// come back with other versions), makes every request again.
    pub(crate) fn begin(&mut self, state: &State, labelled: bool) {
        if labelled != self.labelled || state.apps_removed() != self.apps_removed {
            self.by_app.clear();
            self.labelled = labelled;
            self.apps_removed = state.apps_removed();
        }
        self.round += 1;
        if self.round.is_multiple_of(SWEEP_EVERY) {
            let since = self.round - SWEEP_EVERY;
            self.by_app.retain(|_, versions| {
                versions.retain(|c| c.used_in >= since);
                !versions.is_empty()
            });
        }
    }

    /// The priority and request of `run`'s app version, made with `make` the first time;
    /// none when the app or the version is gone.
    pub(crate) fn of(
        &mut self,
        state: &State,
        run: &Run,
        make: impl FnOnce(&AppSpec, bool) -> Request,
    ) -> Option<(i32, Arc<Request>)> {
        let parts = run.app_parts();
        let round = self.round;
        if let Some(versions) = self.by_app.get_mut(&parts as &dyn AppKeyParts)
            && let Some(cached) = versions.iter_mut().find(|c| c.version == run.version)
        {
            cached.used_in = round;
            return Some((cached.priority, cached.request.clone()));
        }
        let spec = state.spec_of(run)?;
        let request = Arc::new(make(spec, self.labelled));
        self.by_app.entry(run.app()).or_default().push(Cached {
            version: run.version,
            priority: spec.priority,
            request: request.clone(),
            used_in: round,
        });
        Some((spec.priority, request))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use jiff::Timestamp;
    use rota_store::Command;
    use serde_json::json;

    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + second).unwrap()
    }

    fn spec(cores: f64) -> AppSpec {
        AppSpec::from_value(json!({
            "name": "etl", "queue": "q", "cores": cores, "mems": 10, "command": ["true"]
        }))
        .unwrap()
    }

    fn apply(state: &mut State, command: Command) -> rota_store::Applied {
        state.apply(&command).unwrap()
    }

    /// A new run of `etl:q` for schedule time `second`.
    fn run(state: &mut State, second: i64) -> Run {
        let applied = apply(
            state,
            Command::Trigger {
                app: spec(1.0).key(),
                time: at(second),
                params: None,
                call: false,
                at: at(second),
            },
        );
        state.run(applied.runs[0]).unwrap().clone()
    }

    /// A state with app `etl:q` and one run of it.
    fn one_run() -> (State, Run) {
        let mut state = State::default();
        let add = Command::AddApp {
            spec: spec(1.0),
            at: at(0),
        };
        apply(&mut state, add);
        let first = run(&mut state, 1);
        (state, first)
    }

    /// Makes requests, counting them in `made`.
    fn counting(made: &Cell<u32>) -> impl Fn(&AppSpec, bool) -> Request + Copy + '_ {
        move |spec, _| {
            made.set(made.get() + 1);
            Request::from_spec(spec)
        }
    }

    #[test]
    fn a_version_s_request_is_made_once_and_a_removed_app_s_is_not_reused() {
        let (mut state, first) = one_run();
        let made = Cell::new(0);
        let make = counting(&made);
        let mut cache = RequestCache::default();

        cache.begin(&state, false);
        let (_, a) = cache.of(&state, &first, make).unwrap();
        let (_, again) = cache.of(&state, &first, make).unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        assert_eq!(made.get(), 1);

        // A new version has its own request; the old one's stays.
        apply(
            &mut state,
            Command::UpdateApp {
                spec: spec(2.0),
                at: at(2),
            },
        );
        let second = run(&mut state, 3);
        cache.begin(&state, false);
        assert_eq!(cache.of(&state, &second, make).unwrap().1.demand.cores, 2.0);
        assert!(Arc::ptr_eq(&cache.of(&state, &first, make).unwrap().1, &a));
        assert_eq!(made.get(), 2);

        // Removed and added again, the app starts at version 1 with another spec.
        let key = spec(1.0).key();
        apply(
            &mut state,
            Command::RemoveApp {
                app: key,
                force: true,
                at: at(4),
            },
        );
        apply(
            &mut state,
            Command::AddApp {
                spec: spec(3.0),
                at: at(5),
            },
        );
        let third = run(&mut state, 6);
        assert_eq!(third.version, first.version);
        cache.begin(&state, false);
        assert_eq!(cache.of(&state, &third, make).unwrap().1.demand.cores, 3.0);
    }

    #[test]
    fn a_request_no_round_uses_is_dropped_at_a_sweep_and_one_in_use_is_kept() {
        let (state, first) = one_run();
        let made = Cell::new(0);
        let make = counting(&made);
        let mut cache = RequestCache::default();
        for _ in 0..3 * SWEEP_EVERY {
            cache.begin(&state, false);
            cache.of(&state, &first, make).unwrap();
        }
        assert_eq!(made.get(), 1, "used in every round, it is kept");
        for _ in 0..2 * SWEEP_EVERY {
            cache.begin(&state, false);
        }
        cache.of(&state, &first, make).unwrap();
        assert_eq!(made.get(), 2, "unused for a whole sweep, it was dropped");
    }
}
