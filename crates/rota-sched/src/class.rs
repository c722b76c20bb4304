//! A request class: the runs of one request share their demand, profile and constraints, so
//! the core resolves the profile, compiles the constraints and surveys the nodes with the
//! static filters once per class and plan, not once per run.

use std::collections::HashMap;
use std::sync::Arc;

use regex::Regex;
use rota_model::placement::{Constraint, Operator};

use crate::explain::{EXAMPLES, FilterTally, RejectReason};
use crate::plugin::{At, MANDATORY, Reason, Registry, Verdict};
use crate::round::{NONE, Round};
use crate::state::Placing;

/// The runs of one request in one plan: what they need and how they are placed.
pub(crate) struct Class {
    pub(crate) request: u32,
    pub(crate) app: u32,
    pub(crate) queue: u32,
    pub(crate) demand: Vec<i64>,
    /// Registry indices: the mandatory filters, then the profile's.
    pub(crate) filters: Vec<usize>,
    pub(crate) dynamic_filters: Vec<usize>,
    pub(crate) static_scorers: Vec<(usize, u32)>,
    pub(crate) dynamic_scorers: Vec<(usize, u32)>,
    pub(crate) constraints: Vec<Compiled>,
    pub(crate) prefer: Vec<Compiled>,
    /// Whether a GROUP_BY constraint makes nodes turn feasible as runs are placed.
    pub(crate) group_by: bool,
    pub(crate) survey: Option<Survey>,
}

impl Class {
    /// Whether a UNIQUE or GROUP_BY constraint makes the answer depend on other runs.
    pub(crate) fn has_spread_constraints(&self) -> bool {
        self.constraints.iter().any(|c| !c.op.is_static())
    }
}

/// A constraint or preference, compiled against the round's interned attributes.
pub(crate) struct Compiled {
    /// The attribute, or `None` when no node has it.
    pub(crate) attr: Option<u16>,
    pub(crate) op: Operator,
    /// For EQUALS, LIKE and UNLIKE: per value id of the attribute, whether it is accepted.
    pub(crate) accepts: Vec<bool>,
    /// For GROUP_BY: the number of groups to spread over.
    pub(crate) groups: u32,
}

impl Compiled {
    /// Whether a node's value (an id, or [`NONE`]) meets a static constraint.
    #[inline]
    pub(crate) fn accepts(&self, value: u32) -> bool {
        self.accepts.get(value as usize).copied().unwrap_or(false)
    }
}

/// Compiled regular expressions, by pattern, for one plan: a LIKE is compiled once.
#[derive(Default)]
pub(crate) struct Regexes(HashMap<String, Option<Regex>>);

impl Regexes {
    fn get(&mut self, constraint: &Constraint) -> Option<&Regex> {
        let pattern = constraint.value.clone().unwrap_or_default();
        self.0
            .entry(pattern)
            .or_insert_with(|| constraint.regex().ok())
            .as_ref()
    }
}

/// What the static filters said about every node, once per class and plan.
pub(crate) struct Survey {
    /// Nodes every static filter accepts, in the plan's order (ascending).
    pub(crate) eligible: Vec<u32>,
    /// The same, as a bit per node.
    bits: Vec<u64>,
    /// Per node: the weighted sum of the static scorers (empty when there are none).
    pub(crate) static_score: Vec<u32>,
    pub(crate) tallies: Arc<[FilterTally]>,
    /// Never placeable: `Some` when the class must be rejected.
    pub(crate) rejection: Option<RejectReason>,
}

impl Survey {
    #[inline]
    pub(crate) fn is_eligible(&self, node: u32) -> bool {
        self.bits[node as usize / 64] & (1 << (node % 64)) != 0
    }
}

