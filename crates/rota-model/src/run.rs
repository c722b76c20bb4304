//! The run state machine of DESIGN §1.
//!
//! ```text
//! pending ──deps ok──▶ queued ──placed──▶ running ──exit 0──▶ succeeded
//!    │                   │  │                 ├──exit≠0 / oom──▶ failed
//!    │                   │  └──never fits──▶ rejected          ├──timeout──▶ timed_out
//!    │                   └──deleted──▶ killed  ├──kill──▶ killed
//!    └──concurrency policy──▶ skipped          └──node lost──▶ lost
//! failed / timed_out / lost ──retries left──▶ queued (next attempt)
//! running ──preempted──▶ preempted ──▶ queued (at once)
//! any ended run ──repair / replay──▶ pending
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Created, waiting for its dependencies (Cosmos' 未调度).
    Pending,
    /// Waiting for capacity.
    Queued,
    /// Placed on a node.
    Running,
    /// Exited 0.
    Succeeded,
    /// Exited non-zero, was killed by a signal, or could not start.
    Failed,
    /// Ran past its timeout and was stopped.
    TimedOut,
    /// Killed on request, or deleted from the waiting queue.
    Killed,
    /// Its node went away while it ran.
    Lost,
    /// Can never fit anywhere.
    Rejected,
    /// Not run: the concurrency or catch-up policy said so.
    Skipped,
    /// Evicted to make room for a queue below its guaranteed minimum; re-queued at once.
    Preempted,
}

/// Every state, in the order of the diagram.
pub const ALL_STATES: [RunState; 11] = [
    RunState::Pending,
    RunState::Queued,
    RunState::Running,
    RunState::Succeeded,
    RunState::Failed,
    RunState::TimedOut,
    RunState::Killed,
    RunState::Lost,
    RunState::Rejected,
    RunState::Skipped,
    RunState::Preempted,
];

/// What happens to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// Its dependencies are met: pending → queued.
    DependenciesMet,
    /// The scheduler placed it on a node: queued → running.
    Place,
    /// It exited 0.
    Succeed,
    /// It exited non-zero, was killed by a signal or the OOM killer, or could not start.
    Fail,
    /// It overran its timeout.
    TimeOut,
    /// A user killed it (running) or deleted it from the waiting queue (pending, queued).
    Kill,
    /// Its node was lost.
    Lose,
    /// It can never fit: queued → rejected.
    Reject,
    /// The concurrency or catch-up policy skipped it.
    Skip,
    /// A retry after a failure, a timeout or a lost node.
    Retry,
    /// `repair` or `replay` runs an ended run again: back to pending.
    Rerun,
    /// The scheduler evicted it for a queue below its guaranteed minimum.
    Preempt,
}

/// A transition that the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from} run cannot {transition}")]
pub struct TransitionError {
    /// The state the run was in.
    pub from: RunState,
    /// The refused transition.
    pub transition: Transition,
}

impl RunState {
    /// The state after `transition`, or an error if it is illegal from here.
    pub fn apply(self, transition: Transition) -> Result<RunState, TransitionError> {
        use RunState::*;
        use Transition as T;
        let next = match (self, transition) {
            (Pending, T::DependenciesMet) => Queued,
            (Queued, T::Place) => Running,
            (Running, T::Succeed) => Succeeded,
            (Running, T::Fail) => Failed,
            (Running, T::TimeOut) => TimedOut,
            (Pending | Queued | Running, T::Kill) => Killed,
            (Running, T::Lose) => Lost,
            (Queued, T::Reject) => Rejected,
            (Pending | Queued, T::Skip) => Skipped,
            (Running, T::Preempt) => Preempted,
            (Failed | TimedOut | Lost | Preempted, T::Retry) => Queued,
            (s, T::Rerun) if s.is_ended() => Pending,
            (from, transition) => return Err(TransitionError { from, transition }),
        };
        Ok(next)
    }

    /// True once nothing more will happen to the run unless it is retried or re-run.
    pub fn is_ended(self) -> bool {
        !matches!(
            self,
            RunState::Pending | RunState::Queued | RunState::Running
        )
    }

    /// The states `repair` re-runs (DESIGN §1).
    pub fn is_repairable(self) -> bool {
        matches!(
            self,
            RunState::Pending
                | RunState::Failed
                | RunState::Killed
                | RunState::TimedOut
                | RunState::Lost
                | RunState::Rejected
                | RunState::Preempted
        )
    }

