//! The explanations of one plan as the planner records them: compact (each node's name
//! once, waits and filter tallies shared by the runs of a class, four bytes per score), so
//! that explaining every run costs little; an [`Explanation`] is built when one is asked for.

use std::sync::Arc;

use rota_model::{NodeId, RunId};

use crate::explain::{
    Candidate, Explanation, FilterTally, Outcome, RejectReason, ScorerScore, Wait,
};

/// The explanations of one plan.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Explanations {
    names: Vec<NodeId>,
    records: Vec<Record>,
    /// (name, total, range in `scores`).
    candidates: Vec<(u32, u32, u32, u32)>,
    scorers: Vec<&'static str>,
    /// (index in `scorers`, score, weight): four bytes per score.
    scores: Vec<(u16, u8, u8)>,
}

#[derive(Debug, Clone, PartialEq)]
struct Record {
    run: RunId,
    outcome: Compact,
    filters: Arc<[FilterTally]>,
    examined: u32,
    feasible: u32,
    /// Range in `candidates`.
    candidates: (u32, u32),
}

/// An [`Outcome`] with nodes as indices into the names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Compact {
    Placed(u32),
    Preempting(u32, Vec<RunId>),
    Reserved(u32, Arc<Wait>),
    Waiting(Arc<Wait>),
    Rejected(RejectReason),
}

impl Explanations {
    /// Room for the records of `runs` runs.
    pub(crate) fn with_capacity(runs: usize) -> Self {
        Explanations {
            records: Vec::with_capacity(runs),
            ..Explanations::default()
        }
    }

    /// Keeps `node`'s name; its index for [`Compact`] and candidates.
    pub(crate) fn name(&mut self, node: &NodeId) -> u32 {
        self.names.push(node.clone());
        self.names.len() as u32 - 1
    }

    /// Adds a run's record.
    pub(crate) fn push(
        &mut self,
        run: RunId,
        outcome: Compact,
        filters: Arc<[FilterTally]>,
        (examined, feasible): (u32, u32),
    ) {
        let at = self.candidates.len() as u32;
        self.records.push(Record {
            run,
            outcome,
            filters,
            examined,
            feasible,
            candidates: (at, at),
        });
    }

    /// Adds a candidate to the last record.
    pub(crate) fn candidate(&mut self, name: u32, total: u32, scores: &[ScorerScore]) {
        let at = self.scores.len() as u32;
        for score in scores {
            let scorer = match self.scorers.iter().position(|s| *s == score.scorer) {
                Some(i) => i,
                None => {
                    self.scorers.push(score.scorer);
                    self.scorers.len() - 1
                }
            };
            // Scores are 0 to 100 and weights 1 to 100 (the profile's bound): both fit a byte.
            let weight = score.weight.min(u32::from(u8::MAX)) as u8;
            self.scores.push((scorer as u16, score.score as u8, weight));
        }
        self.candidates
            .push((name, total, at, at + scores.len() as u32));
        if let Some(record) = self.records.last_mut() {
            record.candidates.1 += 1;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    pub(crate) fn position(&self, run: RunId) -> Option<usize> {
        self.records.iter().position(|r| r.run == run)
    }

    /// The explanation of the `i`th run examined.
    pub(crate) fn get(&self, i: usize) -> Explanation {
        let record = &self.records[i];
        let name = |n: &u32| self.names[*n as usize].clone();
        let outcome = match &record.outcome {
            Compact::Placed(n) => Outcome::Placed { node: name(n) },
            Compact::Preempting(n, victims) => Outcome::Preempting {
                node: name(n),
                victims: victims.clone(),
            },
            Compact::Reserved(n, wait) => Outcome::Reserved {
                node: name(n),
                wait: Wait::clone(wait),
            },
            Compact::Waiting(wait) => Outcome::Waiting(Wait::clone(wait)),
            Compact::Rejected(reason) => Outcome::Rejected(reason.clone()),
        };
        let (from, to) = record.candidates;
        let candidates = self.candidates[from as usize..to as usize]
            .iter()
            .map(|(n, total, s, e)| Candidate {
                node: name(n),
                total: *total,
                scores: self.scores[*s as usize..*e as usize]
                    .iter()
                    .map(|(scorer, score, weight)| ScorerScore {
                        scorer: self.scorers[*scorer as usize],
                        score: u32::from(*score),
                        weight: u32::from(*weight),
                    })
                    .collect(),
            })
            .collect();
        Explanation {
            run: record.run,
            outcome,
            filters: record.filters.clone(),
            examined: record.examined,
            feasible: record.feasible,
            candidates,
        }
    }
}
