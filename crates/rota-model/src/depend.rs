//! Dependencies between apps (DESIGN §6): Cosmos' time windows and Chronos' parents, and
//! the pure rules that decide whether a run's dependencies are met.

use std::collections::{BTreeMap, BTreeSet};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::cron::CronExpr;
use crate::ids::{AppKey, IdError, RunId};
use crate::run::RunState;

/// The most fire times of an upstream app one window may span.
pub const MAX_WINDOW_FIRES: usize = 100_000;

/// An edge: the app `app` needs `upstream` over a window of its schedule times.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Depend {
    /// The dependent app.
    pub app: AppKey,
    /// The app it needs.
    pub upstream: AppKey,
    /// What it needs of it.
    pub rule: Rule,
}

/// What a dependent needs of its upstream app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Rule {
    /// Cosmos: every upstream run in `[T - from_seconds, T - to_seconds]` succeeded.
    Window {
        /// Start of the window, seconds before the dependent's schedule time.
        from_seconds: i64,
        /// End of the window, seconds before the dependent's schedule time.
        to_seconds: i64,
    },
    /// Chronos: the upstream run for the same schedule time succeeded, and the dependent's
    /// run is created when the parent's is.
    Parent,
}

impl Rule {
    /// The inclusive window of upstream schedule times for a dependent run at `t`.
    pub fn window(&self, t: Timestamp) -> (Timestamp, Timestamp) {
        match *self {
            Rule::Window {
                from_seconds,
                to_seconds,
            } => (
                t - SignedDuration::from_secs(from_seconds),
                t - SignedDuration::from_secs(to_seconds),
            ),
            Rule::Parent => (t, t),
        }
    }

    /// The dependent schedule times whose window contains the upstream time `u`: the
    /// inverse of [`Rule::window`], used to wake only the runs an event can release.
    pub fn dependents_of(&self, u: Timestamp) -> (Timestamp, Timestamp) {
        match *self {
            Rule::Window {
                from_seconds,
                to_seconds,
            } => (
                u + SignedDuration::from_secs(to_seconds),
                u + SignedDuration::from_secs(from_seconds),
            ),
            Rule::Parent => (u, u),
        }
    }
}

/// Cosmos' `addDepend` / `removeDepend` file, read unchanged (the seconds are absent in a
/// removal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DependFile {
    /// Dependent app name.
    pub name: String,
    /// Dependent app queue.
    pub queue: String,
    /// Upstream app name.
    pub depend_name: String,
    /// Upstream app queue.
    pub depend_queue: String,
    /// Start of the window, seconds before the schedule time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_seconds: Option<i64>,
    /// End of the window, seconds before the schedule time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_seconds: Option<i64>,
}

/// A dependency refused as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DependError {
    /// A name or queue is invalid.
    #[error(transparent)]
    Id(#[from] IdError),
    /// A window needs both ends.
    #[error("`fromSeconds` and `toSeconds` are both required to add a dependency")]
    MissingWindow,
    /// The window is inverted or negative.
    #[error(
        "the window is empty: fromSeconds ({from}) must be at least toSeconds ({to}), and both at least 0"
    )]
    BadWindow {
        /// fromSeconds.
        from: i64,
        /// toSeconds.
        to: i64,
    },
    /// An app cannot depend on the same schedule time of itself.
    #[error(
        "app {0} cannot depend on itself at the same schedule time (toSeconds must be above 0)"
    )]
    SelfAtSameTime(AppKey),
    /// The edge would close a cycle.
    #[error("this dependency would close a cycle: {}", cycle_text(.0))]
    Cycle(Vec<AppKey>),
}

fn cycle_text(cycle: &[AppKey]) -> String {
    cycle
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" -> ")
}

impl DependFile {
    /// The edge this file adds.
    pub fn to_depend(&self) -> Result<Depend, DependError> {
        let (Some(from), Some(to)) = (self.from_seconds, self.to_seconds) else {
            return Err(DependError::MissingWindow);
        };
        let depend = Depend {
            app: AppKey::new(&self.name, &self.queue)?,
            upstream: AppKey::new(&self.depend_name, &self.depend_queue)?,
            rule: Rule::Window {
                from_seconds: from,
                to_seconds: to,
            },
        };
        depend.validate()?;
        Ok(depend)
    }

    /// The pair of apps the file names, for a removal.
    pub fn keys(&self) -> Result<(AppKey, AppKey), DependError> {
        Ok((
            AppKey::new(&self.name, &self.queue)?,
            AppKey::new(&self.depend_name, &self.depend_queue)?,
        ))
    }

    /// The Cosmos file of an edge (for `depend get`).
    pub fn from_depend(depend: &Depend) -> DependFile {
        let (from_seconds, to_seconds) = match depend.rule {
            Rule::Window {
                from_seconds,
                to_seconds,
            } => (Some(from_seconds), Some(to_seconds)),
            Rule::Parent => (None, None),
        };
        DependFile {
            name: depend.app.name.clone(),
            queue: depend.app.queue.clone(),
            depend_name: depend.upstream.name.clone(),
            depend_queue: depend.upstream.queue.clone(),
            from_seconds,
            to_seconds,
        }
    }
}