impl Class {
    /// Resolves request `request` of the round against the registry.
    pub(crate) fn resolve(
        round: &Round<'_>,
        registry: &Registry,
        regexes: &mut Regexes,
        request: u32,
    ) -> Class {
        let spec = round.requests[request as usize];
        let app = round
            .apps
            .get(&spec.app)
            .expect("every request's app is interned");
        let mut filters: Vec<usize> = MANDATORY
            .iter()
            .filter_map(|name| registry.filter_index(name))
            .collect();
        for name in &spec.profile.filters {
            if let Some(f) = registry.filter_index(name)
                && !filters.contains(&f)
            {
                filters.push(f);
            }
        }
        let mut static_scorers = Vec::new();
        let mut dynamic_scorers = Vec::new();
        for (name, weight) in &spec.profile.scorers {
            if let Some(s) = registry.scorer_index(name) {
                if registry.scorers[s].is_static() {
                    static_scorers.push((s, *weight));
                } else {
                    dynamic_scorers.push((s, *weight));
                }
            }
        }
        let compile = |c: &Constraint, regexes: &mut Regexes| compile(round, regexes, c);
        let constraints: Vec<Compiled> = spec
            .constraints
            .iter()
            .map(|c| compile(c, regexes))
            .collect();
        let prefer = spec
            .profile
            .prefer
            .iter()
            .map(|c| compile(c, regexes))
            .collect();
        let mut class = Class {
            request,
            app,
            queue: round.apps.queue[app as usize],
            demand: round.dims.vector(&spec.demand),
            filters,
            dynamic_filters: Vec::new(),
            static_scorers,
            dynamic_scorers,
            group_by: constraints.iter().any(|c| c.op == Operator::GroupBy),
            constraints,
            prefer,
            survey: None,
        };
        class.dynamic_filters = class
            .filters
            .iter()
            .copied()
            .filter(|f| registry.filters[*f].is_dynamic(spec))
            .collect();
        class
    }

    /// Asks every static filter about every node, sums the static scores, and decides
    /// whether the class can ever be placed.
    pub(crate) fn survey(&self, round: &Round<'_>, registry: &Registry, state: &Placing) -> Survey {
        let n = round.nodes.len();
        let mut tallies: Vec<FilterTally> = self
            .filters
            .iter()
            .map(|f| FilterTally {
                filter: registry.filters[*f].name(),
                refused: 0,
                never: 0,
                examples: Vec::new(),
            })
            .collect();
        let mut eligible = Vec::new();
        let mut bits = vec![0u64; n.div_ceil(64)];
        let mut static_score = Vec::new();
        if !self.static_scorers.is_empty() {
            static_score = vec![0; n];
        }
        let resources = registry.filter_index("resources");
        let mut never_nodes = 0;
        let mut too_small = 0;
        for node in 0..n as u32 {
            let at = At {
                round,
                state,
                class: self,
                node,
                run: NONE,
            };
            let mut fit = true;
            let mut never = false;
            for (tally, f) in tallies.iter_mut().zip(&self.filters) {
                let (reason, for_good) = match registry.filters[*f].check_static(&at) {
                    Verdict::Fit => continue,
                    Verdict::Unfit(reason) => (reason, false),
                    Verdict::Never(reason) => (reason, true),
                };
                fit = false;
                never |= for_good;
                too_small += u32::from(for_good && Some(*f) == resources);
                tally.refused += 1;
                tally.never += u32::from(for_good);
                if tally.examples.len() < EXAMPLES {
                    tally
                        .examples
                        .push((at.node().clone(), describe(round, self, node, reason)));
                }
            }
            never_nodes += u32::from(never);
            if fit {
                eligible.push(node);
                bits[node as usize / 64] |= 1 << (node % 64);
                if !static_score.is_empty() {
                    static_score[node as usize] = self
                        .static_scorers
                        .iter()
                        .map(|(s, w)| w * registry.scorers[*s].score(&at).min(100))
                        .sum();
                }
            }
        }
        tallies.retain(|t| t.refused > 0);
        let rejection = (n > 0 && never_nodes as usize == n)
            .then(|| self.never_reason(round, too_small as usize));
        Survey {
            eligible,
            bits,
            static_score,
            tallies: tallies.into(),
            rejection,
        }
    }

