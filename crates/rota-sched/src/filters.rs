//! The built-in filters: `node-ready`, `resources`, `constraint`.

use rota_model::placement::Operator;

use crate::plugin::{At, Filter, Reason, Verdict};
use crate::round::NONE;
use crate::snapshot::{NodeState, Request};

/// Only ready nodes take new runs; draining and down ones may come back, so never "never".
pub(crate) struct NodeReady;

impl Filter for NodeReady {
    fn name(&self) -> &'static str {
        "node-ready"
    }

    fn check_static(&self, at: &At<'_>) -> Verdict {
        match at.node_state() {
            NodeState::Ready => Verdict::Fit,
            state => Verdict::Unfit(Reason::NotReady(state)),
        }
    }
}

/// The run fits in what the node has free (less what is held for another run); a node
/// smaller than the run never fits.
pub(crate) struct ResourcesFilter;

impl Filter for ResourcesFilter {
    fn name(&self) -> &'static str {
        "resources"
    }

    fn check_static(&self, at: &At<'_>) -> Verdict {
        let capacity = at.capacity();
        for (dim, need) in at.demand().iter().enumerate() {
            if *need > capacity[dim] {
                return Verdict::Never(Reason::TooSmall {
                    dim,
                    need: *need,
                    capacity: capacity[dim],
                });
            }
        }
        Verdict::Fit
    }

    fn is_dynamic(&self, _request: &Request) -> bool {
        true
    }

    #[inline]
    fn check_dynamic(&self, at: &At<'_>) -> Verdict {
        let demand = at.demand();
        match at.state.shortfall(at.node, at.run, demand) {
            None => Verdict::Fit,
            Some((dim, free)) => Verdict::Unfit(Reason::Short {
                dim,
                need: demand[dim],
                free,
            }),
        }
    }
}

/// The run's constraints over node attributes: EQUALS, LIKE and UNLIKE from the node alone
/// (a mismatch is for good); UNIQUE and GROUP_BY from the app's runs as well.
///
/// - A node without the attribute meets no constraint on it (as in Chronos).
/// - UNIQUE: no run of the app runs on a node with the same value.
/// - GROUP_BY: with `k` groups (the attribute's distinct values across the cluster, or the
///   constraint's value if larger) and `t` runs of the app on nodes with the attribute, a
///   node fits while its value has fewer than `ceil((t + 1) / k)` of them (the rule of the
///   BCS scheduler), which keeps the groups within one run of each other.
pub(crate) struct ConstraintFilter;

impl Filter for ConstraintFilter {
    fn name(&self) -> &'static str {
        "constraint"
    }

    fn check_static(&self, at: &At<'_>) -> Verdict {
        for (i, c) in at.class.constraints.iter().enumerate() {
            let value = c.attr.map_or(NONE, |a| at.round.attrs.value_id(a, at.node));
            if !c.accepts(value) {
                return Verdict::Never(Reason::Constraint(i));
            }
        }
        Verdict::Fit
    }

    fn is_dynamic(&self, request: &Request) -> bool {
        request.constraints.iter().any(|c| !c.operator.is_static())
    }

    #[inline]
    fn check_dynamic(&self, at: &At<'_>) -> Verdict {
        let app = at.class.app;
        for (i, c) in at.class.constraints.iter().enumerate() {
            let Some(attr) = c.attr else { continue };
            let value = at.round.attrs.value_id(attr, at.node);
            let here = at.state.runs_with_value(app, attr, value);
            let fits = match c.op {
                Operator::Unique => here == 0,
                Operator::GroupBy => {
                    let distinct = at.round.attrs.columns[attr as usize].values.len() as u32;
                    let groups = distinct.max(c.groups).max(1);
                    let total = at.state.runs_with_attr(app, attr);
                    here < (total + 1).div_ceil(groups)
                }
                _ => true,
            };
            if !fits {
                return Verdict::Unfit(Reason::Spread(i));
            }
        }
        Verdict::Fit
    }
}