impl Depend {
    /// Checks the window (Cosmos accepted inverted windows, which then blocked forever).
    pub fn validate(&self) -> Result<(), DependError> {
        match self.rule {
            Rule::Window {
                from_seconds,
                to_seconds,
            } => {
                if to_seconds < 0 || from_seconds < to_seconds {
                    return Err(DependError::BadWindow {
                        from: from_seconds,
                        to: to_seconds,
                    });
                }
                if self.app == self.upstream && to_seconds == 0 {
                    return Err(DependError::SelfAtSameTime(self.app.clone()));
                }
            }
            Rule::Parent if self.app == self.upstream => {
                return Err(DependError::SelfAtSameTime(self.app.clone()));
            }
            Rule::Parent => {}
        }
        Ok(())
    }
}

/// How the upstream app makes its runs.
pub enum Upstream<'a> {
    /// By a cron: the runs its fire times in the window say must exist.
    Cron(&'a CronExpr, &'a TimeZone),
    /// By hand or by events: the runs that exist in the window, at least one.
    Runs,
}

/// One reason a dependent run still waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Wait {
    /// No run exists yet for an upstream fire time.
    Missing {
        /// The fire time.
        time: Timestamp,
    },
    /// The upstream run exists but has not succeeded.
    NotSucceeded {
        /// Its schedule time.
        time: Timestamp,
        /// The run.
        run: RunId,
        /// Its state.
        state: RunState,
    },
    /// An upstream app without cron has no run in the window at all.
    NoRunInWindow {
        /// Window start.
        begin: Timestamp,
        /// Window end.
        end: Timestamp,
    },
    /// The window holds more upstream fire times than are checked.
    WindowTooLarge,
}

/// Decides whether the upstream runs in a window satisfy a dependency; collects at most
/// `limit` reasons to wait (1 is enough to decide, more to explain).
///
/// `run_at` finds the upstream run for an exact schedule time; `runs_between` lists the
/// upstream runs in the window.
pub fn unmet<'r>(
    upstream: Upstream<'_>,
    (begin, end): (Timestamp, Timestamp),
    run_at: impl Fn(Timestamp) -> Option<(RunId, RunState)>,
    runs_between: impl FnOnce() -> Box<dyn Iterator<Item = (Timestamp, RunId, RunState)> + 'r>,
    limit: usize,
) -> Vec<Wait> {
    let mut waits = Vec::new();
    match upstream {
        Upstream::Cron(cron, tz) => {
            for (n, time) in cron.fire_times(begin, end, tz).enumerate() {
                if n >= MAX_WINDOW_FIRES {
                    waits.push(Wait::WindowTooLarge);
                    break;
                }
                match run_at(time) {
                    None => waits.push(Wait::Missing { time }),
                    Some((_, RunState::Succeeded)) => continue,
                    Some((run, state)) => waits.push(Wait::NotSucceeded { time, run, state }),
                }
                if waits.len() >= limit {
                    break;
                }
            }
        }
        Upstream::Runs => {
            let mut any = false;
            for (time, run, state) in runs_between() {
                any = true;
                if state != RunState::Succeeded {
                    waits.push(Wait::NotSucceeded { time, run, state });
                    if waits.len() >= limit {
                        break;
                    }
                }
            }
            if !any {
                waits.push(Wait::NoRunInWindow { begin, end });
            }
        }
    }
    waits
}