    /// Why a class no node can ever take is rejected, `too_small` of the nodes being
    /// smaller than the run.
    fn never_reason(&self, round: &Round<'_>, too_small: usize) -> RejectReason {
        for (dim, need) in self.demand.iter().enumerate() {
            let largest = round.nodes.largest[dim];
            if *need > largest {
                return RejectReason::LargerThanEveryNode {
                    resource: round.dims.name(dim).to_string(),
                    need: round.dims.readable(dim, *need),
                    largest: round.dims.readable(dim, largest),
                };
            }
        }
        if too_small == round.nodes.len() {
            let need: Vec<String> = (0..self.demand.len())
                .filter(|d| self.demand[*d] > 0)
                .map(|d| round.dims.show(d, self.demand[d]))
                .collect();
            RejectReason::NoNodeLargeEnough {
                need: need.join(" and "),
            }
        } else if too_small == 0 {
            RejectReason::NoNodeMatches
        } else {
            RejectReason::NoMatchingNodeLargeEnough
        }
    }

    /// Why a class is larger than its queue's quota, if it is.
    pub(crate) fn over_quota(&self, round: &Round<'_>) -> Option<RejectReason> {
        let quota = round.queues.quota[self.queue as usize].as_ref()?;
        let dim = (0..self.demand.len()).find(|d| self.demand[*d] > quota[*d])?;
        Some(RejectReason::LargerThanQuota {
            queue: round.queues.names[self.queue as usize].to_string(),
            resource: round.dims.name(dim).to_string(),
            need: round.dims.readable(dim, self.demand[dim]),
            quota: round.dims.readable(dim, quota[dim]),
        })
    }
}

fn compile(round: &Round<'_>, regexes: &mut Regexes, constraint: &Constraint) -> Compiled {
    let attr = round.attrs.key(&constraint.attribute);
    let values: &[&str] = attr.map_or(&[], |a| &round.attrs.columns[a as usize].values);
    let accepts = match constraint.operator {
        Operator::Equals => {
            let wanted = constraint.value.as_deref();
            values.iter().map(|v| Some(*v) == wanted).collect()
        }
        Operator::Like | Operator::Unlike => match regexes.get(constraint) {
            Some(regex) => values
                .iter()
                .map(|v| regex.is_match(v) == (constraint.operator == Operator::Like))
                .collect(),
            None => vec![false; values.len()],
        },
        Operator::Unique | Operator::GroupBy => vec![true; values.len()],
    };
    Compiled {
        attr,
        op: constraint.operator,
        accepts,
        groups: constraint.groups(),
    }
}

/// A filter's reason in words.
pub(crate) fn describe(round: &Round<'_>, class: &Class, node: u32, reason: Reason) -> String {
    let request = round.requests[class.request as usize];
    match reason {
        Reason::NotReady(state) => format!("{state:?}").to_lowercase(),
        Reason::Short { dim, need, free } => format!(
            "needs {}, {} free",
            round.dims.show(dim, need),
            round.dims.show(dim, free.max(0))
        ),
        Reason::TooSmall {
            dim,
            need,
            capacity,
        } => format!(
            "needs {}, has {} in all",
            round.dims.show(dim, need),
            round.dims.show(dim, capacity)
        ),
        Reason::Constraint(i) => {
            let c = &request.constraints[i];
            let value = class.constraints[i]
                .attr
                .and_then(|a| round.attrs.value(a, node));
            match value {
                Some(v) => format!("{}={v} does not meet {c}", c.attribute),
                None => format!("has no attribute {} for {c}", c.attribute),
            }
        }
        Reason::Spread(i) => {
            let c = &request.constraints[i];
            let value = class.constraints[i]
                .attr
                .and_then(|a| round.attrs.value(a, node))
                .unwrap_or_default();
            match c.operator {
                Operator::Unique => {
                    format!(
                        "{c}: {} already runs where {}={value}",
                        request.app, c.attribute
                    )
                }
                _ => format!(
                    "{c}: {}={value} already has its share of {}",
                    c.attribute, request.app
                ),
            }
        }
        Reason::Other(why) => why.to_string(),
    }
}
