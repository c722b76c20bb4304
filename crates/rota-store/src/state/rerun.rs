//! `repair` and `replay`, with `--cascade` and `--dry-run`: a pure plan, then its execution.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use jiff::Timestamp;

use rota_model::api::{PlannedRun, SkippedRun};
use rota_model::{AppKey, Origin, RunState};

use super::{Applied, State};
use crate::command::{Rerun, RerunMode};
use crate::refusal::Refusal;

impl State {
    /// What a rerun would do, changing nothing: the runs it would start again (or create, for
    /// fire times that have none), root app first and then its dependents in dependency
    /// order, and the runs it would leave alone with why.
    pub fn plan_rerun(&self, rerun: &Rerun) -> Result<(Vec<PlannedRun>, Vec<SkippedRun>), Refusal> {
        if !self.apps.contains_key(&rerun.app) {
            return Err(Refusal::AppNotFound(rerun.app.clone()));
        }
        if rerun.begin > rerun.end {
            return Err(Refusal::BadRange {
                begin: rerun.begin,
                end: rerun.end,
            });
        }
        let mut planned = Vec::new();
        let mut skipped = Vec::new();
        let mut times: BTreeSet<Timestamp> = rerun
            .fire_times
            .iter()
            .copied()
            .filter(|t| (rerun.begin..=rerun.end).contains(t))
            .collect();
        times.extend(
            self.runs_between(&rerun.app, rerun.begin, rerun.end)
                .map(|r| r.schedule_time),
        );
        for time in times {
            self.plan_one(
                &rerun.app,
                time,
                rerun.mode,
                false,
                &mut planned,
                &mut skipped,
            );
        }
        if rerun.cascade {
            self.plan_cascade(&rerun.app, &mut planned, &mut skipped);
        }
        Ok((planned, skipped))
    }

    /// Plans the run of `app` at `time`: `cascade` re-runs a dependent whatever way it ended.
    fn plan_one(
        &self,
        app: &AppKey,
        time: Timestamp,
        mode: RerunMode,
        cascade: bool,
        planned: &mut Vec<PlannedRun>,
        skipped: &mut Vec<SkippedRun>,
    ) {
        let Some(run) = self.run_at(app, time) else {
            planned.push(PlannedRun {
                app: app.clone(),
                schedule_time: time,
                run: None,
                state: None,
            });
            return;
        };
        let eligible = match mode {
            _ if cascade => run.state.is_ended(),
            RerunMode::Repair => run.state.is_repairable(),
            RerunMode::Replay => run.state.is_ended(),
        };
        if eligible {
            planned.push(PlannedRun {
                app: app.clone(),
                schedule_time: time,
                run: Some(run.id),
                state: Some(run.state),
            });
        } else {
            skipped.push(SkippedRun {
                id: run.id,
                schedule_time: time,
                reason: if run.state.is_ended() {
                    format!("{} (repair re-runs only unsuccessful runs)", run.state)
                } else {
                    format!("already {}", run.state)
                },
            });
        }
    }

    /// Adds the dependents whose windows hold a planned run, in dependency order.
    fn plan_cascade(
        &self,
        root: &AppKey,
        planned: &mut Vec<PlannedRun>,
        skipped: &mut Vec<SkippedRun>,
    ) {
        let order = self.downstream_order(root);
        let mut affected: BTreeMap<AppKey, Vec<Timestamp>> = BTreeMap::new();
        affected.insert(
            root.clone(),
            planned.iter().map(|p| p.schedule_time).collect(),
        );
        for app in order {
            let mut hull: Option<(Timestamp, Timestamp)> = None;
            for depend in self.depends_of(&app) {
                for time in affected.get(&depend.upstream).into_iter().flatten() {
                    let (lo, hi) = depend.rule.dependents_of(*time);
                    hull = Some(hull.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
                }
            }
            let Some((lo, hi)) = hull else { continue };
            let first = planned.len();
            let times: Vec<Timestamp> = self
                .runs_between(&app, lo, hi)
                .map(|r| r.schedule_time)
                .collect();
            for time in times {
                self.plan_one(&app, time, RerunMode::Replay, true, planned, skipped);
            }
            affected.insert(
                app,
                planned[first..].iter().map(|p| p.schedule_time).collect(),
            );
        }
    }

    /// The apps downstream of `root`, each after all of its upstream apps that are
    /// downstream of `root` too (Kahn's algorithm on the reachable part of the graph).
    fn downstream_order(&self, root: &AppKey) -> Vec<AppKey> {
        let mut reachable: BTreeSet<AppKey> = BTreeSet::new();
        let mut todo = vec![root.clone()];
        while let Some(app) = todo.pop() {
            for d in self.dependents_of(&app) {
                if d.app != *root && reachable.insert(d.app.clone()) {
                    todo.push(d.app.clone());
                }
            }
        }
        let mut indegree: BTreeMap<&AppKey, usize> = reachable.iter().map(|a| (a, 0)).collect();
        for app in &reachable {
            let upstreams: BTreeSet<&AppKey> = self
                .depends_of(app)
                .map(|d| &d.upstream)
                .filter(|u| reachable.contains(*u) && *u != app)
                .collect();
            indegree.insert(app, upstreams.len());
        }
        let mut ready: VecDeque<AppKey> = indegree
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(a, _)| (*a).clone())
            .collect();
        let mut order = Vec::new();
        while let Some(app) = ready.pop_front() {
            let downstream: BTreeSet<AppKey> = self
                .dependents_of(&app)
                .map(|d| d.app.clone())
                .filter(|d| reachable.contains(d) && *d != app)
                .collect();
            for next in downstream {
                let n = indegree.get_mut(&next).expect("reachable");
                *n -= 1;
                if *n == 0 {
                    ready.push_back(next);
                }
            }
            order.push(app);
        }
        order
    }

    /// Executes a rerun: what [`State::plan_rerun`] lists.
    pub(super) fn rerun(
        &mut self,
        rerun: &Rerun,
        at: Timestamp,
        applied: &mut Applied,
    ) -> Result<(), Refusal> {
        let (planned, skipped) = self.plan_rerun(rerun)?;
        applied.skipped.extend(skipped);
        let origin = match rerun.mode {
            RerunMode::Repair => Origin::Repair,
            RerunMode::Replay => Origin::Replay,
        };
        for item in planned {
            let id = match item.run {
                None => self.create_run(&item.app, item.schedule_time, origin, at),
                Some(id) if self.runs[&id].state == RunState::Pending => id,
                Some(id) => {
                    self.restart_ended(id, at)?;
                    id
                }
            };
            self.release_if_met(id, at);
            applied.runs.push(id);
        }
        Ok(())
    }
}