/// If adding the edge `app -> upstream` to `edges` (dependent to upstreams) closes a cycle,
/// returns it, starting and ending at `app`.
pub fn cycle_with(
    edges: &BTreeMap<AppKey, BTreeSet<AppKey>>,
    app: &AppKey,
    upstream: &AppKey,
) -> Option<Vec<AppKey>> {
    if app == upstream {
        return None;
    }
    // A path from `upstream` back to `app` through existing edges closes the cycle.
    let mut stack = vec![(upstream.clone(), vec![app.clone(), upstream.clone()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        if !seen.insert(node.clone()) {
            continue;
        }
        for next in edges.get(&node).into_iter().flatten() {
            if next == app {
                let mut cycle = path.clone();
                cycle.push(app.clone());
                return Some(cycle);
            }
            if next != &node {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> AppKey {
        s.parse().unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_cosmos_example_file_parses_and_gives_the_previous_24_hours() {
        let file: DependFile = serde_json::from_str(
            r#"{
    "name": "baishan_bandwidth_staging",
    "queue": "pinot",
    "dependName": "cdn.baishan_bandwidth_staging",
    "dependQueue": "hive",
    "fromSeconds": 86400,
    "toSeconds": 0
}"#,
        )
        .unwrap();
        let depend = file.to_depend().unwrap();
        assert_eq!(depend.upstream, key("cdn.baishan_bandwidth_staging:hive"));
        let (begin, end) = depend.rule.window(ts("2019-04-02T00:00:00Z"));
        assert_eq!(begin, ts("2019-04-01T00:00:00Z"));
        assert_eq!(end, ts("2019-04-02T00:00:00Z"));
        assert_eq!(DependFile::from_depend(&depend), file);
    }

    #[test]
    fn dependents_of_inverts_window() {
        let rule = Rule::Window {
            from_seconds: 3600,
            to_seconds: 600,
        };
        let t = ts("2026-01-01T12:00:00Z");
        let (b, e) = rule.window(t);
        let (lo, hi) = rule.dependents_of(b);
        assert_eq!(hi, t);
        let (lo2, _) = rule.dependents_of(e);
        assert_eq!(lo2, t);
        assert!(lo < hi);
    }

    #[test]
    fn an_inverted_window_and_a_same_time_self_dependency_are_refused() {
        let mut file = DependFile {
            name: "a".into(),
            queue: "q".into(),
            depend_name: "b".into(),
            depend_queue: "q".into(),
            from_seconds: Some(10),
            to_seconds: Some(20),
        };
        assert!(matches!(
            file.to_depend(),
            Err(DependError::BadWindow { .. })
        ));
        file.from_seconds = None;
        assert_eq!(file.to_depend(), Err(DependError::MissingWindow));
        file.depend_name = "a".into();
        file.from_seconds = Some(3600);
        file.to_seconds = Some(0);
        assert!(matches!(
            file.to_depend(),
            Err(DependError::SelfAtSameTime(_))
        ));
        file.to_seconds = Some(3600);
        assert!(
            file.to_depend().is_ok(),
            "the previous run of itself is fine"
        );
    }

    #[test]
    fn a_cron_upstream_needs_every_fire_time_in_the_window_to_have_succeeded() {
        let cron: CronExpr = "0 0 * * * ?".parse().unwrap();
        let window = (ts("2026-01-01T00:00:00Z"), ts("2026-01-01T02:00:00Z"));
        let runs = [
            (ts("2026-01-01T00:00:00Z"), RunId(1), RunState::Succeeded),
            (ts("2026-01-01T01:00:00Z"), RunId(2), RunState::Failed),
        ];
        let run_at = |t: Timestamp| runs.iter().find(|r| r.0 == t).map(|r| (r.1, r.2));
        let waits = unmet(
            Upstream::Cron(&cron, &TimeZone::UTC),
            window,
            run_at,
            || Box::new(std::iter::empty()),
            10,
        );
        assert_eq!(
            waits,
            vec![
                Wait::NotSucceeded {
                    time: ts("2026-01-01T01:00:00Z"),
                    run: RunId(2),
                    state: RunState::Failed
                },
                Wait::Missing {
                    time: ts("2026-01-01T02:00:00Z")
                },
            ]
        );
        let only_first = unmet(
            Upstream::Cron(&cron, &TimeZone::UTC),
            window,
            run_at,
            || Box::new(std::iter::empty()),
            1,
        );
        assert_eq!(only_first.len(), 1);
    }

    #[test]
    fn a_cron_upstream_with_no_fire_time_in_the_window_is_satisfied() {
        let cron: CronExpr = "0 0 0 * * ?".parse().unwrap();
        let window = (ts("2026-01-01T01:00:00Z"), ts("2026-01-01T02:00:00Z"));
        let waits = unmet(
            Upstream::Cron(&cron, &TimeZone::UTC),
            window,
            |_| None,
            || Box::new(std::iter::empty()),
            10,
        );
        assert!(waits.is_empty());
    }

    #[test]
    fn an_upstream_without_cron_needs_at_least_one_run_all_succeeded() {
        let window = (ts("2026-01-01T00:00:00Z"), ts("2026-01-01T02:00:00Z"));
        let none = unmet(
            Upstream::Runs,
            window,
            |_| None,
            || Box::new(std::iter::empty()),
            10,
        );
        assert!(matches!(none[..], [Wait::NoRunInWindow { .. }]));
        let runs = vec![(ts("2026-01-01T00:30:00Z"), RunId(1), RunState::Succeeded)];
        let ok = unmet(
            Upstream::Runs,
            window,
            |_| None,
            || Box::new(runs.into_iter()),
            10,
        );
        assert!(ok.is_empty());
    }

    #[test]
    fn an_edge_that_closes_a_cycle_is_found_with_the_cycle() {
        let mut edges: BTreeMap<AppKey, BTreeSet<AppKey>> = BTreeMap::new();
        edges.entry(key("a:q")).or_default().insert(key("b:q"));
        edges.entry(key("b:q")).or_default().insert(key("c:q"));
        assert_eq!(
            cycle_with(&edges, &key("c:q"), &key("a:q")),
            Some(vec![key("c:q"), key("a:q"), key("b:q"), key("c:q")])
        );
        assert_eq!(cycle_with(&edges, &key("a:q"), &key("c:q")), None);
        assert_eq!(cycle_with(&edges, &key("d:q"), &key("a:q")), None);
    }
}