    /// The snake_case name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Pending => "pending",
            RunState::Queued => "queued",
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::TimedOut => "timed_out",
            RunState::Killed => "killed",
            RunState::Lost => "lost",
            RunState::Rejected => "rejected",
            RunState::Skipped => "skipped",
            RunState::Preempted => "preempted",
        }
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Transition::DependenciesMet => "have its dependencies met",
            Transition::Place => "be placed",
            Transition::Succeed => "succeed",
            Transition::Fail => "fail",
            Transition::TimeOut => "time out",
            Transition::Kill => "be killed",
            Transition::Lose => "be lost",
            Transition::Reject => "be rejected",
            Transition::Skip => "be skipped",
            Transition::Retry => "be retried",
            Transition::Rerun => "be re-run",
            Transition::Preempt => "be preempted",
        };
        f.write_str(text)
    }
}

/// A state name that is not one of [`ALL_STATES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown run state `{0}`")]
pub struct UnknownState(pub String);

impl FromStr for RunState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_STATES
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::RunState::*;
    use super::*;
    use proptest::prelude::*;

    const ALL_TRANSITIONS: [Transition; 12] = [
        Transition::DependenciesMet,
        Transition::Place,
        Transition::Succeed,
        Transition::Fail,
        Transition::TimeOut,
        Transition::Kill,
        Transition::Lose,
        Transition::Reject,
        Transition::Skip,
        Transition::Retry,
        Transition::Rerun,
        Transition::Preempt,
    ];

    /// The legal transitions, written out by hand from the diagram: every other pair is refused.
    const LEGAL: &[(RunState, Transition, RunState)] = &[
        (Pending, Transition::DependenciesMet, Queued),
        (Pending, Transition::Kill, Killed),
        (Pending, Transition::Skip, Skipped),
        (Queued, Transition::Place, Running),
        (Queued, Transition::Reject, Rejected),
        (Queued, Transition::Kill, Killed),
        (Queued, Transition::Skip, Skipped),
        (Running, Transition::Succeed, Succeeded),
        (Running, Transition::Fail, Failed),
        (Running, Transition::TimeOut, TimedOut),
        (Running, Transition::Kill, Killed),
        (Running, Transition::Lose, Lost),
        (Running, Transition::Preempt, Preempted),
        (Preempted, Transition::Retry, Queued),
        (Preempted, Transition::Rerun, Pending),
        (Failed, Transition::Retry, Queued),
        (TimedOut, Transition::Retry, Queued),
        (Lost, Transition::Retry, Queued),
        (Succeeded, Transition::Rerun, Pending),
        (Failed, Transition::Rerun, Pending),
        (TimedOut, Transition::Rerun, Pending),
        (Killed, Transition::Rerun, Pending),
        (Lost, Transition::Rerun, Pending),
        (Rejected, Transition::Rerun, Pending),
        (Skipped, Transition::Rerun, Pending),
    ];

    #[test]
    fn every_pair_of_state_and_transition_is_legal_exactly_when_the_diagram_says_so() {
        for from in ALL_STATES {
            for transition in ALL_TRANSITIONS {
                let expected = LEGAL
                    .iter()
                    .find(|(f, t, _)| *f == from && *t == transition)
                    .map(|(_, _, to)| *to);
                match (from.apply(transition), expected) {
                    (Ok(to), Some(want)) => assert_eq!(to, want, "{from} {transition:?}"),
                    (Err(e), None) => assert_eq!(e, TransitionError { from, transition }),
                    (got, want) => panic!("{from} {transition:?}: got {got:?}, want {want:?}"),
                }
            }
        }
    }

    #[test]
    fn an_illegal_transition_says_what_was_refused() {
        let err = Succeeded.apply(Transition::Kill).unwrap_err();
        assert_eq!(err.to_string(), "a succeeded run cannot be killed");
    }

    #[test]
    fn names_round_trip() {
        for state in ALL_STATES {
            assert_eq!(state.as_str().parse::<RunState>().unwrap(), state);
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
        }
        assert!("done".parse::<RunState>().is_err());
    }

    proptest! {
        /// Whatever happens to a run, it stays in a known state, an ended run moves only by
        /// retry or re-run, and a running run can always end.
        #[test]
        fn random_walks_respect_the_lifecycle(steps in prop::collection::vec(0usize..12, 0..64)) {
            let mut state = Pending;
            for step in steps {
                let transition = ALL_TRANSITIONS[step];
                match state.apply(transition) {
                    Ok(next) => {
                        if state.is_ended() {
                            prop_assert!(matches!(transition, Transition::Retry | Transition::Rerun));
                        }
                        if next == Running {
                            prop_assert_eq!(state, Queued);
                        }
                        state = next;
                    }
                    Err(e) => prop_assert_eq!(e.from, state),
                }
                if state == Running {
                    prop_assert!(state.apply(Transition::Succeed).is_ok());
                }
            }
        }
    }
}
